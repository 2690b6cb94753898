//! GitHub's manifest flow: the page that takes a manifest
//! (`POST /settings/apps/new` or `/organizations/{org}/settings/apps/new`,
//! with `?state=`), and the exchange of the code it hands back
//! (`POST /app-manifests/{code}/conversions`).
//!
//! The page is a stand-in: GitHub shows the manifest and waits for the
//! user's "Create GitHub App"; here the app is created at once and the
//! browser redirected to the manifest's `redirect_url` with `code` and
//! `state`, as GitHub does after the confirmation. A code is exchanged
//! once; the app it creates is the emulator's own (its id and key), so the
//! bot can run as it afterwards.

use super::Shared;
use super::routes::{Reply, check_response, percent_decode};
use super::shapes;
use super::state::{RecordedRequest, State};
use axum::response::{IntoResponse, Response};
use http::{HeaderValue, StatusCode, header};
use serde_json::{Value, json};

/// The private key matching the emulator's public key in the bot's tests.
const PRIVATE_KEY: &str = include_str!("../../../fixtures/github/test-app-private-key.pem");

/// A manifest posted to the page.
#[derive(Clone, Debug)]
pub struct PostedManifest {
    /// The organisation in the page's path; `None` for a personal account.
    pub organization: Option<String>,
    /// The `state` query parameter, handed back unchanged.
    pub state: Option<String>,
    /// The manifest, parsed.
    pub manifest: Value,
    /// The code handed back.
    pub code: String,
    /// Whether the code was exchanged.
    pub converted: bool,
}

/// Whether `path` is the page that takes a manifest; its organisation.
pub(crate) fn form_path(path: &str) -> Option<Option<String>> {
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    match segments.as_slice() {
        ["settings", "apps", "new"] => Some(None),
        ["organizations", org, "settings", "apps", "new"] => Some(Some(percent_decode(org))),
        _ => None,
    }
}

/// `application/x-www-form-urlencoded` fields.
fn form_fields(body: &[u8]) -> Vec<(String, String)> {
    String::from_utf8_lossy(body)
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            let decode = |s: &str| percent_decode(&s.replace('+', " "));
            (decode(name), decode(value))
        })
        .collect()
}

/// What GitHub refuses in a manifest (the fields its docs mark required,
/// and the shapes of the rest).
fn manifest_problems(manifest: &Value) -> Vec<String> {
    let mut problems = Vec::new();
    let text = |key: &str| manifest.get(key).and_then(Value::as_str);
    if text("url").is_none_or(|url| !url.starts_with("http")) {
        problems.push("url is required and must be a URL".to_owned());
    }
    if text("name").is_some_and(str::is_empty) {
        problems.push("name must not be empty".to_owned());
    }
    match manifest.get("hook_attributes") {
        Some(hook) => {
            if hook
                .get("url")
                .and_then(Value::as_str)
                .is_none_or(|url| !url.starts_with("http"))
            {
                problems.push("hook_attributes.url is required".to_owned());
            }
        }
        None => problems.push("hook_attributes is required for webhooks".to_owned()),
    }
    if text("redirect_url").is_none_or(|url| !url.starts_with("http")) {
        problems.push("redirect_url is required to hand the code back".to_owned());
    }
    if !manifest
        .get("default_permissions")
        .is_some_and(Value::is_object)
    {
        problems.push("default_permissions must be an object".to_owned());
    }
    if !manifest.get("default_events").is_some_and(Value::is_array) {
        problems.push("default_events must be an array".to_owned());
    }
    problems
}

/// The page: takes the manifest, creates the app, redirects back.
pub(crate) fn form(shared: &Shared, path: &str, query: Option<&str>, body: &[u8]) -> Response {
    let organization = form_path(path).flatten();
    let state_param = super::pagination::query_param(query, "state");
    let manifest = form_fields(body)
        .into_iter()
        .find(|(name, _)| name == "manifest")
        .and_then(|(_, value)| serde_json::from_str::<Value>(&value).ok());
    let mut state = shared.lock();
    let (status, response) = match manifest {
        None => (
            422,
            (
                StatusCode::UNPROCESSABLE_ENTITY,
                "no manifest field holding JSON",
            )
                .into_response(),
        ),
        Some(manifest) => {
            let problems = manifest_problems(&manifest);
            if problems.is_empty() {
                let code = format!("code{}", state.next_id());
                let redirect = manifest["redirect_url"].as_str().unwrap_or_default();
                let separator = if redirect.contains('?') { '&' } else { '?' };
                let mut location = format!("{redirect}{separator}code={code}");
                if let Some(s) = &state_param {
                    location.push_str(&format!("&state={s}"));
                }
                state.manifests.push(PostedManifest {
                    organization,
                    state: state_param.clone(),
                    manifest,
                    code,
                    converted: false,
                });
                let mut response = StatusCode::FOUND.into_response();
                if let Ok(value) = HeaderValue::from_str(&location) {
                    response.headers_mut().insert(header::LOCATION, value);
                }
                (302, response)
            } else {
                (
                    422,
                    (StatusCode::UNPROCESSABLE_ENTITY, problems.join("\n")).into_response(),
                )
            }
        }
    };
    state.requests.push(RecordedRequest {
        method: "POST".to_owned(),
        path: path.to_owned(),
        query: query.map(str::to_owned),
        body: None,
        status,
        installation_id: None,
        at: std::time::Instant::now(),
    });
    response
}

/// `POST /app-manifests/{code}/conversions`: the app's credentials, once.
pub(crate) fn convert(shared: &Shared, state: &mut State, code: &str, path: &str) -> Reply {
    let Some(posted) = state
        .manifests
        .iter_mut()
        .find(|m| m.code == code && !m.converted)
    else {
        return Reply::error_with_docs(
            404,
            "Not Found",
            "https://docs.github.com/rest/apps/apps#create-a-github-app-from-a-manifest",
        );
    };
    posted.converted = true;
    let manifest = posted.manifest.clone();
    let owner = posted
        .organization
        .clone()
        .map(|org| (org, "Organization"))
        .unwrap_or_else(|| ("octocat".to_owned(), "User"));
    let name = manifest["name"].as_str().unwrap_or("hunkscan").to_owned();
    let slug: String = name
        .to_ascii_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    let api = shared.url.as_str();
    let app_id = state.app_id;
    let reply = Reply::json(
        201,
        json!({
            "id": app_id,
            "slug": slug,
            "node_id": format!("A_{app_id}"),
            "client_id": format!("Iv1.{app_id:016x}"),
            "owner": shapes::user(api, &owner.0, shapes::user_id(&owner.0), owner.1),
            "name": name,
            "description": manifest.get("description").cloned().unwrap_or(Value::Null),
            "external_url": manifest["url"].clone(),
            "html_url": format!("{}/apps/{slug}", shapes::HTML),
            "created_at": "2024-01-01T00:00:00Z",
            "updated_at": "2024-01-01T00:00:00Z",
            "permissions": manifest["default_permissions"].clone(),
            "events": manifest["default_events"].clone(),
            "client_secret": format!("client-secret-{code}"),
            "webhook_secret": format!("webhook-secret-{code}-from-the-emulator"),
            "pem": PRIVATE_KEY,
        }),
    );
    check_response(shared, state, "POST", path, &reply);
    reply
}
