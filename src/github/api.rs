//! The REST calls the bot makes, typed.

use super::client::{GitHubError, Installation};
use super::types::{
    CreateCheckRun, CreateReview, PullRequestFile, RepoRef, ReviewComment, UpdateCheckRun,
};
use http::Method;
use serde::Serialize;
use serde::de::DeserializeOwned;

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

    /// Creates a check run; answers its id.
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
        let response = self
            .call(
                Method::POST,
                ROUTE,
                &format!("/repos/{}/{}/check-runs", repo.owner, repo.name),
                Some(&to_value(ROUTE, body)?),
            )
            .await?;
        Ok(response.json::<Created>(ROUTE)?.id)
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

    /// Posts a review with its inline comments, in one request.
    pub async fn create_review(
        &self,
        repo: &RepoRef,
        number: u64,
        body: &CreateReview,
    ) -> Result<(), GitHubError> {
        const ROUTE: &str = "POST /repos/{owner}/{repo}/pulls/{pull_number}/reviews";
        self.call(
            Method::POST,
            ROUTE,
            &format!("/repos/{}/{}/pulls/{number}/reviews", repo.owner, repo.name),
            Some(&to_value(ROUTE, body)?),
        )
        .await
        .map(drop)
    }
}
