//! The base/head comparison of one file: every policy's hits on both
//! versions, matched, and each leftover classified as new, regression or
//! fixed (see the module documentation of `iac`).

use super::hits::{Hit, evaluate};
use super::model::{Model, Span, Subject, Translated, Translator, deepest, lookup};
use super::policy::{IacKind, Policy, Report};
use super::sink::Sink;
use super::snippet::Rows;
use super::{IacAnalyzer, model};
use crate::engine::{ChangeKind, ComparedFinding, Deadline};
use std::collections::{HashMap, HashSet};

/// Above this many findings on the two versions of one file, the file is
/// not compared: its head findings are reported as new. Matching is linear,
/// but a worker must not spend seconds on one generated file.
pub const MAX_COMPARED_HITS: usize = 20_000;

/// Why a comparison did not cover the whole file.
pub(super) enum Incomplete {
    /// Too many findings to compare; the reason.
    TooManyHits(String),
    /// The deadline passed; `partial` when findings were classified before.
    OutOfTime { partial: bool },
}

/// What changed in the evidence of a regression.
enum Change {
    Changed {
        path: String,
        from: String,
        to: String,
    },
    Removed {
        path: String,
        was: String,
    },
    Set {
        path: String,
        to: String,
    },
    /// A list item the change added that makes the finding apply.
    Added {
        path: String,
        value: String,
    },
    Deleted,
    Other,
}

impl Change {
    fn describe(&self, label: &str, sensitive: bool) -> String {
        match self {
            Change::Changed { path, .. } if sensitive => format!("`{path}` changed"),
            Change::Removed { path, .. } if sensitive => format!("`{path}` removed"),
            Change::Set { path, .. } if sensitive => format!("`{path}` set"),
            Change::Added { path, .. } if sensitive => format!("`{path}` added"),
            Change::Changed { path, from, to } => {
                format!("`{path}` changed from `{from}` to `{to}`")
            }
            Change::Removed { path, was } => format!("`{path}` removed (was `{was}`)"),
            Change::Set { path, to } => format!("`{path}` set to `{to}` (was unset)"),
            Change::Added { path, value } => {
                // `workflow_triggers[1]` ─▶ `workflow_triggers`: the list it joined.
                let list = match path.strip_suffix(']').and_then(|p| p.rsplit_once('[')) {
                    Some((list, _)) if !list.is_empty() => list,
                    _ => path,
                };
                format!("`{value}` added to `{list}` by this change")
            }
            Change::Deleted => format!("`{label}` deleted by this change"),
            Change::Other => "made worse by this change".into(),
        }
    }
}

pub(super) fn fill(template: &str, label: &str, path: &str, value: &str) -> String {
    template
        .replace("{label}", label)
        .replace("{path}", if path.is_empty() { label } else { path })
        .replace("{value}", value)
}

impl IacAnalyzer {
    /// Compares the two versions of one file and reports what the change
    /// did, into `out`. `Some` when the file was only partly compared.
    #[allow(clippy::too_many_arguments)] // each is one distinct input of the comparison
    pub(super) fn compare(
        &self,
        kind: IacKind,
        path: &str,
        base: Option<(&str, &Model)>,
        head: (&str, &Model),
        lines: &crate::diff::LineSets,
        deadline: &Deadline,
        out: &mut Sink,
    ) -> Option<Incomplete> {
        const NOTHING_KEPT: Option<Incomplete> = Some(Incomplete::OutOfTime { partial: false });
        const SOME_KEPT: Option<Incomplete> = Some(Incomplete::OutOfTime { partial: true });
        let policies: Vec<&Policy> = self.policies().of(kind).collect();
        let (head_text, head_model) = head;
        let Some(head_hits) = evaluate(&policies, head_model, false, deadline) else {
            return NOTHING_KEPT;
        };
        let (base_text, base_hits, base_model) = match base {
            Some((text, model)) => match evaluate(&policies, model, false, deadline) {
                Some(hits) => (text, hits, Some(model)),
                None => return NOTHING_KEPT,
            },
            None => ("", Vec::new(), None),
        };
        let head_rows = Rows::new(head_text);
        let base_rows = Rows::new(base_text);
        let base_subjects: HashMap<&str, &Subject> = base_model
            .map(|m| m.subjects.iter().map(|s| (s.key.as_str(), s)).collect())
            .unwrap_or_default();
        let head_keys: HashSet<&str> = head_model.subjects.iter().map(|s| s.key.as_str()).collect();

        // Too many findings to compare within the worker's time: report the
        // head's as new (the engine keeps those on added lines) and say so.
        let total = head_hits.len().saturating_add(base_hits.len());
        if base_model.is_some() && total > MAX_COMPARED_HITS {
            for hit in &head_hits {
                if deadline.expired() {
                    return SOME_KEPT;
                }
                let policy = policies[hit.policy];
                if policy.report == Report::Any {
                    out.push(self.new_finding(policy, hit, hit.span(), &head_rows, path));
                }
            }
            return Some(Incomplete::TooManyHits(format!(
                "{total} findings on the two versions, over the {MAX_COMPARED_HITS} compared per file: findings on added lines are reported as new, without comparison"
            )));
        }

        // Each head hit's primary path in base terms (lists aligned once per
        // list), and each hit's value, computed once.
        let mut translators: HashMap<&str, Translator> = HashMap::new();
        let mut head_base_paths: Vec<Translated> = Vec::with_capacity(head_hits.len());
        for h in &head_hits {
            // Aligning a long list is the costliest step of one hit.
            if deadline.expired() {
                return NOTHING_KEPT;
            }
            let key = h.subject.key.as_str();
            head_base_paths.push(match base_subjects.get(key) {
                Some(base_subject) => translators
                    .entry(key)
                    .or_insert_with(|| Translator::new(&h.subject.node, &base_subject.node))
                    .translate(h.primary().0),
                None => Translated::Path(h.primary().0.to_owned()),
            });
        }
        let head_values: Vec<String> = head_hits.iter().map(Hit::primary_value).collect();
        let base_values: Vec<String> = base_hits.iter().map(Hit::primary_value).collect();

        // Match head hits with base hits: same place and value, then the same
        // value moved inside the subject, then the same place with another
        // (still bad) value, then a subject renamed with its content. Each
        // pass indexes the base hits left, so matching is linear.
        let mut base_taken = vec![false; base_hits.len()];
        let mut head_taken = vec![false; head_hits.len()];
        for pass in 0..4 {
            if deadline.expired_now() {
                return NOTHING_KEPT;
            }
            type Key<'k> = (usize, &'k str, &'k str, &'k str);
            let base_key = |bi: usize| -> Key<'_> {
                let b = &base_hits[bi];
                match pass {
                    0 => (b.policy, &b.subject.key, b.primary().0, &base_values[bi]),
                    1 => (b.policy, &b.subject.key, "", &base_values[bi]),
                    2 => (b.policy, &b.subject.key, b.primary().0, ""),
                    _ => (b.policy, &b.subject.kind, b.primary().0, &base_values[bi]),
                }
            };
            let mut index: HashMap<Key, std::collections::VecDeque<usize>> = HashMap::new();
            for bi in 0..base_hits.len() {
                if base_taken[bi]
                    || (pass == 3 && head_keys.contains(base_hits[bi].subject.key.as_str()))
                {
                    continue;
                }
                index.entry(base_key(bi)).or_default().push_back(bi);
            }
            for (hi, h) in head_hits.iter().enumerate() {
                if head_taken[hi] {
                    continue;
                }
                let base_path = match &head_base_paths[hi] {
                    Translated::Path(p) => p.as_str(),
                    // An inserted item is nowhere in the base.
                    Translated::Inserted if pass != 1 => continue,
                    Translated::Inserted => "",
                };
                let key: Key = match pass {
                    0 => (h.policy, &h.subject.key, base_path, &head_values[hi]),
                    1 => (h.policy, &h.subject.key, "", &head_values[hi]),
                    2 => (h.policy, &h.subject.key, base_path, ""),
                    _ => {
                        if base_subjects.contains_key(h.subject.key.as_str()) {
                            continue;
                        }
                        (h.policy, &h.subject.kind, h.primary().0, &head_values[hi])
                    }
                };
                if let Some(bi) = index
                    .get_mut(&key)
                    .and_then(std::collections::VecDeque::pop_front)
                {
                    base_taken[bi] = true;
                    head_taken[hi] = true;
                }
            }
        }

        for (hi, (hit, _)) in head_hits
            .iter()
            .zip(&head_taken)
            .enumerate()
            .filter(|(_, (_, taken))| !**taken)
        {
            if deadline.expired() {
                return SOME_KEPT;
            }
            let policy = policies[hit.policy];
            let Some(base_subject) = base_subjects.get(hit.subject.key.as_str()) else {
                if policy.report == Report::Any {
                    out.push(self.new_finding(policy, hit, hit.span(), &head_rows, path));
                }
                continue;
            };
            let translator = translators
                .entry(hit.subject.key.as_str())
                .or_insert_with(|| Translator::new(&hit.subject.node, &base_subject.node));
            let (change, span, base_span) = match classify(hit, base_subject, translator) {
                (Some(change), span, base_span) => (change, span, base_span),
                (None, _, _) if policy.report == Report::Any => {
                    let span = hit.span();
                    if lines.intersects_added(span.start.line, span.end.line) {
                        out.push(self.new_finding(policy, hit, span, &head_rows, path));
                        continue;
                    }
                    // It newly applies to a subject the base had, but its
                    // own lines are unchanged: something else the change did
                    // made it apply (a `pull_request_target` trigger added
                    // above an existing checkout of the head; a job's
                    // `permissions` deleted). A regression, on the added
                    // evidence when there is one, else near the lines the
                    // change deleted in the subject.
                    let added = hit.evidence.iter().rev().find_map(|(p, node)| {
                        node.filter(|n| lines.intersects_added(n.span.start.line, n.span.end.line))
                            .map(|n| (p.as_str(), n))
                    });
                    match added {
                        Some((evidence, node)) => (
                            Change::Added {
                                path: evidence.to_owned(),
                                value: node.display(),
                            },
                            node.span,
                            None,
                        ),
                        None => (
                            Change::Added {
                                path: hit.primary().0.to_owned(),
                                value: head_values[hi].clone(),
                            },
                            span,
                            Some(base_subject.node.span),
                        ),
                    }
                }
                (None, _, _) => continue,
            };
            let message = format!(
                "{}: {}",
                self.message(policy, hit),
                change.describe(&hit.subject.label, policy.sensitive)
            );
            out.push(ComparedFinding {
                raw: self.raw(policy, hit, span, &head_rows, message, path),
                change: ChangeKind::Regression,
                base_lines: base_span.map(|s| (s.start.line, s.end.line)),
            });
        }

        for (hit, _) in base_hits
            .iter()
            .zip(&base_taken)
            .filter(|(_, taken)| !**taken)
        {
            if deadline.expired() {
                return SOME_KEPT;
            }
            let policy = policies[hit.policy];
            // A regression-only policy never reports the state it matches
            // (a setting left at its default), so its going away is no fix
            // to credit (a deleted trail has not "fixed" its log delivery).
            if policy.report == Report::Regression {
                continue;
            }
            let message = self.message(policy, hit);
            out.push(ComparedFinding {
                raw: self.raw(policy, hit, hit.span(), &base_rows, message, path),
                change: ChangeKind::Fixed,
                base_lines: None,
            });
        }

        // Protective subjects the change deleted.
        if let Some(base_model) = base_model {
            let (Some(removed_hits), Some(head_removed_hits)) = (
                evaluate(&policies, base_model, true, deadline),
                evaluate(&policies, head_model, true, deadline),
            ) else {
                return SOME_KEPT;
            };
            let mut reported = HashSet::new();
            for hit in removed_hits {
                if deadline.expired() {
                    return SOME_KEPT;
                }
                if head_keys.contains(hit.subject.key.as_str())
                    || !reported.insert((hit.policy, hit.subject.key.clone()))
                {
                    continue;
                }
                // Renamed rather than deleted: a new subject of the same kind satisfies the policy.
                let renamed = head_removed_hits.iter().any(|h| {
                    h.policy == hit.policy
                        && h.subject.kind == hit.subject.kind
                        && !base_subjects.contains_key(h.subject.key.as_str())
                });
                if renamed {
                    continue;
                }
                let policy = policies[hit.policy];
                let span = hit.subject.node.span;
                let message = format!(
                    "{}: {}",
                    self.message(policy, &hit),
                    Change::Deleted.describe(&hit.subject.label, false)
                );
                // Positioned on the base lines; the engine moves it onto the
                // nearest changed line of the head when the file still exists.
                let mut raw = self.raw(policy, &hit, span.first_line(), &base_rows, message, path);
                raw.identity = format!("{}|deleted", hit.subject.key);
                out.push(ComparedFinding {
                    raw,
                    change: ChangeKind::Regression,
                    base_lines: Some((span.start.line, span.end.line)),
                });
            }
        }
        None
    }
}

impl IacAnalyzer {
    /// A head finding on a subject or item the base did not have.
    fn new_finding(
        &self,
        policy: &Policy,
        hit: &Hit,
        span: Span,
        rows: &Rows,
        path: &str,
    ) -> ComparedFinding {
        let message = self.message(policy, hit);
        ComparedFinding {
            raw: self.raw(policy, hit, span, rows, message, path),
            change: ChangeKind::New,
            base_lines: None,
        }
    }
}

/// For a head hit on a subject the base had: what changed, where to point,
/// and the base lines of the old value. `None`: the hit is on a list item
/// the base did not have (a new item: a new finding, not a regression).
fn classify(
    hit: &Hit,
    base: &Subject,
    translator: &mut Translator,
) -> (Option<Change>, Span, Option<Span>) {
    if translator.translate(hit.primary().0) == Translated::Inserted {
        return (None, hit.span(), None);
    }
    for (path, head_node) in hit.evidence.iter().rev() {
        let base_path = match translator.translate(path) {
            Translated::Path(base_path) => base_path,
            // Evidence in an item the head inserted: new, not worse.
            Translated::Inserted => return (None, hit.span(), None),
        };
        let base_node = if path.is_empty() {
            Some(&base.node)
        } else {
            lookup(&base.node, &base_path)
        };
        match (head_node, base_node) {
            (Some(h), Some(b)) if h.display() == b.display() => continue,
            (Some(h), Some(b)) => {
                let change = Change::Changed {
                    path: path.clone(),
                    from: b.display(),
                    to: h.display(),
                };
                return (Some(change), h.span, Some(b.span));
            }
            (None, Some(b)) => {
                let span = deepest(&hit.subject.node, path).span.first_line();
                let change = Change::Removed {
                    path: path.clone(),
                    was: b.display(),
                };
                return (Some(change), span, Some(b.span));
            }
            (Some(h), None) => {
                if model::missing_part_has_item(&base.node, &base_path) {
                    // A new list item (a new volume, a new ingress block): new, not worse.
                    return (None, h.span, None);
                }
                let change = Change::Set {
                    path: path.clone(),
                    to: h.display(),
                };
                return (
                    Some(change),
                    h.span,
                    Some(deepest(&base.node, &base_path).span.first_line()),
                );
            }
            (None, None) => continue,
        }
    }
    (Some(Change::Other), hit.span(), None)
}
