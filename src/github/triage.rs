//! The GraphQL of a triage command (a reply such as `/hunkscan ignore …` on
//! one of the bot's comments): what it needs is read in ONE query (the
//! threads with their comments, the repository's config at the base, the
//! check run on the head), and what it writes is sent in ONE mutation (the
//! reply, the thread resolved, the check run re-gated). With the permission
//! check, a command costs three requests.

use super::client::{GitHubError, Installation};
use super::types::RepoRef;
use serde::Deserialize;
use serde_json::{Map, Value, json};

/// Pages of 100 threads read at most (a pull request with more threads
/// than that is beyond any review a person reads).
const MAX_THREAD_PAGES: usize = 30;

/// A review thread with its comments, oldest first (at most 100).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Thread {
    /// Node id.
    pub id: String,
    /// Resolved or not.
    pub is_resolved: bool,
    /// Its comments.
    pub comments: Vec<ThreadComment>,
}

/// A comment of a thread.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThreadComment {
    /// REST id.
    pub database_id: u64,
    /// Markdown body.
    pub body: String,
    /// Author's login; `None` for a deleted account.
    pub author: Option<String>,
}

/// A check run as GraphQL shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckRunState {
    /// Node id, for `updateCheckRun`.
    pub id: String,
    /// REST id.
    pub database_id: u64,
    /// `output.title`.
    pub title: Option<String>,
    /// `output.summary`.
    pub summary: Option<String>,
    /// `output.text`.
    pub text: Option<String>,
    /// `SUCCESS`, `FAILURE`, …; `None` while in progress.
    pub conclusion: Option<String>,
}

/// What a command acts on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TriageContext {
    /// The repository's node id, for `updateCheckRun`.
    pub repository_id: String,
    /// The text of the file at `config_expression`, if it exists.
    pub config: Option<String>,
    /// The pull request's threads.
    pub threads: Vec<Thread>,
    /// The newest check run named `check_name` of app `app_id` on the head.
    pub check_run: Option<CheckRunState>,
}

/// The re-gated check run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckUpdate {
    /// Repository node id.
    pub repository_id: String,
    /// Check run node id.
    pub check_run_id: String,
    /// `success` or `failure` (REST spelling; sent upper-case).
    pub conclusion: String,
    /// New `output.title`.
    pub title: String,
    /// New `output.summary`.
    pub summary: String,
    /// New `output.text`.
    pub text: Option<String>,
}

/// What a command writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TriageWrite {
    /// The thread answered.
    pub thread_id: String,
    /// The answer.
    pub reply: String,
    /// Whether to resolve the thread.
    pub resolve: bool,
    /// The check run to re-gate.
    pub check: Option<CheckUpdate>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PageInfo {
    has_next_page: bool,
    end_cursor: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Connection<T> {
    #[serde(default)]
    page_info: Option<PageInfo>,
    #[serde(default = "Vec::new")]
    nodes: Vec<Option<T>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ThreadNode {
    id: String,
    is_resolved: bool,
    comments: Connection<CommentNode>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CommentNode {
    database_id: Option<u64>,
    #[serde(default)]
    body: String,
    author: Option<Actor>,
}

#[derive(Deserialize)]
struct Actor {
    login: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PullNode {
    review_threads: Connection<ThreadNode>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CheckRunNode {
    id: String,
    database_id: Option<u64>,
    title: Option<String>,
    summary: Option<String>,
    text: Option<String>,
    conclusion: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SuiteNode {
    check_runs: Option<Connection<CheckRunNode>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CommitNode {
    #[serde(default)]
    check_suites: Option<Connection<SuiteNode>>,
}

#[derive(Deserialize)]
struct BlobNode {
    text: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RepositoryNode {
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    config: Option<BlobNode>,
    #[serde(default)]
    head: Option<CommitNode>,
    pull_request: Option<PullNode>,
}

#[derive(Deserialize)]
struct Data {
    repository: Option<RepositoryNode>,
}

const FIRST_PAGE: &str = "query($owner:String!,$name:String!,$number:Int!,$config:String!,$head:GitObjectID!,$app:Int!,$check:String!){repository(owner:$owner,name:$name){id config:object(expression:$config){...on Blob{text}} head:object(oid:$head){...on Commit{checkSuites(first:20,filterBy:{appId:$app}){nodes{checkRuns(first:20,filterBy:{checkName:$check}){nodes{id databaseId title summary text conclusion}}}}}} pullRequest(number:$number){reviewThreads(first:100){pageInfo{hasNextPage endCursor} nodes{id isResolved comments(first:100){nodes{databaseId body author{login}}}}}}}}";

const NEXT_PAGE: &str = "query($owner:String!,$name:String!,$number:Int!,$cursor:String){repository(owner:$owner,name:$name){pullRequest(number:$number){reviewThreads(first:100,after:$cursor){pageInfo{hasNextPage endCursor} nodes{id isResolved comments(first:100){nodes{databaseId body author{login}}}}}}}}";

fn threads_of(connection: Connection<ThreadNode>, into: &mut Vec<Thread>) -> Option<String> {
    into.extend(connection.nodes.into_iter().flatten().map(|node| {
        Thread {
            id: node.id,
            is_resolved: node.is_resolved,
            comments: node
                .comments
                .nodes
                .into_iter()
                .flatten()
                .filter_map(|c| {
                    Some(ThreadComment {
                        database_id: c.database_id?,
                        body: c.body,
                        author: c.author.map(|a| a.login),
                    })
                })
                .collect(),
        }
    }));
    match connection.page_info {
        Some(PageInfo {
            has_next_page: true,
            end_cursor: Some(end),
        }) => Some(end),
        _ => None,
    }
}

impl Installation {
    /// Reads what a triage command on pull request `number` acts on: its
    /// threads, the file at `config_expression` (`<base sha>:<path>`), and
    /// the newest check run `check_name` of app `app_id` on `head_sha`.
    pub async fn triage_context(
        &self,
        repo: &RepoRef,
        number: u64,
        (config_expression, head_sha): (&str, &str),
        (app_id, check_name): (u64, &str),
    ) -> Result<TriageContext, GitHubError> {
        const OPERATION: &str = "triageContext";
        let missing = |what: &str| GitHubError::GraphQl {
            operation: OPERATION,
            message: format!("{what} not found"),
        };
        let variables = json!({
            "owner": repo.owner, "name": repo.name, "number": number,
            "config": config_expression, "head": head_sha, "app": app_id, "check": check_name,
        });
        let data: Data = self.graphql(OPERATION, FIRST_PAGE, variables).await?;
        let repository = data.repository.ok_or_else(|| missing("repository"))?;
        let pull = repository
            .pull_request
            .ok_or_else(|| missing("pull request"))?;
        let check_run = repository
            .head
            .and_then(|commit| commit.check_suites)
            .into_iter()
            .flat_map(|suites| suites.nodes.into_iter().flatten())
            .filter_map(|suite| suite.check_runs)
            .flat_map(|runs| runs.nodes.into_iter().flatten())
            .filter_map(|run| {
                Some(CheckRunState {
                    database_id: run.database_id?,
                    id: run.id,
                    title: run.title,
                    summary: run.summary,
                    text: run.text,
                    conclusion: run.conclusion,
                })
            })
            .max_by_key(|run| run.database_id);
        let mut threads = Vec::new();
        let mut cursor = threads_of(pull.review_threads, &mut threads);
        let mut pages = 1;
        while let Some(after) = cursor.take() {
            if pages >= MAX_THREAD_PAGES {
                break;
            }
            pages += 1;
            let variables = json!({
                "owner": repo.owner, "name": repo.name, "number": number, "cursor": after,
            });
            let data: Data = self.graphql(OPERATION, NEXT_PAGE, variables).await?;
            let pull = data
                .repository
                .and_then(|r| r.pull_request)
                .ok_or_else(|| missing("pull request"))?;
            cursor = threads_of(pull.review_threads, &mut threads);
        }
        Ok(TriageContext {
            repository_id: repository.id.unwrap_or_default(),
            config: repository.config.and_then(|blob| blob.text),
            threads,
            check_run,
        })
    }

    /// Replies in the thread and, as asked, resolves it and re-gates the
    /// check run: one request.
    pub async fn triage_write(&self, write: &TriageWrite) -> Result<(), GitHubError> {
        let mut declarations = vec!["$reply:AddPullRequestReviewThreadReplyInput!".to_owned()];
        let mut fields = vec![
            "reply:addPullRequestReviewThreadReply(input:$reply){comment{databaseId}}".to_owned(),
        ];
        let mut variables = Map::new();
        variables.insert(
            "reply".into(),
            json!({ "pullRequestReviewThreadId": write.thread_id, "body": write.reply }),
        );
        if write.resolve {
            declarations.push("$thread:ID!".into());
            fields.push(
                "resolve:resolveReviewThread(input:{threadId:$thread}){thread{id isResolved}}"
                    .into(),
            );
            variables.insert("thread".into(), json!(write.thread_id));
        }
        if let Some(check) = &write.check {
            declarations.push("$check:UpdateCheckRunInput!".into());
            fields.push("check:updateCheckRun(input:$check){checkRun{databaseId}}".into());
            let mut output = json!({ "title": check.title, "summary": check.summary });
            if let Some(text) = &check.text {
                output["text"] = json!(text);
            }
            variables.insert(
                "check".into(),
                json!({
                    "repositoryId": check.repository_id,
                    "checkRunId": check.check_run_id,
                    "status": "COMPLETED",
                    "conclusion": check.conclusion.to_ascii_uppercase(),
                    "output": output,
                }),
            );
        }
        let query = format!(
            "mutation({}){{{}}}",
            declarations.join(","),
            fields.join(" ")
        );
        let _: Value = self
            .graphql("triageWrite", &query, Value::Object(variables))
            .await?;
        Ok(())
    }
}
