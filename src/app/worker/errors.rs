//! Why a job stopped early, and what a user is told about it: the class of
//! failure and an error id, never the error's own text.

use crate::github::GitHubError;
use crate::report::failure::{self, FailureClass};
use thiserror::Error;

/// Why a job stopped early.
#[derive(Debug, Error)]
pub enum JobError {
    /// A GitHub call failed after its retries.
    #[error(transparent)]
    GitHub(#[from] GitHubError),
    /// The analysis itself panicked (a bug in hunkscan).
    #[error("the analysis crashed: {0}")]
    Crashed(String),
    /// The job ran past its deadline.
    #[error("the job ran past its {} s deadline", .0.as_secs())]
    Deadline(std::time::Duration),
}

impl JobError {
    /// What a user is told: the class of failure, never the error's text.
    pub fn class(&self) -> FailureClass {
        match self {
            JobError::GitHub(error) => github_failure_class(error),
            JobError::Crashed(_) => FailureClass::Internal,
            JobError::Deadline(_) => FailureClass::AnalysisDeadline,
        }
    }
}

/// GitHub's failures as a user can act on them.
pub fn github_failure_class(error: &GitHubError) -> FailureClass {
    match error {
        GitHubError::RateLimited { .. } => FailureClass::RateLimited,
        GitHubError::Status { status: 429, .. } => FailureClass::RateLimited,
        GitHubError::Status { status, .. } if *status >= 500 => FailureClass::GitHubUnavailable,
        GitHubError::Status { .. } | GitHubError::GraphQl { .. } => FailureClass::GitHubRefused,
        GitHubError::Timeout { .. }
        | GitHubError::Transport { .. }
        | GitHubError::Ambiguous { .. }
        | GitHubError::Decode { .. } => FailureClass::GitHubUnavailable,
        GitHubError::Jwt(_) => FailureClass::Internal,
    }
}

/// A failure told to users as its class and an id; the details go to the
/// log under the same id.
pub(super) fn reported(
    error: &(dyn std::fmt::Display + Sync),
    class: FailureClass,
    what: &str,
) -> String {
    let error_id = failure::new_error_id();
    tracing::warn!(
        error_id,
        class = class.label(),
        error = %crate::render::Untrusted(&error.to_string()),
        "{what}"
    );
    format!(
        "{} (error id `{error_id}`)",
        class.label().replace('_', " ")
    )
}

/// A task that did not finish: a panic (a bug) keeps its message.
pub(super) fn crashed(error: tokio::task::JoinError) -> JobError {
    JobError::Crashed(if error.is_panic() {
        panic_message(error.into_panic())
    } else {
        error.to_string()
    })
}

fn panic_message(payload: Box<dyn std::any::Any + Send>) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "panic without a message".into())
}
