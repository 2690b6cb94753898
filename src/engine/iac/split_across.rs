//! The AWS provider v4 split S3 resources across the files of one module.
//! Each file's parse folds a split resource (`aws_s3_bucket_versioning`,
//! `_server_side_encryption_configuration`, `_acl`, `_logging`) into its
//! bucket when both are in that file; Terraform reads a whole directory,
//! so a team that keeps `s3.tf` and `s3_encryption.tf` side by side has the
//! same bucket. This change-set step folds what the change's other files
//! of the same directory hold into the bucket and evaluates the finding's
//! policy again: a finding the folded bucket no longer has (a bucket whose
//! encryption moved to a resource in another file) is dropped; a `fixed`
//! finding is judged on the base's bucket and files the same way. A split
//! resource in another directory names another module's bucket and is
//! never folded.
//!
//! Only files of the change take part (unchanged files are not read), and
//! the work is linear in the findings on buckets that another file's split
//! resource names.

use super::hits::evaluate;
use super::model::{Model, Node, Subject};
use super::policy::{IacKind, Policies, Policy};
use super::terraform::foreign_split_forms;
use crate::engine::{ChangeKind, ChangedFile, FileOutcome};
use std::collections::{HashMap, HashSet};

/// One version's buckets, and its split resources naming a bucket that is
/// not in the file.
#[derive(Debug, Clone, Default)]
pub(super) struct Side {
    buckets: HashMap<String, Subject>,
    forms: Vec<(String, &'static str, Node)>,
}

impl Side {
    pub(super) fn of(model: &Model) -> Self {
        Self {
            buckets: model
                .subjects
                .iter()
                .filter(|s| s.target == "resource" && s.kind == "aws_s3_bucket")
                .map(|s| (s.key.clone(), s.clone()))
                .collect(),
            forms: foreign_split_forms(model),
        }
    }
}

/// Both versions of a Terraform file, for [`fold`].
#[derive(Debug, Clone, Default)]
pub(super) struct SplitSides {
    pub(super) base: Side,
    pub(super) head: Side,
}

/// (module directory, bucket key) ─▶ inline forms other files give it.
type Forms<'a> = HashMap<(&'a str, &'a str), Vec<(&'static str, &'a Node)>>;

/// Drops the findings on buckets that split resources in other files of
/// the same module answer (see the module documentation).
pub(super) fn fold(policies: &Policies, files: &mut [(&ChangedFile, &mut FileOutcome)]) {
    let mut drops: Vec<(usize, HashSet<usize>)> = Vec::new();
    {
        let mut base_forms: Forms = HashMap::new();
        let mut head_forms: Forms = HashMap::new();
        for (_, out) in files.iter() {
            let Some(subjects) = &out.iac_subjects else {
                continue;
            };
            let scope = subjects.scope();
            for (forms, side) in [
                (&mut base_forms, &subjects.split.base),
                (&mut head_forms, &subjects.split.head),
            ] {
                for (bucket, key, node) in &side.forms {
                    forms
                        .entry((scope, bucket.as_str()))
                        .or_default()
                        .push((*key, node));
                }
            }
        }
        if base_forms.is_empty() && head_forms.is_empty() {
            return;
        }
        let by_id: HashMap<&str, &Policy> = policies
            .of(IacKind::Terraform)
            .map(|p| (p.id.as_str(), p))
            .collect();
        for (i, (_, out)) in files.iter().enumerate() {
            let Some(subjects) = &out.iac_subjects else {
                continue;
            };
            let mut dropped = HashSet::new();
            for (j, item) in out.compared.iter().enumerate() {
                let Some((key, primary)) = item.raw.identity.split_once('|') else {
                    continue;
                };
                // A fixed finding is the base's: its bucket and the forms
                // the base's other files gave it.
                let (side, forms) = match item.change {
                    ChangeKind::Fixed => (&subjects.split.base, &base_forms),
                    ChangeKind::New | ChangeKind::Regression => (&subjects.split.head, &head_forms),
                };
                let (Some(bucket), Some(given), Some(policy)) = (
                    side.buckets.get(key),
                    forms.get(&(subjects.scope(), key)),
                    by_id.get(item.raw.finding.rule_id.as_str()),
                ) else {
                    continue;
                };
                let mut folded = bucket.clone();
                let mut changed = false;
                for (name, node) in given {
                    // The bucket's own inline setting wins, as in one file.
                    if folded.node.get(name).is_none() {
                        folded.node.set(name, (*node).clone());
                        changed = true;
                    }
                }
                if !changed {
                    continue;
                }
                let model = Model {
                    subjects: vec![folded],
                    partial: None,
                };
                // Out of time: the finding stays as the file's analysis made it.
                let Some(hits) = evaluate(&[*policy], &model, policy.removed, &out.deadline) else {
                    continue;
                };
                if !hits.iter().any(|hit| hit.primary().0 == primary) {
                    dropped.insert(j);
                }
            }
            if !dropped.is_empty() {
                drops.push((i, dropped));
            }
        }
    }
    for (i, dropped) in drops {
        let out = &mut files[i].1;
        let mut j = 0;
        out.compared.retain(|_| {
            j += 1;
            !dropped.contains(&(j - 1))
        });
    }
}
