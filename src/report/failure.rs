//! What a pull request author sees when a job fails: the class of failure
//! and an error id, never the failure's own text. Panic messages and GitHub's
//! error bodies can hold internals (routes, tokens' scopes, file contents a
//! parser choked on); they go to the log next to the same error id, so an
//! operator finds them from what the author reports.

use super::check_run::{MAX_OUTPUT_CHARS, truncate};
use sha2::{Digest, Sha256};
use std::sync::atomic::{AtomicU64, Ordering};

/// Why a job could not finish, in terms a user can act on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureClass {
    /// GitHub answered 5xx, timed out or could not be reached.
    GitHubUnavailable,
    /// GitHub's rate limit outlasted what the job may wait.
    RateLimited,
    /// GitHub refused a request (permissions, a removed repository, ...).
    GitHubRefused,
    /// The job ran past its deadline.
    AnalysisDeadline,
    /// A bug in hunkscan.
    Internal,
}

impl FailureClass {
    /// A stable label for logs and metrics.
    pub fn label(self) -> &'static str {
        match self {
            FailureClass::GitHubUnavailable => "github_unavailable",
            FailureClass::RateLimited => "rate_limited",
            FailureClass::GitHubRefused => "github_refused",
            FailureClass::AnalysisDeadline => "analysis_deadline",
            FailureClass::Internal => "internal_error",
        }
    }

    fn headline(self) -> &'static str {
        match self {
            FailureClass::GitHubUnavailable => "GitHub was unavailable",
            FailureClass::RateLimited => "GitHub's rate limit was reached",
            FailureClass::GitHubRefused => "GitHub refused a request",
            FailureClass::AnalysisDeadline => "the analysis ran past its deadline",
            FailureClass::Internal => "an internal error in hunkscan",
        }
    }

    fn advice(self) -> &'static str {
        match self {
            FailureClass::GitHubUnavailable => {
                "This is usually brief: re-run this check in a few minutes."
            }
            FailureClass::RateLimited => {
                "The installation used up its GitHub API quota; re-run this check after the limit resets (at most an hour)."
            }
            FailureClass::GitHubRefused => {
                "Check that the app is still installed on this repository with the permissions it asks for, then re-run this check."
            }
            FailureClass::AnalysisDeadline => {
                "The change is too large or too slow to analyse within the configured deadline; re-run it, or run `hunkscan scan` locally."
            }
            FailureClass::Internal => {
                "Please report it to whoever runs hunkscan, with the error id; re-running the check may help."
            }
        }
    }
}

/// An id that ties what a user sees to the log line with the details:
/// twelve hex digits, unique within a process and unlikely to repeat across
/// processes (time, process id and a counter, hashed).
pub fn new_error_id() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut hasher = Sha256::new();
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    hasher.update(nanos.to_le_bytes());
    hasher.update(std::process::id().to_le_bytes());
    hasher.update(COUNTER.fetch_add(1, Ordering::Relaxed).to_le_bytes());
    crate::engine::fingerprint::hex(&hasher.finalize()[..6])
}

/// The check-run summary of a job that could not finish.
pub fn summary(class: FailureClass, error_id: &str, head_sha: &str) -> String {
    truncate(
        &format!(
            "hunkscan could not finish analysing `{}`: {} (error id `{error_id}`).\n\n{}\n\nWhoever runs hunkscan finds the details in its log under this error id.\n",
            crate::render::terminal(head_sha),
            class.headline(),
            class.advice()
        ),
        MAX_OUTPUT_CHARS,
        "\n\n(truncated)\n",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summaries_name_the_class_and_id_only() {
        let id = new_error_id();
        assert_eq!(id.len(), 12);
        assert_ne!(id, new_error_id());
        let text = summary(FailureClass::RateLimited, &id, "abc");
        assert!(text.contains("rate limit"), "{text}");
        assert!(text.contains(&id), "{text}");
    }
}
