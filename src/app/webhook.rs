//! Webhook deliveries: the events the app acts on, turned into jobs (the
//! signature is checked first, in [`super::signature`]).

pub use super::external_id::{
    CheckSubject, check_external_id, merge_group_external_id, subject_of_external_id,
};
pub use super::signature::{SignatureError, SignatureVerifier, sign, verify_signature};
use crate::github::types::RepoRef;
use serde::{Deserialize, Serialize};
use thiserror::Error;

/// The name of our check run; `check_run` events for other names are not ours.
pub const CHECK_NAME: &str = "hunkscan";

/// What triggered a job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Trigger {
    /// `pull_request` opened, synchronize, reopened or ready_for_review.
    PullRequest,
    /// `check_suite` requested: GitHub asks on every push, alongside
    /// `pull_request.synchronize`; the queue runs only one of the two.
    SuiteRequested,
    /// Always runs, even for a head analysed before: a re-run someone asked
    /// for (`check_run`/`check_suite` rerequested), a pull request reopened
    /// or marked ready for review (a draft may have been skipped), or
    /// retargeted to another base branch (the diff changed, the head did not).
    Rerun,
}

/// What a job does.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobKind {
    /// Analyse a pull request at a head commit, review it and complete a
    /// `hunkscan` check on the head.
    #[default]
    PullRequest,
    /// Analyse a merge group's change (`base_sha`...`head_sha`) and complete
    /// a `hunkscan` check on its head: annotations, no review (there is no
    /// pull request to comment on). `number` is 0.
    MergeGroup,
    /// A command replied to one of the bot's review comments: no analysis,
    /// the check is re-gated from what it already holds.
    Triage(super::triage::Command),
}

/// One pull request (or merge group) at one head commit to analyse
/// (stored whole, as JSON, by the durable job store).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Job {
    /// `X-GitHub-Delivery` (plus the pull request number when one delivery
    /// yields several jobs).
    pub id: String,
    /// The installation the work is done as.
    pub installation_id: u64,
    /// The repository.
    pub repo: RepoRef,
    /// `https://github.com/owner/repo`, for links in the summary.
    pub repo_url: String,
    /// Pull request number; 0 for a merge group, and for a check suite
    /// re-run that named none (a fork's pull request: the worker finds it
    /// from the external id of its earlier check run).
    pub number: u64,
    /// The commit analysed and checked.
    pub head_sha: String,
    /// The base commit (config is read here).
    pub base_sha: String,
    /// Whether the pull request is a draft (unknown for re-runs: false).
    pub draft: bool,
    /// Why.
    pub trigger: Trigger,
    /// What to do (absent from jobs stored before job kinds: an analysis).
    #[serde(default)]
    pub kind: JobKind,
}

impl Job {
    /// Whether storing this job ends the pull request's jobs for older
    /// heads: a push does (a re-run of an older head does not). Merge groups
    /// (number 0) are never obsolete to each other: a queue runs several at
    /// once, and each needs its own verdict.
    pub fn supersedes_older_heads(&self) -> bool {
        self.trigger != Trigger::Rerun && self.kind == JobKind::PullRequest && self.number > 0
    }

    /// The `external_id` of the check run this job creates.
    pub fn check_external_id(&self) -> String {
        match self.kind {
            JobKind::MergeGroup => merge_group_external_id(&self.repo, &self.base_sha),
            _ => check_external_id(&self.repo, self.number),
        }
    }
}

/// What to do with a delivery.
#[derive(Debug, PartialEq, Eq)]
pub enum Delivery {
    /// `ping`.
    Ping,
    /// Work to queue.
    Jobs(Vec<Job>),
    /// Nothing to do, and why (logged, answered with 202).
    Ignored(String),
}

/// A signed delivery whose body is not the event it claims to be.
#[derive(Debug, Error)]
#[error("malformed {event} payload: {message}")]
pub struct PayloadError {
    /// The event.
    pub event: String,
    /// serde's message, with the path to the bad field.
    pub message: String,
}

#[derive(Deserialize)]
pub(super) struct Installation {
    pub(super) id: u64,
}

#[derive(Deserialize)]
pub(super) struct Repository {
    pub(super) full_name: String,
    pub(super) html_url: String,
}

#[derive(Deserialize)]
struct CommitRef {
    sha: String,
}

#[derive(Deserialize)]
struct PullRequest {
    number: u64,
    #[serde(default)]
    draft: bool,
    head: CommitRef,
    base: CommitRef,
}

#[derive(Deserialize)]
struct PullRequestEvent {
    action: String,
    pull_request: PullRequest,
    repository: Repository,
    installation: Option<Installation>,
    #[serde(default)]
    changes: Option<serde_json::Value>,
}

#[derive(Deserialize)]
struct App {
    id: u64,
}

#[derive(Deserialize)]
struct PullRequestRef {
    number: u64,
    head: CommitRef,
    base: CommitRef,
}

#[derive(Deserialize)]
struct CheckRun {
    name: String,
    head_sha: String,
    app: Option<App>,
    external_id: Option<String>,
    #[serde(default)]
    pull_requests: Vec<PullRequestRef>,
}

#[derive(Deserialize)]
struct CheckRunEvent {
    action: String,
    check_run: CheckRun,
    repository: Repository,
    installation: Option<Installation>,
}

#[derive(Deserialize)]
struct CheckSuite {
    head_sha: String,
    app: Option<App>,
    #[serde(default)]
    pull_requests: Vec<PullRequestRef>,
}

#[derive(Deserialize)]
struct CheckSuiteEvent {
    action: String,
    check_suite: CheckSuite,
    repository: Repository,
    installation: Option<Installation>,
}

#[derive(Deserialize)]
struct InstallationEvent {
    action: String,
    installation: Option<Installation>,
}

pub(super) fn parse<T: for<'de> Deserialize<'de>>(
    event: &str,
    body: &[u8],
) -> Result<T, PayloadError> {
    let mut deserializer = serde_json::Deserializer::from_slice(body);
    serde_path_to_error::deserialize(&mut deserializer).map_err(|error| PayloadError {
        event: event.to_owned(),
        message: error.to_string(),
    })
}

pub(super) fn repo(repository: &Repository, event: &str) -> Result<RepoRef, PayloadError> {
    RepoRef::parse(&repository.full_name).ok_or_else(|| PayloadError {
        event: event.to_owned(),
        message: format!(
            "repository.full_name {:?} is not owner/name",
            repository.full_name
        ),
    })
}

/// Turns a verified delivery into jobs. `app_id` tells our own check runs
/// and suites from other apps'.
pub fn route(
    event: &str,
    delivery_id: &str,
    body: &[u8],
    app_id: u64,
) -> Result<Delivery, PayloadError> {
    let ignored = |why: String| Ok(Delivery::Ignored(why));
    match event {
        "ping" => Ok(Delivery::Ping),
        "pull_request" => {
            let payload: PullRequestEvent = parse(event, body)?;
            let base_changed = payload
                .changes
                .as_ref()
                .is_some_and(|changes| changes.get("base").is_some());
            let trigger = match payload.action.as_str() {
                "opened" | "synchronize" => Trigger::PullRequest,
                "reopened" | "ready_for_review" => Trigger::Rerun,
                "edited" if base_changed => Trigger::Rerun,
                other => return ignored(format!("pull_request.{other} is not analysed")),
            };
            let Some(installation) = payload.installation else {
                return ignored("no installation in the payload".into());
            };
            let pr = payload.pull_request;
            Ok(Delivery::Jobs(vec![Job {
                id: delivery_id.to_owned(),
                installation_id: installation.id,
                repo: repo(&payload.repository, event)?,
                repo_url: payload.repository.html_url,
                number: pr.number,
                head_sha: pr.head.sha,
                base_sha: pr.base.sha,
                draft: pr.draft,
                trigger,
                kind: JobKind::PullRequest,
            }]))
        }
        "check_run" => {
            let payload: CheckRunEvent = parse(event, body)?;
            if payload.action != "rerequested" {
                return ignored(format!("check_run.{} is not acted on", payload.action));
            }
            let ours = payload.check_run.name == CHECK_NAME
                && payload
                    .check_run
                    .app
                    .as_ref()
                    .is_none_or(|app| app.id == app_id);
            if !ours {
                return ignored(format!(
                    "check run {:?} belongs to another app",
                    payload.check_run.name
                ));
            }
            let Some(installation) = payload.installation else {
                return ignored("no installation in the payload".into());
            };
            let repo = repo(&payload.repository, event)?;
            let head = payload.check_run.head_sha;
            if payload.check_run.pull_requests.is_empty() {
                let subject = payload
                    .check_run
                    .external_id
                    .as_deref()
                    .and_then(|id| subject_of_external_id(id, &repo));
                let target = Target {
                    delivery_id,
                    installation_id: installation.id,
                    repo,
                    repo_url: payload.repository.html_url,
                    head_sha: head,
                };
                return match subject {
                    Some(subject) => Ok(Delivery::Jobs(vec![target.rerun_of(subject)])),
                    None => ignored("a re-run of a check run that names no pull request".into()),
                };
            }
            jobs_for(
                delivery_id,
                installation.id,
                &repo,
                &payload.repository.html_url,
                &head,
                payload.check_run.pull_requests,
                Trigger::Rerun,
            )
        }
        "check_suite" => {
            let payload: CheckSuiteEvent = parse(event, body)?;
            let trigger = match payload.action.as_str() {
                "requested" => Trigger::SuiteRequested,
                "rerequested" => Trigger::Rerun,
                other => return ignored(format!("check_suite.{other} is not acted on")),
            };
            if payload
                .check_suite
                .app
                .as_ref()
                .is_some_and(|app| app.id != app_id)
            {
                return ignored("check suite of another app".into());
            }
            let Some(installation) = payload.installation else {
                return ignored("no installation in the payload".into());
            };
            let repo = repo(&payload.repository, event)?;
            if trigger == Trigger::Rerun && payload.check_suite.pull_requests.is_empty() {
                // A fork's pull request (GitHub leaves `pull_requests`
                // empty then) or a merge group: the worker finds the subject
                // from the external id of our earlier check run on the head.
                return Ok(Delivery::Jobs(vec![Job {
                    id: delivery_id.to_owned(),
                    installation_id: installation.id,
                    repo,
                    repo_url: payload.repository.html_url,
                    number: 0,
                    head_sha: payload.check_suite.head_sha,
                    base_sha: String::new(),
                    draft: false,
                    trigger,
                    kind: JobKind::PullRequest,
                }]));
            }
            jobs_for(
                delivery_id,
                installation.id,
                &repo,
                &payload.repository.html_url,
                &payload.check_suite.head_sha,
                payload.check_suite.pull_requests,
                trigger,
            )
        }
        "merge_group" => super::merge_queue::route(delivery_id, body),
        "pull_request_review_comment" => super::triage::route(delivery_id, body),
        "installation" | "installation_repositories" => {
            let payload: InstallationEvent = parse(event, body)?;
            tracing::info!(
                event,
                action = payload.action,
                installation = payload.installation.map(|i| i.id),
                "installation changed"
            );
            ignored(format!("{event}.{} logged", payload.action))
        }
        other => ignored(format!("event {other:?} is not used")),
    }
}

/// Where a re-run lands, before its subject is known.
struct Target<'a> {
    delivery_id: &'a str,
    installation_id: u64,
    repo: RepoRef,
    repo_url: String,
    head_sha: String,
}

impl Target<'_> {
    /// The job re-running our check on `subject`. The worker reads a pull
    /// request's base (and draft state) from GitHub.
    fn rerun_of(self, subject: CheckSubject) -> Job {
        let (number, base_sha, kind) = match subject {
            CheckSubject::PullRequest(number) => (number, String::new(), JobKind::PullRequest),
            CheckSubject::MergeGroup(base) => (0, base, JobKind::MergeGroup),
        };
        Job {
            id: format!("{}#{number}", self.delivery_id),
            installation_id: self.installation_id,
            repo: self.repo,
            repo_url: self.repo_url,
            number,
            head_sha: self.head_sha,
            base_sha,
            draft: false,
            trigger: Trigger::Rerun,
            kind,
        }
    }
}

fn jobs_for(
    delivery_id: &str,
    installation_id: u64,
    repo: &RepoRef,
    repo_url: &str,
    head_sha: &str,
    pull_requests: Vec<PullRequestRef>,
    trigger: Trigger,
) -> Result<Delivery, PayloadError> {
    // A suite's pull requests include those of forks whose head is
    // elsewhere; only those whose head is this commit are about it.
    let jobs: Vec<Job> = pull_requests
        .into_iter()
        .filter(|pr| pr.head.sha == head_sha)
        .map(|pr| Job {
            id: format!("{delivery_id}#{}", pr.number),
            installation_id,
            repo: repo.clone(),
            repo_url: repo_url.to_owned(),
            number: pr.number,
            head_sha: pr.head.sha,
            base_sha: pr.base.sha,
            draft: false,
            trigger,
            kind: JobKind::PullRequest,
        })
        .collect();
    if jobs.is_empty() {
        return Ok(Delivery::Ignored(format!(
            "commit {head_sha} is not the head of an open pull request"
        )));
    }
    Ok(Delivery::Jobs(jobs))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pull_request(action: &str, with_installation: bool) -> Vec<u8> {
        let installation = if with_installation {
            r#","installation":{"id":7}"#
        } else {
            ""
        };
        format!(
            r#"{{"action":"{action}","pull_request":{{"number":3,"draft":true,"head":{{"sha":"h"}},"base":{{"sha":"b"}}}},"repository":{{"full_name":"o/r","html_url":"https://github.com/o/r"}}{installation}}}"#
        )
        .into_bytes()
    }

    #[test]
    fn pull_request_actions_become_jobs() {
        let Ok(Delivery::Jobs(jobs)) =
            route("pull_request", "d1", &pull_request("synchronize", true), 1)
        else {
            panic!("a job");
        };
        assert_eq!(jobs[0].head_sha, "h");
        assert!(jobs[0].draft);
        assert!(matches!(
            route("pull_request", "d", &pull_request("labeled", true), 1),
            Ok(Delivery::Ignored(_))
        ));
        assert!(matches!(
            route("pull_request", "d", &pull_request("opened", false), 1),
            Ok(Delivery::Ignored(why)) if why.contains("installation")
        ));
    }

    #[test]
    fn malformed_payloads_name_the_field() {
        let error = route(
            "pull_request",
            "d",
            br#"{"action":"opened","pull_request":{"number":"x"}}"#,
            1,
        )
        .expect_err("malformed");
        assert!(error.to_string().contains("pull_request.number"), "{error}");
        assert!(route("pull_request", "d", b"not json", 1).is_err());
    }

    #[test]
    fn check_runs_of_other_apps_are_ignored() {
        let body = |name: &str, app: u64| {
            format!(
                r#"{{"action":"rerequested","check_run":{{"name":"{name}","head_sha":"h","app":{{"id":{app}}},"pull_requests":[{{"number":4,"head":{{"sha":"h"}},"base":{{"sha":"b"}}}}]}},"repository":{{"full_name":"o/r","html_url":"u"}},"installation":{{"id":7}}}}"#
            )
        };
        assert!(
            matches!(route("check_run", "d", body("hunkscan", 1).as_bytes(), 1), Ok(Delivery::Jobs(j)) if j[0].trigger == Trigger::Rerun)
        );
        assert!(matches!(
            route("check_run", "d", body("hunkscan", 2).as_bytes(), 1),
            Ok(Delivery::Ignored(_))
        ));
        assert!(matches!(
            route("check_run", "d", body("lint", 1).as_bytes(), 1),
            Ok(Delivery::Ignored(_))
        ));
    }

    #[test]
    fn fork_reruns_find_their_pull_request_by_external_id() {
        let body = r#"{"action":"rerequested","check_run":{"name":"hunkscan","head_sha":"h","app":{"id":1},"external_id":"o/r#12","pull_requests":[]},"repository":{"full_name":"o/r","html_url":"u"},"installation":{"id":7}}"#;
        let Ok(Delivery::Jobs(jobs)) = route("check_run", "d", body.as_bytes(), 1) else {
            panic!("a job");
        };
        assert_eq!((jobs[0].number, jobs[0].base_sha.as_str()), (12, ""));
        let other_repo = body.replace("o/r#12", "x/y#12");
        assert!(matches!(
            route("check_run", "d", other_repo.as_bytes(), 1),
            Ok(Delivery::Ignored(_))
        ));
    }

    #[test]
    fn a_suite_rerun_without_pull_requests_is_resolved_by_the_worker() {
        let body = |action: &str| {
            format!(
                r#"{{"action":"{action}","check_suite":{{"head_sha":"h","app":{{"id":1}},"pull_requests":[]}},"repository":{{"full_name":"o/r","html_url":"u"}},"installation":{{"id":7}}}}"#
            )
        };
        let Ok(Delivery::Jobs(jobs)) = route("check_suite", "d", body("rerequested").as_bytes(), 1)
        else {
            panic!("a job");
        };
        assert_eq!((jobs[0].number, jobs[0].base_sha.as_str()), (0, ""));
        assert_eq!(jobs[0].kind, JobKind::PullRequest);
        assert!(
            matches!(
                route("check_suite", "d", body("requested").as_bytes(), 1),
                Ok(Delivery::Ignored(_))
            ),
            "a push to a branch without a pull request runs nothing"
        );
    }

    #[test]
    fn retargeting_and_ready_for_review_always_run() {
        let edited = String::from_utf8(pull_request("edited", true))
            .expect("utf8")
            .replacen(
                r#""action":"edited","#,
                r#""action":"edited","changes":{"base":{"ref":{"from":"dev"}}},"#,
                1,
            );
        let Ok(Delivery::Jobs(jobs)) = route("pull_request", "d", edited.as_bytes(), 1) else {
            panic!("a job");
        };
        assert_eq!(jobs[0].trigger, Trigger::Rerun);
        assert!(
            matches!(
                route("pull_request", "d", &pull_request("edited", true), 1),
                Ok(Delivery::Ignored(_))
            ),
            "a title edit is not analysed"
        );
        let Ok(Delivery::Jobs(jobs)) = route(
            "pull_request",
            "d",
            &pull_request("ready_for_review", true),
            1,
        ) else {
            panic!("a job");
        };
        assert_eq!(jobs[0].trigger, Trigger::Rerun);
    }
}
