//! The server's settings, read from the environment with the names GitHub
//! App tooling (Probot, octokit) uses, so an existing deployment's variables
//! carry over. Every problem names the variable it is about, in one line.

use jsonwebtoken::EncodingKey;
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;
use thiserror::Error;

/// The public GitHub API.
pub const DEFAULT_API_URL: &str = "https://api.github.com";
/// Port when `PORT` is unset.
pub const DEFAULT_PORT: u16 = 3000;
/// Analysis jobs run at once when `HUNKSCAN_WORKERS` is unset.
pub const DEFAULT_WORKERS: usize = 2;
/// Jobs waiting at most when `HUNKSCAN_QUEUE_CAPACITY` is unset.
pub const DEFAULT_QUEUE_CAPACITY: usize = 1000;
/// Bytes of webhook bodies held in memory at once when
/// `HUNKSCAN_BODY_BUDGET_BYTES` is unset: two of GitHub's largest (25 MB)
/// payloads, and the process stays far under a 512 MB machine.
pub const DEFAULT_BODY_BUDGET_BYTES: usize = 64 * 1024 * 1024;
/// How long a body waits for room in the budget before a 503, when
/// `HUNKSCAN_BODY_BUDGET_WAIT_MS` is unset.
pub const DEFAULT_BODY_BUDGET_WAIT: Duration = Duration::from_secs(1);
/// Time to send a request's headers, when `HUNKSCAN_HEADER_TIMEOUT_MS` is unset.
pub const DEFAULT_HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// Time to send a whole body, when `HUNKSCAN_BODY_TIMEOUT_MS` is unset.
pub const DEFAULT_BODY_TIMEOUT: Duration = Duration::from_secs(30);
/// Time a keep-alive connection may sit between requests, when
/// `HUNKSCAN_IDLE_TIMEOUT_MS` is unset.
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(30);
/// Connections open at once when `HUNKSCAN_MAX_CONNECTIONS` is unset (fly's
/// proxy sends at most its `hard_limit` of 250 requests at once).
pub const DEFAULT_MAX_CONNECTIONS: usize = 512;
/// The job store when `DATABASE_URL` is unset: an embedded SQLite file in
/// the working directory, created if missing.
pub const DEFAULT_DATABASE_URL: &str = "sqlite://hunkscan.db";

/// A setting that is missing or malformed.
#[derive(Debug, Error, PartialEq, Eq)]
#[error("{name}: {problem}")]
pub struct SettingsError {
    /// The environment variable.
    pub name: &'static str,
    /// What is wrong with it, never its value when the value is a secret.
    pub problem: String,
}

fn problem(name: &'static str, problem: impl Into<String>) -> SettingsError {
    SettingsError {
        name,
        problem: problem.into(),
    }
}

/// A secret value that never shows up in `Debug` output or logs.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret itself, for the one place that needs it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// Where the GitHub API lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiUrls {
    /// REST base, without a trailing slash.
    pub rest: String,
    /// The GraphQL endpoint.
    pub graphql: String,
}

impl ApiUrls {
    /// Derives the GraphQL endpoint from the REST base: `api.github.com` has
    /// it at `/graphql`, GitHub Enterprise Server at `/api/graphql` beside
    /// `/api/v3`.
    pub fn from_rest(rest: &str) -> Self {
        let rest = rest.trim_end_matches('/').to_owned();
        let graphql = match rest.strip_suffix("/api/v3") {
            Some(host) => format!("{host}/api/graphql"),
            None => format!("{rest}/graphql"),
        };
        Self { rest, graphql }
    }
}

/// The GitHub App's identity.
#[derive(Clone)]
pub struct AppIdentity {
    /// `GITHUB_APP_ID`.
    pub app_id: u64,
    /// The private key, parsed, for signing app JWTs.
    pub key: EncodingKey,
}

impl fmt::Debug for AppIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AppIdentity")
            .field("app_id", &self.app_id)
            .field("key", &"***")
            .finish()
    }
}

/// Everything `hunkscan serve` needs.
#[derive(Debug, Clone)]
pub struct Settings {
    /// App id and key.
    pub app: AppIdentity,
    /// `GITHUB_WEBHOOK_SECRET`.
    pub webhook_secret: Secret,
    /// `GITHUB_API_URL` and the GraphQL URL derived from it.
    pub api: ApiUrls,
    /// `PORT`.
    pub port: u16,
    /// `DATABASE_URL`, validated (scheme `sqlite:`, `postgres://` or
    /// `postgresql://`), [`DEFAULT_DATABASE_URL`] when unset: where the
    /// durable job store (`app::store`) lives.
    pub database_url: String,
    /// `HUNKSCAN_WORKERS`.
    pub workers: usize,
    /// `HUNKSCAN_JOB_DEADLINE_SECS`: longest a job may take before its check
    /// run is completed with the error conclusion (default 600).
    pub job_deadline: std::time::Duration,
    /// `HUNKSCAN_LEASE_SECS`: a claimed job's lease, renewed while it runs;
    /// a dead instance's jobs are taken over when it ends (default 60).
    pub lease: std::time::Duration,
    /// `HUNKSCAN_RETRY_MAX_AGE_SECS`: a job GitHub keeps failing is retried
    /// until it is this old (default 3600).
    pub retry_max_age: std::time::Duration,
    /// `HUNKSCAN_RETRY_BASE_MS`: the first retry's delay, doubled per
    /// attempt up to 5 minutes (default 5000).
    pub retry_base_delay: std::time::Duration,
    /// `HUNKSCAN_JOB_RETENTION_HOURS`: finished jobs are pruned after this
    /// (default 168).
    pub job_retention: std::time::Duration,
    /// `HUNKSCAN_FINGERPRINT_KEY`, the HMAC key of every fingerprint;
    /// when unset, derived from the app's private key. Never the public
    /// default: fingerprints sit in public comment markers, and with a known
    /// key anyone could confirm a guessed secret offline.
    pub fingerprint_key: Secret,
    /// `HUNKSCAN_CONTENT_CALLS` per `HUNKSCAN_CONTENT_WINDOW_MS`: the pace
    /// of each installation's content-creating calls (default GitHub's 80 a
    /// minute; `HUNKSCAN_CONTENT_CALLS=0` sends them unpaced, for a GitHub
    /// Enterprise Server without secondary limits).
    pub content_pace: Option<crate::github::pacing::ContentPace>,
    /// What unauthenticated traffic may take of the server.
    pub limits: ServerLimits,
    /// `HUNKSCAN_STATUS_TOKEN`: the operator's status page at `/` asks for
    /// it (`Authorization: Bearer …`, or basic auth with it as password);
    /// unset, the page is off.
    pub status_token: Option<Secret>,
}

/// The settings of setup mode: `hunkscan serve` started without any of the
/// app's credentials serves the page that registers the app.
#[derive(Debug, Clone)]
pub struct SetupSettings {
    /// `PORT`.
    pub port: u16,
    /// `GITHUB_API_URL` when set: the GitHub (Enterprise Server) the page
    /// offers first.
    pub api: Option<ApiUrls>,
    /// `HUNKSCAN_ENV_FILE` (default `.env`): where the credentials are
    /// written; an existing file is never overwritten.
    pub env_file: PathBuf,
    /// `HUNKSCAN_STATUS_TOKEN`: when set, the setup page asks for it too.
    pub access_token: Option<Secret>,
    /// What unauthenticated traffic may take of the server.
    pub limits: ServerLimits,
}

/// The variables that make up the app's credentials.
pub const CREDENTIAL_VARIABLES: [&str; 3] = [
    "GITHUB_APP_ID",
    "GITHUB_PRIVATE_KEY",
    "GITHUB_PRIVATE_KEY_PATH",
];

/// Whether none of the app's credentials is set (empty counts as unset):
/// `hunkscan serve` then runs the setup page instead of stopping. Some set
/// and others missing is a half-configured deployment, which stops.
pub fn credentials_absent(lookup: impl Fn(&str) -> Option<String>) -> bool {
    CREDENTIAL_VARIABLES
        .iter()
        .all(|name| lookup(name).is_none_or(|value| value.trim().is_empty()))
}

impl SetupSettings {
    /// Reads what setup mode needs through `lookup`.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, SettingsError> {
        let get = |name: &str| lookup(name).filter(|value| !value.trim().is_empty());
        let api = get("GITHUB_API_URL")
            .map(|raw| api_url(&raw).map(|url| ApiUrls::from_rest(&url)))
            .transpose()?;
        Ok(Self {
            port: parse_number(get("PORT"), "PORT", DEFAULT_PORT)?,
            api,
            env_file: get("HUNKSCAN_ENV_FILE").map_or_else(|| PathBuf::from(".env"), PathBuf::from),
            access_token: get("HUNKSCAN_STATUS_TOKEN").map(Secret::new),
            limits: ServerLimits::from_lookup(get)?,
        })
    }
}

/// A checked `GITHUB_API_URL`, without surrounding white space.
fn api_url(raw: &str) -> Result<String, SettingsError> {
    let api_url = raw.trim();
    if !(api_url.starts_with("https://") || api_url.starts_with("http://"))
        || api_url.parse::<http::Uri>().is_err()
    {
        return Err(problem(
            "GITHUB_API_URL",
            format!(
                "must be an http(s) URL such as {DEFAULT_API_URL} or https://HOST/api/v3, got {api_url:?}"
            ),
        ));
    }
    Ok(api_url.to_owned())
}

/// Bounds on what any client, signed or not, may hold of the server: memory
/// for bodies not yet verified, time, connections.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerLimits {
    /// `HUNKSCAN_BODY_BUDGET_BYTES`: bytes of webhook bodies held in memory at
    /// once, from the first byte read until the delivery is handled.
    pub body_budget_bytes: usize,
    /// `HUNKSCAN_BODY_BUDGET_WAIT_MS`: how long a body waits for room in the
    /// budget before it is answered 503.
    pub body_budget_wait: Duration,
    /// `HUNKSCAN_HEADER_TIMEOUT_MS`: time from a connection's opening (or a
    /// later request's first byte) to its complete request headers.
    pub header_timeout: Duration,
    /// `HUNKSCAN_BODY_TIMEOUT_MS`: time from complete headers to the whole
    /// body.
    pub body_timeout: Duration,
    /// `HUNKSCAN_IDLE_TIMEOUT_MS`: time a keep-alive connection may sit
    /// between requests.
    pub idle_timeout: Duration,
    /// `HUNKSCAN_MAX_CONNECTIONS`: connections open at once; more are closed
    /// as they arrive.
    pub max_connections: usize,
}

impl Default for ServerLimits {
    fn default() -> Self {
        Self {
            body_budget_bytes: DEFAULT_BODY_BUDGET_BYTES,
            body_budget_wait: DEFAULT_BODY_BUDGET_WAIT,
            header_timeout: DEFAULT_HEADER_TIMEOUT,
            body_timeout: DEFAULT_BODY_TIMEOUT,
            idle_timeout: DEFAULT_IDLE_TIMEOUT,
            max_connections: DEFAULT_MAX_CONNECTIONS,
        }
    }
}

impl ServerLimits {
    fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, SettingsError> {
        let millis = |name: &'static str, default: Duration| {
            let default = u64::try_from(default.as_millis()).unwrap_or(u64::MAX);
            parse_number(get(name), name, default).map(Duration::from_millis)
        };
        let defaults = Self::default();
        Ok(Self {
            body_budget_bytes: parse_number(
                get("HUNKSCAN_BODY_BUDGET_BYTES"),
                "HUNKSCAN_BODY_BUDGET_BYTES",
                defaults.body_budget_bytes,
            )?,
            body_budget_wait: millis("HUNKSCAN_BODY_BUDGET_WAIT_MS", defaults.body_budget_wait)?,
            header_timeout: millis("HUNKSCAN_HEADER_TIMEOUT_MS", defaults.header_timeout)?,
            body_timeout: millis("HUNKSCAN_BODY_TIMEOUT_MS", defaults.body_timeout)?,
            idle_timeout: millis("HUNKSCAN_IDLE_TIMEOUT_MS", defaults.idle_timeout)?,
            max_connections: parse_number(
                get("HUNKSCAN_MAX_CONNECTIONS"),
                "HUNKSCAN_MAX_CONNECTIONS",
                defaults.max_connections,
            )?,
        })
    }
}

impl Settings {
    /// Reads the settings through `lookup` (the process environment in
    /// production, a map in tests). Empty values count as unset.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, SettingsError> {
        let get = |name: &str| lookup(name).filter(|value| !value.trim().is_empty());

        let app_id = match get("GITHUB_APP_ID") {
            None => return Err(problem("GITHUB_APP_ID", "is not set")),
            Some(raw) => raw
                .trim()
                .parse::<u64>()
                .ok()
                .filter(|id| *id > 0)
                .ok_or_else(|| {
                    problem(
                        "GITHUB_APP_ID",
                        format!("must be a positive integer, got {raw:?}"),
                    )
                })?,
        };
        let (key, pem) = private_key(get("GITHUB_PRIVATE_KEY"), get("GITHUB_PRIVATE_KEY_PATH"))?;
        let webhook_secret = get("GITHUB_WEBHOOK_SECRET")
            .map(Secret::new)
            .ok_or_else(|| problem("GITHUB_WEBHOOK_SECRET", "is not set"))?;
        let api_url =
            api_url(&get("GITHUB_API_URL").unwrap_or_else(|| DEFAULT_API_URL.to_owned()))?;
        let port = parse_number(get("PORT"), "PORT", DEFAULT_PORT)?;
        let database_url = match get("DATABASE_URL") {
            None => DEFAULT_DATABASE_URL.to_owned(),
            Some(url)
                if url.starts_with("sqlite:")
                    || url.starts_with("postgres://")
                    || url.starts_with("postgresql://") =>
            {
                url
            }
            Some(url) => {
                let scheme = url.split(':').next().unwrap_or_default();
                return Err(problem(
                    "DATABASE_URL",
                    format!(
                        "must start with sqlite:, postgres:// or postgresql://, got scheme {scheme:?}"
                    ),
                ));
            }
        };
        let workers = parse_number(get("HUNKSCAN_WORKERS"), "HUNKSCAN_WORKERS", DEFAULT_WORKERS)?;
        let seconds = |name: &'static str, default: std::time::Duration| {
            parse_number(get(name), name, default.as_secs()).map(std::time::Duration::from_secs)
        };
        let lease = seconds("HUNKSCAN_LEASE_SECS", crate::app::worker::DEFAULT_LEASE)?;
        let retry_max_age = seconds(
            "HUNKSCAN_RETRY_MAX_AGE_SECS",
            crate::app::worker::DEFAULT_RETRY_MAX_AGE,
        )?;
        let retry_base_delay = std::time::Duration::from_millis(parse_number(
            get("HUNKSCAN_RETRY_BASE_MS"),
            "HUNKSCAN_RETRY_BASE_MS",
            5000,
        )?);
        let job_retention = std::time::Duration::from_secs(
            3600 * parse_number(
                get("HUNKSCAN_JOB_RETENTION_HOURS"),
                "HUNKSCAN_JOB_RETENTION_HOURS",
                168u64,
            )?,
        );
        let job_deadline = std::time::Duration::from_secs(parse_number(
            get("HUNKSCAN_JOB_DEADLINE_SECS"),
            "HUNKSCAN_JOB_DEADLINE_SECS",
            crate::app::worker::DEFAULT_JOB_DEADLINE.as_secs(),
        )?);
        // 0 is a choice here (unpaced), not a mistake as elsewhere.
        let content_calls = match get("HUNKSCAN_CONTENT_CALLS") {
            Some(raw) if raw.trim() == "0" => 0,
            raw => parse_number(
                raw,
                "HUNKSCAN_CONTENT_CALLS",
                crate::github::pacing::ContentPace::GITHUB.calls,
            )?,
        };
        let content_window = std::time::Duration::from_millis(parse_number(
            get("HUNKSCAN_CONTENT_WINDOW_MS"),
            "HUNKSCAN_CONTENT_WINDOW_MS",
            60_000u64,
        )?);
        if content_calls != 0 && content_calls < 4 {
            return Err(problem(
                "HUNKSCAN_CONTENT_CALLS",
                format!("must be 0 (unpaced) or at least 4, got {content_calls}"),
            ));
        }
        let content_pace = (content_calls > 0).then_some(crate::github::pacing::ContentPace {
            calls: content_calls,
            window: content_window,
        });
        Ok(Self {
            app: AppIdentity { app_id, key },
            webhook_secret,
            api: ApiUrls::from_rest(&api_url),
            port,
            database_url,
            workers,
            job_deadline,
            lease,
            retry_max_age,
            retry_base_delay,
            job_retention,
            fingerprint_key: get("HUNKSCAN_FINGERPRINT_KEY")
                .map(Secret::new)
                .unwrap_or_else(|| derived_fingerprint_key(&pem)),
            content_pace,
            status_token: get("HUNKSCAN_STATUS_TOKEN").map(Secret::new),
            limits: ServerLimits::from_lookup(get)?,
        })
    }

    /// Reads `.env` when present, then the process environment.
    pub fn from_env() -> Result<Self, SettingsError> {
        // A missing .env is the normal case in production.
        let _ = dotenvy::dotenv();
        Self::from_lookup(|name| std::env::var(name).ok())
    }
}

fn parse_number<T: std::str::FromStr + PartialOrd + Default>(
    raw: Option<String>,
    name: &'static str,
    default: T,
) -> Result<T, SettingsError> {
    match raw {
        None => Ok(default),
        Some(raw) => raw
            .trim()
            .parse::<T>()
            .ok()
            .filter(|value| *value > T::default())
            .ok_or_else(|| problem(name, format!("must be a positive integer, got {raw:?}"))),
    }
}

/// The key comes inline (Probot's `PRIVATE_KEY` habit: one line with literal
/// `\n`, as many secret stores require) or from a file.
fn private_key(
    inline: Option<String>,
    path: Option<String>,
) -> Result<(EncodingKey, String), SettingsError> {
    let (name, pem) = match (inline, path) {
        (Some(inline), _) => ("GITHUB_PRIVATE_KEY", inline.replace("\\n", "\n")),
        (None, Some(path)) => {
            let path = PathBuf::from(path);
            let pem = std::fs::read_to_string(&path).map_err(|error| {
                problem(
                    "GITHUB_PRIVATE_KEY_PATH",
                    format!("cannot read {}: {error}", path.display()),
                )
            })?;
            ("GITHUB_PRIVATE_KEY_PATH", pem)
        }
        (None, None) => {
            return Err(problem(
                "GITHUB_PRIVATE_KEY",
                "is not set (nor GITHUB_PRIVATE_KEY_PATH)",
            ));
        }
    };
    let key = EncodingKey::from_rsa_pem(pem.trim().as_bytes()).map_err(|error| {
        // Never echo the key: only say what kind of problem it has.
        problem(
            name,
            format!("is not an RSA private key in PEM form ({error})"),
        )
    })?;
    Ok((key, pem))
}

/// A per-deployment secret without another setting: HMAC of a fixed label
/// under the app's private key, which only this deployment knows.
fn derived_fingerprint_key(pem: &str) -> Secret {
    use hmac::{Hmac, Mac};
    let Ok(mut mac) = Hmac::<sha2::Sha256>::new_from_slice(pem.trim().as_bytes()) else {
        // HMAC takes keys of any length; unreachable in practice.
        return Secret::new(pem.trim());
    };
    mac.update(b"hunkscan secret fingerprint key v1");
    Secret::new(crate::engine::fingerprint::hex(
        &mac.finalize().into_bytes(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    const KEY: &str = include_str!("../../fixtures/github/test-app-private-key.pem");

    fn settings(pairs: &[(&str, &str)]) -> Result<Settings, SettingsError> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Settings::from_lookup(|name| map.get(name).cloned())
    }

    fn minimal() -> Vec<(&'static str, &'static str)> {
        vec![
            ("GITHUB_APP_ID", "42"),
            ("GITHUB_PRIVATE_KEY", KEY),
            ("GITHUB_WEBHOOK_SECRET", "s3cret"),
        ]
    }

    #[test]
    fn defaults_apply_to_optional_settings() {
        let settings = settings(&minimal()).expect("valid settings");
        assert_eq!(settings.app.app_id, 42);
        assert_eq!(settings.port, 3000);
        assert_eq!(settings.api.rest, "https://api.github.com");
        assert_eq!(settings.api.graphql, "https://api.github.com/graphql");
        assert_eq!(settings.workers, DEFAULT_WORKERS);
        assert_eq!(settings.limits, ServerLimits::default());
        assert_eq!(settings.database_url, "sqlite://hunkscan.db");
        assert!(!format!("{settings:?}").contains("s3cret"));
        assert!(!format!("{settings:?}").contains("PRIVATE KEY"));
        let derived = settings.fingerprint_key.expose().to_owned();
        assert_eq!(derived.len(), 64, "derived from the private key");
        assert_ne!(
            derived.as_bytes(),
            crate::engine::secrets::DEFAULT_FINGERPRINT_KEY
        );
    }

    #[test]
    fn server_limits_are_read_in_their_units() {
        let mut pairs = minimal();
        pairs.extend([
            ("HUNKSCAN_BODY_BUDGET_BYTES", "4194304"),
            ("HUNKSCAN_BODY_BUDGET_WAIT_MS", "250"),
            ("HUNKSCAN_HEADER_TIMEOUT_MS", "500"),
            ("HUNKSCAN_BODY_TIMEOUT_MS", "1500"),
            ("HUNKSCAN_IDLE_TIMEOUT_MS", "2000"),
            ("HUNKSCAN_MAX_CONNECTIONS", "8"),
        ]);
        let limits = settings(&pairs).expect("valid settings").limits;
        assert_eq!(
            limits,
            ServerLimits {
                body_budget_bytes: 4 * 1024 * 1024,
                body_budget_wait: Duration::from_millis(250),
                header_timeout: Duration::from_millis(500),
                body_timeout: Duration::from_millis(1500),
                idle_timeout: Duration::from_secs(2),
                max_connections: 8,
            }
        );
    }

    #[test]
    fn setup_mode_is_for_no_credentials_at_all() {
        let absent = |pairs: &[(&str, &str)]| {
            let map: HashMap<String, String> = pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            credentials_absent(|name| map.get(name).cloned())
        };
        assert!(absent(&[]));
        assert!(absent(&[("GITHUB_APP_ID", " "), ("PORT", "8080")]));
        assert!(!absent(&[("GITHUB_APP_ID", "1")]));
        assert!(!absent(&[("GITHUB_PRIVATE_KEY_PATH", "/k.pem")]));
        let setup = SetupSettings::from_lookup(|name| match name {
            "GITHUB_API_URL" => Some("https://ghe.example.com/api/v3".into()),
            "HUNKSCAN_STATUS_TOKEN" => Some("tok".into()),
            _ => None,
        })
        .expect("setup settings");
        assert_eq!(setup.port, DEFAULT_PORT);
        assert_eq!(setup.env_file, PathBuf::from(".env"));
        assert_eq!(
            setup.api.map(|api| api.graphql).as_deref(),
            Some("https://ghe.example.com/api/graphql")
        );
        assert!(!format!("{:?}", setup.access_token).contains("tok"));
        let error = SetupSettings::from_lookup(|name| {
            (name == "GITHUB_API_URL").then(|| "ghe.example.com".to_owned())
        })
        .expect_err("a bare host is not a URL");
        assert!(error.to_string().starts_with("GITHUB_API_URL: must be"));
    }

    #[test]
    fn enterprise_graphql_url_is_derived() {
        let urls = ApiUrls::from_rest("https://ghe.example.com/api/v3/");
        assert_eq!(urls.rest, "https://ghe.example.com/api/v3");
        assert_eq!(urls.graphql, "https://ghe.example.com/api/graphql");
    }

    #[test]
    fn key_with_literal_newlines_is_accepted() {
        let one_line = KEY.trim().replace('\n', "\\n");
        let mut pairs = minimal();
        pairs[1] = ("GITHUB_PRIVATE_KEY", &one_line);
        assert!(settings(&pairs).is_ok());
    }

    #[test]
    fn each_problem_names_its_variable() {
        let cases: Vec<(Vec<(&str, &str)>, &str)> = vec![
            (vec![], "GITHUB_APP_ID: is not set"),
            (
                vec![("GITHUB_APP_ID", "abc")],
                "GITHUB_APP_ID: must be a positive integer",
            ),
            (
                vec![("GITHUB_APP_ID", "1")],
                "GITHUB_PRIVATE_KEY: is not set",
            ),
            (
                vec![("GITHUB_APP_ID", "1"), ("GITHUB_PRIVATE_KEY", "not a key")],
                "GITHUB_PRIVATE_KEY: is not an RSA private key",
            ),
            (
                vec![
                    ("GITHUB_APP_ID", "1"),
                    ("GITHUB_PRIVATE_KEY_PATH", "/nonexistent/key.pem"),
                ],
                "GITHUB_PRIVATE_KEY_PATH: cannot read /nonexistent/key.pem",
            ),
            (
                vec![("GITHUB_APP_ID", "1"), ("GITHUB_PRIVATE_KEY", KEY)],
                "GITHUB_WEBHOOK_SECRET: is not set",
            ),
        ];
        for (pairs, expected) in cases {
            let error = settings(&pairs).expect_err(expected).to_string();
            assert!(
                error.starts_with(expected),
                "{error:?} should start with {expected:?}"
            );
            assert!(!error.contains('\n'), "one line: {error:?}");
        }
        for (name, value, expected) in [
            ("PORT", "http", "PORT: must be a positive integer"),
            ("PORT", "70000", "PORT: must be a positive integer"),
            (
                "GITHUB_API_URL",
                "api.github.com",
                "GITHUB_API_URL: must be an http(s) URL",
            ),
            ("DATABASE_URL", "mysql://x", "DATABASE_URL: must start with"),
            (
                "HUNKSCAN_WORKERS",
                "0",
                "HUNKSCAN_WORKERS: must be a positive integer",
            ),
            (
                "HUNKSCAN_BODY_BUDGET_BYTES",
                "64MB",
                "HUNKSCAN_BODY_BUDGET_BYTES: must be a positive integer",
            ),
            (
                "HUNKSCAN_HEADER_TIMEOUT_MS",
                "10s",
                "HUNKSCAN_HEADER_TIMEOUT_MS: must be a positive integer",
            ),
            (
                "HUNKSCAN_MAX_CONNECTIONS",
                "0",
                "HUNKSCAN_MAX_CONNECTIONS: must be a positive integer",
            ),
        ] {
            let mut pairs = minimal();
            pairs.push((name, value));
            let error = settings(&pairs).expect_err(expected).to_string();
            assert!(error.starts_with(expected), "{error:?}");
        }
    }
}
