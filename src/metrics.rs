//! Prometheus metrics of the server: what an operator graphs and alerts on.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// `event` and `outcome` of a delivery.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DeliveryLabels {
    /// `X-GitHub-Event`.
    pub event: String,
    /// accepted, ignored, duplicate, rejected_signature, malformed,
    /// too_large, queue_full, pong; busy (no room in the body budget),
    /// timeout (body too slow), unreadable (the client broke off),
    /// shutting_down.
    pub outcome: &'static str,
}

/// Where a connection or request ran out of time.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TimeoutLabels {
    /// header (request headers not complete in time), body (body not
    /// complete in time), idle (keep-alive connection unused).
    pub phase: &'static str,
}

/// A job's outcome.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct JobLabels {
    /// completed, failed, skipped, superseded.
    pub outcome: &'static str,
}

/// A finding's analyzer and severity.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct FindingLabels {
    /// sast, iac, secrets.
    pub analyzer: &'static str,
    /// critical .. info.
    pub severity: &'static str,
}

/// One GitHub API call.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ApiCallLabels {
    /// The route template (`POST /repos/{owner}/{repo}/check-runs`), never a
    /// concrete path, so the label set stays small.
    pub route: &'static str,
    /// HTTP status, or `timeout` / `error`.
    pub status: String,
}

/// A route template.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabels {
    /// See [`ApiCallLabels::route`].
    pub route: &'static str,
}

/// Why a GitHub call waited before it was sent.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct WaitLabels {
    /// rate_limited (its installation is paused until GitHub's reset),
    /// paced (content-creating calls of the installation are at the pace).
    pub reason: &'static str,
}

/// A reconciler pass's outcome.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReconcilerRunLabels {
    /// completed, failed (the deliveries or the store could not be read),
    /// skipped (another instance holds the lock).
    pub outcome: &'static str,
}

/// Every metric the server exports.
pub struct Metrics {
    registry: Registry,
    /// Webhook deliveries.
    pub deliveries: Family<DeliveryLabels, Counter>,
    /// Seconds from request to acknowledgement.
    pub ack_seconds: Histogram,
    /// Jobs finished.
    pub jobs: Family<JobLabels, Counter>,
    /// Jobs waiting or running.
    pub jobs_pending: Gauge,
    /// Jobs under a live lease (the store's count, all instances).
    pub jobs_running: Gauge,
    /// Seconds the oldest waiting job has waited.
    pub oldest_job_seconds: Gauge,
    /// Lease takeovers, ever (the store's total).
    pub lease_expiries: Gauge,
    /// Retries, ever (the store's total).
    pub job_retries: Gauge,
    /// Seconds per job, from start to completed check run.
    pub job_seconds: Histogram,
    /// Findings reported (new and unsuppressed).
    pub findings: Family<FindingLabels, Counter>,
    /// GitHub API calls.
    pub api_calls: Family<ApiCallLabels, Counter>,
    /// Seconds per GitHub API call.
    pub api_seconds: Family<RouteLabels, Histogram>,
    /// GitHub calls held back before sending, by reason.
    pub github_waits: Family<WaitLabels, Counter>,
    /// Seconds GitHub calls were held back, by reason.
    pub github_wait_seconds: Family<WaitLabels, Counter<f64, std::sync::atomic::AtomicU64>>,
    /// Installations (and the app itself) paused by a rate limit now.
    pub rate_limited_accounts: Gauge,
    /// Bytes of webhook bodies held now (read, being verified or handled);
    /// never above the body budget.
    pub body_bytes: Gauge,
    /// The most `body_bytes` has been since start.
    pub body_bytes_peak: Gauge,
    /// Deliveries answered 503 because the body budget stayed full.
    pub body_budget_refused: Counter,
    /// HTTP connections open.
    pub connections: Gauge,
    /// Connections closed on arrival because the cap was reached.
    pub connections_refused: Counter,
    /// Connections and requests ended by a timeout.
    pub timeouts: Family<TimeoutLabels, Counter>,
    /// Reconciler passes by outcome.
    pub reconciler_runs: Family<ReconcilerRunLabels, Counter>,
    /// Redeliveries the reconciler asked GitHub for (and GitHub accepted).
    pub reconciler_redeliveries: Counter,
    /// Redelivery requests that failed.
    pub reconciler_errors: Counter,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// A fresh registry with every metric registered.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("hunkscan");
        let deliveries = Family::<DeliveryLabels, Counter>::default();
        registry.register(
            "webhook_deliveries",
            "Webhook deliveries by event and outcome",
            deliveries.clone(),
        );
        // 50 µs .. ~1.6 s: acknowledgements are meant to take milliseconds.
        let ack_seconds = Histogram::new(exponential_buckets(0.000_05, 2.0, 16));
        registry.register(
            "webhook_ack_seconds",
            "Time from receiving a delivery to answering it",
            ack_seconds.clone(),
        );
        let jobs = Family::<JobLabels, Counter>::default();
        registry.register("jobs", "Analysis jobs by outcome", jobs.clone());
        let jobs_pending = Gauge::default();
        registry.register(
            "jobs_pending",
            "Analysis jobs waiting in the store (queued, delayed or to take over)",
            jobs_pending.clone(),
        );
        let jobs_running = Gauge::default();
        registry.register(
            "jobs_running",
            "Analysis jobs under a live lease, in every instance",
            jobs_running.clone(),
        );
        let oldest_job_seconds = Gauge::default();
        registry.register(
            "oldest_job_seconds",
            "How long the oldest waiting job has waited",
            oldest_job_seconds.clone(),
        );
        let lease_expiries = Gauge::default();
        registry.register(
            "lease_expiries",
            "Jobs taken over from a worker whose lease ran out, ever",
            lease_expiries.clone(),
        );
        let job_retries = Gauge::default();
        registry.register(
            "job_retries",
            "Jobs put back to try GitHub again later, ever",
            job_retries.clone(),
        );
        let job_seconds = Histogram::new(exponential_buckets(0.01, 2.0, 14));
        registry.register(
            "job_seconds",
            "Time from job start to completed check run",
            job_seconds.clone(),
        );
        let findings = Family::<FindingLabels, Counter>::default();
        registry.register(
            "findings",
            "New unsuppressed findings reported, by analyzer and severity",
            findings.clone(),
        );
        let api_calls = Family::<ApiCallLabels, Counter>::default();
        registry.register(
            "github_api_calls",
            "GitHub API calls by route and status",
            api_calls.clone(),
        );
        let api_seconds = Family::<RouteLabels, Histogram>::new_with_constructor(
            (|| Histogram::new(exponential_buckets(0.005, 2.0, 12))) as fn() -> Histogram,
        );
        registry.register(
            "github_api_seconds",
            "GitHub API call duration by route",
            api_seconds.clone(),
        );
        let body_bytes = Gauge::default();
        registry.register(
            "webhook_body_bytes",
            "Bytes of webhook bodies held in memory now, verified or not (bounded by HUNKSCAN_BODY_BUDGET_BYTES)",
            body_bytes.clone(),
        );
        let body_bytes_peak = Gauge::default();
        registry.register(
            "webhook_body_bytes_peak",
            "The most bytes of webhook bodies held in memory at once since start",
            body_bytes_peak.clone(),
        );
        let body_budget_refused = Counter::default();
        registry.register(
            "webhook_body_budget_refused",
            "Deliveries answered 503 because the body budget stayed full",
            body_budget_refused.clone(),
        );
        let connections = Gauge::default();
        registry.register(
            "http_connections",
            "HTTP connections open",
            connections.clone(),
        );
        let connections_refused = Counter::default();
        registry.register(
            "http_connections_refused",
            "Connections closed on arrival because HUNKSCAN_MAX_CONNECTIONS were open",
            connections_refused.clone(),
        );
        let timeouts = Family::<TimeoutLabels, Counter>::default();
        registry.register(
            "http_timeouts",
            "Connections and requests ended by a timeout, by phase (header, body, idle)",
            timeouts.clone(),
        );
        let github_waits = Family::<WaitLabels, Counter>::default();
        registry.register(
            "github_waits",
            "GitHub calls held back before sending: rate_limited (the installation is paused until GitHub's reset) or paced (content-creating calls at HUNKSCAN_CONTENT_CALLS per window)",
            github_waits.clone(),
        );
        let github_wait_seconds =
            Family::<WaitLabels, Counter<f64, std::sync::atomic::AtomicU64>>::default();
        registry.register(
            "github_wait_seconds",
            "Seconds GitHub calls were held back, by reason",
            github_wait_seconds.clone(),
        );
        let rate_limited_accounts = Gauge::default();
        registry.register(
            "github_rate_limited_accounts",
            "Installations (and the app itself) whose calls are paused by a GitHub rate limit now",
            rate_limited_accounts.clone(),
        );
        let reconciler_runs = Family::<ReconcilerRunLabels, Counter>::default();
        registry.register(
            "reconciler_runs",
            "Passes of the reconciler that redelivers failed webhook deliveries, by outcome",
            reconciler_runs.clone(),
        );
        let reconciler_redeliveries = Counter::default();
        registry.register(
            "reconciler_redeliveries",
            "Redeliveries of failed webhook deliveries requested by the reconciler",
            reconciler_redeliveries.clone(),
        );
        let reconciler_errors = Counter::default();
        registry.register(
            "reconciler_errors",
            "Redelivery requests of the reconciler that failed",
            reconciler_errors.clone(),
        );
        Self {
            registry,
            deliveries,
            ack_seconds,
            jobs,
            jobs_pending,
            jobs_running,
            oldest_job_seconds,
            lease_expiries,
            job_retries,
            job_seconds,
            findings,
            api_calls,
            api_seconds,
            github_waits,
            github_wait_seconds,
            rate_limited_accounts,
            body_bytes,
            body_bytes_peak,
            body_budget_refused,
            connections,
            connections_refused,
            timeouts,
            reconciler_runs,
            reconciler_redeliveries,
            reconciler_errors,
        }
    }

    /// Counts a timeout of `phase` (header, body, idle).
    pub fn timed_out(&self, phase: &'static str) {
        self.timeouts.get_or_create(&TimeoutLabels { phase }).inc();
    }

    /// Counts a GitHub call held back for `wait`.
    pub fn github_waited(&self, reason: &'static str, wait: std::time::Duration) {
        let labels = WaitLabels { reason };
        self.github_waits.get_or_create(&labels).inc();
        self.github_wait_seconds
            .get_or_create(&labels)
            .inc_by(wait.as_secs_f64());
    }

    /// The store's numbers, read every few seconds (they span instances).
    pub fn record_store(&self, stats: &crate::app::store::StoreStats) {
        let gauge = |value: u64| i64::try_from(value).unwrap_or(i64::MAX);
        self.jobs_pending.set(gauge(stats.queued));
        self.jobs_running.set(gauge(stats.running));
        self.oldest_job_seconds.set(gauge(
            stats.oldest_queued_age.map_or(0, |age| age.as_secs()),
        ));
        self.lease_expiries.set(gauge(stats.lease_expiries));
        self.job_retries.set(gauge(stats.retries));
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}
