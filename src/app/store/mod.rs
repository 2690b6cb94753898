//! The durable job store: nothing accepted is lost.
//!
//! A lost job is a pull request that cannot merge (the required `hunkscan`
//! check never completes), and GitHub never redelivers by itself. So a
//! delivery is acknowledged only once its jobs are stored here, workers
//! *claim* jobs under a lease instead of taking them, and a job whose worker
//! died (its lease expired) is taken over by another worker or instance.
//!
//! Two implementations of one [`Store`] trait, chosen by [`connect`] from the
//! `DATABASE_URL` scheme: [`SqliteStore`] (embedded, one instance, a file in
//! WAL mode) and [`PostgresStore`] (any number of instances share it). Both
//! run the same test suite (`tests/store.rs`).
//!
//! Choices that shape the API:
//! - **Time is an argument.** Every method that compares times takes `now`
//!   (UTC), so tests are deterministic without sleeping and the rules are
//!   plain to read. Instances sharing PostgreSQL must keep their clocks in
//!   sync (NTP); a skew of a second against leases of a minute is harmless.
//!   Times are kept to the millisecond.
//! - **A lease is a fencing token.** [`Lease`] names the job, the worker and
//!   the claim's attempt number; every write for a job checks all three, so
//!   a worker that lost its lease (expired and taken over) cannot change the
//!   job any more and learns it from a `false`.
//! - **One writer per job at GitHub.** A job's lease holder is the only one
//!   that writes its check run and review: [`Store::supersede`] leaves jobs
//!   under a live lease alone (their worker sees the newer head itself).
//! - **Jobs of one pull request never run at once**: a job is not claimable
//!   while another job of the same repository and pull request holds a live
//!   lease, so two of them never post the same comment.
//! - **Completed external writes are recorded** ([`Store::record_check_run`],
//!   [`Store::record_review`]) and handed back on claim ([`Written`]), so an
//!   interrupted job resumes without a second check run or review.

mod batch;
mod codec;
pub mod delivery_log;
pub mod intake;
mod license_cache;
mod migrations;
mod postgres;
mod sqlite;

pub use postgres::PostgresStore;
pub use sqlite::SqliteStore;

use super::queue::Submitted;
use super::webhook::Job;
use crate::github::types::RepoRef;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use std::sync::Arc;
use std::time::Duration;
use thiserror::Error;

/// Most jobs one [`Store::claim`] hands out, whatever was asked.
pub const MAX_CLAIM: usize = 256;

/// What went wrong in the store.
#[derive(Debug, Error)]
pub enum StoreError {
    /// `DATABASE_URL` names no database this store speaks.
    #[error("unsupported database URL scheme {0:?}: use sqlite:, postgres:// or postgresql://")]
    UnsupportedUrl(String),
    /// The database refused or could not be reached.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// The schema could not be brought up to date at start-up.
    #[error("database migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// A stored row this version cannot read (or a value it cannot store).
    #[error("job {id}: {message}")]
    Encoding {
        /// The job.
        id: String,
        /// What could not be read or written.
        message: String,
    },
    /// A time or duration past what the store can represent.
    #[error("{0} is out of range")]
    OutOfRange(&'static str),
    /// The task that writes incoming deliveries is gone (the server is
    /// stopping).
    #[error("{0}")]
    Unavailable(String),
}

/// Where a job is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobState {
    /// Waiting for a worker (possibly until `not_before`).
    Queued,
    /// Claimed under a lease (which may have expired).
    Running,
    /// Finished with an [`Outcome`].
    Done,
}

/// How a job ended, as the store records it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Check run completed with the analysis.
    Completed,
    /// A newer push made this head obsolete.
    Superseded,
    /// A draft the repository does not want analysed.
    SkippedDraft,
    /// Check run completed with the error conclusion.
    Failed,
    /// Not even the check run could be created (or the retry budget is spent).
    Abandoned,
}

/// A claim on one job: every write for the job presents it, and is refused
/// once another worker took the job over.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    /// [`Job::id`].
    pub job_id: String,
    /// The worker that claimed it (unique per process and worker).
    pub worker: String,
    /// Which claim of the job this is, from 1; a takeover increments it.
    pub attempt: u32,
}

/// The external writes a job already made, recorded as they happen.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Written {
    /// The check run this job created; complete it rather than create another.
    pub check_run_id: Option<u64>,
    /// `Some` once the job's review was posted: the fingerprints it
    /// commented (possibly none). A resumed job must not post it again.
    pub review: Option<Vec<String>>,
}

/// A job handed to a worker by [`Store::claim`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claimed {
    /// The job, as it was enqueued.
    pub job: Job,
    /// Present it to every write for this job.
    pub lease: Lease,
    /// When the lease ends unless renewed.
    pub lease_until: DateTime<Utc>,
    /// When the job was first enqueued (for a retry budget by age).
    pub enqueued_at: DateTime<Utc>,
    /// Why the previous attempt ended without an outcome: the error class
    /// given to [`Store::retry_later`], or `lease_expired` after a takeover.
    pub last_error: Option<String>,
    /// What earlier attempts already wrote.
    pub written: Written,
}

/// A job [`Store::supersede`] ended, whose check run (if any) still needs
/// completing as "superseded by a newer push".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SupersededJob {
    /// The job.
    pub job: Job,
    /// Its check run, if an earlier attempt created one.
    pub check_run_id: Option<u64>,
}

/// A delivery to accept: its id and the jobs it asks for.
#[derive(Debug, Clone)]
pub struct Incoming {
    /// `X-GitHub-Delivery`.
    pub delivery_id: String,
    /// The jobs, in order.
    pub jobs: Vec<Job>,
}

/// What [`Store::accept`] did with one delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Accepted {
    /// One outcome per job, in order (as [`Store::enqueue`] answers).
    pub submitted: Vec<Submitted>,
    /// For each queued job that supersedes older heads (by its index in
    /// the delivery's jobs), the jobs it ended (as [`Store::supersede`]).
    pub superseded: Vec<(usize, Vec<SupersededJob>)>,
}

/// One job as stored (for operators and tests).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobRecord {
    /// The job.
    pub job: Job,
    /// Its state.
    pub state: JobState,
    /// How it ended, once done.
    pub outcome: Option<Outcome>,
    /// Claims so far.
    pub attempts: u32,
    /// Times it was put back with [`Store::retry_later`].
    pub retries: u32,
    /// The last error class (see [`Claimed::last_error`]).
    pub last_error: Option<String>,
    /// Not claimable before this time.
    pub not_before: DateTime<Utc>,
    /// The current (or last) lease holder.
    pub lease_owner: Option<String>,
    /// What it already wrote.
    pub written: Written,
    /// The head that superseded it.
    pub superseded_by: Option<String>,
    /// When it was finished.
    pub finished_at: Option<DateTime<Utc>>,
}

/// Most rows [`Store::recent_deliveries`] and [`Store::recent_jobs`] hand
/// out, whatever was asked.
pub const MAX_RECENT: usize = 200;

/// A signed delivery and what the server answered it, for the status page.
/// Unsigned requests are never recorded: anyone can send them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryRecord {
    /// `X-GitHub-Delivery`.
    pub id: String,
    /// `X-GitHub-Event`, bounded to the names GitHub sends.
    pub event: String,
    /// The server's outcome label (`accepted`, `duplicate`, `pong`,
    /// `ignored`, `malformed`), as in `hunkscan_webhook_deliveries_total`.
    pub outcome: String,
    /// When it was first received.
    pub received_at: DateTime<Utc>,
    /// From the request being whole to the answer.
    pub ack: Option<Duration>,
}

/// A job for the status page: as stored, and when it was enqueued.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecentJob {
    /// The job as stored.
    pub record: JobRecord,
    /// When the delivery that brought it was stored.
    pub enqueued_at: DateTime<Utc>,
}

/// Numbers for /metrics.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StoreStats {
    /// Jobs waiting for a worker: queued (delayed ones included) or running
    /// under an expired lease (to be taken over).
    pub queued: u64,
    /// How long the oldest waiting job has waited, since it was enqueued.
    pub oldest_queued_age: Option<Duration>,
    /// Jobs under a live lease.
    pub running: u64,
    /// Takeovers of expired leases, ever (pruned jobs included).
    pub lease_expiries: u64,
    /// Re-queues by [`Store::retry_later`], ever (pruned jobs included).
    pub retries: u64,
}

/// Where jobs live from the delivery that brought them to their outcome.
///
/// Methods that compare times take `now`; see the module documentation.
/// Methods that take a [`Lease`] answer `false` when it is no longer the
/// job's current claim: the caller must stop working on the job.
#[async_trait]
pub trait Store: Send + Sync {
    /// Records the delivery and queues its jobs, atomically: all or none.
    ///
    /// Idempotent by [`Job::id`]: a job stored before (a redelivery, even
    /// after a restart) is [`Submitted::DuplicateDelivery`]. An automatic
    /// job (any trigger but a re-run) for a repository, pull request and
    /// head that already has one is [`Submitted::SameHeadQueued`]:
    /// `check_suite.requested` and `pull_request.synchronize` announce the
    /// same push. Answers one [`Submitted`] per job, in order. The delivery
    /// is recorded even when no job is new (see [`Store::knows_delivery`]).
    async fn enqueue(
        &self,
        delivery_id: &str,
        jobs: &[Job],
        now: DateTime<Utc>,
    ) -> Result<Vec<Submitted>, StoreError>;

    /// Accepts several deliveries in one transaction, so that they share
    /// one commit (one fsync): for each, in order, [`Store::enqueue`], then
    /// [`Store::supersede`] for each job it queued whose
    /// [`Job::supersedes_older_heads`]. All or none.
    async fn accept(
        &self,
        deliveries: &[Incoming],
        now: DateTime<Utc>,
    ) -> Result<Vec<Accepted>, StoreError>;

    /// Claims up to `limit` (at most [`MAX_CLAIM`]) runnable jobs for
    /// `worker`, oldest first, each under a lease of `lease`.
    ///
    /// Runnable: queued with `not_before <= now`, or running under an
    /// expired lease (its worker is presumed dead: a takeover, counted in
    /// [`StoreStats::lease_expiries`]). A job is not claimable while another
    /// job of the same pull request holds a live lease, and one claim hands
    /// out at most one job per pull request.
    async fn claim(
        &self,
        worker: &str,
        limit: usize,
        lease: Duration,
        now: DateTime<Utc>,
    ) -> Result<Vec<Claimed>, StoreError>;

    /// Extends a live lease to `now + duration`. `false` once the lease has
    /// expired (even if nobody took the job over yet: another job of the
    /// pull request may have started) or was taken over: the worker must
    /// stop writing for the job. Renew well before expiry, e.g. every third
    /// of the lease.
    async fn renew(
        &self,
        lease: &Lease,
        duration: Duration,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError>;

    /// Finishes the job with `outcome`. Accepted while the lease is the
    /// job's current claim, even if it expired and nobody took it over yet
    /// (the work is done; recording it saves a second run).
    async fn complete(
        &self,
        lease: &Lease,
        outcome: Outcome,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError>;

    /// Puts the job back, claimable at once, without counting a retry: for
    /// a worker that stops (shutdown) before finishing.
    async fn release(&self, lease: &Lease, now: DateTime<Utc>) -> Result<bool, StoreError>;

    /// Puts the job back, claimable from `not_before`, recording the error
    /// class that stopped this attempt and counting a retry. The caller
    /// decides the budget from [`Claimed::enqueued_at`] and the attempt.
    async fn retry_later(
        &self,
        lease: &Lease,
        not_before: DateTime<Utc>,
        error_class: &str,
    ) -> Result<bool, StoreError>;

    /// Ends, as [`Outcome::Superseded`] by `current_head`, the pull
    /// request's jobs for any other head that no live lease holds (queued,
    /// or running under an expired lease). Answers them with their recorded
    /// check run, to be completed as neutral "superseded by …". Jobs under a
    /// live lease are left to their worker, the only writer of their check.
    async fn supersede(
        &self,
        repo: &RepoRef,
        number: u64,
        current_head: &str,
        now: DateTime<Utc>,
    ) -> Result<Vec<SupersededJob>, StoreError>;

    /// Records that the job's check run exists (`check_run_id`).
    async fn record_check_run(&self, lease: &Lease, check_run_id: u64) -> Result<bool, StoreError>;

    /// Records that the job's review was posted, with the fingerprints it
    /// commented (the list may be empty).
    async fn record_review(
        &self,
        lease: &Lease,
        fingerprints: &[String],
    ) -> Result<bool, StoreError>;

    /// Whether `delivery_id` was ever enqueued (until pruned), for the
    /// reconciler that asks GitHub to redeliver failed deliveries.
    async fn knows_delivery(&self, delivery_id: &str) -> Result<bool, StoreError>;

    /// One job as stored, if it is (or still is) there.
    async fn job(&self, job_id: &str) -> Result<Option<JobRecord>, StoreError>;

    /// Queue depth, the oldest waiting job's age, running jobs, lease
    /// expiries and retries.
    async fn stats(&self, now: DateTime<Utc>) -> Result<StoreStats, StoreError>;

    /// A cheap round trip to the database.
    async fn health(&self) -> Result<(), StoreError>;

    /// Records (or updates) what the server answered signed deliveries:
    /// their event, outcome and answer time, in one transaction. The
    /// delivery row is the one [`Store::enqueue`] writes; pruned like it.
    async fn record_deliveries(&self, records: &[DeliveryRecord]) -> Result<(), StoreError>;

    /// The newest deliveries with a recorded outcome, newest first, at most
    /// `limit` (and [`MAX_RECENT`]).
    async fn recent_deliveries(&self, limit: usize) -> Result<Vec<DeliveryRecord>, StoreError>;

    /// The newest jobs, newest first, at most `limit` (and [`MAX_RECENT`]).
    /// A row this version cannot read is left out.
    async fn recent_jobs(&self, limit: usize) -> Result<Vec<RecentJob>, StoreError>;

    /// Deletes the jobs finished before `finished_before` (their counts stay
    /// in the totals), deliveries received before it that have no job left,
    /// and locks that expired before it. Answers how many jobs went.
    async fn prune(&self, finished_before: DateTime<Utc>) -> Result<u64, StoreError>;

    /// Takes (or, for its holder, renews) the lock `name` until `now +
    /// lease`, unless another holder's lease is still live. For singleton
    /// work across instances; a dead holder's lock expires by itself.
    async fn try_lock(
        &self,
        name: &str,
        holder: &str,
        lease: Duration,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError>;

    /// Gives the lock up; `false` if `holder` did not hold it.
    async fn unlock(&self, name: &str, holder: &str) -> Result<bool, StoreError>;

    /// How many locks whose name begins with `prefix` are live at `now`:
    /// the instances sharing this store, when each holds `instance:<id>`.
    /// `prefix` is the caller's constant, not outside input (`%` and `_`
    /// in it would match as patterns).
    async fn live_locks(&self, prefix: &str, now: DateTime<Utc>) -> Result<u32, StoreError>;

    /// The cached licences of the releases `keys` names (those the cache
    /// has; at most [`MAX_LICENSE_KEYS`] asked at once).
    async fn cached_licenses(&self, keys: &[LicenseKey]) -> Result<Vec<CachedLicense>, StoreError>;

    /// Remembers what the registries stated (replacing an older answer).
    async fn cache_licenses(
        &self,
        entries: &[CachedLicense],
        now: DateTime<Utc>,
    ) -> Result<(), StoreError>;

    /// Forgets the licences fetched before `fetched_before` (so they are
    /// asked again); how many.
    async fn prune_licenses(&self, fetched_before: DateTime<Utc>) -> Result<u64, StoreError>;

    /// Closes the connections, waiting for those in use to be returned.
    async fn close(&self);
}

/// Most licence keys one [`Store::cached_licenses`] call reads.
pub const MAX_LICENSE_KEYS: usize = 5_000;

/// A package release: OSV's ecosystem name, the normalised package name,
/// the version.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct LicenseKey {
    /// `crates.io`, `npm`, `PyPI`.
    pub ecosystem: String,
    /// The name as the ecosystem compares it.
    pub name: String,
    /// The version.
    pub version: String,
}

/// What a registry stated for a release.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CachedLicense {
    /// Which release.
    pub key: LicenseKey,
    /// The licence text; `None` when the registry states none.
    pub license: Option<String>,
    /// Why there is none.
    pub reason: Option<String>,
}

/// Opens the store `database_url` names (`sqlite:…`, `postgres://…` or
/// `postgresql://…`; `Settings::database_url` defaults to
/// `sqlite://hunkscan.db`) and brings its schema up to date.
pub async fn connect(database_url: &str) -> Result<Arc<dyn Store>, StoreError> {
    let url = database_url.trim();
    if url.starts_with("sqlite:") {
        Ok(Arc::new(SqliteStore::open(url).await?))
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(Arc::new(PostgresStore::connect(url).await?))
    } else {
        let scheme = url.split(':').next().unwrap_or_default();
        Err(StoreError::UnsupportedUrl(scheme.to_owned()))
    }
}
