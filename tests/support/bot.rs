//! The bot under test: the real server and workers (`hunkscan::app`),
//! configured against a GitHub emulator, with a client that delivers signed
//! webhooks as GitHub does. Shared by the integration tests and the app
//! benchmark.

use super::github_emulator::{CheckRun, Emulator, PullSpec};
use hunkscan::app::webhook::sign;
use hunkscan::app::{self, Running};
use hunkscan::config::settings::Settings;
use hunkscan::github::RetryPolicy;
use hunkscan::pipeline::{Options, Pipeline};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

pub const APP_ID: u64 = 4242;
pub const INSTALLATION: u64 = 77;
pub const REPO: &str = "acme/shop";
pub const SECRET: &str = "webhook secret for tests";
pub const PRIVATE_KEY: &str = include_str!("../../fixtures/github/test-app-private-key.pem");
pub const PUBLIC_KEY: &str = include_str!("../../fixtures/github/test-app-public-key.pem");
pub const WAIT: Duration = Duration::from_secs(30);

/// One emulator, one bot, a client that delivers signed webhooks.
pub struct Harness {
    pub github: Emulator,
    pub bot: Running,
    pub client: reqwest::Client,
    deliveries: AtomicU64,
    /// Holds the SQLite job store of this bot (removed with the harness).
    _store_dir: tempfile::TempDir,
}

/// The pipeline `hunkscan serve` runs (pipeline::Options' defaults), with a
/// deployment's own fingerprint key as serve has (not the CLI's public one).
pub fn pipeline() -> Arc<Pipeline> {
    Arc::new(
        Pipeline::load(&Options {
            fingerprint_key: b"test fingerprint key".to_vec(),
            ..Options::default()
        })
        .expect("embedded rules load"),
    )
}

/// Fast retries so failure scenarios take milliseconds, not seconds.
pub fn test_policy() -> RetryPolicy {
    RetryPolicy {
        attempts: 3,
        base_delay: Duration::from_millis(10),
        max_rate_limit_wait: Duration::from_secs(5),
        request_timeout: Duration::from_millis(800),
    }
}

impl Harness {
    pub async fn start() -> Harness {
        Self::start_with(test_policy(), true).await
    }

    /// `validate_requests: false` skips the OpenAPI validation of request
    /// bodies (benchmarks time the bot, not the validator).
    pub async fn start_with(policy: RetryPolicy, validate_requests: bool) -> Harness {
        Self::start_configured(policy, validate_requests, &[], std::future::pending()).await
    }

    /// With settings added to (or replacing) the defaults below, and a
    /// server that shuts down when `shutdown` resolves.
    pub async fn start_configured(
        policy: RetryPolicy,
        validate_requests: bool,
        settings: &[(&str, &str)],
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> Harness {
        Self::start_full(policy, validate_requests, settings, shutdown, pipeline()).await
    }

    /// With `pipeline` instead of the default one (an advisory database, say).
    pub async fn start_with_pipeline(pipeline: Arc<Pipeline>) -> Harness {
        Self::start_full(test_policy(), true, &[], std::future::pending(), pipeline).await
    }

    async fn start_full(
        policy: RetryPolicy,
        validate_requests: bool,
        settings: &[(&str, &str)],
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
        pipeline: Arc<Pipeline>,
    ) -> Harness {
        let github = if validate_requests {
            Emulator::start(APP_ID, PUBLIC_KEY).await
        } else {
            Emulator::start_without_openapi(APP_ID, PUBLIC_KEY).await
        };
        github.add_installation(INSTALLATION, REPO);
        let store_dir = tempfile::tempdir().expect("a directory for the job store");
        let mut env: HashMap<&str, String> = HashMap::from([
            ("GITHUB_APP_ID", APP_ID.to_string()),
            ("GITHUB_PRIVATE_KEY", PRIVATE_KEY.to_owned()),
            ("GITHUB_WEBHOOK_SECRET", SECRET.to_owned()),
            ("GITHUB_API_URL", github.url.clone()),
            ("HUNKSCAN_WORKERS", "2".to_owned()),
            (
                "DATABASE_URL",
                format!("sqlite://{}", store_dir.path().join("jobs.db").display()),
            ),
            // Failing GitHub calls are retried after milliseconds, not seconds.
            ("HUNKSCAN_RETRY_BASE_MS", "20".to_owned()),
            // Room for the benchmark's thousands of queued deliveries.
            ("HUNKSCAN_QUEUE_CAPACITY", "10000".to_owned()),
            // Unpaced unless a test is about pacing (tests/app_retries.rs):
            // GitHub's 80 a minute would make the benchmark take hours.
            ("HUNKSCAN_CONTENT_CALLS", "0".to_owned()),
        ]);
        env.extend(
            settings
                .iter()
                .map(|(name, value)| (*name, (*value).to_owned())),
        );
        let settings = Settings::from_lookup(|name| env.get(name).cloned()).expect("test settings");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let bot = app::start(&settings, pipeline, policy, listener, shutdown)
            .await
            .expect("bot starts");
        Harness {
            github,
            bot,
            client: reqwest::Client::new(),
            deliveries: AtomicU64::new(0),
            _store_dir: store_dir,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.bot.addr)
    }

    /// Delivers `body` as GitHub does: signed, with event and delivery id.
    pub async fn deliver(&self, event: &str, body: &Value) -> (u16, Value) {
        let n = self.deliveries.fetch_add(1, Ordering::SeqCst);
        self.deliver_raw(
            event,
            &format!("delivery-{n}"),
            serde_json::to_vec(body).expect("json"),
            true,
        )
        .await
    }

    pub async fn deliver_raw(
        &self,
        event: &str,
        delivery: &str,
        body: Vec<u8>,
        signed: bool,
    ) -> (u16, Value) {
        let mut request = self
            .client
            .post(self.url("/api/github/webhooks"))
            .header("content-type", "application/json")
            .header("x-github-event", event)
            .header("x-github-delivery", delivery);
        if signed {
            request = request.header("x-hub-signature-256", sign(SECRET.as_bytes(), &body));
        }
        let response = request.body(body).send().await.expect("delivery sent");
        let status = response.status().as_u16();
        let body = response.json::<Value>().await.unwrap_or(Value::Null);
        (status, body)
    }

    /// A `pull_request` event as GitHub sends it (the fields the bot reads
    /// and a few around them).
    pub fn pull_request_event(
        action: &str,
        number: u64,
        base: &str,
        head: &str,
        draft: bool,
    ) -> Value {
        json!({
            "action": action,
            "number": number,
            "pull_request": {
                "number": number, "state": "open", "draft": draft,
                "head": { "sha": head, "ref": "feature" },
                "base": { "sha": base, "ref": "main" },
            },
            "repository": { "full_name": REPO, "html_url": format!("https://github.com/{REPO}") },
            "installation": { "id": INSTALLATION },
        })
    }

    pub async fn open(&self, spec: PullSpec) {
        let event = Self::pull_request_event(
            "opened",
            spec.number,
            &spec.base_sha,
            &spec.head_sha,
            spec.draft,
        );
        self.github.put_pull_request(REPO, spec);
        let (status, body) = self.deliver("pull_request", &event).await;
        assert_eq!(status, 202, "{body}");
    }

    pub async fn completed_check(&self, head: &str) -> CheckRun {
        self.github
            .wait_for(&format!("a completed check run on {head}"), WAIT, |gh| {
                gh.check_runs(REPO)
                    .into_iter()
                    .find(|c| c.head_sha == head && c.status == "completed")
            })
            .await
    }

    pub fn assert_valid_requests(&self) {
        let violations = self.github.schema_violations();
        assert!(
            violations.is_empty(),
            "request bodies GitHub would reject: {violations:#?}"
        );
        if !self.github.openapi_available() {
            eprintln!(
                "note: ../shared/github/openapi is absent; request bodies were not validated against GitHub's OpenAPI schema"
            );
        }
    }

    /// The metrics once they hold `needle` (a job's outcome is counted just
    /// after its check run completes), or as they are after 5 s.
    pub async fn metrics_with(&self, needle: &str) -> String {
        for _ in 0..100 {
            let metrics = self.metrics().await;
            if metrics.contains(needle) {
                return metrics;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        self.metrics().await
    }

    pub async fn metrics(&self) -> String {
        self.client
            .get(self.url("/metrics"))
            .send()
            .await
            .expect("metrics")
            .text()
            .await
            .expect("metrics text")
    }

    /// Every request the emulator saw, one line each, for failure messages.
    pub fn paths(&self) -> Vec<String> {
        self.github
            .requests()
            .iter()
            .map(|r| format!("{} {} → {}", r.method, r.path, r.status))
            .collect()
    }

    /// Calls made as the installation: everything but the app's own calls
    /// (`GET /app` and token fetches), which happen once per process or
    /// hour, not per pull request.
    pub fn installation_calls(&self) -> usize {
        self.github
            .requests()
            .iter()
            .filter(|r| !(r.path == "/app" || r.path.starts_with("/app/")))
            .count()
    }
}
