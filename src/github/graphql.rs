//! The GraphQL calls: many blobs in one query (REST needs one call per
//! file), review threads, and resolving them (REST cannot).

use super::client::{GitHubError, Installation};
use super::types::RepoRef;
use serde::Deserialize;
use serde_json::{Map, Value, json};
use std::collections::HashMap;

/// Whether `graphql_login` (as GraphQL names an actor) is `rest_login` (as
/// REST does): GraphQL names an app's bot user without the `[bot]` suffix.
pub fn same_login(graphql_login: &str, rest_login: &str) -> bool {
    graphql_login == rest_login || rest_login.strip_suffix("[bot]") == Some(graphql_login)
}

/// Blobs per query: GitHub limits a query's cost and size; 100 aliases with
/// three scalar fields each stay far below it.
pub const BLOBS_PER_QUERY: usize = 100;
/// Threads resolved per mutation request.
pub const RESOLVES_PER_REQUEST: usize = 50;

/// A file's content at a commit. Every field is optional: an expression
/// that names a tree or a submodule answers `{}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Blob {
    /// Size in bytes.
    pub byte_size: Option<u64>,
    /// GitHub's binary detection.
    pub is_binary: Option<bool>,
    /// GitHub cut `text` short: the content is not all there.
    pub is_truncated: Option<bool>,
    /// UTF-8 text; null when binary.
    pub text: Option<String>,
}

/// A pull request's current state, as GitHub sees it now.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PullState {
    /// Current head commit.
    pub head_ref_oid: String,
    /// Current base commit.
    pub base_ref_oid: String,
    /// Draft or not.
    pub is_draft: bool,
}

/// A review thread of a pull request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReviewThread {
    /// Node id, for `resolveReviewThread`.
    pub id: String,
    /// Already resolved.
    pub is_resolved: bool,
    /// REST id of the thread's first comment.
    pub first_comment_id: Option<u64>,
    /// Who resolved it, when resolved (`hunkscan[bot]` when the bot did).
    pub resolved_by: Option<String>,
}

impl Installation {
    /// The blobs at `expressions` (`"<sha>:<path>"`), in order; `None` where
    /// the path does not exist at that commit. With `pull`, the first query
    /// also brings the pull request's current head (no extra request).
    pub async fn fetch_blobs(
        &self,
        repo: &RepoRef,
        expressions: &[String],
        pull: Option<u64>,
    ) -> Result<(Vec<Option<Blob>>, Option<PullState>), GitHubError> {
        let mut blobs = Vec::with_capacity(expressions.len());
        let mut state = None;
        for (index, chunk) in expressions.chunks(BLOBS_PER_QUERY).enumerate() {
            let mut declarations = String::from("$owner:String!,$name:String!");
            let mut fields = String::new();
            let mut variables = Map::new();
            variables.insert("owner".into(), json!(repo.owner));
            variables.insert("name".into(), json!(repo.name));
            if let (0, Some(number)) = (index, pull) {
                declarations.push_str(",$number:Int!");
                fields.push_str("pr:pullRequest(number:$number){headRefOid baseRefOid isDraft} ");
                variables.insert("number".into(), json!(number));
            }
            for (i, expression) in chunk.iter().enumerate() {
                declarations.push_str(&format!(",$e{i}:String!"));
                fields.push_str(&format!(
                    "f{i}:object(expression:$e{i}){{...on Blob{{byteSize isBinary isTruncated text}}}} "
                ));
                variables.insert(format!("e{i}"), json!(expression));
            }
            let query = format!(
                "query({declarations}){{repository(owner:$owner,name:$name){{{}}}}}",
                fields.trim_end()
            );
            #[derive(Deserialize)]
            struct Data {
                repository: Option<HashMap<String, Value>>,
            }
            let data: Data = self
                .graphql("blobs", &query, Value::Object(variables))
                .await?;
            let mut repository = data.repository.ok_or(GitHubError::GraphQl {
                operation: "blobs",
                message: format!("repository {repo} not found"),
            })?;
            if let Some(pr) = repository.remove("pr") {
                state = serde_json::from_value(pr).map_err(|error| GitHubError::GraphQl {
                    operation: "blobs",
                    message: format!("pullRequest: {error}"),
                })?;
            }
            for (i, expression) in chunk.iter().enumerate() {
                let blob = match repository.remove(&format!("f{i}")) {
                    None | Some(Value::Null) => None,
                    Some(value) => Some(serde_json::from_value(value).map_err(|error| {
                        GitHubError::GraphQl {
                            operation: "blobs",
                            message: format!("blob {expression}: {error}"),
                        }
                    })?),
                };
                blobs.push(blob);
            }
        }
        Ok((blobs, state))
    }

    /// Every review thread of a pull request.
    pub async fn review_threads(
        &self,
        repo: &RepoRef,
        number: u64,
    ) -> Result<Vec<ReviewThread>, GitHubError> {
        const QUERY: &str = "query($owner:String!,$name:String!,$number:Int!,$cursor:String){repository(owner:$owner,name:$name){pullRequest(number:$number){reviewThreads(first:100,after:$cursor){pageInfo{hasNextPage endCursor} nodes{id isResolved resolvedBy{login} comments(first:1){nodes{databaseId}}}}}}}";
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Data {
            repository: Option<RepositoryNode>,
        }
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct RepositoryNode {
            pull_request: Option<PullNode>,
        }
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct PullNode {
            review_threads: Connection<ThreadNode>,
        }
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Connection<T> {
            #[serde(default)]
            page_info: Option<PageInfo>,
            nodes: Vec<T>,
        }
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct PageInfo {
            has_next_page: bool,
            end_cursor: Option<String>,
        }
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct ThreadNode {
            id: String,
            is_resolved: bool,
            #[serde(default)]
            resolved_by: Option<Actor>,
            comments: Connection<CommentNode>,
        }
        #[derive(Deserialize)]
        struct Actor {
            login: String,
        }
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct CommentNode {
            database_id: Option<u64>,
        }
        let mut threads = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let variables = json!({
                "owner": repo.owner, "name": repo.name, "number": number, "cursor": cursor,
            });
            let data: Data = self.graphql("reviewThreads", QUERY, variables).await?;
            let connection = data
                .repository
                .and_then(|r| r.pull_request)
                .ok_or(GitHubError::GraphQl {
                    operation: "reviewThreads",
                    message: format!("pull request {repo}#{number} not found"),
                })?
                .review_threads;
            threads.extend(connection.nodes.into_iter().map(|node| ReviewThread {
                id: node.id,
                is_resolved: node.is_resolved,
                first_comment_id: node.comments.nodes.first().and_then(|c| c.database_id),
                resolved_by: node.resolved_by.map(|a| a.login),
            }));
            match connection.page_info {
                Some(PageInfo {
                    has_next_page: true,
                    end_cursor: Some(end),
                }) => cursor = Some(end),
                _ => break,
            }
        }
        Ok(threads)
    }

    /// Resolves review threads, many per request.
    pub async fn resolve_review_threads(&self, thread_ids: &[String]) -> Result<(), GitHubError> {
        self.set_threads_resolved(thread_ids, &[]).await
    }

    /// Resolves `resolve` and reopens `unresolve`, as many per request as
    /// [`RESOLVES_PER_REQUEST`] allows (one request for a usual push).
    pub async fn set_threads_resolved(
        &self,
        resolve: &[String],
        unresolve: &[String],
    ) -> Result<(), GitHubError> {
        let all: Vec<(&str, &String)> = resolve
            .iter()
            .map(|id| ("resolveReviewThread", id))
            .chain(unresolve.iter().map(|id| ("unresolveReviewThread", id)))
            .collect();
        for chunk in all.chunks(RESOLVES_PER_REQUEST) {
            let mut declarations = Vec::new();
            let mut fields = String::new();
            let mut variables = Map::new();
            for (i, (mutation, id)) in chunk.iter().enumerate() {
                declarations.push(format!("$t{i}:ID!"));
                fields.push_str(&format!(
                    "r{i}:{mutation}(input:{{threadId:$t{i}}}){{thread{{id isResolved}}}} "
                ));
                variables.insert(format!("t{i}"), json!(id));
            }
            let query = format!(
                "mutation({}){{{}}}",
                declarations.join(","),
                fields.trim_end()
            );
            let _: Value = self
                .graphql("resolveReviewThread", &query, Value::Object(variables))
                .await?;
        }
        Ok(())
    }
}
