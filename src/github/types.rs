//! The request and answer shapes of the calls the bot makes, as GitHub's
//! REST API documents them. Only the fields we use are read; request bodies
//! leave out what is unset, so they validate against GitHub's schemas.

use serde::{Deserialize, Serialize};

/// `owner/name` of a repository.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct RepoRef {
    /// Owner login.
    pub owner: String,
    /// Repository name.
    pub name: String,
}

impl RepoRef {
    /// Splits `owner/name`.
    pub fn parse(full_name: &str) -> Option<Self> {
        let (owner, name) = full_name.split_once('/')?;
        (!owner.is_empty() && !name.is_empty() && !name.contains('/')).then(|| Self {
            owner: owner.to_owned(),
            name: name.to_owned(),
        })
    }
}

impl std::fmt::Display for RepoRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.owner, self.name)
    }
}

/// One entry of `GET /repos/{owner}/{repo}/pulls/{pull_number}/files`.
#[derive(Debug, Clone, Deserialize)]
pub struct PullRequestFile {
    /// Path in head.
    pub filename: String,
    /// added, removed, modified, renamed, copied, changed, unchanged.
    pub status: String,
    /// Lines added.
    #[serde(default)]
    pub additions: u64,
    /// Lines deleted.
    #[serde(default)]
    pub deletions: u64,
    /// The hunks; absent for binary files and diffs GitHub finds too large.
    pub patch: Option<String>,
    /// The old path of a renamed file.
    pub previous_filename: Option<String>,
}

/// A user or bot.
#[derive(Debug, Clone, Deserialize)]
pub struct Account {
    /// Login, `hunkscan[bot]` for the app.
    pub login: String,
    /// `User` or `Bot`.
    #[serde(rename = "type", default)]
    pub kind: String,
}

/// One entry of `GET /repos/{owner}/{repo}/pulls/{pull_number}/comments`.
#[derive(Debug, Clone, Deserialize)]
pub struct ReviewComment {
    /// REST id (GraphQL `databaseId`).
    pub id: u64,
    /// Path.
    pub path: String,
    /// Line in the current diff; null when outdated.
    pub line: Option<u32>,
    /// Markdown body.
    pub body: String,
    /// Author; null for deleted accounts.
    pub user: Option<Account>,
    /// The comment this one replies to.
    pub in_reply_to_id: Option<u64>,
}

/// `POST /repos/{owner}/{repo}/check-runs`.
#[derive(Debug, Clone, Serialize)]
pub struct CreateCheckRun {
    /// Always `hunkscan`.
    pub name: String,
    /// Commit the check is about.
    pub head_sha: String,
    /// `in_progress`.
    pub status: String,
    /// RFC 3339.
    pub started_at: String,
    /// Our job id, to find the job from the check run.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub external_id: Option<String>,
    /// What the check is doing.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output: Option<CheckOutput>,
}

/// `PATCH /repos/{owner}/{repo}/check-runs/{check_run_id}`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct UpdateCheckRun {
    /// `completed` on the final update.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// success, failure, neutral, ...
    #[serde(skip_serializing_if = "Option::is_none")]
    pub conclusion: Option<String>,
    /// RFC 3339.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub completed_at: Option<String>,
    /// Title, summary, text and up to 50 annotations.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output: Option<CheckOutput>,
}

/// A check run's `output`.
#[derive(Debug, Clone, Serialize)]
pub struct CheckOutput {
    /// One line.
    pub title: String,
    /// Markdown, at most 65,535 characters.
    pub summary: String,
    /// Markdown, at most 65,535 characters.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// At most 50 per request.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub annotations: Vec<Annotation>,
}

/// A check-run annotation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Annotation {
    /// Path in the repository.
    pub path: String,
    /// 1-based.
    pub start_line: u32,
    /// 1-based.
    pub end_line: u32,
    /// Only when `start_line == end_line` (GitHub rejects it otherwise).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start_column: Option<u32>,
    /// See `start_column`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub end_column: Option<u32>,
    /// notice, warning, failure.
    pub annotation_level: String,
    /// The finding's message.
    pub message: String,
    /// At most 255 characters.
    pub title: String,
    /// Rule id, CWE, fingerprint.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub raw_details: Option<String>,
}

/// `POST /repos/{owner}/{repo}/pulls/{pull_number}/reviews`.
#[derive(Debug, Clone, Serialize)]
pub struct CreateReview {
    /// Head SHA the comments are about.
    pub commit_id: String,
    /// Review body.
    pub body: String,
    /// Always `COMMENT`: the check run, not the review, gates the merge.
    pub event: String,
    /// Inline comments.
    pub comments: Vec<DraftReviewComment>,
}

/// One inline comment of a review.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DraftReviewComment {
    /// Path.
    pub path: String,
    /// Last line of the range (RIGHT side).
    pub line: u32,
    /// `RIGHT` (new code) or `LEFT` (deleted code).
    pub side: String,
    /// First line of a multi-line range in the same hunk.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start_line: Option<u32>,
    /// Side of `start_line`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start_side: Option<String>,
    /// Markdown body with the hidden fingerprint marker.
    pub body: String,
}

/// One entry of `GET /app/hook/deliveries`: one attempt to deliver an
/// event to the app's webhook. A redelivery is another entry with the same
/// `guid` and a new `id`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct HookDelivery {
    /// This attempt's id (what a redelivery request names).
    pub id: u64,
    /// The event's `X-GitHub-Delivery`, shared by every attempt.
    pub guid: String,
    /// When the attempt was made.
    pub delivered_at: chrono::DateTime<chrono::Utc>,
    /// Whether the attempt was a redelivery.
    pub redelivery: bool,
    /// GitHub's description of the outcome (`OK`, `failed to connect`, ...).
    pub status: String,
    /// The webhook's HTTP answer; not 2xx when the attempt failed.
    pub status_code: u16,
    /// `X-GitHub-Event`.
    pub event: String,
    /// The payload's `action`, if any.
    pub action: Option<String>,
    /// The installation the event is about.
    pub installation_id: Option<u64>,
    /// The repository the event is about.
    pub repository_id: Option<u64>,
}

impl HookDelivery {
    /// Whether the webhook accepted this attempt (a 2xx answer).
    pub fn succeeded(&self) -> bool {
        (200..300).contains(&self.status_code)
    }
}
