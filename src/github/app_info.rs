//! The app's own description (`GET /app`, with the app's JWT): its name
//! and page, for the operator's status page.

use super::client::{GitHubApp, GitHubError, Repeat};
use http::Method;

const ROUTE: &str = "GET /app";

/// What the status page shows of the app. Every field is GitHub's text:
/// escape it (`render::html`) before it reaches a page.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
pub struct AppInfo {
    /// The app's name as GitHub shows it.
    pub name: String,
    /// Its slug (`https://github.com/apps/<slug>`).
    pub slug: String,
    /// Its page on GitHub, with the Install button.
    pub html_url: String,
}

impl AppInfo {
    /// Where an organisation owner installs the app.
    pub fn install_url(&self) -> String {
        format!("{}/installations/new", self.html_url.trim_end_matches('/'))
    }
}

impl GitHubApp {
    /// The app's name and page (`GET /app`).
    pub async fn app_info(&self) -> Result<AppInfo, GitHubError> {
        self.app_call(Method::GET, ROUTE, "/app", Repeat::Safe)
            .await?
            .json(ROUTE)
    }
}
