//! Stable identities, end to end: a finding's identity is its rule, code and
//! enclosing scope, never its position or an occurrence count, and the bot
//! matches its comments to findings by where the comments are. An identical
//! pattern inserted above a commented finding gets one new comment and moves
//! none; code moved within its file keeps its comment; a fixed finding that
//! comes back reopens its thread (or gets a fresh comment when the old one
//! is outdated); a thread a person resolved stays resolved.

use crate::support::bot::{Harness, REPO};
use crate::support::github_emulator::{FileSpec, PullSpec, ReviewComment};

const BASE: &str = "import os\n";
const ONE: &str = "import os\n\n\ndef run(cmd):\n    os.system(cmd)\n";
const RULE: &str = "python.os-system-non-literal";

fn pull(number: u64, head_sha: &str, head: &str) -> PullSpec {
    PullSpec {
        number,
        base_sha: "base0001".into(),
        head_sha: head_sha.into(),
        draft: false,
        files: vec![FileSpec::modified("app.py", BASE, head)],
    }
}

async fn push(h: &Harness, number: u64, head_sha: &str, head: &str) {
    h.github
        .put_pull_request(REPO, pull(number, head_sha, head));
    let event = Harness::pull_request_event("synchronize", number, "base0001", head_sha, false);
    let (status, body) = h.deliver("pull_request", &event).await;
    assert_eq!(status, 202, "{body}");
    h.completed_check(head_sha).await;
}

/// The bot's comments on findings (not its replies), oldest first.
fn ours(h: &Harness, number: u64) -> Vec<ReviewComment> {
    h.github
        .review_comments(REPO, number)
        .into_iter()
        .filter(|c| c.author == "hunkscan[bot]" && c.in_reply_to.is_none())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_identical_pattern_inserted_above_gets_one_new_comment_and_moves_none() {
    let h = Harness::start().await;
    h.open(pull(1, "head0001", ONE)).await;
    h.completed_check("head0001").await;
    let first = ours(&h, 1);
    assert_eq!(first.len(), 1);
    assert!(first[0].body.contains(RULE), "{}", first[0].body);

    // The same call, in the same function, above the commented one.
    let twice =
        "import os\n\n\ndef run(cmd):\n    os.system(cmd)\n    print(cmd)\n    os.system(cmd)\n";
    push(&h, 1, "head0002", twice).await;
    let now = ours(&h, 1);
    assert_eq!(now.len(), 2, "exactly one new comment: {now:#?}");
    let old = &now[0];
    assert_eq!(old.id, first[0].id);
    assert!(
        old.line.is_some() && !old.resolved,
        "the old one stays: {old:#?}"
    );
    assert!(!now[1].resolved);
    assert_ne!(now[1].line, old.line, "the new one is on the other call");
    assert_eq!(h.github.reviews(REPO, 1).len(), 2);
    h.assert_valid_requests();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn code_moved_within_its_file_keeps_its_comment() {
    let h = Harness::start().await;
    let before =
        "import os\n\n\ndef run(cmd):\n    os.system(cmd)\n\n\ndef other():\n    return 1\n";
    h.open(pull(2, "head0001", before)).await;
    h.completed_check("head0001").await;
    assert_eq!(ours(&h, 2).len(), 1);

    let after =
        "import os\n\n\ndef other():\n    return 1\n\n\ndef run(cmd):\n    os.system(cmd)\n";
    push(&h, 2, "head0002", after).await;
    let now = ours(&h, 2);
    assert_eq!(now.len(), 1, "no second comment: {now:#?}");
    assert!(!now[0].resolved, "nor a resolved thread");
    assert_eq!(h.github.reviews(REPO, 2).len(), 1);
    let check = h.completed_check("head0002").await;
    assert!(
        check
            .output
            .summary
            .unwrap_or_default()
            .contains("1 already commented earlier")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_finding_fixed_then_reintroduced_reopens_its_thread() {
    let h = Harness::start().await;
    h.open(pull(3, "head0001", ONE)).await;
    h.completed_check("head0001").await;
    let comment = ours(&h, 3).remove(0);

    // Suppressed on the line above: the finding is gone, its thread resolved.
    let suppressed = format!(
        "import os\n\n\ndef run(cmd):\n    # hunkscan:ignore {RULE} -- reviewed\n    os.system(cmd)\n"
    );
    push(&h, 3, "head0002", &suppressed).await;
    let now = ours(&h, 3);
    assert_eq!(now.len(), 1);
    assert!(now[0].resolved, "resolved when the finding went");
    assert_eq!(now[0].resolved_by.as_deref(), Some("hunkscan[bot]"));
    assert_eq!(now[0].line, Some(6), "GitHub moved it with its line");

    // The marker goes again: the same finding is back on the same line.
    push(&h, 3, "head0003", ONE).await;
    let now = ours(&h, 3);
    assert_eq!(now.len(), 1, "no duplicate: {now:#?}");
    assert_eq!(now[0].id, comment.id);
    assert!(!now[0].resolved, "its thread is reopened, not left silent");
    let check = h.completed_check("head0003").await;
    assert_eq!(check.conclusion.as_deref(), Some("failure"));
    assert!(
        check
            .output
            .summary
            .unwrap_or_default()
            .contains("1 thread of reintroduced findings reopened")
    );
    h.assert_valid_requests();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_finding_back_on_an_outdated_thread_gets_a_fresh_comment() {
    let h = Harness::start().await;
    h.open(pull(4, "head0001", ONE)).await;
    h.completed_check("head0001").await;
    let comment = ours(&h, 4).remove(0);

    // Fixed by changing the line: the comment is outdated and resolved.
    let fixed = "import os\n\n\ndef run(cmd):\n    print(cmd)\n";
    push(&h, 4, "head0002", fixed).await;
    let now = ours(&h, 4);
    assert!(now[0].resolved && now[0].line.is_none(), "{now:#?}");

    push(&h, 4, "head0003", ONE).await;
    let now = ours(&h, 4);
    assert_eq!(now.len(), 2, "a fresh comment on the line: {now:#?}");
    assert_eq!(now[0].id, comment.id);
    assert!(now[0].resolved, "the old outdated thread stays resolved");
    assert_eq!((now[1].line, now[1].resolved), (Some(5), false));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thread_a_person_resolved_stays_resolved() {
    let h = Harness::start().await;
    h.open(pull(5, "head0001", ONE)).await;
    h.completed_check("head0001").await;
    let comment = ours(&h, 5).remove(0);
    h.github.resolve_thread_as(REPO, 5, comment.id, "alice");

    push(&h, 5, "head0002", &format!("{ONE}\n\nVERSION = 2\n")).await;
    let now = ours(&h, 5);
    assert_eq!(now.len(), 1, "{now:#?}");
    assert!(now[0].resolved, "a person's resolution is theirs");
    assert_eq!(now[0].resolved_by.as_deref(), Some("alice"));
}
