//! What the setup page asks and what it sends GitHub: the operator's
//! choices, checked, and the manifest built from `app.yml` with them.
//! Pure functions; the page and the exchange live beside this.

use crate::config::settings::{ApiUrls, DEFAULT_API_URL};
use serde_json::{Value, json};

/// `app.yml` as shipped, for a working directory without one.
const EMBEDDED_APP_YML: &str = include_str!("../../../app.yml");

/// The path of the webhook GitHub is given (Probot's path).
pub const WEBHOOK_PATH: &str = "/api/github/webhooks";

/// The path GitHub sends the browser back to.
pub const CALLBACK_PATH: &str = "/setup/callback";

/// Longest text a form field may hold.
const MAX_FIELD: usize = 512;

/// Where GitHub's pages and API are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GitHubTarget {
    /// The web origin, e.g. `https://github.com` (no trailing slash).
    pub web: String,
    /// The REST API base, e.g. `https://api.github.com`.
    pub api: String,
    /// Whether `GITHUB_API_URL` must be set for it (anything but github.com).
    pub enterprise: bool,
}

impl GitHubTarget {
    /// github.com.
    pub fn github_com() -> Self {
        Self {
            web: "https://github.com".to_owned(),
            api: DEFAULT_API_URL.to_owned(),
            enterprise: false,
        }
    }

    /// A GitHub Enterprise Server from its host as an operator types it
    /// (`ghe.example.com` or `https://ghe.example.com/`).
    pub fn enterprise(host: &str) -> Result<Self, String> {
        let host = host.trim().trim_end_matches('/');
        let origin = if host.contains("://") {
            host.to_owned()
        } else {
            format!("https://{host}")
        };
        let uri: http::Uri = origin
            .parse()
            .map_err(|_| "the GitHub Enterprise Server host is not a host name".to_owned())?;
        let scheme_ok = matches!(uri.scheme_str(), Some("https" | "http"));
        let bare = uri.path_and_query().is_none_or(|p| p.as_str() == "/");
        if !scheme_ok || uri.host().is_none_or(str::is_empty) || !bare || host.len() > MAX_FIELD {
            return Err(
                "the GitHub Enterprise Server host must be a host name such as ghe.example.com"
                    .to_owned(),
            );
        }
        Ok(Self {
            api: format!("{origin}/api/v3"),
            web: origin,
            enterprise: true,
        })
    }

    /// The GitHub that `GITHUB_API_URL` names: github.com, a GitHub
    /// Enterprise Server (`https://HOST/api/v3`), or an API served at its
    /// own origin with its pages (a proxy, the test emulator).
    pub fn from_api(api: &ApiUrls) -> Self {
        if api.rest == DEFAULT_API_URL {
            return Self::github_com();
        }
        let web = api.rest.strip_suffix("/api/v3").unwrap_or(&api.rest);
        Self {
            web: web.to_owned(),
            api: api.rest.clone(),
            enterprise: true,
        }
    }
}

/// Whose the app will be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Owner {
    /// The signed-in user's.
    Personal,
    /// An organisation's, by login.
    Organization(String),
}

/// Where the credentials go once GitHub hands them over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Keep {
    /// Written to the env file, mode 0600.
    EnvFile,
    /// Shown once on the page, for a secret store (`fly secrets set`).
    ShowOnce,
}

/// The operator's choices, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Choices {
    /// The app's name on GitHub.
    pub name: String,
    /// Whose app.
    pub owner: Owner,
    /// Which GitHub.
    pub target: GitHubTarget,
    /// The public webhook URL.
    pub webhook_url: String,
    /// Where GitHub sends the browser back (this server's callback).
    pub callback_url: String,
    /// Where the credentials go.
    pub keep: Keep,
}

/// The setup form as posted.
#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct Form {
    /// `personal` or `organization`.
    #[serde(default)]
    pub account: String,
    /// The organisation's login.
    #[serde(default)]
    pub org: String,
    /// `github.com` or `enterprise` (absent when `GITHUB_API_URL` decides).
    #[serde(default)]
    pub github: String,
    /// The GitHub Enterprise Server host.
    #[serde(default)]
    pub enterprise_host: String,
    /// The public webhook URL.
    #[serde(default)]
    pub webhook_url: String,
    /// The app's name.
    #[serde(default)]
    pub name: String,
    /// `env` or `show`.
    #[serde(default)]
    pub keep: String,
}

impl Form {
    /// Checks the form. `fixed` is the GitHub `GITHUB_API_URL` names, which
    /// the form cannot change; `base` is this server's address as the
    /// browser reached it (for the callback URL).
    pub fn check(&self, fixed: Option<&GitHubTarget>, base: &str) -> Result<Choices, String> {
        let owner = match self.account.as_str() {
            "personal" => Owner::Personal,
            "organization" => Owner::Organization(organization(&self.org)?),
            _ => return Err("choose a personal account or an organisation".to_owned()),
        };
        let target = match (fixed, self.github.as_str()) {
            (Some(target), _) => target.clone(),
            (None, "enterprise") => GitHubTarget::enterprise(&self.enterprise_host)?,
            (None, _) => GitHubTarget::github_com(),
        };
        let keep = match self.keep.as_str() {
            "show" => Keep::ShowOnce,
            _ => Keep::EnvFile,
        };
        let name = self.name.trim();
        if name.is_empty() || name.chars().count() > 34 || name.chars().any(char::is_control) {
            return Err("the app's name must be 1 to 34 characters (GitHub's limit)".to_owned());
        }
        Ok(Choices {
            name: name.to_owned(),
            owner,
            target,
            webhook_url: public_url(&self.webhook_url)?,
            callback_url: format!("{}{CALLBACK_PATH}", base.trim_end_matches('/')),
            keep,
        })
    }
}

/// An organisation login: GitHub allows letters, digits and single inner
/// hyphens, at most 39 characters.
fn organization(login: &str) -> Result<String, String> {
    let login = login.trim();
    let valid = !login.is_empty()
        && login.len() <= 39
        && login.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        && !login.starts_with('-')
        && !login.ends_with('-');
    if valid {
        Ok(login.to_owned())
    } else {
        Err(
            "the organisation must be its login, e.g. acme-corp (letters, digits, hyphens)"
                .to_owned(),
        )
    }
}

/// A webhook URL GitHub can post to: http(s), a host, no credentials.
fn public_url(url: &str) -> Result<String, String> {
    let url = url.trim();
    let problem = || {
        "the webhook URL must be a public http(s) URL such as https://hunkscan.example.com/api/github/webhooks".to_owned()
    };
    let uri: http::Uri = url.parse().map_err(|_| problem())?;
    let scheme_ok = matches!(uri.scheme_str(), Some("https" | "http"));
    let host_ok = uri.host().is_some_and(|host| !host.is_empty());
    let no_userinfo = uri.authority().is_some_and(|a| !a.as_str().contains('@'));
    if !scheme_ok || !host_ok || !no_userinfo || url.len() > MAX_FIELD {
        return Err(problem());
    }
    Ok(url.to_owned())
}

impl Choices {
    /// Where the manifest is posted, with the one-time `state`.
    pub fn form_action(&self, state: &str) -> String {
        match &self.owner {
            Owner::Personal => format!("{}/settings/apps/new?state={state}", self.target.web),
            Owner::Organization(org) => format!(
                "{}/organizations/{org}/settings/apps/new?state={state}",
                self.target.web
            ),
        }
    }

    /// The manifest: `app_yml` (the working directory's `app.yml`, else the
    /// one shipped) with the name, webhook URL and callback filled in.
    pub fn manifest(&self, app_yml: Option<&str>) -> Result<Value, String> {
        let yaml = app_yml.unwrap_or(EMBEDDED_APP_YML);
        let mut manifest: Value = serde_saphyr::from_str(yaml)
            .map_err(|error| format!("app.yml is not a manifest: {error}"))?;
        let Some(fields) = manifest.as_object_mut() else {
            return Err("app.yml is not a manifest: not a mapping".to_owned());
        };
        fields.insert("name".to_owned(), json!(self.name));
        fields.insert(
            "hook_attributes".to_owned(),
            json!({ "url": self.webhook_url, "active": true }),
        );
        fields.insert("redirect_url".to_owned(), json!(self.callback_url));
        // The shipped homepage is a placeholder; the deployment's own
        // address is a better one (its status page lives there).
        let placeholder = fields
            .get("url")
            .and_then(Value::as_str)
            .is_none_or(|url| url.contains("YOUR-ORG"));
        if placeholder {
            fields.insert("url".to_owned(), json!(origin_of(&self.webhook_url)));
        }
        Ok(manifest)
    }
}

/// `scheme://authority` of a checked URL.
fn origin_of(url: &str) -> String {
    match url.parse::<http::Uri>() {
        Ok(uri) => format!(
            "{}://{}",
            uri.scheme_str().unwrap_or("https"),
            uri.authority().map(|a| a.as_str()).unwrap_or_default()
        ),
        Err(_) => url.to_owned(),
    }
}

/// This server's address as the browser reached it: the `Host` header and
/// the scheme a proxy in front says it used (`X-Forwarded-Proto`).
pub fn base_url(headers: &http::HeaderMap) -> String {
    let host = headers
        .get(http::header::HOST)
        .and_then(|value| value.to_str().ok())
        .filter(|host| {
            !host.is_empty()
                && host.len() <= 255
                && host
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-.:[]".contains(c))
        })
        .unwrap_or("localhost");
    let scheme = match headers
        .get("x-forwarded-proto")
        .and_then(|value| value.to_str().ok())
    {
        Some("https") => "https",
        _ => "http",
    };
    format!("{scheme}://{host}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form() -> Form {
        Form {
            account: "organization".into(),
            org: "acme-corp".into(),
            github: "github.com".into(),
            enterprise_host: String::new(),
            webhook_url: "https://bot.example.com/api/github/webhooks".into(),
            name: "hunkscan-acme".into(),
            keep: "env".into(),
        }
    }

    #[test]
    fn manifest_is_app_yml_with_the_choices() {
        let choices = form()
            .check(None, "https://bot.example.com")
            .expect("valid");
        assert_eq!(
            choices.form_action("s1"),
            "https://github.com/organizations/acme-corp/settings/apps/new?state=s1"
        );
        let manifest = choices.manifest(None).expect("app.yml parses");
        assert_eq!(manifest["name"], "hunkscan-acme");
        assert_eq!(
            manifest["hook_attributes"]["url"],
            "https://bot.example.com/api/github/webhooks"
        );
        assert_eq!(
            manifest["redirect_url"],
            "https://bot.example.com/setup/callback"
        );
        assert_eq!(manifest["url"], "https://bot.example.com");
        assert_eq!(manifest["public"], false);
        assert_eq!(manifest["default_permissions"]["checks"], "write");
        assert!(
            manifest["default_events"]
                .as_array()
                .is_some_and(|events| events.iter().any(|e| e == "pull_request"))
        );
    }

    #[test]
    fn bad_choices_are_named() {
        type Change = fn(&mut Form);
        let cases: [(Change, &str); 5] = [
            (|f| f.account.clear(), "choose a personal account"),
            (|f| f.org = "acme corp".into(), "the organisation must be"),
            (
                |f| f.webhook_url = "ftp://x/y".into(),
                "the webhook URL must be",
            ),
            (
                |f| f.webhook_url = "https://u:p@x/y".into(),
                "the webhook URL must be",
            ),
            (|f| f.name = "x".repeat(35), "the app's name must be"),
        ];
        for (change, expected) in cases {
            let mut form = form();
            change(&mut form);
            let error = form
                .check(None, "http://localhost:3000")
                .expect_err(expected);
            assert!(error.starts_with(expected), "{error}");
        }
    }

    #[test]
    fn enterprise_and_personal_targets() {
        let target = GitHubTarget::enterprise("ghe.example.com/").expect("a host");
        assert_eq!(target.web, "https://ghe.example.com");
        assert_eq!(target.api, "https://ghe.example.com/api/v3");
        assert!(GitHubTarget::enterprise("https://ghe.example.com/some/path").is_err());
        assert_eq!(
            GitHubTarget::from_api(&ApiUrls::from_rest("https://ghe.example.com/api/v3")),
            target
        );
        assert_eq!(
            GitHubTarget::from_api(&ApiUrls::from_rest(DEFAULT_API_URL)),
            GitHubTarget::github_com()
        );
        let mut personal = form();
        personal.account = "personal".into();
        personal.github = "enterprise".into();
        personal.enterprise_host = "ghe.example.com".into();
        let choices = personal
            .check(None, "http://localhost:3000")
            .expect("valid");
        assert_eq!(
            choices.form_action("s"),
            "https://ghe.example.com/settings/apps/new?state=s"
        );
    }

    #[test]
    fn base_url_comes_from_host_and_forwarded_proto() {
        let mut headers = http::HeaderMap::new();
        headers.insert(http::header::HOST, "bot.fly.dev".parse().expect("header"));
        assert_eq!(base_url(&headers), "http://bot.fly.dev");
        headers.insert("x-forwarded-proto", "https".parse().expect("header"));
        assert_eq!(base_url(&headers), "https://bot.fly.dev");
        headers.insert(http::header::HOST, "evil\"><x".parse().expect("header"));
        assert_eq!(base_url(&headers), "https://localhost");
    }
}
