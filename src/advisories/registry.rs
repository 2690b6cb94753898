//! Licences from the registries' metadata APIs, for the packages whose
//! lockfile states none: crates.io (`/api/v1/crates/{name}/{version}`),
//! PyPI (`/pypi/{name}/{version}/json`) and npm (`/{name}/{version}`).
//! Go's proxy states no licence; Go modules stay unknown.
//!
//! Each base URL can point at a mirror (and the tests' emulated
//! registries) through `HUNKSCAN_CRATES_URL`, `HUNKSCAN_PYPI_URL` and
//! `HUNKSCAN_NPM_URL`. Every answer is read up to [`RegistryOptions::max_bytes`],
//! every request has a timeout and all lookups together a budget, and at
//! most [`RegistryOptions::concurrency`] run at once. A name or version
//! with characters no registry uses is not sent anywhere.
//!
//! Answers that will not change (a licence, a registry that states none,
//! a release that does not exist) are marked lasting, for the cache;
//! failures (timeouts, server errors) are not, so the next scan asks again.

use super::sync::{Client, client};
use crate::engine::deps::license::{Lookup, PackageId};
use crate::engine::deps::model::Ecosystem;
use http_body_util::BodyExt;
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;

/// crates.io's API base; [`CRATES_URL_ENV`] overrides it.
pub const DEFAULT_CRATES_URL: &str = "https://crates.io";
/// PyPI's JSON API base; [`PYPI_URL_ENV`] overrides it.
pub const DEFAULT_PYPI_URL: &str = "https://pypi.org";
/// npm's registry; [`NPM_URL_ENV`] overrides it.
pub const DEFAULT_NPM_URL: &str = "https://registry.npmjs.org";
/// Environment variables of the base URLs.
pub const CRATES_URL_ENV: &str = "HUNKSCAN_CRATES_URL";
/// See [`CRATES_URL_ENV`].
pub const PYPI_URL_ENV: &str = "HUNKSCAN_PYPI_URL";
/// See [`CRATES_URL_ENV`].
pub const NPM_URL_ENV: &str = "HUNKSCAN_NPM_URL";

/// Longest licence text kept: an SPDX expression is short, and PyPI's
/// `license` field often holds the whole licence text instead.
const MAX_LICENSE_CHARS: usize = 200;

/// How to ask the registries.
#[derive(Debug, Clone)]
pub struct RegistryOptions {
    /// crates.io's base URL.
    pub crates: String,
    /// PyPI's base URL.
    pub pypi: String,
    /// npm's base URL.
    pub npm: String,
    /// Largest answer read (bytes).
    pub max_bytes: usize,
    /// Time one request may take.
    pub timeout: Duration,
    /// Time all lookups of a scan may take together.
    pub budget: Duration,
    /// Requests at once.
    pub concurrency: usize,
}

impl Default for RegistryOptions {
    fn default() -> Self {
        let env = |name: &str, default: &str| {
            std::env::var(name)
                .ok()
                .filter(|v| !v.is_empty())
                .unwrap_or_else(|| default.to_owned())
        };
        Self {
            crates: env(CRATES_URL_ENV, DEFAULT_CRATES_URL),
            pypi: env(PYPI_URL_ENV, DEFAULT_PYPI_URL),
            npm: env(NPM_URL_ENV, DEFAULT_NPM_URL),
            // A PyPI release's document lists its files; a few MB at most.
            max_bytes: 4 * 1024 * 1024,
            timeout: Duration::from_secs(10),
            budget: Duration::from_secs(60),
            concurrency: 8,
        }
    }
}

/// One lookup's result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fetched {
    /// The package.
    pub id: PackageId,
    /// What was found.
    pub lookup: Lookup,
    /// Whether the answer will stay true (worth caching).
    pub lasting: bool,
}

/// Looks up every package of `wanted`, from a current-thread runtime of its
/// own (for the command line, which has none).
pub fn fetch_blocking(wanted: Vec<PackageId>, options: &RegistryOptions) -> Vec<Fetched> {
    match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime.block_on(fetch(wanted, options)),
        Err(error) => failed_all(wanted, &format!("cannot start the runtime: {error}")),
    }
}

fn failed_all(wanted: Vec<PackageId>, reason: &str) -> Vec<Fetched> {
    wanted
        .into_iter()
        .map(|id| Fetched {
            id,
            lookup: Lookup::Unknown(reason.to_owned()),
            lasting: false,
        })
        .collect()
}

/// Looks up every package of `wanted`; what the budget does not reach is
/// unknown, saying so.
pub async fn fetch(wanted: Vec<PackageId>, options: &RegistryOptions) -> Vec<Fetched> {
    if wanted.is_empty() {
        return Vec::new();
    }
    let client = match client() {
        Ok(client) => client,
        Err(reason) => return failed_all(wanted, &reason),
    };
    let options = Arc::new(options.clone());
    let semaphore = Arc::new(tokio::sync::Semaphore::new(options.concurrency.max(1)));
    let mut tasks = tokio::task::JoinSet::new();
    for id in wanted.iter().cloned() {
        let (client, options, semaphore) =
            (client.clone(), Arc::clone(&options), Arc::clone(&semaphore));
        tasks.spawn(async move {
            let _permit = semaphore.acquire_owned().await;
            let (lookup, lasting) = look_up(&client, &options, &id).await;
            Fetched {
                id,
                lookup,
                lasting,
            }
        });
    }
    let mut done = Vec::with_capacity(wanted.len());
    let deadline = tokio::time::Instant::now() + options.budget;
    loop {
        match tokio::time::timeout_at(deadline, tasks.join_next()).await {
            Ok(Some(Ok(fetched))) => done.push(fetched),
            Ok(Some(Err(error))) => tracing::warn!(%error, "a licence lookup failed"),
            Ok(None) => break,
            Err(_) => {
                tasks.abort_all();
                break;
            }
        }
    }
    // What did not finish (budget spent, a task failed) is unknown.
    let finished: std::collections::HashSet<PackageId> =
        done.iter().map(|f| f.id.clone()).collect();
    let reason = format!(
        "the registry lookups did not finish within {:?}",
        options.budget
    );
    done.extend(failed_all(
        wanted
            .into_iter()
            .filter(|id| !finished.contains(id))
            .collect(),
        &reason,
    ));
    done
}

/// Characters registries use in names and versions; anything else is
/// not put into a URL.
fn plain(text: &str, extra: &[char]) -> bool {
    !text.is_empty()
        && text.len() <= 214
        && text.chars().all(|c| {
            c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') || extra.contains(&c)
        })
}

/// The URL of `id`'s metadata, or why it is not asked.
fn url_of(options: &RegistryOptions, id: &PackageId) -> Result<String, String> {
    let version_ok = plain(&id.version, &['+', '!']);
    match id.ecosystem {
        Ecosystem::CratesIo if plain(&id.name, &[]) && version_ok => Ok(format!(
            "{}/api/v1/crates/{}/{}",
            options.crates.trim_end_matches('/'),
            id.name,
            id.version
        )),
        Ecosystem::PyPI if plain(&id.name, &[]) && version_ok => Ok(format!(
            "{}/pypi/{}/{}/json",
            options.pypi.trim_end_matches('/'),
            id.name,
            id.version
        )),
        Ecosystem::Npm => {
            let (scope, name) = match id.name.strip_prefix('@').and_then(|n| n.split_once('/')) {
                Some((scope, name)) => (Some(scope), name),
                None => (None, id.name.as_str()),
            };
            if !plain(name, &['~']) || !scope.is_none_or(|s| plain(s, &['~'])) || !version_ok {
                return Err("name or version has characters npm does not use".into());
            }
            let path = match scope {
                // npm's API takes the scoped name with its slash escaped.
                Some(scope) => format!("@{scope}%2f{name}"),
                None => name.to_owned(),
            };
            Ok(format!(
                "{}/{path}/{}",
                options.npm.trim_end_matches('/'),
                id.version
            ))
        }
        Ecosystem::Go | Ecosystem::RubyGems | Ecosystem::Packagist => {
            Err(crate::engine::deps::license::not_looked_up(id.ecosystem)
                .unwrap_or_default()
                .into())
        }
        _ => Err("name or version has characters the registry does not use".into()),
    }
}

async fn look_up(client: &Client, options: &RegistryOptions, id: &PackageId) -> (Lookup, bool) {
    let url = match url_of(options, id) {
        Ok(url) => url,
        Err(reason) => return (Lookup::Unknown(reason), true),
    };
    let registry = id.ecosystem.osv_name();
    let body =
        match tokio::time::timeout(options.timeout, get(client, &url, options.max_bytes)).await {
            Err(_) => {
                return (
                    Lookup::Unknown(format!(
                        "{registry} did not answer within {:?}",
                        options.timeout
                    )),
                    false,
                );
            }
            Ok(Err(Failure::Missing)) => {
                return (
                    Lookup::Unknown(format!("{registry} has no release {}", id.version)),
                    true,
                );
            }
            Ok(Err(Failure::Other(reason))) => {
                return (Lookup::Unknown(format!("{registry}: {reason}")), false);
            }
            Ok(Ok(body)) => body,
        };
    let Ok(document) = serde_json::from_slice::<Value>(&body) else {
        return (
            Lookup::Unknown(format!("{registry}'s answer is not JSON")),
            false,
        );
    };
    let license = match id.ecosystem {
        Ecosystem::CratesIo => document
            .pointer("/version/license")
            .and_then(Value::as_str)
            .map(str::to_owned),
        Ecosystem::Npm => crate::engine::deps::npm::license_of(&document),
        Ecosystem::PyPI => pypi_license(&document),
        Ecosystem::Go | Ecosystem::RubyGems | Ecosystem::Packagist => None,
    };
    match license
        .map(|l| l.trim().to_owned())
        .filter(|l| !l.is_empty())
    {
        Some(license) if license.chars().count() <= MAX_LICENSE_CHARS => {
            (Lookup::Found(license), true)
        }
        Some(_) => (
            Lookup::Unknown(format!(
                "{registry} states a licence text, not an SPDX expression"
            )),
            true,
        ),
        None => (
            Lookup::Unknown(format!("{registry} states no licence for it")),
            true,
        ),
    }
}

/// PyPI: the PEP 639 `license_expression` when the release has one, else
/// the free-text `license` field, else the one trove classifier that names
/// a licence unambiguously.
fn pypi_license(document: &Value) -> Option<String> {
    let info = document.get("info")?;
    let field = |name: &str| {
        info.get(name)
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|v| !v.is_empty() && !v.eq_ignore_ascii_case("unknown"))
            .map(str::to_owned)
    };
    if let Some(expression) = field("license_expression") {
        return Some(expression);
    }
    if let Some(text) = field("license") {
        return Some(text);
    }
    // Classifiers that name one SPDX licence (the generic "BSD License" or
    // "Apache Software License" do not say which version or clause).
    const CLASSIFIERS: [(&str, &str); 8] = [
        ("License :: OSI Approved :: MIT License", "MIT"),
        ("License :: OSI Approved :: ISC License (ISCL)", "ISC"),
        (
            "License :: OSI Approved :: Mozilla Public License 2.0 (MPL 2.0)",
            "MPL-2.0",
        ),
        (
            "License :: OSI Approved :: GNU General Public License v3 (GPLv3)",
            "GPL-3.0-only",
        ),
        (
            "License :: OSI Approved :: GNU General Public License v2 (GPLv2)",
            "GPL-2.0-only",
        ),
        (
            "License :: OSI Approved :: GNU Affero General Public License v3",
            "AGPL-3.0-only",
        ),
        (
            "License :: OSI Approved :: The Unlicense (Unlicense)",
            "Unlicense",
        ),
        (
            "License :: OSI Approved :: Python Software Foundation License",
            "PSF-2.0",
        ),
    ];
    let named: Vec<&str> = info
        .get("classifiers")?
        .as_array()?
        .iter()
        .filter_map(Value::as_str)
        .filter_map(|c| CLASSIFIERS.iter().find(|(k, _)| *k == c).map(|(_, id)| *id))
        .collect();
    // Several licence classifiers mean the author offers a choice.
    (!named.is_empty()).then(|| named.join(" OR "))
}

enum Failure {
    Missing,
    Other(String),
}

async fn get(client: &Client, url: &str, max_bytes: usize) -> Result<Vec<u8>, Failure> {
    let request = http::Request::get(url)
        .header(
            "user-agent",
            concat!("hunkscan/", env!("CARGO_PKG_VERSION")),
        )
        .header("accept", "application/json")
        .body(http_body_util::Empty::new())
        .map_err(|e| Failure::Other(e.to_string()))?;
    let response = client
        .request(request)
        .await
        .map_err(|e| Failure::Other(e.to_string()))?;
    let status = response.status();
    if status == http::StatusCode::NOT_FOUND {
        return Err(Failure::Missing);
    }
    if !status.is_success() {
        return Err(Failure::Other(format!("HTTP {status}")));
    }
    let mut body = response.into_body();
    let mut out = Vec::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| Failure::Other(e.to_string()))?;
        if let Some(chunk) = frame.data_ref() {
            if out.len() + chunk.len() > max_bytes {
                return Err(Failure::Other(format!("answer over {max_bytes} bytes")));
            }
            out.extend_from_slice(chunk);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(ecosystem: Ecosystem, name: &str, version: &str) -> PackageId {
        PackageId {
            ecosystem,
            name: name.into(),
            version: version.into(),
        }
    }

    #[test]
    fn urls_escape_npm_scopes_and_refuse_odd_names() {
        let options = RegistryOptions {
            crates: "http://c/".into(),
            pypi: "http://p".into(),
            npm: "http://n".into(),
            ..RegistryOptions::default()
        };
        assert_eq!(
            url_of(&options, &id(Ecosystem::Npm, "@acme/widget", "1.0.0")).as_deref(),
            Ok("http://n/@acme%2fwidget/1.0.0")
        );
        assert_eq!(
            url_of(&options, &id(Ecosystem::CratesIo, "serde_json", "1.0.1")).as_deref(),
            Ok("http://c/api/v1/crates/serde_json/1.0.1")
        );
        assert_eq!(
            url_of(&options, &id(Ecosystem::PyPI, "Django", "1!2.0+local")).as_deref(),
            Ok("http://p/pypi/Django/1!2.0+local/json")
        );
        for bad in ["../admin", "a?b=c", "x/../../y", ""] {
            assert!(
                url_of(&options, &id(Ecosystem::CratesIo, bad, "1.0.0")).is_err(),
                "{bad}"
            );
            assert!(
                url_of(&options, &id(Ecosystem::Npm, bad, "1.0.0")).is_err(),
                "{bad}"
            );
        }
        assert!(url_of(&options, &id(Ecosystem::Go, "github.com/a/b", "v1.0.0")).is_err());
    }

    #[test]
    fn pypi_prefers_the_expression_then_the_field_then_classifiers() {
        let doc = |info: Value| serde_json::json!({ "info": info });
        assert_eq!(
            pypi_license(&doc(
                serde_json::json!({"license_expression": "BSD-3-Clause", "license": "BSD"})
            )),
            Some("BSD-3-Clause".into())
        );
        assert_eq!(
            pypi_license(&doc(serde_json::json!({"license": "Apache-2.0"}))),
            Some("Apache-2.0".into())
        );
        assert_eq!(
            pypi_license(&doc(serde_json::json!({"license": "", "classifiers": [
                "Programming Language :: Python",
                "License :: OSI Approved :: MIT License"
            ]}))),
            Some("MIT".into())
        );
        assert_eq!(
            pypi_license(&doc(
                serde_json::json!({"license": "UNKNOWN", "classifiers": [
                    "License :: OSI Approved :: BSD License"
                ]})
            )),
            None,
            "an unversioned classifier says too little"
        );
    }
}
