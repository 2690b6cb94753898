//! Python expressions: the taint of a value, the names places are known by,
//! and calls (sanitizers, containers filled by methods, local functions).

use super::consts::{self, string_value};
use super::{Analysis, key_text};
use crate::engine::sast::fields::FieldExt;
use crate::engine::sast::taint::core::{self, named_children};
use crate::engine::sast::taint::flow::{Const, Env, Taint, either};
use std::rc::Rc;
use tree_sitter::Node;

impl<'t> Analysis<'_, 't> {
    // ───────────────────────── expressions ─────────────────────────

    /// The name a place is known by in the environment: `x`, `self.x`,
    /// `d["k"]`, `a.b[0]`; `None` for anything else.
    pub(super) fn key(&self, node: Node) -> Option<String> {
        let mut parts = Vec::new();
        let mut current = node;
        for _ in 0..16 {
            match current.kind() {
                "identifier" => {
                    parts.push(self.text(current).to_owned());
                    parts.reverse();
                    return Some(parts.concat());
                }
                "attribute" => {
                    let attribute = current.py_field("attribute")?;
                    parts.push(format!(".{}", self.text(attribute)));
                    current = current.py_field("object")?;
                }
                "subscript" => {
                    let index = current.py_field("subscript")?;
                    let key = match index.kind() {
                        "integer" => Const::Int(self.text(index).parse().ok()?),
                        "string" => Const::Str(Rc::from(string_value(self.core.source, index)?)),
                        _ => return None,
                    };
                    parts.push(format!("[{}]", key_text(&key)));
                    current = current.py_field("value")?;
                }
                _ => return None,
            }
        }
        None
    }

    pub(super) fn constant(&self, env: &Env, node: Node) -> Option<Const> {
        consts::eval(env, self.core.source, node, &|n| self.key(n))
    }

    /// The taint of an expression (and its effects: sinks it reaches,
    /// containers it fills, names a walrus binds).
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
            // Still visit the parts, for the sinks inside (and the taint
            // of a receiver that is itself a source of another rule).
            for child in named_children(node) {
                self.expr(env, child, depth);
            }
            return Some(taint);
        }
        match node.kind() {
            "identifier" => env.get(self.text(node)).and_then(|v| v.taint.clone()),
            "integer" | "float" | "true" | "false" | "none" | "ellipsis" | "comment" => None,
            "attribute" | "subscript" => {
                let known = self.key(node).and_then(|name| env.get(&name).cloned());
                let inner = match node.kind() {
                    "attribute" => node.py_field("object"),
                    _ => node.py_field("value"),
                };
                if node.kind() == "subscript"
                    && let Some(index) = node.py_field("subscript")
                {
                    self.expr(env, index, depth);
                }
                let container = inner.and_then(|inner| self.expr(env, inner, depth));
                match known {
                    Some(value) => value.taint,
                    None => container,
                }
            }
            "call" => self.call(env, node, depth),
            "comparison_operator" | "not_operator" | "lambda" => {
                // A boolean carries no attacker text; its parts may hold sinks.
                if node.kind() != "lambda" {
                    for child in named_children(node) {
                        self.expr(env, child, depth);
                    }
                }
                None
            }
            "conditional_expression" => {
                let parts = named_children(node);
                let [then, condition, otherwise] = parts.as_slice() else {
                    return self.union(env, node, depth);
                };
                self.expr(env, *condition, depth);
                match self.constant(env, *condition).map(|c| c.truthy()) {
                    Some(true) => self.expr(env, *then, depth),
                    Some(false) => self.expr(env, *otherwise, depth),
                    None => {
                        let a = self.expr(env, *then, depth);
                        let b = self.expr(env, *otherwise, depth);
                        either(a, b)
                    }
                }
            }
            "named_expression" => {
                let taint = node
                    .py_field("value")
                    .and_then(|value| self.expr(env, value, depth));
                if let (Some(name), Some(value)) = (node.py_field("name"), node.py_field("value")) {
                    let constant = self.constant(env, value);
                    self.bind(env, name, taint.clone(), constant, node);
                }
                taint
            }
            "list_comprehension"
            | "set_comprehension"
            | "dictionary_comprehension"
            | "generator_expression" => {
                let mut inner = env.clone();
                for part in named_children(node) {
                    if part.kind() == "for_in_clause" {
                        let taint = part
                            .py_field("right")
                            .and_then(|right| self.expr(&mut inner, right, depth));
                        if let Some(left) = part.py_field("left") {
                            self.bind(&mut inner, left, taint, None, part);
                        }
                    }
                }
                let mut taint = None;
                for part in named_children(node) {
                    if part.kind() != "for_in_clause" {
                        taint = either(taint, self.expr(&mut inner, part, depth));
                    }
                }
                taint
            }
            _ => self.union(env, node, depth),
        }
    }

    /// Tainted when a named child is (strings with interpolations,
    /// operators, containers, parentheses, `await`, …).
    pub(super) fn union(&mut self, env: &mut Env, node: Node<'t>, depth: usize) -> Option<Taint> {
        let mut taint = None;
        for child in named_children(node) {
            if matches!(
                child.kind(),
                "string_start" | "string_end" | "string_content" | "escape_sequence"
            ) {
                continue;
            }
            taint = either(taint, self.expr(env, child, depth));
        }
        taint
    }

    /// A source matching at `node`, as a fresh taint.
    pub(super) fn call(&mut self, env: &mut Env, node: Node<'t>, depth: usize) -> Option<Taint> {
        let function = node.py_field("function");
        let arguments: Vec<Node<'t>> = node
            .py_field("arguments")
            .map(named_children)
            .unwrap_or_default();
        // Sanitizers: the library's clear every rule, a rule's its own.
        let cleared = self.core.sanitized(node);
        let receiver = match function {
            Some(f) if f.kind() == "attribute" => f
                .py_field("object")
                .and_then(|object| self.expr(env, object, depth)),
            _ => None,
        };
        let mut argument_taints = Vec::with_capacity(arguments.len());
        for argument in &arguments {
            let value = match argument.kind() {
                "keyword_argument" => argument.py_field("value"),
                _ => Some(*argument),
            };
            let taint = value.and_then(|v| self.expr(env, v, depth));
            argument_taints.push(taint);
        }
        if cleared == u64::MAX {
            return None;
        }
        // Containers filled by a method: `items.append(x)`, `d.update(x)`.
        if let Some(f) = function.filter(|f| f.kind() == "attribute")
            && let Some(method) = f.py_field("attribute")
            && matches!(
                self.text(method),
                "append"
                    | "extend"
                    | "add"
                    | "insert"
                    | "update"
                    | "setdefault"
                    | "appendleft"
                    | "push"
                    | "put"
                    | "write"
                    | "writelines"
            )
            && let Some(object) = f.py_field("object")
            && let Some(name) = self.key(object)
        {
            let added = argument_taints
                .iter()
                .cloned()
                .fold(None, either)
                .map(|t| t.through(self.core.step(node)));
            if added.is_some() {
                env.add(&name, added);
            }
        }
        let result = match self.local_callee(function) {
            Some((callee, offset)) => {
                self.through_summary(env, node, callee, offset, &arguments, &argument_taints)
            }
            None => match self.external_callee(function) {
                Some(callee) => self.through_external(node, callee, &arguments, &argument_taints),
                None => argument_taints.into_iter().fold(receiver, either),
            },
        };
        result.map(|mut taint| {
            taint.cleared |= cleared;
            taint
        })
    }
}
