//! Creating a review, with GitHub's all-or-nothing rule: if one comment
//! cannot be anchored in the diff, the whole review fails with 422 and
//! nothing is created. The `errors` strings are the ones GitHub sends: "Path
//! could not be resolved" for a file outside the pull request, "... line
//! must be part of the diff" for a line outside every hunk (or a file
//! without a patch), "... start line must be part of the same hunk ..." for
//! a range across hunks.

use super::diff::Side;
use super::state::{Anchor, AnchorError, CommentState, Pull, ReviewState, locate, now};
use serde_json::Value;

pub(crate) const DOCS: &str =
    "https://docs.github.com/rest/pulls/reviews#create-a-review-for-a-pull-request";
const LINE_NOT_IN_DIFF: &str = "Pull request review thread line must be part of the diff";

/// A comment of a review request, parsed.
struct NewComment {
    path: String,
    body: String,
    anchor: Anchor,
}

/// Why a review was refused: the `errors` strings of GitHub's 422.
pub(crate) struct Refused(pub Vec<String>);

fn refused(msg: impl Into<String>) -> Refused {
    Refused(vec![msg.into()])
}

fn side_of(c: &Value, key: &str) -> Result<Option<Side>, Refused> {
    match c.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Side::parse(s)
            .map(Some)
            .ok_or_else(|| refused(format!("`{key}` must be LEFT or RIGHT, not {s:?}"))),
        Some(_) => Err(refused(format!("`{key}` must be a string"))),
    }
}

fn line_of(c: &Value, key: &str) -> Result<Option<u64>, Refused> {
    match c.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v
            .as_u64()
            .filter(|n| *n > 0)
            .map(Some)
            .ok_or_else(|| refused(format!("`{key}` must be a positive integer"))),
    }
}

fn parse_comment(c: &Value) -> Result<NewComment, Refused> {
    let path = c.get("path").and_then(Value::as_str);
    let body = c.get("body").and_then(Value::as_str);
    let (Some(path), Some(body)) = (path, body) else {
        return Err(refused("Each comment needs a `path` and a `body`"));
    };
    let Some(line) = line_of(c, "line")? else {
        return Err(refused(if c.get("position").is_some() {
            "the emulator does not support the deprecated `position`; send `line` and `side`"
        } else {
            LINE_NOT_IN_DIFF
        }));
    };
    let side = side_of(c, "side")?.unwrap_or(Side::Right);
    let start = match line_of(c, "start_line")? {
        Some(start_line) => Some((side_of(c, "start_side")?.unwrap_or(side), start_line)),
        None => None,
    };
    Ok(NewComment {
        path: path.to_owned(),
        body: body.to_owned(),
        anchor: Anchor { side, line, start },
    })
}

/// Ids the caller allocates for a review: one for the review, one per comment.
pub(crate) struct Ids {
    pub review: u64,
    pub comments: Vec<u64>,
}

/// Validates and creates a review. `ids` must hold one id per comment in
/// the body (see [`comment_count`]).
pub(crate) fn create(
    pull: &mut Pull,
    body: &Value,
    ids: Ids,
    author: &str,
) -> Result<u64, Refused> {
    if !body.is_object() {
        return Err(refused("the body must be a JSON object"));
    }
    let event = match body.get("event") {
        None | Some(Value::Null) => "PENDING".to_owned(),
        Some(Value::String(e))
            if ["APPROVE", "REQUEST_CHANGES", "COMMENT"].contains(&e.as_str()) =>
        {
            e.clone()
        }
        Some(other) => return Err(refused(format!("Unknown review event {other}"))),
    };
    let text = body
        .get("body")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_owned();
    let raw_comments = match body.get("comments") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => items.clone(),
        Some(_) => return Err(refused("`comments` must be an array")),
    };
    if event == "REQUEST_CHANGES" && text.trim().is_empty() {
        return Err(refused("Body can't be blank when requesting changes"));
    }
    if event == "COMMENT" && text.trim().is_empty() && raw_comments.is_empty() {
        return Err(refused("Body can't be blank"));
    }
    let commit_id = match body.get("commit_id").and_then(Value::as_str) {
        Some(sha) => sha.to_owned(),
        None => pull.head().head_sha.clone(),
    };
    let Some(push) = pull.push_for(&commit_id) else {
        return Err(refused(format!("No commit found for SHA: {commit_id}")));
    };
    let comments = raw_comments
        .iter()
        .map(parse_comment)
        .collect::<Result<Vec<_>, _>>()?;
    // Anchor every comment first: one failure refuses the whole review.
    let mut located = Vec::new();
    for c in &comments {
        match locate(push, &c.path, &c.anchor) {
            Ok(found) => located.push(found),
            Err(AnchorError::NoSuchPath) => return Err(refused("Path could not be resolved")),
            Err(AnchorError::NotInDiff) => return Err(refused(LINE_NOT_IN_DIFF)),
            Err(AnchorError::StartInOtherHunk) => {
                return Err(refused(
                    "Pull request review thread start line must be part of the same hunk as the line.",
                ));
            }
        }
    }
    let now = now();
    let head_sha = pull.head().head_sha.clone();
    let mut comment_ids = Vec::new();
    for ((c, found), id) in comments.into_iter().zip(located).zip(ids.comments) {
        // A comment on an older commit is checked against the current head
        // as a push would check it.
        let current_ok = commit_id == head_sha
            || locate(pull.head(), &c.path, &c.anchor).is_ok_and(|f| f.texts == found.texts);
        pull.comments.push(CommentState {
            id,
            review_id: Some(ids.review),
            thread_id: format!("PRRT_{id}"),
            resolved: false,
            path: c.path,
            current: current_ok.then_some((c.anchor.line, c.anchor.start.map(|(_, l)| l))),
            anchor: c.anchor,
            anchor_texts: found.texts,
            position: current_ok.then_some(found.position),
            original_position: found.position,
            diff_hunk: found.diff_hunk,
            commit_id: if current_ok {
                head_sha.clone()
            } else {
                commit_id.clone()
            },
            original_commit_id: commit_id.clone(),
            body: c.body,
            author: author.to_owned(),
            author_is_bot: true,
            created_at: now.clone(),
            in_reply_to: None,
            resolved_by: None,
        });
        comment_ids.push(id);
    }
    pull.reviews.push(ReviewState {
        id: ids.review,
        event,
        body: text,
        commit_id,
        comment_ids,
        submitted_at: now,
    });
    Ok(ids.review)
}

/// How many comments a review body carries (to allocate their ids).
pub(crate) fn comment_count(body: &Value) -> usize {
    body.get("comments")
        .and_then(Value::as_array)
        .map_or(0, Vec::len)
}

/// A comment by a person (test setup), in its own thread, on the current
/// head's RIGHT side.
pub(crate) fn add_user_comment(
    pull: &mut Pull,
    id: u64,
    author: &str,
    path: &str,
    line: u64,
    body: &str,
) -> Result<(), String> {
    let anchor = Anchor {
        side: Side::Right,
        line,
        start: None,
    };
    let head_sha = pull.head().head_sha.clone();
    let found = locate(pull.head(), path, &anchor)
        .map_err(|e| format!("{path}:{line} cannot take a comment: {e:?}"))?;
    pull.comments.push(CommentState {
        id,
        review_id: None,
        thread_id: format!("PRRT_{id}"),
        resolved: false,
        path: path.to_owned(),
        current: Some((line, None)),
        anchor,
        anchor_texts: found.texts,
        position: Some(found.position),
        original_position: found.position,
        diff_hunk: found.diff_hunk,
        commit_id: head_sha.clone(),
        original_commit_id: head_sha,
        body: body.to_owned(),
        author: author.to_owned(),
        author_is_bot: false,
        created_at: now(),
        in_reply_to: None,
        resolved_by: None,
    });
    Ok(())
}

/// A reply in the thread of comment `to` (which must be a thread's first
/// comment, as GitHub's `in_reply_to` must): it shares the thread and the
/// anchor of the comment it answers.
pub(crate) fn add_reply(
    pull: &mut Pull,
    id: u64,
    to: u64,
    (author, is_bot): (&str, bool),
    body: &str,
) -> Result<(), String> {
    let parent = pull
        .comments
        .iter()
        .find(|c| c.id == to && c.in_reply_to.is_none())
        .ok_or_else(|| format!("no thread starts with comment {to}"))?;
    let reply = CommentState {
        id,
        review_id: None,
        thread_id: parent.thread_id.clone(),
        resolved: parent.resolved,
        path: parent.path.clone(),
        anchor: parent.anchor.clone(),
        anchor_texts: parent.anchor_texts.clone(),
        current: parent.current,
        position: parent.position,
        original_position: parent.original_position,
        diff_hunk: parent.diff_hunk.clone(),
        commit_id: parent.commit_id.clone(),
        original_commit_id: parent.original_commit_id.clone(),
        body: body.to_owned(),
        author: author.to_owned(),
        author_is_bot: is_bot,
        created_at: now(),
        in_reply_to: Some(to),
        resolved_by: None,
    };
    pull.comments.push(reply);
    Ok(())
}
