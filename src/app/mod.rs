//! The GitHub App: webhook deliveries in ([`webhook`], [`server`]), jobs
//! queued ([`queue`], durably in [`store`]), analysed and written back ([`worker`]).

pub mod changes;
pub mod external_id;
pub mod merge_queue;
pub mod queue;
pub mod reconcile;
pub mod server;
pub mod signature;
pub mod store;
pub mod threads;
pub mod triage;
pub mod webhook;
pub mod worker;

use crate::config::settings::Settings;
use crate::github::{GitHubApp, GitHubError, RetryPolicy};
use crate::metrics::Metrics;
use crate::pipeline::Pipeline;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

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
) -> Result<Running, GitHubError> {
    let metrics = Arc::new(Metrics::new());
    let github = Arc::new(GitHubApp::new(
        &settings.api,
        settings.app.clone(),
        Arc::clone(&metrics),
        policy,
    )?);
    let (queue, receiver) = queue::MemoryQueue::new(settings.queue_capacity);
    let worker = Arc::new(
        worker::Worker::new(github, pipeline, Arc::clone(&metrics), settings.workers)
            .with_job_deadline(settings.job_deadline),
    );
    let workers = Arc::clone(&worker).start(receiver);
    let (stopping, stopping_seen) = tokio::sync::watch::channel(false);
    let router = server::router(server::ServerState {
        webhook_secret: settings.webhook_secret.clone(),
        app_id: settings.app.app_id,
        jobs: Arc::new(queue),
        metrics: Arc::clone(&metrics),
        bodies: Arc::new(server::body::BodyBudget::new(
            &settings.limits,
            Arc::clone(&metrics),
        )),
        stopping: stopping_seen,
    });
    let addr = listener
        .local_addr()
        .map_err(|error| GitHubError::Transport {
            route: "listen",
            message: error.to_string(),
        })?;
    let server = tokio::spawn(server::serve::serve(
        listener,
        router,
        settings.limits.clone(),
        Arc::clone(&metrics),
        shutdown,
        stopping,
    ));
    Ok(Running {
        addr,
        metrics,
        server,
        workers,
        worker,
    })
}
