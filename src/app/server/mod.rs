//! The HTTP side: webhook deliveries in, answered in milliseconds; health
//! and metrics for the operator.

use super::queue::{JobSink, QueueError, Submitted};
use super::webhook::{self, Delivery};
use crate::config::settings::Secret;
use crate::metrics::{DeliveryLabels, Metrics};
use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::json;
use std::sync::Arc;
use std::time::Instant;

/// GitHub caps webhook payloads at 25 MB; anything larger is not GitHub.
pub const MAX_BODY_BYTES: usize = 25 * 1024 * 1024;

/// Bodies above this are verified and parsed on the blocking pool.
const OFF_THREAD_BYTES: usize = 256 * 1024;

/// What the handlers share.
#[derive(Clone)]
pub struct ServerState {
    /// `GITHUB_WEBHOOK_SECRET`.
    pub webhook_secret: Secret,
    /// Our app id, to tell our check runs from other apps'.
    pub app_id: u64,
    /// Where jobs go.
    pub jobs: Arc<dyn JobSink>,
    /// Counters.
    pub metrics: Arc<Metrics>,
}

/// The routes: `POST /api/github/webhooks` (Probot's path, so existing app
/// registrations keep working) and `/webhook`, `GET /healthz`, `GET /metrics`.
pub fn router(state: ServerState) -> Router {
    Router::new()
        .route("/api/github/webhooks", post(deliver))
        .route("/webhook", post(deliver))
        .route("/healthz", get(|| async { "ok" }))
        .route("/metrics", get(metrics))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(axum::middleware::from_fn(refuse_declared_oversize))
        .with_state(state)
}

/// A body whose `Content-Length` is over the limit is refused before a byte
/// of it is read (the body limit alone would read 25 MB first).
async fn refuse_declared_oversize(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.trim().parse::<u64>().ok());
    if declared.is_some_and(|length| length > MAX_BODY_BYTES as u64) {
        return answer(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("body over the {MAX_BODY_BYTES}-byte limit"),
        );
    }
    next.run(request).await
}

async fn metrics(State(state): State<ServerState>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        state.metrics.render(),
    )
        .into_response()
}

fn answer(status: StatusCode, message: impl Into<String>) -> Response {
    (status, axum::Json(json!({ "message": message.into() }))).into_response()
}

async fn deliver(State(state): State<ServerState>, headers: HeaderMap, body: Bytes) -> Response {
    let started = Instant::now();
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let event = header("x-github-event").unwrap_or("unknown").to_owned();
    let delivery = header("x-github-delivery").unwrap_or("").to_owned();
    let signature = header("x-hub-signature-256").map(str::to_owned);
    let (outcome, response) = if body.len() > OFF_THREAD_BYTES {
        // Hashing and parsing megabytes takes milliseconds: not on the
        // threads that answer the other deliveries.
        let (state, event, delivery) = (state.clone(), event.clone(), delivery.clone());
        tokio::task::spawn_blocking(move || {
            handle(&state, &event, &delivery, signature.as_deref(), &body)
        })
        .await
        .unwrap_or_else(|_| {
            (
                "malformed",
                answer(StatusCode::INTERNAL_SERVER_ERROR, "delivery handler failed"),
            )
        })
    } else {
        handle(&state, &event, &delivery, signature.as_deref(), &body)
    };
    state
        .metrics
        .deliveries
        .get_or_create(&DeliveryLabels {
            event: bounded_event_label(&event),
            outcome,
        })
        .inc();
    state
        .metrics
        .ack_seconds
        .observe(started.elapsed().as_secs_f64());
    response
}

/// Event names come from the request; only GitHub's known names become
/// label values, so a forged header cannot grow the metric set.
fn bounded_event_label(event: &str) -> String {
    const KNOWN: [&str; 8] = [
        "ping",
        "pull_request",
        "check_run",
        "check_suite",
        "installation",
        "installation_repositories",
        "push",
        "pull_request_review",
    ];
    if KNOWN.contains(&event) {
        event.to_owned()
    } else {
        "other".to_owned()
    }
}

fn handle(
    state: &ServerState,
    event: &str,
    delivery: &str,
    signature: Option<&str>,
    body: &[u8],
) -> (&'static str, Response) {
    // The signature is checked on the raw bytes before anything reads them.
    if let Err(error) =
        webhook::verify_signature(state.webhook_secret.expose().as_bytes(), body, signature)
    {
        tracing::warn!(event, delivery, %error, "delivery refused");
        return (
            "rejected_signature",
            answer(StatusCode::UNAUTHORIZED, error.to_string()),
        );
    }
    if delivery.is_empty() {
        return (
            "malformed",
            answer(StatusCode::BAD_REQUEST, "missing X-GitHub-Delivery header"),
        );
    }
    let routed = match webhook::route(event, delivery, body, state.app_id) {
        Ok(routed) => routed,
        Err(error) => {
            tracing::warn!(event, delivery, %error, "malformed delivery");
            return (
                "malformed",
                answer(StatusCode::BAD_REQUEST, error.to_string()),
            );
        }
    };
    match routed {
        Delivery::Ping => ("pong", answer(StatusCode::OK, "pong")),
        Delivery::Ignored(why) => {
            tracing::debug!(event, delivery, why, "delivery ignored");
            (
                "ignored",
                answer(StatusCode::ACCEPTED, format!("ignored: {why}")),
            )
        }
        Delivery::Jobs(jobs) => {
            let mut queued = 0;
            let mut duplicates = 0;
            for job in jobs {
                let id = job.id.clone();
                match state.jobs.submit(job) {
                    Ok(Submitted::Queued) => {
                        queued += 1;
                        state.metrics.jobs_pending.inc();
                    }
                    Ok(Submitted::DuplicateDelivery | Submitted::SameHeadQueued) => duplicates += 1,
                    Err(error @ (QueueError::Full(_) | QueueError::Closed)) => {
                        tracing::error!(event, delivery, job = id, %error, "job not queued");
                        return (
                            "queue_full",
                            answer(
                                StatusCode::SERVICE_UNAVAILABLE,
                                format!("{error}; redeliver later"),
                            ),
                        );
                    }
                }
            }
            tracing::info!(event, delivery, queued, duplicates, "delivery accepted");
            let outcome = if queued > 0 { "accepted" } else { "duplicate" };
            (
                outcome,
                answer(
                    StatusCode::ACCEPTED,
                    format!("{queued} job(s) queued, {duplicates} already known"),
                ),
            )
        }
    }
}
