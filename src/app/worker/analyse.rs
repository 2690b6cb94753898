//! The analysis of one job: the pull request's files through the pipeline,
//! under the base's configuration, then the review and the check's output.

use super::errors::{crashed, reported};
use super::publish::{complete, completion, resolve_gone};
use super::{JobContext, JobOutcome, JobState, Worker, lock};
use crate::app::changes::{self, FetchPlan};
use crate::app::webhook::Job;
use crate::app::worker::{JobError, github_failure_class};
use crate::config::repo::{DraftPolicy, FailOn};
use crate::engine::{ChangedFile, Skipped};
use crate::github::Installation;
use crate::metrics::FindingLabels;
use crate::pipeline;
use crate::report::check_run::{self, CheckContext, ReviewStats, is_new_problem};
use crate::report::review;
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

impl Worker {
    pub(super) async fn analyse(
        &self,
        github: &Installation,
        job: &Job,
        check_id: u64,
        state: &Mutex<JobState>,
        context: &JobContext,
    ) -> Result<JobOutcome, JobError> {
        let files = github
            .list_pull_request_files(&job.repo, job.number)
            .await?;
        let plan =
            changes::plan_fetch(&files, &job.base_sha, &job.head_sha, self.pipeline.engine());
        let (blobs, pull) = github
            .fetch_blobs(&job.repo, &plan.expressions, Some(job.number))
            .await?;
        // GitHub's view, not the order deliveries arrived in, says whether a
        // newer push made this commit obsolete.
        if let Some(pull) = &pull
            && pull.head_ref_oid != job.head_sha
        {
            github
                .patient()
                .update_check_run(
                    &job.repo,
                    check_id,
                    &completion(
                        "neutral",
                        "Superseded by a newer push",
                        &format!(
                            "The pull request's head is now `{}`; its own check run has the results.",
                            pull.head_ref_oid
                        ),
                    ),
                )
                .await?;
            return Ok(JobOutcome::Superseded);
        }
        let draft = pull.as_ref().map_or(job.draft, |p| p.is_draft);
        let (config, mut notes) = pipeline::config_from(FetchPlan::config(&blobs).as_deref());
        lock(state).on_error = config.on_error;

        if draft && config.drafts == DraftPolicy::Skip {
            github
                .patient()
                .update_check_run(
                    &job.repo,
                    check_id,
                    &completion(
                        "skipped",
                        "Draft pull request: not analysed",
                        "This repository's `.github/hunkscan.yml` sets `drafts: skip`. The analysis runs when the pull request is marked ready for review.",
                    ),
                )
                .await?;
            return Ok(JobOutcome::SkippedDraft);
        }

        if files.len() >= crate::github::api::MAX_PULL_REQUEST_FILES {
            notes.push(format!(
                "GitHub lists only the first {} files of a pull request; later files were not analysed.",
                crate::github::api::MAX_PULL_REQUEST_FILES
            ));
        }
        // Diffing patch-less files and scanning are CPU work: off the async
        // threads, so deliveries keep being answered in milliseconds. The
        // same pipeline as `hunkscan scan`, under the same configuration.
        let pipeline = Arc::clone(&self.pipeline);
        let scan_config = config.clone();
        let (outcome, unreadable) = tokio::task::spawn_blocking(move || {
            let (change_set, unreadable) = changes::build(&files, &plan, &blobs);
            (pipeline.run(change_set, &scan_config), unreadable)
        })
        .await
        .map_err(crashed)?;
        let pipeline::Outcome {
            mut report,
            notes: scan_notes,
            changes: change_set,
        } = outcome;
        notes.extend(scan_notes);
        report
            .skipped
            .extend(unreadable.into_iter().map(|(path, reason)| Skipped {
                path,
                analyzer: None,
                reason,
                partial: false,
            }));

        // Our earlier comments, by fingerprint, so nothing is said twice.
        // Only the app's own bot user's comments count: without knowing it,
        // the bot cannot tell its markers from anyone else's, so it posts no
        // review this time (the annotations still list every finding).
        let bot_login = match github.bot_login().await {
            Ok(login) => Some(login),
            Err(error) => {
                let class = github_failure_class(&error);
                let what = reported(&error, class, "cannot ask GitHub for the app's login");
                notes.push(format!(
                    "The inline review was skipped: hunkscan could not confirm its own GitHub identity ({what}), so it could not tell its earlier comments from others'. Every finding is in the annotations."
                ));
                None
            }
        };
        let posted = match &bot_login {
            Some(login) => self.posted_comments(github, job, login).await?,
            None => HashMap::new(),
        };
        let posted_set: HashSet<String> = posted.keys().cloned().collect();
        let new_findings: Vec<_> = report
            .findings
            .iter()
            .filter(|f| is_new_problem(f))
            .collect();
        let files_by_path: HashMap<&str, &ChangedFile> = change_set
            .files
            .iter()
            .map(|f| (f.diff.path.as_str(), f))
            .collect();
        let plan = review::plan(
            &new_findings,
            &files_by_path,
            &posted_set,
            config.max_comments,
        );

        let mut stats = ReviewStats {
            posted: 0,
            already_posted: plan.already_posted,
            not_commentable: plan.not_commentable,
            over_cap: plan.over_cap,
            resolved: 0,
        };
        // An earlier attempt of this job posted its review (the store
        // recorded it): never a second one, whatever the listing says.
        if let (false, Some(login), false) =
            (plan.comments.is_empty(), &bot_login, context.reviewed)
        {
            match self
                .post_review(github, job, plan.comments, &plan.commented, login)
                .await
            {
                Ok(count) => {
                    stats.posted = count;
                    self.record(
                        self.store
                            .record_review(&context.lease, &plan.commented)
                            .await,
                        "review",
                    );
                }
                Err(error) => {
                    // The findings are still in the check run's annotations.
                    let what = reported(&error, github_failure_class(&error), "review not posted");
                    notes.push(format!(
                        "The inline review could not be posted ({what}); every finding is in the annotations."
                    ));
                }
            }
        }

        // Threads whose finding is gone: fixed or suppressed by this push.
        let current: HashSet<&str> = new_findings
            .iter()
            .map(|f| f.fingerprint.as_str())
            .collect();
        let skipped_paths: HashSet<&str> = report.skipped.iter().map(|s| s.path.as_str()).collect();
        let gone: HashSet<u64> = posted
            .iter()
            .filter(|(fingerprint, (_, path))| {
                !current.contains(fingerprint.as_str()) && !skipped_paths.contains(path.as_str())
            })
            .map(|(_, (id, _))| *id)
            .collect();
        if !gone.is_empty() {
            match resolve_gone(github, &job.repo, job.number, &gone).await {
                Ok(resolved) => stats.resolved = resolved,
                Err(error) => {
                    let what =
                        reported(&error, github_failure_class(&error), "threads not resolved");
                    notes.push(format!(
                        "Threads of fixed findings could not be resolved ({what})."
                    ));
                }
            }
        }

        let fail_on = match config.fail_on {
            FailOn::AtLeast(severity) => severity.as_str().to_owned(),
            FailOn::Never => "never".to_owned(),
        };
        let fails = |severity| config.fails(severity);
        let output = check_run::build(&CheckContext {
            repo_url: &job.repo_url,
            head_sha: &job.head_sha,
            report: &report,
            fails: &fails,
            fail_on,
            notes: &notes,
            review: stats,
        });
        lock(state).conclusion = Some(output.conclusion);
        for finding in &new_findings {
            self.metrics
                .findings
                .get_or_create(&FindingLabels {
                    analyzer: finding.analyzer.as_str(),
                    severity: finding.severity.as_str(),
                })
                .inc();
        }
        complete(github, &job.repo, check_id, output).await?;
        Ok(JobOutcome::Completed)
    }
}
