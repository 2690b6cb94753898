//! Setup mode: `hunkscan serve` started without the app's credentials
//! registers the GitHub App from `app.yml` through GitHub's manifest flow,
//! the way Probot's first-run page does, and then becomes the app without
//! a restart.
//!
//! 1. `GET /`: the operator's choices ([`manifest::Form`]): whose app,
//!    which GitHub, the public webhook URL, the name, where the
//!    credentials go.
//! 2. `POST /setup/manifest`: a page that shows the manifest and posts it
//!    to GitHub with one button. Two pages because, without JavaScript, a
//!    form cannot compose the manifest's JSON from the fields it shows.
//!    The page is bound to this browser: a one-time `state` (in GitHub's
//!    URL) and a cookie (never sent to GitHub) must both come back.
//! 3. `GET /setup/callback?code&state`: the state is checked and spent,
//!    the code exchanged once, the credentials written to the env file
//!    (new, mode 0600, never overwritten) or shown once, and the app
//!    assembled with them; from then on every route is the app's.
//!
//! GitHub generates the webhook secret itself and returns it with the key
//! (a manifest has no field for one); that is the secret the app uses.

pub mod credentials;
pub mod manifest;
pub mod pages;

use crate::app::page;
use crate::app::status::access;
use crate::config::settings::{Settings, SetupSettings};
use crate::render::Untrusted;
use axum::Router;
use axum::extract::{Form, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use manifest::{GitHubTarget, Keep};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};
use tower::ServiceExt;

/// The environment, as `Settings::from_lookup` reads it.
pub type Lookup = Arc<dyn Fn(&str) -> Option<String> + Send + Sync>;

/// Assembles the app from the new settings: its routes, once it runs.
pub type BecomeApp = Arc<
    dyn Fn(Settings) -> Pin<Box<dyn Future<Output = Result<Router, String>> + Send>> + Send + Sync,
>;

/// How long a registration page stays valid (GitHub's codes live an hour).
const PENDING_LIFETIME: Duration = Duration::from_secs(3600);

/// Registration pages open at once; the oldest is forgotten beyond this.
const MAX_PENDING: usize = 32;

/// The cookie that binds the flow to the browser that started it.
const COOKIE: &str = "hunkscan_setup";

/// A registration page waiting for GitHub's redirect.
struct Pending {
    choices: manifest::Choices,
    /// SHA-256 of the browser's cookie value.
    browser: [u8; 32],
    created: Instant,
}

/// Setup mode's state.
pub struct Setup {
    settings: SetupSettings,
    fixed: Option<GitHubTarget>,
    env: Lookup,
    pending: Mutex<HashMap<String, Pending>>,
    /// Held through a callback, so two never both become the app.
    completing: tokio::sync::Mutex<()>,
    become_app: BecomeApp,
    app: OnceLock<Router>,
}

impl Setup {
    /// Setup mode for `settings`, reading the rest of the environment
    /// through `env` once the credentials are there.
    pub fn new(settings: SetupSettings, env: Lookup, become_app: BecomeApp) -> Arc<Self> {
        Arc::new(Self {
            fixed: settings.api.as_ref().map(GitHubTarget::from_api),
            settings,
            env,
            pending: Mutex::new(HashMap::new()),
            completing: tokio::sync::Mutex::new(()),
            become_app,
            app: OnceLock::new(),
        })
    }

    /// Whether the app runs (setup is over).
    pub fn configured(&self) -> bool {
        self.app.get().is_some()
    }

    fn pending(&self) -> std::sync::MutexGuard<'_, HashMap<String, Pending>> {
        self.pending.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The routes of setup mode: the setup pages, and every other request
/// handed to the app once it runs.
pub fn router(setup: Arc<Setup>) -> Router {
    Router::new()
        .route("/setup/manifest", post(post_manifest))
        .route("/setup/callback", get(callback))
        .fallback(fallback)
        .with_state(setup)
}

async fn fallback(State(setup): State<Arc<Setup>>, request: Request) -> Response {
    if let Some(app) = setup.app.get() {
        return match app.clone().oneshot(request).await {
            Ok(response) => response,
            Err(never) => match never {},
        };
    }
    // The process is up and serving its setup page: health checks (fly's,
    // Docker's) must not take it out of rotation before it is registered.
    if request.uri().path() == "/healthz" {
        return (
            StatusCode::OK,
            "ok (setup mode: the app is not registered yet)\n",
        )
            .into_response();
    }
    if request.uri().path() != "/" || request.method() != http::Method::GET {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            [(header::RETRY_AFTER, "60")],
            "hunkscan is not set up yet: open / in a browser\n",
        )
            .into_response();
    }
    if let Some(refused) = access::refuse(request.headers(), setup.settings.access_token.as_ref()) {
        return refused;
    }
    let base = manifest::base_url(request.headers());
    let defaults = manifest::Form {
        account: "organization".to_owned(),
        webhook_url: format!("{base}{}", manifest::WEBHOOK_PATH),
        name: "hunkscan".to_owned(),
        ..manifest::Form::default()
    };
    form_page(&setup, &defaults, None, StatusCode::OK)
}

fn form_page(
    setup: &Setup,
    form: &manifest::Form,
    error: Option<&str>,
    status: StatusCode,
) -> Response {
    let env_file = setup.settings.env_file.display().to_string();
    let view = pages::FormView {
        error,
        fixed_github: setup.fixed.as_ref().map(|target| target.web.as_str()),
        org: &form.org,
        personal: form.account == "personal",
        enterprise: (form.github == "enterprise").then_some(form.enterprise_host.as_str()),
        webhook_url: &form.webhook_url,
        name: &form.name,
        env_file: &env_file,
        env_file_exists: setup.settings.env_file.exists(),
    };
    page::respond(status, pages::form(&view), None)
}

async fn post_manifest(
    State(setup): State<Arc<Setup>>,
    headers: HeaderMap,
    Form(form): Form<manifest::Form>,
) -> Response {
    if setup.configured() {
        return problem(
            StatusCode::CONFLICT,
            "hunkscan is set up already",
            "this server runs as a registered app; its credentials are in place",
        );
    }
    if let Some(refused) = access::refuse(&headers, setup.settings.access_token.as_ref()) {
        return refused;
    }
    let mut choices = match form.check(setup.fixed.as_ref(), &manifest::base_url(&headers)) {
        Ok(choices) => choices,
        Err(error) => return form_page(&setup, &form, Some(&error), StatusCode::BAD_REQUEST),
    };
    if setup.settings.env_file.exists() {
        choices.keep = Keep::ShowOnce;
    }
    // The working directory's app.yml wins, as in Probot; else the shipped one.
    let app_yml = std::fs::read_to_string("app.yml").ok();
    let manifest = match choices.manifest(app_yml.as_deref()) {
        Ok(manifest) => manifest,
        Err(error) => return form_page(&setup, &form, Some(&error), StatusCode::BAD_REQUEST),
    };
    let (Some(state), Some(browser)) = (random_hex(), random_hex()) else {
        return problem(
            StatusCode::INTERNAL_SERVER_ERROR,
            "No randomness",
            "the operating system gave no random bytes for the one-time state",
        );
    };
    let action = choices.form_action(&state);
    let target = choices.target.web.clone();
    let page = pages::confirm(&choices, &action, &manifest);
    {
        let mut pending = setup.pending();
        pending.retain(|_, p| p.created.elapsed() < PENDING_LIFETIME);
        while pending.len() >= MAX_PENDING {
            let oldest = pending
                .iter()
                .min_by_key(|(_, p)| p.created)
                .map(|(state, _)| state.clone());
            match oldest {
                Some(state) => pending.remove(&state),
                None => break,
            };
        }
        pending.insert(
            state,
            Pending {
                choices,
                browser: Sha256::digest(browser.as_bytes()).into(),
                created: Instant::now(),
            },
        );
    }
    let mut response = page::respond(StatusCode::OK, page, Some(&target));
    let secure = if manifest::base_url(&headers).starts_with("https://") {
        "; Secure"
    } else {
        ""
    };
    // Lax: sent on GitHub's top-level redirect back, never on cross-site posts.
    let cookie = format!(
        "{COOKIE}={browser}; Path=/setup; Max-Age={}; HttpOnly; SameSite=Lax{secure}",
        PENDING_LIFETIME.as_secs()
    );
    if let Ok(value) = HeaderValue::from_str(&cookie) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
    response
}

/// GitHub's redirect back.
#[derive(Debug, serde::Deserialize)]
struct Callback {
    code: Option<String>,
    state: Option<String>,
}

async fn callback(
    State(setup): State<Arc<Setup>>,
    headers: HeaderMap,
    Query(query): Query<Callback>,
) -> Response {
    let _one_at_a_time = setup.completing.lock().await;
    if setup.configured() {
        return problem(
            StatusCode::CONFLICT,
            "hunkscan is set up already",
            "this registration link was used already; the server runs as the registered app",
        );
    }
    let (Some(code), Some(state)) = (query.code, query.state) else {
        return problem(
            StatusCode::BAD_REQUEST,
            "Not GitHub's answer",
            "the link lacks GitHub's code or state",
        );
    };
    let pending = {
        let mut pending = setup.pending();
        let browser = cookie(&headers).map(|value| <[u8; 32]>::from(Sha256::digest(value)));
        let found = pending.get(&state).map(|p| {
            (
                p.created.elapsed() >= PENDING_LIFETIME,
                browser == Some(p.browser),
            )
        });
        match found {
            None => None,
            Some((true, _)) => {
                pending.remove(&state);
                None
            }
            // Another browser holding the state does not spend it.
            Some((false, false)) => {
                return problem(
                    StatusCode::FORBIDDEN,
                    "Another browser's registration",
                    "this registration was started in another browser (or its cookie is gone); \
                     finish it there, or start again here",
                );
            }
            Some((false, true)) => pending.remove(&state),
        }
    };
    let Some(pending) = pending else {
        tracing::warn!("setup callback with an unknown, expired or spent state refused");
        return problem(
            StatusCode::BAD_REQUEST,
            "Unknown or used link",
            "this registration link is unknown, expired or used already; each works once",
        );
    };
    if code.is_empty()
        || code.len() > 128
        || !code
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return problem(
            StatusCode::BAD_REQUEST,
            "Not GitHub's code",
            "the code in the link is not one GitHub issues",
        );
    }
    let choices = pending.choices;
    let registered = match credentials::exchange(&choices.target.api, &code).await {
        Ok(registered) => registered,
        Err(error) => {
            tracing::warn!(%error, "the manifest code could not be exchanged");
            return problem(
                StatusCode::BAD_GATEWAY,
                "GitHub did not hand over the app",
                &format!(
                    "{error}. A code works once and for an hour; if the app was created, \
                     delete it in GitHub's settings and register again"
                ),
            );
        }
    };
    tracing::info!(
        app_id = registered.id,
        slug = %Untrusted(&registered.slug),
        "GitHub App registered from the manifest"
    );
    finish(&setup, &choices, registered).await
}

/// Keeps the credentials and becomes the app.
async fn finish(
    setup: &Setup,
    choices: &manifest::Choices,
    registered: credentials::Registered,
) -> Response {
    let api = (choices.target.enterprise && setup.fixed.is_none()).then_some(&choices.target.api);
    let variables = match registered.variables(api.map(String::as_str)) {
        Ok(variables) => variables,
        Err(error) => {
            return problem(
                StatusCode::BAD_GATEWAY,
                "GitHub's answer is incomplete",
                &error,
            );
        }
    };
    let text = credentials::env_text(&variables);
    let env_file = setup.settings.env_file.display().to_string();
    let write_failed = match choices.keep {
        Keep::ShowOnce => None,
        Keep::EnvFile => match credentials::write_env_file(&setup.settings.env_file, &text) {
            Ok(()) => {
                tracing::info!(file = %Untrusted(&env_file), "credentials written (mode 0600)");
                Some(None)
            }
            Err(error) => {
                tracing::warn!(%error, "credentials not written; shown once instead");
                Some(Some(format!(
                    "{error}; the credentials are shown here instead"
                )))
            }
        },
    };
    let kept = match &write_failed {
        Some(None) => pages::Kept::Written(&env_file),
        Some(Some(why)) => pages::Kept::Shown {
            text: &text,
            why: Some(why),
        },
        None => pages::Kept::Shown {
            text: &text,
            why: None,
        },
    };
    let values: HashMap<&str, String> = variables
        .iter()
        .map(|(name, value)| (*name, value.expose().to_owned()))
        .collect();
    let env = Arc::clone(&setup.env);
    let running =
        match Settings::from_lookup(|name| values.get(name).cloned().or_else(|| (env)(name))) {
            Ok(settings) => match (setup.become_app)(settings).await {
                Ok(app) => {
                    let _ = setup.app.set(app);
                    tracing::info!("setup done; serving as the app");
                    Ok(())
                }
                Err(error) => Err(error),
            },
            Err(error) => Err(error.to_string()),
        };
    if let Err(error) = &running {
        tracing::error!(error = %Untrusted(error), "the registered app could not start");
    }
    let page = pages::done(
        &registered.name,
        &registered.install_url(),
        &kept,
        running.as_ref().map(|_| ()).map_err(String::as_str),
    );
    page::respond(StatusCode::OK, page, None)
}

fn problem(status: StatusCode, title: &str, message: &str) -> Response {
    page::respond(status, pages::problem(title, message), None)
}

/// 32 random bytes from the operating system, in hex.
fn random_hex() -> Option<String> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).ok()?;
    Some(crate::engine::fingerprint::hex(&bytes))
}

/// The setup cookie's value, if the browser sent it.
fn cookie(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .find_map(|pair| pair.trim().strip_prefix(COOKIE)?.strip_prefix('='))
        .map(str::to_owned)
}
