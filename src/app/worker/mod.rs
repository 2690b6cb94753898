//! A job, from the durable store to the completed check run: claimed under a
//! lease that a keeper renews (`dispatch`), its check run created `queued`,
//! the pull request analysed (`analyse`), one review posted, fixed threads
//! resolved, the check completed (`publish`). Every write is recorded in the
//! store, so a job taken up again after a crash or a deploy writes nothing
//! twice. A transient GitHub failure puts the job back with a delay, up to a
//! retry age; after that, or on any other failure, the check run is
//! completed with the error conclusion (`errors` says what users are told).

mod analyse;
pub mod cpu;
mod dispatch;
mod errors;
mod licenses;
mod publish;
mod subject;

use errors::crashed;
pub use errors::{JobError, github_failure_class};
use publish::completion;

use super::store::{self, Claimed, Lease, Store};
use super::webhook::{CHECK_NAME, Job, JobKind};
use crate::config::repo::ErrorConclusion;
use crate::github::api::CreatedCheckRun;
use crate::github::types::{CheckOutput, CreateCheckRun};
use crate::github::{GitHubApp, Installation};
use crate::metrics::{JobLabels, Metrics};
use crate::pipeline::Pipeline;
use crate::report::failure::{self, FailureClass};
use chrono::Utc;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{Notify, Semaphore, watch};
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
    /// Put back in the store to be tried again later (GitHub failed).
    Retried,
    /// Its lease was lost (another worker took it over, or it was
    /// superseded): it stopped without writing more.
    LeaseLost,
    /// Stopped by a shutdown and put back in the store for the next start.
    Released,
}

impl JobOutcome {
    fn label(self) -> &'static str {
        match self {
            JobOutcome::Completed => "completed",
            JobOutcome::Superseded => "superseded",
            JobOutcome::SkippedDraft => "skipped_draft",
            JobOutcome::Failed => "failed",
            JobOutcome::Abandoned => "abandoned",
            JobOutcome::Retried => "retried",
            JobOutcome::LeaseLost => "lease_lost",
            JobOutcome::Released => "released",
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

/// What a running job carries for the writes it must record.
pub(crate) struct JobContext {
    /// The claim; every store write presents it.
    lease: Lease,
    /// An earlier attempt already posted the review.
    reviewed: bool,
}

/// A job this process runs, to stop and put back on shutdown.
struct RunningJob {
    lease: Lease,
    abort: tokio::task::AbortHandle,
}

/// How the worker runs jobs (from the settings).
#[derive(Debug, Clone)]
pub struct WorkerOptions {
    /// Jobs at once in this process.
    pub concurrency: usize,
    /// Longest a job may take, from its claim to its check run's completion.
    pub job_deadline: Duration,
    /// A claim's lease; renewed every third of it while the job runs.
    pub lease: Duration,
    /// A job GitHub keeps failing is retried (with a growing delay) until it
    /// is this old; then its check run completes with the error conclusion.
    pub retry_max_age: Duration,
    /// The first retry's delay; it doubles per attempt, up to 5 minutes.
    pub retry_base_delay: Duration,
}

impl Default for WorkerOptions {
    fn default() -> Self {
        Self {
            concurrency: 4,
            job_deadline: DEFAULT_JOB_DEADLINE,
            lease: DEFAULT_LEASE,
            retry_max_age: DEFAULT_RETRY_MAX_AGE,
            retry_base_delay: Duration::from_secs(5),
        }
    }
}

/// Runs jobs.
pub struct Worker {
    github: Arc<GitHubApp>,
    pipeline: Arc<Pipeline>,
    /// Where the analyses' CPU work runs, below the server's priority.
    analysis: cpu::AnalysisPool,
    metrics: Arc<Metrics>,
    store: Arc<dyn Store>,
    /// Unique per process: the store tells this worker's leases from others'.
    id: String,
    options: WorkerOptions,
    slots: Arc<Semaphore>,
    running: Mutex<HashMap<String, RunningJob>>,
    /// Rung when a delivery was stored, so a free worker claims at once.
    wake: Notify,
    /// Set on shutdown: claim nothing more.
    stopping: watch::Sender<bool>,
}

/// A job's deadline unless configured (`HUNKSCAN_JOB_DEADLINE_SECS`).
pub const DEFAULT_JOB_DEADLINE: Duration = Duration::from_secs(600);
/// A claim's lease unless configured (`HUNKSCAN_LEASE_SECS`).
pub const DEFAULT_LEASE: Duration = Duration::from_secs(60);
/// How long a failing job is retried unless configured (`HUNKSCAN_RETRY_MAX_AGE_SECS`).
pub const DEFAULT_RETRY_MAX_AGE: Duration = Duration::from_secs(3600);

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // The maps stay consistent whatever panicked while holding them.
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

impl Worker {
    /// A worker taking jobs from `store`, with one analysis thread per job
    /// it runs at once.
    pub fn new(
        github: Arc<GitHubApp>,
        pipeline: Arc<Pipeline>,
        metrics: Arc<Metrics>,
        store: Arc<dyn Store>,
        options: WorkerOptions,
    ) -> Result<Self, rayon::ThreadPoolBuildError> {
        let concurrency = options.concurrency.max(1);
        Ok(Self {
            github,
            pipeline,
            analysis: cpu::AnalysisPool::new(concurrency)?,
            metrics,
            store,
            id: worker_id(),
            slots: Arc::new(Semaphore::new(concurrency)),
            options: WorkerOptions {
                concurrency,
                ..options
            },
            running: Mutex::default(),
            wake: Notify::new(),
            stopping: watch::channel(false).0,
        })
    }

    /// This worker's id in the store's leases.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Claims the next job at once (a delivery was just stored).
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// Stops claiming; waits up to `deadline` for running jobs; puts those
    /// still running back in the store, where the next start (or another
    /// instance) takes them up. Their check runs stay `queued`, which is
    /// true. Answers how many were put back.
    pub async fn drain(&self, deadline: Duration) -> usize {
        self.stopping.send_replace(true);
        let all = u32::try_from(self.options.concurrency).unwrap_or(u32::MAX);
        if let Ok(Ok(_all_slots)) =
            tokio::time::timeout(deadline, self.slots.acquire_many(all)).await
        {
            return 0;
        }
        let interrupted: Vec<RunningJob> = lock(&self.running).drain().map(|(_, j)| j).collect();
        for job in &interrupted {
            job.abort.abort();
            match self.store.release(&job.lease, Utc::now()).await {
                Ok(_) => tracing::info!(job = %job.lease.job_id, "job put back for the next start"),
                Err(error) => {
                    tracing::error!(job = %job.lease.job_id, %error, "cannot put the job back; its lease expires instead")
                }
            }
        }
        interrupted.len()
    }

    /// Runs one claimed job to the end, under its lease.
    async fn run(self: Arc<Self>, claimed: Claimed) -> JobOutcome {
        let started = Instant::now();
        let job_id = claimed.job.id.clone();
        let span = tracing::info_span!("job", id = %claimed.job.id, repo = %claimed.job.repo, pr = claimed.job.number, head = %claimed.job.head_sha, attempt = claimed.lease.attempt);
        let lease = claimed.lease.clone();
        let (lost, mut lost_seen) = watch::channel(false);
        let keeper = tokio::spawn(dispatch::keep_lease(
            Arc::clone(&self.store),
            lease.clone(),
            self.options.lease,
            lost,
        ));
        let task = tokio::spawn(Arc::clone(&self).run_claimed(claimed).instrument(span));
        lock(&self.running).insert(
            job_id.clone(),
            RunningJob {
                lease,
                abort: task.abort_handle(),
            },
        );
        let abort = task.abort_handle();
        let outcome = tokio::select! {
            joined = task => match joined {
                Ok(outcome) => outcome,
                // Aborted by a shutdown (the job is back in the store).
                Err(error) if error.is_cancelled() => JobOutcome::Released,
                Err(error) => {
                    tracing::error!(job = %job_id, error = %crashed(error), "job task failed");
                    JobOutcome::Failed
                }
            },
            _ = lost_seen.wait_for(|lost| *lost) => {
                abort.abort();
                tracing::warn!(job = %job_id, "lease lost; the job stops without writing more");
                JobOutcome::LeaseLost
            }
        };
        keeper.abort();
        lock(&self.running).remove(&job_id);
        self.metrics
            .jobs
            .get_or_create(&JobLabels {
                outcome: outcome.label(),
            })
            .inc();
        self.metrics
            .job_seconds
            .observe(started.elapsed().as_secs_f64());
        tracing::info!(id = %job_id, outcome = outcome.label(), ms = started.elapsed().as_millis() as u64, "job finished");
        outcome
    }

    /// The job's work: its check run, the analysis, the outcome recorded.
    async fn run_claimed(self: Arc<Self>, claimed: Claimed) -> JobOutcome {
        let Claimed {
            mut job,
            lease,
            enqueued_at,
            written,
            ..
        } = claimed;
        let github = self.github.installation(job.installation_id);
        // Hook: a triage command is a light job, no check run of its own.
        // Every way out records the outcome in the store, or the job would be
        // taken over and run again when its lease runs out.
        if let JobKind::Triage(command) = &job.kind {
            let outcome = subject::triage(&github, &job, command).await;
            return self.finish(&lease, outcome).await;
        }
        // Hook: a re-run that named no pull request (a fork's) finds it.
        if job.number == 0 && job.kind == JobKind::PullRequest {
            match subject::find(&github, &mut job).await {
                Ok(true) => {}
                Ok(false) => return self.finish(&lease, JobOutcome::Abandoned).await,
                Err(error) => {
                    tracing::error!(%error, "cannot find what the re-run is about");
                    return self.finish(&lease, JobOutcome::Abandoned).await;
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
                Ok(_) => return self.finish(&lease, JobOutcome::Superseded).await,
                Err(error) => {
                    let class = github_failure_class(&error);
                    return self
                        .retry_or_give_up(&github, &job, &lease, enqueued_at, None, class, &error)
                        .await;
                }
            }
        }
        let check = match self.check_run(&github, &job, &lease, &written).await {
            Ok(check) => check,
            Err(error) => {
                let class = github_failure_class(&error);
                return self
                    .retry_or_give_up(&github, &job, &lease, enqueued_at, None, class, &error)
                    .await;
            }
        };
        let check_id = check.id;
        let state = Arc::new(Mutex::new(JobState {
            on_error: ErrorConclusion::Neutral,
            conclusion: None,
        }));
        let context = Arc::new(JobContext {
            lease: lease.clone(),
            reviewed: written.review.is_some(),
        });
        // In its own task, so that even a panic outside the analysis (a bug)
        // ends here and the check run is completed.
        let task = tokio::spawn({
            let worker = Arc::clone(&self);
            let github = github.clone();
            let job = job.clone();
            let state = Arc::clone(&state);
            let context = Arc::clone(&context);
            async move {
                worker
                    .analyse(&github, &job, &check, &state, &context)
                    .await
            }
        });
        let abort = task.abort_handle();
        let analysis = match tokio::time::timeout(self.options.job_deadline, task).await {
            Ok(joined) => joined.map_err(crashed).and_then(|result| result),
            Err(_elapsed) => {
                // Files already being scanned stop at their own deadline.
                abort.abort();
                Err(JobError::Deadline(self.options.job_deadline))
            }
        };
        match analysis {
            Ok(outcome) => self.finish(&lease, outcome).await,
            Err(error) => {
                let class = error.class();
                let state = *lock(&state);
                // An analysis that knows its own conclusion is not retried:
                // only its writing back failed, and a retry would redo it all.
                if state.conclusion.is_none() {
                    return self
                        .retry_or_give_up(
                            &github,
                            &job,
                            &lease,
                            enqueued_at,
                            Some((check_id, state)),
                            class,
                            &error,
                        )
                        .await;
                }
                self.fail(&github, &job, &lease, check_id, state, class, &error)
                    .await
            }
        }
    }

    /// The job's check run: the one an earlier attempt recorded, or one an
    /// earlier attempt created without recording it, or a new one
    /// (`queued`: visible at once, and true of a job put back by a deploy).
    async fn check_run(
        &self,
        github: &Installation,
        job: &Job,
        lease: &Lease,
        written: &store::Written,
    ) -> Result<CreatedCheckRun, crate::github::GitHubError> {
        // A check run taken up again: the pull requests sharing its commit
        // are not known without another request; this job's own is judged.
        let resumed = |id| CreatedCheckRun {
            id,
            pull_requests: Vec::new(),
        };
        if let Some(id) = written.check_run_id {
            return Ok(resumed(id));
        }
        let external_id = job.check_external_id();
        if lease.attempt > 1
            && let Some(id) = github
                .find_open_check_run(&job.repo, &job.head_sha, CHECK_NAME, &external_id)
                .await?
        {
            self.record(self.store.record_check_run(lease, id).await, "check run");
            return Ok(resumed(id));
        }
        let create = CreateCheckRun {
            name: CHECK_NAME.into(),
            head_sha: job.head_sha.clone(),
            status: "queued".into(),
            started_at: now(),
            external_id: Some(external_id),
            output: Some(CheckOutput {
                title: "Analysing the changed lines".into(),
                summary: "hunkscan is reading this pull request's changes.".into(),
                text: None,
                annotations: Vec::new(),
            }),
        };
        let created = github.create_check_run(&job.repo, &create).await?;
        self.record(
            self.store.record_check_run(lease, created.id).await,
            "check run",
        );
        Ok(created)
    }

    /// Records the job's outcome in the store.
    async fn finish(&self, lease: &Lease, outcome: JobOutcome) -> JobOutcome {
        self.record(
            self.store
                .complete(lease, store::Outcome::from(outcome), Utc::now())
                .await,
            "outcome",
        );
        outcome
    }

    /// A failure GitHub may get over (unavailable, rate limited) puts the
    /// job back with a delay while it is younger than the retry age;
    /// anything else, or an old job, completes its check run (creating it
    /// if need be) with the error conclusion.
    #[allow(clippy::too_many_arguments)]
    async fn retry_or_give_up(
        &self,
        github: &Installation,
        job: &Job,
        lease: &Lease,
        enqueued_at: chrono::DateTime<Utc>,
        check: Option<(u64, JobState)>,
        class: FailureClass,
        error: &(dyn std::fmt::Display + Sync),
    ) -> JobOutcome {
        let transient = matches!(
            class,
            FailureClass::GitHubUnavailable | FailureClass::RateLimited
        );
        let age = (Utc::now() - enqueued_at).to_std().unwrap_or_default();
        if transient && age < self.options.retry_max_age {
            // Not before a rate limit of the installation resets: trying
            // earlier would only fail again.
            let delay = dispatch::retry_delay(self.options.retry_base_delay, lease.attempt)
                .max(github.paused_for().unwrap_or_default());
            tracing::warn!(
                class = class.label(),
                error = %crate::render::Untrusted(&error.to_string()),
                delay_ms = delay.as_millis() as u64,
                "GitHub failed; the job is put back to try again"
            );
            let not_before = Utc::now() + chrono::Duration::from_std(delay).unwrap_or_default();
            self.record(
                self.store
                    .retry_later(lease, not_before, class.label())
                    .await,
                "retry",
            );
            return JobOutcome::Retried;
        }
        let state = check.map_or(
            JobState {
                on_error: ErrorConclusion::Neutral,
                conclusion: None,
            },
            |(_, state)| state,
        );
        let check_id = match check {
            Some((id, _)) => id,
            None => match self
                .check_run(github, job, lease, &store::Written::default())
                .await
            {
                Ok(check) => check.id,
                Err(error) => {
                    tracing::error!(%error, "cannot create the check run to report the failure");
                    return self.finish(lease, JobOutcome::Abandoned).await;
                }
            },
        };
        self.fail(github, job, lease, check_id, state, class, error)
            .await
    }

    /// Completes the check run with the error conclusion (or the
    /// analysis's own, when it had one) and a summary naming the class.
    #[allow(clippy::too_many_arguments)]
    async fn fail(
        &self,
        github: &Installation,
        job: &Job,
        lease: &Lease,
        check_id: u64,
        state: JobState,
        class: FailureClass,
        error: &(dyn std::fmt::Display + Sync),
    ) -> JobOutcome {
        let conclusion = state.conclusion.unwrap_or(state.on_error.as_str());
        let error_id = failure::new_error_id();
        // The details stay here; the check run names the class and the
        // id, nothing of the error's own text.
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
        self.finish(lease, JobOutcome::Failed).await
    }

    /// Logs a store write that failed or was refused (the lease was lost).
    fn record(&self, written: Result<bool, store::StoreError>, what: &str) {
        match written {
            Ok(true) => {}
            Ok(false) => tracing::warn!(what, "the store refused the write: the lease was lost"),
            Err(error) => tracing::error!(what, %error, "cannot record in the store"),
        }
    }
}

/// Unique per process and start: host, process id and a random part.
fn worker_id() -> String {
    let host = std::env::var("FLY_MACHINE_ID")
        .or_else(|_| std::env::var("HOSTNAME"))
        .unwrap_or_else(|_| "host".to_owned());
    format!("{host}-{}-{}", std::process::id(), failure::new_error_id())
}

fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}
