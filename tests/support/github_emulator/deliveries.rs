//! The app's webhook delivery log: `GET /app/hook/deliveries` and
//! `POST /app/hook/deliveries/{delivery_id}/attempts`, both app-level (JWT).
//!
//! Tests add attempts ([`DeliverySpec`]); the list serves them newest first
//! with GitHub's cursor pagination: `per_page` (default 30, at most 100), a
//! `Link: <...&cursor=v1_{id}>; rel="next"` while more remain, the cursor
//! naming the last attempt of the page (so attempts added later, which are
//! newer, do not shift the pages after it), and the `status` filter
//! (`success` = 200-399, `failure` = 400-599). A redelivery GitHub accepts
//! (202) is recorded and, per [`RedeliveryOutcome`], appends a new attempt
//! with `redelivery: true` and the same guid. GitHub redelivers only
//! attempts of the last 3 days; older ones get a 422.

use super::Shared;
use super::auth;
use super::pagination::{per_page, query_pairs, query_param};
use super::routes::{Reply, check_response, validate_request};
use super::state::State;
use chrono::{DateTime, Utc};
use http::HeaderMap;
use serde_json::{Value, json};

const LIST_DOCS: &str =
    "https://docs.github.com/rest/apps/webhooks#list-deliveries-for-an-app-webhook";
const REDELIVER_DOCS: &str =
    "https://docs.github.com/rest/apps/webhooks#redeliver-a-delivery-for-an-app-webhook";
const REDELIVERY_LIMIT_DAYS: i64 = 3;

/// One attempt to deliver an event, as a test adds it to the log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeliverySpec {
    /// The event's `X-GitHub-Delivery`, shared by all its attempts.
    pub guid: String,
    pub event: String,
    pub action: Option<String>,
    /// The webhook's answer; 0 when GitHub got none (could not connect,
    /// timed out).
    pub status_code: u16,
    pub delivered_at: DateTime<Utc>,
    pub redelivery: bool,
    pub installation_id: Option<u64>,
    pub repository_id: Option<u64>,
}

impl DeliverySpec {
    /// A `pull_request.opened` attempt the webhook answered `status_code`.
    pub fn answered(guid: &str, status_code: u16, delivered_at: DateTime<Utc>) -> DeliverySpec {
        DeliverySpec {
            guid: guid.to_owned(),
            event: "pull_request".to_owned(),
            action: Some("opened".to_owned()),
            status_code,
            delivered_at,
            redelivery: false,
            installation_id: Some(77),
            repository_id: Some(1001),
        }
    }

    /// An attempt GitHub could not make (no answer, `status_code` 0).
    pub fn unanswered(guid: &str, delivered_at: DateTime<Utc>) -> DeliverySpec {
        DeliverySpec::answered(guid, 0, delivered_at)
    }

    /// Marks the attempt a redelivery.
    pub fn redelivery(mut self) -> DeliverySpec {
        self.redelivery = true;
        self
    }

    /// Another event and action.
    pub fn event(mut self, event: &str, action: Option<&str>) -> DeliverySpec {
        self.event = event.to_owned();
        self.action = action.map(str::to_owned);
        self
    }
}

/// An attempt in the log, with the id the emulator gave it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Delivery {
    pub id: u64,
    pub spec: DeliverySpec,
}

/// What becomes of a redelivery GitHub accepted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RedeliveryOutcome {
    /// A new attempt, answered with this status, is logged at once.
    Attempt(u16),
    /// Nothing is logged: GitHub has not made it yet.
    Pending,
}

/// A redelivery request GitHub accepted (202).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RedeliveryRequest {
    /// The attempt named in the request.
    pub delivery_id: u64,
    pub guid: String,
}

/// The log behind the two endpoints.
pub(crate) struct Log {
    /// In the order added.
    pub attempts: Vec<Delivery>,
    pub outcome: RedeliveryOutcome,
    pub requests: Vec<RedeliveryRequest>,
}

impl Default for Log {
    fn default() -> Log {
        Log {
            attempts: Vec::new(),
            outcome: RedeliveryOutcome::Attempt(200),
            requests: Vec::new(),
        }
    }
}

/// GitHub's `status` text for an answer.
fn status_text(status_code: u16) -> String {
    match status_code {
        0 => "failed to connect".to_owned(),
        200..=299 => "OK".to_owned(),
        code => format!("Invalid HTTP Response: {code}"),
    }
}

fn shape(d: &Delivery) -> Value {
    let s = &d.spec;
    json!({
        "id": d.id,
        "guid": s.guid,
        "delivered_at": s.delivered_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        "redelivery": s.redelivery,
        "duration": if s.status_code == 0 { 10.0 } else { 0.27 },
        "status": status_text(s.status_code),
        "status_code": s.status_code,
        "event": s.event,
        "action": s.action,
        "installation_id": s.installation_id,
        "repository_id": s.repository_id,
        "throttled_at": null
    })
}

/// A request parameter GitHub would refuse: the answer, and the violation
/// recorded (the bot should never send it).
fn refuse(state: &mut State, operation: &str, reply: Reply, detail: String) -> Reply {
    state.violations.push(format!("{operation}: {detail}"));
    reply
}

/// `GET /app/hook/deliveries`.
pub(crate) fn list(
    shared: &Shared,
    state: &mut State,
    query: Option<&str>,
    headers: &HeaderMap,
) -> Reply {
    const OPERATION: &str = "apps/list-webhook-deliveries (GET /app/hook/deliveries)";
    if let Err(why) = auth::verify_app_jwt(headers, &shared.key, state.app_id) {
        return Reply::error(401, &why);
    }
    let status = query_param(query, "status");
    let range = match status.as_deref() {
        None => 0..=u16::MAX,
        Some("success") => 200..=399,
        Some("failure") => 400..=599,
        Some(other) => {
            let reply = Reply::json(
                422,
                json!({
                    "message": "Validation Failed",
                    "errors": [{ "resource": "HookDelivery", "field": "status", "code": "invalid" }],
                    "documentation_url": LIST_DOCS,
                }),
            );
            return refuse(
                state,
                OPERATION,
                reply,
                format!("status {other:?} is not success or failure"),
            );
        }
    };
    let mut attempts: Vec<&Delivery> = state
        .deliveries
        .attempts
        .iter()
        .filter(|d| range.contains(&d.spec.status_code))
        .collect();
    attempts.sort_by_key(|d| std::cmp::Reverse((d.spec.delivered_at, d.id)));
    let start = match query_param(query, "cursor") {
        None => 0,
        Some(cursor) => {
            let after = cursor
                .strip_prefix("v1_")
                .and_then(|id| id.parse::<u64>().ok())
                .and_then(|id| attempts.iter().position(|d| d.id == id));
            match after {
                Some(i) => i + 1,
                None => {
                    let reply = Reply::error_with_docs(400, "Invalid cursor", LIST_DOCS);
                    return refuse(
                        state,
                        OPERATION,
                        reply,
                        format!("cursor {cursor:?} is not one GitHub gave"),
                    );
                }
            }
        }
    };
    let per_page = per_page(query);
    let page = &attempts[start.min(attempts.len())..(start + per_page).min(attempts.len())];
    let mut reply = Reply::json(200, Value::Array(page.iter().map(|d| shape(d)).collect()));
    if start + per_page < attempts.len()
        && let Some(last) = page.last()
    {
        let mut pairs: Vec<String> = query_pairs(query)
            .into_iter()
            .filter(|(k, _)| k != "cursor")
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        pairs.push(format!("cursor=v1_{}", last.id));
        let link = format!(
            "<{}/app/hook/deliveries?{}>; rel=\"next\"",
            shared.url,
            pairs.join("&")
        );
        reply = reply.header("link", link);
    }
    check_response(shared, state, "GET", "/app/hook/deliveries", &reply);
    reply
}

/// `POST /app/hook/deliveries/{delivery_id}/attempts`.
pub(crate) fn redeliver(
    shared: &Shared,
    state: &mut State,
    delivery_id: u64,
    headers: &HeaderMap,
    body: Result<Value, String>,
) -> Reply {
    let path = format!("/app/hook/deliveries/{delivery_id}/attempts");
    if let Err(why) = auth::verify_app_jwt(headers, &shared.key, state.app_id) {
        return Reply::error(401, &why);
    }
    let Ok(body) = body else {
        return Reply::error(400, "Problems parsing JSON");
    };
    if let Some(reply) = validate_request(shared, state, "POST", &path, &body) {
        return reply;
    }
    let Some(attempt) = state
        .deliveries
        .attempts
        .iter()
        .find(|d| d.id == delivery_id)
        .cloned()
    else {
        return Reply::error_with_docs(404, "Not Found", REDELIVER_DOCS);
    };
    let reply =
        if Utc::now() - attempt.spec.delivered_at > chrono::Duration::days(REDELIVERY_LIMIT_DAYS) {
            Reply::json(
                422,
                json!({
                    "message": "Validation Failed",
                    "errors": [{
                        "resource": "HookDelivery",
                        "code": "custom",
                        "message": "Deliveries older than 3 days cannot be redelivered"
                    }],
                    "documentation_url": REDELIVER_DOCS,
                }),
            )
        } else {
            state.deliveries.requests.push(RedeliveryRequest {
                delivery_id,
                guid: attempt.spec.guid.clone(),
            });
            if let RedeliveryOutcome::Attempt(status_code) = state.deliveries.outcome {
                let id = state.next_id();
                state.deliveries.attempts.push(Delivery {
                    id,
                    spec: DeliverySpec {
                        status_code,
                        delivered_at: Utc::now(),
                        redelivery: true,
                        ..attempt.spec
                    },
                });
            }
            Reply::json(202, json!({}))
        };
    check_response(shared, state, "POST", &path, &reply);
    reply
}
