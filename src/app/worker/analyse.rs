//! The analysis of one job: the change's files through the pipeline, under
//! the base's configuration, then the review and the check's output.
//!
//! A pull request's change is its files; a merge group's is the comparison
//! `base...head` (one request: GitHub lists a comparison's files on its
//! first page), judged by the same gate and reported in the check alone.
//! When other open pull requests share the head commit, the one check on
//! it judges them all: their changes are analysed too (read only: each pull
//! request's own job writes its review), and the worst verdict wins.

use super::errors::reported;
use super::licenses;
use super::publish::{Ledger, complete, completion, read_ledger, thread_states, update_threads};
use super::{JobContext, JobOutcome, JobState, Worker, lock};
use crate::app::changes::{self, FetchPlan};
use crate::app::threads::{self, Current};
use crate::app::webhook::{Job, JobKind};
use crate::app::worker::{JobError, github_failure_class};
use crate::config::repo::{DraftPolicy, FailOn, RepoConfig};
use crate::engine::{ChangeSet, ChangedFile, ScanReport, Skipped};
use crate::github::Installation;
use crate::github::api::{CheckPull, CreatedCheckRun, MAX_COMPARE_FILES, MAX_PULL_REQUEST_FILES};
use crate::github::graphql::PullState;
use crate::github::types::PullRequestFile;
use crate::metrics::FindingLabels;
use crate::pipeline;
use crate::report::check_run::{self, CheckContext, OtherPull, ReviewStats, Scope, is_new_problem};
use crate::report::review;
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

/// One change analysed under its base's configuration.
struct Analysed {
    report: ScanReport,
    changes: ChangeSet,
    config: RepoConfig,
    notes: Vec<String>,
    /// The pull request's current state (pull requests only).
    pull: Option<PullState>,
}

impl Worker {
    /// Lists, fetches and scans one change: `number` 0 is the comparison
    /// `base...head` (a merge group), otherwise that pull request's files.
    async fn scan_change(
        &self,
        github: &Installation,
        job: &Job,
        number: u64,
        base_sha: &str,
    ) -> Result<Analysed, JobError> {
        let (files, limit): (Vec<PullRequestFile>, usize) = if number == 0 {
            let files = github
                .compare_files(&job.repo, base_sha, &job.head_sha)
                .await?;
            (files, MAX_COMPARE_FILES)
        } else {
            let files = github.list_pull_request_files(&job.repo, number).await?;
            (files, MAX_PULL_REQUEST_FILES)
        };
        let plan = changes::plan_fetch(&files, base_sha, &job.head_sha, self.pipeline.engine());
        let (blobs, pull) = github
            .fetch_blobs(&job.repo, &plan.expressions, (number > 0).then_some(number))
            .await?;
        let (mut config, mut notes) = pipeline::config_from(FetchPlan::config(&blobs).as_deref());
        if let Some(text) = FetchPlan::gitleaks_ignore(&blobs) {
            let (ignore, problems) = crate::engine::secrets::GitleaksIgnore::parse(&text);
            notes.extend(problems);
            config.gitleaks_ignore = ignore;
        }
        if files.len() >= limit {
            notes.push(format!(
                "GitHub lists only the first {limit} files of a change; later files were not analysed."
            ));
        }
        // Diffing patch-less files and scanning are CPU work: off the async
        // threads and below their priority, so deliveries keep being
        // answered in milliseconds (see `cpu`). The same pipeline as
        // `hunkscan scan`, under the same configuration.
        let pipeline = Arc::clone(&self.pipeline);
        let scan_config = config.clone();
        let (change_set, unreadable, wanted) = self
            .analysis
            .run(move || {
                let (change_set, unreadable) = changes::build(&files, &plan, &blobs);
                let wanted =
                    pipeline.licenses_wanted(&change_set, &scan_config, licenses::MAX_LOOKUPS);
                (change_set, unreadable, wanted)
            })
            .await
            .map_err(|crashed| JobError::Crashed(crashed.0))?;
        // Licences lockfiles do not state, from the registries (only under
        // a licence policy; none wanted otherwise), through the store's cache.
        let licenses = Arc::new(licenses::look_up(&*self.store, wanted).await);
        let pipeline = Arc::clone(&self.pipeline);
        let scan_config = config.clone();
        let outcome = self
            .analysis
            .run(move || {
                pipeline
                    .run_with_licenses(change_set, &scan_config, licenses)
                    .0
            })
            .await
            .map_err(|crashed| JobError::Crashed(crashed.0))?;
        let pipeline::Outcome {
            mut report,
            notes: scan_notes,
            changes,
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
        Ok(Analysed {
            report,
            changes,
            config,
            notes,
            pull,
        })
    }

    pub(super) async fn analyse(
        &self,
        github: &Installation,
        job: &Job,
        check: &CreatedCheckRun,
        state: &Mutex<JobState>,
        context: &JobContext,
    ) -> Result<JobOutcome, JobError> {
        let check_id = check.id;
        let number = match job.kind {
            JobKind::MergeGroup => 0,
            _ => job.number,
        };
        let Analysed {
            report,
            changes: change_set,
            config,
            mut notes,
            pull,
        } = self.scan_change(github, job, number, &job.base_sha).await?;
        lock(state).on_error = config.on_error;
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
        if number > 0 && draft && config.drafts == DraftPolicy::Skip {
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

        let mut stats = ReviewStats::default();
        let mut ledger = Ledger::default();
        if number > 0
            && let Some((reviewed, read)) = self
                .review(
                    github,
                    job,
                    &report,
                    &change_set,
                    &config,
                    &mut notes,
                    context,
                )
                .await?
        {
            stats = reviewed;
            ledger = read;
        }
        let dismissed = ledger.dismissed();
        let mut others = Vec::new();
        if number > 0 {
            for sibling in check.pull_requests.iter().filter(|p| p.number != number) {
                match self.judge_other(github, job, sibling).await {
                    Ok(Some(other)) => others.push(other),
                    Ok(None) => {}
                    Err(error) => {
                        let what = reported(
                            &error,
                            error.class(),
                            "another pull request on this commit not judged",
                        );
                        notes.push(format!(
                            "Pull request #{} has this commit as its head too, but could not be analysed ({what}).",
                            sibling.number
                        ));
                    }
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
            scope: Scope {
                number,
                dismissed: Some(&dismissed),
                dismissals: &ledger.dismissals,
                others: &others,
            },
        });
        lock(state).conclusion = Some(output.conclusion);
        for finding in report
            .findings
            .iter()
            .filter(|f| is_new_problem(f) && !dismissed.contains(&f.fingerprint))
        {
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

    /// The review step of a pull request: what the bot said before, the
    /// findings matched to its comments, new comments posted, threads
    /// resolved or reopened. `None` when the bot cannot tell its own
    /// comments (its login unknown): then it posts nothing this time.
    // The job's parts it reads, and its context for recording the review.
    #[allow(clippy::too_many_arguments)]
    async fn review(
        &self,
        github: &Installation,
        job: &Job,
        report: &ScanReport,
        change_set: &ChangeSet,
        config: &RepoConfig,
        notes: &mut Vec<String>,
        context: &JobContext,
    ) -> Result<Option<(ReviewStats, Ledger)>, JobError> {
        // Only the app's own bot user's comments count: without knowing it,
        // the bot cannot tell its markers from anyone else's, so it posts no
        // review this time (the annotations still list every finding).
        let bot_login = match github.bot_login().await {
            Ok(login) => login,
            Err(error) => {
                let class = github_failure_class(&error);
                let what = reported(&error, class, "cannot ask GitHub for the app's login");
                notes.push(format!(
                    "The inline review was skipped: hunkscan could not confirm its own GitHub identity ({what}), so it could not tell its earlier comments from others'. Every finding is in the annotations."
                ));
                return Ok(None);
            }
        };
        let ledger = read_ledger(github, &job.repo, job.number, &bot_login).await?;
        let dismissed = ledger.dismissed();
        let new_findings: Vec<_> = report
            .findings
            .iter()
            .filter(|f| is_new_problem(f) && !dismissed.contains(&f.fingerprint))
            .collect();
        let files_by_path: HashMap<&str, &ChangedFile> = change_set
            .files
            .iter()
            .map(|f| (f.diff.path.as_str(), f))
            .collect();
        let currents: Vec<Current> = new_findings
            .iter()
            .map(|finding| Current {
                finding,
                line: files_by_path
                    .get(finding.path.as_str())
                    .and_then(|file| review::anchor(finding, &file.diff.lines))
                    .map(|anchor| anchor.line),
            })
            .collect();
        // Which threads the bot resolved is only GitHub's to say: asked
        // once, and only when there are earlier comments.
        let threads = if ledger.posted.is_empty() {
            HashMap::new()
        } else {
            thread_states(github, &job.repo, job.number, &bot_login).await?
        };
        let states = threads
            .iter()
            .map(|(id, (_, state))| (*id, *state))
            .collect();
        let skipped_paths: HashSet<&str> = report.skipped.iter().map(|s| s.path.as_str()).collect();
        let matching = threads::match_findings(&currents, &ledger.posted, &states, &skipped_paths);
        let plan = review::plan(&matching.to_post, &files_by_path, config.max_comments);
        let mut stats = ReviewStats {
            posted: 0,
            already_posted: matching.kept,
            not_commentable: plan.not_commentable,
            over_cap: plan.over_cap,
            resolved: 0,
            reopened: 0,
        };
        // An earlier attempt of this job posted its review (the store
        // recorded it): never a second one, whatever the listing says.
        if !plan.comments.is_empty() && !context.reviewed {
            match self
                .post_review(github, job, plan.comments, &plan.commented, &bot_login)
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
        // Threads whose finding is gone (fixed or suppressed by this push),
        // and threads of findings that are back.
        match update_threads(github, &threads, &matching.gone, &matching.reopen).await {
            Ok((resolved, reopened)) => {
                stats.resolved = resolved;
                stats.reopened = reopened;
            }
            Err(error) => {
                let what = reported(&error, github_failure_class(&error), "threads not updated");
                notes.push(format!(
                    "Threads of fixed or reintroduced findings could not be updated ({what})."
                ));
            }
        }
        Ok(Some((stats, ledger)))
    }

    /// Another open pull request whose head is this commit, judged alike
    /// (read only; its own job writes its review). `None` when its head
    /// moved on since GitHub listed it.
    async fn judge_other(
        &self,
        github: &Installation,
        job: &Job,
        sibling: &CheckPull,
    ) -> Result<Option<OtherPull>, JobError> {
        let analysed = self
            .scan_change(github, job, sibling.number, &sibling.base)
            .await?;
        if analysed
            .pull
            .as_ref()
            .is_some_and(|p| p.head_ref_oid != job.head_sha)
        {
            return Ok(None);
        }
        let dismissals = match github.bot_login().await {
            Ok(login) => {
                read_ledger(github, &job.repo, sibling.number, &login)
                    .await?
                    .dismissals
            }
            Err(_) => Vec::new(),
        };
        let dismissed: HashSet<&str> = dismissals
            .iter()
            .flat_map(|d| d.fingerprints.iter().map(String::as_str))
            .collect();
        let new: Vec<_> = analysed
            .report
            .findings
            .into_iter()
            .filter(|f| is_new_problem(f) && !dismissed.contains(f.fingerprint.as_str()))
            .collect();
        // Each pull request is judged by its own base's configuration.
        let failing = new
            .iter()
            .filter(|f| analysed.config.fails(f.severity))
            .map(|f| f.fingerprint.clone())
            .collect();
        Ok(Some(OtherPull {
            number: sibling.number,
            new,
            failing,
            dismissals,
        }))
    }
}
