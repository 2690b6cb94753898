//! The flow model: what a tainted value carries and what a scope knows.
//!
//! A taint is one origin (a source, or a function's parameter while its
//! summary is computed) and the path from there, as a list of steps with
//! their places in the file. Paths are shared (`Rc`) and capped at
//! [`MAX_PATH`] steps: a value passed through ten thousand assignments
//! keeps its first and last steps. Values that meet (`a + b`, a branch
//! join) keep one of their taints: the analysis reports a sink once, with
//! one path, which is what a reviewer reads.
//!
//! Sanitizers are per rule (`shlex.quote` makes a shell argument safe, not
//! a SQL string), so a taint carries the set of rules it was cleared for as
//! a bit set; the one pass over a function serves every rule at once.

use crate::engine::{Confidence, Position};
use std::collections::HashMap;
use std::rc::Rc;
use std::sync::Arc;

/// Steps kept on a path at most; longer paths keep their start and end.
pub const MAX_PATH: usize = 24;

/// One place a tainted value went through.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    /// Byte range in the analysed (canonical) text (of the other file, for
    /// a foreign step).
    pub range: (usize, usize),
    /// 0-based row (in the other file, for a foreign step).
    pub row: usize,
    /// Set when the step is in another file of the change (a function
    /// imported from it): where, already located, since that file's text
    /// is not at hand when the finding is written.
    pub foreign: Option<Arc<ForeignStep>>,
}

/// A step in another changed file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForeignStep {
    /// The other file's path.
    pub path: Arc<str>,
    /// Where the step starts in that file as written.
    pub start: Position,
    /// Where it ends.
    pub end: Position,
    /// Its code, as [`report`](super::report) shows a step.
    pub code: String,
}

/// Where a taint comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// A source: its label and how sure it is.
    Source {
        /// "HTTP request data", "command-line argument", …
        label: Rc<str>,
        /// The source's confidence.
        confidence: Confidence,
    },
    /// Parameter `n` of the function being summarised.
    Parameter(usize),
}

/// A tainted value.
#[derive(Debug, Clone)]
pub struct Taint {
    /// Where it comes from.
    pub origin: Origin,
    /// Source first.
    pub path: Rc<Vec<Step>>,
    /// Rules (by index) it was sanitised for.
    pub cleared: u64,
    /// The path was cut at [`MAX_PATH`].
    pub truncated: bool,
}

impl Taint {
    /// A taint starting at `step`.
    pub fn new(origin: Origin, step: Step) -> Self {
        Self {
            origin,
            path: Rc::new(vec![step]),
            cleared: 0,
            truncated: false,
        }
    }

    /// The same taint, having gone through `step` (not repeated when the
    /// path already ends there).
    pub fn through(&self, step: Step) -> Self {
        let mut next = self.clone();
        if self.path.last().is_some_and(|last| *last == step) {
            return next;
        }
        let path = Rc::make_mut(&mut next.path);
        if path.len() >= MAX_PATH {
            // Keep the source and the newest steps.
            path.remove(1);
            next.truncated = true;
        }
        path.push(step);
        next
    }

    /// The same taint with the path of `before` in front (a call site's
    /// argument before the callee's path from its parameter).
    ///
    /// Past [`MAX_PATH`] steps the middle goes, as in [`Taint::through`]:
    /// the source and the newest steps, down to the sink, stay.
    pub fn after(&self, before: &Taint) -> Self {
        let mut path: Vec<Step> = before.path.as_ref().clone();
        for step in self.path.iter() {
            if path.last() != Some(step) {
                path.push(step.clone());
            }
        }
        let cut = path.len() > MAX_PATH;
        if cut {
            // Both parts are at most MAX_PATH long: this drains fewer.
            path.drain(1..path.len() - (MAX_PATH - 1));
        }
        Self {
            origin: before.origin.clone(),
            path: Rc::new(path),
            cleared: self.cleared | before.cleared,
            truncated: self.truncated || before.truncated || cut,
        }
    }

    /// Whether it still taints rule `rule`.
    pub fn reaches(&self, rule: usize) -> bool {
        rule >= 64 || self.cleared & (1 << rule) == 0
    }
}

/// The taint of a value that may be either of two: tainted for a rule
/// when either is (the path kept is the first's).
pub fn either(a: Option<Taint>, b: Option<Taint>) -> Option<Taint> {
    match (a, b) {
        (Some(mut a), Some(b)) => {
            a.cleared &= b.cleared;
            Some(a)
        }
        (a, None) => a,
        (None, b) => b,
    }
}

/// A value known at analysis time.
#[derive(Debug, Clone, PartialEq)]
pub enum Const {
    /// An integer.
    Int(i64),
    /// A string.
    Str(Rc<str>),
    /// A boolean.
    Bool(bool),
    /// `None`.
    None,
}

impl Const {
    /// Python's truth value.
    pub fn truthy(&self) -> bool {
        match self {
            Const::Int(n) => *n != 0,
            Const::Str(s) => !s.is_empty(),
            Const::Bool(b) => *b,
            Const::None => false,
        }
    }
}

/// What a scope knows of one name (a variable, `self.x`, `d["key"]`).
#[derive(Debug, Clone, Default)]
pub struct Value {
    /// Tainted, and how.
    pub taint: Option<Taint>,
    /// Its value, when built from literals only.
    pub constant: Option<Const>,
}

/// Names ─▶ values in one function.
#[derive(Debug, Clone, Default)]
pub struct Env {
    values: HashMap<Rc<str>, Value>,
    /// Names that have names under them (`a` for `a.b`, `a["k"]`), so
    /// that forgetting a plain name does not scan every name.
    parents: std::collections::HashSet<Rc<str>>,
}

impl Env {
    /// What is known of `name`.
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.values.get(name)
    }

    /// `name` now holds `value` (a strong update).
    pub fn set(&mut self, name: &str, value: Value) {
        self.note_parents(name);
        self.values.insert(Rc::from(name), value);
    }

    fn note_parents(&mut self, name: &str) {
        for (at, c) in name.char_indices() {
            if (c == '.' || c == '[') && at > 0 && !self.parents.contains(&name[..at]) {
                self.parents.insert(Rc::from(&name[..at]));
            }
        }
    }

    /// Number of names known.
    pub fn len(&self) -> usize {
        self.values.len()
    }

    /// True when no name is known.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// `name` may now also hold `taint` (a container that received an
    /// element). Its constant is no longer known.
    pub fn add(&mut self, name: &str, taint: Option<Taint>) {
        self.note_parents(name);
        let entry = self.values.entry(Rc::from(name)).or_default();
        entry.constant = None;
        entry.taint = either(entry.taint.take(), taint);
    }

    /// The join of two branches: tainted when either is, constant when
    /// both agree.
    pub fn join(&mut self, other: Env) {
        self.parents.extend(other.parents);
        for (name, ours) in self.values.iter_mut() {
            if !other.values.contains_key(name) {
                ours.constant = None;
            }
        }
        for (name, theirs) in other.values {
            match self.values.get_mut(&name) {
                Some(ours) => {
                    ours.taint = either(ours.taint.take(), theirs.taint);
                    if ours.constant != theirs.constant {
                        ours.constant = None;
                    }
                }
                None => {
                    // Unset on our side: not a known constant.
                    self.values.insert(
                        name,
                        Value {
                            taint: theirs.taint,
                            constant: None,
                        },
                    );
                }
            }
        }
    }

    /// Number of names (for the fixpoint test of loops).
    pub fn tainted_count(&self) -> usize {
        self.values.values().filter(|v| v.taint.is_some()).count()
    }

    /// Forgets `name` and everything under it (`name.x`, `name["k"]`).
    pub fn forget_under(&mut self, name: &str) {
        if !self.parents.contains(name) {
            self.values.remove(name);
            return;
        }
        self.values.retain(|key, _| {
            !(key.as_ref() == name
                || key
                    .strip_prefix(name)
                    .is_some_and(|rest| rest.starts_with('.') || rest.starts_with('[')))
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(at: usize) -> Step {
        Step {
            range: (at, at + 1),
            row: at,
            foreign: None,
        }
    }

    fn source() -> Taint {
        Taint::new(
            Origin::Source {
                label: Rc::from("input"),
                confidence: Confidence::High,
            },
            step(0),
        )
    }

    #[test]
    fn long_paths_keep_their_source_and_newest_steps() {
        let mut taint = source();
        for at in 1..1000 {
            taint = taint.through(step(at));
        }
        assert_eq!(taint.path.len(), MAX_PATH);
        assert_eq!(taint.path[0], step(0));
        assert_eq!(taint.path.last(), Some(&step(999)));
        assert!(taint.truncated);
    }

    #[test]
    fn a_long_callee_path_after_a_long_caller_path_keeps_the_sink() {
        let mut caller = source();
        for at in 1..30 {
            caller = caller.through(step(at));
        }
        let mut callee = Taint::new(
            Origin::Source {
                label: Rc::from("parameter"),
                confidence: Confidence::High,
            },
            step(100),
        );
        for at in 101..130 {
            callee = callee.through(step(at));
        }
        let joined = callee.after(&caller);
        assert_eq!(joined.path.len(), MAX_PATH);
        assert_eq!(joined.path[0], step(0), "the source stays");
        assert_eq!(joined.path.last(), Some(&step(129)), "the sink stays");
        assert!(joined.truncated);
        // Short paths are joined whole.
        let short = Taint::new(
            Origin::Source {
                label: Rc::from("parameter"),
                confidence: Confidence::High,
            },
            step(7),
        )
        .after(&source());
        assert_eq!(*short.path, vec![step(0), step(7)]);
        assert!(!short.truncated);
    }

    #[test]
    fn a_join_is_cleared_for_a_rule_only_when_both_sides_are() {
        let mut one = source();
        one.cleared = 0b01;
        let mut two = source();
        two.cleared = 0b11;
        let joined = either(Some(one.clone()), Some(two)).expect("tainted");
        assert_eq!(joined.cleared, 0b01);
        let plain = either(Some(one), Some(source())).expect("tainted");
        assert!(plain.reaches(0));
    }

    #[test]
    fn joining_branches_keeps_taint_from_either_and_constants_they_agree_on() {
        let mut then = Env::default();
        then.set(
            "a",
            Value {
                taint: Some(source()),
                constant: None,
            },
        );
        then.set(
            "k",
            Value {
                taint: None,
                constant: Some(Const::Int(1)),
            },
        );
        let mut other = Env::default();
        other.set(
            "k",
            Value {
                taint: None,
                constant: Some(Const::Int(2)),
            },
        );
        other.join(then);
        assert!(other.get("a").and_then(|v| v.taint.as_ref()).is_some());
        assert_eq!(other.get("k").and_then(|v| v.constant.clone()), None);
    }
}
