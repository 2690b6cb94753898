//! The JSON objects GitHub returns, built from the model.
//!
//! Shapes follow the response schemas of GitHub's OpenAPI description (every
//! required field present, nullable ones null), and the emulator checks its
//! own responses against those schemas when the description is available, so
//! a client deserialising them (octocrab or the bot's own types) meets what
//! GitHub really sends. HTML links point at `https://github.com`, API links
//! at the emulator.

use super::state::{CheckRun, CommentState, PrFile, Pull, Repo, ReviewState};
use serde_json::{Value, json};

/// The app's slug; its bot user is `hunkscan[bot]`.
pub(crate) const APP_SLUG: &str = "hunkscan";
const PR_AUTHOR: &str = "octocat";
pub(crate) const HTML: &str = "https://github.com";

/// Percent-encodes a path for use in a URL, keeping `/`.
pub(crate) fn encode_path(path: &str) -> String {
    let mut out = String::new();
    for b in path.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~/".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

pub(crate) fn bot_login() -> String {
    format!("{APP_SLUG}[bot]")
}

pub(crate) fn user(api: &str, login: &str, id: u64, kind: &str) -> Value {
    let l = encode_path(login);
    json!({
        "login": login,
        "id": id,
        "node_id": format!("U_{id}"),
        "avatar_url": format!("https://avatars.githubusercontent.com/u/{id}?v=4"),
        "gravatar_id": "",
        "url": format!("{api}/users/{l}"),
        "html_url": format!("{HTML}/{l}"),
        "followers_url": format!("{api}/users/{l}/followers"),
        "following_url": format!("{api}/users/{l}/following{{/other_user}}"),
        "gists_url": format!("{api}/users/{l}/gists{{/gist_id}}"),
        "starred_url": format!("{api}/users/{l}/starred{{/owner}}{{/repo}}"),
        "subscriptions_url": format!("{api}/users/{l}/subscriptions"),
        "organizations_url": format!("{api}/users/{l}/orgs"),
        "repos_url": format!("{api}/users/{l}/repos"),
        "events_url": format!("{api}/users/{l}/events{{/privacy}}"),
        "received_events_url": format!("{api}/users/{l}/received_events"),
        "type": kind,
        "user_view_type": "public",
        "site_admin": false
    })
}

/// A stable user id derived from a login.
pub(crate) fn user_id(login: &str) -> u64 {
    login
        .bytes()
        .fold(5381u64, |h, b| h.wrapping_mul(33) ^ u64::from(b))
        % 90_000_000
        + 1_000_000
}

pub(crate) fn bot_user(api: &str, app_id: u64) -> Value {
    user(api, &bot_login(), 41_000_000 + app_id, "Bot")
}

pub(crate) fn author(api: &str, login: &str, is_bot: bool, app_id: u64) -> Value {
    if is_bot {
        bot_user(api, app_id)
    } else if login.ends_with("[bot]") {
        // Another app's bot (github-actions[bot], say).
        user(api, login, user_id(login), "Bot")
    } else {
        user(api, login, user_id(login), "User")
    }
}

pub(crate) fn repository(api: &str, repo: &Repo) -> Value {
    let full = &repo.full_name;
    let (owner, name) = full.split_once('/').unwrap_or((full, full));
    let u = format!("{api}/repos/{full}");
    // Built in two parts: one `json!` this size exceeds the macro recursion
    // limit of a test crate.
    let mut v = json!({
        "id": repo.id,
        "node_id": format!("R_{}", repo.id),
        "name": name,
        "full_name": full,
        "license": null,
        "owner": user(api, owner, user_id(owner), "Organization"),
        "private": true,
        "visibility": "private",
        "html_url": format!("{HTML}/{full}"),
        "description": null,
        "fork": false,
        "url": u,
        "git_url": format!("git://github.com/{full}.git"),
        "ssh_url": format!("git@github.com:{full}.git"),
        "clone_url": format!("{HTML}/{full}.git"),
        "svn_url": format!("{HTML}/{full}"),
        "mirror_url": null,
        "homepage": null,
        "language": null,
        "default_branch": "main",
        "pushed_at": "2024-01-01T00:00:00Z",
        "created_at": "2024-01-01T00:00:00Z",
        "updated_at": "2024-01-01T00:00:00Z"
    });
    let counts = [
        ("forks", 0),
        ("forks_count", 0),
        ("stargazers_count", 0),
        ("watchers_count", 0),
        ("watchers", 0),
        ("size", 0),
        ("open_issues_count", repo.pulls.len()),
        ("open_issues", repo.pulls.len()),
    ];
    let flags = [
        ("has_issues", true),
        ("has_projects", false),
        ("has_wiki", false),
        ("has_pages", false),
        ("has_downloads", false),
        ("archived", false),
        ("disabled", false),
    ];
    let links = [
        ("archive_url", "/{archive_format}{/ref}"),
        ("assignees_url", "/assignees{/user}"),
        ("blobs_url", "/git/blobs{/sha}"),
        ("branches_url", "/branches{/branch}"),
        ("collaborators_url", "/collaborators{/collaborator}"),
        ("comments_url", "/comments{/number}"),
        ("commits_url", "/commits{/sha}"),
        ("compare_url", "/compare/{base}...{head}"),
        ("contents_url", "/contents/{+path}"),
        ("contributors_url", "/contributors"),
        ("deployments_url", "/deployments"),
        ("downloads_url", "/downloads"),
        ("events_url", "/events"),
        ("forks_url", "/forks"),
        ("git_commits_url", "/git/commits{/sha}"),
        ("git_refs_url", "/git/refs{/sha}"),
        ("git_tags_url", "/git/tags{/sha}"),
        ("hooks_url", "/hooks"),
        ("issue_comment_url", "/issues/comments{/number}"),
        ("issue_events_url", "/issues/events{/number}"),
        ("issues_url", "/issues{/number}"),
        ("keys_url", "/keys{/key_id}"),
        ("labels_url", "/labels{/name}"),
        ("languages_url", "/languages"),
        ("merges_url", "/merges"),
        ("milestones_url", "/milestones{/number}"),
        (
            "notifications_url",
            "/notifications{?since,all,participating}",
        ),
        ("pulls_url", "/pulls{/number}"),
        ("releases_url", "/releases{/id}"),
        ("stargazers_url", "/stargazers"),
        ("statuses_url", "/statuses/{sha}"),
        ("subscribers_url", "/subscribers"),
        ("subscription_url", "/subscription"),
        ("tags_url", "/tags"),
        ("teams_url", "/teams"),
        ("trees_url", "/git/trees{/sha}"),
    ];
    for (key, n) in counts {
        v[key] = json!(n);
    }
    for (key, b) in flags {
        v[key] = json!(b);
    }
    for (key, suffix) in links {
        v[key] = json!(format!("{u}{suffix}"));
    }
    v
}

fn branch(api: &str, repo: &Repo, git_ref: &str, sha: &str) -> Value {
    let owner = repo.full_name.split('/').next().unwrap_or("");
    json!({
        "label": format!("{owner}:{git_ref}"),
        "ref": git_ref,
        "sha": sha,
        "user": user(api, owner, user_id(owner), "Organization"),
        "repo": repository(api, repo)
    })
}

pub(crate) fn head_ref(number: u64) -> String {
    format!("feature-{number}")
}

pub(crate) fn pull_request(api: &str, repo: &Repo, pull: &Pull) -> Value {
    let full = &repo.full_name;
    let n = pull.number;
    let u = format!("{api}/repos/{full}/pulls/{n}");
    let issue = format!("{api}/repos/{full}/issues/{n}");
    let html = format!("{HTML}/{full}/pull/{n}");
    let head = pull.head();
    let files = &head.files;
    let statuses = format!("{api}/repos/{full}/statuses/{}", head.head_sha);
    let review_comment = format!("{api}/repos/{full}/pulls/comments{{/number}}");
    let links = json!({
        "self": {"href": u},
        "html": {"href": html},
        "issue": {"href": issue},
        "comments": {"href": format!("{issue}/comments")},
        "review_comments": {"href": format!("{u}/comments")},
        "review_comment": {"href": review_comment},
        "commits": {"href": format!("{u}/commits")},
        "statuses": {"href": statuses}
    });
    // Built in parts: one `json!` this size exceeds the macro recursion
    // limit of a test crate.
    let mut v = json!({
        "url": u,
        "id": pull.id,
        "node_id": format!("PR_{}", pull.id),
        "html_url": html,
        "diff_url": format!("{html}.diff"),
        "patch_url": format!("{html}.patch"),
        "issue_url": issue,
        "commits_url": format!("{u}/commits"),
        "review_comments_url": format!("{u}/comments"),
        "review_comment_url": review_comment,
        "comments_url": format!("{issue}/comments"),
        "statuses_url": statuses,
        "number": n,
        "state": "open",
        "locked": false,
        "title": format!("Pull request #{n}"),
        "user": user(api, PR_AUTHOR, user_id(PR_AUTHOR), "User"),
        "labels": [],
        "created_at": pull.created_at,
        "updated_at": pull.updated_at,
        "assignees": [],
        "requested_reviewers": [],
        "requested_teams": [],
        "head": branch(api, repo, &head_ref(n), &head.head_sha),
        "base": branch(api, repo, "main", &head.base_sha),
        "_links": links,
        "author_association": "CONTRIBUTOR",
        "draft": pull.draft,
        "mergeable_state": "unknown",
        "merged": false,
        "maintainer_can_modify": false
    });
    for key in [
        "body",
        "milestone",
        "active_lock_reason",
        "closed_at",
        "merged_at",
        "merge_commit_sha",
        "assignee",
        "auto_merge",
        "mergeable",
        "rebaseable",
        "merged_by",
    ] {
        v[key] = Value::Null;
    }
    let counts = [
        ("comments", 0),
        ("review_comments", pull.comments.len() as u64),
        ("commits", pull.pushes.len() as u64),
        ("additions", files.iter().map(|f| f.additions).sum()),
        ("deletions", files.iter().map(|f| f.deletions).sum()),
        ("changed_files", files.len() as u64),
    ];
    for (key, count) in counts {
        v[key] = json!(count);
    }
    v
}

pub(crate) fn diff_entry(api: &str, repo: &Repo, head_sha: &str, file: &PrFile) -> Value {
    let full = &repo.full_name;
    let path = encode_path(&file.path);
    let mut entry = json!({
        "sha": file.sha,
        "filename": file.path,
        "status": file.status,
        "additions": file.additions,
        "deletions": file.deletions,
        "changes": file.additions + file.deletions,
        "blob_url": format!("{HTML}/{full}/blob/{head_sha}/{path}"),
        "raw_url": format!("{HTML}/{full}/raw/{head_sha}/{path}"),
        "contents_url": format!("{api}/repos/{full}/contents/{path}?ref={head_sha}"),
    });
    if let Some(patch) = &file.patch {
        entry["patch"] = json!(patch.text);
    }
    if let Some(prev) = &file.previous_path {
        entry["previous_filename"] = json!(prev);
    }
    entry
}

pub(crate) fn review_comment(
    api: &str,
    repo: &Repo,
    number: u64,
    c: &CommentState,
    app_id: u64,
) -> Value {
    let full = &repo.full_name;
    let u = format!("{api}/repos/{full}/pulls/comments/{}", c.id);
    let html = format!("{HTML}/{full}/pull/{number}#discussion_r{}", c.id);
    let pr = format!("{api}/repos/{full}/pulls/{number}");
    json!({
        "url": u,
        "pull_request_review_id": c.review_id,
        "id": c.id,
        "node_id": format!("PRRC_{}", c.id),
        "diff_hunk": c.diff_hunk,
        "path": c.path,
        "position": c.position,
        "original_position": c.original_position,
        "commit_id": c.commit_id,
        "original_commit_id": c.original_commit_id,
        "user": author(api, &c.author, c.author_is_bot, app_id),
        "body": c.body,
        "created_at": c.created_at,
        "updated_at": c.created_at,
        "html_url": html,
        "pull_request_url": pr,
        "author_association": if c.author_is_bot { "NONE" } else { "CONTRIBUTOR" },
        "_links": {
            "self": {"href": u},
            "html": {"href": html},
            "pull_request": {"href": pr}
        },
        "start_line": c.current.and_then(|(_, s)| s),
        "original_start_line": c.anchor.start.map(|(_, l)| l),
        "start_side": c.anchor.start.map(|(s, _)| s.as_str()),
        "line": c.current.map(|(l, _)| l),
        "original_line": c.anchor.line,
        "side": c.anchor.side.as_str(),
        "subject_type": "line",
        "performed_via_github_app": null
    })
    .tap_reply(c.in_reply_to)
}

/// `in_reply_to_id`, present only on replies (as GitHub sends it).
trait TapReply {
    fn tap_reply(self, in_reply_to: Option<u64>) -> Value;
}

impl TapReply for Value {
    fn tap_reply(mut self, in_reply_to: Option<u64>) -> Value {
        if let Some(id) = in_reply_to {
            self["in_reply_to_id"] = json!(id);
        }
        self
    }
}

pub(crate) fn review(api: &str, repo: &Repo, number: u64, r: &ReviewState, app_id: u64) -> Value {
    let full = &repo.full_name;
    let html = format!("{HTML}/{full}/pull/{number}#pullrequestreview-{}", r.id);
    let pr = format!("{api}/repos/{full}/pulls/{number}");
    let state = match r.event.as_str() {
        "APPROVE" => "APPROVED",
        "REQUEST_CHANGES" => "CHANGES_REQUESTED",
        "COMMENT" => "COMMENTED",
        _ => "PENDING",
    };
    let mut v = json!({
        "id": r.id,
        "node_id": format!("PRR_{}", r.id),
        "user": bot_user(api, app_id),
        "body": r.body,
        "state": state,
        "html_url": html,
        "pull_request_url": pr,
        "_links": {"html": {"href": html}, "pull_request": {"href": pr}},
        "commit_id": r.commit_id,
        "author_association": "NONE"
    });
    if state != "PENDING" {
        v["submitted_at"] = json!(r.submitted_at);
    }
    v
}

pub(crate) fn app(api: &str, app_id: u64) -> Value {
    json!({
        "id": app_id,
        "slug": APP_SLUG,
        "node_id": format!("A_{app_id}"),
        "client_id": format!("Iv1.{app_id:016x}"),
        "owner": user(api, "hunkscan-org", user_id("hunkscan-org"), "Organization"),
        "name": APP_SLUG,
        "description": null,
        "external_url": format!("{HTML}/apps/{APP_SLUG}"),
        "html_url": format!("{HTML}/apps/{APP_SLUG}"),
        "created_at": "2024-01-01T00:00:00Z",
        "updated_at": "2024-01-01T00:00:00Z",
        "permissions": {
            "checks": "write",
            "contents": "read",
            "metadata": "read",
            "pull_requests": "write"
        },
        "events": ["pull_request"]
    })
}

pub(crate) fn check_run(api: &str, repo: &Repo, run: &CheckRun, app_id: u64) -> Value {
    let full = &repo.full_name;
    let u = format!("{api}/repos/{full}/check-runs/{}", run.id);
    let repo_min = json!({"id": repo.id, "url": format!("{api}/repos/{full}"), "name": repo.full_name.split('/').nth(1).unwrap_or("")});
    let pulls: Vec<Value> = repo
        .pulls
        .values()
        .filter(|p| p.head().head_sha == run.head_sha)
        .map(|p| {
            json!({
                "id": p.id,
                "number": p.number,
                "url": format!("{api}/repos/{full}/pulls/{}", p.number),
                "head": {"ref": head_ref(p.number), "sha": p.head().head_sha, "repo": repo_min},
                "base": {"ref": "main", "sha": p.head().base_sha, "repo": repo_min}
            })
        })
        .collect();
    json!({
        "id": run.id,
        "node_id": format!("CR_{}", run.id),
        "head_sha": run.head_sha,
        "name": run.name,
        "url": u,
        "html_url": format!("{HTML}/{full}/runs/{}", run.id),
        "details_url": run.details_url.clone().unwrap_or_else(|| format!("{HTML}/apps/{APP_SLUG}")),
        "status": run.status,
        "conclusion": run.conclusion,
        "started_at": run.started_at,
        "completed_at": run.completed_at,
        "external_id": run.external_id.clone().unwrap_or_default(),
        "check_suite": {"id": run.id + 1},
        "output": {
            "title": run.output.title,
            "summary": run.output.summary,
            "text": run.output.text,
            "annotations_count": run.annotations.len(),
            "annotations_url": format!("{u}/annotations")
        },
        "app": app(api, app_id),
        "pull_requests": pulls
    })
}

pub(crate) fn content_file(
    api: &str,
    repo: &Repo,
    git_ref: &str,
    path: &str,
    content: &str,
) -> Value {
    let full = &repo.full_name;
    let p = encode_path(path);
    let sha = super::state::fake_sha(content.as_bytes());
    let u = format!("{api}/repos/{full}/contents/{p}?ref={git_ref}");
    let git = format!("{api}/repos/{full}/git/blobs/{sha}");
    let html = format!("{HTML}/{full}/blob/{git_ref}/{p}");
    json!({
        "type": "file",
        "encoding": "base64",
        "size": content.len(),
        "name": path.rsplit('/').next().unwrap_or(path),
        "path": path,
        "content": base64_lines(content.as_bytes()),
        "sha": sha,
        "url": u,
        "git_url": git,
        "html_url": html,
        "download_url": format!("https://raw.githubusercontent.com/{full}/{git_ref}/{p}"),
        "_links": {"self": u, "git": git, "html": html}
    })
}

/// Base64 wrapped at 60 characters per line, as GitHub's contents API does.
pub(crate) fn base64_lines(data: &[u8]) -> String {
    let encoded = base64(data);
    let mut out = String::with_capacity(encoded.len() + encoded.len() / 60 + 1);
    for (i, chunk) in encoded.as_bytes().chunks(60).enumerate() {
        if i > 0 {
            out.push('\n');
        }
        out.push_str(std::str::from_utf8(chunk).unwrap_or_default());
    }
    out.push('\n');
    out
}

/// Standard base64 with padding (no dependency for 20 lines).
pub(crate) fn base64(data: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        out.push(T[(n >> 18) as usize & 63] as char);
        out.push(T[(n >> 12) as usize & 63] as char);
        out.push(if chunk.len() > 1 {
            T[(n >> 6) as usize & 63] as char
        } else {
            '='
        });
        out.push(if chunk.len() > 2 {
            T[n as usize & 63] as char
        } else {
            '='
        });
    }
    out
}

/// Decodes standard base64, ignoring whitespace; `None` when malformed.
pub(crate) fn base64_decode(s: &str) -> Option<Vec<u8>> {
    let mut bits = 0u32;
    let mut nbits = 0;
    let mut out = Vec::new();
    for c in s.bytes().filter(|c| !c.is_ascii_whitespace()) {
        if c == b'=' {
            break;
        }
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        };
        bits = (bits << 6) | u32::from(v);
        nbits += 6;
        if nbits >= 8 {
            nbits -= 8;
            out.push((bits >> nbits) as u8);
            bits &= (1 << nbits) - 1;
        }
    }
    Some(out)
}
