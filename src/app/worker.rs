//! A job, from the in-progress check run to the completed one: read the pull
//! request, analyse it, post one review, resolve what was fixed, complete the
//! check. Whatever fails, a check run this worker created is completed.

use super::changes::{self, FetchPlan};
use super::webhook::{CHECK_NAME, Job, check_external_id};
use crate::config::repo::{DraftPolicy, ErrorConclusion, FailOn};
use crate::engine::{ChangedFile, Skipped};
use crate::github::types::{
    Annotation, CheckOutput, CreateCheckRun, CreateReview, RepoRef, UpdateCheckRun,
};
use crate::github::{GitHubApp, GitHubError, Installation};
use crate::metrics::{FindingLabels, JobLabels, Metrics};
use crate::pipeline::{self, Pipeline};
use crate::report::check_run::{
    self, CheckContext, MAX_ANNOTATIONS_PER_REQUEST, ReviewStats, is_new_problem,
};
use crate::report::failure::{self, FailureClass};
use crate::report::review;
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Instant;
use thiserror::Error;
use tokio::sync::{Semaphore, mpsc};
use tokio::task::JoinHandle;
use tracing::Instrument;

/// Why a job stopped early.
#[derive(Debug, Error)]
pub enum JobError {
    /// A GitHub call failed after its retries.
    #[error(transparent)]
    GitHub(#[from] GitHubError),
    /// The analysis itself panicked (a bug in hunkscan).
    #[error("the analysis crashed: {0}")]
    Crashed(String),
    /// The job ran past its deadline.
    #[error("the job ran past its {} s deadline", .0.as_secs())]
    Deadline(std::time::Duration),
}

impl JobError {
    /// What a user is told: the class of failure, never the error's text.
    pub fn class(&self) -> FailureClass {
        match self {
            JobError::GitHub(error) => github_failure_class(error),
            JobError::Crashed(_) => FailureClass::Internal,
            JobError::Deadline(_) => FailureClass::AnalysisDeadline,
        }
    }
}

/// GitHub's failures as a user can act on them.
pub fn github_failure_class(error: &GitHubError) -> FailureClass {
    match error {
        GitHubError::RateLimited { .. } => FailureClass::RateLimited,
        GitHubError::Status { status: 429, .. } => FailureClass::RateLimited,
        GitHubError::Status { status, .. } if *status >= 500 => FailureClass::GitHubUnavailable,
        GitHubError::Status { .. } | GitHubError::GraphQl { .. } => FailureClass::GitHubRefused,
        GitHubError::Timeout { .. }
        | GitHubError::Transport { .. }
        | GitHubError::Ambiguous { .. }
        | GitHubError::Decode { .. } => FailureClass::GitHubUnavailable,
        GitHubError::Jwt(_) => FailureClass::Internal,
    }
}

/// A failure told to users as its class and an id; the details go to the
/// log under the same id.
fn reported(error: &dyn std::fmt::Display, class: FailureClass, what: &str) -> String {
    let error_id = failure::new_error_id();
    tracing::warn!(
        error_id,
        class = class.label(),
        error = %crate::render::Untrusted(&error.to_string()),
        "{what}"
    );
    format!(
        "{} (error id `{error_id}`)",
        class.label().replace('_', " ")
    )
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

/// What a job knows that its error path needs.
#[derive(Debug, Clone, Copy)]
struct JobState {
    /// The repository's `on_error`, once the config was read.
    on_error: ErrorConclusion,
    /// The analysis's own conclusion, once computed: a failure to write it
    /// back must not turn a `failure` into a passing `neutral`.
    conclusion: Option<&'static str>,
}

/// A check run in progress, to complete if the process stops.
#[derive(Debug, Clone)]
struct ActiveCheck {
    installation: u64,
    repo: RepoRef,
    check_id: u64,
}

/// Held while a job of one pull request runs.
type PullLock = Arc<tokio::sync::Mutex<()>>;

/// Runs jobs.
pub struct Worker {
    github: Arc<GitHubApp>,
    pipeline: Arc<Pipeline>,
    metrics: Arc<Metrics>,
    concurrency: usize,
    slots: Arc<Semaphore>,
    pull_locks: Mutex<HashMap<(RepoRef, u64), PullLock>>,
    active: Mutex<HashMap<String, ActiveCheck>>,
    /// Longest a job may take, from its check run's creation to its completion.
    job_deadline: std::time::Duration,
}

/// A job's deadline unless configured (`HUNKSCAN_JOB_DEADLINE_SECS`).
pub const DEFAULT_JOB_DEADLINE: std::time::Duration = std::time::Duration::from_secs(600);

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // The maps stay consistent whatever panicked while holding them.
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

impl Worker {
    /// A worker running at most `concurrency` jobs at once.
    pub fn new(
        github: Arc<GitHubApp>,
        pipeline: Arc<Pipeline>,
        metrics: Arc<Metrics>,
        concurrency: usize,
    ) -> Self {
        let concurrency = concurrency.max(1);
        Self {
            github,
            pipeline,
            metrics,
            concurrency,
            slots: Arc::new(Semaphore::new(concurrency)),
            pull_locks: Mutex::default(),
            active: Mutex::default(),
            job_deadline: DEFAULT_JOB_DEADLINE,
        }
    }

    /// Jobs that run longer than `deadline` are stopped and their check run
    /// completed with the repository's error conclusion.
    pub fn with_job_deadline(mut self, deadline: std::time::Duration) -> Self {
        self.job_deadline = deadline;
        self
    }

    /// Takes jobs from `receiver` only when a slot is free, so a full queue
    /// pushes back on deliveries (503) instead of growing without bound.
    pub fn start(self: Arc<Self>, mut receiver: mpsc::Receiver<Job>) -> JoinHandle<()> {
        tokio::spawn(async move {
            loop {
                let Ok(slot) = Arc::clone(&self.slots).acquire_owned().await else {
                    return;
                };
                let Some(job) = receiver.recv().await else {
                    return;
                };
                let worker = Arc::clone(&self);
                tokio::spawn(async move {
                    worker.run(job).await;
                    drop(slot);
                });
            }
        })
    }

    /// Waits up to `deadline` for running jobs; completes the check runs of
    /// those still running as `neutral` ("interrupted, re-run"), so a restart
    /// never leaves a check in progress. Answers how many were interrupted.
    pub async fn drain(&self, deadline: std::time::Duration) -> usize {
        let all = u32::try_from(self.concurrency).unwrap_or(u32::MAX);
        if let Ok(Ok(_all_slots)) =
            tokio::time::timeout(deadline, self.slots.acquire_many(all)).await
        {
            return 0;
        }
        let interrupted: Vec<ActiveCheck> = lock(&self.active).values().cloned().collect();
        for check in &interrupted {
            let github = self.github.installation(check.installation);
            let update = completion(
                "neutral",
                "Interrupted: hunkscan restarted during the analysis",
                "The server stopped while this commit was being analysed. Re-run this check (or push again) to analyse it.",
            );
            if let Err(error) = github
                .update_check_run(&check.repo, check.check_id, &update)
                .await
            {
                tracing::error!(check_id = check.check_id, %error, "cannot complete an interrupted check run");
            }
        }
        interrupted.len()
    }

    fn pull_lock(&self, job: &Job) -> PullLock {
        let mut locks = lock(&self.pull_locks);
        // Forget the locks nobody holds, so the map does not grow forever.
        locks.retain(|_, l| Arc::strong_count(l) > 1);
        Arc::clone(locks.entry((job.repo.clone(), job.number)).or_default())
    }

    /// Runs one job to the end. Jobs of one pull request run one after
    /// another, so two of them never post the same comment.
    pub async fn run(self: Arc<Self>, job: Job) -> JobOutcome {
        let started = Instant::now();
        let span = tracing::info_span!("job", id = %job.id, repo = %job.repo, pr = job.number, head = %job.head_sha);
        let pull_lock = self.pull_lock(&job);
        let outcome = async {
            let _serialised = pull_lock.lock().await;
            Arc::clone(&self).run_inner(job.clone()).await
        }
        .instrument(span)
        .await;
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

    async fn run_inner(self: Arc<Self>, mut job: Job) -> JobOutcome {
        let github = self.github.installation(job.installation_id);
        if job.base_sha.is_empty() {
            // A re-run whose payload did not name the pull request's commits.
            match github.get_pull_request(&job.repo, job.number).await {
                Ok(pull) if pull.head_sha == job.head_sha => {
                    job.base_sha = pull.base_sha;
                    job.draft = pull.draft;
                }
                Ok(_) => return JobOutcome::Superseded,
                Err(error) => {
                    tracing::error!(%error, "cannot read the pull request to re-run");
                    return JobOutcome::Abandoned;
                }
            }
        }
        let create = CreateCheckRun {
            name: CHECK_NAME.into(),
            head_sha: job.head_sha.clone(),
            status: "in_progress".into(),
            started_at: now(),
            external_id: Some(check_external_id(&job.repo, job.number)),
            output: Some(CheckOutput {
                title: "Analysing the changed lines".into(),
                summary: "hunkscan is reading this pull request's changes.".into(),
                text: None,
                annotations: Vec::new(),
            }),
        };
        let check_id = match github.create_check_run(&job.repo, &create).await {
            Ok(id) => id,
            Err(error) => {
                tracing::error!(%error, "cannot create the check run; nothing to complete");
                return JobOutcome::Abandoned;
            }
        };
        lock(&self.active).insert(
            job.id.clone(),
            ActiveCheck {
                installation: job.installation_id,
                repo: job.repo.clone(),
                check_id,
            },
        );
        let state = Arc::new(Mutex::new(JobState {
            on_error: ErrorConclusion::Neutral,
            conclusion: None,
        }));
        // In its own task, so that even a panic outside the analysis (a bug)
        // ends here and the check run is completed.
        let task = tokio::spawn({
            let worker = Arc::clone(&self);
            let github = github.clone();
            let job = job.clone();
            let state = Arc::clone(&state);
            async move { worker.analyse(&github, &job, check_id, &state).await }
        });
        let abort = task.abort_handle();
        let analysis = match tokio::time::timeout(self.job_deadline, task).await {
            Ok(joined) => joined.map_err(crashed).and_then(|result| result),
            Err(_elapsed) => {
                // Files already being scanned stop at their own deadline.
                abort.abort();
                Err(JobError::Deadline(self.job_deadline))
            }
        };
        let outcome = match analysis {
            Ok(outcome) => outcome,
            Err(error) => {
                let state = *lock(&state);
                let conclusion = state.conclusion.unwrap_or(state.on_error.as_str());
                let class = error.class();
                let error_id = failure::new_error_id();
                // The details stay here; the check run names the class and
                // the id, nothing of the error's own text.
                tracing::error!(
                    error_id,
                    class = class.label(),
                    error = %crate::render::Untrusted(&error.to_string()),
                    conclusion,
                    "job failed; completing its check run"
                );
                let update = completion(
                    conclusion,
                    "hunkscan could not finish this analysis",
                    &failure::summary(class, &error_id, &job.head_sha),
                );
                if let Err(error) = github
                    .patient()
                    .update_check_run(&job.repo, check_id, &update)
                    .await
                {
                    tracing::error!(check_id, %error, "cannot complete the check run");
                }
                JobOutcome::Failed
            }
        };
        lock(&self.active).remove(&job.id);
        outcome
    }

    async fn analyse(
        &self,
        github: &Installation,
        job: &Job,
        check_id: u64,
        state: &Mutex<JobState>,
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
        if let (false, Some(login)) = (plan.comments.is_empty(), &bot_login) {
            match self
                .post_review(github, job, plan.comments, &plan.commented, login)
                .await
            {
                Ok(count) => stats.posted = count,
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

    /// Our own top-level review comments on the pull request: fingerprint →
    /// (comment id, path). Only the app's bot account counts, so nobody can
    /// silence a finding by writing a marker into a comment.
    async fn posted_comments(
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
    async fn post_review(
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
fn completion(conclusion: &str, title: &str, summary: &str) -> UpdateCheckRun {
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
async fn complete(
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

/// A task that did not finish: a panic (a bug) keeps its message.
fn crashed(error: tokio::task::JoinError) -> JobError {
    JobError::Crashed(if error.is_panic() {
        panic_message(error.into_panic())
    } else {
        error.to_string()
    })
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
