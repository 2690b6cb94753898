//! Triage by reply, end to end: a writer's `/hunkscan false-positive …` on
//! the bot's comment dismisses the finding (reply, thread resolved, check
//! re-gated without re-analysing, the dismissal in the summary) within three
//! requests, and the dismissal holds across a later push; a reader is
//! refused, an unknown command gets help, and `triage: false` switches it
//! off.

use crate::support::bot::{Harness, INSTALLATION, REPO, WAIT};
use crate::support::github_emulator::{CheckRun, FileSpec, PullSpec, ReviewComment};
use serde_json::{Value, json};

const BASE: &str = "import os\n";
const HEAD: &str = "import os\n\n\ndef run(cmd):\n    os.system(cmd)\n";

fn pull(number: u64, head_sha: &str, head: &str) -> PullSpec {
    PullSpec {
        number,
        base_sha: "base0001".into(),
        head_sha: head_sha.into(),
        draft: false,
        files: vec![FileSpec::modified("app.py", BASE, head)],
    }
}

/// `pull_request_review_comment.created` for a reply, as GitHub sends it
/// (the fields the bot reads and a few around them).
fn reply_event(number: u64, head: &str, comment: &ReviewComment) -> Value {
    json!({
        "action": "created",
        "comment": {
            "id": comment.id,
            "body": comment.body,
            "in_reply_to_id": comment.in_reply_to,
            "path": comment.path,
            "user": { "login": comment.author, "type": "User" },
            "author_association": "MEMBER",
        },
        "pull_request": {
            "number": number, "state": "open",
            "head": { "sha": head }, "base": { "sha": "base0001" },
        },
        "repository": { "full_name": REPO, "html_url": format!("https://github.com/{REPO}") },
        "installation": { "id": INSTALLATION },
    })
}

/// The bot's comment on the finding (the first of its thread).
fn finding_comment(h: &Harness, number: u64) -> ReviewComment {
    h.github
        .review_comments(REPO, number)
        .into_iter()
        .find(|c| c.author == "hunkscan[bot]" && c.in_reply_to.is_none())
        .expect("the bot commented on the finding")
}

/// Replies `body` as `author` and waits for the bot's answer in the thread;
/// answers it and the installation calls the command cost.
async fn command(
    h: &Harness,
    number: u64,
    head: &str,
    author: &str,
    body: &str,
) -> (ReviewComment, usize) {
    let target = finding_comment(h, number);
    let id = h.github.add_reply(REPO, number, author, target.id, body);
    let reply = h
        .github
        .review_comments(REPO, number)
        .into_iter()
        .find(|c| c.id == id)
        .expect("the reply");
    let answers_before = bot_answers(h, number).len();
    let calls_before = h.installation_calls();
    let (status, answer) = h
        .deliver(
            "pull_request_review_comment",
            &reply_event(number, head, &reply),
        )
        .await;
    assert_eq!(status, 202, "{answer}");
    let answer = h
        .github
        .wait_for("the bot's answer in the thread", WAIT, |_| {
            let answers = bot_answers(h, number);
            (answers.len() > answers_before).then(|| answers[answers_before].clone())
        })
        .await;
    assert_eq!(
        answer.in_reply_to,
        Some(target.id),
        "answered in the thread"
    );
    (answer, h.installation_calls() - calls_before)
}

fn bot_answers(h: &Harness, number: u64) -> Vec<ReviewComment> {
    h.github
        .review_comments(REPO, number)
        .into_iter()
        .filter(|c| c.author == "hunkscan[bot]" && c.in_reply_to.is_some())
        .collect()
}

fn latest_check(h: &Harness, head: &str) -> CheckRun {
    h.github
        .check_runs(REPO)
        .into_iter()
        .rfind(|c| c.head_sha == head)
        .expect("a check run")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_writer_dismisses_a_finding_and_the_dismissal_survives_a_push() {
    let h = Harness::start().await;
    h.open(pull(1, "head0001", HEAD)).await;
    let check = h.completed_check("head0001").await;
    assert_eq!(check.conclusion.as_deref(), Some("failure"));
    h.github.set_permission(REPO, "alice", "write");

    let (answer, calls) = command(
        &h,
        1,
        "head0001",
        "alice",
        "/hunkscan false-positive cmd is a constant from @ops",
    )
    .await;
    assert!(
        calls <= 3,
        "a command costs at most three requests, not {calls}: {:#?}",
        h.paths()
    );
    assert!(answer.body.contains("Dismissed"), "{}", answer.body);
    assert!(!answer.body.contains("@ops"), "no mention: {}", answer.body);
    let thread = finding_comment(&h, 1);
    assert!(thread.resolved, "the thread is resolved");
    let check = latest_check(&h, "head0001");
    assert_eq!(h.github.check_runs(REPO).len(), 1, "no re-analysis");
    assert_eq!(
        check.conclusion.as_deref(),
        Some("success"),
        "re-gated without the finding"
    );
    let summary = check.output.summary.clone().unwrap_or_default();
    assert!(summary.contains("### Dismissed in review"), "{summary}");
    assert!(summary.contains("alice"), "who: {summary}");
    assert!(
        summary.contains("/hunkscan false-positive"),
        "which: {summary}"
    );
    assert!(summary.contains("cmd is a constant"), "why: {summary}");
    assert!(summary.contains("The check passes"), "{summary}");
    assert!(
        check
            .output
            .title
            .unwrap_or_default()
            .ends_with(", 1 dismissed"),
        "the title counts it"
    );

    // A later push that leaves the finding where it is.
    let pushed = format!("{HEAD}\n\nVERSION = 2\n");
    h.github
        .put_pull_request(REPO, pull(1, "head0002", &pushed));
    let event = Harness::pull_request_event("synchronize", 1, "base0001", "head0002", false);
    let (status, _) = h.deliver("pull_request", &event).await;
    assert_eq!(status, 202);
    let check = h.completed_check("head0002").await;
    assert_eq!(
        check.conclusion.as_deref(),
        Some("success"),
        "the dismissal follows the finding's identity"
    );
    let summary = check.output.summary.unwrap_or_default();
    assert!(summary.contains("### Dismissed in review"), "{summary}");
    assert!(summary.contains("alice"), "{summary}");
    let ours: Vec<_> = h
        .github
        .review_comments(REPO, 1)
        .into_iter()
        .filter(|c| c.author == "hunkscan[bot]" && c.in_reply_to.is_none())
        .collect();
    assert_eq!(
        ours.len(),
        1,
        "the dismissed finding is not commented again"
    );
    assert!(ours[0].resolved, "and its thread stays resolved");
    assert!(check.annotations.is_empty(), "nor annotated");
    h.assert_valid_requests();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reader_is_refused_and_nothing_changes() {
    let h = Harness::start().await;
    h.open(pull(2, "head0001", HEAD)).await;
    h.completed_check("head0001").await;
    h.github.set_permission(REPO, "bob", "read");
    let (answer, calls) =
        command(&h, 2, "head0001", "bob", "/hunkscan accept-risk it is fine").await;
    assert!(calls <= 3, "{calls}");
    assert!(answer.body.contains("write access"), "{}", answer.body);
    assert!(!answer.body.contains("hunkscan:dismissed"), "no record");
    assert!(!finding_comment(&h, 2).resolved);
    let check = latest_check(&h, "head0001");
    assert_eq!(check.conclusion.as_deref(), Some("failure"));
    assert!(
        !check
            .output
            .summary
            .unwrap_or_default()
            .contains("Dismissed in review")
    );

    // Someone who is no collaborator at all (404) is refused alike.
    let (answer, _) = command(&h, 2, "head0001", "mallory", "/hunkscan ignore x").await;
    assert!(answer.body.contains("write access"), "{}", answer.body);
    assert!(!finding_comment(&h, 2).resolved);
    h.assert_valid_requests();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_command_gets_help_and_triage_can_be_switched_off() {
    let h = Harness::start().await;
    h.open(pull(3, "head0001", HEAD)).await;
    h.completed_check("head0001").await;
    h.github.set_permission(REPO, "alice", "admin");
    let (answer, calls) = command(&h, 3, "head0001", "alice", "/hunkscan wontfix later").await;
    assert!(calls <= 2, "help needs no permission check: {calls}");
    assert!(answer.body.contains("wontfix"), "{}", answer.body);
    for verb in ["ignore", "false-positive", "accept-risk"] {
        assert!(answer.body.contains(verb), "{}", answer.body);
    }
    assert!(!finding_comment(&h, 3).resolved);
    assert_eq!(
        latest_check(&h, "head0001").conclusion.as_deref(),
        Some("failure")
    );
    // A command without its reason is answered with help too.
    let (answer, _) = command(&h, 3, "head0001", "alice", "/hunkscan ignore").await;
    assert!(answer.body.contains("without a reason"), "{}", answer.body);

    // The repository switches triage off on its base branch.
    h.github
        .put_file(REPO, "base0001", ".github/hunkscan.yml", "triage: false\n");
    let (answer, _) = command(&h, 3, "head0001", "alice", "/hunkscan ignore test code").await;
    assert!(answer.body.contains("switched off"), "{}", answer.body);
    assert!(!finding_comment(&h, 3).resolved);
    assert_eq!(
        latest_check(&h, "head0001").conclusion.as_deref(),
        Some("failure")
    );
    h.assert_valid_requests();
}

/// Every example payload of `pull_request_review_comment` (octokit/webhooks,
/// in ../shared) is accepted when delivered signed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_example_review_comment_payload_is_accepted() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(
        "../shared/github/webhooks/payload-examples/api.github.com/pull_request_review_comment",
    );
    let Ok(entries) = std::fs::read_dir(&root) else {
        eprintln!(
            "SKIPPED: {} is absent (a clone without ../shared); CI has it",
            root.display()
        );
        return;
    };
    let h = Harness::start().await;
    let mut delivered = 0;
    for path in entries.filter_map(Result::ok).map(|e| e.path()) {
        let body = std::fs::read(&path).expect("example");
        let (status, answer) = h
            .deliver_raw(
                "pull_request_review_comment",
                &format!("example-{delivered}"),
                body,
                true,
            )
            .await;
        assert_eq!(status, 202, "{}: {answer}", path.display());
        delivered += 1;
    }
    assert!(delivered >= 3, "only {delivered} examples");
}
