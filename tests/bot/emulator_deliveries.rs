//! The GitHub emulator's webhook delivery log behaves like GitHub's:
//! app-JWT only, newest first, cursor pagination through the `Link` header,
//! the `status` filter, and redeliveries that append an attempt.
//!
//! Every test ends with `assert_shapes`, which fails when one of the
//! emulator's answers does not match GitHub's response schemas.

use crate::support::bot::{APP_ID, INSTALLATION, PRIVATE_KEY, PUBLIC_KEY, REPO};
use crate::support::github_emulator::{DeliverySpec, Emulator, Fault, RedeliveryOutcome};
use chrono::{Duration, Utc};
use reqwest::{Client, Method, StatusCode};
use serde_json::{Value, json};

fn app_jwt() -> String {
    let now = Utc::now().timestamp();
    let key = jsonwebtoken::EncodingKey::from_rsa_pem(PRIVATE_KEY.as_bytes())
        .expect("test private key parses");
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256),
        &json!({ "iat": now - 60, "exp": now + 540, "iss": APP_ID.to_string() }),
        &key,
    )
    .expect("sign JWT")
}

fn bearer() -> String {
    format!("Bearer {}", app_jwt())
}

struct Answer {
    status: StatusCode,
    link: Option<String>,
    body: Value,
}

async fn call(method: Method, url: &str, auth: Option<&str>) -> Answer {
    let mut request = Client::new().request(method, url);
    if let Some(auth) = auth {
        request = request.header("authorization", auth);
    }
    let response = request.send().await.expect("the emulator answers");
    let status = response.status();
    let link = response
        .headers()
        .get("link")
        .map(|l| l.to_str().expect("ASCII link").to_owned());
    let text = response.text().await.expect("a body");
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
    Answer { status, link, body }
}

/// The `rel="next"` target of a `Link` header.
fn next_link(link: &str) -> String {
    let (target, rel) = link.split_once(';').expect("a Link entry");
    assert_eq!(rel.trim(), "rel=\"next\"", "{link}");
    target
        .trim()
        .trim_start_matches('<')
        .trim_end_matches('>')
        .to_owned()
}

fn ids(body: &Value) -> Vec<u64> {
    body.as_array()
        .expect("an array")
        .iter()
        .map(|d| d["id"].as_u64().expect("an id"))
        .collect()
}

fn assert_shapes(gh: &Emulator) {
    assert!(
        gh.response_violations().is_empty(),
        "{:#?}",
        gh.response_violations()
    );
}

#[tokio::test]
async fn the_list_pages_newest_first_by_cursor_until_the_end() {
    let gh = Emulator::start(APP_ID, PUBLIC_KEY).await;
    let base = Utc::now() - Duration::hours(2);
    // Added out of time order: the list is ordered by time, not by id.
    let mut added = Vec::new();
    for i in 0..25i64 {
        let minute = (i * 7) % 25;
        let id = gh.add_delivery(DeliverySpec::answered(
            &format!("guid-{minute}"),
            if i % 2 == 0 { 200 } else { 503 },
            base + Duration::minutes(minute),
        ));
        added.push((minute, id));
    }
    added.sort();
    let newest_first: Vec<u64> = added.iter().rev().map(|(_, id)| *id).collect();

    let mut url = format!("{}/app/hook/deliveries?per_page=10", gh.url);
    let mut seen = Vec::new();
    let mut pages = 0;
    loop {
        let answer = call(Method::GET, &url, Some(&bearer())).await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
        pages += 1;
        seen.extend(ids(&answer.body));
        let Some(link) = answer.link else { break };
        url = next_link(&link);
        assert!(url.starts_with(&gh.url), "{url}");
        assert!(
            url.contains("per_page=10") && url.contains("cursor=v1_"),
            "{url}"
        );
        // Cursors, not page numbers.
        assert!(
            !url.split(['?', '&']).any(|p| p.starts_with("page=")),
            "{url}"
        );
    }
    assert_eq!(pages, 3);
    assert_eq!(seen, newest_first);
    assert!(
        gh.schema_violations().is_empty(),
        "{:?}",
        gh.schema_violations()
    );
    assert_shapes(&gh);
}

#[tokio::test]
async fn a_new_attempt_does_not_shift_the_pages_after_a_cursor() {
    let gh = Emulator::start(APP_ID, PUBLIC_KEY).await;
    let base = Utc::now() - Duration::hours(1);
    for i in 0..4 {
        gh.add_delivery(DeliverySpec::answered(
            &format!("g{i}"),
            500,
            base + Duration::minutes(i),
        ));
    }
    let first = call(
        Method::GET,
        &format!("{}/app/hook/deliveries?per_page=2", gh.url),
        Some(&bearer()),
    )
    .await;
    let next = next_link(first.link.as_deref().expect("a next page"));
    gh.add_delivery(DeliverySpec::answered("newest", 200, Utc::now()));
    let second = call(Method::GET, &next, Some(&bearer())).await;
    let guids: Vec<&str> = second
        .body
        .as_array()
        .expect("array")
        .iter()
        .map(|d| d["guid"].as_str().expect("guid"))
        .collect();
    assert_eq!(guids, ["g1", "g0"]);
    assert_eq!(second.link, None, "the last page has no next link");
    assert_shapes(&gh);
}

#[tokio::test]
async fn per_page_defaults_to_30_and_stops_at_100() {
    let gh = Emulator::start(APP_ID, PUBLIC_KEY).await;
    let base = Utc::now() - Duration::hours(5);
    for i in 0..130 {
        gh.add_delivery(DeliverySpec::answered(
            &format!("g{i}"),
            200,
            base + Duration::seconds(i),
        ));
    }
    let list = |query: &'static str| {
        let url = format!("{}/app/hook/deliveries{query}", gh.url);
        async move { call(Method::GET, &url, Some(&bearer())).await }
    };
    assert_eq!(ids(&list("").await.body).len(), 30);
    assert_eq!(ids(&list("?per_page=1000").await.body).len(), 100);
    assert_eq!(ids(&list("?per_page=junk").await.body).len(), 30);
    assert_shapes(&gh);
}

#[tokio::test]
async fn the_status_filter_follows_the_status_code_ranges_and_refuses_other_values() {
    let gh = Emulator::start(APP_ID, PUBLIC_KEY).await;
    let at = Utc::now() - Duration::minutes(5);
    let ok = gh.add_delivery(DeliverySpec::answered("ok", 202, at));
    let failed = gh.add_delivery(DeliverySpec::answered("failed", 502, at));
    // No answer at all is in neither range, as GitHub documents the filter.
    gh.add_delivery(DeliverySpec::unanswered("unanswered", at));
    let list = |status: &str| {
        let url = format!("{}/app/hook/deliveries?status={status}", gh.url);
        async move { call(Method::GET, &url, Some(&bearer())).await }
    };
    assert_eq!(ids(&list("success").await.body), [ok]);
    assert_eq!(ids(&list("failure").await.body), [failed]);
    assert!(gh.schema_violations().is_empty());
    let refused = list("failed").await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        gh.schema_violations().len(),
        1,
        "{:?}",
        gh.schema_violations()
    );
    assert_shapes(&gh);
}

#[tokio::test]
async fn a_cursor_github_never_gave_is_refused() {
    let gh = Emulator::start(APP_ID, PUBLIC_KEY).await;
    gh.add_delivery(DeliverySpec::answered("g", 200, Utc::now()));
    for cursor in ["v1_999999", "12", "v1_x"] {
        let url = format!("{}/app/hook/deliveries?cursor={cursor}", gh.url);
        let answer = call(Method::GET, &url, Some(&bearer())).await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{cursor}");
    }
    assert_eq!(gh.schema_violations().len(), 3);
    assert_shapes(&gh);
}

#[tokio::test]
async fn both_endpoints_want_the_app_jwt_and_nothing_else() {
    let gh = Emulator::start(APP_ID, PUBLIC_KEY).await;
    gh.add_installation(INSTALLATION, REPO);
    let id = gh.add_delivery(DeliverySpec::answered("g", 500, Utc::now()));
    let token_url = format!("{}/app/installations/{INSTALLATION}/access_tokens", gh.url);
    let token = call(Method::POST, &token_url, Some(&bearer())).await;
    let token = format!("token {}", token.body["token"].as_str().expect("a token"));
    let list = format!("{}/app/hook/deliveries", gh.url);
    let redeliver = format!("{}/app/hook/deliveries/{id}/attempts", gh.url);
    for auth in [None, Some(token.as_str()), Some("Bearer not-a-jwt")] {
        let listed = call(Method::GET, &list, auth).await;
        assert_eq!(listed.status, StatusCode::UNAUTHORIZED, "{auth:?}");
        let asked = call(Method::POST, &redeliver, auth).await;
        assert_eq!(asked.status, StatusCode::UNAUTHORIZED, "{auth:?}");
    }
    assert!(gh.redelivery_requests().is_empty());
    assert_eq!(gh.deliveries().len(), 1, "a refused request logs nothing");
    assert_eq!(
        call(Method::GET, &list, Some(&bearer())).await.status,
        StatusCode::OK
    );
    assert_shapes(&gh);
}

#[tokio::test]
async fn a_redelivery_appends_an_attempt_with_the_same_guid() {
    let gh = Emulator::start(APP_ID, PUBLIC_KEY).await;
    let id = gh.add_delivery(
        DeliverySpec::unanswered("lost", Utc::now() - Duration::hours(1))
            .event("check_run", Some("rerequested")),
    );
    let url = format!("{}/app/hook/deliveries/{id}/attempts", gh.url);
    let answer = call(Method::POST, &url, Some(&bearer())).await;
    assert_eq!(answer.status, StatusCode::ACCEPTED, "{}", answer.body);
    let requests = gh.redelivery_requests();
    assert_eq!(requests.len(), 1);
    assert_eq!(
        (requests[0].delivery_id, requests[0].guid.as_str()),
        (id, "lost")
    );
    let log = gh.deliveries();
    assert_eq!(log.len(), 2);
    let again = &log[1];
    assert!(again.id > id);
    assert!(again.spec.redelivery);
    assert_eq!(again.spec.guid, "lost");
    assert_eq!(again.spec.status_code, 200);
    assert_eq!(again.spec.event, "check_run");
    assert_eq!(again.spec.action.as_deref(), Some("rerequested"));
    // It is listed first, as the newest attempt.
    let listed = call(
        Method::GET,
        &format!("{}/app/hook/deliveries", gh.url),
        Some(&bearer()),
    )
    .await;
    assert_eq!(ids(&listed.body), [again.id, id]);
    assert_eq!(listed.body[0]["redelivery"], json!(true));
    assert_shapes(&gh);
}

#[tokio::test]
async fn a_redelivery_can_stay_pending_or_fail_again() {
    let gh = Emulator::start(APP_ID, PUBLIC_KEY).await;
    let id = gh.add_delivery(DeliverySpec::answered("g", 503, Utc::now()));
    let url = format!("{}/app/hook/deliveries/{id}/attempts", gh.url);
    gh.set_redelivery_outcome(RedeliveryOutcome::Pending);
    assert_eq!(
        call(Method::POST, &url, Some(&bearer())).await.status,
        StatusCode::ACCEPTED
    );
    assert_eq!(gh.deliveries().len(), 1);
    gh.set_redelivery_outcome(RedeliveryOutcome::Attempt(502));
    assert_eq!(
        call(Method::POST, &url, Some(&bearer())).await.status,
        StatusCode::ACCEPTED
    );
    let log = gh.deliveries();
    assert_eq!(log.len(), 2);
    assert_eq!(log[1].spec.status_code, 502);
    assert_eq!(gh.redelivery_requests().len(), 2);
    assert_shapes(&gh);
}

#[tokio::test]
async fn unknown_too_old_and_faulted_redeliveries_change_nothing() {
    let gh = Emulator::start(APP_ID, PUBLIC_KEY).await;
    let old = gh.add_delivery(DeliverySpec::answered(
        "old",
        500,
        Utc::now() - Duration::days(4),
    ));
    let recent = gh.add_delivery(DeliverySpec::answered("recent", 500, Utc::now()));
    let url = |id: &str| format!("{}/app/hook/deliveries/{id}/attempts", gh.url);
    let status = |id: String| {
        let url = url(&id);
        async move { call(Method::POST, &url, Some(&bearer())).await.status }
    };
    assert_eq!(status("999999".into()).await, StatusCode::NOT_FOUND);
    assert_eq!(status("abc".into()).await, StatusCode::NOT_FOUND);
    assert_eq!(
        status(old.to_string()).await,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    gh.inject(Fault::Status {
        method: "POST",
        path_contains: "/attempts",
        status: 500,
        times: 1,
    });
    assert_eq!(
        status(recent.to_string()).await,
        StatusCode::INTERNAL_SERVER_ERROR
    );
    assert!(gh.redelivery_requests().is_empty());
    assert_eq!(gh.deliveries().len(), 2);
    // The fault is spent: the same request now goes through.
    assert_eq!(status(recent.to_string()).await, StatusCode::ACCEPTED);
    assert_eq!(gh.redelivery_requests().len(), 1);
    assert_shapes(&gh);
}
