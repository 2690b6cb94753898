//! Every policy's hits on one version of a file, with their evidence.

use super::model::{Model, Node, Span, Subject, deepest};
use super::policy::Policy;
use crate::engine::Deadline;
use std::collections::{HashMap, HashSet};

/// One policy matching one subject.
pub(super) struct Hit<'m> {
    pub(super) policy: usize,
    pub(super) subject: &'m Subject,
    /// Concrete paths and nodes of every test that held; the last is primary.
    pub(super) evidence: Vec<(String, Option<&'m Node>)>,
}

impl Hit<'_> {
    pub(super) fn primary(&self) -> (&str, Option<&Node>) {
        self.evidence
            .last()
            .map_or(("", Some(&self.subject.node)), |(p, n)| (p.as_str(), *n))
    }

    pub(super) fn primary_value(&self) -> String {
        self.primary()
            .1
            .map_or_else(|| "(unset)".into(), Node::display)
    }

    /// Where the finding points.
    pub(super) fn span(&self) -> Span {
        match self.primary() {
            (_, Some(node)) => node.span,
            (path, None) => deepest(&self.subject.node, path).span.first_line(),
        }
    }
}

/// Every hit of `policies` on `model`; `None` when `deadline` passed first.
pub(super) fn evaluate<'m>(
    policies: &[&Policy],
    model: &'m Model,
    removed_only: bool,
    deadline: &Deadline,
) -> Option<Vec<Hit<'m>>> {
    let mut hits = Vec::new();
    // The policies of each (target, type), found once: a file holds
    // thousands of subjects of a few types, and the set hundreds of policies.
    let mut by_kind: HashMap<(&str, &str), Vec<usize>> = HashMap::new();
    // A value that reaches several subjects (a split S3 resource folded into
    // its bucket, a pod's `runAsUser` every container inherits) is one
    // finding, on the first subject that shows it.
    let mut shown: HashSet<(usize, [u32; 4], String)> = HashSet::new();
    for subject in &model.subjects {
        if deadline.expired() {
            return None;
        }
        let applicable = by_kind
            .entry((subject.target, subject.kind.as_str()))
            .or_insert_with(|| {
                (0..policies.len())
                    .filter(|&i| {
                        policies[i].removed == removed_only && policies[i].applies_to(subject)
                    })
                    .collect()
            });
        for &index in applicable.iter() {
            let policy = policies[index];
            let mut seen = HashSet::new();
            for found in policy.when.eval(&subject.node, "") {
                let evidence: Vec<(String, Option<&Node>)> =
                    found.into_iter().map(|e| (e.path, e.node)).collect();
                let primary = evidence.last().map(|(p, _)| p.clone()).unwrap_or_default();
                if let Some((_, Some(node))) = evidence.last()
                    && !shown.insert((
                        index,
                        [
                            node.span.start.line,
                            node.span.start.column,
                            node.span.end.line,
                            node.span.end.column,
                        ],
                        node.display(),
                    ))
                {
                    continue;
                }
                if seen.insert(primary) {
                    hits.push(Hit {
                        policy: index,
                        subject,
                        evidence,
                    });
                }
            }
        }
    }
    Some(hits)
}
