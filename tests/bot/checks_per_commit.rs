//! One check per commit, honestly: when two open pull requests share a head
//! commit, the `hunkscan` check on it judges both (the worst verdict, each
//! listed); a check-suite re-run for a fork's pull request, which GitHub
//! sends without pull requests, finds its pull request from the external
//! id of the earlier check run and runs. And one problem on one line is one
//! comment, whichever analyzers saw it.

use crate::support::bot::{APP_ID, Harness, INSTALLATION, REPO, WAIT};
use crate::support::github_emulator::{CheckRun, FileSpec, PullSpec};
use serde_json::json;

const VULNERABLE: &str = "import os\n\n\ndef run(cmd):\n    os.system(cmd)\n";

fn completed(h: &Harness, head: &str) -> Vec<CheckRun> {
    h.github
        .check_runs(REPO)
        .into_iter()
        .filter(|c| c.head_sha == head && c.status == "completed")
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_pull_requests_with_one_head_share_one_honest_check() {
    let h = Harness::start().await;
    // The same head commit: #1 targets a branch that already has the call
    // (nothing new), #2 targets main, where the call is new.
    h.github.put_pull_request(
        REPO,
        PullSpec {
            number: 1,
            base_sha: "release1".into(),
            head_sha: "shared01".into(),
            draft: false,
            files: vec![FileSpec::modified(
                "app.py",
                VULNERABLE,
                &format!("{VULNERABLE}\n\nVERSION = 2\n"),
            )],
        },
    );
    h.github.put_pull_request(
        REPO,
        PullSpec {
            number: 2,
            base_sha: "main0001".into(),
            head_sha: "shared01".into(),
            draft: false,
            files: vec![FileSpec::modified(
                "app.py",
                "import os\n",
                &format!("{VULNERABLE}\n\nVERSION = 2\n"),
            )],
        },
    );
    // #1's delivery alone: its job judges #2 as well.
    let event = Harness::pull_request_event("opened", 1, "release1", "shared01", false);
    let (status, _) = h.deliver("pull_request", &event).await;
    assert_eq!(status, 202);
    let check = h.completed_check("shared01").await;
    assert_eq!(
        check.conclusion.as_deref(),
        Some("failure"),
        "the worst verdict of the two wins, whichever job ran"
    );
    let summary = check.output.summary.clone().unwrap_or_default();
    assert!(summary.contains("| Pull request |"), "{summary}");
    for number in [1, 2] {
        assert!(
            summary.contains(&format!("/pull/{number})")),
            "#{number} is listed: {summary}"
        );
    }
    assert_eq!(check.annotations.len(), 1, "#2's finding is annotated");
    assert!(
        h.github.reviews(REPO, 2).is_empty(),
        "#2's review is its own job's to write"
    );

    // #2's own delivery: its review, and the same verdict.
    let event = Harness::pull_request_event("opened", 2, "main0001", "shared01", false);
    let (status, _) = h.deliver("pull_request", &event).await;
    assert_eq!(status, 202);
    let runs = h
        .github
        .wait_for("two completed checks", WAIT, |_| {
            Some(completed(&h, "shared01")).filter(|r| r.len() == 2)
        })
        .await;
    assert!(
        runs.iter()
            .all(|r| r.conclusion.as_deref() == Some("failure")),
        "no job's verdict hides the other pull request: {runs:#?}"
    );
    assert_eq!(h.github.reviews(REPO, 2).len(), 1);
    assert!(h.github.reviews(REPO, 1).is_empty(), "nothing new in #1");
    h.assert_valid_requests();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_suite_rerun_for_a_fork_finds_its_pull_request() {
    let h = Harness::start().await;
    h.open(PullSpec {
        number: 7,
        base_sha: "base0001".into(),
        head_sha: "fork0001".into(),
        draft: false,
        files: vec![FileSpec::modified("app.py", "import os\n", VULNERABLE)],
    })
    .await;
    h.completed_check("fork0001").await;
    // GitHub sends a fork's suite re-run with no pull requests.
    let rerun = json!({
        "action": "rerequested",
        "check_suite": {
            "head_sha": "fork0001", "head_branch": "patch-1",
            "pull_requests": [], "app": { "id": APP_ID },
        },
        "repository": { "full_name": REPO, "html_url": format!("https://github.com/{REPO}") },
        "installation": { "id": INSTALLATION },
    });
    let (status, body) = h.deliver("check_suite", &rerun).await;
    assert_eq!(status, 202, "{body}");
    let runs = h
        .github
        .wait_for("the re-run's completed check", WAIT, |_| {
            Some(completed(&h, "fork0001")).filter(|r| r.len() == 2)
        })
        .await;
    assert_eq!(runs[1].conclusion.as_deref(), Some("failure"));
    assert_eq!(runs[1].external_id.as_deref(), Some("acme/shop#7"));
    assert_eq!(h.github.reviews(REPO, 7).len(), 1, "nothing said twice");
    h.assert_valid_requests();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_in_a_dockerfile_env_is_one_comment_naming_both_rules() {
    let h = Harness::start().await;
    let dockerfile =
        "FROM python:3.12\nENV GITHUB_TOKEN=ghp_R8kZ2nQ7wLx4Vb9TfJ3mHs6Yc1Pd5Ge0Ua2K\nUSER 10001\n";
    let spec = |head: &str, text: &str| PullSpec {
        number: 8,
        base_sha: "base0001".into(),
        head_sha: head.into(),
        draft: false,
        files: vec![FileSpec::added("Dockerfile", text)],
    };
    h.open(spec("dock0001", dockerfile)).await;
    let check = h.completed_check("dock0001").await;
    let comments = h.github.review_comments(REPO, 8);
    assert_eq!(comments.len(), 1, "one problem, one comment: {comments:#?}");
    let body = &comments[0].body;
    assert!(
        body.contains("secrets.github-pat") && body.contains("dockerfile.secret-in-env-or-arg"),
        "{body}"
    );
    assert_eq!(comments[0].line, Some(2));
    assert_eq!(
        check.annotations.len(),
        2,
        "each finding is still annotated"
    );

    // A later push: neither fingerprint is posted again.
    let event = Harness::pull_request_event("synchronize", 8, "base0001", "dock0002", false);
    h.github.put_pull_request(
        REPO,
        spec("dock0002", &format!("{dockerfile}WORKDIR /app\n")),
    );
    let (status, _) = h.deliver("pull_request", &event).await;
    assert_eq!(status, 202);
    h.completed_check("dock0002").await;
    assert_eq!(h.github.review_comments(REPO, 8).len(), 1);
    assert_eq!(h.github.reviews(REPO, 8).len(), 1);
    h.assert_valid_requests();
}
