//! Merge queues: a `merge_group` delivery in GitHub's own shape (the
//! octokit example in ../shared, signed) ends with exactly one completed
//! `hunkscan` check on the merge group's head commit, judged like a pull
//! request, with annotations and no review; `destroyed` does nothing.

use crate::support::bot::{Harness, INSTALLATION, REPO};
use crate::support::github_emulator::{FileSpec, MergeGroupSpec};
use serde_json::{Value, json};
use std::path::PathBuf;

const BASE: &str = "1111111111111111111111111111111111111111";
const HEAD: &str = "2222222222222222222222222222222222222222";
const APP_PY_BASE: &str = "import os\n";
const APP_PY_HEAD: &str = "import os\n\n\ndef run(cmd):\n    os.system(cmd)\n";

/// GitHub's example `merge_group.checks_requested` payload, aimed at the
/// test repository and commits; `None` (and a note) without ../shared.
fn example(action: &str) -> Option<Value> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(
        "../shared/github/webhooks/payload-examples/api.github.com/merge_group/checks_requested.payload.json",
    );
    let Ok(text) = std::fs::read_to_string(&path) else {
        eprintln!(
            "SKIPPED: {} is absent (a clone without ../shared); the merge queue tests need GitHub's real payload",
            path.display()
        );
        return None;
    };
    let mut payload: Value = serde_json::from_str(&text).expect("the example is JSON");
    payload["action"] = json!(action);
    payload["merge_group"]["base_sha"] = json!(BASE);
    payload["merge_group"]["head_sha"] = json!(HEAD);
    payload["repository"]["full_name"] = json!(REPO);
    payload["repository"]["html_url"] = json!(format!("https://github.com/{REPO}"));
    payload["installation"]["id"] = json!(INSTALLATION);
    Some(payload)
}

fn merge_group(head: &str) -> MergeGroupSpec {
    MergeGroupSpec {
        base_sha: BASE.into(),
        head_sha: HEAD.into(),
        files: vec![
            FileSpec::modified("app.py", APP_PY_BASE, head),
            FileSpec::modified("README.md", "# shop\n", "# shop\n\nQueued.\n"),
        ],
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_merge_group_gets_exactly_one_completed_check_on_its_head() {
    let Some(payload) = example("checks_requested") else {
        return;
    };
    let h = Harness::start().await;
    h.github.put_merge_group(REPO, merge_group(APP_PY_HEAD));
    let (status, body) = h.deliver("merge_group", &payload).await;
    assert_eq!(status, 202, "{body}");
    let check = h.completed_check(HEAD).await;
    assert_eq!(check.name, "hunkscan");
    assert_eq!(
        check.conclusion.as_deref(),
        Some("failure"),
        "os.system with a variable command is high: the same gate as a pull request"
    );
    assert_eq!(
        check.external_id.as_deref(),
        Some(format!("{REPO}@{BASE}").as_str())
    );
    assert_eq!(check.annotations.len(), 1, "{:#?}", check.annotations);
    assert_eq!(check.annotations[0].path, "app.py");
    let summary = check.output.summary.clone().unwrap_or_default();
    assert!(summary.contains("python.os-system"), "{summary}");
    // Give a stray second job the time to show itself.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let runs = h.github.check_runs(REPO);
    assert_eq!(runs.len(), 1, "exactly one check run: {runs:#?}");
    assert_eq!(runs[0].head_sha, HEAD);
    let compares = h
        .github
        .requests()
        .iter()
        .filter(|r| r.path.contains("/compare/"))
        .count();
    assert_eq!(compares, 1, "one comparison: {:#?}", h.paths());
    assert!(
        h.github
            .requests()
            .iter()
            .all(|r| !r.path.contains("/pulls/")),
        "no pull request is read or reviewed: {:#?}",
        h.paths()
    );
    assert!(
        h.github.response_violations().is_empty(),
        "the emulator's comparison matches GitHub's schema: {:#?}",
        h.github.response_violations()
    );
    h.assert_valid_requests();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clean_merge_group_passes_and_a_destroyed_one_does_nothing() {
    let (Some(requested), Some(destroyed)) = (example("checks_requested"), example("destroyed"))
    else {
        return;
    };
    let h = Harness::start().await;
    let (status, _) = h.deliver("merge_group", &destroyed).await;
    assert_eq!(status, 202);
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert!(h.github.check_runs(REPO).is_empty());
    assert_eq!(
        h.installation_calls(),
        0,
        "destroyed calls nothing: {:#?}",
        h.paths()
    );

    h.github
        .put_merge_group(REPO, merge_group("import os\n\nSAFE = True\n"));
    let (status, _) = h.deliver("merge_group", &requested).await;
    assert_eq!(status, 202);
    let check = h.completed_check(HEAD).await;
    assert_eq!(check.conclusion.as_deref(), Some("success"));
    assert!(check.annotations.is_empty());
    h.assert_valid_requests();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rerequested_suite_of_a_merge_group_runs_again_from_the_external_id() {
    let Some(payload) = example("checks_requested") else {
        return;
    };
    let h = Harness::start().await;
    h.github.put_merge_group(REPO, merge_group(APP_PY_HEAD));
    let (status, _) = h.deliver("merge_group", &payload).await;
    assert_eq!(status, 202);
    h.completed_check(HEAD).await;
    // GitHub's re-run of the suite names no pull request for a merge group.
    let rerun = json!({
        "action": "rerequested",
        "check_suite": { "head_sha": HEAD, "pull_requests": [], "app": { "id": crate::support::bot::APP_ID } },
        "repository": { "full_name": REPO, "html_url": format!("https://github.com/{REPO}") },
        "installation": { "id": INSTALLATION },
    });
    let (status, _) = h.deliver("check_suite", &rerun).await;
    assert_eq!(status, 202);
    h.github
        .wait_for(
            "a second completed check run",
            crate::support::bot::WAIT,
            |gh| {
                let runs = gh.check_runs(REPO);
                (runs.len() == 2 && runs.iter().all(|r| r.status == "completed")).then_some(runs)
            },
        )
        .await;
    let runs = h.github.check_runs(REPO);
    assert!(
        runs.iter()
            .all(|r| r.conclusion.as_deref() == Some("failure")),
        "{runs:#?}"
    );
    h.assert_valid_requests();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn merge_groups_queued_together_each_get_their_own_verdict() {
    let Some(first) = example("checks_requested") else {
        return;
    };
    let h = Harness::start().await;
    // A queue of two: the first group has the vulnerable call, the second
    // (the first plus another pull request) has it too.
    const SECOND: &str = "3333333333333333333333333333333333333333";
    h.github.put_merge_group(REPO, merge_group(APP_PY_HEAD));
    let mut second_group = merge_group(APP_PY_HEAD);
    second_group.head_sha = SECOND.into();
    h.github.put_merge_group(REPO, second_group);
    let mut second = first.clone();
    second["merge_group"]["head_sha"] = json!(SECOND);
    for payload in [&first, &second] {
        let (status, body) = h.deliver("merge_group", payload).await;
        assert_eq!(status, 202, "{body}");
    }
    for head in [HEAD, SECOND] {
        let check = h.completed_check(head).await;
        assert_eq!(
            check.conclusion.as_deref(),
            Some("failure"),
            "one group never supersedes another (a neutral would pass): {check:#?}"
        );
    }
    h.assert_valid_requests();
}
