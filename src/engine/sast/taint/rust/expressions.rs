//! Rust expressions (which include blocks, `if`, `match` and loops): the
//! taint of a value and its effects on the names of the environment.

use super::Analysis;
use super::consts;
use crate::engine::sast::taint::core::{self, MAX_LOOP_ROUNDS, named_children};
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

/// Macros whose value is built from their arguments' text.
const TEXT_MACROS: [&str; 5] = ["format", "format_args", "concat", "vec", "json"];

/// Primitive types a `let` can be annotated with that hold no text.
const NUMBER_TYPES: [&str; 15] = [
    "u8", "u16", "u32", "u64", "u128", "usize", "i8", "i16", "i32", "i64", "i128", "isize", "f32",
    "f64", "bool",
];

/// Whether a block always leaves (ends in `return`, `break`, `continue`
/// or a panic): its names do not flow past the `if`.
fn leaves(source: &str, block: Node) -> bool {
    let Some(last) = named_children(block)
        .into_iter()
        .rev()
        .find(|n| !matches!(n.kind(), "line_comment" | "block_comment"))
    else {
        return false;
    };
    let last = match last.kind() {
        "expression_statement" => match last.named_child(0) {
            Some(inner) => inner,
            None => return false,
        },
        _ => last,
    };
    match last.kind() {
        "return_expression" | "break_expression" | "continue_expression" => true,
        "macro_invocation" => last.child_by_field_name("macro").is_some_and(|m| {
            matches!(
                source.get(m.byte_range()).unwrap_or_default(),
                "panic" | "unreachable" | "bail" | "anyhow::bail" | "todo" | "unimplemented"
            )
        }),
        _ => false,
    }
}

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
                    let field = current.child_by_field_name("field")?;
                    parts.push(format!(".{}", self.text(field)));
                    current = current.child_by_field_name("value")?;
                }
                _ => return None,
            }
        }
        None
    }

    /// The place an argument names, through `&`, `&mut`, `*` and
    /// `.as_str()`-like views (`&name`, `name.as_str()`).
    fn place(&self, node: Node) -> Option<String> {
        let mut current = node;
        for _ in 0..8 {
            match current.kind() {
                "reference_expression" => current = current.child_by_field_name("value")?,
                "unary_expression" | "parenthesized_expression" => {
                    current = current.named_child(0)?
                }
                "call_expression" => {
                    let function = current.child_by_field_name("function")?;
                    let method = function.child_by_field_name("field")?;
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
                    current = function.child_by_field_name("value")?;
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

    fn expr_uncached(&mut self, env: &mut Env, node: Node<'t>, depth: usize) -> Option<Taint> {
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
                    .child_by_field_name("value")
                    .and_then(|value| self.expr(env, value, depth));
                match known {
                    Some(value) => value.taint,
                    None => container,
                }
            }
            "call_expression" => self.call(env, node, depth),
            "macro_invocation" => self.macro_call(env, node, depth),
            "binary_expression" => {
                let operator = node
                    .child_by_field_name("operator")
                    .map(|o| self.text(o))
                    .unwrap_or_default();
                let left = node
                    .child_by_field_name("left")
                    .and_then(|l| self.expr(env, l, depth));
                let right = node
                    .child_by_field_name("right")
                    .and_then(|r| self.expr(env, r, depth));
                // Only `+` joins text; the rest yield numbers or booleans.
                (operator == "+").then(|| either(left, right)).flatten()
            }
            "type_cast_expression" => {
                // `x as u32`: casts are between numbers only.
                if let Some(value) = node.child_by_field_name("value") {
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
                    .child_by_field_name("value")
                    .and_then(|value| self.expr(env, value, depth));
                let pattern = node.child_by_field_name("pattern");
                let body = node.child_by_field_name("body");
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
                let condition = node.child_by_field_name("condition");
                let body = node.child_by_field_name("body");
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
                    .child_by_field_name("right")
                    .and_then(|right| self.expr(env, right, depth));
                let constant = node
                    .child_by_field_name("right")
                    .and_then(|right| self.constant(env, right));
                if let Some(left) = node.child_by_field_name("left") {
                    self.assign(env, left, taint, constant, node, false);
                }
                None
            }
            "compound_assignment_expr" => {
                let left = node.child_by_field_name("left");
                let ours = left.and_then(|l| self.expr(env, l, depth));
                let theirs = node
                    .child_by_field_name("right")
                    .and_then(|right| self.expr(env, right, depth));
                if let Some(left) = left {
                    self.assign(env, left, either(theirs, ours), None, node, false);
                }
                None
            }
            "return_expression" => {
                let taint = node.named_child(0).and_then(|v| self.expr(env, v, depth));
                self.core.returns(taint);
                None
            }
            "closure_expression" => {
                // Run for the sinks inside; its parameters are unknown.
                let mut inner = self.core.copy(env);
                node.child_by_field_name("body")
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
    fn union(&mut self, env: &mut Env, node: Node<'t>, depth: usize) -> Option<Taint> {
        let mut taint = None;
        for child in named_children(node) {
            taint = either(taint, self.expr(env, child, depth));
        }
        taint
    }

    /// `place = value` (or `place += value` when `add`).
    fn assign(
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

    /// A block's statements in order; its value is its tail expression's.
    pub(super) fn block(&mut self, env: &mut Env, block: Node<'t>, depth: usize) -> Option<Taint> {
        let mut value = None;
        for statement in named_children(block) {
            if !self.core.tick() || self.core.too_deep(depth) {
                return None;
            }
            self.core.memo.clear();
            value = None;
            match statement.kind() {
                "let_declaration" => self.let_declaration(env, statement, depth + 1),
                "expression_statement" => {
                    if let Some(inner) = statement.named_child(0) {
                        self.expr(env, inner, depth + 1);
                    }
                }
                // Items inside a body are analysed on their own or hold no flow.
                "function_item" | "use_declaration" | "struct_item" | "enum_item" | "impl_item"
                | "trait_item" | "mod_item" | "type_item" | "attribute_item" | "line_comment"
                | "block_comment" | "empty_statement" | "macro_definition" => {}
                "const_item" | "static_item" => {
                    if let (Some(name), Some(v)) = (
                        statement.child_by_field_name("name"),
                        statement.child_by_field_name("value"),
                    ) {
                        let constant = self.constant(env, v);
                        env.set(
                            self.text(name),
                            Value {
                                taint: None,
                                constant,
                            },
                        );
                    }
                }
                // The tail expression: the block's value.
                _ => value = self.expr(env, statement, depth + 1),
            }
        }
        value
    }

    fn let_declaration(&mut self, env: &mut Env, node: Node<'t>, depth: usize) {
        let value = node.child_by_field_name("value");
        let mut taint = value.and_then(|v| self.expr(env, v, depth));
        let constant = value.and_then(|v| self.constant(env, v));
        // `let n: u32 = s.parse()?`: a number holds no text.
        if let Some(typed) = node.child_by_field_name("type")
            && NUMBER_TYPES.contains(&self.text(typed))
        {
            taint = None;
        }
        if let Some(alternative) = node.child_by_field_name("alternative") {
            // `let … else { return }`: the else block leaves.
            let mut inner = self.core.copy(env);
            self.block(&mut inner, alternative, depth);
        }
        if let Some(pattern) = node.child_by_field_name("pattern") {
            self.bind_pattern(env, pattern, taint, constant, node);
        }
    }

    /// Evaluates a condition: `let` patterns bind in `then`, allow-list
    /// checks clear names in `then` (or in `otherwise` when negated).
    /// Returns the condition's value when it is a known constant.
    fn condition(
        &mut self,
        then: &mut Env,
        otherwise: &mut Env,
        condition: Node<'t>,
        depth: usize,
    ) -> Option<bool> {
        match condition.kind() {
            "let_condition" => {
                let value = condition.child_by_field_name("value");
                let taint = value.and_then(|v| self.expr(then, v, depth));
                if let Some(pattern) = condition.child_by_field_name("pattern") {
                    self.bind_pattern(then, pattern, taint, None, condition);
                }
                None
            }
            "let_chain" => {
                for part in named_children(condition) {
                    let mut unused = self.core.copy(then);
                    self.condition(then, &mut unused, part, depth);
                }
                None
            }
            _ => {
                self.expr(then, condition, depth);
                let known = self.constant(then, condition).and_then(|c| match c {
                    Const::Bool(b) => Some(b),
                    _ => None,
                });
                self.narrow(then, otherwise, condition, 0);
                known
            }
        }
    }

    /// Allow-list checks: `ALLOWED.contains(&x)` and `matches!(x, "a" |
    /// "b")` clear `x` where they hold (`!…` where they do not); `x ==
    /// "literal"` makes `x` that constant where it holds.
    fn narrow(&self, then: &mut Env, otherwise: &mut Env, condition: Node<'t>, depth: usize) {
        if depth > 8 {
            return;
        }
        let clean = |env: &mut Env, name: &str, constant: Option<Const>| {
            env.set(
                name,
                Value {
                    taint: None,
                    constant,
                },
            )
        };
        match condition.kind() {
            "parenthesized_expression" => {
                if let Some(inner) = condition.named_child(0) {
                    self.narrow(then, otherwise, inner, depth + 1);
                }
            }
            "unary_expression" if self.text(condition).trim_start().starts_with('!') => {
                if let Some(inner) = condition.named_child(0) {
                    self.narrow(otherwise, then, inner, depth + 1);
                }
            }
            "binary_expression" => {
                let operator = condition
                    .child_by_field_name("operator")
                    .map(|o| self.text(o))
                    .unwrap_or_default();
                let (Some(left), Some(right)) = (
                    condition.child_by_field_name("left"),
                    condition.child_by_field_name("right"),
                ) else {
                    return;
                };
                match operator {
                    "&&" => {
                        let mut unused = then.clone();
                        self.narrow(then, &mut unused, left, depth + 1);
                        self.narrow(then, &mut unused, right, depth + 1);
                    }
                    "==" | "!=" => {
                        let Some(name) = self.place(left) else {
                            return;
                        };
                        let Some(value) = self.constant(then, right) else {
                            return;
                        };
                        let env = if operator == "==" { then } else { otherwise };
                        clean(env, &name, Some(value));
                    }
                    _ => {}
                }
            }
            "call_expression" => {
                let Some(function) = condition.child_by_field_name("function") else {
                    return;
                };
                let is_contains = function.kind() == "field_expression"
                    && function
                        .child_by_field_name("field")
                        .is_some_and(|f| self.text(f) == "contains");
                let argument = condition
                    .child_by_field_name("arguments")
                    .and_then(|a| a.named_child(0));
                if is_contains && let Some(name) = argument.and_then(|a| self.place(a)) {
                    clean(then, &name, None);
                }
            }
            "macro_invocation" => {
                let is_matches = condition
                    .child_by_field_name("macro")
                    .is_some_and(|m| self.text(m) == "matches");
                if !is_matches {
                    return;
                }
                let Some(tokens) = named_children(condition)
                    .into_iter()
                    .find(|n| n.kind() == "token_tree")
                else {
                    return;
                };
                // `matches!(x, "a" | "b")`, `matches!(x.as_str(), …)`: the
                // subject is what comes before the comma; the patterns
                // after it must all be literals.
                let text = self.text(tokens);
                let inner = text.trim_start_matches('(').trim_end_matches(')');
                let Some((subject, patterns)) = inner.split_once(',') else {
                    return;
                };
                let literal_only = named_children(tokens).iter().all(|t| {
                    t.end_byte() <= tokens.start_byte() + 1 + subject.len()
                        || matches!(
                            t.kind(),
                            "string_literal" | "integer_literal" | "char_literal"
                        )
                });
                let subject = subject.trim();
                let name = subject
                    .strip_suffix(".as_str()")
                    .unwrap_or(subject)
                    .trim_start_matches('&');
                if literal_only
                    && !patterns.trim().is_empty()
                    && name
                        .chars()
                        .all(|c| c.is_alphanumeric() || c == '_' || c == '.')
                {
                    clean(then, name, None);
                }
            }
            _ => {}
        }
    }

    fn if_expression(&mut self, env: &mut Env, node: Node<'t>, depth: usize) -> Option<Taint> {
        // The arms in order: (condition, block); `else` has no condition.
        let mut arms: Vec<(Option<Node<'t>>, Option<Node<'t>>)> = Vec::new();
        let mut current = Some(node);
        while let Some(arm) = current.take() {
            arms.push((
                arm.child_by_field_name("condition"),
                arm.child_by_field_name("consequence"),
            ));
            let Some(alternative) = arm.child_by_field_name("alternative") else {
                break;
            };
            match alternative.named_child(0) {
                Some(next) if next.kind() == "if_expression" => {
                    if arms.len() < 256 {
                        current = Some(next);
                    }
                }
                Some(block) => arms.push((None, Some(block))),
                None => {}
            }
        }
        let mut remaining = self.core.copy(env);
        let mut joined: Option<Env> = None;
        let mut value = None;
        let mut falls_through = true;
        for (condition, block) in arms {
            let mut arm = self.core.copy(&remaining);
            let known = match condition {
                Some(c) => self.condition(&mut arm, &mut remaining, c, depth),
                None => None,
            };
            if known == Some(false) {
                continue; // a dead arm
            }
            if let Some(block) = block {
                value = either(value, self.block(&mut arm, block, depth));
            }
            if !block.is_some_and(|b| leaves(self.core.source, b)) {
                match joined.as_mut() {
                    Some(joined) => joined.join(arm),
                    None => joined = Some(arm),
                }
            }
            if condition.is_none() || known == Some(true) {
                falls_through = false;
                break;
            }
        }
        *env = match (joined, falls_through) {
            (Some(mut joined), true) => {
                joined.join(remaining);
                joined
            }
            (Some(joined), false) => joined,
            (None, _) => remaining,
        };
        value
    }

    fn match_expression(&mut self, env: &mut Env, node: Node<'t>, depth: usize) -> Option<Taint> {
        let subject = node.child_by_field_name("value");
        let taint = subject.and_then(|s| self.expr(env, s, depth));
        let subject_name = subject.and_then(|s| self.place(s));
        let arms: Vec<Node<'t>> = node
            .child_by_field_name("body")
            .map(named_children)
            .unwrap_or_default()
            .into_iter()
            .filter(|n| n.kind() == "match_arm")
            .collect();
        let before = self.core.copy(env);
        let mut joined: Option<Env> = None;
        let mut value = None;
        for arm in arms {
            if !self.core.tick() {
                break;
            }
            let mut inner = self.core.copy(&before);
            if let Some(pattern) = arm.child_by_field_name("pattern") {
                // `"a" | "b" => …`: the subject is one of these literals here.
                let parts = named_children(pattern);
                let literal_only = !parts.is_empty()
                    && parts.iter().all(|p| {
                        matches!(
                            p.kind(),
                            "string_literal" | "integer_literal" | "char_literal" | "or_pattern"
                        ) && named_children(*p).iter().all(|q| q.kind() != "identifier")
                    });
                if literal_only && let Some(name) = &subject_name {
                    inner.set(
                        name,
                        Value {
                            taint: None,
                            constant: None,
                        },
                    );
                } else {
                    self.bind_pattern(&mut inner, pattern, taint.clone(), None, arm);
                }
            }
            let arm_value = arm.child_by_field_name("value");
            if let Some(v) = arm_value {
                value = either(value, self.expr(&mut inner, v, depth));
            }
            let arm_leaves = arm_value.is_some_and(|v| match v.kind() {
                "return_expression" | "break_expression" | "continue_expression" => true,
                "block" => leaves(self.core.source, v),
                _ => false,
            });
            if !arm_leaves {
                match joined.as_mut() {
                    Some(joined) => joined.join(inner),
                    None => joined = Some(inner),
                }
            }
        }
        *env = joined.unwrap_or(before);
        value
    }

    /// Runs a loop body until no new name is tainted (a bounded fixpoint).
    fn loop_body(&mut self, env: &mut Env, mut body: impl FnMut(&mut Self, &mut Env)) {
        let mut tainted = env.tainted_count();
        for _ in 0..MAX_LOOP_ROUNDS {
            let mut round = self.core.copy(env);
            body(self, &mut round);
            env.join(round);
            let now = env.tainted_count();
            if now == tainted {
                return;
            }
            tainted = now;
        }
    }

    fn call(&mut self, env: &mut Env, node: Node<'t>, depth: usize) -> Option<Taint> {
        let function = node.child_by_field_name("function");
        let arguments: Vec<Node<'t>> = node
            .child_by_field_name("arguments")
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
            "generic_function" => f.child_by_field_name("function"),
            _ => Some(f),
        });
        let method = method_of.filter(|f| f.kind() == "field_expression");
        let receiver_node = method.and_then(|f| f.child_by_field_name("value"));
        let receiver = receiver_node.and_then(|r| self.expr(env, r, depth));
        let argument_taints: Vec<Option<Taint>> = arguments
            .iter()
            .map(|argument| self.expr(env, *argument, depth))
            .collect();
        if cleared == u64::MAX {
            return None;
        }
        let method_name = method
            .and_then(|f| f.child_by_field_name("field"))
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
        let result = match function.and_then(|f| self.local_callee(f)) {
            Some(callee) => self.through_summary(node, callee, &argument_taints),
            None => argument_taints.into_iter().fold(receiver, either),
        };
        result.map(|mut taint| {
            taint.cleared |= cleared;
            taint
        })
    }

    /// `format!(…)` and its kin: tainted when a name among the arguments,
    /// or a `{name}` the template captures, is; `write!(s, …)` fills `s`.
    fn macro_call(&mut self, env: &mut Env, node: Node<'t>, depth: usize) -> Option<Taint> {
        let name = node
            .child_by_field_name("macro")
            .map(|m| self.text(m))
            .unwrap_or_default();
        let name = name.rsplit("::").next().unwrap_or(name);
        let tokens = named_children(node)
            .into_iter()
            .find(|n| n.kind() == "token_tree")?;
        match name {
            _ if TEXT_MACROS.contains(&name) => self.tokens(env, tokens, depth),
            "write" | "writeln" => {
                let target = named_children(tokens).into_iter().next()?;
                let taint = self.tokens(env, tokens, depth);
                if taint.is_some() && target.kind() == "identifier" {
                    let taint = taint.map(|t| t.through(self.core.step(node)));
                    env.add(self.text(target), taint);
                }
                None
            }
            // Printing, assertions, `matches!`: no text comes out.
            _ => None,
        }
    }

    /// The taint of the names in a macro's tokens (a token tree is not
    /// parsed into expressions: each identifier that is not a method or
    /// field name, and each `{name}` of a template, is looked up).
    fn tokens(&mut self, env: &mut Env, tree: Node<'t>, depth: usize) -> Option<Taint> {
        let mut taint = None;
        let mut stack = vec![(tree, depth)];
        while let Some((node, level)) = stack.pop() {
            if !self.core.tick() || self.core.too_deep(level) {
                break;
            }
            let mut cursor = node.walk();
            let children: Vec<Node<'t>> = node.children(&mut cursor).collect();
            for (at, child) in children.iter().enumerate() {
                match child.kind() {
                    "token_tree" => stack.push((*child, level + 1)),
                    "identifier" | "self" => {
                        let after_dot = at
                            .checked_sub(1)
                            .is_some_and(|p| matches!(children[p].kind(), "." | "::"));
                        if !after_dot {
                            let name = self.dotted(&children[at..]);
                            taint = either(taint, self.lookup(env, &name));
                        }
                    }
                    "string_literal" | "raw_string_literal" => {
                        for name in captured_names(self.text(*child)) {
                            taint = either(taint, self.lookup(env, name));
                        }
                    }
                    _ => {}
                }
            }
        }
        taint
    }

    /// `a.b.c` spelled by the tokens from an identifier on (`a` when no
    /// `.field` follows).
    fn dotted(&self, tokens: &[Node<'t>]) -> String {
        let mut name = self.text(tokens[0]).to_owned();
        let mut at = 1;
        while at + 1 < tokens.len()
            && tokens[at].kind() == "."
            && tokens[at + 1].kind() == "identifier"
            // `x.trim()`: a method, not a field
            && tokens.get(at + 2).is_none_or(|n| n.kind() != "token_tree")
        {
            name.push('.');
            name.push_str(self.text(tokens[at + 1]));
            at += 2;
        }
        name
    }

    /// The taint of a name, or of the nearest known name it is under
    /// (`p.name` is as tainted as `p` unless `p.name` is known).
    fn lookup(&self, env: &Env, name: &str) -> Option<Taint> {
        let mut name = name;
        loop {
            if let Some(value) = env.get(name) {
                return value.taint.clone();
            }
            name = &name[..name.rfind('.')?];
        }
    }
}

/// The names a format template captures: `{name}`, `{name:?}`, not `{{`.
fn captured_names(template: &str) -> impl Iterator<Item = &str> {
    let mut rest = template;
    std::iter::from_fn(move || {
        loop {
            let open = rest.find('{')?;
            let after = &rest[open + 1..];
            if let Some(escaped) = after.strip_prefix('{') {
                rest = escaped;
                continue;
            }
            let end = after.find(['}', ':']).unwrap_or(after.len());
            let name = after[..end].trim();
            rest = &after[end..];
            if !name.is_empty()
                && name.chars().all(|c| c.is_alphanumeric() || c == '_')
                && !name.starts_with(|c: char| c.is_ascii_digit())
            {
                return Some(name);
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::captured_names;

    #[test]
    fn templates_capture_names_but_not_positions_or_escapes() {
        let names: Vec<&str> =
            captured_names(r#""{{literal}} {name} {0} {} {width:>8} {id:?} {{x}}""#).collect();
        assert_eq!(names, ["name", "width", "id"]);
    }
}
