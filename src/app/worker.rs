//! A job, from the in-progress check run to the completed one: read the pull
//! request, analyse it, post one review, resolve what was fixed, complete the
//! check. Whatever fails, a check run this worker created is completed.

use super::changes::{self, FetchPlan};
use super::webhook::{CHECK_NAME, Job};
use crate::config::repo::{ConfigProblem, DraftPolicy, ErrorConclusion, FailOn, RepoConfig};
use crate::engine::{ChangedFile, Engine, ScanReport, Skipped};
use crate::github::types::{CheckOutput, CreateCheckRun, CreateReview, RepoRef, UpdateCheckRun};
use crate::github::{GitHubApp, GitHubError, Installation};
use crate::metrics::{FindingLabels, JobLabels, Metrics};
use crate::report::check_run::{
    self, CheckContext, MAX_ANNOTATIONS_PER_REQUEST, ReviewStats, is_new_problem,
};
use crate::report::review;
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Instant;
use thiserror::Error;
use tokio::sync::{Semaphore, mpsc};
use tokio::task::JoinHandle;

/// Why a job stopped early.
#[derive(Debug, Error)]
pub enum JobError {
    /// A GitHub call failed after its retries.
    #[error(transparent)]
    GitHub(#[from] GitHubError),
    /// The analysis itself panicked (a bug in hunkscan).
    #[error("the analysis crashed: {0}")]
    Crashed(String),
}

/// How a job ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobOutcome {
    /// Check run completed with the analysis.
    Completed,
    /// A newer push made this head obsolete.
    Superseded,
    /// A draft the repository does not want analysed.
    SkippedDraft,
    /// Check run completed with the error conclusion.
    Failed,
    /// Not even the check run could be created.
    Abandoned,
}

impl JobOutcome {
    fn label(self) -> &'static str {
        match self {
            JobOutcome::Completed => "completed",
            JobOutcome::Superseded => "superseded",
            JobOutcome::SkippedDraft => "skipped_draft",
            JobOutcome::Failed => "failed",
            JobOutcome::Abandoned => "abandoned",
        }
    }
}

/// Runs jobs.
pub struct Worker {
    github: Arc<GitHubApp>,
    engine: Arc<Engine>,
    metrics: Arc<Metrics>,
    latest_heads: Mutex<HashMap<(RepoRef, u64), String>>,
}

impl Worker {
    /// A worker using `engine` and talking to GitHub through `github`.
    pub fn new(github: Arc<GitHubApp>, engine: Arc<Engine>, metrics: Arc<Metrics>) -> Self {
        Self {
            github,
            engine,
            metrics,
            latest_heads: Mutex::default(),
        }
    }

    /// Takes jobs from `receiver`, at most `concurrency` at a time. Each job
    /// is registered on arrival, so a job still waiting for a slot learns
    /// that a newer push superseded it.
    pub fn start(
        self: Arc<Self>,
        mut receiver: mpsc::Receiver<Job>,
        concurrency: usize,
    ) -> JoinHandle<()> {
        let slots = Arc::new(Semaphore::new(concurrency.max(1)));
        tokio::spawn(async move {
            while let Some(job) = receiver.recv().await {
                self.observe(&job);
                let worker = Arc::clone(&self);
                let slots = Arc::clone(&slots);
                tokio::spawn(async move {
                    // The semaphore is never closed.
                    let Ok(_slot) = slots.acquire_owned().await else {
                        return;
                    };
                    worker.run(job).await;
                });
            }
        })
    }

    fn observe(&self, job: &Job) {
        let mut heads = self.latest_heads.lock().unwrap_or_else(|p| p.into_inner());
        heads.insert((job.repo.clone(), job.number), job.head_sha.clone());
    }

    fn superseded(&self, job: &Job) -> bool {
        let heads = self.latest_heads.lock().unwrap_or_else(|p| p.into_inner());
        heads
            .get(&(job.repo.clone(), job.number))
            .is_some_and(|latest| *latest != job.head_sha)
    }

    /// Runs one job to the end.
    pub async fn run(&self, job: Job) -> JobOutcome {
        let started = Instant::now();
        let span = tracing::info_span!("job", id = %job.id, repo = %job.repo, pr = job.number, head = %job.head_sha);
        let _enter = span.enter();
        let outcome = self.run_inner(&job).await;
        drop(_enter);
        self.metrics
            .jobs
            .get_or_create(&JobLabels {
                outcome: outcome.label(),
            })
            .inc();
        self.metrics.jobs_pending.dec();
        self.metrics
            .job_seconds
            .observe(started.elapsed().as_secs_f64());
        tracing::info!(id = %job.id, outcome = outcome.label(), ms = started.elapsed().as_millis() as u64, "job finished");
        outcome
    }

    async fn run_inner(&self, job: &Job) -> JobOutcome {
        if self.superseded(job) {
            tracing::info!(id = %job.id, "superseded by a newer push before it started");
            return JobOutcome::Superseded;
        }
        let github = self.github.installation(job.installation_id);
        let create = CreateCheckRun {
            name: CHECK_NAME.into(),
            head_sha: job.head_sha.clone(),
            status: "in_progress".into(),
            started_at: now(),
            external_id: Some(job.id.clone()),
            output: None,
        };
        let check_id = match github.create_check_run(&job.repo, &create).await {
            Ok(id) => id,
            Err(error) => {
                tracing::error!(id = %job.id, %error, "cannot create the check run; nothing to complete");
                return JobOutcome::Abandoned;
            }
        };
        let mut on_error = ErrorConclusion::Neutral;
        match self.analyse(&github, job, check_id, &mut on_error).await {
            Ok(outcome) => outcome,
            Err(error) => {
                tracing::error!(id = %job.id, %error, "job failed; completing its check run");
                let update = UpdateCheckRun {
                    status: Some("completed".into()),
                    conclusion: Some(on_error.as_str().into()),
                    completed_at: Some(now()),
                    output: Some(CheckOutput {
                        title: "hunkscan could not finish this analysis".into(),
                        summary: check_run::error_summary(&error.to_string(), &job.head_sha),
                        text: None,
                        annotations: Vec::new(),
                    }),
                };
                if let Err(error) = github.update_check_run(&job.repo, check_id, &update).await {
                    tracing::error!(id = %job.id, check_id, %error, "cannot complete the check run");
                }
                JobOutcome::Failed
            }
        }
    }

    async fn complete_without_analysis(
        &self,
        github: &Installation,
        repo: &RepoRef,
        check_id: u64,
        conclusion: &str,
        title: &str,
        summary: &str,
    ) -> Result<(), GitHubError> {
        let update = UpdateCheckRun {
            status: Some("completed".into()),
            conclusion: Some(conclusion.into()),
            completed_at: Some(now()),
            output: Some(CheckOutput {
                title: title.into(),
                summary: summary.into(),
                text: None,
                annotations: Vec::new(),
            }),
        };
        github.update_check_run(repo, check_id, &update).await
    }

    async fn analyse(
        &self,
        github: &Installation,
        job: &Job,
        check_id: u64,
        on_error: &mut ErrorConclusion,
    ) -> Result<JobOutcome, JobError> {
        let files = github
            .list_pull_request_files(&job.repo, job.number)
            .await?;
        let plan = changes::plan_fetch(&files, &job.base_sha, &job.head_sha, self.engine.as_ref());
        let blobs = github.fetch_blobs(&job.repo, &plan.expressions).await?;
        let (config, problems) = match FetchPlan::config(&blobs) {
            Some(text) => RepoConfig::parse(&text),
            None => (RepoConfig::default(), Vec::new()),
        };
        *on_error = config.on_error;
        let mut notes = config_notes(&problems);

        if job.draft && config.drafts == DraftPolicy::Skip {
            self.complete_without_analysis(
                github,
                &job.repo,
                check_id,
                "skipped",
                "Draft pull request: not analysed",
                "This repository's `.github/hunkscan.yml` sets `drafts: skip`. The analysis runs when the pull request is marked ready for review.",
            )
            .await?;
            return Ok(JobOutcome::SkippedDraft);
        }

        let (mut change_set, unreadable) = changes::build(&files, &plan, &blobs);
        let before = change_set.files.len();
        change_set.files.retain(|f| !config.ignores(&f.diff.path));
        let ignored = before - change_set.files.len();
        if ignored > 0 {
            notes.push(format!(
                "{ignored} file{} ignored by `paths.ignore` ({})",
                if ignored == 1 { "" } else { "s" },
                config.ignore_patterns.join(", ")
            ));
        }
        if files.len() >= crate::github::api::MAX_PULL_REQUEST_FILES {
            notes.push(format!(
                "GitHub lists only the first {} files of a pull request; later files were not analysed.",
                crate::github::api::MAX_PULL_REQUEST_FILES
            ));
        }

        let engine = Arc::clone(&self.engine);
        let enabled = config.clone();
        let (change_set, mut report) = tokio::task::spawn_blocking(move || {
            let report = engine.scan_with(&change_set, &|kind| enabled.runs(kind));
            (change_set, report)
        })
        .await
        .map_err(|error| {
            let message = if error.is_panic() {
                panic_message(error.into_panic())
            } else {
                error.to_string()
            };
            JobError::Crashed(message)
        })?;
        apply_rule_config(&mut report, &config);
        report
            .skipped
            .extend(unreadable.into_iter().map(|(path, reason)| Skipped {
                path,
                analyzer: None,
                reason,
                partial: false,
            }));

        // Our earlier comments, by fingerprint, so nothing is said twice.
        let existing = github.list_review_comments(&job.repo, job.number).await?;
        let mut posted: HashMap<String, (u64, String)> = HashMap::new();
        for comment in &existing {
            let is_bot = comment.user.as_ref().is_some_and(|u| u.kind == "Bot");
            if let (true, None, Some(fingerprint)) = (
                is_bot,
                comment.in_reply_to_id,
                review::fingerprint_in(&comment.body),
            ) {
                posted.insert(fingerprint.to_owned(), (comment.id, comment.path.clone()));
            }
        }
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

        if self.superseded(job) {
            self.complete_without_analysis(
                github,
                &job.repo,
                check_id,
                "neutral",
                "Superseded by a newer push",
                "A newer commit was pushed while this one was being analysed; its own check run has the results.",
            )
            .await?;
            return Ok(JobOutcome::Superseded);
        }

        let mut stats = ReviewStats {
            posted: 0,
            already_posted: plan.already_posted,
            not_commentable: plan.not_commentable,
            over_cap: plan.over_cap,
            resolved: 0,
        };
        if !plan.comments.is_empty() {
            let count = plan.comments.len();
            let review_body = CreateReview {
                commit_id: job.head_sha.clone(),
                body: format!(
                    "hunkscan found {count} new problem{} on lines this pull request changes. The `hunkscan` check has the full list.",
                    if count == 1 { "" } else { "s" }
                ),
                event: "COMMENT".into(),
                comments: plan.comments,
            };
            match github
                .create_review(&job.repo, job.number, &review_body)
                .await
            {
                Ok(()) => stats.posted = count,
                Err(error) => {
                    // The findings are still in the check run's annotations.
                    tracing::warn!(id = %job.id, %error, "review not posted");
                    notes.push(format!("The inline review could not be posted ({error}); every finding is in the annotations."));
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
                    tracing::warn!(id = %job.id, %error, "threads not resolved");
                    notes.push(format!(
                        "Threads of fixed findings could not be resolved ({error})."
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

/// Sends the output: annotations in batches of 50, the last batch with the
/// completion, so a pull request with up to 50 findings costs one request.
async fn complete(
    github: &Installation,
    repo: &RepoRef,
    check_id: u64,
    output: check_run::CheckRunOutput,
) -> Result<(), GitHubError> {
    let batches: Vec<&[crate::github::types::Annotation]> = output
        .annotations
        .chunks(MAX_ANNOTATIONS_PER_REQUEST)
        .collect();
    let last = batches.len().saturating_sub(1);
    let output_with = |annotations: &[crate::github::types::Annotation]| CheckOutput {
        title: output.title.clone(),
        summary: output.summary.clone(),
        text: None,
        annotations: annotations.to_vec(),
    };
    for batch in &batches[..last] {
        let update = UpdateCheckRun {
            output: Some(output_with(batch)),
            ..UpdateCheckRun::default()
        };
        github.update_check_run(repo, check_id, &update).await?;
    }
    let final_update = UpdateCheckRun {
        status: Some("completed".into()),
        conclusion: Some(output.conclusion.into()),
        completed_at: Some(now()),
        output: Some(output_with(batches.get(last).copied().unwrap_or(&[]))),
    };
    github.update_check_run(repo, check_id, &final_update).await
}

async fn resolve_gone(
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

/// `rules.disable` and `rules.severity` from the repository config.
fn apply_rule_config(report: &mut ScanReport, config: &RepoConfig) {
    report
        .findings
        .retain(|f| !config.disabled_rules.contains(&f.rule_id));
    for finding in &mut report.findings {
        if let Some(severity) = config.severity_overrides.get(&finding.rule_id) {
            finding.severity = *severity;
        }
    }
}

fn config_notes(problems: &[ConfigProblem]) -> Vec<String> {
    problems
        .iter()
        .map(|p| format!("Configuration ignored, defaults apply: {p}"))
        .collect()
}

fn panic_message(payload: Box<dyn std::any::Any + Send>) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "panic without a message".into())
}

fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}
