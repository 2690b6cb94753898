//! Python statements: bindings, branches, loops, `try` and `with`.

use super::{Analysis, key_text};
use crate::engine::sast::fields::FieldExt;
use crate::engine::sast::taint::core::{self, MAX_LOOP_ROUNDS, named_children};
use crate::engine::sast::taint::flow::{Const, Env, Taint, Value, either};
use tree_sitter::Node;

/// Whether a block always leaves (its last statement returns, raises,
/// continues or breaks): its names do not flow past the `if`.
fn leaves(block: Node) -> bool {
    let mut cursor = block.walk();
    block
        .named_children(&mut cursor)
        .last()
        .is_some_and(|last| {
            matches!(
                last.kind(),
                "return_statement" | "raise_statement" | "continue_statement" | "break_statement"
            )
        })
}

impl<'t> Analysis<'_, 't> {
    // ───────────────────────── statements ─────────────────────────

    pub(super) fn block(&mut self, env: &mut Env, block: Node<'t>, depth: usize) {
        for statement in named_children(block) {
            if !self.core.tick() {
                return;
            }
            self.statement(env, statement, depth + 1);
        }
    }

    pub(super) fn statement(&mut self, env: &mut Env, node: Node<'t>, depth: usize) {
        if self.core.too_deep(depth) {
            return;
        }
        self.core.memo.clear();
        core::sinks_at(self, env, node, depth);
        match node.kind() {
            "expression_statement" => {
                for child in named_children(node) {
                    match child.kind() {
                        "assignment" => self.assignment(env, child, depth),
                        "augmented_assignment" => self.augmented(env, child, depth),
                        _ => {
                            self.expr(env, child, depth);
                        }
                    }
                }
            }
            "return_statement" => {
                let mut returned = None;
                for child in named_children(node) {
                    returned = either(returned, self.expr(env, child, depth));
                }
                // The `return` is a step of the caller's path: it shows
                // where the helper hands the value back.
                let step = self.core.step(node);
                self.core.returns(returned.map(|t| t.through(step)));
            }
            "if_statement" => self.if_statement(env, node, depth),
            "for_statement" => self.for_statement(env, node, depth),
            "while_statement" => self.while_statement(env, node, depth),
            "with_statement" => {
                for clause in named_children(node) {
                    if clause.kind() != "with_clause" {
                        continue;
                    }
                    for item in named_children(clause) {
                        let Some(value) = item.py_field("value") else {
                            continue;
                        };
                        if value.kind() == "as_pattern" {
                            let parts = named_children(value);
                            let taint = parts.first().and_then(|e| self.expr(env, *e, depth));
                            if let Some(target) = value
                                .py_field("alias")
                                .and_then(|alias| alias.named_child(0))
                            {
                                self.bind(env, target, taint, None, value);
                            }
                        } else {
                            self.expr(env, value, depth);
                        }
                    }
                }
                if let Some(body) = node.py_field("body") {
                    self.block(env, body, depth);
                }
            }
            "try_statement" => self.try_statement(env, node, depth),
            "match_statement" => {
                if let Some(subject) = node.py_field("subject") {
                    self.expr(env, subject, depth);
                }
                let before = env.clone();
                if let Some(body) = node.py_field("body") {
                    for case in named_children(body) {
                        let mut arm = before.clone();
                        if let Some(block) = case.py_field("consequence") {
                            self.block(&mut arm, block, depth);
                        }
                        env.join(arm);
                    }
                }
            }
            "block" | "module" => self.block(env, node, depth),
            // Analysed on their own (functions) or not data flow at all.
            "function_definition"
            | "class_definition"
            | "decorated_definition"
            | "import_statement"
            | "import_from_statement"
            | "future_import_statement"
            | "global_statement"
            | "nonlocal_statement"
            | "pass_statement"
            | "break_statement"
            | "continue_statement"
            | "comment" => {}
            _ => {
                for child in named_children(node) {
                    self.expr(env, child, depth);
                }
            }
        }
    }

    pub(super) fn assignment(&mut self, env: &mut Env, node: Node<'t>, depth: usize) {
        let Some(left) = node.py_field("left") else {
            return;
        };
        let Some(right) = node.py_field("right") else {
            return; // `x: int` declares, assigns nothing
        };
        // `a = b = value`: the inner assignment first, its value is ours.
        let (taint, constant, value) = if right.kind() == "assignment" {
            self.assignment(env, right, depth + 1);
            let inner = right.py_field("left");
            let taint = inner.and_then(|n| self.expr(env, n, depth));
            let constant = inner.and_then(|n| self.constant(env, n));
            (taint, constant, None)
        } else {
            let taint = self.expr(env, right, depth);
            let constant = self.constant(env, right);
            (taint, constant, Some(right))
        };
        core::sinks_at(self, env, node, depth);
        // `a, b = x, y`: element by element when the shapes agree.
        if let Some(value) = value
            && matches!(
                left.kind(),
                "pattern_list" | "tuple_pattern" | "list_pattern"
            )
            && matches!(value.kind(), "expression_list" | "tuple" | "list")
        {
            let targets = named_children(left);
            let values = named_children(value);
            if targets.len() == values.len() {
                for (target, value) in targets.into_iter().zip(values) {
                    let taint = self.expr(env, value, depth);
                    let constant = self.constant(env, value);
                    self.bind(env, target, taint, constant, node);
                }
                return;
            }
        }
        self.bind(env, left, taint, constant, node);
        // d = {"k": v, …}: each constant key is a name of its own.
        if let Some(value) = value
            && value.kind() == "dictionary"
            && let Some(base) = self.key(left)
        {
            for pair in named_children(value) {
                if pair.kind() != "pair" {
                    continue;
                }
                let (Some(k), Some(v)) = (pair.py_field("key"), pair.py_field("value")) else {
                    continue;
                };
                if let Some(k) = self.constant(env, k) {
                    let name = format!("{base}[{}]", key_text(&k));
                    let taint = self
                        .expr(env, v, depth)
                        .map(|t| t.through(self.core.step(pair)));
                    let constant = self.constant(env, v);
                    env.set(&name, Value { taint, constant });
                }
            }
        }
    }

    pub(super) fn augmented(&mut self, env: &mut Env, node: Node<'t>, depth: usize) {
        let (Some(left), Some(right)) = (node.py_field("left"), node.py_field("right")) else {
            return;
        };
        let ours = self.expr(env, left, depth);
        let theirs = self.expr(env, right, depth);
        let taint = either(theirs, ours).map(|t| t.through(self.core.step(node)));
        core::sinks_at(self, env, node, depth);
        if let Some(name) = self.key(left) {
            env.set(
                &name,
                Value {
                    taint,
                    constant: None,
                },
            );
        }
    }

    /// `target` now holds a value with this taint and constant.
    pub(super) fn bind(
        &mut self,
        env: &mut Env,
        target: Node<'t>,
        taint: Option<Taint>,
        constant: Option<Const>,
        at: Node<'t>,
    ) {
        let taint = taint.map(|t| t.through(self.core.step(at)));
        match target.kind() {
            "identifier" | "attribute" => {
                if let Some(name) = self.key(target) {
                    env.forget_under(&name);
                    env.set(&name, Value { taint, constant });
                }
            }
            "subscript" => {
                // A constant key is a name; the container may hold it too.
                if let Some(name) = self.key(target) {
                    env.set(
                        &name,
                        Value {
                            taint: taint.clone(),
                            constant,
                        },
                    );
                }
                if let Some(base) = target.py_field("value").and_then(|value| self.key(value)) {
                    env.add(&base, taint);
                }
            }
            "pattern_list"
            | "tuple_pattern"
            | "list_pattern"
            | "tuple"
            | "list"
            | "list_splat_pattern"
            | "parenthesized_expression" => {
                for child in named_children(target) {
                    self.bind(env, child, taint.clone(), None, at);
                }
            }
            _ => {}
        }
    }

    pub(super) fn if_statement(&mut self, env: &mut Env, node: Node<'t>, depth: usize) {
        // The arms in order: (condition, block); `else` has no condition.
        let mut arms: Vec<(Option<Node<'t>>, Option<Node<'t>>)> =
            vec![(node.py_field("condition"), node.py_field("consequence"))];
        let mut cursor = node.walk();
        for alternative in node.children_by_field_name("alternative", &mut cursor) {
            match alternative.kind() {
                "elif_clause" => arms.push((
                    alternative.py_field("condition"),
                    alternative.py_field("consequence"),
                )),
                _ => arms.push((None, alternative.py_field("body"))),
            }
        }
        let mut remaining = self.core.copy(env);
        let mut joined: Option<Env> = None;
        let mut falls_through = true;
        for (condition, block) in arms {
            let known = condition.and_then(|c| {
                self.expr(&mut remaining, c, depth);
                self.constant(&remaining, c).map(|k| k.truthy())
            });
            if known == Some(false) {
                continue; // a dead arm
            }
            let mut arm = self.core.copy(&remaining);
            if let Some(condition) = condition {
                self.narrow(&mut arm, &mut remaining, condition);
            }
            if let Some(block) = block {
                self.block(&mut arm, block, depth);
            }
            if !block.is_some_and(leaves) {
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
    }

    /// Allow-list checks: `x in ALLOWED` clears `x` where it holds,
    /// `x not in ALLOWED` where it does not; `x == "literal"` makes `x` that
    /// constant where it holds.
    pub(super) fn narrow(&self, then: &mut Env, otherwise: &mut Env, condition: Node<'t>) {
        if condition.kind() != "comparison_operator" {
            return;
        }
        let operands = named_children(condition);
        let [left, right] = operands.as_slice() else {
            return;
        };
        let Some(operator) = self
            .core
            .source
            .get(left.end_byte()..right.start_byte())
            .map(|o| o.split_whitespace().collect::<Vec<_>>().join(" "))
        else {
            return;
        };
        let Some(name) = self.key(*left) else {
            return;
        };
        let clean = |env: &mut Env, constant: Option<Const>| {
            env.set(
                &name,
                Value {
                    taint: None,
                    constant,
                },
            )
        };
        match operator.as_str() {
            "in" => clean(then, None),
            "not in" => clean(otherwise, None),
            "==" => {
                if let Some(value) = self.constant(then, *right) {
                    clean(then, Some(value));
                }
            }
            "!=" => {
                if let Some(value) = self.constant(otherwise, *right) {
                    clean(otherwise, Some(value));
                }
            }
            _ => {}
        }
    }

    pub(super) fn for_statement(&mut self, env: &mut Env, node: Node<'t>, depth: usize) {
        let taint = node
            .py_field("right")
            .and_then(|right| self.expr(env, right, depth));
        let left = node.py_field("left");
        let body = node.py_field("body");
        self.loop_body(env, depth, |this, env| {
            if let Some(left) = left {
                this.bind(env, left, taint.clone(), None, node);
            }
            if let Some(body) = body {
                this.block(env, body, depth);
            }
        });
        if let Some(alternative) = node.py_field("alternative")
            && let Some(body) = alternative.py_field("body")
        {
            self.block(env, body, depth);
        }
    }

    pub(super) fn while_statement(&mut self, env: &mut Env, node: Node<'t>, depth: usize) {
        let condition = node.py_field("condition");
        if let Some(condition) = condition {
            self.expr(env, condition, depth);
            if self.constant(env, condition).is_some_and(|c| !c.truthy()) {
                return; // never entered
            }
        }
        let body = node.py_field("body");
        self.loop_body(env, depth, |this, env| {
            if let Some(body) = body {
                this.block(env, body, depth);
            }
        });
    }

    /// Runs a loop body until no new name is tainted (a bounded fixpoint):
    /// the body may run any number of times, or not at all.
    pub(super) fn loop_body(
        &mut self,
        env: &mut Env,
        _depth: usize,
        mut body: impl FnMut(&mut Self, &mut Env),
    ) {
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

    pub(super) fn try_statement(&mut self, env: &mut Env, node: Node<'t>, depth: usize) {
        let before = self.core.copy(env);
        if let Some(body) = node.py_field("body") {
            self.block(env, body, depth);
        }
        // A handler may start anywhere in the body.
        let mut start = before;
        start.join(env.clone());
        let mut finally = None;
        for clause in named_children(node) {
            match clause.kind() {
                "except_clause" | "except_group_clause" => {
                    let mut handler = self.core.copy(&start);
                    for part in named_children(clause) {
                        if part.kind() == "block" {
                            self.block(&mut handler, part, depth);
                        }
                    }
                    env.join(handler);
                }
                "else_clause" => {
                    if let Some(body) = clause.py_field("body") {
                        self.block(env, body, depth);
                    }
                }
                "finally_clause" => finally = Some(clause),
                _ => {}
            }
        }
        if let Some(clause) = finally {
            for part in named_children(clause) {
                if part.kind() == "block" {
                    self.block(env, part, depth);
                }
            }
        }
    }
}
