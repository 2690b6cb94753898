//! Merge groups and collaborators: `GET /repos/{owner}/{repo}/compare/
//! {base}...{head}` answered from the comparisons a test put (every file on
//! the first page, at most 300, as GitHub does; later pages only page
//! through commits), and the collaborator permission API.

use super::pagination::PageRequest;
use super::routes::Reply;
use super::shapes::{HTML, diff_entry, user, user_id};
use super::state::{PrFile, Repo};
use serde_json::{Value, json};

/// Answers a comparison `base...head`.
pub(crate) fn compare(api: &str, repo: &Repo, basehead: &str, query: Option<&str>) -> Reply {
    let not_found = || {
        Reply::error_with_docs(
            404,
            "Not Found",
            "https://docs.github.com/rest/commits/commits#compare-two-commits",
        )
    };
    let Some((base, head)) = basehead.split_once("...") else {
        return not_found();
    };
    match repo.comparisons.get(&(base.to_owned(), head.to_owned())) {
        Some(files) => {
            let first_page = PageRequest::from_query(query).page <= 1;
            let files: &[PrFile] = if first_page {
                &files[..files.len().min(300)]
            } else {
                &[]
            };
            Reply::json(200, comparison(api, repo, base, head, files))
        }
        None => not_found(),
    }
}

/// Answers a collaborator's permission (404 for someone who is none).
pub(crate) fn permission(api: &str, repo: &Repo, login: &str) -> Reply {
    match repo.permissions.get(&login.to_ascii_lowercase()) {
        Some(permission) => Reply::json(200, collaborator_permission(api, login, permission)),
        None => Reply::error_with_docs(
            404,
            &format!("{login} is not a user"),
            "https://docs.github.com/rest/collaborators/collaborators#get-repository-permissions-for-a-user",
        ),
    }
}

/// A commit as the commits and compare endpoints show it.
pub(crate) fn commit(api: &str, repo: &Repo, sha: &str, parents: &[&str]) -> Value {
    let full = &repo.full_name;
    let person =
        json!({ "name": "Mona Lisa", "email": "mona@example.com", "date": "2024-01-01T00:00:00Z" });
    json!({
        "url": format!("{api}/repos/{full}/commits/{sha}"),
        "sha": sha,
        "node_id": format!("C_{sha}"),
        "html_url": format!("{HTML}/{full}/commit/{sha}"),
        "comments_url": format!("{api}/repos/{full}/commits/{sha}/comments"),
        "commit": {
            "url": format!("{api}/repos/{full}/git/commits/{sha}"),
            "author": person,
            "committer": person,
            "message": format!("commit {sha}"),
            "comment_count": 0,
            "tree": {
                "sha": super::state::fake_sha(sha.as_bytes()),
                "url": format!("{api}/repos/{full}/git/trees/{sha}")
            },
            "verification": { "verified": false, "reason": "unsigned", "payload": null, "signature": null, "verified_at": null }
        },
        "author": null,
        "committer": null,
        "parents": parents.iter().map(|p| json!({
            "sha": p,
            "url": format!("{api}/repos/{full}/commits/{p}"),
            "html_url": format!("{HTML}/{full}/commit/{p}")
        })).collect::<Vec<_>>()
    })
}

/// `GET /repos/{owner}/{repo}/compare/{base}...{head}` of a head one commit
/// ahead of its base.
pub(crate) fn comparison(
    api: &str,
    repo: &Repo,
    base: &str,
    head: &str,
    files: &[PrFile],
) -> Value {
    let full = &repo.full_name;
    let html = format!("{HTML}/{full}/compare/{base}...{head}");
    json!({
        "url": format!("{api}/repos/{full}/compare/{base}...{head}"),
        "html_url": html,
        "permalink_url": html,
        "diff_url": format!("{html}.diff"),
        "patch_url": format!("{html}.patch"),
        "base_commit": commit(api, repo, base, &[]),
        "merge_base_commit": commit(api, repo, base, &[]),
        "status": "ahead",
        "ahead_by": 1,
        "behind_by": 0,
        "total_commits": 1,
        "commits": [commit(api, repo, head, &[base])],
        "files": files.iter().map(|f| diff_entry(api, repo, head, f)).collect::<Vec<_>>()
    })
}

/// `GET /repos/{owner}/{repo}/collaborators/{username}/permission`.
pub(crate) fn collaborator_permission(api: &str, login: &str, permission: &str) -> Value {
    let mut collaborator = user(api, login, user_id(login), "User");
    collaborator["role_name"] = json!(permission);
    collaborator["permissions"] = json!({
        "admin": permission == "admin",
        "maintain": permission == "admin",
        "push": permission == "admin" || permission == "write",
        "triage": permission != "none",
        "pull": permission != "none"
    });
    json!({ "permission": permission, "role_name": permission, "user": collaborator })
}
