//! Rust expressions (blocks, `if`, `match` and loops are in [`statements`](super::statements),
//! macros in [`macros`](super::macros)): the taint of a value, the places
//! names are known by, assignments and calls.

use super::Analysis;
use super::consts;
use crate::engine::sast::fields::FieldExt;
use crate::engine::sast::taint::core::{self, named_children};
use crate::engine::sast::taint::flow::{Const, Env, Taint, Value, either};
use tree_sitter::Node;

/// Methods that fill their receiver with their arguments.
const FILLS_RECEIVER: [&str; 9] = [
    "push",
    "push_str",
    "extend",
    "extend_from_slice",
    "insert",
    "append",
    "push_back",
    "push_front",
    "write_str",
];

/// Methods that read input into their `&mut` argument.
const READS_INTO: [&str; 4] = ["read_line", "read_to_string", "read_to_end", "read_exact"];

impl<'t> Analysis<'_, 't> {
    /// The name a place is known by: `x`, `self.x`, `p.name`; `None` else.
    pub(super) fn key(&self, node: Node) -> Option<String> {
        let mut parts = Vec::new();
        let mut current = node;
        for _ in 0..16 {
            match current.kind() {
                "identifier" | "self" => {
                    parts.push(self.text(current).to_owned());
                    parts.reverse();
                    return Some(parts.concat());
                }
                "field_expression" => {
                    let field = current.rs_field("field")?;
                    parts.push(format!(".{}", self.text(field)));
                    current = current.rs_field("value")?;
                }
                _ => return None,
            }
        }
        None
    }

    /// The place an argument names, through `&`, `&mut`, `*` and
    /// `.as_str()`-like views (`&name`, `name.as_str()`).
    pub(super) fn place(&self, node: Node) -> Option<String> {
        let mut current = node;
        for _ in 0..8 {
            match current.kind() {
                "reference_expression" => current = current.rs_field("value")?,
                "unary_expression" | "parenthesized_expression" => {
                    current = current.named_child(0)?
                }
                "call_expression" => {
                    let function = current.rs_field("function")?;
                    let method = function.rs_field("field")?;
                    if function.kind() != "field_expression"
                        || !matches!(
                            self.text(method),
                            "as_str"
                                | "as_ref"
                                | "as_bytes"
                                | "trim"
                                | "to_string"
                                | "to_owned"
                                | "as_path"
                                | "to_lowercase"
                        )
                    {
                        return None;
                    }
                    current = function.rs_field("value")?;
                }
                _ => return self.key(current),
            }
        }
        None
    }

    pub(super) fn constant(&self, env: &Env, node: Node) -> Option<Const> {
        consts::eval(env, self.core.source, node, &|n| self.key(n))
    }

    /// The taint of an expression (and its effects: sinks it reaches,
    /// names it binds or fills).
    pub(super) fn expr(&mut self, env: &mut Env, node: Node<'t>, depth: usize) -> Option<Taint> {
        if let Some(known) = self.core.memo.get(&node.id()) {
            return known.clone();
        }
        if self.core.too_deep(depth) || !self.core.tick() {
            return None;
        }
        let taint = self.expr_uncached(env, node, depth + 1);
        self.core.memo.insert(node.id(), taint.clone());
        taint
    }

    pub(super) fn expr_uncached(
        &mut self,
        env: &mut Env,
        node: Node<'t>,
        depth: usize,
    ) -> Option<Taint> {
        core::sinks_at(self, env, node, depth);
        if let Some(taint) = self.core.source_at(node) {
            for child in named_children(node) {
                self.expr(env, child, depth);
            }
            return Some(taint);
        }
        match node.kind() {
            "identifier" | "self" => env.get(self.text(node)).and_then(|v| v.taint.clone()),
            "string_literal" | "raw_string_literal" | "integer_literal" | "float_literal"
            | "boolean_literal" | "char_literal" | "unit_expression" | "line_comment"
            | "block_comment" | "scoped_identifier" | "generic_function" | "type_identifier"
            | "primitive_type" => None,
            "field_expression" => {
                let known = self.key(node).and_then(|name| env.get(&name).cloned());
                let container = node
                    .rs_field("value")
                    .and_then(|value| self.expr(env, value, depth));
                match known {
                    Some(value) => value.taint,
                    None => container,
                }
            }
            "call_expression" => {
                self.chain_first(env, node, depth);
                self.call(env, node, depth)
            }
            "macro_invocation" => self.macro_call(env, node, depth),
            "binary_expression" => {
                let operator = node
                    .rs_field("operator")
                    .map(|o| self.text(o))
                    .unwrap_or_default();
                let left = node.rs_field("left").and_then(|l| self.expr(env, l, depth));
                let right = node
                    .rs_field("right")
                    .and_then(|r| self.expr(env, r, depth));
                // Only `+` joins text; the rest yield numbers or booleans.
                (operator == "+").then(|| either(left, right)).flatten()
            }
            "type_cast_expression" => {
                // `x as u32`: casts are between numbers only.
                if let Some(value) = node.rs_field("value") {
                    self.expr(env, value, depth);
                }
                None
            }
            "unary_expression" => {
                let inner = node.named_child(0);
                let taint = inner.and_then(|i| self.expr(env, i, depth));
                // `!x` and `-x` are a boolean and a number; `*x` is x.
                self.text(node)
                    .trim_start()
                    .starts_with('*')
                    .then_some(taint)
                    .flatten()
            }
            "block" | "unsafe_block" | "async_block" | "const_block" => {
                let block = match node.kind() {
                    "block" => Some(node),
                    _ => named_children(node)
                        .into_iter()
                        .find(|n| n.kind() == "block"),
                };
                block.and_then(|b| self.block(env, b, depth))
            }
            "if_expression" => self.if_expression(env, node, depth),
            "match_expression" => self.match_expression(env, node, depth),
            "for_expression" => {
                let taint = node
                    .rs_field("value")
                    .and_then(|value| self.expr(env, value, depth));
                let pattern = node.rs_field("pattern");
                let body = node.rs_field("body");
                self.loop_body(env, |this, env| {
                    if let Some(pattern) = pattern {
                        this.bind_pattern(env, pattern, taint.clone(), None, node);
                    }
                    if let Some(body) = body {
                        this.block(env, body, depth);
                    }
                });
                None
            }
            "while_expression" | "loop_expression" => {
                let condition = node.rs_field("condition");
                let body = node.rs_field("body");
                self.loop_body(env, |this, env| {
                    if let Some(condition) = condition {
                        let mut unused = this.core.copy(env);
                        this.condition(env, &mut unused, condition, depth);
                    }
                    if let Some(body) = body {
                        this.block(env, body, depth);
                    }
                });
                None
            }
            "assignment_expression" => {
                let taint = node
                    .rs_field("right")
                    .and_then(|right| self.expr(env, right, depth));
                let constant = node
                    .rs_field("right")
                    .and_then(|right| self.constant(env, right));
                if let Some(left) = node.rs_field("left") {
                    self.assign(env, left, taint, constant, node, false);
                }
                None
            }
            "compound_assignment_expr" => {
                let left = node.rs_field("left");
                let ours = left.and_then(|l| self.expr(env, l, depth));
                let theirs = node
                    .rs_field("right")
                    .and_then(|right| self.expr(env, right, depth));
                if let Some(left) = left {
                    self.assign(env, left, either(theirs, ours), None, node, false);
                }
                None
            }
            "return_expression" => {
                let taint = node.named_child(0).and_then(|v| self.expr(env, v, depth));
                let step = self.core.step(node);
                self.core.returns(taint.map(|t| t.through(step)));
                None
            }
            "closure_expression" => {
                // Run for the sinks inside; its parameters are unknown.
                let mut inner = self.core.copy(env);
                node.rs_field("body")
                    .and_then(|body| self.expr(&mut inner, body, depth))
            }
            "let_condition" | "let_chain" => {
                let mut unused = self.core.copy(env);
                self.condition(env, &mut unused, node, depth);
                None
            }
            _ => self.union(env, node, depth),
        }
    }

    /// Tainted when a named child is (references, `?`, `.await`, tuples,
    /// arrays, struct literals, index expressions, …).
    pub(super) fn union(&mut self, env: &mut Env, node: Node<'t>, depth: usize) -> Option<Taint> {
        let mut taint = None;
        for child in named_children(node) {
            taint = either(taint, self.expr(env, child, depth));
        }
        taint
    }

    /// `place = value` (or `place += value` when `add`).
    pub(super) fn assign(
        &mut self,
        env: &mut Env,
        left: Node<'t>,
        taint: Option<Taint>,
        constant: Option<Const>,
        at: Node<'t>,
        add: bool,
    ) {
        let taint = taint.map(|t| t.through(self.core.step(at)));
        match left.kind() {
            // `v[i] = x`: the container may hold it now.
            "index_expression" => {
                if let Some(base) = left.named_child(0).and_then(|b| self.place(b)) {
                    env.add(&base, taint);
                }
            }
            _ => {
                if let Some(name) = self.place(left) {
                    if add {
                        env.add(&name, taint);
                    } else {
                        env.forget_under(&name);
                        env.set(&name, Value { taint, constant });
                    }
                }
            }
        }
    }

    /// The links of a method chain below `node` (`a.b().c().d()`), innermost
    /// first, at this depth: each link's receiver is then already known, so
    /// a builder chain of thousands of calls is one level deep, not
    /// thousands (which would stop at [`MAX_DEPTH`](core::MAX_DEPTH)).
    fn chain_first(&mut self, env: &mut Env, node: Node<'t>, depth: usize) {
        let mut links = Vec::new();
        let mut current = node;
        loop {
            let receiver = current
                .rs_field("function")
                .filter(|f| f.kind() == "field_expression")
                .and_then(|f| f.rs_field("value"))
                // `.await` and `?` between links are links too.
                .map(|mut r| {
                    while matches!(r.kind(), "await_expression" | "try_expression") {
                        match r.named_child(0) {
                            Some(inner) => r = inner,
                            None => break,
                        }
                    }
                    r
                });
            match receiver {
                Some(r)
                    if r.kind() == "call_expression" && !self.core.memo.contains_key(&r.id()) =>
                {
                    links.push(r);
                    current = r;
                }
                _ => break,
            }
            if !self.core.tick() {
                return;
            }
        }
        for link in links.into_iter().rev() {
            self.expr(env, link, depth);
        }
    }

    pub(super) fn call(&mut self, env: &mut Env, node: Node<'t>, depth: usize) -> Option<Taint> {
        let function = node.rs_field("function");
        let arguments: Vec<Node<'t>> = node
            .rs_field("arguments")
            .map(named_children)
            .unwrap_or_default()
            .into_iter()
            .filter(|a| {
                !matches!(
                    a.kind(),
                    "line_comment" | "block_comment" | "attribute_item"
                )
            })
            .collect();
        let cleared = self.core.sanitized(node);
        // `x.parse::<u32>()`: the method is under the turbofish.
        let method_of = function.and_then(|f| match f.kind() {
            "generic_function" => f.rs_field("function"),
            _ => Some(f),
        });
        let method = method_of.filter(|f| f.kind() == "field_expression");
        let receiver_node = method.and_then(|f| f.rs_field("value"));
        let receiver = receiver_node.and_then(|r| self.expr(env, r, depth));
        let argument_taints: Vec<Option<Taint>> = arguments
            .iter()
            .map(|argument| match (&receiver, argument.kind()) {
                // `names.iter().map(|n| …)`: the closure gets the elements.
                (Some(receiver), "closure_expression") => {
                    self.closure_argument(env, *argument, receiver, node, depth)
                }
                _ => self.expr(env, *argument, depth),
            })
            .collect();
        if cleared == u64::MAX {
            return None;
        }
        let method_name = method
            .and_then(|f| f.rs_field("field"))
            .map(|f| self.text(f))
            .unwrap_or_default();
        // `stdin.read_line(&mut line)`: the input lands in `line`.
        if READS_INTO.contains(&method_name) && receiver.is_some() {
            for argument in &arguments {
                if let Some(name) = self.place(*argument) {
                    let taint = receiver.clone().map(|t| t.through(self.core.step(node)));
                    env.set(
                        &name,
                        Value {
                            taint,
                            constant: None,
                        },
                    );
                }
            }
        }
        // `s.push_str(&x)`, `v.push(x)`: the receiver holds it now.
        if FILLS_RECEIVER.contains(&method_name)
            && let Some(name) = receiver_node.and_then(|r| self.place(r))
        {
            let added = argument_taints.iter().cloned().fold(None, either);
            if added.is_some() {
                let added = added.map(|t| t.through(self.core.step(node)));
                env.add(&name, added);
            }
        }
        if let Some(closure) = function.and_then(|f| self.closure_callee(f)) {
            // What the closure captured is in the name's own taint.
            let captured = function.and_then(|f| self.expr(env, f, depth));
            let result = self.through_closure(node, closure, &argument_taints);
            return either(result, captured).map(|mut taint| {
                taint.cleared |= cleared;
                taint
            });
        }
        let result = match function.and_then(|f| self.local_callee(f)) {
            Some(callee) => self.through_summary(node, callee, &argument_taints),
            None => match function.and_then(|f| self.external_callee(f)) {
                Some(callee) => self.through_external(node, callee, &argument_taints),
                None => argument_taints.into_iter().fold(receiver, either),
            },
        };
        result.map(|mut taint| {
            taint.cleared |= cleared;
            taint
        })
    }
}
