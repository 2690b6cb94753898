//! A job, from the in-progress check run to the completed one: read the pull
//! request, analyse it (`analyse`), post one review, resolve what was fixed,
//! complete the check (`publish`). Whatever fails, a check run this worker
//! created is completed (`errors` says what users are told).

mod analyse;
mod errors;
mod publish;
mod subject;

use errors::crashed;
pub use errors::{JobError, github_failure_class};
use publish::completion;

use super::webhook::{CHECK_NAME, Job, JobKind};
use crate::config::repo::ErrorConclusion;
use crate::github::GitHubApp;
use crate::github::types::{CheckOutput, CreateCheckRun, RepoRef};
use crate::metrics::{JobLabels, Metrics};
use crate::pipeline::Pipeline;
use crate::report::failure;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;
use tokio::sync::{Semaphore, mpsc};
use tokio::task::JoinHandle;
use tracing::Instrument;

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
        // Hook: a triage command is a light job, no check run of its own.
        if let JobKind::Triage(command) = &job.kind {
            return subject::triage(&github, &job, command).await;
        }
        // Hook: a re-run that named no pull request (a fork's) finds it.
        if job.number == 0 && job.kind == JobKind::PullRequest {
            match subject::find(&github, &mut job).await {
                Ok(true) => {}
                Ok(false) => return JobOutcome::Abandoned,
                Err(error) => {
                    tracing::error!(%error, "cannot find what the re-run is about");
                    return JobOutcome::Abandoned;
                }
            }
        }
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
            external_id: Some(job.check_external_id()),
            output: Some(CheckOutput {
                title: "Analysing the changed lines".into(),
                summary: "hunkscan is reading this pull request's changes.".into(),
                text: None,
                annotations: Vec::new(),
            }),
        };
        let check = match github.create_check_run(&job.repo, &create).await {
            Ok(check) => check,
            Err(error) => {
                tracing::error!(%error, "cannot create the check run; nothing to complete");
                return JobOutcome::Abandoned;
            }
        };
        let check_id = check.id;
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
            async move { worker.analyse(&github, &job, &check, &state).await }
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
}

fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}
