//! What a job writes back to GitHub: its review (never a comment twice), the
//! check run's output in batches of annotations, the threads of fixed
//! findings resolved.

use super::errors::reported;
use super::{Worker, now};
use crate::app::webhook::Job;
use crate::app::worker::github_failure_class;
use crate::github::types::{Annotation, CheckOutput, CreateReview, RepoRef, UpdateCheckRun};
use crate::github::{GitHubError, Installation};
use crate::report::check_run::{self, MAX_ANNOTATIONS_PER_REQUEST};
use crate::report::review;
use std::collections::{HashMap, HashSet};

impl Worker {
    /// Our own top-level review comments on the pull request: fingerprint →
    /// (comment id, path). Only the app's bot account counts, so nobody can
    /// silence a finding by writing a marker into a comment.
    pub(super) async fn posted_comments(
        &self,
        github: &Installation,
        job: &Job,
        bot_login: &str,
    ) -> Result<HashMap<String, (u64, String)>, GitHubError> {
        let existing = github.list_review_comments(&job.repo, job.number).await?;
        let mut posted = HashMap::new();
        for comment in &existing {
            let ours = comment.user.as_ref().is_some_and(|u| u.login == bot_login);
            if let (true, None, Some(fingerprint)) = (
                ours,
                comment.in_reply_to_id,
                review::fingerprint_in(&comment.body),
            ) {
                posted.insert(fingerprint.to_owned(), (comment.id, comment.path.clone()));
            }
        }
        Ok(posted)
    }

    /// Posts the review; when GitHub's answer is lost (it sometimes creates a
    /// large review and still answers 502), looks at what it has before
    /// posting again, so no comment appears twice.
    pub(super) async fn post_review(
        &self,
        github: &Installation,
        job: &Job,
        comments: Vec<crate::github::types::DraftReviewComment>,
        fingerprints: &[String],
        bot_login: &str,
    ) -> Result<usize, GitHubError> {
        let count = comments.len();
        let body = CreateReview {
            commit_id: job.head_sha.clone(),
            body: format!(
                "hunkscan found {count} new problem{} on lines this pull request changes. The `hunkscan` check has the full list.",
                if count == 1 { "" } else { "s" }
            ),
            event: "COMMENT".into(),
            comments,
        };
        match github.create_review(&job.repo, job.number, &body).await {
            Ok(()) => Ok(count),
            Err(error @ GitHubError::Ambiguous { .. }) => {
                tracing::warn!(%error, "review outcome unclear; checking what GitHub has");
                let posted = self.posted_comments(github, job, bot_login).await?;
                let present = fingerprints
                    .iter()
                    .filter(|f| posted.contains_key(*f))
                    .count();
                if present == fingerprints.len() {
                    Ok(count)
                } else if present == 0 {
                    github.create_review(&job.repo, job.number, &body).await?;
                    Ok(count)
                } else {
                    Err(error)
                }
            }
            Err(error) => Err(error),
        }
    }
}

/// A completing update.
pub(super) fn completion(conclusion: &str, title: &str, summary: &str) -> UpdateCheckRun {
    UpdateCheckRun {
        status: Some("completed".into()),
        conclusion: Some(conclusion.into()),
        completed_at: Some(now()),
        output: Some(CheckOutput {
            title: title.into(),
            summary: summary.into(),
            text: None,
            annotations: Vec::new(),
        }),
    }
}

/// Sends the output: annotations in batches of 50, the last batch with the
/// completion, so a pull request with up to 50 findings costs one request.
/// If a batch fails, the check is still completed with its conclusion and a
/// note; the completion itself is sent patiently.
pub(super) async fn complete(
    github: &Installation,
    repo: &RepoRef,
    check_id: u64,
    mut output: check_run::CheckRunOutput,
) -> Result<(), GitHubError> {
    let annotations = std::mem::take(&mut output.annotations);
    let batches: Vec<&[Annotation]> = annotations.chunks(MAX_ANNOTATIONS_PER_REQUEST).collect();
    let last = batches.len().saturating_sub(1);
    let output_with = |summary: &str, annotations: &[Annotation]| CheckOutput {
        title: output.title.clone(),
        summary: summary.to_owned(),
        text: None,
        annotations: annotations.to_vec(),
    };
    let mut summary = output.summary.clone();
    let mut final_batch = batches.get(last).copied().unwrap_or(&[]);
    for (sent, batch) in batches[..last].iter().enumerate() {
        let update = UpdateCheckRun {
            output: Some(output_with(&summary, batch)),
            ..UpdateCheckRun::default()
        };
        if let Err(error) = github.update_check_run(repo, check_id, &update).await {
            let what = reported(
                &error,
                github_failure_class(&error),
                "annotations not attached; completing without the rest",
            );
            summary = check_run::truncate(
                &format!(
                    "{summary}\n\n**Note:** only {} of {} annotations could be attached ({what}).\n",
                    sent * MAX_ANNOTATIONS_PER_REQUEST,
                    annotations.len()
                ),
                check_run::MAX_OUTPUT_CHARS,
                "",
            );
            final_batch = &[];
            break;
        }
    }
    let final_update = UpdateCheckRun {
        status: Some("completed".into()),
        conclusion: Some(output.conclusion.into()),
        completed_at: Some(now()),
        output: Some(output_with(&summary, final_batch)),
    };
    github
        .patient()
        .update_check_run(repo, check_id, &final_update)
        .await
}

pub(super) async fn resolve_gone(
    github: &Installation,
    repo: &RepoRef,
    number: u64,
    gone: &HashSet<u64>,
) -> Result<usize, GitHubError> {
    let threads = github.review_threads(repo, number).await?;
    let ids: Vec<String> = threads
        .into_iter()
        .filter(|t| !t.is_resolved && t.first_comment_id.is_some_and(|id| gone.contains(&id)))
        .map(|t| t.id)
        .collect();
    if !ids.is_empty() {
        github.resolve_review_threads(&ids).await?;
    }
    Ok(ids.len())
}
