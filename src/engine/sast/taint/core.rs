//! The language-neutral half of the analysis: the work budget and limits,
//! matching the rules' sources, sinks and sanitizers at a node, recording
//! hits, and function summaries (computing them once per parameter and
//! applying them at a call).
//!
//! A front-end (one per language) owns a [`Core`] and walks its language's
//! statements and expressions; it implements [`FrontEnd`] so that the core
//! can ask it for the taint of a sink's arguments.

use super::cross::ParameterSummary;
use super::flow::{Const, Env, Origin, Step, Taint, Value, either};
use super::{Hit, LanguageTaint, Limit, Outcome};
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

/// What one parameter of a function does.
#[derive(Default)]
pub struct Summary {
    /// The return value carries the parameter (path from it).
    pub returns: Option<Taint>,
    /// Sinks it reaches: rule, sink range and row, path from the parameter.
    pub sinks: Vec<Hit>,
}

/// What the function being analysed collects.
#[derive(Default)]
pub struct Frame {
    /// Being summarised for this parameter.
    pub parameter: Option<usize>,
    pub returned: Option<Taint>,
    pub sinks: Vec<Hit>,
}

/// The state of one file's analysis that every front-end shares.
pub struct Core<'a, 't> {
    pub rules: &'a LanguageTaint,
    /// Rules that run (bit set by rule index).
    pub active: u64,
    pub root: &'t AstGrep<StrDoc<SupportLang>>,
    pub source: &'t str,
    deadline: &'a Deadline,
    summaries: HashMap<(usize, usize), Rc<Summary>>,
    summarising: Vec<(usize, usize)>,
    pub frames: Vec<Frame>,
    /// Taint of expressions already evaluated in the current statement.
    pub memo: HashMap<usize, Option<Taint>>,
    reported: HashSet<(usize, usize, usize)>,
    /// Findings, in the order found.
    pub hits: Vec<Hit>,
    /// The first limit reached, if any.
    pub limit: Option<Limit>,
    /// Sinks (rule, byte range) that only constants reach.
    pub constant_sinks: Vec<(usize, (usize, usize))>,
    work: usize,
    budget: usize,
}

/// The named children of a node.
pub fn named_children<'t>(node: Node<'t>) -> Vec<Node<'t>> {
    let mut cursor = node.walk();
    node.named_children(&mut cursor).collect()
}

impl<'a, 't> Core<'a, 't> {
    /// The shared state of an analysis of `root` for the rules in `active`.
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

    /// What the analysis found.
    pub fn into_outcome(self) -> Outcome {
        Outcome {
            hits: self.hits,
            constant_sinks: self.constant_sinks,
            limit: self.limit,
        }
    }

    /// Records the first limit reached.
    pub fn stop(&mut self, limit: Limit) {
        if self.limit.is_none() {
            self.limit = Some(limit);
        }
    }

    /// The analysis must unwind: the budget or the deadline is spent (a
    /// depth or summary limit only cuts that part, the rest goes on).
    pub fn halted(&self) -> bool {
        matches!(self.limit, Some(Limit::Work | Limit::Deadline))
    }

    /// Counts one unit of work; false once the budget or the deadline is
    /// spent (the analysis then unwinds, keeping what it found).
    pub fn tick(&mut self) -> bool {
        if self.halted() {
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

    /// Copying an environment (for a branch or a loop) is work too.
    pub fn copy(&mut self, env: &Env) -> Env {
        self.work = self.work.saturating_add(env.len() / 16);
        env.clone()
    }

    /// True (and the limit recorded) past [`MAX_DEPTH`].
    pub fn too_deep(&mut self, depth: usize) -> bool {
        if depth > MAX_DEPTH {
            self.stop(Limit::Depth);
            return true;
        }
        false
    }

    /// The text of a node.
    pub fn text(&self, node: Node) -> &'t str {
        self.source.get(node.byte_range()).unwrap_or_default()
    }

    /// A node as a step of a path.
    pub fn step(&self, node: Node) -> Step {
        Step {
            range: (node.start_byte(), node.end_byte()),
            row: node.start_position().row,
            foreign: None,
        }
    }

    /// Whether the current function is being summarised for a parameter.
    pub fn summarising(&self) -> bool {
        self.frames.last().is_some_and(|f| f.parameter.is_some())
    }

    /// The current function returns a value with this taint.
    pub fn returns(&mut self, taint: Option<Taint>) {
        if let Some(frame) = self.frames.last_mut() {
            frame.returned = either(frame.returned.take(), taint);
        }
    }

    /// A source matching at `node`, as a fresh taint.
    pub fn source_at(&self, node: Node<'t>) -> Option<Taint> {
        if !self.rules.sources_by_kind.has_kind(node.kind_id()) {
            return None;
        }
        let adopted = self.root.adopt(node);
        for (rule, index) in self.rules.sources_by_kind.candidates(&adopted) {
            if rule.is_some_and(|rule| self.active & (1 << rule) == 0) {
                continue;
            }
            let source = self.rules.source((rule, index));
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

    /// The rules a sanitizer matching at `node` clears (the library's clear
    /// every rule, a rule's its own); 0 when none matches.
    pub fn sanitized(&self, node: Node<'t>) -> u64 {
        let mut cleared = 0u64;
        if !self.rules.sanitizers_by_kind.has_kind(node.kind_id()) {
            return 0;
        }
        let adopted = self.root.adopt(node);
        for (rule, index) in self.rules.sanitizers_by_kind.candidates(&adopted) {
            let sanitizer = self.rules.sanitizer((rule, index));
            if sanitizer.matcher.match_node(adopted.clone()).is_some() {
                match rule {
                    None => cleared = u64::MAX,
                    Some(rule) => cleared |= 1 << rule,
                }
            }
        }
        cleared
    }

    /// A taint reaching the sink of `rule` at `sink`.
    pub fn hit(&mut self, rule: usize, sink: Node<'t>, taint: Taint) {
        let path = taint.through(self.step(sink));
        self.record(Hit {
            rule,
            sink: (sink.start_byte(), sink.end_byte()),
            sink_rows: (sink.start_position().row, sink.end_position().row),
            taint: path,
        });
    }

    /// Records a hit in the current frame's terms: reported when it starts
    /// at a source (and no summary is being computed: the function's own
    /// analysis reports it), kept for the summary when it starts at the
    /// summarised parameter.
    pub fn record(&mut self, hit: Hit) {
        match (&hit.taint.origin, self.summarising()) {
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

    /// What a call passing `at_call` (the argument's taint, through the
    /// call) to a parameter with `summary` returns; the sinks the parameter
    /// reaches inside are hits, with the path through the call.
    pub fn apply(&mut self, summary: &Summary, at_call: &Taint) -> Option<Taint> {
        for inner in &summary.sinks {
            if !at_call.reaches(inner.rule) {
                continue;
            }
            self.record(Hit {
                rule: inner.rule,
                sink: inner.sink,
                sink_rows: inner.sink_rows,
                taint: inner.taint.after(at_call),
            });
        }
        summary.returns.as_ref().map(|r| r.after(at_call))
    }
}

impl<'t> Core<'_, 't> {
    /// [`Core::apply`] for a function of another changed file: its sinks
    /// are hits at the `call`, the path running on into that file.
    pub fn apply_foreign(
        &mut self,
        call: Node<'t>,
        summary: &ParameterSummary,
        index: usize,
        at_call: &Taint,
    ) -> Option<Taint> {
        for (rule, path) in &summary.sinks {
            if !at_call.reaches(*rule) || self.active & (1 << rule) == 0 {
                continue;
            }
            self.record(Hit {
                rule: *rule,
                sink: (call.start_byte(), call.end_byte()),
                sink_rows: (call.start_position().row, call.end_position().row),
                taint: path.taint(index).after(at_call),
            });
        }
        summary
            .returns
            .as_ref()
            .map(|r| r.taint(index).after(at_call))
    }
}

/// A language's walk over statements and expressions, on top of a [`Core`].
pub trait FrontEnd<'a, 't> {
    /// The shared state.
    fn core(&mut self) -> &mut Core<'a, 't>;
    /// The taint of an expression (and its effects).
    fn expr(&mut self, env: &mut Env, node: Node<'t>, depth: usize) -> Option<Taint>;
    /// The value of an expression when known from literals.
    fn constant(&self, env: &Env, node: Node<'t>) -> Option<Const>;
}

/// Checks the sinks that can match `node`; a tainted focus is a hit, a
/// focus only constants reach is noted (pattern findings there are wrong).
pub fn sinks_at<'a, 't, F: FrontEnd<'a, 't>>(
    front: &mut F,
    env: &mut Env,
    node: Node<'t>,
    depth: usize,
) {
    let core = front.core();
    let rules = core.rules;
    let root = core.root;
    let active = core.active;
    if !rules.sinks_by_kind.has_kind(node.kind_id()) {
        return;
    }
    let adopted = root.adopt(node);
    for (rule, index) in rules.sinks_by_kind.candidates(&adopted) {
        if active & (1 << rule) == 0 {
            continue;
        }
        let sink = &rules.rules[rule].sinks[index];
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
            taint = either(taint, front.expr(env, part, depth));
            constant = constant && front.constant(env, part).is_some();
        }
        let core = front.core();
        match taint.filter(|t| t.reaches(rule)) {
            Some(taint) => core.hit(rule, node, taint),
            // Only literals reach this sink (through names, branches
            // with constant conditions, checks against a literal).
            None if constant && !core.summarising() => {
                core.constant_sinks
                    .push((rule, (node.start_byte(), node.end_byte())));
            }
            None => {}
        }
    }
}

/// The summary of a function (`id`) for parameter `index` named `name` at
/// `parameter`: computed once, with only that parameter tainted, by
/// `analyse` (the front-end's walk of the body). `None` inside a recursion
/// or past [`MAX_SUMMARY_DEPTH`]: the caller then assumes an unknown
/// function.
pub fn summary<'a, 't, F: FrontEnd<'a, 't>>(
    front: &mut F,
    id: usize,
    index: usize,
    name: &str,
    parameter: Node<'t>,
    analyse: impl FnOnce(&mut F, &mut Env),
) -> Option<Rc<Summary>> {
    let key = (id, index);
    let core = front.core();
    if let Some(summary) = core.summaries.get(&key) {
        return Some(summary.clone());
    }
    if core.summarising.contains(&key) {
        return None; // recursion: the unknown-function assumption
    }
    if core.summarising.len() >= MAX_SUMMARY_DEPTH {
        core.stop(Limit::Summaries);
        return None;
    }
    core.summarising.push(key);
    let saved_memo = std::mem::take(&mut core.memo);
    let mut env = Env::default();
    env.set(
        name,
        Value {
            taint: Some(Taint::new(Origin::Parameter(index), core.step(parameter))),
            constant: None,
        },
    );
    core.frames.push(Frame {
        parameter: Some(index),
        ..Frame::default()
    });
    analyse(front, &mut env);
    let core = front.core();
    let frame = core.frames.pop().unwrap_or_default();
    core.memo = saved_memo;
    core.summarising.pop();
    let summary = Rc::new(Summary {
        returns: frame
            .returned
            .filter(|t| t.origin == Origin::Parameter(index)),
        sinks: frame.sinks,
    });
    core.summaries.insert(key, summary.clone());
    Some(summary)
}
