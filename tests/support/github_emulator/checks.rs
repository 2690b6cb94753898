//! Check runs: GitHub's own limits, enforced whether or not the OpenAPI
//! description is at hand (the schema covers some of them, not all: the
//! column rule and the annotation title limit exist only in GitHub's code).
//!
//! A rejected request changes nothing. Annotations accumulate over the
//! create and every PATCH; `conclusion` implies `completed`, and
//! `completed` needs a `conclusion`.

use super::state::{Annotation, CheckRun, now};
use serde_json::Value;

const MAX_ANNOTATIONS_PER_REQUEST: usize = 50;
const MAX_OUTPUT_CHARS: usize = 65_535;
const MAX_ANNOTATION_TITLE_CHARS: usize = 255;
const MAX_ANNOTATION_DETAIL_BYTES: usize = 64 * 1024;
const CONCLUSIONS: [&str; 7] = [
    "action_required",
    "cancelled",
    "failure",
    "neutral",
    "success",
    "skipped",
    "timed_out",
];
const STATUSES: [&str; 3] = ["queued", "in_progress", "completed"];
pub(crate) const CREATE_DOCS: &str = "https://docs.github.com/rest/checks/runs#create-a-check-run";
pub(crate) const UPDATE_DOCS: &str = "https://docs.github.com/rest/checks/runs#update-a-check-run";

fn opt_string(body: &Value, key: &str) -> Result<Option<String>, String> {
    match body.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(format!("`{key}` must be a string")),
    }
}

/// Creates a check run from a POST body; `Err` is the 422 detail.
pub(crate) fn create(id: u64, body: &Value) -> Result<CheckRun, String> {
    let name = opt_string(body, "name")?.filter(|n| !n.is_empty());
    let head_sha = opt_string(body, "head_sha")?.filter(|s| !s.is_empty());
    let (Some(name), Some(head_sha)) = (name, head_sha) else {
        return Err("`name` and `head_sha` are required".into());
    };
    if let Some(output) = body.get("output")
        && (output.get("title").is_none() || output.get("summary").is_none())
    {
        return Err("`output.title` and `output.summary` are required".into());
    }
    let mut run = CheckRun {
        id,
        name,
        head_sha,
        status: "queued".into(),
        ..CheckRun::default()
    };
    apply(&mut run, body)?;
    if run.started_at.is_none() {
        run.started_at = Some(now());
    }
    Ok(run)
}

/// Applies a PATCH body to a check run; on `Err` the run is unchanged.
pub(crate) fn update(run: &mut CheckRun, body: &Value) -> Result<(), String> {
    if let Some(output) = body.get("output")
        && output.get("summary").is_none()
    {
        return Err("`output.summary` is required".into());
    }
    let mut next = run.clone();
    apply(&mut next, body)?;
    *run = next;
    Ok(())
}

fn apply(run: &mut CheckRun, body: &Value) -> Result<(), String> {
    if !body.is_object() {
        return Err("the body must be a JSON object".into());
    }
    if let Some(name) = opt_string(body, "name")? {
        run.name = name;
    }
    if let Some(v) = opt_string(body, "external_id")? {
        run.external_id = Some(v);
    }
    if let Some(v) = opt_string(body, "details_url")? {
        run.details_url = Some(v);
    }
    if let Some(v) = opt_string(body, "started_at")? {
        check_time("started_at", &v)?;
        run.started_at = Some(v);
    }
    let status = opt_string(body, "status")?;
    let conclusion = opt_string(body, "conclusion")?;
    let completed_at = opt_string(body, "completed_at")?;
    if let Some(s) = &status
        && !STATUSES.contains(&s.as_str())
    {
        return Err(format!("`status` {s:?} is not one of {STATUSES:?}"));
    }
    if let Some(c) = &conclusion
        && !CONCLUSIONS.contains(&c.as_str())
    {
        return Err(format!("`conclusion` {c:?} is not one of {CONCLUSIONS:?}"));
    }
    if let Some(t) = &completed_at {
        check_time("completed_at", t)?;
    }
    let completing = conclusion.is_some() || status.as_deref() == Some("completed");
    if completing && conclusion.is_none() && run.conclusion.is_none() {
        return Err("`conclusion` is required when `status` is \"completed\"".into());
    }
    if completed_at.is_some() && conclusion.is_none() && run.conclusion.is_none() {
        return Err("`conclusion` is required when `completed_at` is given".into());
    }
    if completing {
        run.status = "completed".into();
        if let Some(c) = conclusion {
            run.conclusion = Some(c);
        }
        run.completed_at = Some(completed_at.unwrap_or_else(now));
    } else if let Some(s) = status {
        run.status = s;
        run.conclusion = None;
        run.completed_at = None;
    }
    if let Some(output) = body.get("output") {
        apply_output(run, output)?;
    }
    Ok(())
}

fn check_time(field: &str, value: &str) -> Result<(), String> {
    chrono::DateTime::parse_from_rfc3339(value)
        .map(|_| ())
        .map_err(|e| format!("`{field}` {value:?} is not an ISO 8601 timestamp ({e})"))
}

fn apply_output(run: &mut CheckRun, output: &Value) -> Result<(), String> {
    if !output.is_object() {
        return Err("`output` must be an object".into());
    }
    for key in ["summary", "text"] {
        if let Some(s) = opt_string(output, key)?
            && s.chars().count() > MAX_OUTPUT_CHARS
        {
            return Err(format!(
                "`output.{key}` is too long (maximum is {MAX_OUTPUT_CHARS} characters)"
            ));
        }
    }
    let annotations = match output.get("annotations") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => {
            if items.len() > MAX_ANNOTATIONS_PER_REQUEST {
                return Err(format!(
                    "Only {MAX_ANNOTATIONS_PER_REQUEST} annotations are allowed per request ({} sent)",
                    items.len()
                ));
            }
            items
                .iter()
                .enumerate()
                .map(|(i, a)| annotation(i, a))
                .collect::<Result<Vec<_>, _>>()?
        }
        Some(_) => return Err("`output.annotations` must be an array".into()),
    };
    if let Some(t) = opt_string(output, "title")? {
        run.output.title = Some(t);
    }
    if let Some(s) = opt_string(output, "summary")? {
        run.output.summary = Some(s);
    }
    if let Some(t) = opt_string(output, "text")? {
        run.output.text = Some(t);
    }
    run.annotations.extend(annotations);
    Ok(())
}

fn annotation(index: usize, value: &Value) -> Result<Annotation, String> {
    let a: Annotation = serde_json::from_value(value.clone())
        .map_err(|e| format!("annotation {index}: {e} (path, start_line, end_line, annotation_level and message are required)"))?;
    if a.path.is_empty() {
        return Err(format!("annotation {index}: `path` must not be empty"));
    }
    if a.start_line == 0 || a.end_line < a.start_line {
        return Err(format!(
            "annotation {index}: lines {}..{} are not a range of 1-based lines",
            a.start_line, a.end_line
        ));
    }
    if (a.start_column.is_some() || a.end_column.is_some()) && a.start_line != a.end_line {
        return Err(format!(
            "annotation {index}: start_column and end_column are only allowed when start_line equals end_line"
        ));
    }
    if !["notice", "warning", "failure"].contains(&a.annotation_level.as_str()) {
        return Err(format!(
            "annotation {index}: `annotation_level` {:?} is not notice, warning or failure",
            a.annotation_level
        ));
    }
    if a.title
        .as_ref()
        .is_some_and(|t| t.chars().count() > MAX_ANNOTATION_TITLE_CHARS)
    {
        return Err(format!(
            "annotation {index}: `title` is too long (maximum is {MAX_ANNOTATION_TITLE_CHARS} characters)"
        ));
    }
    if a.message.len() > MAX_ANNOTATION_DETAIL_BYTES
        || a.raw_details
            .as_ref()
            .is_some_and(|d| d.len() > MAX_ANNOTATION_DETAIL_BYTES)
    {
        return Err(format!(
            "annotation {index}: `message` and `raw_details` are limited to 64 KB"
        ));
    }
    Ok(a)
}
