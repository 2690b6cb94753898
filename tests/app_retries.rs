//! GitHub failing: a job is put back in the store and tried again with a
//! growing delay, and only once it is older than the retry age is its check
//! run completed with the error conclusion, naming the class of failure.

mod support;

use support::bot::{Harness, test_policy};
use support::github_emulator::{Fault, FileSpec, PullSpec};

fn pull(number: u64, head: &str) -> PullSpec {
    PullSpec {
        number,
        base_sha: "base0001".into(),
        head_sha: head.into(),
        draft: false,
        files: vec![FileSpec::added(
            "app.py",
            "import subprocess\n\n\ndef run(cmd):\n    subprocess.run(cmd, shell=True)\n",
        )],
    }
}

async fn counted(h: &Harness, needle: &str) -> bool {
    h.metrics_with(needle).await.contains(needle)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_failures_is_retried_and_the_check_completes_with_the_analysis() {
    let h = Harness::start().await;
    // More 502s than one attempt's own retries: the job goes back to the
    // store at least once, then succeeds.
    h.github.inject(Fault::Status {
        method: "GET",
        path_contains: "/files",
        status: 502,
        times: 7,
    });
    h.open(pull(8, "head0001")).await;
    let check = h.completed_check("head0001").await;
    assert_eq!(check.conclusion.as_deref(), Some("failure"), "{check:#?}");
    assert!(counted(&h, "hunkscan_jobs_total{outcome=\"retried\"}").await);
    let runs = h.github.check_runs(support::bot::REPO);
    assert_eq!(
        runs.len(),
        1,
        "one check run across the attempts: {runs:#?}"
    );
    h.assert_valid_requests();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn github_failing_past_the_retry_age_completes_the_check_with_the_error_conclusion() {
    let h = Harness::start_configured(
        test_policy(),
        true,
        &[("HUNKSCAN_RETRY_MAX_AGE_SECS", "1")],
        std::future::pending(),
    )
    .await;
    h.github.inject(Fault::Status {
        method: "GET",
        path_contains: "/files",
        status: 502,
        times: 10_000,
    });
    h.open(pull(9, "head0002")).await;
    let check = h.completed_check("head0002").await;
    assert_eq!(check.conclusion.as_deref(), Some("neutral"));
    let summary = check.output.summary.unwrap_or_default();
    // The class of failure and an id to find the details by in the log;
    // GitHub's own answer (status, route, body) stays in the log.
    assert!(summary.contains("GitHub was unavailable"), "{summary}");
    assert!(summary.contains("error id `"), "{summary}");
    assert!(summary.contains("re-run"), "{summary}");
    assert!(!summary.contains("502"), "{summary}");
    assert!(!summary.contains("/files"), "{summary}");
    assert!(counted(&h, "hunkscan_jobs_total{outcome=\"failed\"} 1").await);
    assert!(counted(&h, "hunkscan_jobs_total{outcome=\"retried\"}").await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_run_creation_failing_for_a_while_is_retried_not_abandoned() {
    let h = Harness::start().await;
    // Every attempt's own retries fail, several attempts in a row: the job
    // goes back to the store each time instead of being abandoned.
    h.github.inject(Fault::Status {
        method: "POST",
        path_contains: "/check-runs",
        status: 500,
        times: 12,
    });
    h.open(pull(10, "head0003")).await;
    let check = h.completed_check("head0003").await;
    assert_eq!(
        check.conclusion.as_deref(),
        Some("failure"),
        "analysed: {check:#?}"
    );
    assert_eq!(
        h.github.check_runs(support::bot::REPO).len(),
        1,
        "one check run in the end"
    );
    assert!(counted(&h, "hunkscan_jobs_total{outcome=\"retried\"}").await);
    assert!(!h.metrics().await.contains("outcome=\"abandoned\""));
    h.assert_valid_requests();
}
