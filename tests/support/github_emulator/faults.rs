//! Injected failures, in the spirit of bors's `fail_next_review_with(500)`.
//!
//! A fault hits the first `times` requests whose method and path match, before
//! authentication and validation, and the request then changes nothing: a
//! timed-out write is not applied (GitHub may apply one, but a test that
//! needs that outcome can set the state up itself; a fault that sometimes
//! writes would make tests flaky).

use super::routes::Reply;
use serde_json::json;
use std::time::Duration;

/// A failure to inject with [`Emulator::inject`](super::Emulator::inject).
///
/// `method` is an HTTP method (`"POST"`, case-insensitive) or `"*"`;
/// `path_contains` is matched against the request path (without query).
#[derive(Clone, Debug)]
pub enum Fault {
    /// Answer with `status` and a GitHub-style error body.
    Status {
        method: &'static str,
        path_contains: &'static str,
        status: u16,
        times: usize,
    },
    /// Hold the request for `delay`, then answer 504 without applying it.
    Timeout {
        method: &'static str,
        path_contains: &'static str,
        delay: Duration,
        times: usize,
    },
    /// A secondary rate limit: 403 with `retry-after`,
    /// `x-ratelimit-remaining: 0` and `x-ratelimit-reset`.
    /// GitHub's worst case: the request IS applied (the review or check run
    /// exists), and the answer is still an error (GitHub answers 502 on
    /// large reviews it did create). A client that retries blindly creates
    /// a second one.
    AppliedThenStatus {
        method: &'static str,
        path_contains: &'static str,
        status: u16,
        times: usize,
    },
    RateLimit {
        method: &'static str,
        path_contains: &'static str,
        retry_after_secs: u64,
        times: usize,
    },
}

impl Fault {
    fn target(&self) -> (&'static str, &'static str) {
        match self {
            Fault::Status {
                method,
                path_contains,
                ..
            }
            | Fault::Timeout {
                method,
                path_contains,
                ..
            }
            | Fault::RateLimit {
                method,
                path_contains,
                ..
            }
            | Fault::AppliedThenStatus {
                method,
                path_contains,
                ..
            } => (method, path_contains),
        }
    }

    pub(crate) fn times(&self) -> usize {
        match self {
            Fault::Status { times, .. }
            | Fault::Timeout { times, .. }
            | Fault::RateLimit { times, .. }
            | Fault::AppliedThenStatus { times, .. } => *times,
        }
    }

    pub(crate) fn matches(&self, method: &str, path: &str) -> bool {
        let (m, p) = self.target();
        (m == "*" || m.eq_ignore_ascii_case(method)) && path.contains(p)
    }

    /// Whether the request is handled normally before the fault's answer
    /// replaces GitHub's.
    pub(crate) fn applies_first(&self) -> bool {
        matches!(self, Fault::AppliedThenStatus { .. })
    }

    /// The answer, and how long to hold the request before sending it.
    pub(crate) fn reply(&self) -> (Reply, Duration) {
        match self {
            Fault::Status { status, .. } | Fault::AppliedThenStatus { status, .. } => {
                let message = match status {
                    500 => "Server Error",
                    502 => "Bad Gateway",
                    503 => "Service Unavailable",
                    404 => "Not Found",
                    401 => "Bad credentials",
                    403 => "Forbidden",
                    422 => "Unprocessable Entity",
                    _ => "Injected fault",
                };
                (Reply::error(*status, message), Duration::ZERO)
            }
            Fault::Timeout { delay, .. } => (
                Reply::error(
                    504,
                    "We couldn't respond to your request in time. Sorry about that. Please try resubmitting your request and contact us if the problem persists.",
                ),
                *delay,
            ),
            Fault::RateLimit {
                retry_after_secs, ..
            } => {
                let reset = chrono::Utc::now().timestamp() as u64 + retry_after_secs;
                let reply = Reply::json(
                    403,
                    json!({
                        "message": "You have exceeded a secondary rate limit. Please wait a few minutes before you try again. If you reach out to GitHub Support for help, please include the request ID.",
                        "documentation_url": "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api#about-secondary-rate-limits",
                        "status": "403"
                    }),
                )
                .header("retry-after", retry_after_secs.to_string())
                .header("x-ratelimit-remaining", "0".to_owned())
                .header("x-ratelimit-reset", reset.to_string());
                (reply, Duration::ZERO)
            }
        }
    }
}
