//! Closures and functions nested inside functions.
//!
//! - `let f = |x| …;` is remembered (per enclosing function and name), so
//!   `f(user)` is a call with a summary, as a call of a function of the
//!   file is; what the closure captured stays in `f`'s own taint.
//! - A closure passed to a method of a tainted receiver
//!   (`names.iter().map(|n| …)`, `.for_each`, `.and_then`) receives the
//!   receiver's elements: its parameters hold the receiver's taint.
//! - `fn` items inside a function body are functions of the file: called
//!   by name they are summarised, and their own bodies are analysed.

use super::Analysis;
use crate::engine::sast::fields::FieldExt;
use crate::engine::sast::taint::core::named_children;
use crate::engine::sast::taint::flow::{Env, Taint};
use tree_sitter::Node;

/// Nodes walked at most looking for functions nested in one function.
const MAX_NESTED_WALK: usize = 200_000;

/// The function (or closure) a node is inside, if any.
fn enclosing_function(node: Node) -> Option<Node> {
    let mut current = node.parent();
    while let Some(n) = current {
        if n.kind() == "function_item" {
            return Some(n);
        }
        current = n.parent();
    }
    None
}

impl<'t> Analysis<'_, 't> {
    /// `let name = |…| …;` binds `name` to the closure; any other `let`
    /// of the same name in the same function forgets it.
    pub(super) fn note_closure(
        &mut self,
        node: Node<'t>,
        pattern: Node<'t>,
        value: Option<Node<'t>>,
    ) {
        if pattern.kind() != "identifier" {
            return;
        }
        let closure = value.filter(|v| v.kind() == "closure_expression");
        if closure.is_none() && self.closures.is_empty() {
            return;
        }
        let key = (enclosing_function(node).map(|f| f.id()), self.text(pattern));
        match closure {
            Some(closure) => {
                self.closures.insert(key, closure);
            }
            None => {
                self.closures.remove(&key);
            }
        }
    }

    /// The closure a call by name calls, when a `let` of the same function
    /// bound it.
    pub(super) fn closure_callee(&self, function: Node<'t>) -> Option<Node<'t>> {
        if self.closures.is_empty() || function.kind() != "identifier" {
            return None;
        }
        let key = (
            enclosing_function(function).map(|f| f.id()),
            self.text(function),
        );
        self.closures.get(&key).copied()
    }

    /// A closure's parameters: (name if a plain name, the pattern).
    fn closure_parameters(&self, closure: Node<'t>) -> Vec<(Option<&'t str>, Node<'t>)> {
        let Some(list) = closure.rs_field("parameters") else {
            return Vec::new();
        };
        named_children(list)
            .into_iter()
            .filter(|p| !matches!(p.kind(), "line_comment" | "block_comment"))
            .map(|p| {
                let pattern = match p.kind() {
                    "parameter" => p.rs_field("pattern").unwrap_or(p),
                    _ => p,
                };
                let name = (pattern.kind() == "identifier").then(|| self.text(pattern));
                (name, pattern)
            })
            .collect()
    }

    /// A call of a closure bound by `let`: its summaries, as for a function
    /// of the file.
    pub(super) fn through_closure(
        &mut self,
        call: Node<'t>,
        closure: Node<'t>,
        taints: &[Option<Taint>],
    ) -> Option<Taint> {
        let parameters = self.closure_parameters(closure);
        self.through_callee(call, closure, &parameters, taints)
    }

    /// A closure passed to a method of a receiver with this taint: its
    /// parameters hold the receiver's elements; its value is its body's.
    pub(super) fn closure_argument(
        &mut self,
        env: &mut Env,
        closure: Node<'t>,
        receiver: &Taint,
        call: Node<'t>,
        depth: usize,
    ) -> Option<Taint> {
        let mut inner = self.core.copy(env);
        let element = receiver.through(self.core.step(call));
        for (_, pattern) in self.closure_parameters(closure) {
            self.bind_pattern(&mut inner, pattern, Some(element.clone()), None, closure);
        }
        let taint = closure
            .rs_field("body")
            .and_then(|body| self.expr(&mut inner, body, depth));
        self.core.memo.insert(closure.id(), taint.clone());
        taint
    }

    /// The `fn` items nested anywhere in `function`'s body, registered as
    /// functions of the file (one walk of the body, bounded).
    pub(super) fn nested_functions(&mut self, function: Node<'t>) -> Vec<Node<'t>> {
        let Some(body) = function.rs_field("body") else {
            return Vec::new();
        };
        // Most bodies have none: a text search is cheaper than the walk.
        if !self.text(body).contains("fn ") {
            return Vec::new();
        }
        let mut found = Vec::new();
        let mut stack = vec![body];
        let mut walked = 0usize;
        while let Some(node) = stack.pop() {
            walked += 1;
            if walked > MAX_NESTED_WALK || !self.core.tick() {
                break;
            }
            if node.kind() == "function_item" {
                found.push(node);
                if let Some(name) = node.rs_field("name") {
                    self.functions
                        .entry(self.text(name))
                        .or_default()
                        .push((node, None));
                }
            }
            let mut cursor = node.walk();
            stack.extend(node.named_children(&mut cursor));
        }
        found
    }
}
