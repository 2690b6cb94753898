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

/// GitHub lists at most this many files of a pull request.
pub const MAX_PULL_REQUEST_FILES: usize = 3000;

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

    /// Creates a check run; answers its id. When GitHub's answer is lost,
    /// looks for the run (same name, `external_id` and `started_at`) before
    /// creating it again, so a retry never leaves an orphan in progress.
    pub async fn create_check_run(
        &self,
        repo: &RepoRef,
        body: &CreateCheckRun,
    ) -> Result<u64, GitHubError> {
        const ROUTE: &str = "POST /repos/{owner}/{repo}/check-runs";
        #[derive(serde::Deserialize)]
        struct Created {
            id: u64,
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
                Ok(response) => return Ok(response.json::<Created>(ROUTE)?.id),
                Err(error @ GitHubError::Ambiguous { .. }) => {
                    tracing::warn!(%error, "check run creation unclear; looking for it");
                    if let Some(id) = self.find_check_run(repo, body).await? {
                        return Ok(id);
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
    ) -> Result<Option<u64>, GitHubError> {
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
        }
        let path = format!(
            "/repos/{}/{}/commits/{}/check-runs?check_name={}&filter=all&per_page=100",
            repo.owner, repo.name, body.head_sha, body.name
        );
        let listed: Listed = self
            .call(Method::GET, ROUTE, &path, None)
            .await?
            .json(ROUTE)?;
        let started = chrono::DateTime::parse_from_rfc3339(&body.started_at)
            .ok()
            .map(|t| t.with_timezone(&chrono::Utc));
        Ok(listed
            .check_runs
            .into_iter()
            .find(|run| run.external_id == body.external_id && run.started_at == started)
            .map(|run| run.id))
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
        const ROUTE: &str = "GET /repos/{owner}/{repo}/commits/{ref}/check-runs";
        #[derive(serde::Deserialize)]
        struct Listed {
            check_runs: Vec<Listed1>,
        }
        #[derive(serde::Deserialize)]
        struct Listed1 {
            id: u64,
            status: String,
            external_id: Option<String>,
        }
        let path = format!(
            "/repos/{}/{}/commits/{}/check-runs?check_name={}&filter=all&per_page=100",
            repo.owner, repo.name, head_sha, name
        );
        let listed: Listed = self
            .call(Method::GET, ROUTE, &path, None)
            .await?
            .json(ROUTE)?;
        Ok(listed
            .check_runs
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
