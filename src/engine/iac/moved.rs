//! The change-set step: what one file's comparison cannot see. A resource
//! (or manifest) that disappears from one changed file and appears in
//! another is moved, not deleted and added: its protective role is not
//! lost, and its problems are the base's, not the change's.
//!
//! Each file's analysis leaves a [`FileSubjects`] in its outcome; once all
//! files are analysed, [`reconcile`] drops
//!
//! - a "deleted by this change" regression whose subject (same key, or a
//!   subject the same protective policy holds for: an equivalent resource)
//!   is new in another file of the same scope;
//! - a `new` finding on a subject moved into its file, together with the
//!   `fixed` finding the same policy has on the same subject and evidence
//!   in the file it moved from.
//!
//! The scope is the Terraform module (the directory: a resource in another
//! module is another resource) or, for Kubernetes, the whole change
//! (manifests are applied together). Dockerfile stages and workflow jobs
//! belong to their file. Everything here is linear in the findings and
//! subjects the files' analyses already produced.

use super::hits::evaluate;
use super::model::Model;
use super::policy::{IacKind, Policies, Policy};
use super::split_across::{Side, SplitSides};
use crate::engine::{ChangeKind, ChangedFile, Deadline, FileOutcome};
use std::collections::{HashMap, HashSet};

/// What the change-set step needs of one file's two versions.
#[derive(Debug, Clone, Default)]
pub struct FileSubjects {
    /// The module directory (Terraform), or empty (Kubernetes).
    scope: String,
    /// Each subject key of the base version and its type; `None` when the
    /// base was not read (nothing is known to have moved out of or into it).
    base: Option<HashMap<String, String>>,
    /// Subject keys of the head version.
    head: HashSet<String>,
    /// (protective policy, subject type) of each head subject the base
    /// did not have that such a policy holds for.
    new_protection: HashSet<(String, String)>,
    /// Its S3 buckets and split S3 resources (Terraform), for folding
    /// across the module's files.
    pub(super) split: SplitSides,
}

impl FileSubjects {
    /// What `path`'s versions hold, for the formats whose subjects can move
    /// between files; `None` for the others, or when the deadline passed.
    pub(super) fn new(
        policies: &Policies,
        kind: IacKind,
        path: &str,
        base: Option<&Model>,
        head: &Model,
        deadline: &Deadline,
    ) -> Option<Self> {
        let scope = match kind {
            IacKind::Terraform => path.rsplit_once('/').map_or("", |(dir, _)| dir).to_owned(),
            IacKind::Kubernetes => String::new(),
            IacKind::Dockerfile | IacKind::GithubActions => return None,
        };
        let base_model = base;
        let base: Option<HashMap<String, String>> = base.map(|m| {
            m.subjects
                .iter()
                .map(|s| (s.key.clone(), s.kind.clone()))
                .collect()
        });
        let protective: Vec<&Policy> = policies.of(kind).filter(|p| p.removed).collect();
        let mut new_protection = HashSet::new();
        if let Some(base) = &base
            && !protective.is_empty()
        {
            for hit in evaluate(&protective, head, true, deadline)? {
                if !base.contains_key(&hit.subject.key) {
                    new_protection
                        .insert((protective[hit.policy].id.clone(), hit.subject.kind.clone()));
                }
            }
        }
        let split = match kind {
            IacKind::Terraform => SplitSides {
                base: base_model.map(Side::of).unwrap_or_default(),
                head: Side::of(head),
            },
            _ => SplitSides::default(),
        };
        Some(Self {
            scope,
            base,
            head: head.subjects.iter().map(|s| s.key.clone()).collect(),
            new_protection,
            split,
        })
    }

    /// The module directory (Terraform), or empty (Kubernetes).
    pub(super) fn scope(&self) -> &str {
        &self.scope
    }

    /// Whether the subject `key` is in the base and not in the head.
    fn moved_out(&self, key: &str) -> bool {
        self.base.as_ref().is_some_and(|b| b.contains_key(key)) && !self.head.contains(key)
    }

    /// Whether the subject `key` is in the head and the base did not have it.
    fn moved_in(&self, key: &str) -> bool {
        self.base.as_ref().is_some_and(|b| !b.contains_key(key)) && self.head.contains(key)
    }
}

/// A compared finding: (index of its file, index among the file's findings).
type At = (usize, usize);

/// The subject key of a finding's identity (`key|path`, or `key|deleted`).
fn subject_key(identity: &str) -> &str {
    identity.split_once('|').map_or(identity, |(key, _)| key)
}

/// Drops what a move between the files of one change made look deleted,
/// new or fixed (see the module documentation).
pub fn reconcile(files: &mut [(&ChangedFile, &mut FileOutcome)]) {
    // Only files with subjects take part; an outcome's index in `files`.
    let seen: Vec<(usize, &FileSubjects)> = files
        .iter()
        .enumerate()
        .filter_map(|(i, (_, out))| out.iac_subjects.as_ref().map(|s| (i, s)))
        .collect();
    if seen.len() < 2 {
        return;
    }
    // (scope, policy, subject type) ─▶ files whose head newly holds it.
    let mut protection: HashMap<(&str, &str, &str), Vec<usize>> = HashMap::new();
    for (i, subjects) in &seen {
        for (policy, kind) in &subjects.new_protection {
            protection
                .entry((subjects.scope.as_str(), policy.as_str(), kind.as_str()))
                .or_default()
                .push(*i);
        }
    }
    // (scope, subject key) ─▶ the file it moved into.
    let mut moved_into: HashMap<(&str, &str), usize> = HashMap::new();
    for (i, subjects) in &seen {
        for key in &subjects.head {
            if subjects.moved_in(key) {
                moved_into.insert((subjects.scope.as_str(), key.as_str()), *i);
            }
        }
    }
    // Which findings go: (file, index among its compared findings).
    let mut dropped: HashSet<At> = HashSet::new();
    // (file moved into, rule, identity) ─▶ fixed findings in the file it left.
    let mut fixed_moved: HashMap<(usize, &str, &str), Vec<At>> = HashMap::new();
    for (i, subjects) in &seen {
        let scope = subjects.scope.as_str();
        for (j, item) in files[*i].1.compared.iter().enumerate() {
            let identity = item.raw.identity.as_str();
            let key = subject_key(identity);
            if !subjects.moved_out(key) {
                continue;
            }
            let rule = item.raw.finding.rule_id.as_str();
            let deleted = identity.ends_with("|deleted");
            match item.change {
                ChangeKind::Regression if deleted => {
                    let kind = subjects
                        .base
                        .as_ref()
                        .and_then(|b| b.get(key))
                        .map_or("", String::as_str);
                    let held_elsewhere = protection
                        .get(&(scope, rule, kind))
                        .is_some_and(|into| into.iter().any(|f| f != i));
                    if held_elsewhere {
                        dropped.insert((*i, j));
                    }
                }
                ChangeKind::Fixed => {
                    if let Some(&into) = moved_into.get(&(scope, key))
                        && into != *i
                    {
                        fixed_moved
                            .entry((into, rule, identity))
                            .or_default()
                            .push((*i, j));
                    }
                }
                _ => {}
            }
        }
    }
    for (i, _) in &seen {
        for (j, item) in files[*i].1.compared.iter().enumerate() {
            if item.change != ChangeKind::New {
                continue;
            }
            let key = (
                *i,
                item.raw.finding.rule_id.as_str(),
                item.raw.identity.as_str(),
            );
            if let Some(fixed) = fixed_moved.get_mut(&key).and_then(Vec::pop) {
                dropped.insert(fixed);
                dropped.insert((*i, j));
            }
        }
    }
    drop(seen);
    if dropped.is_empty() {
        return;
    }
    for (i, (_, out)) in files.iter_mut().enumerate() {
        let mut j = 0;
        out.compared.retain(|_| {
            j += 1;
            !dropped.contains(&(i, j - 1))
        });
    }
}
