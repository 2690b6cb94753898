//! The REST calls the bot makes, typed.

use super::client::{GitHubError, Installation};
use super::types::{
    CreateCheckRun, CreateReview, PullRequestFile, RepoRef, ReviewComment, UpdateCheckRun,
};
use http::Method;
use serde::Serialize;
use serde::de::DeserializeOwned;

/// Where a pull request stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PullRequestHead {
    /// Current head commit.
    pub head_sha: String,
    /// Base branch commit.
    pub base_sha: String,
    /// Draft or not.
    pub draft: bool,
}

/// A check run as listed for a commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedCheckRun {
    /// Its id.
    pub id: u64,
    /// What the job that created it was about.
    pub external_id: Option<String>,
    /// When it started.
    pub started_at: Option<chrono::DateTime<chrono::Utc>>,
    /// `queued`, `in_progress` or `completed`.
    pub status: String,
    /// Open pull requests whose head is the commit.
    pub pull_requests: Vec<CheckPull>,
}

/// GitHub lists at most this many files of a pull request.
pub const MAX_PULL_REQUEST_FILES: usize = 3000;

/// GitHub lists at most this many files of a comparison, all on its first
/// page ("the list of changed files is only shown on the first page of
/// results, and it includes up to 300 changed files for the entire
/// comparison"; later pages only page through the commits).
pub const MAX_COMPARE_FILES: usize = 300;

/// A check run just created.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreatedCheckRun {
    /// Its id.
    pub id: u64,
    /// The open pull requests whose head is the check's commit, as GitHub
    /// lists them in its answer (pull requests from forks are not listed).
    pub pull_requests: Vec<CheckPull>,
}

/// A pull request as a check run lists it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
pub struct CheckPull {
    /// Its number.
    pub number: u64,
    /// Its base commit.
    #[serde(deserialize_with = "base_sha")]
    pub base: String,
}

fn base_sha<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    #[derive(serde::Deserialize)]
    struct Base {
        sha: String,
    }
    Ok(<Base as serde::Deserialize>::deserialize(deserializer)?.sha)
}

/// What a user may do in a repository, as the collaborator permission API
/// says it (`maintain` is reported as `write`, `triage` as `read`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Permission {
    /// `admin`.
    Admin,
    /// `write` (or `maintain`).
    Write,
    /// `read` (or `triage`).
    Read,
    /// `none`, an unknown value, or not a collaborator at all (404).
    None,
}

impl Permission {
    /// Whether the user can push to the repository.
    pub fn can_write(self) -> bool {
        matches!(self, Permission::Admin | Permission::Write)
    }
}

fn to_value<T: Serialize>(route: &'static str, body: &T) -> Result<serde_json::Value, GitHubError> {
    serde_json::to_value(body).map_err(|error| GitHubError::Decode {
        route,
        message: error.to_string(),
    })
}

impl Installation {
    /// Every page of a list endpoint, following `Link: rel="next"`, up to
    /// `limit` items.
    async fn paginate<T: DeserializeOwned>(
        &self,
        route: &'static str,
        first: String,
        limit: usize,
    ) -> Result<Vec<T>, GitHubError> {
        let mut items = Vec::new();
        let mut next = Some(first);
        while let Some(url) = next.take() {
            let response = self.call(Method::GET, route, &url, None).await?;
            let mut page: Vec<T> = response.json(route)?;
            items.append(&mut page);
            if items.len() >= limit {
                items.truncate(limit);
                break;
            }
            next = response.next_page();
        }
        Ok(items)
    }

    /// The files of a pull request with their patches (100 per page).
    pub async fn list_pull_request_files(
        &self,
        repo: &RepoRef,
        number: u64,
    ) -> Result<Vec<PullRequestFile>, GitHubError> {
        self.paginate(
            "GET /repos/{owner}/{repo}/pulls/{pull_number}/files",
            format!(
                "/repos/{}/{}/pulls/{number}/files?per_page=100",
                repo.owner, repo.name
            ),
            MAX_PULL_REQUEST_FILES,
        )
        .await
    }

    /// Every review comment of a pull request (100 per page).
    pub async fn list_review_comments(
        &self,
        repo: &RepoRef,
        number: u64,
    ) -> Result<Vec<ReviewComment>, GitHubError> {
        self.paginate(
            "GET /repos/{owner}/{repo}/pulls/{pull_number}/comments",
            format!(
                "/repos/{}/{}/pulls/{number}/comments?per_page=100",
                repo.owner, repo.name
            ),
            usize::MAX,
        )
        .await
    }

    /// The files of a comparison `base...head` with their patches (at
    /// most [`MAX_COMPARE_FILES`], all on the first page: one request).
    /// `per_page=1` keeps the commit list, which the bot does not read, short.
    pub async fn compare_files(
        &self,
        repo: &RepoRef,
        base: &str,
        head: &str,
    ) -> Result<Vec<PullRequestFile>, GitHubError> {
        const ROUTE: &str = "GET /repos/{owner}/{repo}/compare/{basehead}";
        #[derive(serde::Deserialize)]
        struct Comparison {
            #[serde(default)]
            files: Vec<PullRequestFile>,
        }
        let comparison: Comparison = self
            .call(
                Method::GET,
                ROUTE,
                &format!(
                    "/repos/{}/{}/compare/{base}...{head}?per_page=1",
                    repo.owner, repo.name
                ),
                None,
            )
            .await?
            .json(ROUTE)?;
        let mut files = comparison.files;
        files.truncate(MAX_COMPARE_FILES);
        Ok(files)
    }

    /// What `login` may do in the repository; a user who is not a
    /// collaborator (404) has [`Permission::None`].
    pub async fn collaborator_permission(
        &self,
        repo: &RepoRef,
        login: &str,
    ) -> Result<Permission, GitHubError> {
        const ROUTE: &str = "GET /repos/{owner}/{repo}/collaborators/{username}/permission";
        #[derive(serde::Deserialize)]
        struct Answer {
            permission: String,
        }
        // A login is letters, digits and hyphens; anything else cannot be a
        // collaborator and must not reach the path.
        if login.is_empty()
            || !login
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        {
            return Ok(Permission::None);
        }
        let path = format!(
            "/repos/{}/{}/collaborators/{login}/permission",
            repo.owner, repo.name
        );
        match self.call(Method::GET, ROUTE, &path, None).await {
            Ok(response) => Ok(match response.json::<Answer>(ROUTE)?.permission.as_str() {
                "admin" => Permission::Admin,
                "write" | "maintain" => Permission::Write,
                "read" | "triage" => Permission::Read,
                _ => Permission::None,
            }),
            Err(error) if error.is_status(404) => Ok(Permission::None),
            Err(error) => Err(error),
        }
    }

    /// Creates a check run; answers its id and the pull requests GitHub
    /// lists for its commit. When GitHub's answer is lost, looks for the run
    /// (same name, `external_id` and `started_at`) before creating it again,
    /// so a retry never leaves an orphan in progress.
    pub async fn create_check_run(
        &self,
        repo: &RepoRef,
        body: &CreateCheckRun,
    ) -> Result<CreatedCheckRun, GitHubError> {
        const ROUTE: &str = "POST /repos/{owner}/{repo}/check-runs";
        #[derive(serde::Deserialize)]
        struct Created {
            id: u64,
            #[serde(default)]
            pull_requests: Vec<CheckPull>,
        }
        let path = format!("/repos/{}/{}/check-runs", repo.owner, repo.name);
        let value = to_value(ROUTE, body)?;
        let mut attempts = 0;
        loop {
            attempts += 1;
            match self
                .call_once(Method::POST, ROUTE, &path, Some(&value))
                .await
            {
                Ok(response) => {
                    let created: Created = response.json(ROUTE)?;
                    return Ok(CreatedCheckRun {
                        id: created.id,
                        pull_requests: created.pull_requests,
                    });
                }
                Err(error @ GitHubError::Ambiguous { .. }) => {
                    tracing::warn!(%error, "check run creation unclear; looking for it");
                    if let Some(found) = self.find_check_run(repo, body).await? {
                        return Ok(found);
                    }
                    if attempts >= 3 {
                        return Err(error);
                    }
                }
                Err(error) => return Err(error),
            }
        }
    }

    /// The check run `body` would have created, if GitHub has it.
    async fn find_check_run(
        &self,
        repo: &RepoRef,
        body: &CreateCheckRun,
    ) -> Result<Option<CreatedCheckRun>, GitHubError> {
        let started = chrono::DateTime::parse_from_rfc3339(&body.started_at)
            .ok()
            .map(|t| t.with_timezone(&chrono::Utc));
        Ok(self
            .list_check_runs(repo, &body.head_sha, &body.name)
            .await?
            .into_iter()
            .find(|run| run.external_id == body.external_id && run.started_at == started)
            .map(|run| CreatedCheckRun {
                id: run.id,
                pull_requests: run.pull_requests,
            }))
    }

    /// The check runs named `name` on a commit, newest first (one page of
    /// 100: the bot creates one per job).
    pub async fn list_check_runs(
        &self,
        repo: &RepoRef,
        sha: &str,
        name: &str,
    ) -> Result<Vec<ListedCheckRun>, GitHubError> {
        const ROUTE: &str = "GET /repos/{owner}/{repo}/commits/{ref}/check-runs";
        #[derive(serde::Deserialize)]
        struct Listed {
            check_runs: Vec<Listed1>,
        }
        #[derive(serde::Deserialize)]
        struct Listed1 {
            id: u64,
            external_id: Option<String>,
            started_at: Option<chrono::DateTime<chrono::Utc>>,
            status: String,
            #[serde(default)]
            pull_requests: Vec<CheckPull>,
        }
        let path = format!(
            "/repos/{}/{}/commits/{sha}/check-runs?check_name={name}&filter=all&per_page=100",
            repo.owner, repo.name
        );
        let listed: Listed = self
            .call(Method::GET, ROUTE, &path, None)
            .await?
            .json(ROUTE)?;
        let mut runs: Vec<ListedCheckRun> = listed
            .check_runs
            .into_iter()
            .map(|run| ListedCheckRun {
                id: run.id,
                external_id: run.external_id,
                started_at: run.started_at,
                status: run.status,
                pull_requests: run.pull_requests,
            })
            .collect();
        runs.sort_by_key(|run| std::cmp::Reverse(run.id));
        Ok(runs)
    }

    /// A check run of ours on `head_sha` with `external_id` that is not
    /// completed yet: a job that resumes after a crash takes it up instead
    /// of creating a second one (the crash may have come between GitHub
    /// creating it and the store recording it).
    pub async fn find_open_check_run(
        &self,
        repo: &RepoRef,
        head_sha: &str,
        name: &str,
        external_id: &str,
    ) -> Result<Option<u64>, GitHubError> {
        Ok(self
            .list_check_runs(repo, head_sha, name)
            .await?
            .into_iter()
            .find(|run| {
                run.external_id.as_deref() == Some(external_id) && run.status != "completed"
            })
            .map(|run| run.id))
    }

    /// A pull request's head and base commits and draft state (for re-runs
    /// whose payload does not say, as for pull requests from forks).
    pub async fn get_pull_request(
        &self,
        repo: &RepoRef,
        number: u64,
    ) -> Result<PullRequestHead, GitHubError> {
        const ROUTE: &str = "GET /repos/{owner}/{repo}/pulls/{pull_number}";
        #[derive(serde::Deserialize)]
        struct Pull {
            head: Commit,
            base: Commit,
            #[serde(default)]
            draft: bool,
        }
        #[derive(serde::Deserialize)]
        struct Commit {
            sha: String,
        }
        let pull: Pull = self
            .call(
                Method::GET,
                ROUTE,
                &format!("/repos/{}/{}/pulls/{number}", repo.owner, repo.name),
                None,
            )
            .await?
            .json(ROUTE)?;
        Ok(PullRequestHead {
            head_sha: pull.head.sha,
            base_sha: pull.base.sha,
            draft: pull.draft,
        })
    }

    /// Updates a check run (status, output, annotations).
    pub async fn update_check_run(
        &self,
        repo: &RepoRef,
        id: u64,
        body: &UpdateCheckRun,
    ) -> Result<(), GitHubError> {
        const ROUTE: &str = "PATCH /repos/{owner}/{repo}/check-runs/{check_run_id}";
        self.call(
            Method::PATCH,
            ROUTE,
            &format!("/repos/{}/{}/check-runs/{id}", repo.owner, repo.name),
            Some(&to_value(ROUTE, body)?),
        )
        .await
        .map(drop)
    }

    /// Posts a review with its inline comments, in one request. Never
    /// repeated blindly: an unclear outcome is [`GitHubError::Ambiguous`]
    /// and the caller checks what GitHub has.
    pub async fn create_review(
        &self,
        repo: &RepoRef,
        number: u64,
        body: &CreateReview,
    ) -> Result<(), GitHubError> {
        const ROUTE: &str = "POST /repos/{owner}/{repo}/pulls/{pull_number}/reviews";
        self.call_once(
            Method::POST,
            ROUTE,
            &format!("/repos/{}/{}/pulls/{number}/reviews", repo.owner, repo.name),
            Some(&to_value(ROUTE, body)?),
        )
        .await
        .map(drop)
    }
}
