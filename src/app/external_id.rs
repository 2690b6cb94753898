//! What our check runs are about, in their `external_id`: `owner/repo#N`
//! for pull request N, `owner/repo@<base sha>` for a merge group. A re-run
//! that GitHub sends without a pull request (a fork's, a merge group's)
//! finds its subject again from it.

use crate::github::types::RepoRef;

/// The `external_id` our check runs carry: `owner/repo#number`. A re-run of
/// a check on a pull request from a fork comes with an empty
/// `pull_requests`; this is how the job finds its pull request again.
pub fn check_external_id(repo: &RepoRef, number: u64) -> String {
    format!("{repo}#{number}")
}

/// The `external_id` of a merge group's check run: `owner/repo@<base sha>`,
/// so a re-run of it knows what to compare the head with.
pub fn merge_group_external_id(repo: &RepoRef, base_sha: &str) -> String {
    format!("{repo}@{base_sha}")
}

/// What one of our check runs was about, read back from its external id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CheckSubject {
    /// A pull request.
    PullRequest(u64),
    /// A merge group with this base commit.
    MergeGroup(String),
}

/// Reads [`check_external_id`] and [`merge_group_external_id`] back; `None`
/// for another repository's or an unknown form. Repository names never hold
/// `#` or `@`, so the forms cannot be confused.
pub fn subject_of_external_id(external_id: &str, repo: &RepoRef) -> Option<CheckSubject> {
    let full = repo.to_string();
    if let Some(number) = external_id
        .strip_prefix(full.as_str())
        .and_then(|rest| rest.strip_prefix('#'))
    {
        return number
            .parse()
            .ok()
            .filter(|n| *n > 0)
            .map(CheckSubject::PullRequest);
    }
    let base = external_id.strip_prefix(full.as_str())?.strip_prefix('@')?;
    (!base.is_empty() && base.bytes().all(|b| b.is_ascii_hexdigit()))
        .then(|| CheckSubject::MergeGroup(base.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn external_ids_name_pull_requests_and_merge_groups() {
        let repo = RepoRef::parse("o/r").expect("repo");
        assert_eq!(
            subject_of_external_id("o/r#12", &repo),
            Some(CheckSubject::PullRequest(12))
        );
        assert_eq!(
            subject_of_external_id(&merge_group_external_id(&repo, "abc123"), &repo),
            Some(CheckSubject::MergeGroup("abc123".into()))
        );
        for other in ["x/y#12", "o/r#0", "o/r#", "o/r@", "o/r@not-hex", "o/rr#1"] {
            assert_eq!(subject_of_external_id(other, &repo), None, "{other}");
        }
    }
}
