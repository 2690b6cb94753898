//! Nothing lost: GitHub never delivers a failed webhook again by itself, so
//! the reconciler looks at the app's recent deliveries and asks GitHub to
//! redeliver each event that never reached the bot.
//!
//! A pass lists the attempts of a time window (newest first, bounded by a
//! page cap), groups them by `guid` (the `X-GitHub-Delivery` every attempt of
//! one event shares) and counts an event lost when every attempt in the
//! window failed (no 2xx answer) and the job store does not hold it. A
//! failed attempt the store holds is a job the bot took but answered too
//! late for GitHub. Each lost event gets one redelivery request, oldest
//! first (they are the nearest to leaving the window and GitHub's 3-day
//! redelivery limit), at most `max_redeliveries_per_pass` per pass.
//!
//! A guid is asked for at most once per process: a redelivery GitHub has
//! accepted but not yet made would otherwise be asked for again by the next
//! pass. The memory is bounded (oldest forgotten first). A request that
//! failed in a way that leaves its outcome open (5xx, timeout) is not
//! remembered and is tried again by the next pass, after that pass has
//! looked at the deliveries again (a redelivery GitHub did make shows up
//! there); one GitHub refused (4xx) is remembered and not asked again.
//! A redelivery that arrives twice anyway is harmless: jobs are keyed by
//! delivery guid.
//!
//! [`spawn_periodic`] runs a pass at start-up and then every interval until
//! shutdown. Its `may_run` hook decides per pass whether this instance runs
//! it (a cross-instance lock) and holds a guard for the pass's duration.

use crate::github::deliveries::{DeliveryWindow, MAX_PER_PAGE};
use crate::github::types::HookDelivery;
use crate::github::{GitHubApp, GitHubError};
use crate::metrics::{Metrics, ReconcilerRunLabels};
use chrono::{DateTime, Utc};
use std::collections::{BTreeMap, HashSet, VecDeque};
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use thiserror::Error;
use tokio::task::JoinHandle;

/// An error of the job store, whatever the store.
pub type StoreError = Box<dyn std::error::Error + Send + Sync>;

/// What the job store holds, as the reconciler needs to know it.
pub trait KnownDeliveries: Send + Sync {
    /// Which of `guids` the store holds a job for, in any state. Asked once
    /// per pass, for the guids that look lost (at most one pass's worth).
    fn known(
        &self,
        guids: &[String],
    ) -> impl Future<Output = Result<HashSet<String>, StoreError>> + Send;
}

impl<T: KnownDeliveries> KnownDeliveries for Arc<T> {
    fn known(
        &self,
        guids: &[String],
    ) -> impl Future<Output = Result<HashSet<String>, StoreError>> + Send {
        T::known(self, guids)
    }
}

/// How the reconciler works; `Default` is the production setting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReconcileOptions {
    /// How far back a pass looks. GitHub redelivers only attempts of the
    /// last 3 days; a day covers a long outage at start-up.
    pub window: Duration,
    /// Time between passes.
    pub interval: Duration,
    /// Pages of deliveries read per pass at most.
    pub max_pages: usize,
    /// Deliveries per page (GitHub serves at most 100).
    pub per_page: usize,
    /// Redelivery requests per pass at most; the rest wait for the next.
    pub max_redeliveries_per_pass: usize,
    /// How many requested guids are remembered.
    pub remembered: usize,
}

impl Default for ReconcileOptions {
    fn default() -> Self {
        Self {
            window: Duration::from_secs(24 * 3600),
            interval: Duration::from_secs(5 * 60),
            max_pages: 20,
            per_page: MAX_PER_PAGE,
            max_redeliveries_per_pass: 50,
            remembered: 10_000,
        }
    }
}

/// What one pass saw and did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReconcileReport {
    /// Attempts listed in the window.
    pub listed: usize,
    /// Whether the listing reached the window's start (false: the page cap
    /// stopped it and older attempts went unseen).
    pub complete: bool,
    /// Events (guids) whose every attempt in the window failed.
    pub failed: usize,
    /// Of those, events the store holds.
    pub already_known: usize,
    /// Of those, events this process already asked to redeliver.
    pub already_requested: usize,
    /// Redeliveries GitHub accepted in this pass.
    pub redelivered: usize,
    /// Lost events left for the next pass by the per-pass cap or a rate limit.
    pub deferred: usize,
    /// Redelivery requests that failed.
    pub errors: usize,
}

/// Why a pass could not decide anything.
#[derive(Debug, Error)]
pub enum ReconcileError {
    /// The deliveries could not be listed.
    #[error("cannot list the app's webhook deliveries: {0}")]
    List(#[source] GitHubError),
    /// The store could not say which deliveries it holds.
    #[error("cannot ask the job store which deliveries it holds: {0}")]
    Store(#[source] StoreError),
}

/// Redelivers failed webhook deliveries; one per process.
pub struct Reconciler {
    options: ReconcileOptions,
    metrics: Arc<Metrics>,
    requested: Mutex<Remembered>,
}

/// The guids asked for, oldest first, bounded.
struct Remembered {
    order: VecDeque<String>,
    set: HashSet<String>,
    capacity: usize,
}

impl Remembered {
    fn insert(&mut self, guid: &str) {
        if self.capacity == 0 || !self.set.insert(guid.to_owned()) {
            return;
        }
        self.order.push_back(guid.to_owned());
        while self.order.len() > self.capacity {
            if let Some(oldest) = self.order.pop_front() {
                self.set.remove(&oldest);
            }
        }
    }
}

/// An event whose every attempt in the window failed.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Lost {
    guid: String,
    /// The latest attempt: the one to redeliver.
    delivery_id: u64,
    event: String,
    first_attempt: DateTime<Utc>,
}

/// The attempts of one event seen in a pass.
struct Attempts<'a> {
    any_succeeded: bool,
    latest: &'a HookDelivery,
    first_at: DateTime<Utc>,
}

/// The events whose every listed attempt failed, oldest first.
fn lost_events(deliveries: &[HookDelivery]) -> Vec<Lost> {
    let mut by_guid: BTreeMap<&str, Attempts<'_>> = BTreeMap::new();
    for d in deliveries {
        let seen = by_guid.entry(d.guid.as_str()).or_insert(Attempts {
            any_succeeded: false,
            latest: d,
            first_at: d.delivered_at,
        });
        seen.any_succeeded |= d.succeeded();
        if (d.delivered_at, d.id) > (seen.latest.delivered_at, seen.latest.id) {
            seen.latest = d;
        }
        seen.first_at = seen.first_at.min(d.delivered_at);
    }
    let mut lost: Vec<Lost> = by_guid
        .into_iter()
        .filter(|(_, seen)| !seen.any_succeeded)
        .map(|(guid, seen)| Lost {
            guid: guid.to_owned(),
            delivery_id: seen.latest.id,
            event: seen.latest.event.clone(),
            first_attempt: seen.first_at,
        })
        .collect();
    lost.sort_by(|a, b| (a.first_attempt, &a.guid).cmp(&(b.first_attempt, &b.guid)));
    lost
}

impl Reconciler {
    /// A reconciler that counts its work in `metrics`.
    pub fn new(options: ReconcileOptions, metrics: Arc<Metrics>) -> Self {
        let requested = Mutex::new(Remembered {
            order: VecDeque::new(),
            set: HashSet::new(),
            capacity: options.remembered,
        });
        Self {
            options,
            metrics,
            requested,
        }
    }

    /// Its options.
    pub fn options(&self) -> &ReconcileOptions {
        &self.options
    }

    fn remembered(&self) -> std::sync::MutexGuard<'_, Remembered> {
        // The set stays consistent even if a holder panicked.
        self.requested.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn count_run(&self, outcome: &'static str) {
        self.metrics
            .reconciler_runs
            .get_or_create(&ReconcilerRunLabels { outcome })
            .inc();
    }

    /// One pass over the deliveries of the window ending at `now`.
    pub async fn reconcile_once(
        &self,
        github: &GitHubApp,
        known: &impl KnownDeliveries,
        now: DateTime<Utc>,
    ) -> Result<ReconcileReport, ReconcileError> {
        let outcome = self.pass(github, known, now).await;
        match &outcome {
            Ok(report) => {
                self.count_run("completed");
                if !report.complete {
                    tracing::warn!(
                        listed = report.listed,
                        max_pages = self.options.max_pages,
                        "reconciler: the page cap ended the listing before the window's start"
                    );
                }
                tracing::info!(
                    listed = report.listed,
                    failed = report.failed,
                    already_known = report.already_known,
                    already_requested = report.already_requested,
                    redelivered = report.redelivered,
                    deferred = report.deferred,
                    errors = report.errors,
                    "reconciler pass done"
                );
            }
            Err(error) => {
                self.count_run("failed");
                tracing::warn!(%error, "reconciler pass failed");
            }
        }
        outcome
    }

    async fn pass(
        &self,
        github: &GitHubApp,
        known: &impl KnownDeliveries,
        now: DateTime<Utc>,
    ) -> Result<ReconcileReport, ReconcileError> {
        let window =
            chrono::Duration::from_std(self.options.window).unwrap_or(chrono::Duration::MAX);
        let since = now
            .checked_sub_signed(window)
            .unwrap_or(DateTime::UNIX_EPOCH);
        let listing = github
            .list_webhook_deliveries(&DeliveryWindow {
                since,
                max_pages: self.options.max_pages,
                per_page: self.options.per_page,
            })
            .await
            .map_err(ReconcileError::List)?;
        let mut report = ReconcileReport {
            listed: listing.deliveries.len(),
            complete: listing.complete,
            ..ReconcileReport::default()
        };
        let lost = lost_events(&listing.deliveries);
        report.failed = lost.len();
        let lost: Vec<Lost> = {
            let remembered = self.remembered();
            lost.into_iter()
                .filter(|l| !remembered.set.contains(&l.guid))
                .collect()
        };
        report.already_requested = report.failed - lost.len();
        if lost.is_empty() {
            return Ok(report);
        }
        let guids: Vec<String> = lost.iter().map(|l| l.guid.clone()).collect();
        let held = known.known(&guids).await.map_err(ReconcileError::Store)?;
        let lost: Vec<Lost> = lost
            .into_iter()
            .filter(|l| !held.contains(&l.guid))
            .collect();
        report.already_known = guids.len() - lost.len();

        let cap = self.options.max_redeliveries_per_pass;
        let mut pending = lost.iter();
        for lost in pending.by_ref().take(cap) {
            match github.redeliver_webhook_delivery(lost.delivery_id).await {
                Ok(()) => {
                    self.remembered().insert(&lost.guid);
                    report.redelivered += 1;
                    self.metrics.reconciler_redeliveries.inc();
                    tracing::info!(
                        guid = %lost.guid,
                        event = %lost.event,
                        delivery_id = lost.delivery_id,
                        "asked GitHub to redeliver a lost webhook delivery"
                    );
                }
                Err(error) => {
                    report.errors += 1;
                    self.metrics.reconciler_errors.inc();
                    let refused = matches!(&error, GitHubError::Status { status, .. } if (400..500).contains(status));
                    if refused {
                        // GitHub will not redeliver it (too old, unknown):
                        // asking every pass would only repeat the refusal.
                        self.remembered().insert(&lost.guid);
                    }
                    tracing::warn!(
                        guid = %lost.guid,
                        delivery_id = lost.delivery_id,
                        refused,
                        %error,
                        "redelivery request failed"
                    );
                    if matches!(error, GitHubError::RateLimited { .. }) {
                        break;
                    }
                }
            }
        }
        report.deferred = pending.count();
        Ok(report)
    }
}

/// Runs a pass at start-up and then every `interval` of the reconciler's
/// options, until `shutdown` resolves (a pass under way is abandoned; its
/// work is redone by the next process). Before each pass `may_run` is
/// awaited: `None` skips the pass (another instance runs it), `Some(guard)`
/// runs it and drops the guard after it, e.g. a store lock's lease.
pub fn spawn_periodic<K, M, F, G>(
    reconciler: Arc<Reconciler>,
    github: Arc<GitHubApp>,
    known: Arc<K>,
    may_run: M,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> JoinHandle<()>
where
    K: KnownDeliveries + 'static,
    M: Fn() -> F + Send + 'static,
    F: Future<Output = Option<G>> + Send,
    G: Send,
{
    tokio::spawn(async move {
        // `interval` panics on zero.
        let period = reconciler.options.interval.max(Duration::from_millis(1));
        let mut ticks = tokio::time::interval(period);
        // After a slow pass, wait a whole interval rather than catch up.
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let passes = async move {
            loop {
                ticks.tick().await;
                let Some(guard) = may_run().await else {
                    reconciler.count_run("skipped");
                    tracing::debug!("reconciler pass skipped: another instance runs it");
                    continue;
                };
                // Errors are logged and counted by the pass; the next one retries.
                let _ = reconciler
                    .reconcile_once(&github, known.as_ref(), Utc::now())
                    .await;
                drop(guard);
            }
        };
        tokio::select! {
            () = shutdown => tracing::info!("reconciler stopped"),
            () = passes => {}
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attempt(id: u64, guid: &str, status_code: u16, minutes_ago: i64) -> HookDelivery {
        HookDelivery {
            id,
            guid: guid.to_owned(),
            delivered_at: DateTime::UNIX_EPOCH + chrono::Duration::hours(1000)
                - chrono::Duration::minutes(minutes_ago),
            redelivery: id > 100,
            status: String::new(),
            status_code,
            event: "pull_request".to_owned(),
            action: Some("opened".to_owned()),
            installation_id: Some(1),
            repository_id: Some(2),
        }
    }

    #[test]
    fn an_event_is_lost_only_when_every_attempt_failed() {
        let listed = vec![
            attempt(105, "b", 503, 1),
            attempt(104, "c", 200, 2),
            attempt(3, "c", 0, 30),
            attempt(2, "b", 502, 40),
            attempt(1, "a", 500, 50),
            attempt(4, "d", 204, 20),
        ];
        let lost = lost_events(&listed);
        let guids: Vec<&str> = lost.iter().map(|l| l.guid.as_str()).collect();
        // Oldest first; "c" recovered on its redelivery, "d" never failed.
        assert_eq!(guids, ["a", "b"]);
        // The latest attempt is the one redelivered.
        assert_eq!(lost[1].delivery_id, 105);
        assert_eq!(lost[0].delivery_id, 1);
    }

    #[test]
    fn remembered_guids_are_bounded_oldest_forgotten_first() {
        let mut remembered = Remembered {
            order: VecDeque::new(),
            set: HashSet::new(),
            capacity: 2,
        };
        for guid in ["a", "b", "a", "c"] {
            remembered.insert(guid);
        }
        assert!(!remembered.set.contains("a"));
        assert!(remembered.set.contains("b") && remembered.set.contains("c"));
        assert_eq!(remembered.order.len(), 2);
    }
}
