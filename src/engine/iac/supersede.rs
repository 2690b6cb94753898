//! One problem, one finding: where a policy that `supersedes` another
//! reports on the same subject and list item, the other's finding goes.
//! Decided on the comparison's findings, not on hits: a regression-only
//! policy matches every head subject, but it replaces the other only where
//! it is actually reported.

use super::policy::Policies;
use crate::engine::{ChangeKind, ComparedFinding};
use std::collections::HashSet;

/// The subject and list item a finding is about: its identity
/// (`subject key|primary path`) cut after the path's first list index, so
/// two policies' evidence in one ingress block or RBAC rule meet.
fn item(identity: &str) -> &str {
    let Some((key, path)) = identity.split_once('|') else {
        return identity;
    };
    match path.find(']') {
        Some(end) => &identity[..key.len() + 1 + end + 1],
        None => identity,
    }
}

/// Drops from `found` every finding a superseding policy's finding of the
/// same kind of change (fixed or not) on the same item replaces.
pub(super) fn drop_superseded(policies: &Policies, found: &mut Vec<ComparedFinding>) {
    let superseding: Vec<_> = policies
        .all()
        .iter()
        .filter(|p| !p.supersedes.is_empty())
        .collect();
    if superseding.is_empty() || found.len() < 2 {
        return;
    }
    // (superseded rule, fixed?, item) of every finding that replaces one.
    let mut replaced: HashSet<(&str, bool, &str)> = HashSet::new();
    for f in found.iter() {
        let Some(policy) = superseding.iter().find(|p| p.id == f.raw.finding.rule_id) else {
            continue;
        };
        for id in &policy.supersedes {
            replaced.insert((
                id.as_str(),
                f.change == ChangeKind::Fixed,
                item(&f.raw.identity),
            ));
        }
    }
    if replaced.is_empty() {
        return;
    }
    let gone: Vec<bool> = found
        .iter()
        .map(|f| {
            replaced.contains(&(
                f.raw.finding.rule_id.as_str(),
                f.change == ChangeKind::Fixed,
                item(&f.raw.identity),
            ))
        })
        .collect();
    let mut index = 0;
    found.retain(|_| {
        index += 1;
        !gone[index - 1]
    });
}

#[cfg(test)]
mod tests {
    use super::item;

    #[test]
    fn an_item_is_the_subject_and_the_first_list_index_of_the_path() {
        assert_eq!(
            item("resource.aws_security_group.web|ingress[0].cidr_blocks[1]"),
            "resource.aws_security_group.web|ingress[0]"
        );
        assert_eq!(
            item("pod/shop/web/web|securityContext.runAsNonRoot"),
            "pod/shop/web/web|securityContext.runAsNonRoot"
        );
        assert_eq!(item("no-path"), "no-path");
    }
}
