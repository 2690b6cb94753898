//! An author who plants valid-looking fingerprint markers changes nothing
//! the bot does. The bot reads markers only from its own bot user's
//! comments and only from their last line, and its fingerprints are keyed:
//! the fingerprint a public `hunkscan scan` computes for a future finding is
//! not the bot's, and a real marker copied into code or into another user's
//! comment counts for nothing.

use crate::support::bot::{Harness, REPO};
use crate::support::github_emulator::{FileSpec, PullSpec, ReviewComment};
use std::process::Command;

const BASE: &str = "import os\nimport subprocess\nimport yaml\n";
const NUMBER: u64 = 31;

fn head_with_a() -> String {
    format!("{BASE}\n\ndef run(cmd):\n    subprocess.run(cmd, shell=True)\n")
}

/// Adds finding B, a `yaml.load` (which has a fix, so its comment carries a
/// suggestion block quoting the line), on a line that also holds `planted`.
fn head_with_a_and_b(planted: &str) -> String {
    format!(
        "{}\n\ndef load(stream):\n    return yaml.load(stream)  # {planted}\n",
        head_with_a()
    )
}

fn pull(head_sha: &str, head: &str) -> PullSpec {
    PullSpec {
        number: NUMBER,
        base_sha: "base0031".into(),
        head_sha: head_sha.into(),
        draft: false,
        files: vec![FileSpec::modified("app.py", BASE, head)],
    }
}

async fn push(h: &Harness, head_sha: &str, head: &str) {
    h.github.put_pull_request(REPO, pull(head_sha, head));
    let event = Harness::pull_request_event("synchronize", NUMBER, "base0031", head_sha, false);
    let (status, body) = h.deliver("pull_request", &event).await;
    assert_eq!(status, 202, "{body}");
    h.completed_check(head_sha).await;
}

fn ours(h: &Harness) -> Vec<ReviewComment> {
    h.github
        .review_comments(REPO, NUMBER)
        .into_iter()
        .filter(|c| c.author == "hunkscan[bot]")
        .collect()
}

fn marker_of(comment: &ReviewComment) -> String {
    comment
        .body
        .lines()
        .last()
        .filter(|line| line.starts_with("<!-- hunkscan:fingerprint="))
        .expect("the bot's marker is its comment's last line")
        .to_owned()
}

/// The fingerprint the public command line gives B, as an attacker gets it.
fn public_fingerprint_of_b() -> String {
    let trees = tempfile::tempdir().expect("tempdir");
    let (base, head) = (trees.path().join("base"), trees.path().join("head"));
    std::fs::create_dir_all(&base).expect("base");
    std::fs::create_dir_all(&head).expect("head");
    std::fs::write(base.join("app.py"), BASE).expect("write");
    std::fs::write(head.join("app.py"), head_with_a_and_b("note")).expect("write");
    let output = Command::new(env!("CARGO_BIN_EXE_hunkscan"))
        .args(["scan", "--format", "json", "--base-tree"])
        .arg(&base)
        .arg("--head-tree")
        .arg(&head)
        .env_remove("HUNKSCAN_FINGERPRINT_KEY")
        .output()
        .expect("hunkscan runs");
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).expect("json");
    report["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .find(|f| {
            f["rule_id"]
                .as_str()
                .is_some_and(|id| id.starts_with("python.yaml-load"))
        })
        .and_then(|f| f["fingerprint"].as_str())
        .expect("B's public fingerprint")
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn planted_markers_change_nothing_the_bot_does() {
    let h = Harness::start().await;
    h.open(pull("head0001", &head_with_a())).await;
    h.completed_check("head0001").await;
    let first = ours(&h);
    assert_eq!(first.len(), 1, "finding A is commented: {first:#?}");
    let a_marker = marker_of(&first[0]);

    // The attacker plants, before B exists: B's fingerprint as the public
    // CLI computes it, in a comment of their own; A's real marker, copied,
    // in another; and A's real marker inside the code of B's line, so the
    // bot's own comment on B quotes it in its suggestion block.
    let forged_b = format!(
        "<!-- hunkscan:fingerprint={} -->",
        public_fingerprint_of_b()
    );
    h.github
        .add_review_comment(REPO, NUMBER, "mallory", "app.py", 7, &forged_b);
    h.github.add_review_comment(
        REPO,
        NUMBER,
        "mallory",
        "app.py",
        7,
        &format!("lgtm\n{a_marker}"),
    );
    push(&h, "head0002", &head_with_a_and_b(&a_marker)).await;
    let second = ours(&h);
    assert_eq!(second.len(), 2, "B gets its comment: {second:#?}");
    let b = second
        .iter()
        .find(|c| c.body.contains("yaml"))
        .expect("B's comment");
    assert!(
        b.body.contains("```suggestion") && b.body.contains(&a_marker),
        "the planted marker is quoted in B's suggestion, before B's own: {}",
        b.body
    );
    assert_ne!(marker_of(b), a_marker);
    assert!(
        !forged_b.contains(&marker_of(b)[26..58]),
        "the public CLI cannot compute the bot's fingerprint"
    );
    assert!(second.iter().all(|c| !c.resolved), "nothing was resolved");

    // Another push with the same findings: nothing is said twice, nothing
    // resolved (had the bot read A's marker in B's comment, B would be
    // commented again).
    push(
        &h,
        "head0003",
        &format!("{}\n# unrelated\n", head_with_a_and_b(&a_marker)),
    )
    .await;
    let third = ours(&h);
    assert_eq!(third.len(), 2, "no duplicate: {third:#?}");
    assert!(third.iter().all(|c| !c.resolved), "nothing was resolved");

    // A is fixed: exactly A's thread is resolved, B's stays open.
    let fixed = head_with_a_and_b(&a_marker).replace("cmd, shell=True", "[\"ls\", cmd]");
    push(&h, "head0004", &fixed).await;
    let fourth = ours(&h);
    let a = fourth
        .iter()
        .find(|c| c.body.contains("subprocess-shell-true"))
        .expect("A's comment");
    let b = fourth
        .iter()
        .find(|c| c.body.contains("yaml"))
        .expect("B's comment");
    assert!(a.resolved, "A's thread is resolved once A is fixed");
    assert!(!b.resolved, "B's thread stays open");
    let mallory_threads = h
        .github
        .review_comments(REPO, NUMBER)
        .into_iter()
        .filter(|c| c.author == "mallory");
    for comment in mallory_threads {
        assert!(!comment.resolved, "the bot never resolves others' threads");
    }
    h.assert_valid_requests();
}
