//! The three GraphQL documents the bot sends: blob contents by
//! `{sha}:{path}`, the review threads of a pull request (cursor paginated),
//! and resolving threads. Documents are recognised tolerantly with regexes
//! (whitespace and commas may vary; aliases and variables are read from the
//! text), not parsed by a full GraphQL parser; anything else is answered
//! with an `errors` entry, as GitHub does for a document it cannot run.
//!
//! GitHub caps a query's size; the emulator models that as at most 250
//! aliased `object` lookups per query, and at most 100 per connection page.

use super::auth::can_access;
use super::shapes::{base64, base64_decode};
use super::state::State;
use regex::Regex;
use serde_json::{Map, Value, json};
use std::sync::LazyLock;

const MAX_BLOB_ALIASES: usize = 250;
const MAX_PAGE: u64 = 100;

static BLOB_ALIAS: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r#"(\w+)\s*:\s*object\s*\(\s*expression\s*:\s*(\$\w+|"(?:[^"\\]|\\.)*")\s*\)\s*\{\s*\.\.\.\s*on\s+Blob\s*\{([^}]*)\}\s*\}"#,
    )
    .expect("valid regex")
});
static OBJECT_CALL: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\bobject\s*\(").expect("valid regex"));
static REPOSITORY: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r#"repository\s*\(\s*owner\s*:\s*(\$\w+|"[^"]*")\s*,?\s*name\s*:\s*(\$\w+|"[^"]*")\s*\)"#,
    )
    .expect("valid regex")
});
static PULL_REQUEST_WITH_ALIAS: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(\w+)\s*:\s*pullRequest\s*\(\s*number\s*:\s*(\$\w+|\d+)\s*\)\s*\{([^{}]*)\}")
        .expect("valid regex")
});
static PULL_REQUEST: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"pullRequest\s*\(\s*number\s*:\s*(\$\w+|\d+)\s*\)").expect("valid regex")
});
static REVIEW_THREADS: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"reviewThreads\s*\(([^)]*)\)").expect("valid regex"));
static ARG: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r#"(\w+)\s*:\s*(\$\w+|\d+|"[^"]*"|null)"#).expect("valid regex"));
static RESOLVE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r#"(?:(\w+)\s*:\s*)?\b(resolveReviewThread|unresolveReviewThread)\s*\(\s*input\s*:\s*\{\s*threadId\s*:\s*(\$\w+|"[^"]*")\s*\}\s*\)"#)
        .expect("valid regex")
});

fn error(message: impl Into<String>) -> Value {
    json!({ "errors": [{ "message": message.into() }] })
}

fn not_found(path: &str, message: String) -> Value {
    json!({ "type": "NOT_FOUND", "path": [path], "message": message })
}

/// Resolves `$var` from the variables, or a literal.
pub(crate) fn argument(token: &str, variables: &Value) -> Result<Value, String> {
    if let Some(name) = token.strip_prefix('$') {
        return variables
            .get(name)
            .cloned()
            .ok_or_else(|| format!("Variable ${name} was not provided"));
    }
    if token == "null" {
        return Ok(Value::Null);
    }
    if let Some(s) = token.strip_prefix('"').and_then(|s| s.strip_suffix('"')) {
        return Ok(Value::String(s.replace("\\\"", "\"")));
    }
    token
        .parse::<u64>()
        .map(Value::from)
        .map_err(|_| format!("cannot read argument {token}"))
}

/// Answers one GraphQL request for an installation. Always HTTP 200 with
/// `data` and/or `errors`, as GitHub answers a well-formed request.
pub(crate) fn execute(state: &mut State, installation: u64, request: &Value) -> Value {
    let Some(query) = request.get("query").and_then(Value::as_str) else {
        return error("A query attribute must be specified and must be a string.");
    };
    let empty = json!({});
    let variables = match request.get("variables") {
        Some(Value::Object(_)) => &request["variables"],
        _ => &empty,
    };
    let result = if super::graphql_triage::is_triage(query) {
        super::graphql_triage::execute(state, installation, query, variables)
    } else if RESOLVE.is_match(query) {
        resolve_threads(state, installation, query, variables)
    } else if REVIEW_THREADS.is_match(query) {
        review_threads(state, installation, query, variables)
    } else if OBJECT_CALL.is_match(query) {
        blobs(state, installation, query, variables)
    } else {
        Err("the emulator only knows the blob, review-thread and resolve documents".into())
    };
    result.unwrap_or_else(error)
}

/// The repository a query names, if the installation can see it.
pub(crate) fn repository(
    state: &State,
    installation: u64,
    query: &str,
    variables: &Value,
) -> Result<Result<String, Value>, String> {
    let caps = REPOSITORY
        .captures(query)
        .ok_or("the document has no repository(owner:, name:) field")?;
    let owner = argument(&caps[1], variables)?;
    let name = argument(&caps[2], variables)?;
    let (Some(owner), Some(name)) = (owner.as_str(), name.as_str()) else {
        return Err("owner and name must be strings".into());
    };
    let full = format!("{owner}/{name}");
    if state.repo(&full).is_some() && can_access(state, installation, &full) {
        Ok(Ok(full))
    } else {
        Ok(Err(json!({
            "data": { "repository": null },
            "errors": [not_found("repository", format!("Could not resolve to a Repository with the name '{full}'."))]
        })))
    }
}

fn blobs(
    state: &State,
    installation: u64,
    query: &str,
    variables: &Value,
) -> Result<Value, String> {
    let aliases: Vec<_> = BLOB_ALIAS.captures_iter(query).collect();
    let calls = OBJECT_CALL.find_iter(query).count();
    if calls > MAX_BLOB_ALIASES {
        return Err(format!(
            "This query requests {calls} objects; the emulator allows at most {MAX_BLOB_ALIASES} per query, like GitHub's limit on query size"
        ));
    }
    if aliases.len() != calls {
        return Err(
            "every object(expression:) needs an alias and a `... on Blob { }` selection".into(),
        );
    }
    let full = match repository(state, installation, query, variables)? {
        Ok(full) => full,
        Err(answer) => return Ok(answer),
    };
    let repo = state.repo(&full).ok_or("repository vanished")?;
    let mut out = Map::new();
    for caps in aliases {
        let alias = caps[1].to_owned();
        let expression = argument(&caps[2], variables)?;
        let expression = expression
            .as_str()
            .ok_or_else(|| format!("the expression of {alias} must be a string"))?;
        let (sha, path) = expression
            .split_once(':')
            .ok_or_else(|| format!("expression {expression:?} is not <rev>:<path>"))?;
        let blob = repo.blobs.get(&(sha.to_owned(), path.to_owned()));
        let value = match blob {
            None => Value::Null,
            Some(blob) => {
                let mut fields = Map::new();
                for field in caps[3].split(|c: char| c.is_whitespace() || c == ',') {
                    let v = match field {
                        "" | "__typename" => continue,
                        "byteSize" => json!(blob.content.len()),
                        "isBinary" => json!(blob.binary),
                        "isTruncated" => json!(false),
                        "text" => {
                            if blob.binary {
                                Value::Null
                            } else {
                                json!(blob.content)
                            }
                        }
                        "oid" => json!(super::state::fake_sha(blob.content.as_bytes())),
                        other => {
                            return Err(format!("Field '{other}' doesn't exist on type 'Blob'"));
                        }
                    };
                    fields.insert(field.to_owned(), v);
                }
                Value::Object(fields)
            }
        };
        out.insert(alias, value);
    }
    // `pr:pullRequest(number:$number){headRefOid baseRefOid isDraft}`
    // beside the blobs: the bot reads the pull request's current head in the
    // same request.
    if let Some(caps) = PULL_REQUEST_WITH_ALIAS.captures(query) {
        let alias = caps[1].to_owned();
        let number = argument(&caps[2], variables)?
            .as_u64()
            .ok_or("pullRequest(number:) must be an integer")?;
        let value = match repo.pulls.get(&number) {
            None => Value::Null,
            Some(pull) => {
                let current = pull.pushes.last().ok_or("pull request without a push")?;
                let mut fields = Map::new();
                for field in caps[3].split(|c: char| c.is_whitespace() || c == ',') {
                    let v = match field {
                        "" | "__typename" => continue,
                        "headRefOid" => json!(current.head_sha),
                        "baseRefOid" => json!(current.base_sha),
                        "isDraft" => json!(pull.draft),
                        "number" => json!(pull.number),
                        other => {
                            return Err(format!(
                                "Field '{other}' doesn't exist on type 'PullRequest'"
                            ));
                        }
                    };
                    fields.insert(field.to_owned(), v);
                }
                Value::Object(fields)
            }
        };
        out.insert(alias, value);
    }
    Ok(json!({ "data": { "repository": out } }))
}

fn cursor(index: usize) -> String {
    base64(format!("cursor:v2:{index}").as_bytes())
}

fn parse_cursor(s: &str) -> Option<usize> {
    let raw = String::from_utf8(base64_decode(s)?).ok()?;
    raw.strip_prefix("cursor:v2:")?.parse().ok()
}

pub(crate) fn review_threads(
    state: &State,
    installation: u64,
    query: &str,
    variables: &Value,
) -> Result<Value, String> {
    let full = match repository(state, installation, query, variables)? {
        Ok(full) => full,
        Err(answer) => return Ok(answer),
    };
    let number_caps = PULL_REQUEST
        .captures(query)
        .ok_or("the document has no pullRequest(number:) field")?;
    let number = argument(&number_caps[1], variables)?
        .as_u64()
        .ok_or("number must be an integer")?;
    let args_caps = REVIEW_THREADS.captures(query).ok_or("no reviewThreads")?;
    let (mut first, mut after) = (None, None);
    for arg in ARG.captures_iter(&args_caps[1]) {
        let value = argument(&arg[2], variables)?;
        match &arg[1] {
            "first" => first = value.as_u64(),
            "after" => after = value.as_str().map(str::to_owned),
            other => {
                return Err(format!(
                    "reviewThreads has no argument {other} in the emulator"
                ));
            }
        }
    }
    let first = first.ok_or("You must provide a `first` or `last` value to properly paginate the `reviewThreads` connection.")?;
    if first > MAX_PAGE {
        return Err(format!(
            "Requesting {first} records on the `reviewThreads` connection exceeds the `first` limit of {MAX_PAGE} records."
        ));
    }
    let start = match &after {
        None => 0,
        Some(c) => parse_cursor(c)
            .ok_or_else(|| format!("`{c}` does not appear to be a valid cursor."))?
            .saturating_add(1),
    };
    let repo = state.repo(&full).ok_or("repository vanished")?;
    let Some(pull) = repo.pulls.get(&number) else {
        return Ok(json!({
            "data": { "repository": { "pullRequest": null } },
            "errors": [not_found("pullRequest", format!("Could not resolve to a PullRequest with the number of {number}."))]
        }));
    };
    let wants = |field: &str| Regex::new(&format!(r"\b{field}\b")).is_ok_and(|r| r.is_match(query));
    let (outdated, path, body, author, resolved_by) = (
        wants("isOutdated"),
        wants("path"),
        wants("body"),
        wants("author"),
        wants("resolvedBy"),
    );
    let comments_first = Regex::new(r"comments\s*\(\s*first\s*:\s*(\d+)\s*\)")
        .ok()
        .and_then(|r| r.captures(query))
        .and_then(|c| c[1].parse::<usize>().ok())
        .unwrap_or(1);
    let threads: Vec<&super::state::CommentState> = pull
        .comments
        .iter()
        .filter(|c| c.in_reply_to.is_none())
        .collect();
    let total = threads.len();
    let end = start.saturating_add(first as usize).min(total);
    let nodes: Vec<Value> = threads
        .get(start.min(total)..end)
        .unwrap_or_default()
        .iter()
        .map(|c| {
            let mut node = json!({ "id": c.thread_id, "isResolved": c.resolved });
            if outdated {
                node["isOutdated"] = json!(c.current.is_none());
            }
            if path {
                node["path"] = json!(c.path);
            }
            if resolved_by {
                node["resolvedBy"] = match &c.resolved_by {
                    Some(login) if c.resolved => json!({ "login": graphql_login(login) }),
                    _ => Value::Null,
                };
            }
            let members = std::iter::once(*c)
                .chain(pull.comments.iter().filter(|r| r.in_reply_to == Some(c.id)));
            let comments: Vec<Value> = members
                .take(comments_first)
                .map(|m| {
                    let mut comment = json!({ "databaseId": m.id });
                    if body {
                        comment["body"] = json!(m.body);
                    }
                    if author {
                        let login = if m.author_is_bot {
                            super::shapes::APP_SLUG.to_owned()
                        } else {
                            m.author.clone()
                        };
                        comment["author"] = json!({ "login": login });
                    }
                    comment
                })
                .collect();
            node["comments"] = json!({ "nodes": comments });
            node
        })
        .collect();
    let end_cursor = if end > start {
        Some(cursor(end - 1))
    } else {
        after.clone()
    };
    Ok(json!({
        "data": { "repository": { "pullRequest": { "reviewThreads": {
            "pageInfo": { "hasNextPage": end < total, "endCursor": end_cursor },
            "nodes": nodes
        } } } }
    }))
}

fn resolve_threads(
    state: &mut State,
    installation: u64,
    query: &str,
    variables: &Value,
) -> Result<Value, String> {
    if !query.trim_start().starts_with("mutation") {
        return Err("resolveReviewThread is a mutation".into());
    }
    let mut data = Map::new();
    let mut errors = Vec::new();
    for caps in RESOLVE.captures_iter(query) {
        let resolve = &caps[2] == "resolveReviewThread";
        let alias = caps.get(1).map_or(&caps[2], |m| m.as_str()).to_owned();
        let id = argument(&caps[3], variables)?;
        let id = id.as_str().ok_or("threadId must be a string")?.to_owned();
        match set_resolved(
            state,
            installation,
            &id,
            resolve,
            &super::shapes::bot_login(),
        ) {
            true => {
                data.insert(
                    alias,
                    json!({ "thread": { "id": id, "isResolved": resolve } }),
                );
            }
            false => {
                errors.push(not_found(
                    &alias,
                    format!("Could not resolve to a node with the global id of '{id}'"),
                ));
                data.insert(alias, Value::Null);
            }
        }
    }
    if data.is_empty() {
        return Err("the mutation has no resolveReviewThread field".into());
    }
    let mut answer = json!({ "data": data });
    if !errors.is_empty() {
        answer["errors"] = Value::Array(errors);
    }
    Ok(answer)
}

/// GraphQL names a GitHub App's bot user without the `[bot]` REST adds.
pub(crate) fn graphql_login(login: &str) -> &str {
    login.strip_suffix("[bot]").unwrap_or(login)
}

/// Resolves (or reopens) thread `id` of a repository the installation can
/// see, as `by`; whether the thread was found.
pub(crate) fn set_resolved(
    state: &mut State,
    installation: u64,
    id: &str,
    resolve: bool,
    by: &str,
) -> bool {
    let accessible: Vec<String> = state
        .repos
        .values()
        .filter(|r| can_access(state, installation, &r.full_name))
        .map(|r| r.full_name.to_ascii_lowercase())
        .collect();
    let mut found = false;
    for comment in state
        .repos
        .iter_mut()
        .filter(|(key, _)| accessible.contains(key))
        .flat_map(|(_, r)| r.pulls.values_mut())
        .flat_map(|p| p.comments.iter_mut())
        .filter(|c| c.thread_id == id)
    {
        found = true;
        comment.resolved = resolve;
        comment.resolved_by = resolve.then(|| by.to_owned());
    }
    found
}
