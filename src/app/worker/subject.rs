//! Jobs that are not (yet) an analysis of a known pull request: a check
//! suite re-run that named none, and triage commands.

use super::JobOutcome;
use crate::app::triage::{self, Command, Handled};
use crate::app::webhook::{CHECK_NAME, CheckSubject, Job, JobKind, subject_of_external_id};
use crate::github::{GitHubError, Installation};

/// Finds what a check suite re-run without pull requests is about (a fork's
/// pull request: GitHub leaves `pull_requests` empty then; or a merge
/// group) from the external id of our newest check run on the head, and
/// fills the job in. `false` when none of ours is there.
pub(super) async fn find(github: &Installation, job: &mut Job) -> Result<bool, GitHubError> {
    let runs = github
        .list_check_runs(&job.repo, &job.head_sha, CHECK_NAME)
        .await?;
    let subject = runs.iter().find_map(|run| {
        run.external_id
            .as_deref()
            .and_then(|id| subject_of_external_id(id, &job.repo))
    });
    match subject {
        Some(CheckSubject::PullRequest(number)) => {
            // The worker reads the base (and draft state) from GitHub.
            job.number = number;
            job.base_sha.clear();
            Ok(true)
        }
        Some(CheckSubject::MergeGroup(base)) => {
            job.kind = JobKind::MergeGroup;
            job.base_sha = base;
            Ok(true)
        }
        None => {
            tracing::info!("no hunkscan check run on this commit names what to re-run");
            Ok(false)
        }
    }
}

/// Carries out a triage command; its outcome is logged (the thread has the
/// answer).
pub(super) async fn triage(github: &Installation, job: &Job, command: &Command) -> JobOutcome {
    match triage::run(github, job, command).await {
        Ok(handled) => {
            tracing::info!(
                comment = command.comment_id,
                outcome = ?handled,
                "triage command handled"
            );
            match handled {
                Handled::NotOurs => JobOutcome::Abandoned,
                _ => JobOutcome::Completed,
            }
        }
        Err(error) => {
            tracing::error!(comment = command.comment_id, %error, "triage command failed");
            JobOutcome::Failed
        }
    }
}
