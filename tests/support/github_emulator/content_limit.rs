//! GitHub's secondary limit on content creation: an installation that sends
//! more than its allowance of content-creating requests (anything but a read,
//! and GraphQL mutations) within a window is answered 403 "secondary rate
//! limit" with `retry-after`, and the request is not applied.

use super::faults::Fault;
use super::routes::Reply;
use serde_json::Value;
use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

/// The allowance, and what each installation has used of it.
pub(crate) struct ContentLimit {
    calls: usize,
    window: Duration,
    recent: HashMap<u64, VecDeque<Instant>>,
    /// Requests refused for exceeding the allowance.
    pub refused: usize,
}

impl ContentLimit {
    pub fn new(calls: usize, window: Duration) -> Self {
        Self {
            calls,
            window,
            recent: HashMap::new(),
            refused: 0,
        }
    }

    /// Counts a content-creating request of `installation` arriving now; the
    /// refusal GitHub would answer when it is over the allowance.
    pub fn admit(&mut self, installation: u64, now: Instant) -> Option<Reply> {
        let recent = self.recent.entry(installation).or_default();
        while recent
            .front()
            .is_some_and(|at| now.duration_since(*at) >= self.window)
        {
            recent.pop_front();
        }
        if recent.len() >= self.calls {
            self.refused += 1;
            let fault = Fault::RateLimit {
                method: "*",
                path_contains: "",
                retry_after_secs: self.window.as_secs().max(1),
                times: 1,
            };
            return Some(fault.reply().0);
        }
        recent.push_back(now);
        None
    }
}

/// Whether GitHub counts a request against the content-creation limit.
pub(crate) fn creates_content(method: &str, path: &str, body: Option<&Value>) -> bool {
    if method.eq_ignore_ascii_case("GET") || method.eq_ignore_ascii_case("HEAD") {
        return false;
    }
    if path.starts_with("/app/") || path.starts_with("/app-manifests/") {
        return false;
    }
    if path.ends_with("/graphql") {
        return body
            .and_then(|b| b.get("query"))
            .and_then(Value::as_str)
            .is_some_and(|q| q.trim_start().starts_with("mutation"));
    }
    true
}
