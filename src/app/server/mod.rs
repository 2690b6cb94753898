//! The HTTP side: webhook deliveries in, answered in milliseconds; health
//! and metrics for the operator. [`body`] reads a delivery's body under the
//! memory budget; [`serve`] runs the connections under their limits.

pub mod body;
mod connection;
pub mod serve;

use super::queue::Submitted;
use super::store::delivery_log::DeliveryLog;
use super::store::intake::Intake;
use super::store::{Incoming, Store};
use super::webhook::{self, Delivery, Job, SignatureVerifier};
use super::worker::Worker;
use crate::config::settings::Secret;
use crate::metrics::{DeliveryLabels, Metrics};
use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use body::{BodyBudget, BodyError};
use serde_json::json;
use std::sync::Arc;
use tokio::sync::watch;
use tokio::time::Instant;

/// GitHub caps webhook payloads at 25 MB; anything larger is not GitHub.
pub const MAX_BODY_BYTES: usize = 25 * 1024 * 1024;

/// Signed bodies above this are parsed on the blocking pool.
const OFF_THREAD_BYTES: usize = 256 * 1024;

/// What the handlers share.
#[derive(Clone)]
pub struct ServerState {
    /// `GITHUB_WEBHOOK_SECRET`.
    pub webhook_secret: Secret,
    /// Our app id, to tell our check runs from other apps'.
    pub app_id: u64,
    /// The store, for its health.
    pub store: Arc<dyn Store>,
    /// Where jobs go: stored (with the deliveries arriving at the same
    /// time, in one commit) before the delivery is answered.
    pub intake: Intake,
    /// What each signed delivery was answered, for the status page.
    pub delivery_log: DeliveryLog,
    /// Woken when a job is stored; completes superseded check runs.
    pub worker: Arc<Worker>,
    /// Counters.
    pub metrics: Arc<Metrics>,
    /// The memory bodies may hold, and their time limit.
    pub bodies: Arc<BodyBudget>,
    /// Becomes true when the server begins to shut down: bodies still
    /// arriving are then refused rather than waited for.
    pub stopping: watch::Receiver<bool>,
    /// The operator's status page at `/`.
    pub status: Arc<crate::app::status::StatusPage>,
}

/// The routes: `POST /api/github/webhooks` (Probot's path, so existing app
/// registrations keep working) and `/webhook`, `GET /healthz`, `GET /metrics`,
/// and the operator's status page at `GET /`.
pub fn router(state: ServerState) -> Router {
    Router::new()
        .route("/", get(status))
        .route("/api/github/webhooks", post(deliver))
        .route("/webhook", post(deliver))
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .layer(axum::middleware::from_fn(refuse_declared_oversize))
        .with_state(state)
}

/// A body whose `Content-Length` is over the limit is refused, on any
/// route, before a byte of it is read.
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

async fn status(State(state): State<ServerState>, headers: HeaderMap) -> Response {
    state.status.respond(&headers).await
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

/// Seconds a client is told to wait before it sends again.
const RETRY_AFTER_SECONDS: &str = "5";

async fn deliver(State(state): State<ServerState>, request: Request) -> Response {
    let started = Instant::now();
    let (parts, body) = request.into_parts();
    let (outcome, response, whole) = receive(&state, &parts.headers, body, started).await;
    let event = header_value(&parts.headers, "x-github-event").unwrap_or("unknown");
    record(&state, &parts.headers, event, outcome, whole.elapsed());
    state
        .metrics
        .deliveries
        .get_or_create(&DeliveryLabels {
            event: bounded_event_label(event),
            outcome,
        })
        .inc();
    // From the request being whole (or refused) to the answer: the time
    // the client spends sending its body is not the server's.
    state
        .metrics
        .ack_seconds
        .observe(whole.elapsed().as_secs_f64());
    response
}

/// Outcomes of deliveries whose signature was checked: only those reach
/// the status page's list (anyone can send the others).
const SIGNED_OUTCOMES: [&str; 5] = ["accepted", "duplicate", "pong", "ignored", "malformed"];

/// A GitHub delivery id is a UUID; anything much longer is not one.
const MAX_DELIVERY_ID: usize = 100;

/// Records a signed delivery's outcome for the status page, off the
/// answer's path: a slow store delays no acknowledgement.
fn record(
    state: &ServerState,
    headers: &HeaderMap,
    event: &str,
    outcome: &str,
    ack: std::time::Duration,
) {
    let delivery = header_value(headers, "x-github-delivery").unwrap_or("");
    if !SIGNED_OUTCOMES.contains(&outcome)
        || delivery.is_empty()
        || delivery.len() > MAX_DELIVERY_ID
    {
        return;
    }
    let record = crate::app::store::DeliveryRecord {
        id: delivery.to_owned(),
        // Signed, but the header is not: bounded to what an event name looks like.
        event: if event.len() <= 40 && event.chars().all(|c| c.is_ascii_lowercase() || c == '_') {
            event.to_owned()
        } else {
            "other".to_owned()
        },
        outcome: outcome.to_owned(),
        received_at: chrono::Utc::now(),
        ack: Some(ack),
    };
    state.delivery_log.record(record);
}

fn header_value<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|value| value.to_str().ok())
}

/// The signature header is checked before a byte of the body is read, the
/// body read under the budget and hashed as it arrives, and only a signed
/// body is parsed. Also returns when the request was whole or refused.
async fn receive(
    state: &ServerState,
    headers: &HeaderMap,
    body: axum::body::Body,
    started: Instant,
) -> (&'static str, Response, Instant) {
    let event = header_value(headers, "x-github-event").unwrap_or("unknown");
    let delivery = header_value(headers, "x-github-delivery").unwrap_or("");
    let signature = header_value(headers, "x-hub-signature-256");
    let verifier = match SignatureVerifier::new(state.webhook_secret.expose().as_bytes(), signature)
    {
        Ok(verifier) => verifier,
        Err(error) => {
            tracing::warn!(event, delivery, %error, "delivery refused");
            return (
                "rejected_signature",
                answer(StatusCode::UNAUTHORIZED, error.to_string()),
                started,
            );
        }
    };
    let declared = header_value(headers, header::CONTENT_LENGTH.as_str())
        .and_then(|value| value.trim().parse::<u64>().ok());
    let body = match state
        .bodies
        .read_signed(body, declared, verifier, started, state.stopping.clone())
        .await
    {
        Ok(body) => body,
        Err(error) => {
            tracing::warn!(event, delivery, %error, "delivery refused");
            let (outcome, response) = refused(&error);
            return (outcome, response, Instant::now());
        }
    };
    let whole = Instant::now();
    let routed = if body.len() > OFF_THREAD_BYTES {
        // Parsing megabytes takes milliseconds: not on the threads that
        // answer the other deliveries.
        let (app_id, event, delivery) = (state.app_id, event.to_owned(), delivery.to_owned());
        tokio::task::spawn_blocking(move || route(app_id, &event, &delivery, &body))
            .await
            .unwrap_or_else(|_| {
                Routed::Answered(
                    "malformed",
                    answer(StatusCode::INTERNAL_SERVER_ERROR, "delivery handler failed"),
                )
            })
    } else {
        route(state.app_id, event, delivery, &body)
    };
    let (outcome, response) = match routed {
        Routed::Jobs(jobs) => store_jobs(state, event, delivery, jobs).await,
        Routed::Answered(outcome, response) => (outcome, response),
    };
    (outcome, response, whole)
}

/// `/healthz`: the process answers and its store does (a round trip).
async fn healthz(State(state): State<ServerState>) -> Response {
    match state.store.health().await {
        Ok(()) => (StatusCode::OK, "ok").into_response(),
        Err(error) => {
            tracing::error!(%error, "the job store does not answer");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                "the job store does not answer",
            )
                .into_response()
        }
    }
}

/// The answer to a body that was not read whole and signed. A body not
/// read to its end leaves the connection unusable: those answers close it.
fn refused(error: &BodyError) -> (&'static str, Response) {
    let message = error.to_string();
    let (outcome, status) = match error {
        BodyError::Signature(_) => ("rejected_signature", StatusCode::UNAUTHORIZED),
        BodyError::TooLarge { .. } => ("too_large", StatusCode::PAYLOAD_TOO_LARGE),
        BodyError::Busy => ("busy", StatusCode::SERVICE_UNAVAILABLE),
        BodyError::ShuttingDown => ("shutting_down", StatusCode::SERVICE_UNAVAILABLE),
        BodyError::Timeout(_) => ("timeout", StatusCode::REQUEST_TIMEOUT),
        BodyError::Unreadable(_) => ("unreadable", StatusCode::BAD_REQUEST),
    };
    let mut response = answer(status, message);
    if !matches!(error, BodyError::Signature(_)) {
        response
            .headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    if status == StatusCode::SERVICE_UNAVAILABLE {
        response.headers_mut().insert(
            header::RETRY_AFTER,
            HeaderValue::from_static(RETRY_AFTER_SECONDS),
        );
    }
    (outcome, response)
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

/// What a signed delivery comes to before anything is stored.
enum Routed {
    /// Jobs to store, then answer.
    Jobs(Vec<Job>),
    /// Answered already (ping, ignored, malformed): the outcome label and
    /// the answer.
    Answered(&'static str, Response),
}

/// A signed delivery: routed. Its jobs, or the answer when there is none.
fn route(app_id: u64, event: &str, delivery: &str, body: &[u8]) -> Routed {
    if delivery.is_empty() {
        return Routed::Answered(
            "malformed",
            answer(StatusCode::BAD_REQUEST, "missing X-GitHub-Delivery header"),
        );
    }
    let routed = match webhook::route(event, delivery, body, app_id) {
        Ok(routed) => routed,
        Err(error) => {
            tracing::warn!(event, delivery, %error, "malformed delivery");
            return Routed::Answered(
                "malformed",
                answer(StatusCode::BAD_REQUEST, error.to_string()),
            );
        }
    };
    match routed {
        Delivery::Ping => Routed::Answered("pong", answer(StatusCode::OK, "pong")),
        Delivery::Ignored(why) => {
            tracing::debug!(event, delivery, why, "delivery ignored");
            Routed::Answered(
                "ignored",
                answer(StatusCode::ACCEPTED, format!("ignored: {why}")),
            )
        }
        Delivery::Jobs(jobs) => Routed::Jobs(jobs),
    }
}

/// Stores a delivery's jobs before answering: 202 once they are durable,
/// 503 when the store cannot take them (GitHub then shows the delivery as
/// failed, and the reconciler asks for it again). A push's jobs supersede
/// the pull request's jobs for older heads.
async fn store_jobs(
    state: &ServerState,
    event: &str,
    delivery: &str,
    jobs: Vec<Job>,
) -> (&'static str, Response) {
    let now = chrono::Utc::now();
    let heads: Vec<String> = jobs.iter().map(|job| job.head_sha.clone()).collect();
    let incoming = Incoming {
        delivery_id: delivery.to_owned(),
        jobs,
    };
    let accepted = match state.intake.accept(incoming, now).await {
        Ok(accepted) => accepted,
        Err(error) => {
            tracing::error!(event, delivery, %error, "delivery not stored");
            let mut response = answer(
                StatusCode::SERVICE_UNAVAILABLE,
                "the delivery could not be stored; redeliver later",
            );
            response.headers_mut().insert(
                header::RETRY_AFTER,
                HeaderValue::from_static(RETRY_AFTER_SECONDS),
            );
            return ("store_unavailable", response);
        }
    };
    let queued = accepted
        .submitted
        .iter()
        .filter(|s| matches!(s, Submitted::Queued))
        .count();
    let duplicates = accepted.submitted.len() - queued;
    // A push made the pull request's other heads obsolete; the store ended
    // those not running now, and their check runs are completed here.
    for (index, superseded) in accepted.superseded {
        if let Some(head) = heads.get(index) {
            state.worker.complete_superseded(superseded, head);
        }
    }
    if queued > 0 {
        state.worker.wake();
    }
    tracing::info!(event, delivery, queued, duplicates, "delivery accepted");
    let outcome = if queued > 0 { "accepted" } else { "duplicate" };
    (
        outcome,
        answer(
            StatusCode::ACCEPTED,
            format!("{queued} job(s) stored, {duplicates} already known"),
        ),
    )
}
