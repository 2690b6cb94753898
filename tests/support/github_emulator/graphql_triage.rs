//! The two GraphQL documents of a triage command: the context query (the
//! repository's node id, a blob by expression, the app's check runs on a
//! commit, the pull request's threads with their comments) and the
//! mutation (a reply in a thread, the thread resolved, a check run
//! updated). Recognised like the other documents, by their fields; inputs
//! are read from the variables. `updateCheckRun` applies GitHub's check-run
//! rules through the same code as the REST PATCH.

use super::auth::can_access;
use super::graphql::{argument, repository, review_threads, set_resolved};
use super::state::State;
use regex::Regex;
use serde_json::{Map, Value, json};
use std::sync::LazyLock;

static REPLY: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(\w+)\s*:\s*addPullRequestReviewThreadReply\s*\(\s*input\s*:\s*(\$\w+)\s*\)")
        .expect("valid regex")
});
static RESOLVE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(\w+)\s*:\s*resolveReviewThread\s*\(\s*input\s*:\s*\{\s*threadId\s*:\s*(\$\w+)\s*\}\s*\)",
    )
    .expect("valid regex")
});
static UPDATE_CHECK: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(\w+)\s*:\s*updateCheckRun\s*\(\s*input\s*:\s*(\$\w+)\s*\)").expect("valid regex")
});
static CONFIG: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(\w+)\s*:\s*object\s*\(\s*expression\s*:\s*(\$\w+)\s*\)").expect("valid regex")
});
static HEAD: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(\w+)\s*:\s*object\s*\(\s*oid\s*:\s*(\$\w+)\s*\)").expect("valid regex")
});
static APP_FILTER: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"checkSuites\s*\([^)]*appId\s*:\s*(\$\w+)").expect("valid regex"));
static NAME_FILTER: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"checkRuns\s*\([^)]*checkName\s*:\s*(\$\w+)").expect("valid regex")
});

/// Whether the document is one of the triage documents.
pub(crate) fn is_triage(query: &str) -> bool {
    [
        "checkSuites",
        "addPullRequestReviewThreadReply",
        "updateCheckRun",
    ]
    .iter()
    .any(|field| query.contains(field))
}

/// Answers a triage document.
pub(crate) fn execute(
    state: &mut State,
    installation: u64,
    query: &str,
    variables: &Value,
) -> Result<Value, String> {
    if query.trim_start().starts_with("mutation") {
        mutation(state, installation, query, variables)
    } else {
        context(state, installation, query, variables)
    }
}

fn variable<'a>(
    caps: &regex::Captures<'a>,
    index: usize,
    variables: &Value,
) -> Result<Value, String> {
    argument(&caps[index], variables)
}

fn context(
    state: &mut State,
    installation: u64,
    query: &str,
    variables: &Value,
) -> Result<Value, String> {
    let full = match repository(state, installation, query, variables)? {
        Ok(full) => full,
        Err(answer) => return Ok(answer),
    };
    let threads = review_threads(state, installation, query, variables)?;
    if threads.get("errors").is_some() {
        return Ok(threads);
    }
    let repo = state.repo(&full).ok_or("repository vanished")?;
    let mut out = Map::new();
    out.insert("id".into(), json!(format!("R_{}", repo.id)));
    if let Some(caps) = CONFIG.captures(query) {
        let expression = variable(&caps, 2, variables)?;
        let expression = expression.as_str().ok_or("an expression is a string")?;
        let (sha, path) = expression
            .split_once(':')
            .ok_or_else(|| format!("expression {expression:?} is not <rev>:<path>"))?;
        let blob = repo.blobs.get(&(sha.to_owned(), path.to_owned()));
        out.insert(
            caps[1].to_owned(),
            blob.map_or(Value::Null, |b| json!({ "text": b.content })),
        );
    }
    if let Some(caps) = HEAD.captures(query) {
        let oid = variable(&caps, 2, variables)?;
        let oid = oid.as_str().ok_or("an oid is a string")?.to_owned();
        let app = match APP_FILTER.captures(query) {
            Some(c) => variable(&c, 1, variables)?.as_u64(),
            None => None,
        };
        let name = match NAME_FILTER.captures(query) {
            Some(c) => variable(&c, 1, variables)?.as_str().map(str::to_owned),
            None => None,
        };
        let runs: Vec<Value> = repo
            .check_runs
            .iter()
            .filter(|run| run.head_sha == oid)
            .filter(|run| name.as_ref().is_none_or(|n| *n == run.name))
            .filter(|_| app.is_none_or(|a| a == state.app_id))
            .map(|run| {
                json!({
                    "id": format!("CR_{}", run.id),
                    "databaseId": run.id,
                    "title": run.output.title,
                    "summary": run.output.summary,
                    "text": run.output.text,
                    "conclusion": run.conclusion.as_ref().map(|c| c.to_ascii_uppercase()),
                })
            })
            .collect();
        out.insert(
            caps[1].to_owned(),
            json!({ "checkSuites": { "nodes": [{ "checkRuns": { "nodes": runs } }] } }),
        );
    }
    let pull = threads["data"]["repository"]["pullRequest"].clone();
    out.insert("pullRequest".into(), pull);
    Ok(json!({ "data": { "repository": out } }))
}

fn mutation(
    state: &mut State,
    installation: u64,
    query: &str,
    variables: &Value,
) -> Result<Value, String> {
    let mut data = Map::new();
    let mut errors = Vec::new();
    let bot = super::shapes::bot_login();
    for caps in REPLY.captures_iter(query) {
        let input = variable(&caps, 2, variables)?;
        let (Some(thread), Some(body)) = (
            input["pullRequestReviewThreadId"].as_str(),
            input["body"].as_str(),
        ) else {
            return Err(
                "AddPullRequestReviewThreadReplyInput needs pullRequestReviewThreadId and body"
                    .into(),
            );
        };
        match reply(state, installation, thread, body, &bot) {
            Some(id) => {
                data.insert(
                    caps[1].to_owned(),
                    json!({ "comment": { "databaseId": id } }),
                );
            }
            None => {
                errors.push(json!({ "type": "NOT_FOUND", "path": [&caps[1]], "message": format!("Could not resolve to a node with the global id of '{thread}'") }));
                data.insert(caps[1].to_owned(), Value::Null);
            }
        }
    }
    for caps in RESOLVE.captures_iter(query) {
        let thread = variable(&caps, 2, variables)?;
        let thread = thread.as_str().ok_or("threadId is a string")?.to_owned();
        let found = set_resolved(state, installation, &thread, true, &bot);
        data.insert(
            caps[1].to_owned(),
            if found {
                json!({ "thread": { "id": thread, "isResolved": true } })
            } else {
                Value::Null
            },
        );
    }
    for caps in UPDATE_CHECK.captures_iter(query) {
        let input = variable(&caps, 2, variables)?;
        match update_check(state, installation, &input) {
            Ok(id) => {
                data.insert(
                    caps[1].to_owned(),
                    json!({ "checkRun": { "databaseId": id } }),
                );
            }
            Err(message) => {
                errors.push(json!({ "path": [&caps[1]], "message": message }));
                data.insert(caps[1].to_owned(), Value::Null);
            }
        }
    }
    let mut answer = json!({ "data": data });
    if !errors.is_empty() {
        answer["errors"] = Value::Array(errors);
    }
    Ok(answer)
}

/// Adds the bot's reply to thread `thread_id`; its new comment's id.
fn reply(
    state: &mut State,
    installation: u64,
    thread_id: &str,
    body: &str,
    bot: &str,
) -> Option<u64> {
    let id = state.next_id();
    let accessible: Vec<String> = state
        .repos
        .values()
        .filter(|r| can_access(state, installation, &r.full_name))
        .map(|r| r.full_name.to_ascii_lowercase())
        .collect();
    let pull = state
        .repos
        .iter_mut()
        .filter(|(key, _)| accessible.contains(key))
        .flat_map(|(_, r)| r.pulls.values_mut())
        .find(|p| p.comments.iter().any(|c| c.thread_id == thread_id))?;
    let first = pull
        .comments
        .iter()
        .find(|c| c.thread_id == thread_id && c.in_reply_to.is_none())?
        .id;
    super::reviews::add_reply(pull, id, first, (bot, true), body).ok()?;
    Some(id)
}

/// Applies an `UpdateCheckRunInput` with the REST PATCH's rules.
fn update_check(state: &mut State, installation: u64, input: &Value) -> Result<u64, String> {
    let repository = input["repositoryId"]
        .as_str()
        .ok_or("repositoryId is required")?;
    let check = input["checkRunId"]
        .as_str()
        .ok_or("checkRunId is required")?;
    let repo_id: u64 = repository
        .strip_prefix("R_")
        .and_then(|n| n.parse().ok())
        .ok_or_else(|| {
            format!("Could not resolve to a node with the global id of '{repository}'")
        })?;
    let run_id: u64 = check
        .strip_prefix("CR_")
        .and_then(|n| n.parse().ok())
        .ok_or_else(|| format!("Could not resolve to a node with the global id of '{check}'"))?;
    let full = state
        .repo_by_id(repo_id)
        .map(|r| r.full_name.clone())
        .filter(|full| can_access(state, installation, full))
        .ok_or("Resource not accessible by integration")?;
    let mut body = Map::new();
    for (from, to) in [("status", "status"), ("conclusion", "conclusion")] {
        if let Some(value) = input.get(from).and_then(Value::as_str) {
            let lower = value.to_ascii_lowercase();
            if value != value.to_ascii_uppercase() {
                return Err(format!(
                    "{from} {value:?} is not an enum value (they are upper case)"
                ));
            }
            body.insert(to.into(), json!(lower));
        }
    }
    if let Some(output) = input.get("output") {
        if output.get("title").is_none() || output.get("summary").is_none() {
            return Err("CheckRunOutput needs title and summary".into());
        }
        body.insert("output".into(), output.clone());
    }
    let run = state
        .repo_mut(&full)
        .check_run_mut(run_id)
        .ok_or_else(|| format!("Could not resolve to a node with the global id of '{check}'"))?;
    super::checks::update(run, &Value::Object(body))?;
    Ok(run_id)
}
