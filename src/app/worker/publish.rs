//! What a job writes back to GitHub: its review (never a comment twice), the
//! check run's output in batches of annotations, the threads of fixed
//! findings resolved.

use super::errors::reported;
use super::{Worker, now};
use crate::app::threads::{Posted, ThreadState};
use crate::app::webhook::Job;
use crate::app::worker::github_failure_class;
use crate::github::types::{Annotation, CheckOutput, CreateReview, RepoRef, UpdateCheckRun};
use crate::github::{GitHubError, Installation};
use crate::report::check_run::{self, MAX_ANNOTATIONS_PER_REQUEST};
use crate::report::review;
use crate::report::triage::{self, Dismissal};
use std::collections::{HashMap, HashSet};

/// What the bot said on a pull request before: its comments (by the
/// fingerprints their markers cover) and the dismissals its replies record.
/// Only the app's bot account counts, so nobody can silence a finding or
/// dismiss one by writing a marker into a comment.
#[derive(Debug, Default)]
pub(super) struct Ledger {
    pub posted: Vec<Posted>,
    pub dismissals: Vec<Dismissal>,
}

impl Ledger {
    /// The fingerprints dismissed in review.
    pub fn dismissed(&self) -> HashSet<String> {
        self.dismissals
            .iter()
            .flat_map(|d| d.fingerprints.iter().cloned())
            .collect()
    }
}

/// Reads the pull request's review comments into a [`Ledger`].
pub(super) async fn read_ledger(
    github: &Installation,
    repo: &RepoRef,
    number: u64,
    bot_login: &str,
) -> Result<Ledger, GitHubError> {
    let existing = github.list_review_comments(repo, number).await?;
    let mut ledger = Ledger::default();
    for comment in &existing {
        if comment.user.as_ref().is_none_or(|u| u.login != bot_login) {
            continue;
        }
        match comment.in_reply_to_id {
            None => {
                if let Some(marker) = review::marker_in(&comment.body) {
                    ledger.posted.push(Posted {
                        id: comment.id,
                        path: comment.path.clone(),
                        line: comment.line,
                        fingerprints: marker
                            .fingerprints
                            .iter()
                            .map(|f| (*f).to_owned())
                            .collect(),
                    });
                }
            }
            Some(_) => ledger
                .dismissals
                .extend(triage::dismissal_in(&comment.body)),
        }
    }
    ledger.dismissals = triage::latest(ledger.dismissals);
    Ok(ledger)
}

impl Worker {
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
                let ledger = read_ledger(github, &job.repo, job.number, bot_login).await?;
                let posted: HashSet<&str> = ledger
                    .posted
                    .iter()
                    .flat_map(|p| p.fingerprints.iter().map(String::as_str))
                    .collect();
                let present = fingerprints
                    .iter()
                    .filter(|f| posted.contains(f.as_str()))
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
        text: output.text.clone(),
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

/// The pull request's threads, by the REST id of their first comment.
pub(super) async fn thread_states(
    github: &Installation,
    repo: &RepoRef,
    number: u64,
    bot_login: &str,
) -> Result<HashMap<u64, (String, ThreadState)>, GitHubError> {
    let threads = github.review_threads(repo, number).await?;
    Ok(threads
        .into_iter()
        .filter_map(|t| {
            let state = ThreadState {
                resolved: t.is_resolved,
                by_bot: t
                    .resolved_by
                    .as_deref()
                    .is_some_and(|login| crate::github::graphql::same_login(login, bot_login)),
            };
            Some((t.first_comment_id?, (t.id, state)))
        })
        .collect())
}

/// Resolves the open threads of `gone` comments and reopens those of
/// `reopen`, in one request; answers (resolved, reopened).
pub(super) async fn update_threads(
    github: &Installation,
    threads: &HashMap<u64, (String, ThreadState)>,
    gone: &[u64],
    reopen: &[u64],
) -> Result<(usize, usize), GitHubError> {
    let resolve: Vec<String> = gone
        .iter()
        .filter_map(|id| threads.get(id))
        .filter(|(_, state)| !state.resolved)
        .map(|(thread, _)| thread.clone())
        .collect();
    let unresolve: Vec<String> = reopen
        .iter()
        .filter_map(|id| threads.get(id))
        .filter(|(_, state)| state.resolved)
        .map(|(thread, _)| thread.clone())
        .collect();
    if !resolve.is_empty() || !unresolve.is_empty() {
        github.set_threads_resolved(&resolve, &unresolve).await?;
    }
    Ok((resolve.len(), unresolve.len()))
}
