//! The GitHub App: webhook deliveries in ([`webhook`], [`server`]), jobs
//! queued ([`queue`], durably in [`store`]), analysed and written back ([`worker`]).

pub mod changes;
pub mod external_id;
pub mod merge_queue;
pub mod page;
pub mod queue;
pub mod reconcile;
pub mod server;
pub mod setup;
pub mod signature;
pub mod status;
pub mod store;
pub mod threads;
pub mod triage;
pub mod webhook;
pub mod worker;

use crate::config::settings::{Settings, SetupSettings};
use crate::github::{GitHubApp, GitHubError, RetryPolicy};
use crate::metrics::Metrics;
use crate::pipeline::Pipeline;
use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use thiserror::Error;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// Why the app could not start.
#[derive(Debug, Error)]
pub enum StartError {
    /// The GitHub client (the private key, the API URL).
    #[error(transparent)]
    GitHub(#[from] GitHubError),
    /// The job store (DATABASE_URL).
    #[error("DATABASE_URL: {0}")]
    Store(#[from] store::StoreError),
    /// The listening socket.
    #[error("PORT: {0}")]
    Listen(std::io::Error),
    /// The analysis threads (HUNKSCAN_WORKERS).
    #[error("cannot start the analysis threads: {0}")]
    Threads(#[from] rayon::ThreadPoolBuildError),
}

/// A running server and its workers.
pub struct Running {
    /// Where it listens.
    pub addr: SocketAddr,
    /// Its metrics.
    pub metrics: Arc<Metrics>,
    /// The HTTP server; ends within a few seconds of `shutdown` resolving
    /// ([`server::serve::SHUTDOWN_DRAIN`]).
    pub server: JoinHandle<std::io::Result<()>>,
    /// The job dispatcher.
    pub workers: JoinHandle<()>,
    /// The workers, to drain on shutdown.
    pub worker: Arc<worker::Worker>,
    /// The job store.
    pub store: Arc<dyn store::Store>,
}

/// The store as the reconciler asks it: which lost-looking deliveries it holds.
struct StoredDeliveries(Arc<dyn store::Store>);

impl reconcile::KnownDeliveries for StoredDeliveries {
    async fn known(&self, guids: &[String]) -> Result<HashSet<String>, reconcile::StoreError> {
        let mut known = HashSet::new();
        for guid in guids {
            if self.0.knows_delivery(guid).await.map_err(Box::new)? {
                known.insert(guid.clone());
            }
        }
        Ok(known)
    }
}

/// How often store numbers reach /metrics, the instance says it is alive
/// and finished jobs are pruned.
const HOUSEKEEPING: Duration = Duration::from_secs(5);
/// How long an instance counts as live after it last said so: three
/// housekeeping rounds, so one slow round does not halve the others' pace.
const INSTANCE_LEASE: Duration = Duration::from_secs(15);
/// The lock each live instance holds, `instance:<worker id>`.
const INSTANCE_LOCK: &str = "instance:";

/// The app's parts beside the HTTP server.
struct Parts {
    router: axum::Router,
    worker: Arc<worker::Worker>,
    workers: JoinHandle<()>,
    store: Arc<dyn store::Store>,
}

/// Wires settings, the analysis pipeline, GitHub client, queue, workers and
/// routes, and serves on `listener`, under `settings.limits`, until
/// `shutdown` resolves.
pub async fn start(
    settings: &Settings,
    pipeline: Arc<Pipeline>,
    policy: RetryPolicy,
    listener: TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<Running, StartError> {
    let metrics = Arc::new(Metrics::new());
    let (stopping, stopping_seen) = tokio::sync::watch::channel(false);
    let parts = assemble(
        settings,
        pipeline,
        policy,
        Arc::clone(&metrics),
        stopping_seen,
    )
    .await?;
    let addr = listener.local_addr().map_err(StartError::Listen)?;
    let server = tokio::spawn(server::serve::serve(
        listener,
        parts.router,
        settings.limits.clone(),
        Arc::clone(&metrics),
        shutdown,
        stopping,
    ));
    Ok(Running {
        addr,
        metrics,
        server,
        workers: parts.workers,
        worker: parts.worker,
        store: parts.store,
    })
}

/// Loads the analysis pipeline for settings known only once the app is
/// registered (its fingerprint key derives from the private key).
pub type PipelineFor = Arc<dyn Fn(&Settings) -> Result<Arc<Pipeline>, String> + Send + Sync>;

/// What runs beside the server once setup mode became the app.
pub struct AppHandles {
    /// The job dispatcher.
    pub workers: JoinHandle<()>,
    /// The workers, to drain on shutdown.
    pub worker: Arc<worker::Worker>,
    /// The job store.
    pub store: Arc<dyn store::Store>,
}

/// A server in setup mode ([`setup`]), which becomes the app once the app
/// is registered.
pub struct SetupRunning {
    /// Where it listens.
    pub addr: SocketAddr,
    /// Its metrics (the app's, once it runs).
    pub metrics: Arc<Metrics>,
    /// The HTTP server; ends within a few seconds of `shutdown` resolving.
    pub server: JoinHandle<std::io::Result<()>>,
    /// The app's workers and store, once setup is done.
    pub app: Arc<OnceLock<AppHandles>>,
}

/// Serves the setup pages on `listener` until `shutdown` resolves; once
/// the app is registered, assembles it (with `env` and the new
/// credentials, and `pipeline_for`) and hands it every request.
pub async fn start_setup(
    settings: &SetupSettings,
    env: setup::Lookup,
    pipeline_for: PipelineFor,
    policy: RetryPolicy,
    listener: TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<SetupRunning, StartError> {
    let metrics = Arc::new(Metrics::new());
    let (stopping, stopping_seen) = tokio::sync::watch::channel(false);
    let handles: Arc<OnceLock<AppHandles>> = Arc::new(OnceLock::new());
    let become_app: setup::BecomeApp = {
        let (metrics, handles) = (Arc::clone(&metrics), Arc::clone(&handles));
        Arc::new(move |settings: Settings| {
            let (metrics, handles) = (Arc::clone(&metrics), Arc::clone(&handles));
            let (pipeline_for, policy) = (Arc::clone(&pipeline_for), policy.clone());
            let stopping_seen = stopping_seen.clone();
            let becoming: std::pin::Pin<
                Box<dyn std::future::Future<Output = Result<axum::Router, String>> + Send>,
            > = Box::pin(async move {
                // Loading the rules takes a moment of CPU: not on the
                // threads that answer requests.
                let loading = settings.clone();
                let pipeline = tokio::task::spawn_blocking(move || pipeline_for(&loading))
                    .await
                    .map_err(|error| format!("loading the rules failed: {error}"))??;
                let parts = assemble(&settings, pipeline, policy, metrics, stopping_seen)
                    .await
                    .map_err(|error| error.to_string())?;
                let _ = handles.set(AppHandles {
                    workers: parts.workers,
                    worker: parts.worker,
                    store: parts.store,
                });
                Ok(parts.router)
            });
            becoming
        })
    };
    let setup = setup::Setup::new(settings.clone(), env, become_app);
    let addr = listener.local_addr().map_err(StartError::Listen)?;
    let server = tokio::spawn(server::serve::serve(
        listener,
        setup::router(setup),
        settings.limits.clone(),
        Arc::clone(&metrics),
        shutdown,
        stopping,
    ));
    Ok(SetupRunning {
        addr,
        metrics,
        server,
        app: handles,
    })
}

/// The app without its listener: client, store, workers, background tasks
/// (which stop when `stopping_seen` turns true) and routes.
async fn assemble(
    settings: &Settings,
    pipeline: Arc<Pipeline>,
    policy: RetryPolicy,
    metrics: Arc<Metrics>,
    stopping_seen: tokio::sync::watch::Receiver<bool>,
) -> Result<Parts, StartError> {
    let github = Arc::new(
        GitHubApp::new(
            &settings.api,
            settings.app.clone(),
            Arc::clone(&metrics),
            policy,
        )?
        .with_content_pace(settings.content_pace),
    );
    let store = store::connect(&settings.database_url).await?;
    let worker = Arc::new(worker::Worker::new(
        Arc::clone(&github),
        pipeline,
        Arc::clone(&metrics),
        Arc::clone(&store),
        worker::WorkerOptions {
            concurrency: settings.workers,
            job_deadline: settings.job_deadline,
            lease: settings.lease,
            retry_max_age: settings.retry_max_age,
            retry_base_delay: settings.retry_base_delay,
        },
    )?);
    let workers = Arc::clone(&worker).start();
    housekeeping(
        Arc::clone(&store),
        Arc::clone(&metrics),
        Arc::clone(&github),
        worker.id().to_owned(),
        settings.job_retention,
        stopping_seen.clone(),
    );
    reconciler(
        Arc::clone(&github),
        Arc::clone(&store),
        Arc::clone(&metrics),
        worker.id().to_owned(),
        stopping_seen.clone(),
    );
    let router = server::router(server::ServerState {
        webhook_secret: settings.webhook_secret.clone(),
        app_id: settings.app.app_id,
        store: Arc::clone(&store),
        intake: store::intake::Intake::start(Arc::clone(&store)),
        delivery_log: store::delivery_log::DeliveryLog::start(Arc::clone(&store)),
        worker: Arc::clone(&worker),
        metrics: Arc::clone(&metrics),
        bodies: Arc::new(server::body::BodyBudget::new(
            &settings.limits,
            Arc::clone(&metrics),
        )),
        stopping: stopping_seen,
        status: Arc::new(status::StatusPage::new(
            settings.status_token.clone(),
            Arc::clone(&github),
            Arc::clone(&store),
        )),
    });
    Ok(Parts {
        router,
        worker,
        workers,
        store,
    })
}

/// Every few seconds: the store's numbers into /metrics; every hour,
/// finished jobs older than the retention and cached licences older than
/// their TTL pruned. Stops with the server.
fn housekeeping(
    store: Arc<dyn store::Store>,
    metrics: Arc<Metrics>,
    github: Arc<GitHubApp>,
    instance: String,
    retention: Duration,
    mut stopping: tokio::sync::watch::Receiver<bool>,
) {
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(HOUSEKEEPING);
        let mut last_prune: Option<tokio::time::Instant> = None;
        let lock = format!("{INSTANCE_LOCK}{instance}");
        loop {
            let stop = tokio::select! {
                _ = ticks.tick() => false,
                _ = stopping.wait_for(|stop| *stop) => true,
            };
            if stop {
                // The others may take this instance's share at once.
                if let Err(error) = store.unlock(&lock, &instance).await {
                    tracing::warn!(%error, "cannot say this instance is leaving");
                }
                return;
            }
            // Refreshes the gauge of accounts paused by a rate limit.
            github.paused_accounts();
            let now = chrono::Utc::now();
            share_content_pace(store.as_ref(), &github, &lock, &instance, now).await;
            match store.stats(now).await {
                Ok(stats) => metrics.record_store(&stats),
                Err(error) => tracing::warn!(%error, "cannot read the store's numbers"),
            }
            if last_prune.is_none_or(|at| at.elapsed() >= Duration::from_secs(3600)) {
                last_prune = Some(tokio::time::Instant::now());
                let before = now - chrono::Duration::from_std(retention).unwrap_or_default();
                match store.prune(before).await {
                    Ok(pruned) if pruned > 0 => tracing::info!(pruned, "finished jobs pruned"),
                    Ok(_) => {}
                    Err(error) => tracing::warn!(%error, "cannot prune finished jobs"),
                }
                let stale = now
                    - chrono::Duration::from_std(crate::advisories::license_cache::TTL)
                        .unwrap_or_default();
                match store.prune_licenses(stale).await {
                    Ok(pruned) if pruned > 0 => tracing::info!(pruned, "stale licences pruned"),
                    Ok(_) => {}
                    Err(error) => tracing::warn!(%error, "cannot prune the licence cache"),
                }
            }
        }
    });
}

/// Says this instance is alive, and paces GitHub content calls at its
/// share among the live instances: GitHub counts an installation's calls
/// whichever instance makes them. A store that cannot answer leaves the
/// share as it was.
async fn share_content_pace(
    store: &dyn store::Store,
    github: &GitHubApp,
    lock: &str,
    instance: &str,
    now: chrono::DateTime<chrono::Utc>,
) {
    let live = match store.try_lock(lock, instance, INSTANCE_LEASE, now).await {
        Ok(_) => store.live_locks(INSTANCE_LOCK, now).await,
        Err(error) => Err(error),
    };
    match live {
        Ok(instances) => {
            if github.share_content_pace(instances) {
                tracing::info!(instances, "content calls paced at this instance's share");
            }
        }
        Err(error) => tracing::warn!(%error, "cannot count the live instances"),
    }
}

/// The reconciler, one instance at a time (a lock in the store), at
/// start-up and every few minutes, until the server stops.
fn reconciler(
    github: Arc<GitHubApp>,
    store: Arc<dyn store::Store>,
    metrics: Arc<Metrics>,
    holder: String,
    mut stopping: tokio::sync::watch::Receiver<bool>,
) {
    let reconciler = Arc::new(reconcile::Reconciler::new(
        reconcile::ReconcileOptions::default(),
        metrics,
    ));
    let interval = reconcile::ReconcileOptions::default().interval;
    let known = Arc::new(StoredDeliveries(Arc::clone(&store)));
    let may_run = move || {
        let (store, holder) = (Arc::clone(&store), holder.clone());
        async move {
            // The lock outlives a pass; the next holder waits for it to end.
            match store
                .try_lock("reconciler", &holder, interval, chrono::Utc::now())
                .await
            {
                Ok(true) => Some(()),
                Ok(false) => None,
                Err(error) => {
                    tracing::warn!(%error, "cannot take the reconciler's lock");
                    None
                }
            }
        }
    };
    reconcile::spawn_periodic(reconciler, github, known, may_run, async move {
        let _ = stopping.wait_for(|stop| *stop).await;
    });
}
