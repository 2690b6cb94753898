//! Where the comparison's findings go: finished (new findings off the added
//! lines dropped, suppression markers applied) as they are produced.

use super::model::{Model, Node, Span, Subject};
use super::policy::{IacKind, Policies, Policy};
use super::suppress;
use crate::engine::{ChangeKind, ComparedFinding};
use std::collections::HashMap;

/// Finishes findings as the comparison produces them: new ones off the
/// added lines are dropped (the engine would drop them), the others get
/// their suppression (not fixed ones, and not when the file was removed),
/// so every finding out of the comparison is complete when the deadline
/// stops it.
pub(super) struct Sink<'a> {
    pub(super) lines: &'a crate::diff::LineSets,
    pub(super) suppressor: Option<Suppressor<'a>>,
    pub(super) found: Vec<ComparedFinding>,
}

impl Sink<'_> {
    pub(super) fn push(&mut self, mut item: ComparedFinding) {
        let finding = &item.raw.finding;
        if item.change == ChangeKind::New
            && !self
                .lines
                .intersects_added(finding.start.line, finding.end.line)
        {
            return;
        }
        if item.change != ChangeKind::Fixed
            && let Some(suppressor) = &self.suppressor
        {
            suppressor.apply(&mut item);
        }
        self.found.push(item);
    }
}

/// What suppression needs of the head version, indexed once: a generated
/// file can hold thousands of findings.
pub(super) struct Suppressor<'a> {
    markers: suppress::IacMarkers,
    trees: Vec<&'a Node>,
    policies: HashMap<&'a str, &'a Policy>,
    subjects: HashMap<&'a str, &'a Subject>,
}

impl<'a> Suppressor<'a> {
    pub(super) fn new(
        policies: &'a Policies,
        kind: IacKind,
        head_text: &str,
        head_model: &'a Model,
    ) -> Self {
        let syntax = match kind {
            IacKind::Terraform => suppress::Syntax::Hcl,
            IacKind::Kubernetes | IacKind::GithubActions => suppress::Syntax::Yaml,
            IacKind::Dockerfile => suppress::Syntax::Dockerfile,
        };
        Self {
            markers: suppress::IacMarkers::scan(head_text, syntax),
            trees: head_model.subjects.iter().map(|s| &s.node).collect(),
            policies: policies.of(kind).map(|p| (p.id.as_str(), p)).collect(),
            subjects: head_model
                .subjects
                .iter()
                .map(|s| (s.key.as_str(), s))
                .collect(),
        }
    }

    /// Sets the suppression of one head finding.
    fn apply(&self, item: &mut ComparedFinding) {
        let Some(policy) = self
            .policies
            .get(item.raw.finding.rule_id.as_str())
            .copied()
        else {
            return;
        };
        let key = item.raw.identity.split('|').next().unwrap_or("");
        let Some(subject) = self.subjects.get(key).copied() else {
            return;
        };
        let finding = &item.raw.finding;
        let span = Span::new(
            finding.start.line,
            finding.start.column,
            finding.end.line,
            finding.end.column,
        );
        item.raw.finding.suppression = self
            .markers
            .suppression_for(policy, span, &subject.node, &self.trees)
            .or_else(|| {
                suppress::annotation_suppression(
                    policy,
                    &subject.skips,
                    subject.node.span.start.line,
                )
            });
    }
}
