//! The transport: every call goes through [`GitHubApp::send`], which adds
//! authentication, retries transient failures with backoff, waits out rate
//! limits (never hammers), and counts the call in the metrics.

use super::auth::{InstallationToken, TokenCache, app_jwt};
use super::pacing::{Account, ContentPace, Pacing, PausedAccount};
use crate::config::settings::{ApiUrls, AppIdentity};
use crate::metrics::{ApiCallLabels, Metrics, RouteLabels};
use bytes::Bytes;
use chrono::{DateTime, Utc};
use http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use octocrab::Octocrab;
use serde::de::DeserializeOwned;
use std::sync::Arc;
use std::time::{Duration, Instant};
use thiserror::Error;

/// What went wrong talking to GitHub.
#[derive(Debug, Error)]
pub enum GitHubError {
    /// GitHub answered with an error status.
    #[error("{route} answered {status}: {message}")]
    Status {
        /// Route template.
        route: &'static str,
        /// HTTP status.
        status: u16,
        /// GitHub's `message` (and `errors`), or the body's start.
        message: String,
    },
    /// Rate limited for longer than the policy waits.
    #[error("{route} is rate limited for {wait_secs} s more")]
    RateLimited {
        /// Route template.
        route: &'static str,
        /// Seconds GitHub asked us to wait.
        wait_secs: u64,
    },
    /// No answer in time, after every retry.
    #[error("{route} timed out after {attempts} attempts")]
    Timeout {
        /// Route template.
        route: &'static str,
        /// Attempts made.
        attempts: u32,
    },
    /// The connection failed, after every retry.
    #[error("{route} failed: {message}")]
    Transport {
        /// Route template.
        route: &'static str,
        /// The transport's error.
        message: String,
    },
    /// The answer was not what the API documents.
    #[error("{route} answered something unexpected: {message}")]
    Decode {
        /// Route template.
        route: &'static str,
        /// What did not parse.
        message: String,
    },
    /// A GraphQL answer with `errors`.
    #[error("GraphQL {operation} failed: {message}")]
    GraphQl {
        /// Which query.
        operation: &'static str,
        /// The errors' messages.
        message: String,
    },
    /// A request that is not safe to repeat (it creates something) failed in
    /// a way that leaves open whether GitHub applied it: a timeout, a
    /// dropped connection or a 5xx (GitHub answers 502 on large reviews it
    /// did create). The caller checks before trying again.
    #[error("{route} may or may not have been applied: {message}")]
    Ambiguous {
        /// Route template.
        route: &'static str,
        /// What happened.
        message: String,
    },
    /// The app JWT could not be signed.
    #[error("cannot sign the app JWT: {0}")]
    Jwt(String),
}

impl GitHubError {
    /// Whether the error is GitHub's answer with this status.
    pub fn is_status(&self, wanted: u16) -> bool {
        matches!(self, GitHubError::Status { status, .. } if *status == wanted)
    }
}

/// How hard to try.
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    /// Attempts per call for 5xx, timeouts and connection errors.
    pub attempts: u32,
    /// First backoff delay; doubled per attempt.
    pub base_delay: Duration,
    /// Longest rate-limit wait accepted; beyond it the call fails (the job
    /// then completes its check run and can be re-run).
    pub max_rate_limit_wait: Duration,
    /// Per-request timeout.
    pub request_timeout: Duration,
}

impl RetryPolicy {
    /// For the calls that complete a check run: a check left in progress
    /// blocks a merge, so they try three times as often and wait out rate
    /// limits up to a quarter of an hour.
    pub fn patient(&self) -> RetryPolicy {
        RetryPolicy {
            attempts: self.attempts.saturating_mul(3),
            max_rate_limit_wait: self.max_rate_limit_wait.max(Duration::from_secs(15 * 60)),
            ..self.clone()
        }
    }
}

/// Whether a request may be sent again when its outcome is unknown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Repeat {
    /// Reads, updates to a known object, GraphQL queries, resolving threads.
    Safe,
    /// Creating a check run or a review: a blind retry could create two.
    Unsafe,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            attempts: 4,
            base_delay: Duration::from_millis(250),
            max_rate_limit_wait: Duration::from_secs(120),
            request_timeout: Duration::from_secs(20),
        }
    }
}

/// An answer.
#[derive(Debug)]
pub struct Response {
    /// Status (always 2xx when returned by `send`).
    pub status: StatusCode,
    /// Headers (`link` for pagination).
    pub headers: HeaderMap,
    /// Body.
    pub body: Bytes,
}

impl Response {
    /// The body as `T`.
    pub fn json<T: DeserializeOwned>(&self, route: &'static str) -> Result<T, GitHubError> {
        serde_json::from_slice(&self.body).map_err(|error| GitHubError::Decode {
            route,
            message: error.to_string(),
        })
    }

    /// The `rel="next"` URL of a paginated answer.
    pub fn next_page(&self) -> Option<String> {
        let link = self.headers.get(header::LINK)?.to_str().ok()?;
        link.split(',').find_map(|part| {
            let (url, rel) = part.split_once(';')?;
            rel.contains("rel=\"next\"").then(|| {
                url.trim()
                    .trim_start_matches('<')
                    .trim_end_matches('>')
                    .to_owned()
            })
        })
    }
}

/// Who a request is sent as.
#[derive(Debug, Clone, Copy)]
enum Credential {
    App,
    Installation(u64),
}

/// The app's connection to GitHub, shared by every job.
pub struct GitHubApp {
    rest: Octocrab,
    graphql: Octocrab,
    graphql_path: String,
    identity: AppIdentity,
    tokens: TokenCache,
    metrics: Arc<Metrics>,
    policy: RetryPolicy,
    pacing: Pacing,
    bot_login: tokio::sync::OnceCell<String>,
}

impl GitHubApp {
    /// A client for the API at `urls`.
    pub fn new(
        urls: &ApiUrls,
        identity: AppIdentity,
        metrics: Arc<Metrics>,
        policy: RetryPolicy,
    ) -> Result<Self, GitHubError> {
        let build = |base: &str| {
            Octocrab::builder()
                .base_uri(base)
                .and_then(|builder| builder.build())
                .map_err(|error| GitHubError::Transport {
                    route: "client",
                    message: format!("cannot build a client for {base}: {error}"),
                })
        };
        // octocrab joins a request path to its base path; GraphQL on GitHub
        // Enterprise Server lives outside /api/v3, so it gets a client whose
        // base is the bare origin.
        let graphql_uri: http::Uri = urls.graphql.parse().map_err(|_| GitHubError::Transport {
            route: "client",
            message: format!("invalid GraphQL URL {}", urls.graphql),
        })?;
        let origin = format!(
            "{}://{}",
            graphql_uri.scheme_str().unwrap_or("https"),
            graphql_uri
                .authority()
                .map(|a| a.as_str())
                .unwrap_or_default()
        );
        Ok(Self {
            rest: build(&urls.rest)?,
            graphql: build(&origin)?,
            graphql_path: graphql_uri.path().to_owned(),
            identity,
            tokens: TokenCache::default(),
            metrics,
            policy,
            pacing: Pacing::new(Some(ContentPace::GITHUB)),
            bot_login: tokio::sync::OnceCell::new(),
        })
    }

    /// Paces each installation's content-creating calls at `pace` instead of
    /// GitHub's documented 80 a minute; `None` sends them unpaced.
    pub fn with_content_pace(mut self, pace: Option<ContentPace>) -> Self {
        self.pacing = Pacing::new(pace);
        self
    }

    /// Shares the content pace among `instances` live instances (see
    /// [`Pacing::share_among`]); answers whether the share changed.
    pub fn share_content_pace(&self, instances: u32) -> bool {
        self.pacing.share_among(instances)
    }

    /// The accounts a rate limit pauses now, and until when.
    pub fn paused_accounts(&self) -> Vec<PausedAccount> {
        let paused = self.pacing.paused();
        self.metrics
            .rate_limited_accounts
            .set(i64::try_from(paused.len()).unwrap_or(i64::MAX));
        paused
    }

    /// Holds a call back while its account is paused by a rate limit (up to
    /// the policy's longest wait: beyond it the call fails at once, without
    /// bothering GitHub), then, for a content-creating call, until the
    /// installation's pace allows it.
    async fn wait_turn(
        &self,
        account: Account,
        creates_content: bool,
        route: &'static str,
        policy: &RetryPolicy,
    ) -> Result<(), GitHubError> {
        if let Some(left) = self.pacing.paused_for(account) {
            if left > policy.max_rate_limit_wait {
                return Err(GitHubError::RateLimited {
                    route,
                    wait_secs: left.as_secs().max(1),
                });
            }
            tracing::info!(
                route,
                wait_secs = left.as_secs_f64(),
                "rate limited: this installation's calls wait for GitHub's reset"
            );
            tokio::time::sleep(left).await;
            self.metrics.github_waited("rate_limited", left);
        }
        if creates_content && let Account::Installation(id) = account {
            let waited = self.pacing.content_slot(id).await;
            if !waited.is_zero() {
                self.metrics.github_waited("paced", waited);
            }
        }
        Ok(())
    }

    /// A handle acting as one installation.
    pub fn installation(self: &Arc<Self>, id: u64) -> Installation {
        Installation {
            app: Arc::clone(self),
            id,
            policy: self.policy.clone(),
        }
    }

    async fn installation_token(&self, installation: u64) -> Result<String, GitHubError> {
        self.tokens
            .get(installation, || async {
                #[derive(serde::Deserialize)]
                struct TokenAnswer {
                    token: String,
                    expires_at: DateTime<Utc>,
                }
                let path = format!("/app/installations/{installation}/access_tokens");
                let answer = self
                    .send(
                        Credential::App,
                        Method::POST,
                        "POST /app/installations/{installation_id}/access_tokens",
                        &path,
                        None,
                        (Repeat::Safe, &self.policy),
                    )
                    .await?;
                let answer: TokenAnswer =
                    answer.json("POST /app/installations/{installation_id}/access_tokens")?;
                Ok(InstallationToken {
                    token: answer.token,
                    expires_at: answer.expires_at,
                })
            })
            .await
    }

    async fn authorization(
        &self,
        credential: Credential,
    ) -> Result<(HeaderValue, Option<String>), GitHubError> {
        let (value, token) = match credential {
            Credential::App => {
                let jwt = app_jwt(&self.identity, Utc::now())
                    .map_err(|error| GitHubError::Jwt(error.to_string()))?;
                (format!("Bearer {jwt}"), None)
            }
            Credential::Installation(id) => {
                let token = Box::pin(self.installation_token(id)).await?;
                (format!("Bearer {token}"), Some(token))
            }
        };
        let mut header = HeaderValue::from_str(&value)
            .map_err(|_| GitHubError::Jwt("credential is not a valid header value".into()))?;
        header.set_sensitive(true);
        Ok((header, token))
    }

    /// Sends one request, retrying what is worth retrying. `route` is the
    /// template used in metrics and errors; `path` is the concrete path (or a
    /// full URL from a `Link` header).
    async fn send(
        &self,
        credential: Credential,
        method: Method,
        route: &'static str,
        path: &str,
        body: Option<&serde_json::Value>,
        (repeat, policy): (Repeat, &RetryPolicy),
    ) -> Result<Response, GitHubError> {
        let graphql = route == "POST /graphql";
        let client = if graphql { &self.graphql } else { &self.rest };
        let account = match credential {
            Credential::App => Account::App,
            Credential::Installation(id) => Account::Installation(id),
        };
        let creates_content = creates_content(credential, &method, graphql, body);
        let mut attempt = 0u32;
        let mut refreshed_token = false;
        loop {
            attempt += 1;
            self.wait_turn(account, creates_content, route, policy)
                .await?;
            let (authorization, token) = self.authorization(credential).await?;
            let builder = http::Request::builder()
                .method(method.clone())
                .uri(if graphql {
                    self.graphql_path.as_str()
                } else {
                    path
                })
                .header(header::AUTHORIZATION, authorization)
                .header(header::ACCEPT, "application/vnd.github+json")
                .header("X-GitHub-Api-Version", "2022-11-28")
                .header(
                    header::USER_AGENT,
                    concat!("hunkscan/", env!("CARGO_PKG_VERSION")),
                );
            let request =
                client
                    .build_request(builder, body)
                    .map_err(|error| GitHubError::Transport {
                        route,
                        message: error.to_string(),
                    })?;
            let started = Instant::now();
            let outcome = tokio::time::timeout(self.policy.request_timeout, async {
                let response = client.execute(request).await?;
                let (parts, body) = response.into_parts();
                let body = http_body_util::BodyExt::collect(body).await?.to_bytes();
                Ok::<_, octocrab::Error>((parts, body))
            })
            .await;
            self.metrics
                .api_seconds
                .get_or_create(&RouteLabels { route })
                .observe(started.elapsed().as_secs_f64());
            let status_label = match &outcome {
                Ok(Ok((parts, _))) => parts.status.as_u16().to_string(),
                Ok(Err(_)) => "error".to_owned(),
                Err(_) => "timeout".to_owned(),
            };
            self.metrics
                .api_calls
                .get_or_create(&ApiCallLabels {
                    route,
                    status: status_label,
                })
                .inc();

            let (parts, body) = match outcome {
                Ok(Ok(answer)) => answer,
                Ok(Err(error)) => {
                    if repeat == Repeat::Unsafe {
                        return Err(GitHubError::Ambiguous {
                            route,
                            message: error.to_string(),
                        });
                    }
                    if attempt < policy.attempts {
                        tracing::warn!(route, attempt, %error, "GitHub call failed; retrying");
                        self.backoff(policy, attempt).await;
                        continue;
                    }
                    return Err(GitHubError::Transport {
                        route,
                        message: error.to_string(),
                    });
                }
                Err(_) => {
                    if repeat == Repeat::Unsafe {
                        return Err(GitHubError::Ambiguous {
                            route,
                            message: format!("no answer within {:?}", policy.request_timeout),
                        });
                    }
                    if attempt < policy.attempts {
                        tracing::warn!(route, attempt, "GitHub call timed out; retrying");
                        self.backoff(policy, attempt).await;
                        continue;
                    }
                    return Err(GitHubError::Timeout {
                        route,
                        attempts: attempt,
                    });
                }
            };
            let status = parts.status;
            if status.is_success() {
                return Ok(Response {
                    status,
                    headers: parts.headers,
                    body,
                });
            }
            if let Some(wait) = rate_limit_wait(status, &parts.headers, &body, Utc::now()) {
                // Every call of this installation waits, not only this one:
                // GitHub counts the limit per installation.
                self.pacing.pause(account, wait);
                if wait > policy.max_rate_limit_wait || attempt >= policy.attempts + 2 {
                    return Err(GitHubError::RateLimited {
                        route,
                        wait_secs: wait.as_secs(),
                    });
                }
                tracing::warn!(
                    route,
                    wait_secs = wait.as_secs_f64(),
                    "rate limited; waiting"
                );
                continue;
            }
            if status == StatusCode::UNAUTHORIZED
                && let (Credential::Installation(id), Some(token)) = (credential, token)
                && !refreshed_token
            {
                // A revoked or prematurely expired token: fetch a new one once.
                refreshed_token = true;
                self.tokens.invalidate(id, &token).await;
                continue;
            }
            if status.is_server_error() && repeat == Repeat::Unsafe {
                return Err(GitHubError::Ambiguous {
                    route,
                    message: format!("{status}: {}", error_message(&body)),
                });
            }
            if status.is_server_error() && attempt < policy.attempts {
                tracing::warn!(
                    route,
                    attempt,
                    status = status.as_u16(),
                    "GitHub server error; retrying"
                );
                self.backoff(policy, attempt).await;
                continue;
            }
            return Err(GitHubError::Status {
                route,
                status: status.as_u16(),
                message: error_message(&body),
            });
        }
    }

    /// A REST call as the app itself (its JWT), for the `/app/...`
    /// endpoints that no installation token may use.
    pub(super) async fn app_call(
        &self,
        method: Method,
        route: &'static str,
        path: &str,
        repeat: Repeat,
    ) -> Result<Response, GitHubError> {
        self.send(
            Credential::App,
            method,
            route,
            path,
            None,
            (repeat, &self.policy),
        )
        .await
    }

    async fn backoff(&self, policy: &RetryPolicy, attempt: u32) {
        let factor = 2u32.saturating_pow(attempt.saturating_sub(1).min(10));
        let delay = policy.base_delay.saturating_mul(factor);
        // Up to 25% jitter, so jobs that failed together do not retry in
        // lockstep; the clock's nanoseconds are random enough for that.
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let jitter = delay.mul_f64(f64::from(nanos % 1000) / 4000.0);
        tokio::time::sleep(delay + jitter).await;
    }
}

/// Whether GitHub counts a call against the secondary limit on content
/// creation: anything but a read made with an installation token, and
/// GraphQL mutations (queries are reads).
fn creates_content(
    credential: Credential,
    method: &Method,
    graphql: bool,
    body: Option<&serde_json::Value>,
) -> bool {
    if matches!(credential, Credential::App) {
        return false;
    }
    if graphql {
        return body
            .and_then(|body| body.get("query"))
            .and_then(serde_json::Value::as_str)
            .is_some_and(|query| query.trim_start().starts_with("mutation"));
    }
    !matches!(*method, Method::GET | Method::HEAD)
}

/// How long GitHub asks us to wait, if this answer is a rate limit: 429, or
/// 403 with `retry-after` or an exhausted primary limit.
fn rate_limit_wait(
    status: StatusCode,
    headers: &HeaderMap,
    body: &[u8],
    now: DateTime<Utc>,
) -> Option<Duration> {
    if status != StatusCode::FORBIDDEN && status != StatusCode::TOO_MANY_REQUESTS {
        return None;
    }
    let number =
        |name: &str| -> Option<i64> { headers.get(name)?.to_str().ok()?.trim().parse().ok() };
    if let Some(seconds) = number("retry-after") {
        return Some(Duration::from_secs(seconds.max(0) as u64));
    }
    if number("x-ratelimit-remaining") == Some(0)
        && let Some(reset) = number("x-ratelimit-reset")
    {
        return Some(Duration::from_secs((reset - now.timestamp()).max(1) as u64));
    }
    // A secondary limit without headers (403 "You have exceeded a secondary
    // rate limit", or 429): GitHub says wait at least a minute. A 403 for
    // missing permissions says nothing of rate limits.
    let secondary = status == StatusCode::TOO_MANY_REQUESTS
        || error_message(body)
            .to_ascii_lowercase()
            .contains("rate limit");
    secondary.then_some(Duration::from_secs(60))
}

fn error_message(body: &[u8]) -> String {
    #[derive(serde::Deserialize)]
    struct ErrorBody {
        message: Option<String>,
        #[serde(default)]
        errors: Vec<serde_json::Value>,
    }
    match serde_json::from_slice::<ErrorBody>(body) {
        Ok(parsed) => {
            let mut message = parsed.message.unwrap_or_else(|| "no message".into());
            let details: Vec<String> = parsed
                .errors
                .iter()
                .map(|e| match e {
                    serde_json::Value::String(s) => s.clone(),
                    other => other
                        .get("message")
                        .and_then(|m| m.as_str())
                        .map(str::to_owned)
                        .unwrap_or_else(|| other.to_string()),
                })
                .collect();
            if !details.is_empty() {
                message = format!("{message} ({})", details.join("; "));
            }
            message
        }
        Err(_) => String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned(),
    }
}

/// The app acting as one installation: every typed call hangs off this.
#[derive(Clone)]
pub struct Installation {
    app: Arc<GitHubApp>,
    id: u64,
    policy: RetryPolicy,
}

impl Installation {
    /// The installation id.
    pub fn id(&self) -> u64 {
        self.id
    }

    /// The app's id.
    pub fn app_id(&self) -> u64 {
        self.app.identity.app_id
    }

    /// How long a rate limit still pauses this installation's calls.
    pub fn paused_for(&self) -> Option<Duration> {
        self.app.pacing.paused_for(Account::Installation(self.id))
    }

    /// The same installation with [`RetryPolicy::patient`], for the calls
    /// that must not give up early (completing a check run).
    pub fn patient(&self) -> Installation {
        Installation {
            policy: self.app.policy.patient(),
            ..self.clone()
        }
    }

    /// The login of the app's bot account (`<slug>[bot]`), which authors its
    /// review comments; asked once (`GET /app`) and remembered.
    pub async fn bot_login(&self) -> Result<String, GitHubError> {
        self.app
            .bot_login
            .get_or_try_init(|| async {
                #[derive(serde::Deserialize)]
                struct App {
                    slug: String,
                }
                let answer = self
                    .app
                    .send(
                        Credential::App,
                        Method::GET,
                        "GET /app",
                        "/app",
                        None,
                        (Repeat::Safe, &self.policy),
                    )
                    .await?;
                Ok(format!("{}[bot]", answer.json::<App>("GET /app")?.slug))
            })
            .await
            .cloned()
    }

    /// A REST call with a JSON body that is safe to repeat.
    pub async fn call(
        &self,
        method: Method,
        route: &'static str,
        path: &str,
        body: Option<&serde_json::Value>,
    ) -> Result<Response, GitHubError> {
        self.send(method, route, path, body, Repeat::Safe).await
    }

    /// A REST call that creates something: never repeated blindly; an
    /// unknown outcome is [`GitHubError::Ambiguous`].
    pub async fn call_once(
        &self,
        method: Method,
        route: &'static str,
        path: &str,
        body: Option<&serde_json::Value>,
    ) -> Result<Response, GitHubError> {
        self.send(method, route, path, body, Repeat::Unsafe).await
    }

    async fn send(
        &self,
        method: Method,
        route: &'static str,
        path: &str,
        body: Option<&serde_json::Value>,
        repeat: Repeat,
    ) -> Result<Response, GitHubError> {
        self.app
            .send(
                Credential::Installation(self.id),
                method,
                route,
                path,
                body,
                (repeat, &self.policy),
            )
            .await
    }

    /// A GraphQL query; answers `data`, or the errors as [`GitHubError::GraphQl`].
    pub async fn graphql<T: DeserializeOwned>(
        &self,
        operation: &'static str,
        query: &str,
        variables: serde_json::Value,
    ) -> Result<T, GitHubError> {
        #[derive(serde::Deserialize)]
        struct Answer<T> {
            data: Option<T>,
            #[serde(default)]
            errors: Vec<serde_json::Value>,
        }
        let body = serde_json::json!({ "query": query, "variables": variables });
        let mut waited = 0;
        let answer: Answer<T> = loop {
            let response = self
                .call(Method::POST, "POST /graphql", "/graphql", Some(&body))
                .await?;
            let answer: Answer<T> = response.json("POST /graphql")?;
            // GraphQL's primary limit answers 200 with a RATE_LIMITED error.
            let limited = answer
                .errors
                .iter()
                .any(|e| e.get("type").and_then(|t| t.as_str()) == Some("RATE_LIMITED"));
            if !limited || waited >= 2 {
                break answer;
            }
            let wait = rate_limit_wait(
                StatusCode::TOO_MANY_REQUESTS,
                &response.headers,
                b"",
                Utc::now(),
            )
            .unwrap_or(Duration::from_secs(60));
            self.app.pacing.pause(Account::Installation(self.id), wait);
            if wait > self.policy.max_rate_limit_wait {
                return Err(GitHubError::RateLimited {
                    route: "POST /graphql",
                    wait_secs: wait.as_secs(),
                });
            }
            tracing::warn!(
                operation,
                wait_secs = wait.as_secs(),
                "GraphQL rate limited; waiting"
            );
            // The next call waits out the pause (see `wait_turn`).
            waited += 1;
        };
        if !answer.errors.is_empty() {
            let message = answer
                .errors
                .iter()
                .map(|e| {
                    e.get("message")
                        .and_then(|m| m.as_str())
                        .unwrap_or("error")
                        .to_owned()
                })
                .collect::<Vec<_>>()
                .join("; ");
            return Err(GitHubError::GraphQl { operation, message });
        }
        answer.data.ok_or(GitHubError::GraphQl {
            operation,
            message: "no data in the answer".into(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, HeaderValue::from_str(value).expect("header"));
        }
        map
    }

    #[test]
    fn rate_limits_are_read_from_headers_and_messages() {
        let now = Utc::now();
        let wait = |status, pairs: &[(&'static str, &str)], body: &[u8]| {
            rate_limit_wait(status, &headers(pairs), body, now)
        };
        assert_eq!(
            wait(StatusCode::FORBIDDEN, &[("retry-after", "7")], b""),
            Some(Duration::from_secs(7))
        );
        let reset = (now.timestamp() + 30).to_string();
        assert_eq!(
            wait(
                StatusCode::FORBIDDEN,
                &[
                    ("x-ratelimit-remaining", "0"),
                    ("x-ratelimit-reset", &reset)
                ],
                b""
            ),
            Some(Duration::from_secs(30))
        );
        // A 403 for missing permissions is not a rate limit.
        assert_eq!(
            wait(
                StatusCode::FORBIDDEN,
                &[("x-ratelimit-remaining", "12")],
                br#"{"message":"Resource not accessible by integration"}"#
            ),
            None
        );
        // A secondary limit without headers: wait a minute.
        assert_eq!(
            wait(
                StatusCode::FORBIDDEN,
                &[],
                br#"{"message":"You have exceeded a secondary rate limit. Please wait a few minutes."}"#
            ),
            Some(Duration::from_secs(60))
        );
        assert_eq!(
            wait(StatusCode::TOO_MANY_REQUESTS, &[], b""),
            Some(Duration::from_secs(60))
        );
        assert_eq!(
            wait(StatusCode::NOT_FOUND, &[("retry-after", "7")], b""),
            None
        );
    }

    #[test]
    fn next_page_comes_from_the_link_header() {
        let response = Response {
            status: StatusCode::OK,
            headers: headers(&[(
                "link",
                "<https://api.github.com/repositories/1/pulls/2/files?per_page=100&page=2>; rel=\"next\", <https://api.github.com/repositories/1/pulls/2/files?per_page=100&page=3>; rel=\"last\"",
            )]),
            body: Bytes::new(),
        };
        assert_eq!(
            response.next_page().as_deref(),
            Some("https://api.github.com/repositories/1/pulls/2/files?per_page=100&page=2")
        );
    }

    #[test]
    fn error_messages_include_details() {
        let body = br#"{"message":"Unprocessable Entity","errors":["Pull request review thread line must be part of the diff"]}"#;
        assert_eq!(
            error_message(body),
            "Unprocessable Entity (Pull request review thread line must be part of the diff)"
        );
        assert_eq!(error_message(b"<html>"), "<html>");
    }
}
