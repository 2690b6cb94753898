//! Triage by reply: a person with write access answers one of the bot's
//! review comments with `/hunkscan ignore|false-positive|accept-risk
//! <reason>`, and the finding is dismissed for this pull request.
//!
//! A command is a light job (no analysis) that runs in the pull request's
//! turn, like its analyses, so the two never race on one thread. It costs
//! three requests ([`handle`]): the collaborator permission, one GraphQL
//! query (the threads, the base's config, the check run) and one GraphQL
//! mutation (the reply, the thread resolved, the check re-gated). Nothing is
//! stored by the bot: the dismissal is recorded in its reply (see
//! [`crate::report::triage`]), which every later analysis reads.

pub mod command;
mod handle;

pub use handle::{Handled, run};

use super::webhook::{Delivery, Installation, Job, JobKind, PayloadError, Repository, Trigger};
pub use command::Request;
use serde::{Deserialize, Serialize};

/// A command replied to one of the bot's review comments.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Command {
    /// The reply carrying the command.
    pub comment_id: u64,
    /// The comment it answers (`in_reply_to_id`: the thread's first).
    pub reply_to: u64,
    /// Who wrote it.
    pub author: String,
    /// What it asks.
    pub request: Request,
}

#[derive(Deserialize)]
struct User {
    login: String,
    #[serde(rename = "type", default)]
    kind: String,
}

#[derive(Deserialize)]
struct Comment {
    id: u64,
    body: String,
    in_reply_to_id: Option<u64>,
    user: Option<User>,
}

#[derive(Deserialize)]
struct CommitRef {
    sha: String,
}

#[derive(Deserialize)]
struct PullRequest {
    number: u64,
    head: CommitRef,
    base: CommitRef,
}

#[derive(Deserialize)]
struct ReviewCommentEvent {
    action: String,
    comment: Comment,
    pull_request: PullRequest,
    repository: Repository,
    installation: Option<Installation>,
}

/// Routes a `pull_request_review_comment` delivery: a new reply whose first
/// word is `/hunkscan`, from a person, is a command; anything else is
/// ignored.
pub fn route(delivery_id: &str, body: &[u8]) -> Result<Delivery, PayloadError> {
    const EVENT: &str = "pull_request_review_comment";
    let payload: ReviewCommentEvent = super::webhook::parse(EVENT, body)?;
    let ignored = |why: &str| Ok(Delivery::Ignored(why.to_owned()));
    if payload.action != "created" {
        return ignored("only new comments can be commands");
    }
    let Some(reply_to) = payload.comment.in_reply_to_id else {
        return ignored("not a reply");
    };
    let Some(user) = payload.comment.user else {
        return ignored("a comment without an author");
    };
    // Bots (the app itself included) do not give commands.
    if user.kind == "Bot" || user.login.ends_with("[bot]") {
        return ignored("a bot's comment");
    }
    let Some(request) = command::parse(&payload.comment.body) else {
        return ignored("not a /hunkscan command");
    };
    let Some(installation) = payload.installation else {
        return ignored("no installation in the payload");
    };
    let repo = super::webhook::repo(&payload.repository, EVENT)?;
    Ok(Delivery::Jobs(vec![Job {
        id: delivery_id.to_owned(),
        installation_id: installation.id,
        repo,
        repo_url: payload.repository.html_url,
        number: payload.pull_request.number,
        head_sha: payload.pull_request.head.sha,
        base_sha: payload.pull_request.base.sha,
        draft: false,
        // A person asked: it always runs (a redelivery keeps its id).
        trigger: Trigger::Rerun,
        kind: JobKind::Triage(Command {
            comment_id: payload.comment.id,
            reply_to,
            author: user.login,
            request,
        }),
    }]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::triage::Verb;

    fn event(action: &str, body: &str, reply_to: Option<u64>, user: (&str, &str)) -> Vec<u8> {
        serde_json::to_vec(&serde_json::json!({
            "action": action,
            "comment": {
                "id": 9, "body": body, "in_reply_to_id": reply_to,
                "user": { "login": user.0, "type": user.1 },
            },
            "pull_request": { "number": 4, "head": { "sha": "h" }, "base": { "sha": "b" } },
            "repository": { "full_name": "o/r", "html_url": "https://github.com/o/r" },
            "installation": { "id": 7 },
        }))
        .expect("json")
    }

    #[test]
    fn replies_with_a_command_become_triage_jobs() {
        let Ok(Delivery::Jobs(jobs)) = route(
            "d",
            &event(
                "created",
                "/hunkscan ignore test data",
                Some(5),
                ("alice", "User"),
            ),
        ) else {
            panic!("a job");
        };
        let JobKind::Triage(command) = &jobs[0].kind else {
            panic!("a triage job");
        };
        assert_eq!((command.comment_id, command.reply_to), (9, 5));
        assert_eq!(command.author, "alice");
        assert_eq!(
            command.request,
            Request::Dismiss {
                verb: Verb::Ignore,
                reason: "test data".into()
            }
        );
        assert_eq!((jobs[0].number, jobs[0].head_sha.as_str()), (4, "h"));
        for (action, body, reply_to, user) in [
            ("edited", "/hunkscan ignore x", Some(5), ("alice", "User")),
            ("created", "/hunkscan ignore x", None, ("alice", "User")),
            ("created", "looks fine", Some(5), ("alice", "User")),
            (
                "created",
                "/hunkscan ignore x",
                Some(5),
                ("hunkscan[bot]", "Bot"),
            ),
        ] {
            assert!(
                matches!(
                    route("d", &event(action, body, reply_to, user)),
                    Ok(Delivery::Ignored(_))
                ),
                "{action} {body:?} {reply_to:?} {user:?}"
            );
        }
    }
}
