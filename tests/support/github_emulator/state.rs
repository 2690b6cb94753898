//! The in-memory model of GitHub that the emulator serves and tests inspect.
//!
//! Like rust-lang/bors's fake GitHub, every HTTP request is answered by
//! reading or changing this model, never by canned responses. The public
//! types here are what a test sets up (`PullSpec`, `FileSpec`) or reads back
//! (`CheckRun`, `Review`, `ReviewComment`, `RecordedRequest`); the rest is
//! the emulator's private state.

use super::deliveries;
use super::diff::{self, FilePatch, LineRef, Side};
use super::faults::Fault;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// A pull request as a test sets it up. Putting it again with another
/// `head_sha` models a push.
#[derive(Clone, Debug, Default)]
pub struct PullSpec {
    pub number: u64,
    pub base_sha: String,
    pub head_sha: String,
    pub draft: bool,
    pub files: Vec<FileSpec>,
}

/// One changed file of a pull request: its contents on the base and head
/// commits (`None` = absent there). The emulator derives `status`, counts
/// and `patch` from them.
#[derive(Clone, Debug, Default)]
pub struct FileSpec {
    pub path: String,
    /// The old path of a rename (status `renamed`).
    pub previous_path: Option<String>,
    pub base: Option<String>,
    pub head: Option<String>,
    /// Binary files never get a `patch` (and count 0 additions/deletions).
    pub binary: bool,
    /// GitHub leaves out `patch` for large diffs; set this to model that.
    pub patch_omitted: bool,
}

impl FileSpec {
    /// A text file changed from `base` to `head`.
    pub fn modified(path: &str, base: &str, head: &str) -> FileSpec {
        FileSpec {
            path: path.to_owned(),
            base: Some(base.to_owned()),
            head: Some(head.to_owned()),
            ..FileSpec::default()
        }
    }

    /// A new text file.
    pub fn added(path: &str, head: &str) -> FileSpec {
        FileSpec {
            path: path.to_owned(),
            head: Some(head.to_owned()),
            ..FileSpec::default()
        }
    }

    /// A deleted text file.
    pub fn removed(path: &str, base: &str) -> FileSpec {
        FileSpec {
            path: path.to_owned(),
            base: Some(base.to_owned()),
            ..FileSpec::default()
        }
    }

    /// A file moved from `from` to `to`, possibly with changes.
    pub fn renamed(from: &str, to: &str, base: &str, head: &str) -> FileSpec {
        FileSpec {
            previous_path: Some(from.to_owned()),
            ..FileSpec::modified(to, base, head)
        }
    }

    /// Marks the file binary.
    pub fn binary(mut self) -> FileSpec {
        self.binary = true;
        self
    }

    /// Marks the file's patch as omitted (a large diff).
    pub fn patch_omitted(mut self) -> FileSpec {
        self.patch_omitted = true;
        self
    }
}

/// A merge group as a test sets it up: the queue's commit `head_sha` on top
/// of the target branch's `base_sha`, and the files that differ.
#[derive(Clone, Debug, Default)]
pub struct MergeGroupSpec {
    pub base_sha: String,
    pub head_sha: String,
    pub files: Vec<FileSpec>,
}

/// One request the emulator received, in arrival order.
#[derive(Clone, Debug)]
pub struct RecordedRequest {
    pub method: String,
    pub path: String,
    pub query: Option<String>,
    /// The parsed JSON body; `None` when empty or not JSON.
    pub body: Option<Value>,
    pub status: u16,
    /// The installation whose token authenticated the request (for a token
    /// fetch: the installation in the path).
    pub installation_id: Option<u64>,
    /// When it arrived.
    pub at: std::time::Instant,
}

/// A check run as the emulator holds it.
#[derive(Clone, Debug, Default)]
pub struct CheckRun {
    pub id: u64,
    pub name: String,
    pub head_sha: String,
    /// `queued`, `in_progress` or `completed`.
    pub status: String,
    pub conclusion: Option<String>,
    pub output: CheckRunOutput,
    /// Every annotation sent, accumulated over the create and all PATCHes.
    pub annotations: Vec<Annotation>,
    pub external_id: Option<String>,
    pub details_url: Option<String>,
    pub started_at: Option<String>,
    pub completed_at: Option<String>,
}

/// The text part of a check run's output (the latest values sent).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CheckRunOutput {
    pub title: Option<String>,
    pub summary: Option<String>,
    pub text: Option<String>,
}

/// A check-run annotation as sent by the bot.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
pub struct Annotation {
    pub path: String,
    pub start_line: u64,
    pub end_line: u64,
    pub start_column: Option<u64>,
    pub end_column: Option<u64>,
    pub annotation_level: String,
    pub message: String,
    pub title: Option<String>,
    pub raw_details: Option<String>,
}

/// A submitted review and the comments it created.
#[derive(Clone, Debug)]
pub struct Review {
    pub id: u64,
    /// The event sent (`COMMENT`, `APPROVE`, `REQUEST_CHANGES`), or
    /// `PENDING` when none was.
    pub event: String,
    pub body: String,
    pub commit_id: String,
    pub comments: Vec<ReviewComment>,
}

/// A review comment; each sits in its own review thread.
#[derive(Clone, Debug)]
pub struct ReviewComment {
    pub id: u64,
    pub review_id: Option<u64>,
    /// The GraphQL node id of its thread (`PRRT_<n>`).
    pub thread_id: String,
    pub path: String,
    /// The line on the current head; `None` once outdated.
    pub line: Option<u64>,
    pub original_line: u64,
    pub side: String,
    pub start_line: Option<u64>,
    pub start_side: Option<String>,
    pub body: String,
    pub author: String,
    pub resolved: bool,
    /// Who resolved the thread (the bot's login when the bot did).
    pub resolved_by: Option<String>,
    /// The comment this one replies to (replies sit in its thread).
    pub in_reply_to: Option<u64>,
    pub outdated: bool,
    pub commit_id: String,
    pub original_commit_id: String,
}

/// An installation token the emulator issued.
#[derive(Clone, Debug)]
pub(crate) struct Token {
    pub installation_id: u64,
    pub expires_at: DateTime<Utc>,
}

/// A blob at a commit.
#[derive(Clone, Debug)]
pub(crate) struct Blob {
    pub content: String,
    pub binary: bool,
}

/// The whole model behind one emulator.
pub(crate) struct State {
    pub app_id: u64,
    /// installation id → repository keys it can access.
    pub installations: BTreeMap<u64, BTreeSet<String>>,
    pub tokens: HashMap<String, Token>,
    /// Keyed by lower-cased full name (GitHub's names are case-insensitive).
    pub repos: BTreeMap<String, Repo>,
    /// Armed faults and how many more requests each still hits.
    pub faults: Vec<(Fault, usize)>,
    pub requests: Vec<RecordedRequest>,
    pub violations: Vec<String>,
    pub response_violations: Vec<String>,
    pub tokens_issued: u64,
    /// The app's webhook deliveries and the redeliveries asked for.
    pub deliveries: deliveries::Log,
    /// GitHub's secondary limit on content creation, when armed.
    pub content_limit: Option<super::content_limit::ContentLimit>,
    /// Manifests posted to the app-registration page, oldest first.
    pub manifests: Vec<super::manifests::PostedManifest>,
    next_id: u64,
}

pub(crate) struct Repo {
    pub full_name: String,
    pub id: u64,
    pub pulls: BTreeMap<u64, Pull>,
    pub check_runs: Vec<CheckRun>,
    /// (commit sha, path) → blob.
    pub blobs: HashMap<(String, String), Blob>,
    /// (base sha, head sha) → the files that differ (merge groups).
    pub comparisons: HashMap<(String, String), Vec<PrFile>>,
    /// Lower-cased login → `admin`, `write`, `read` (absent: not a
    /// collaborator, 404).
    pub permissions: HashMap<String, String>,
}

pub(crate) struct Pull {
    pub id: u64,
    pub number: u64,
    pub draft: bool,
    /// Every push, oldest first; the last is the current state.
    pub pushes: Vec<Push>,
    pub reviews: Vec<ReviewState>,
    pub comments: Vec<CommentState>,
    pub created_at: String,
    pub updated_at: String,
}

pub(crate) struct Push {
    pub base_sha: String,
    pub head_sha: String,
    pub files: Vec<PrFile>,
}

pub(crate) struct PrFile {
    pub path: String,
    pub previous_path: Option<String>,
    pub status: &'static str,
    pub sha: Option<String>,
    pub additions: u64,
    pub deletions: u64,
    /// `None` for binary files, omitted patches and empty diffs.
    pub patch: Option<FilePatch>,
}

pub(crate) struct ReviewState {
    pub id: u64,
    pub event: String,
    pub body: String,
    pub commit_id: String,
    pub comment_ids: Vec<u64>,
    pub submitted_at: String,
}

/// Where a comment is anchored: its line and side, and the start of a
/// multi-line range.
#[derive(Clone, Debug)]
pub(crate) struct Anchor {
    pub side: Side,
    pub line: u64,
    pub start: Option<(Side, u64)>,
}

pub(crate) struct CommentState {
    pub id: u64,
    pub review_id: Option<u64>,
    pub thread_id: String,
    pub resolved: bool,
    pub path: String,
    pub anchor: Anchor,
    /// Texts of the start line (if any) and the line when commented.
    pub anchor_texts: Vec<String>,
    /// Current line and start line; `None` when outdated.
    pub current: Option<(u64, Option<u64>)>,
    pub position: Option<u64>,
    pub original_position: u64,
    pub diff_hunk: String,
    pub commit_id: String,
    pub original_commit_id: String,
    pub body: String,
    pub author: String,
    pub author_is_bot: bool,
    pub created_at: String,
    /// The first comment of the thread this one replies to.
    pub in_reply_to: Option<u64>,
    /// Who resolved the thread (kept on its first comment).
    pub resolved_by: Option<String>,
}

/// Why a review comment cannot be anchored.
#[derive(Debug)]
pub(crate) enum AnchorError {
    NoSuchPath,
    NotInDiff,
    StartInOtherHunk,
}

/// A located anchor in one push.
pub(crate) struct Located {
    pub texts: Vec<String>,
    pub diff_hunk: String,
    pub position: u64,
}

pub(crate) fn now() -> String {
    Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// A stable 40-hex-digit id for content (git blob shas need SHA-1, which is
/// not a dependency; only the shape matters to clients).
pub(crate) fn fake_sha(content: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(content);
    digest.iter().take(20).map(|b| format!("{b:02x}")).collect()
}

impl State {
    pub fn new(app_id: u64) -> State {
        State {
            app_id,
            installations: BTreeMap::new(),
            tokens: HashMap::new(),
            repos: BTreeMap::new(),
            faults: Vec::new(),
            requests: Vec::new(),
            violations: Vec::new(),
            response_violations: Vec::new(),
            tokens_issued: 0,
            deliveries: deliveries::Log::default(),
            content_limit: None,
            manifests: Vec::new(),
            next_id: 1000,
        }
    }

    pub fn next_id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    /// The repository, created empty on first use.
    pub fn repo_mut(&mut self, full_name: &str) -> &mut Repo {
        let key = full_name.to_ascii_lowercase();
        if !self.repos.contains_key(&key) {
            let id = self.next_id();
            self.repos.insert(
                key.clone(),
                Repo {
                    full_name: full_name.to_owned(),
                    id,
                    pulls: BTreeMap::new(),
                    check_runs: Vec::new(),
                    blobs: HashMap::new(),
                    comparisons: HashMap::new(),
                    permissions: HashMap::new(),
                },
            );
        }
        self.repos.get_mut(&key).expect("inserted above")
    }

    pub fn repo(&self, full_name: &str) -> Option<&Repo> {
        self.repos.get(&full_name.to_ascii_lowercase())
    }

    pub fn repo_by_id(&self, id: u64) -> Option<&Repo> {
        self.repos.values().find(|r| r.id == id)
    }

    /// Stores a merge group's commits and their comparison.
    pub fn put_merge_group(&mut self, repo_name: &str, spec: MergeGroupSpec) {
        let files: Vec<PrFile> = spec.files.iter().map(pr_file).collect();
        let repo = self.repo_mut(repo_name);
        for f in &spec.files {
            let base_path = f.previous_path.as_deref().unwrap_or(&f.path);
            if let Some(base) = &f.base {
                repo.put_blob(&spec.base_sha, base_path, base, f.binary);
            }
            if let Some(head) = &f.head {
                repo.put_blob(&spec.head_sha, &f.path, head, f.binary);
            }
        }
        repo.comparisons
            .insert((spec.base_sha, spec.head_sha), files);
    }

    /// Creates or updates a pull request; a new head SHA is a push.
    pub fn put_pull_request(&mut self, repo_name: &str, spec: PullSpec) {
        let pull_id = self.next_id();
        let files: Vec<PrFile> = spec.files.iter().map(pr_file).collect();
        let repo = self.repo_mut(repo_name);
        for f in &spec.files {
            let base_path = f.previous_path.as_deref().unwrap_or(&f.path);
            if let Some(base) = &f.base {
                repo.put_blob(&spec.base_sha, base_path, base, f.binary);
            }
            if let Some(head) = &f.head {
                repo.put_blob(&spec.head_sha, &f.path, head, f.binary);
            }
        }
        let push = Push {
            base_sha: spec.base_sha.clone(),
            head_sha: spec.head_sha.clone(),
            files,
        };
        let now = now();
        let pull = repo.pulls.entry(spec.number).or_insert_with(|| Pull {
            id: pull_id,
            number: spec.number,
            draft: spec.draft,
            pushes: Vec::new(),
            reviews: Vec::new(),
            comments: Vec::new(),
            created_at: now.clone(),
            updated_at: now.clone(),
        });
        pull.draft = spec.draft;
        pull.updated_at = now;
        let previous_head = pull.pushes.last().map(|p| p.head_sha.clone());
        // Putting the same head again replaces it (no new commit).
        if pull
            .pushes
            .last()
            .is_some_and(|p| p.head_sha == push.head_sha)
        {
            pull.pushes.pop();
        }
        pull.pushes.push(push);
        let blobs = &repo.blobs;
        let text_at = |sha: &str, path: &str| {
            blobs
                .get(&(sha.to_owned(), path.to_owned()))
                .map(|b| b.content.clone())
        };
        let moves = |path: &str| -> Option<Vec<Option<u64>>> {
            let old = text_at(previous_head.as_deref()?, path)?;
            let new = text_at(&spec.head_sha, path)?;
            Some(diff::line_map(&old, &new))
        };
        pull.refresh_comment_positions(&moves);
    }
}

impl Repo {
    pub fn put_blob(&mut self, sha: &str, path: &str, content: &str, binary: bool) {
        self.blobs.insert(
            (sha.to_owned(), path.to_owned()),
            Blob {
                content: content.to_owned(),
                binary,
            },
        );
    }

    pub fn check_run_mut(&mut self, id: u64) -> Option<&mut CheckRun> {
        self.check_runs.iter_mut().find(|c| c.id == id)
    }
}

fn pr_file(spec: &FileSpec) -> PrFile {
    let status = match (&spec.base, &spec.head, &spec.previous_path) {
        (_, _, Some(_)) => "renamed",
        (None, Some(_), None) => "added",
        (Some(_), None, None) => "removed",
        (Some(b), Some(h), None) if b == h => "changed",
        (Some(_), Some(_), None) => "modified",
        (None, None, None) => panic!("FileSpec {} has neither base nor head", spec.path),
    };
    let base = spec.base.as_deref().unwrap_or("");
    let head = spec.head.as_deref().unwrap_or("");
    let sha = spec
        .head
        .as_ref()
        .or(spec.base.as_ref())
        .map(|c| fake_sha(c.as_bytes()));
    let (patch, additions, deletions) = if spec.binary {
        (None, 0, 0)
    } else if spec.patch_omitted {
        let (a, d) = diff::counts(base, head);
        (None, a, d)
    } else {
        match diff::compute(base, head) {
            Some(p) => {
                let (a, d) = (p.additions, p.deletions);
                (Some(p), a, d)
            }
            None => (None, 0, 0),
        }
    };
    PrFile {
        path: spec.path.clone(),
        previous_path: spec.previous_path.clone(),
        status,
        sha,
        additions,
        deletions,
        patch,
    }
}

impl Pull {
    pub fn head(&self) -> &Push {
        self.pushes
            .last()
            .expect("a pull request has at least one push")
    }

    pub fn push_for(&self, commit_id: &str) -> Option<&Push> {
        self.pushes.iter().rev().find(|p| p.head_sha == commit_id)
    }

    /// After a push: like GitHub, a RIGHT-side comment moves with its line
    /// when the new head keeps that line unchanged (`moves` maps the old
    /// head's lines of a file to the new head's) and the line is still
    /// commentable with the same text; otherwise it becomes outdated
    /// (`line: null` in REST, `isOutdated` in GraphQL). Replies follow the
    /// comment they answer.
    fn refresh_comment_positions(&mut self, moves: &dyn Fn(&str) -> Option<Vec<Option<u64>>>) {
        let head = self.pushes.last().expect("just pushed");
        let mut maps: HashMap<String, Option<Vec<Option<u64>>>> = HashMap::new();
        for c in &mut self.comments {
            let Some((line, start)) = c.current else {
                continue;
            };
            let map = maps.entry(c.path.clone()).or_insert_with(|| moves(&c.path));
            let map = &*map;
            let moved = |l: u64| match (&c.anchor.side, map) {
                (Side::Right, Some(map)) => map
                    .get(usize::try_from(l).ok()?.checked_sub(1)?)
                    .copied()
                    .flatten(),
                _ => Some(l),
            };
            let anchor = Anchor {
                side: c.anchor.side,
                line: match moved(line) {
                    Some(l) => l,
                    None => {
                        c.current = None;
                        c.position = None;
                        continue;
                    }
                },
                start: match (c.anchor.start, start) {
                    (Some((side, _)), Some(s)) => moved(s).map(|s| (side, s)),
                    _ => None,
                },
            };
            match locate(head, &c.path, &anchor) {
                Ok(found) if found.texts == c.anchor_texts => {
                    c.commit_id = head.head_sha.clone();
                    c.position = Some(found.position);
                    c.current = Some((anchor.line, anchor.start.map(|(_, l)| l)));
                }
                _ => {
                    c.current = None;
                    c.position = None;
                }
            }
        }
    }
}

/// Finds an anchor in a push's diff, with GitHub's rules: the path must be a
/// file of the pull request with a patch, `line` (and `start_line`) must be
/// lines of one hunk on their sides, and `start_line` must precede `line`.
pub(crate) fn locate(push: &Push, path: &str, anchor: &Anchor) -> Result<Located, AnchorError> {
    let file = push
        .files
        .iter()
        .find(|f| f.path == path)
        .ok_or(AnchorError::NoSuchPath)?;
    let patch = file.patch.as_ref().ok_or(AnchorError::NotInDiff)?;
    let end = patch
        .find(anchor.side, anchor.line)
        .ok_or(AnchorError::NotInDiff)?;
    let mut texts = Vec::new();
    if let Some((start_side, start_line)) = anchor.start {
        let start: LineRef = patch
            .find(start_side, start_line)
            .ok_or(AnchorError::NotInDiff)?;
        if start.hunk != end.hunk {
            return Err(AnchorError::StartInOtherHunk);
        }
        if start.index >= end.index {
            return Err(AnchorError::NotInDiff);
        }
        texts.push(patch.line(start).text.clone());
    }
    texts.push(patch.line(end).text.clone());
    Ok(Located {
        texts,
        diff_hunk: patch.diff_hunk(end),
        position: patch.position(end),
    })
}

impl CommentState {
    pub fn snapshot(&self) -> ReviewComment {
        ReviewComment {
            id: self.id,
            review_id: self.review_id,
            thread_id: self.thread_id.clone(),
            path: self.path.clone(),
            line: self.current.map(|(l, _)| l),
            original_line: self.anchor.line,
            side: self.anchor.side.as_str().to_owned(),
            start_line: self.anchor.start.map(|(_, l)| l),
            start_side: self.anchor.start.map(|(s, _)| s.as_str().to_owned()),
            body: self.body.clone(),
            author: self.author.clone(),
            resolved: self.resolved,
            resolved_by: self.resolved_by.clone(),
            in_reply_to: self.in_reply_to,
            outdated: self.current.is_none(),
            commit_id: self.commit_id.clone(),
            original_commit_id: self.original_commit_id.clone(),
        }
    }
}
