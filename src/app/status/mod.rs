//! The operator's status page at `/`: what the bot is doing, for people
//! (`/metrics` is for machines). Read-only, behind `HUNKSCAN_STATUS_TOKEN`
//! ([`access`]), off while it is unset.
//!
//! Everything comes from the store (shared by every instance) and GitHub's
//! description of the app; nothing on it is a secret, code or a finding's
//! snippet: deliveries show their id, event and outcome, jobs their
//! repository, pull request, head and outcome. Per-installation rate-limit
//! state is not shown: the GitHub client does not record it (yet).

pub mod access;

use crate::app::page;
use crate::app::store::{DeliveryRecord, RecentJob, Store, StoreStats};
use crate::app::webhook::JobKind;
use crate::config::settings::Secret;
use crate::github::GitHubApp;
use crate::github::app_info::AppInfo;
use crate::github::pacing::{Account, PausedAccount};
use crate::render::html;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use chrono::{DateTime, Utc};
use std::fmt::Write as _;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Deliveries and jobs listed.
pub const RECENT: usize = 50;

/// What the page reads from.
pub struct StatusPage {
    token: Option<Secret>,
    github: Arc<GitHubApp>,
    store: Arc<dyn Store>,
    app: tokio::sync::OnceCell<AppInfo>,
    started: Instant,
}

impl StatusPage {
    /// The page, guarded by `token` (off when `None`).
    pub fn new(token: Option<Secret>, github: Arc<GitHubApp>, store: Arc<dyn Store>) -> Self {
        Self {
            token,
            github,
            store,
            app: tokio::sync::OnceCell::new(),
            started: Instant::now(),
        }
    }

    /// Answers `GET /`.
    pub async fn respond(&self, headers: &HeaderMap) -> Response {
        let Some(token) = &self.token else {
            let body = "<h1>hunkscan</h1><p>The status page is off. Set \
                        <code>HUNKSCAN_STATUS_TOKEN</code> to turn it on; it then asks for that \
                        token (as the password; any user name).</p>";
            return page::respond(StatusCode::NOT_FOUND, page::layout("hunkscan", body), None);
        };
        if let Some(refused) = access::refuse(headers, Some(token)) {
            return refused;
        }
        let app = self
            .app
            .get_or_try_init(|| self.github.app_info())
            .await
            .cloned()
            .map_err(|error| error.to_string());
        let now = Utc::now();
        let view = View {
            app,
            version: env!("CARGO_PKG_VERSION"),
            uptime: self.started.elapsed(),
            now,
            health: self.store.health().await.map_err(|e| e.to_string()),
            stats: self.store.stats(now).await.map_err(|e| e.to_string()),
            deliveries: self
                .store
                .recent_deliveries(RECENT)
                .await
                .map_err(|e| e.to_string()),
            jobs: self
                .store
                .recent_jobs(RECENT)
                .await
                .map_err(|e| e.to_string()),
            paused: self.github.paused_accounts(),
        };
        page::respond(StatusCode::OK, render(&view), None)
    }
}

/// What the page shows, gathered.
pub struct View {
    /// The app's name and page, or why GitHub did not say.
    pub app: Result<AppInfo, String>,
    /// hunkscan's version.
    pub version: &'static str,
    /// Since this process started.
    pub uptime: Duration,
    /// When the page was made.
    pub now: DateTime<Utc>,
    /// The store's round trip.
    pub health: Result<(), String>,
    /// Queue depth and age.
    pub stats: Result<StoreStats, String>,
    /// The newest deliveries.
    pub deliveries: Result<Vec<DeliveryRecord>, String>,
    /// The newest jobs.
    pub jobs: Result<Vec<RecentJob>, String>,
    /// The installations (or the app itself) a GitHub rate limit pauses
    /// now, in this instance.
    pub paused: Vec<PausedAccount>,
}

/// Which installations wait for a rate limit's reset, and until when.
fn paused(accounts: &[PausedAccount]) -> String {
    if accounts.is_empty() {
        return "no installation is paused by a GitHub rate limit in this instance".to_owned();
    }
    accounts
        .iter()
        .map(|paused| {
            let who = match paused.account {
                Account::App => "the app's own calls".to_owned(),
                Account::Installation(id) => format!("installation {id}"),
            };
            format!("{who} paused until {}", when(paused.until))
        })
        .collect::<Vec<_>>()
        .join("; ")
}

fn when(time: DateTime<Utc>) -> String {
    time.format("%Y-%m-%d %H:%M:%S UTC").to_string()
}

fn seconds(duration: Duration) -> String {
    let secs = duration.as_secs();
    match secs {
        0..60 => format!("{:.1} s", duration.as_secs_f64()),
        60..3600 => format!("{} min {} s", secs / 60, secs % 60),
        _ => format!("{} h {} min", secs / 3600, secs % 3600 / 60),
    }
}

/// The page's HTML. Every text from GitHub or the store is escaped here.
pub fn render(view: &View) -> String {
    let mut body = String::new();
    match &view.app {
        Ok(app) => {
            let _ = write!(
                body,
                "<h1><a href=\"{url}\">{name}</a> status</h1>\
                 <p><a id=\"install-link\" href=\"{install}\">Install {name} on an account</a></p>",
                url = html(&app.html_url),
                name = html(&app.name),
                install = html(&app.install_url()),
            );
        }
        Err(error) => {
            let _ = write!(
                body,
                "<h1>hunkscan status</h1><p class=\"error\">GitHub did not describe the app \
                 (<code>GET /app</code>): {}</p>",
                html(error)
            );
        }
    }
    let health = match &view.health {
        Ok(()) => "answers".to_owned(),
        Err(error) => format!(
            "<span class=\"error\">does not answer: {}</span>",
            html(error)
        ),
    };
    let queue = match &view.stats {
        Ok(stats) => format!(
            "{} waiting{}, {} running; {} lease expiries, {} retries since the store began",
            stats.queued,
            stats
                .oldest_queued_age
                .map(|age| format!(" (oldest for {})", seconds(age)))
                .unwrap_or_default(),
            stats.running,
            stats.lease_expiries,
            stats.retries,
        ),
        Err(error) => format!("<span class=\"error\">unknown: {}</span>", html(error)),
    };
    let _ = write!(
        body,
        "<dl><dt>Version</dt><dd>hunkscan {version}</dd>\
         <dt>This instance</dt><dd>up {uptime}; page made {now}</dd>\
         <dt>Job store</dt><dd id=\"store-health\">{health}</dd>\
         <dt>Queue</dt><dd id=\"queue\">{queue}</dd>\
         <dt>Rate limits</dt><dd id=\"rate-limits\">{paused}</dd></dl>",
        paused = paused(&view.paused),
        version = html(view.version),
        uptime = seconds(view.uptime),
        now = when(view.now),
    );
    let _ = write!(
        body,
        "<h2>Last {RECENT} deliveries</h2>\
         <p class=\"hint\">Signed deliveries only, newest first; answer time from the \
         request being whole.</p>"
    );
    match &view.deliveries {
        Ok(deliveries) if deliveries.is_empty() => body.push_str("<p>None yet.</p>"),
        Ok(deliveries) => {
            body.push_str(
                "<table id=\"deliveries\"><tr><th>received</th><th>event</th><th>delivery</th>\
                 <th>outcome</th><th>answered in</th></tr>",
            );
            for delivery in deliveries {
                let _ = write!(
                    body,
                    "<tr><td>{}</td><td>{}</td><td><code>{}</code></td><td>{}</td><td>{}</td></tr>",
                    when(delivery.received_at),
                    html(&delivery.event),
                    html(&delivery.id),
                    html(&delivery.outcome),
                    delivery
                        .ack
                        .map(|ack| format!("{} ms", ack.as_millis()))
                        .unwrap_or_default(),
                );
            }
            body.push_str("</table>");
        }
        Err(error) => {
            let _ = write!(body, "<p class=\"error\">{}</p>", html(error));
        }
    }
    let _ = write!(
        body,
        "<h2>Last {RECENT} jobs</h2>\
         <p class=\"hint\">Newest first; time from the delivery to the verdict.</p>"
    );
    match &view.jobs {
        Ok(jobs) if jobs.is_empty() => body.push_str("<p>None yet.</p>"),
        Ok(jobs) => {
            body.push_str(
                "<table id=\"jobs\"><tr><th>enqueued</th><th>what</th><th>head</th>\
                 <th>state</th><th>outcome</th><th>attempts</th><th>took</th><th>last error</th></tr>",
            );
            for recent in jobs {
                body.push_str(&job_row(recent, view.now));
            }
            body.push_str("</table>");
        }
        Err(error) => {
            let _ = write!(body, "<p class=\"error\">{}</p>", html(error));
        }
    }
    page::layout("hunkscan status", &body)
}

fn job_row(recent: &RecentJob, now: DateTime<Utc>) -> String {
    let record = &recent.record;
    let job = &record.job;
    let what = match job.kind {
        JobKind::PullRequest => format!("{}#{}", job.repo, job.number),
        JobKind::MergeGroup => format!("{} merge group", job.repo),
        JobKind::Triage(_) => format!("{}#{} triage reply", job.repo, job.number),
    };
    let head: String = job.head_sha.chars().take(12).collect();
    let state = format!("{:?}", record.state).to_lowercase();
    let outcome = record
        .outcome
        .map(|outcome| format!("{outcome:?}").to_lowercase())
        .unwrap_or_default();
    let took = match record.finished_at {
        Some(done) => (done - recent.enqueued_at)
            .to_std()
            .map(seconds)
            .unwrap_or_default(),
        None => format!(
            "{} so far",
            (now - recent.enqueued_at)
                .to_std()
                .map(seconds)
                .unwrap_or_default()
        ),
    };
    format!(
        "<tr><td>{}</td><td>{}</td><td><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td>\
         <td>{}</td><td>{}</td></tr>",
        when(recent.enqueued_at),
        html(&what),
        html(&head),
        html(&state),
        html(&outcome),
        record.attempts,
        html(&took),
        html(record.last_error.as_deref().unwrap_or_default()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn github_and_store_text_is_escaped() {
        let hostile = "<img src=x onerror=alert(1)>";
        let view = View {
            app: Ok(AppInfo {
                name: hostile.to_owned(),
                slug: "x".to_owned(),
                html_url: "https://github.com/apps/x\"><script>".to_owned(),
            }),
            version: "0.1.0",
            uptime: Duration::from_secs(3661),
            now: Utc::now(),
            health: Err(format!("database error: {hostile}")),
            stats: Ok(StoreStats {
                queued: 3,
                oldest_queued_age: Some(Duration::from_secs(90)),
                ..StoreStats::default()
            }),
            deliveries: Ok(vec![DeliveryRecord {
                id: hostile.to_owned(),
                event: "pull_request".to_owned(),
                outcome: "accepted".to_owned(),
                received_at: Utc::now(),
                ack: Some(Duration::from_millis(4)),
            }]),
            jobs: Err(hostile.to_owned()),
            paused: vec![PausedAccount {
                account: Account::Installation(77),
                until: Utc::now(),
            }],
        };
        let page = render(&view);
        assert!(page.contains("installation 77 paused until"), "{page}");
        assert!(
            !page.contains("<img") && !page.contains("<script>"),
            "{page}"
        );
        assert!(
            page.contains("&lt;img src=x onerror=alert(1)&gt;"),
            "{page}"
        );
        assert!(page.contains("3 waiting (oldest for 1 min 30 s)"), "{page}");
        assert!(page.contains("up 1 h 1 min"), "{page}");
        assert!(page.contains("<td>4 ms</td>"), "{page}");
    }
}
