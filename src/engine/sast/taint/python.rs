//! The Python front-end: one forward pass over each function's statements,
//! carrying an [`Env`] of what each name holds.
//!
//! - Assignments (plain, augmented, chained, unpacking, walrus), `for`
//!   targets, `with … as` and comprehension variables bind names; an
//!   attribute (`self.cmd`) or a constant subscript (`d["k"]`) is a name of
//!   its own, so `d["safe"]` stays clean when `d["other"]` is tainted.
//! - Expressions are tainted when a part is: f-strings, `%`, `+`,
//!   `.format`, `join`, containers, attributes, method calls on a tainted
//!   receiver, and calls of unknown functions with a tainted argument (as
//!   Semgrep assumes by default). Calls of functions defined in the file
//!   use the callee's summary instead (parameter ─▶ return, parameter ─▶
//!   sink), computed on demand, once per parameter.
//! - Branches are may-flow: tainted after the `if` when tainted in either
//!   arm; an arm whose condition is a known constant is dead and skipped;
//!   `if x in ALLOWED:` clears `x` inside, `if x not in ALLOWED: return`
//!   after. Loops run their body until nothing new is tainted, at most
//!   [`MAX_LOOP_ROUNDS`] times.
//!
//! The walk recurses over the syntax tree, so every recursion counts its
//! depth and stops at [`MAX_DEPTH`] (a 10,000-deep nest is analysed to
//! that depth and the file reported as partly analysed); all work is
//! counted against a budget proportional to the file.

use super::consts::{self, string_value};
use super::flow::{Const, Env, Origin, Step, Taint, Value, either};
use super::{Hit, LanguageTaint, Limit};
use crate::engine::Deadline;
use ast_grep_core::AstGrep;
use ast_grep_core::matcher::MatcherExt;
use ast_grep_core::tree_sitter::StrDoc;
use ast_grep_language::SupportLang;
use std::collections::{HashMap, HashSet};
use std::rc::Rc;
use tree_sitter::Node;

/// Syntax nesting followed at most, statements and expressions together.
pub const MAX_DEPTH: usize = 200;

/// Times a loop body is analysed at most before its result is taken.
pub const MAX_LOOP_ROUNDS: usize = 3;

/// Summaries computed inside one another at most (a long chain of helpers
/// calling helpers); deeper calls are treated as unknown functions.
pub const MAX_SUMMARY_DEPTH: usize = 8;

/// Parameter names that are never input themselves.
const NOT_INPUT: [&str; 4] = ["self", "cls", "request", "context"];

/// A function or lambda defined in the file.
#[derive(Clone, Copy)]
struct Function<'t> {
    node: Node<'t>,
    /// Enclosing class, for `self.method(…)`.
    class: Option<Node<'t>>,
}

/// What one parameter of a function does.
#[derive(Default)]
struct Summary {
    /// The return value carries the parameter (path from it).
    returns: Option<Taint>,
    /// Sinks it reaches: rule, sink range and row, path from the parameter.
    sinks: Vec<Hit>,
}

/// What the function being analysed collects.
#[derive(Default)]
struct Frame {
    /// Being summarised for this parameter.
    parameter: Option<usize>,
    returned: Option<Taint>,
    sinks: Vec<Hit>,
}

/// One file's analysis.
pub struct Analysis<'a, 't> {
    rules: &'a LanguageTaint,
    /// Rules that run (bit set by rule index).
    active: u64,
    root: &'t AstGrep<StrDoc<SupportLang>>,
    source: &'t str,
    deadline: &'a Deadline,
    functions: HashMap<String, Vec<Function<'t>>>,
    summaries: HashMap<(usize, usize), Rc<Summary>>,
    summarising: Vec<(usize, usize)>,
    frames: Vec<Frame>,
    memo: HashMap<usize, Option<Taint>>,
    reported: HashSet<(usize, usize, usize)>,
    /// Findings, in the order found.
    pub hits: Vec<Hit>,
    /// The first limit reached, if any.
    pub limit: Option<Limit>,
    /// Sinks (rule, start byte) that only constants reach.
    pub constant_sinks: Vec<(usize, usize)>,
    work: usize,
    budget: usize,
}

fn named_children<'t>(node: Node<'t>) -> Vec<Node<'t>> {
    let mut cursor = node.walk();
    node.named_children(&mut cursor).collect()
}

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

impl<'a, 't> Analysis<'a, 't> {
    /// An analysis of `root` for the rules in `active`.
    pub fn new(
        rules: &'a LanguageTaint,
        active: u64,
        root: &'t AstGrep<StrDoc<SupportLang>>,
        deadline: &'a Deadline,
    ) -> Self {
        let source = root.root().get_doc().src.as_str();
        Self {
            rules,
            active,
            root,
            source,
            deadline,
            functions: HashMap::new(),
            summaries: HashMap::new(),
            summarising: Vec::new(),
            frames: Vec::new(),
            memo: HashMap::new(),
            reported: HashSet::new(),
            hits: Vec::new(),
            limit: None,
            constant_sinks: Vec::new(),
            work: 0,
            // Near-linear: a fixed multiple of the file, whatever its shape.
            budget: 200_000 + source.len().saturating_mul(8),
        }
    }

    fn stop(&mut self, limit: Limit) {
        if self.limit.is_none() {
            self.limit = Some(limit);
        }
    }

    /// Counts one unit of work; false once the budget or the deadline is
    /// spent (the analysis then unwinds, keeping what it found).
    fn tick(&mut self) -> bool {
        if self.limit.is_some() && !matches!(self.limit, Some(Limit::Depth | Limit::Summaries)) {
            return false;
        }
        self.work += 1;
        if self.work > self.budget {
            self.stop(Limit::Work);
            return false;
        }
        if self.deadline.expired() {
            self.stop(Limit::Deadline);
            return false;
        }
        true
    }

    fn text(&self, node: Node) -> &'t str {
        self.source.get(node.byte_range()).unwrap_or_default()
    }

    fn step(&self, node: Node) -> Step {
        Step {
            range: (node.start_byte(), node.end_byte()),
            row: node.start_position().row,
        }
    }

    /// Runs the analysis over the whole file.
    pub fn run(&mut self) {
        let tree_root = self.root.root().get_inner_node();
        let mut definitions = Vec::new();
        self.collect_functions(tree_root, &mut definitions);
        // Module level first: its names are the functions' globals.
        let mut module = Env::default();
        self.frames.push(Frame::default());
        self.block(&mut module, tree_root, 0);
        self.frames.pop();
        for function in definitions {
            if self.limit.is_some() && !matches!(self.limit, Some(Limit::Depth | Limit::Summaries))
            {
                return;
            }
            let mut env = self.copy(&module);
            self.bind_input_parameters(&mut env, function);
            self.frames.push(Frame::default());
            if let Some(body) = function.child_by_field_name("body") {
                self.block(&mut env, body, 0);
            }
            self.frames.pop();
        }
    }

    /// Every function and lambda bound to a name, found where statements
    /// are (iteratively: a deep nest of classes must not overflow).
    fn collect_functions(&mut self, root: Node<'t>, definitions: &mut Vec<Node<'t>>) {
        let mut stack: Vec<(Node<'t>, Option<Node<'t>>)> = vec![(root, None)];
        while let Some((node, class)) = stack.pop() {
            if !self.tick() {
                return;
            }
            match node.kind() {
                "function_definition" => {
                    definitions.push(node);
                    if let Some(name) = node.child_by_field_name("name") {
                        self.functions
                            .entry(self.text(name).to_owned())
                            .or_default()
                            .push(Function { node, class });
                    }
                }
                "expression_statement" => {
                    // name = lambda …: callable by that name.
                    if let Some(assignment) =
                        node.named_child(0).filter(|n| n.kind() == "assignment")
                        && let (Some(left), Some(right)) = (
                            assignment.child_by_field_name("left"),
                            assignment.child_by_field_name("right"),
                        )
                        && left.kind() == "identifier"
                        && right.kind() == "lambda"
                    {
                        self.functions
                            .entry(self.text(left).to_owned())
                            .or_default()
                            .push(Function { node: right, class });
                    }
                    continue;
                }
                _ => {}
            }
            let class = if node.kind() == "class_definition" {
                Some(node)
            } else {
                class
            };
            for child in named_children(node).into_iter().rev() {
                if matches!(
                    child.kind(),
                    "module"
                        | "block"
                        | "function_definition"
                        | "class_definition"
                        | "decorated_definition"
                        | "if_statement"
                        | "elif_clause"
                        | "else_clause"
                        | "try_statement"
                        | "except_clause"
                        | "finally_clause"
                        | "with_statement"
                        | "for_statement"
                        | "while_statement"
                        | "expression_statement"
                ) {
                    stack.push((child, class));
                }
            }
        }
    }

    /// The parameters of `function` and the names they bind.
    fn parameters(&self, function: Node<'t>) -> Vec<(String, Node<'t>)> {
        let Some(list) = function.child_by_field_name("parameters") else {
            return Vec::new();
        };
        named_children(list)
            .into_iter()
            .filter_map(|parameter| {
                let name = match parameter.kind() {
                    "identifier" => Some(parameter),
                    "default_parameter" | "typed_default_parameter" => {
                        parameter.child_by_field_name("name")
                    }
                    "typed_parameter" | "list_splat_pattern" | "dictionary_splat_pattern" => {
                        named_children(parameter)
                            .into_iter()
                            .find(|n| n.kind() == "identifier")
                            .or_else(|| {
                                named_children(parameter).into_iter().find_map(|n| {
                                    named_children(n)
                                        .into_iter()
                                        .find(|m| m.kind() == "identifier")
                                })
                            })
                    }
                    _ => None,
                }?;
                (name.kind() == "identifier").then(|| (self.text(name).to_owned(), parameter))
            })
            .collect()
    }

    /// Taints the parameters of a function the rules call input (a route
    /// handler's, a Lambda handler's `event`).
    fn bind_input_parameters(&mut self, env: &mut Env, function: Node<'t>) {
        let node = self.root.adopt(function);
        let Some(spec) = self
            .rules
            .library
            .parameters
            .iter()
            .find(|spec| spec.matcher.match_node(node.clone()).is_some())
        else {
            return;
        };
        let label: Rc<str> = Rc::from(spec.label.as_str());
        for (name, parameter) in self.parameters(function) {
            let wanted = if spec.names.is_empty() {
                !NOT_INPUT.contains(&name.as_str())
            } else {
                spec.names.contains(&name)
            };
            if wanted && !validated(self.source, parameter) {
                let origin = Origin::Source {
                    label: label.clone(),
                    confidence: spec.confidence,
                };
                env.set(
                    &name,
                    Value {
                        taint: Some(Taint::new(origin, self.step(parameter))),
                        constant: None,
                    },
                );
            }
        }
    }

    // ───────────────────────── statements ─────────────────────────

    fn block(&mut self, env: &mut Env, block: Node<'t>, depth: usize) {
        for statement in named_children(block) {
            if !self.tick() {
                return;
            }
            self.statement(env, statement, depth + 1);
        }
    }

    /// Copying an environment (for a branch or a loop) is work too.
    fn copy(&mut self, env: &Env) -> Env {
        self.work = self.work.saturating_add(env.len() / 16);
        env.clone()
    }

    fn too_deep(&mut self, depth: usize) -> bool {
        if depth > MAX_DEPTH {
            self.stop(Limit::Depth);
            return true;
        }
        false
    }

    fn statement(&mut self, env: &mut Env, node: Node<'t>, depth: usize) {
        if self.too_deep(depth) {
            return;
        }
        self.memo.clear();
        self.sinks_at(env, node, depth);
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
                if let Some(frame) = self.frames.last_mut() {
                    frame.returned = either(frame.returned.take(), returned);
                }
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
                        let Some(value) = item.child_by_field_name("value") else {
                            continue;
                        };
                        if value.kind() == "as_pattern" {
                            let parts = named_children(value);
                            let taint = parts.first().and_then(|e| self.expr(env, *e, depth));
                            if let Some(target) = value
                                .child_by_field_name("alias")
                                .and_then(|alias| alias.named_child(0))
                            {
                                self.bind(env, target, taint, None, value);
                            }
                        } else {
                            self.expr(env, value, depth);
                        }
                    }
                }
                if let Some(body) = node.child_by_field_name("body") {
                    self.block(env, body, depth);
                }
            }
            "try_statement" => self.try_statement(env, node, depth),
            "match_statement" => {
                if let Some(subject) = node.child_by_field_name("subject") {
                    self.expr(env, subject, depth);
                }
                let before = env.clone();
                if let Some(body) = node.child_by_field_name("body") {
                    for case in named_children(body) {
                        let mut arm = before.clone();
                        if let Some(block) = case.child_by_field_name("consequence") {
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

    fn assignment(&mut self, env: &mut Env, node: Node<'t>, depth: usize) {
        let Some(left) = node.child_by_field_name("left") else {
            return;
        };
        let Some(right) = node.child_by_field_name("right") else {
            return; // `x: int` declares, assigns nothing
        };
        // `a = b = value`: the inner assignment first, its value is ours.
        let (taint, constant, value) = if right.kind() == "assignment" {
            self.assignment(env, right, depth + 1);
            let inner = right.child_by_field_name("left");
            let taint = inner.and_then(|n| self.expr(env, n, depth));
            let constant = inner.and_then(|n| self.constant(env, n));
            (taint, constant, None)
        } else {
            let taint = self.expr(env, right, depth);
            let constant = self.constant(env, right);
            (taint, constant, Some(right))
        };
        self.sinks_at(env, node, depth);
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
                let (Some(k), Some(v)) = (
                    pair.child_by_field_name("key"),
                    pair.child_by_field_name("value"),
                ) else {
                    continue;
                };
                if let Some(k) = self.constant(env, k) {
                    let name = format!("{base}[{}]", key_text(&k));
                    let taint = self.expr(env, v, depth).map(|t| t.through(self.step(pair)));
                    let constant = self.constant(env, v);
                    env.set(&name, Value { taint, constant });
                }
            }
        }
    }

    fn augmented(&mut self, env: &mut Env, node: Node<'t>, depth: usize) {
        let (Some(left), Some(right)) = (
            node.child_by_field_name("left"),
            node.child_by_field_name("right"),
        ) else {
            return;
        };
        let ours = self.expr(env, left, depth);
        let theirs = self.expr(env, right, depth);
        let taint = either(theirs, ours).map(|t| t.through(self.step(node)));
        self.sinks_at(env, node, depth);
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
    fn bind(
        &mut self,
        env: &mut Env,
        target: Node<'t>,
        taint: Option<Taint>,
        constant: Option<Const>,
        at: Node<'t>,
    ) {
        let taint = taint.map(|t| t.through(self.step(at)));
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
                if let Some(base) = target
                    .child_by_field_name("value")
                    .and_then(|value| self.key(value))
                {
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

    fn if_statement(&mut self, env: &mut Env, node: Node<'t>, depth: usize) {
        // The arms in order: (condition, block); `else` has no condition.
        let mut arms: Vec<(Option<Node<'t>>, Option<Node<'t>>)> = vec![(
            node.child_by_field_name("condition"),
            node.child_by_field_name("consequence"),
        )];
        let mut cursor = node.walk();
        for alternative in node.children_by_field_name("alternative", &mut cursor) {
            match alternative.kind() {
                "elif_clause" => arms.push((
                    alternative.child_by_field_name("condition"),
                    alternative.child_by_field_name("consequence"),
                )),
                _ => arms.push((None, alternative.child_by_field_name("body"))),
            }
        }
        let mut remaining = self.copy(env);
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
            let mut arm = self.copy(&remaining);
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
    fn narrow(&self, then: &mut Env, otherwise: &mut Env, condition: Node<'t>) {
        if condition.kind() != "comparison_operator" {
            return;
        }
        let operands = named_children(condition);
        let [left, right] = operands.as_slice() else {
            return;
        };
        let Some(operator) = self
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

    fn for_statement(&mut self, env: &mut Env, node: Node<'t>, depth: usize) {
        let taint = node
            .child_by_field_name("right")
            .and_then(|right| self.expr(env, right, depth));
        let left = node.child_by_field_name("left");
        let body = node.child_by_field_name("body");
        self.loop_body(env, depth, |this, env| {
            if let Some(left) = left {
                this.bind(env, left, taint.clone(), None, node);
            }
            if let Some(body) = body {
                this.block(env, body, depth);
            }
        });
        if let Some(alternative) = node.child_by_field_name("alternative")
            && let Some(body) = alternative.child_by_field_name("body")
        {
            self.block(env, body, depth);
        }
    }

    fn while_statement(&mut self, env: &mut Env, node: Node<'t>, depth: usize) {
        let condition = node.child_by_field_name("condition");
        if let Some(condition) = condition {
            self.expr(env, condition, depth);
            if self.constant(env, condition).is_some_and(|c| !c.truthy()) {
                return; // never entered
            }
        }
        let body = node.child_by_field_name("body");
        self.loop_body(env, depth, |this, env| {
            if let Some(body) = body {
                this.block(env, body, depth);
            }
        });
    }

    /// Runs a loop body until no new name is tainted (a bounded fixpoint):
    /// the body may run any number of times, or not at all.
    fn loop_body(
        &mut self,
        env: &mut Env,
        _depth: usize,
        mut body: impl FnMut(&mut Self, &mut Env),
    ) {
        let mut tainted = env.tainted_count();
        for _ in 0..MAX_LOOP_ROUNDS {
            let mut round = self.copy(env);
            body(self, &mut round);
            env.join(round);
            let now = env.tainted_count();
            if now == tainted {
                return;
            }
            tainted = now;
        }
    }

    fn try_statement(&mut self, env: &mut Env, node: Node<'t>, depth: usize) {
        let before = self.copy(env);
        if let Some(body) = node.child_by_field_name("body") {
            self.block(env, body, depth);
        }
        // A handler may start anywhere in the body.
        let mut start = before;
        start.join(env.clone());
        let mut finally = None;
        for clause in named_children(node) {
            match clause.kind() {
                "except_clause" | "except_group_clause" => {
                    let mut handler = self.copy(&start);
                    for part in named_children(clause) {
                        if part.kind() == "block" {
                            self.block(&mut handler, part, depth);
                        }
                    }
                    env.join(handler);
                }
                "else_clause" => {
                    if let Some(body) = clause.child_by_field_name("body") {
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

    // ───────────────────────── expressions ─────────────────────────

    /// The name a place is known by in the environment: `x`, `self.x`,
    /// `d["k"]`, `a.b[0]`; `None` for anything else.
    fn key(&self, node: Node) -> Option<String> {
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
                    let attribute = current.child_by_field_name("attribute")?;
                    parts.push(format!(".{}", self.text(attribute)));
                    current = current.child_by_field_name("object")?;
                }
                "subscript" => {
                    let index = current.child_by_field_name("subscript")?;
                    let key = match index.kind() {
                        "integer" => Const::Int(self.text(index).parse().ok()?),
                        "string" => Const::Str(Rc::from(string_value(self.source, index)?)),
                        _ => return None,
                    };
                    parts.push(format!("[{}]", key_text(&key)));
                    current = current.child_by_field_name("value")?;
                }
                _ => return None,
            }
        }
        None
    }

    fn constant(&self, env: &Env, node: Node) -> Option<Const> {
        consts::eval(env, self.source, node, &|n| self.key(n))
    }

    /// The taint of an expression (and its effects: sinks it reaches,
    /// containers it fills, names a walrus binds).
    fn expr(&mut self, env: &mut Env, node: Node<'t>, depth: usize) -> Option<Taint> {
        if let Some(known) = self.memo.get(&node.id()) {
            return known.clone();
        }
        if self.too_deep(depth) || !self.tick() {
            return None;
        }
        let taint = self.expr_uncached(env, node, depth + 1);
        self.memo.insert(node.id(), taint.clone());
        taint
    }

    fn expr_uncached(&mut self, env: &mut Env, node: Node<'t>, depth: usize) -> Option<Taint> {
        self.sinks_at(env, node, depth);
        if let Some(taint) = self.source_at(node) {
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
                    "attribute" => node.child_by_field_name("object"),
                    _ => node.child_by_field_name("value"),
                };
                if node.kind() == "subscript"
                    && let Some(index) = node.child_by_field_name("subscript")
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
                    .child_by_field_name("value")
                    .and_then(|value| self.expr(env, value, depth));
                if let (Some(name), Some(value)) = (
                    node.child_by_field_name("name"),
                    node.child_by_field_name("value"),
                ) {
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
                            .child_by_field_name("right")
                            .and_then(|right| self.expr(&mut inner, right, depth));
                        if let Some(left) = part.child_by_field_name("left") {
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
    fn union(&mut self, env: &mut Env, node: Node<'t>, depth: usize) -> Option<Taint> {
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
    fn source_at(&self, node: Node<'t>) -> Option<Taint> {
        let candidates = self
            .rules
            .sources_by_kind
            .get(usize::from(node.kind_id()))?;
        if candidates.is_empty() {
            return None;
        }
        let adopted = self.root.adopt(node);
        for &(rule, index) in candidates {
            let source = match rule {
                None => &self.rules.library.sources[index],
                Some(rule) => {
                    if self.active & (1 << rule) == 0 {
                        continue;
                    }
                    &self.rules.rules[rule].sources[index]
                }
            };
            if source.matcher.match_node(adopted.clone()).is_some() {
                let mut taint = Taint::new(
                    Origin::Source {
                        label: Rc::from(source.label.as_str()),
                        confidence: source.confidence,
                    },
                    self.step(node),
                );
                taint.cleared = match rule {
                    // A rule's own source feeds that rule only.
                    Some(rule) => !(1u64 << rule),
                    None => self.rules.library_excluded,
                };
                return Some(taint);
            }
        }
        None
    }

    /// Checks the sinks that can match `node`; a tainted focus is a hit.
    fn sinks_at(&mut self, env: &mut Env, node: Node<'t>, depth: usize) {
        let Some(candidates) = self.rules.sinks_by_kind.get(usize::from(node.kind_id())) else {
            return;
        };
        if candidates.is_empty() {
            return;
        }
        let adopted = self.root.adopt(node);
        for &(rule, index) in candidates {
            if self.active & (1 << rule) == 0 {
                continue;
            }
            let sink = &self.rules.rules[rule].sinks[index];
            let Some(matched) = sink.matcher.match_node(adopted.clone()) else {
                continue;
            };
            let mut focus: Vec<Node<'t>> = Vec::new();
            let env_of_match = matched.get_env();
            for var in &sink.focus {
                if let Some(single) = env_of_match.get_match(var) {
                    focus.push(single.get_inner_node());
                } else {
                    focus.extend(
                        env_of_match
                            .get_multiple_matches(var)
                            .iter()
                            .map(|n| n.get_inner_node()),
                    );
                }
            }
            if sink.focus.is_empty() {
                focus = named_children(node);
            }
            let mut taint = None;
            let mut constant = !focus.is_empty();
            for part in focus {
                if part.id() == node.id() {
                    continue;
                }
                taint = either(taint, self.expr(env, part, depth));
                constant = constant && self.constant(env, part).is_some();
            }
            match taint.filter(|t| t.reaches(rule)) {
                Some(taint) => self.hit(rule, node, taint),
                // Only literals reach this sink (through names, branches
                // with constant conditions, checks against a literal).
                None if constant && self.frames.last().is_some_and(|f| f.parameter.is_none()) => {
                    self.constant_sinks.push((rule, node.start_byte()));
                }
                None => {}
            }
        }
    }

    fn hit(&mut self, rule: usize, sink: Node<'t>, taint: Taint) {
        let path = taint.through(self.step(sink));
        let hit = Hit {
            rule,
            sink: (sink.start_byte(), sink.end_byte()),
            sink_rows: (sink.start_position().row, sink.end_position().row),
            taint: path,
        };
        let frame = self.frames.last_mut();
        match (&hit.taint.origin, frame) {
            (Origin::Parameter(_), Some(frame)) if frame.parameter.is_some() => {
                frame.sinks.push(hit);
            }
            // A source inside a function being summarised is reported by
            // that function's own analysis.
            (Origin::Source { .. }, Some(frame)) if frame.parameter.is_some() => {}
            (Origin::Source { .. }, _) => {
                let key = (rule, hit.sink.0, hit.sink.1);
                if self.reported.insert(key) {
                    self.hits.push(hit);
                }
            }
            (Origin::Parameter(_), _) => {}
        }
    }

    fn call(&mut self, env: &mut Env, node: Node<'t>, depth: usize) -> Option<Taint> {
        let function = node.child_by_field_name("function");
        let arguments: Vec<Node<'t>> = node
            .child_by_field_name("arguments")
            .map(named_children)
            .unwrap_or_default();
        // Sanitizers: the library's clear every rule, a rule's its own.
        let mut cleared = 0u64;
        if let Some(candidates) = self
            .rules
            .sanitizers_by_kind
            .get(usize::from(node.kind_id()))
            && !candidates.is_empty()
        {
            let adopted = self.root.adopt(node);
            for &(rule, index) in candidates {
                let sanitizer = match rule {
                    None => &self.rules.library.sanitizers[index],
                    Some(rule) => &self.rules.rules[rule].sanitizers[index],
                };
                if sanitizer.matcher.match_node(adopted.clone()).is_some() {
                    match rule {
                        None => cleared = u64::MAX,
                        Some(rule) => cleared |= 1 << rule,
                    }
                }
            }
        }
        let receiver = match function {
            Some(f) if f.kind() == "attribute" => f
                .child_by_field_name("object")
                .and_then(|object| self.expr(env, object, depth)),
            _ => None,
        };
        let mut argument_taints = Vec::with_capacity(arguments.len());
        for argument in &arguments {
            let value = match argument.kind() {
                "keyword_argument" => argument.child_by_field_name("value"),
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
            && let Some(method) = f.child_by_field_name("attribute")
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
            && let Some(object) = f.child_by_field_name("object")
            && let Some(name) = self.key(object)
        {
            let added = argument_taints
                .iter()
                .cloned()
                .fold(None, either)
                .map(|t| t.through(self.step(node)));
            if added.is_some() {
                env.add(&name, added);
            }
        }
        let result = match self.local_callee(function) {
            Some((callee, offset)) => {
                self.through_summary(env, node, callee, offset, &arguments, &argument_taints)
            }
            None => argument_taints.into_iter().fold(receiver, either),
        };
        result.map(|mut taint| {
            taint.cleared |= cleared;
            taint
        })
    }

    /// The function defined in this file that a call calls, and how many
    /// leading parameters the call does not pass (`self`).
    fn local_callee(&self, function: Option<Node<'t>>) -> Option<(Function<'t>, usize)> {
        let function = function?;
        match function.kind() {
            "identifier" => {
                let candidates = self.functions.get(self.text(function))?;
                // Module-level functions and lambdas (a method is called through self).
                candidates
                    .iter()
                    .find(|f| f.class.is_none() || f.node.kind() == "lambda")
                    .map(|f| (*f, 0))
            }
            "attribute" => {
                let object = function.child_by_field_name("object")?;
                if self.text(object) != "self" {
                    return None;
                }
                let name = function.child_by_field_name("attribute")?;
                let class = enclosing_class(function)?;
                let candidates = self.functions.get(self.text(name))?;
                candidates
                    .iter()
                    .find(|f| f.class.map(|c| c.id()) == Some(class.id()))
                    .map(|f| (*f, 1))
            }
            _ => None,
        }
    }

    /// A call of a local function: its return carries the arguments its
    /// summary says it returns, and an argument that reaches a sink inside
    /// is a hit there, with the path through the call.
    fn through_summary(
        &mut self,
        _env: &mut Env,
        call: Node<'t>,
        callee: Function<'t>,
        offset: usize,
        arguments: &[Node<'t>],
        taints: &[Option<Taint>],
    ) -> Option<Taint> {
        let parameters = match callee.node.kind() {
            "lambda" => callee
                .node
                .child_by_field_name("parameters")
                .map(named_children)
                .unwrap_or_default()
                .into_iter()
                .filter(|p| p.kind() == "identifier")
                .map(|p| (self.text(p).to_owned(), p))
                .collect(),
            _ => self.parameters(callee.node),
        };
        let mut result = None;
        let mut positional = 0;
        for (argument, taint) in arguments.iter().zip(taints) {
            let index = if argument.kind() == "keyword_argument" {
                let name = argument
                    .child_by_field_name("name")
                    .map(|n| self.text(n))
                    .unwrap_or_default();
                parameters.iter().position(|(p, _)| p == name)
            } else if matches!(argument.kind(), "list_splat" | "dictionary_splat") {
                None
            } else {
                positional += 1;
                Some(positional - 1 + offset)
            };
            let Some(taint) = taint else {
                continue;
            };
            let Some(index) = index.filter(|&i| i < parameters.len()) else {
                // Passed where no parameter names it (`*args`): assume it returns.
                result = either(result, Some(taint.clone()));
                continue;
            };
            let Some(summary) = self.summary(callee, index, &parameters) else {
                result = either(result, Some(taint.clone()));
                continue;
            };
            let at_call = taint.through(self.step(call));
            if let Some(returned) = &summary.returns {
                result = either(result, Some(returned.after(&at_call)));
            }
            for inner in &summary.sinks {
                if !at_call.reaches(inner.rule) {
                    continue;
                }
                let combined = inner.taint.after(&at_call);
                let hit = Hit {
                    rule: inner.rule,
                    sink: inner.sink,
                    sink_rows: inner.sink_rows,
                    taint: combined,
                };
                self.record(hit);
            }
        }
        result
    }

    /// Records a hit found through a summary, in the current frame's
    /// terms: reported when it starts at a source, kept for the caller's
    /// summary when it starts at the caller's parameter.
    fn record(&mut self, hit: Hit) {
        let summarising = self.frames.last().is_some_and(|f| f.parameter.is_some());
        match (&hit.taint.origin, summarising) {
            (Origin::Parameter(_), true) => {
                if let Some(frame) = self.frames.last_mut() {
                    frame.sinks.push(hit);
                }
            }
            (Origin::Source { .. }, false) => {
                let key = (hit.rule, hit.sink.0, hit.sink.1);
                if self.reported.insert(key) {
                    self.hits.push(hit);
                }
            }
            _ => {}
        }
    }

    /// The summary of `callee` for parameter `index`: computed once, with
    /// only that parameter tainted.
    fn summary(
        &mut self,
        callee: Function<'t>,
        index: usize,
        parameters: &[(String, Node<'t>)],
    ) -> Option<Rc<Summary>> {
        let key = (callee.node.id(), index);
        if let Some(summary) = self.summaries.get(&key) {
            return Some(summary.clone());
        }
        if self.summarising.contains(&key) {
            return None; // recursion: the unknown-function assumption
        }
        if self.summarising.len() >= MAX_SUMMARY_DEPTH {
            self.stop(Limit::Summaries);
            return None;
        }
        let (name, parameter) = parameters.get(index)?;
        self.summarising.push(key);
        let saved_memo = std::mem::take(&mut self.memo);
        let mut env = Env::default();
        env.set(
            name,
            Value {
                taint: Some(Taint::new(Origin::Parameter(index), self.step(*parameter))),
                constant: None,
            },
        );
        self.frames.push(Frame {
            parameter: Some(index),
            ..Frame::default()
        });
        match callee.node.kind() {
            "lambda" => {
                if let Some(body) = callee.node.child_by_field_name("body") {
                    let returned = self.expr(&mut env, body, 0);
                    if let Some(frame) = self.frames.last_mut() {
                        frame.returned = returned;
                    }
                }
            }
            _ => {
                if let Some(body) = callee.node.child_by_field_name("body") {
                    self.block(&mut env, body, 0);
                }
            }
        }
        let frame = self.frames.pop().unwrap_or_default();
        self.memo = saved_memo;
        self.summarising.pop();
        let summary = Rc::new(Summary {
            returns: frame
                .returned
                .filter(|t| t.origin == Origin::Parameter(index)),
            sinks: frame.sinks,
        });
        self.summaries.insert(key, summary.clone());
        Some(summary)
    }
}

/// The class a node is inside, if any (up to the nearest function's class).
fn enclosing_class(node: Node) -> Option<Node> {
    let mut current = node.parent();
    while let Some(n) = current {
        if n.kind() == "class_definition" {
            return Some(n);
        }
        current = n.parent();
    }
    None
}

/// Parameter types a framework converts and validates before the handler
/// runs (FastAPI, Flask's `<int:id>` has no annotation and stays input).
const VALIDATED_TYPES: [&str; 8] = [
    "int",
    "float",
    "bool",
    "UUID",
    "uuid.UUID",
    "datetime",
    "date",
    "Decimal",
];

/// Whether a handler's parameter is converted by the framework (`id: int`)
/// or injected by it (`db = Depends(get_db)`): not attacker text.
fn validated(source: &str, parameter: Node) -> bool {
    let text = |n: Node| source.get(n.byte_range()).unwrap_or_default().trim();
    let typed = parameter
        .child_by_field_name("type")
        .is_some_and(|t| VALIDATED_TYPES.contains(&text(t)));
    let injected = parameter
        .child_by_field_name("value")
        .is_some_and(|v| text(v).starts_with("Depends(") || text(v).starts_with("Security("));
    typed || injected
}

/// How a constant key is written in a name (`d["k"]`, `a[0]`).
fn key_text(key: &Const) -> String {
    match key {
        Const::Int(n) => n.to_string(),
        Const::Str(s) => format!("{s:?}"),
        Const::Bool(b) => b.to_string(),
        Const::None => "None".into(),
    }
}
