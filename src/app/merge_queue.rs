//! Merge queues: `merge_group` deliveries become jobs.
//!
//! A branch whose protection (or ruleset) requires the `hunkscan` check and
//! merges through a merge queue waits for that check on the merge group's
//! own commit (`gh-readonly-queue/...`); a check that is never created holds
//! the queue forever. So `checks_requested` analyses the merge group's
//! change, `base_sha`...`head_sha`, under the same gate as a pull request
//! and completes a check on `head_sha`, with annotations and no review (a
//! merge group has no pull request to comment on). `destroyed` (merged,
//! dequeued or invalidated) needs nothing.

use super::webhook::{Delivery, Installation, Job, JobKind, PayloadError, Repository, Trigger};
use serde::Deserialize;

#[derive(Deserialize)]
struct MergeGroup {
    head_sha: String,
    base_sha: String,
}

#[derive(Deserialize)]
struct MergeGroupEvent {
    action: String,
    merge_group: MergeGroup,
    repository: Repository,
    installation: Option<Installation>,
}

/// Routes a `merge_group` delivery.
pub fn route(delivery_id: &str, body: &[u8]) -> Result<Delivery, PayloadError> {
    const EVENT: &str = "merge_group";
    let payload: MergeGroupEvent = super::webhook::parse(EVENT, body)?;
    if payload.action != "checks_requested" {
        return Ok(Delivery::Ignored(format!(
            "merge_group.{} needs no check",
            payload.action
        )));
    }
    let Some(installation) = payload.installation else {
        return Ok(Delivery::Ignored("no installation in the payload".into()));
    };
    let repo = super::webhook::repo(&payload.repository, EVENT)?;
    Ok(Delivery::Jobs(vec![Job {
        id: delivery_id.to_owned(),
        installation_id: installation.id,
        repo,
        repo_url: payload.repository.html_url,
        number: 0,
        head_sha: payload.merge_group.head_sha,
        base_sha: payload.merge_group.base_sha,
        draft: false,
        // GitHub asks once per merge group; a redelivery keeps its id.
        trigger: Trigger::SuiteRequested,
        kind: JobKind::MergeGroup,
    }]))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(action: &str) -> Vec<u8> {
        format!(
            r#"{{"action":"{action}","merge_group":{{"head_sha":"h1","head_ref":"refs/heads/gh-readonly-queue/main/pr-1-b1","base_sha":"b1","base_ref":"refs/heads/main"}},"repository":{{"full_name":"o/r","html_url":"https://github.com/o/r"}},"installation":{{"id":7}}}}"#
        )
        .into_bytes()
    }

    #[test]
    fn checks_requested_is_a_merge_group_job_and_destroyed_is_ignored() {
        let Ok(Delivery::Jobs(jobs)) = route("d1", &event("checks_requested")) else {
            panic!("a job");
        };
        assert_eq!(jobs.len(), 1);
        let job = &jobs[0];
        assert_eq!(job.kind, JobKind::MergeGroup);
        assert_eq!((job.base_sha.as_str(), job.head_sha.as_str()), ("b1", "h1"));
        assert_eq!((job.number, job.installation_id), (0, 7));
        assert_eq!(job.check_external_id(), "o/r@b1");
        assert!(matches!(
            route("d2", &event("destroyed")),
            Ok(Delivery::Ignored(_))
        ));
        assert!(
            route("d3", b"{}").is_err(),
            "a malformed payload is refused"
        );
    }
}
