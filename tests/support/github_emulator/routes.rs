//! The HTTP side: one axum fallback handler that records the request,
//! applies injected faults, routes by method and path segments, checks
//! authentication, validates the body against the OpenAPI description and
//! answers from the model.
//!
//! Routing is a `match` over path segments instead of axum routes so that
//! faults, authentication, validation and recording apply uniformly, and
//! so that `/repositories/{id}/...` (the form GitHub's `Link` headers use)
//! and `/repos/{owner}/{repo}/...` reach the same code.

use super::Shared;
use super::auth;
use super::checks;
use super::commits;
use super::content_limit;
use super::deliveries;
use super::graphql;
use super::manifests;
use super::pagination::{PageRequest, query_param};
use super::reviews;
use super::shapes;
use super::state::{RecordedRequest, State};
use axum::body::Bytes;
use axum::extract::State as AxumState;
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};
use serde_json::{Value, json};
use std::sync::Arc;

const REST_DOCS: &str = "https://docs.github.com/rest";

/// An answer: status, JSON body, extra headers.
#[derive(Clone, Debug)]
pub(crate) struct Reply {
    pub status: u16,
    pub body: Value,
    pub headers: Vec<(&'static str, String)>,
}

impl Reply {
    pub fn json(status: u16, body: Value) -> Reply {
        Reply {
            status,
            body,
            headers: Vec::new(),
        }
    }

    /// GitHub's error body: message, documentation URL and the status as a
    /// string.
    pub fn error(status: u16, message: &str) -> Reply {
        Reply::error_with_docs(status, message, REST_DOCS)
    }

    pub fn error_with_docs(status: u16, message: &str, docs: &str) -> Reply {
        Reply::json(
            status,
            json!({ "message": message, "documentation_url": docs, "status": status.to_string() }),
        )
    }

    fn invalid(detail: &str, docs: &str) -> Reply {
        Reply::error_with_docs(422, &format!("Invalid request.\n\n{detail}"), docs)
    }

    fn unprocessable(errors: Vec<String>, docs: &str) -> Reply {
        Reply::json(
            422,
            json!({ "message": "Unprocessable Entity", "errors": errors, "documentation_url": docs, "status": "422" }),
        )
    }

    pub fn header(mut self, name: &'static str, value: String) -> Reply {
        self.headers.push((name, value));
        self
    }

    fn into_response(self) -> Response {
        let mut response = (
            StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            self.body.to_string(),
        )
            .into_response();
        let headers = response.headers_mut();
        let reset = (chrono::Utc::now().timestamp() + 3600).to_string();
        let defaults = [
            ("content-type", "application/json; charset=utf-8".to_owned()),
            ("x-ratelimit-limit", "5000".to_owned()),
            ("x-ratelimit-remaining", "4999".to_owned()),
            ("x-ratelimit-used", "1".to_owned()),
            ("x-ratelimit-reset", reset),
            ("x-ratelimit-resource", "core".to_owned()),
            ("x-github-api-version-selected", "2022-11-28".to_owned()),
        ];
        for (name, value) in self.headers.into_iter().chain(defaults) {
            if headers.contains_key(name) && name != "content-type" {
                continue;
            }
            if let Ok(v) = HeaderValue::from_str(&value) {
                headers.insert(name, v);
            }
        }
        response
    }
}

/// Decodes `%XX` escapes (invalid escapes are kept as they are).
pub(crate) fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let Some(hex) = s.get(i + 1..i + 3)
            && let Ok(b) = u8::from_str_radix(hex, 16)
        {
            out.push(b);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// What a repository-scoped request asks for.
enum RepoOp {
    GetPull(u64),
    ListFiles(u64),
    ListComments(u64),
    CreateReview(u64),
    CreateCheckRun,
    GetCheckRun(u64),
    UpdateCheckRun(u64),
    GetContents(String),
    ListCheckRunsForRef(String),
    Compare(String),
    CollaboratorPermission(String),
}

fn repo_op(method: &Method, rest: &[&str]) -> Option<RepoOp> {
    let num = |s: &str| s.parse::<u64>().ok();
    Some(match (method.as_str(), rest) {
        ("GET", ["pulls", n]) => RepoOp::GetPull(num(n)?),
        ("GET", ["pulls", n, "files"]) => RepoOp::ListFiles(num(n)?),
        ("GET", ["pulls", n, "comments"]) => RepoOp::ListComments(num(n)?),
        ("POST", ["pulls", n, "reviews"]) => RepoOp::CreateReview(num(n)?),
        ("POST", ["check-runs"]) => RepoOp::CreateCheckRun,
        ("GET", ["check-runs", id]) => RepoOp::GetCheckRun(num(id)?),
        ("PATCH", ["check-runs", id]) => RepoOp::UpdateCheckRun(num(id)?),
        ("GET", ["commits", r, "check-runs"]) => RepoOp::ListCheckRunsForRef((*r).to_owned()),
        ("GET", ["compare", basehead]) => RepoOp::Compare(percent_decode(basehead)),
        ("GET", ["collaborators", user, "permission"]) => {
            RepoOp::CollaboratorPermission(percent_decode(user))
        }
        ("GET", ["contents", path @ ..]) if !path.is_empty() => {
            RepoOp::GetContents(percent_decode(&path.join("/")))
        }
        _ => return None,
    })
}

/// The fallback handler that serves every request.
pub(crate) async fn handle(
    AxumState(shared): AxumState<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let arrived = std::time::Instant::now();
    let path = uri.path().to_owned();
    let query = uri.query().map(str::to_owned);
    // GitHub's web page for manifests takes a form, not JSON.
    if method == Method::POST && manifests::form_path(&path).is_some() {
        return manifests::form(&shared, &path, query.as_deref(), &body);
    }
    let parsed: Option<Result<Value, String>> = if body.iter().all(u8::is_ascii_whitespace) {
        None
    } else {
        Some(serde_json::from_slice(&body).map_err(|e| e.to_string()))
    };
    let recorded_body = parsed.as_ref().and_then(|r| r.as_ref().ok().cloned());
    let record = |reply: &Reply, installation_id: Option<u64>| RecordedRequest {
        method: method.to_string(),
        path: path.clone(),
        query: query.clone(),
        body: recorded_body.clone(),
        status: reply.status,
        installation_id,
        at: arrived,
    };

    let mut applied_then: Option<Reply> = None;
    let fault = {
        let mut state = shared.lock();
        let hit = state
            .faults
            .iter_mut()
            .find(|(f, left)| *left > 0 && f.matches(method.as_str(), &path))
            .map(|(f, left)| {
                *left -= 1;
                (f.reply(), f.applies_first())
            });
        match hit {
            Some((reply, false)) => {
                let entry = record(&reply.0, None);
                state.requests.push(entry);
                Some(reply)
            }
            Some((reply, true)) => {
                applied_then = Some(reply.0);
                None
            }
            None => None,
        }
    };
    if let Some((reply, delay)) = fault {
        tokio::time::sleep(delay).await;
        return reply.into_response();
    }

    let mut state = shared.lock();
    if content_limit::creates_content(method.as_str(), &path, recorded_body.as_ref())
        && let Ok(installation) = auth::installation_of(&state, &headers)
        && let Some(refusal) = state
            .content_limit
            .as_mut()
            .and_then(|limit| limit.admit(installation, arrived))
    {
        let entry = record(&refusal, Some(installation));
        state.requests.push(entry);
        return refusal.into_response();
    }
    let (reply, installation) = dispatch(
        &shared,
        &mut state,
        &method,
        &path,
        query.as_deref(),
        &headers,
        parsed,
    );
    let reply = applied_then.unwrap_or(reply);
    let entry = record(&reply, installation);
    state.requests.push(entry);
    reply.into_response()
}

/// Routes, authenticates, validates and answers one request.
fn dispatch(
    shared: &Shared,
    state: &mut State,
    method: &Method,
    path: &str,
    query: Option<&str>,
    headers: &HeaderMap,
    body: Option<Result<Value, String>>,
) -> (Reply, Option<u64>) {
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let body = match body {
        None => Ok(json!({})),
        Some(Ok(v)) => Ok(v),
        Some(Err(e)) => Err(e),
    };
    match (method.as_str(), segments.as_slice()) {
        ("POST", ["app", "installations", id, "access_tokens"]) => {
            let Ok(id) = id.parse::<u64>() else {
                return (Reply::error(404, "Not Found"), None);
            };
            (
                create_token(shared, state, id, path, headers, body),
                Some(id),
            )
        }
        ("GET", ["app"]) => {
            if let Err(why) = auth::verify_app_jwt(headers, &shared.key, state.app_id) {
                return (Reply::error(401, &why), None);
            }
            (
                Reply::json(200, shapes::app(&shared.url, state.app_id)),
                None,
            )
        }
        ("GET", ["app", "hook", "deliveries"]) => {
            (deliveries::list(shared, state, query, headers), None)
        }
        ("POST", ["app", "hook", "deliveries", id, "attempts"]) => match id.parse::<u64>() {
            Ok(id) => (
                deliveries::redeliver(shared, state, id, headers, body),
                None,
            ),
            Err(_) => (Reply::error(404, "Not Found"), None),
        },
        ("POST", ["app-manifests", code, "conversions"]) => {
            (manifests::convert(shared, state, code, path), None)
        }
        ("POST", ["graphql"]) => {
            let installation = match auth::installation_of(state, headers) {
                Ok(i) => i,
                Err(reply) => return (reply, None),
            };
            let reply = match body {
                Ok(request) => Reply::json(200, graphql::execute(state, installation, &request)),
                Err(_) => Reply::error(400, "Problems parsing JSON"),
            };
            (reply, Some(installation))
        }
        (_, ["repos", owner, name, rest @ ..]) => {
            let full = format!("{owner}/{name}");
            repo_request(shared, state, method, &full, rest, query, headers, body)
        }
        (_, ["repositories", id, rest @ ..]) => {
            let full = id
                .parse::<u64>()
                .ok()
                .and_then(|id| state.repo_by_id(id))
                .map(|r| r.full_name.clone());
            match full {
                Some(full) => {
                    repo_request(shared, state, method, &full, rest, query, headers, body)
                }
                None => (Reply::error(404, "Not Found"), None),
            }
        }
        _ => (Reply::error(404, "Not Found"), None),
    }
}

fn create_token(
    shared: &Shared,
    state: &mut State,
    installation_id: u64,
    path: &str,
    headers: &HeaderMap,
    body: Result<Value, String>,
) -> Reply {
    if let Err(why) = auth::verify_app_jwt(headers, &shared.key, state.app_id) {
        return Reply::error(401, &why);
    }
    if !state.installations.contains_key(&installation_id) {
        return Reply::error_with_docs(
            404,
            "Not Found",
            "https://docs.github.com/rest/apps/apps#create-an-installation-access-token-for-an-app",
        );
    }
    let Ok(body) = body else {
        return Reply::error(400, "Problems parsing JSON");
    };
    if let Some(reply) = validate_request(shared, state, "POST", path, &body) {
        return reply;
    }
    let reply = Reply::json(201, auth::issue_token(state, installation_id));
    check_response(shared, state, "POST", path, &reply);
    reply
}

/// Validates a request body against the operation's schema; the 422 when
/// it fails (and the violation is recorded).
pub(crate) fn validate_request(
    shared: &Shared,
    state: &mut State,
    method: &str,
    canonical_path: &str,
    body: &Value,
) -> Option<Reply> {
    let spec = shared.openapi?;
    let (index, op) = spec.find(method, canonical_path)?;
    let docs = op.docs_url.clone().unwrap_or_else(|| REST_DOCS.to_owned());
    match spec.validate_request(index, body) {
        Ok(()) => None,
        Err(detail) => {
            state.violations.push(format!(
                "{} ({method} {}): {detail}",
                op.operation_id, op.template
            ));
            Some(Reply::invalid(&detail, &docs))
        }
    }
}

/// Checks the emulator's own answer against the response schema, so that
/// the emulator cannot drift from GitHub's shapes unnoticed.
pub(crate) fn check_response(
    shared: &Shared,
    state: &mut State,
    method: &str,
    canonical_path: &str,
    reply: &Reply,
) {
    let Some(spec) = shared.openapi else { return };
    let Some((index, op)) = spec.find(method, canonical_path) else {
        return;
    };
    if let Err(detail) = spec.validate_response(index, reply.status, &reply.body) {
        state.response_violations.push(format!(
            "{} ({method} {}) {}: {detail}",
            op.operation_id, op.template, reply.status
        ));
    }
}

#[allow(clippy::too_many_arguments)]
fn repo_request(
    shared: &Shared,
    state: &mut State,
    method: &Method,
    full: &str,
    rest: &[&str],
    query: Option<&str>,
    headers: &HeaderMap,
    body: Result<Value, String>,
) -> (Reply, Option<u64>) {
    let Some(op) = repo_op(method, rest) else {
        return (Reply::error(404, "Not Found"), None);
    };
    let installation = match auth::installation_of(state, headers) {
        Ok(i) => i,
        Err(reply) => return (reply, None),
    };
    // GitHub hides a repository the installation cannot see behind 404.
    let Some(full) = state
        .repo(full)
        .filter(|_| auth::can_access(state, installation, full))
        .map(|r| r.full_name.clone())
    else {
        return (Reply::error(404, "Not Found"), Some(installation));
    };
    let canonical = format!("/repos/{full}/{}", rest.join("/"));
    let has_body = matches!(method.as_str(), "POST" | "PATCH" | "PUT");
    let body = match body {
        Ok(b) => b,
        Err(_) if has_body => {
            return (
                Reply::error(400, "Problems parsing JSON"),
                Some(installation),
            );
        }
        Err(_) => json!({}),
    };
    if has_body
        && let Some(reply) = validate_request(shared, state, method.as_str(), &canonical, &body)
    {
        return (reply, Some(installation));
    }
    let api = shared.url.as_str();
    let app_id = state.app_id;
    let reply = answer(state, api, app_id, &full, op, query, &body);
    check_response(shared, state, method.as_str(), &canonical, &reply);
    (reply, Some(installation))
}

fn answer(
    state: &mut State,
    api: &str,
    app_id: u64,
    full: &str,
    op: RepoOp,
    query: Option<&str>,
    body: &Value,
) -> Reply {
    let not_found = || Reply::error(404, "Not Found");
    match op {
        RepoOp::GetPull(n) => {
            let repo = state.repo(full).expect("checked by caller");
            match repo.pulls.get(&n) {
                Some(pull) => Reply::json(200, shapes::pull_request(api, repo, pull)),
                None => not_found(),
            }
        }
        RepoOp::ListFiles(n) => {
            let repo = state.repo(full).expect("checked by caller");
            let Some(pull) = repo.pulls.get(&n) else {
                return not_found();
            };
            let head = pull.head();
            // GitHub lists at most 3000 files.
            let files = &head.files[..head.files.len().min(3000)];
            let link_base = format!("{api}/repositories/{}/pulls/{n}/files", repo.id);
            paginated(files, query, &link_base, |f| {
                shapes::diff_entry(api, repo, &head.head_sha, f)
            })
        }
        RepoOp::ListComments(n) => {
            let repo = state.repo(full).expect("checked by caller");
            let Some(pull) = repo.pulls.get(&n) else {
                return not_found();
            };
            let link_base = format!("{api}/repositories/{}/pulls/{n}/comments", repo.id);
            paginated(&pull.comments, query, &link_base, |c| {
                shapes::review_comment(api, repo, n, c, app_id)
            })
        }
        RepoOp::CreateReview(n) => {
            let exists = state.repo(full).is_some_and(|r| r.pulls.contains_key(&n));
            if !exists {
                return not_found();
            }
            let ids = reviews::Ids {
                review: state.next_id(),
                comments: (0..reviews::comment_count(body))
                    .map(|_| state.next_id())
                    .collect(),
            };
            let repo = state.repo_mut(full);
            let pull = repo.pulls.get_mut(&n).expect("checked above");
            match reviews::create(pull, body, ids, &shapes::bot_login()) {
                Ok(id) => {
                    let repo = state.repo(full).expect("exists");
                    let pull = &repo.pulls[&n];
                    let review = pull
                        .reviews
                        .iter()
                        .find(|r| r.id == id)
                        .expect("just created");
                    Reply::json(200, shapes::review(api, repo, n, review, app_id))
                }
                Err(reviews::Refused(errors)) => Reply::unprocessable(errors, reviews::DOCS),
            }
        }
        RepoOp::CreateCheckRun => {
            let id = state.next_id();
            match checks::create(id, body) {
                Ok(run) => {
                    let repo = state.repo_mut(full);
                    repo.check_runs.push(run);
                    let repo = state.repo(full).expect("exists");
                    let run = repo.check_runs.last().expect("just pushed");
                    Reply::json(201, shapes::check_run(api, repo, run, app_id))
                }
                Err(detail) => Reply::invalid(&detail, checks::CREATE_DOCS),
            }
        }
        RepoOp::ListCheckRunsForRef(r) => {
            let repo = state.repo(full).expect("checked by caller");
            let name = super::pagination::query_param(query, "check_name");
            let runs: Vec<Value> = repo
                .check_runs
                .iter()
                .filter(|c| c.head_sha == r && name.as_ref().is_none_or(|n| *n == c.name))
                .rev()
                .map(|run| shapes::check_run(api, repo, run, app_id))
                .collect();
            Reply::json(
                200,
                json!({ "total_count": runs.len(), "check_runs": runs }),
            )
        }
        RepoOp::GetCheckRun(id) => {
            let repo = state.repo(full).expect("checked by caller");
            match repo.check_runs.iter().find(|c| c.id == id) {
                Some(run) => Reply::json(200, shapes::check_run(api, repo, run, app_id)),
                None => not_found(),
            }
        }
        RepoOp::UpdateCheckRun(id) => {
            let repo = state.repo_mut(full);
            let Some(run) = repo.check_run_mut(id) else {
                return not_found();
            };
            match checks::update(run, body) {
                Ok(()) => {
                    let repo = state.repo(full).expect("exists");
                    let run = repo.check_runs.iter().find(|c| c.id == id).expect("exists");
                    Reply::json(200, shapes::check_run(api, repo, run, app_id))
                }
                Err(detail) => Reply::invalid(&detail, checks::UPDATE_DOCS),
            }
        }
        RepoOp::Compare(basehead) => {
            let repo = state.repo(full).expect("checked by caller");
            commits::compare(api, repo, &basehead, query)
        }
        RepoOp::CollaboratorPermission(user) => {
            let repo = state.repo(full).expect("checked by caller");
            commits::permission(api, repo, &user)
        }
        RepoOp::GetContents(path) => {
            let repo = state.repo(full).expect("checked by caller");
            let git_ref = query_param(query, "ref").unwrap_or_else(|| "main".to_owned());
            match repo.blobs.get(&(git_ref.clone(), path.clone())) {
                Some(blob) => Reply::json(
                    200,
                    shapes::content_file(api, repo, &git_ref, &path, &blob.content),
                ),
                None => Reply::error_with_docs(
                    404,
                    "Not Found",
                    "https://docs.github.com/rest/repos/contents#get-repository-content",
                ),
            }
        }
    }
}

/// One page of a list, with GitHub's `Link` header.
fn paginated<T>(
    items: &[T],
    query: Option<&str>,
    link_base: &str,
    shape: impl Fn(&T) -> Value,
) -> Reply {
    let page = PageRequest::from_query(query);
    let body: Vec<Value> = page.slice(items).iter().map(shape).collect();
    let mut reply = Reply::json(200, Value::Array(body));
    if let Some(link) = page.link(link_base, query, items.len()) {
        reply = reply.header("link", link);
    }
    reply
}
