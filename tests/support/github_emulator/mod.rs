//! A stateful emulator of the GitHub API for integration tests.
//!
//! The bot under test talks HTTP to it exactly as to `api.github.com`: app
//! JWT → installation token, pull request and its files (patches computed
//! here from base/head contents, paginated with `Link` headers), reviews with
//! GitHub's anchoring rules and all-or-nothing 422, check runs with their
//! limits, contents, the three GraphQL documents the bot sends, and the
//! app's webhook delivery log with its redeliveries. Tests set
//! the model up and read it back through [`Emulator`]'s methods; every
//! request is recorded, every JSON body is validated against GitHub's OpenAPI
//! description when `../shared` is present, and failures are injected with
//! [`Fault`]s.
//!
//! ```ignore
//! let gh = Emulator::start(APP_ID, PUBLIC_KEY_PEM).await;
//! gh.add_installation(7, "acme/shop");
//! gh.put_pull_request("acme/shop", PullSpec { number: 1, base_sha: "b".into(), head_sha: "h".into(),
//!     draft: false, files: vec![FileSpec::modified("app.py", "a\n", "a\nb\n")] });
//! // point the bot at gh.url (REST) and format!("{}/graphql", gh.url), send it a webhook, then:
//! let reviews = gh.wait_for("the review", Duration::from_secs(10), |gh| {
//!     Some(gh.reviews("acme/shop", 1)).filter(|r| !r.is_empty())
//! }).await;
//! assert!(gh.schema_violations().is_empty());
//! ```

mod auth;
mod checks;
mod commits;
mod content_limit;
mod deliveries;
mod diff;
mod faults;
mod graphql;
mod graphql_triage;
mod manifests;
pub mod openapi;
mod pagination;
mod reviews;
mod routes;
mod shapes;
mod state;

pub use deliveries::{Delivery, DeliverySpec, RedeliveryOutcome, RedeliveryRequest};
pub use faults::Fault;
pub use manifests::PostedManifest;
pub use state::{
    Annotation, CheckRun, CheckRunOutput, FileSpec, MergeGroupSpec, PullSpec, RecordedRequest,
    Review, ReviewComment,
};

use axum::Router;
use axum::extract::DefaultBodyLimit;
use jsonwebtoken::DecodingKey;
use state::State;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

/// GitHub accepts request bodies far larger than axum's 2 MB default.
const MAX_BODY_BYTES: usize = 32 * 1024 * 1024;

/// State shared between the test and the server task.
pub(crate) struct Shared {
    state: Mutex<State>,
    key: DecodingKey,
    url: String,
    openapi: Option<&'static openapi::OpenApi>,
}

impl Shared {
    /// The model; a panic elsewhere must not hide what the model holds.
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// A running emulator on `127.0.0.1`; the server stops when it is dropped.
pub struct Emulator {
    /// The REST base URL, e.g. `http://127.0.0.1:41234` (no trailing
    /// slash); GraphQL is at `{url}/graphql`.
    pub url: String,
    shared: Arc<Shared>,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for Emulator {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl Emulator {
    /// Starts an emulator for the app `app_id` whose JWTs verify with
    /// `public_key_pem` (SPKI PEM), on the current tokio runtime.
    ///
    /// # Panics
    /// When the key does not parse or no local port can be bound.
    pub async fn start(app_id: u64, public_key_pem: &str) -> Emulator {
        Emulator::start_inner(app_id, public_key_pem, true).await
    }

    /// Like [`start`](Emulator::start) but never validates against the
    /// OpenAPI description, as on a clone without `../shared`: to prove that
    /// GitHub's limits hold without it.
    pub async fn start_without_openapi(app_id: u64, public_key_pem: &str) -> Emulator {
        Emulator::start_inner(app_id, public_key_pem, false).await
    }

    async fn start_inner(app_id: u64, public_key_pem: &str, use_openapi: bool) -> Emulator {
        let key = DecodingKey::from_rsa_pem(public_key_pem.as_bytes())
            .expect("the emulator's public key is an RSA PEM");
        let spec = if use_openapi {
            tokio::task::spawn_blocking(openapi::load)
                .await
                .expect("loading the OpenAPI description does not panic")
                .as_ref()
                .ok()
        } else {
            None
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind a local port for the GitHub emulator");
        let addr = listener.local_addr().expect("bound address");
        let url = format!("http://{addr}");
        let shared = Arc::new(Shared {
            state: Mutex::new(State::new(app_id)),
            key,
            url: url.clone(),
            openapi: spec,
        });
        let app = Router::new()
            .fallback(routes::handle)
            .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
            .with_state(Arc::clone(&shared));
        let server = tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                eprintln!("github emulator: server stopped: {e}");
            }
        });
        Emulator {
            url,
            shared,
            server,
        }
    }

    /// The GraphQL endpoint (`{url}/graphql`).
    pub fn graphql_url(&self) -> String {
        format!("{}/graphql", self.url)
    }

    /// Installs the app on a repository (creating the repository).
    pub fn add_installation(&self, installation_id: u64, repo_full_name: &str) {
        let mut state = self.shared.lock();
        state.repo_mut(repo_full_name);
        state
            .installations
            .entry(installation_id)
            .or_default()
            .insert(repo_full_name.to_ascii_lowercase());
    }

    /// Creates or replaces a pull request. The emulator computes each
    /// file's `patch` like GitHub (3 lines of context, no file headers;
    /// none for binary files or where `patch_omitted` is set) and stores the
    /// blobs so that `{sha}:{path}` resolves. Putting it again with a new
    /// head SHA models a push: earlier comments stay, and those whose lines
    /// are no longer in the diff (or changed) become outdated.
    pub fn put_pull_request(&self, repo: &str, pr: PullSpec) {
        self.shared.lock().put_pull_request(repo, pr);
    }

    /// A file at a commit outside the diff, e.g. `.github/hunkscan.yml` on
    /// the base commit (readable by GraphQL `object(expression:)` and the
    /// contents API with `?ref=<sha>`).
    pub fn put_file(&self, repo: &str, sha: &str, path: &str, content: &str) {
        self.shared
            .lock()
            .repo_mut(repo)
            .put_blob(sha, path, content, false);
    }

    /// A review comment by a person on the current head's RIGHT side, in a
    /// thread of its own; returns its id.
    ///
    /// # Panics
    /// When the pull request does not exist or the line is not in the diff.
    pub fn add_review_comment(
        &self,
        repo: &str,
        number: u64,
        author: &str,
        path: &str,
        line: u64,
        body: &str,
    ) -> u64 {
        let mut state = self.shared.lock();
        let id = state.next_id();
        let pull = state
            .repo_mut(repo)
            .pulls
            .get_mut(&number)
            .unwrap_or_else(|| panic!("no pull request {repo}#{number}"));
        reviews::add_user_comment(pull, id, author, path, line, body)
            .unwrap_or_else(|e| panic!("add_review_comment: {e}"));
        id
    }

    /// A merge group: its head commit on top of `base_sha`, comparable with
    /// `GET /repos/{owner}/{repo}/compare/{base}...{head}`, and its blobs.
    pub fn put_merge_group(&self, repo: &str, spec: MergeGroupSpec) {
        self.shared.lock().put_merge_group(repo, spec);
    }

    /// Makes `login` a collaborator with `permission` (`admin`, `write`,
    /// `read`); others are not collaborators (404).
    pub fn set_permission(&self, repo: &str, login: &str, permission: &str) {
        self.shared
            .lock()
            .repo_mut(repo)
            .permissions
            .insert(login.to_ascii_lowercase(), permission.to_owned());
    }

    /// A person's reply in the thread that comment `to` starts; its id.
    ///
    /// # Panics
    /// When the pull request or the thread does not exist.
    pub fn add_reply(&self, repo: &str, number: u64, author: &str, to: u64, body: &str) -> u64 {
        let mut state = self.shared.lock();
        let id = state.next_id();
        let pull = state
            .repo_mut(repo)
            .pulls
            .get_mut(&number)
            .unwrap_or_else(|| panic!("no pull request {repo}#{number}"));
        reviews::add_reply(pull, id, to, (author, false), body)
            .unwrap_or_else(|e| panic!("add_reply: {e}"));
        id
    }

    /// Resolves the thread of comment `comment_id` as `login` (a person).
    pub fn resolve_thread_as(&self, repo: &str, number: u64, comment_id: u64, login: &str) {
        let mut state = self.shared.lock();
        let pull = state
            .repo_mut(repo)
            .pulls
            .get_mut(&number)
            .unwrap_or_else(|| panic!("no pull request {repo}#{number}"));
        let thread = pull
            .comments
            .iter()
            .find(|c| c.id == comment_id)
            .map(|c| c.thread_id.clone())
            .unwrap_or_else(|| panic!("no comment {comment_id}"));
        for c in pull.comments.iter_mut().filter(|c| c.thread_id == thread) {
            c.resolved = true;
            c.resolved_by = Some(login.to_owned());
        }
    }

    /// Adds an attempt to the app's webhook delivery log; returns its id.
    pub fn add_delivery(&self, spec: DeliverySpec) -> u64 {
        let mut state = self.shared.lock();
        let id = state.next_id();
        state.deliveries.attempts.push(Delivery { id, spec });
        id
    }

    /// The delivery log, in the order the attempts were added (redeliveries
    /// last).
    pub fn deliveries(&self) -> Vec<Delivery> {
        self.shared.lock().deliveries.attempts.clone()
    }

    /// Every redelivery request GitHub accepted, in order.
    pub fn redelivery_requests(&self) -> Vec<RedeliveryRequest> {
        self.shared.lock().deliveries.requests.clone()
    }

    /// What becomes of the redeliveries accepted from now on (at first,
    /// an attempt answered 200).
    pub fn set_redelivery_outcome(&self, outcome: RedeliveryOutcome) {
        self.shared.lock().deliveries.outcome = outcome;
    }

    /// Every manifest posted to the app-registration page, oldest first,
    /// with the code handed back and whether it was exchanged.
    pub fn manifests(&self) -> Vec<PostedManifest> {
        self.shared.lock().manifests.clone()
    }

    /// Arms a fault for the next matching requests.
    pub fn inject(&self, fault: Fault) {
        let times = fault.times();
        self.shared.lock().faults.push((fault, times));
    }

    /// Arms GitHub's secondary limit on content creation: at most `calls`
    /// content-creating requests per installation in any `window`; beyond
    /// it, 403 with `retry-after` and nothing applied.
    pub fn limit_content_creation(&self, calls: usize, window: std::time::Duration) {
        self.shared.lock().content_limit = Some(content_limit::ContentLimit::new(calls, window));
    }

    /// Requests refused by the content-creation limit.
    pub fn content_limit_refusals(&self) -> usize {
        self.shared
            .lock()
            .content_limit
            .as_ref()
            .map_or(0, |limit| limit.refused)
    }

    /// Expires every installation token issued so far.
    pub fn expire_tokens(&self) {
        let past = chrono::Utc::now() - chrono::Duration::seconds(1);
        for token in self.shared.lock().tokens.values_mut() {
            token.expires_at = past;
        }
    }

    /// Every request received so far, in order.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.shared.lock().requests.clone()
    }

    /// Requests other than `POST /app/installations/{id}/access_tokens`.
    pub fn api_calls_excluding_token_fetches(&self) -> usize {
        self.shared
            .lock()
            .requests
            .iter()
            .filter(|r| !is_token_fetch(r))
            .count()
    }

    /// Token fetches that succeeded (201).
    pub fn token_fetches(&self) -> usize {
        self.shared
            .lock()
            .requests
            .iter()
            .filter(|r| is_token_fetch(r) && r.status == 201)
            .count()
    }

    /// The repository's check runs, oldest first.
    pub fn check_runs(&self, repo: &str) -> Vec<CheckRun> {
        self.shared
            .lock()
            .repo(repo)
            .map(|r| r.check_runs.clone())
            .unwrap_or_default()
    }

    /// The pull request's reviews, oldest first, with their comments.
    pub fn reviews(&self, repo: &str, number: u64) -> Vec<Review> {
        let state = self.shared.lock();
        let Some(pull) = state.repo(repo).and_then(|r| r.pulls.get(&number)) else {
            return Vec::new();
        };
        pull.reviews
            .iter()
            .map(|r| Review {
                id: r.id,
                event: r.event.clone(),
                body: r.body.clone(),
                commit_id: r.commit_id.clone(),
                comments: pull
                    .comments
                    .iter()
                    .filter(|c| r.comment_ids.contains(&c.id))
                    .map(|c| c.snapshot())
                    .collect(),
            })
            .collect()
    }

    /// Every review comment of the pull request (each is one thread),
    /// oldest first.
    pub fn review_comments(&self, repo: &str, number: u64) -> Vec<ReviewComment> {
        let state = self.shared.lock();
        state
            .repo(repo)
            .and_then(|r| r.pulls.get(&number))
            .map(|p| p.comments.iter().map(|c| c.snapshot()).collect())
            .unwrap_or_default()
    }

    /// Every request that failed OpenAPI validation (its body, or for the
    /// delivery list its query): operation, template and what was wrong.
    pub fn schema_violations(&self) -> Vec<String> {
        self.shared.lock().violations.clone()
    }

    /// Emulator answers that do not match GitHub's response schemas: bugs
    /// in the emulator, expected to stay empty.
    pub fn response_violations(&self) -> Vec<String> {
        self.shared.lock().response_violations.clone()
    }

    /// Whether `../shared/github/openapi/api.github.com.json` was found
    /// (otherwise bodies are not schema-validated).
    pub fn openapi_available(&self) -> bool {
        self.shared.openapi.is_some()
    }

    /// Polls `check` every 20 ms until it returns `Some`, and panics with
    /// `what` and the requests seen when `timeout` passes first.
    pub async fn wait_for<T>(
        &self,
        what: &str,
        timeout: Duration,
        mut check: impl FnMut(&Emulator) -> Option<T>,
    ) -> T {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if let Some(found) = check(self) {
                return found;
            }
            if tokio::time::Instant::now() >= deadline {
                let seen: Vec<String> = self
                    .requests()
                    .iter()
                    .map(|r| format!("{} {} → {}", r.method, r.path, r.status))
                    .collect();
                panic!(
                    "timed out after {timeout:?} waiting for {what}; requests seen:\n{}",
                    seen.join("\n")
                );
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

fn is_token_fetch(r: &RecordedRequest) -> bool {
    r.method == "POST"
        && r.path.starts_with("/app/installations/")
        && r.path.ends_with("/access_tokens")
}
