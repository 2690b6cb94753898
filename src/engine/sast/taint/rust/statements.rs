//! Rust blocks, `let`, conditions (with allow-list narrowing), `if`,
//! `match` and loops: what binds names and where flows join.

use super::Analysis;
use crate::engine::sast::fields::FieldExt;
use crate::engine::sast::taint::core::{MAX_LOOP_ROUNDS, named_children};
use crate::engine::sast::taint::flow::{Const, Env, Taint, Value, either};
use tree_sitter::Node;

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
        "macro_invocation" => last.rs_field("macro").is_some_and(|m| {
            matches!(
                source.get(m.byte_range()).unwrap_or_default(),
                "panic" | "unreachable" | "bail" | "anyhow::bail" | "todo" | "unimplemented"
            )
        }),
        _ => false,
    }
}

impl<'t> Analysis<'_, 't> {
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
                    if let (Some(name), Some(v)) =
                        (statement.rs_field("name"), statement.rs_field("value"))
                    {
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

    pub(super) fn let_declaration(&mut self, env: &mut Env, node: Node<'t>, depth: usize) {
        let value = node.rs_field("value");
        let mut taint = value.and_then(|v| self.expr(env, v, depth));
        let constant = value.and_then(|v| self.constant(env, v));
        // `let n: u32 = s.parse()?`: a number holds no text.
        if let Some(typed) = node.rs_field("type")
            && NUMBER_TYPES.contains(&self.text(typed))
        {
            taint = None;
        }
        if let Some(alternative) = node.rs_field("alternative") {
            // `let … else { return }`: the else block leaves.
            let mut inner = self.core.copy(env);
            self.block(&mut inner, alternative, depth);
        }
        if let Some(pattern) = node.rs_field("pattern") {
            self.note_closure(node, pattern, value);
            self.bind_pattern(env, pattern, taint, constant, node);
        }
    }

    /// Evaluates a condition: `let` patterns bind in `then`, allow-list
    /// checks clear names in `then` (or in `otherwise` when negated).
    /// Returns the condition's value when it is a known constant.
    pub(super) fn condition(
        &mut self,
        then: &mut Env,
        otherwise: &mut Env,
        condition: Node<'t>,
        depth: usize,
    ) -> Option<bool> {
        match condition.kind() {
            "let_condition" => {
                let value = condition.rs_field("value");
                let taint = value.and_then(|v| self.expr(then, v, depth));
                if let Some(pattern) = condition.rs_field("pattern") {
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
    pub(super) fn narrow(
        &self,
        then: &mut Env,
        otherwise: &mut Env,
        condition: Node<'t>,
        depth: usize,
    ) {
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
                    .rs_field("operator")
                    .map(|o| self.text(o))
                    .unwrap_or_default();
                let (Some(left), Some(right)) =
                    (condition.rs_field("left"), condition.rs_field("right"))
                else {
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
                let Some(function) = condition.rs_field("function") else {
                    return;
                };
                let is_contains = function.kind() == "field_expression"
                    && function
                        .rs_field("field")
                        .is_some_and(|f| self.text(f) == "contains");
                let argument = condition
                    .rs_field("arguments")
                    .and_then(|a| a.named_child(0));
                if is_contains && let Some(name) = argument.and_then(|a| self.place(a)) {
                    clean(then, &name, None);
                }
            }
            "macro_invocation" => {
                let is_matches = condition
                    .rs_field("macro")
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

    pub(super) fn if_expression(
        &mut self,
        env: &mut Env,
        node: Node<'t>,
        depth: usize,
    ) -> Option<Taint> {
        // The arms in order: (condition, block); `else` has no condition.
        let mut arms: Vec<(Option<Node<'t>>, Option<Node<'t>>)> = Vec::new();
        let mut current = Some(node);
        while let Some(arm) = current.take() {
            arms.push((arm.rs_field("condition"), arm.rs_field("consequence")));
            let Some(alternative) = arm.rs_field("alternative") else {
                break;
            };
            match alternative.named_child(0) {
                // A longer `else if` chain is cut: its rest is not analysed.
                Some(next) if next.kind() == "if_expression" && arms.len() < 256 => {
                    current = Some(next);
                }
                Some(next) if next.kind() == "if_expression" => {}
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

    pub(super) fn match_expression(
        &mut self,
        env: &mut Env,
        node: Node<'t>,
        depth: usize,
    ) -> Option<Taint> {
        let subject = node.rs_field("value");
        let taint = subject.and_then(|s| self.expr(env, s, depth));
        let subject_name = subject.and_then(|s| self.place(s));
        let arms: Vec<Node<'t>> = node
            .rs_field("body")
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
            if let Some(pattern) = arm.rs_field("pattern") {
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
            let arm_value = arm.rs_field("value");
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
    pub(super) fn loop_body(&mut self, env: &mut Env, mut body: impl FnMut(&mut Self, &mut Env)) {
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
}
