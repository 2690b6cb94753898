//! GitHub failing: a job is put back in the store and tried again with a
//! growing delay, and only once it is older than the retry age is its check
//! run completed with the error conclusion, naming the class of failure.

use crate::support::bot::{Harness, test_policy};
use crate::support::github_emulator::{Fault, FileSpec, PullSpec};
use std::time::{Duration, Instant};

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
    let runs = h.github.check_runs(crate::support::bot::REPO);
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
        h.github.check_runs(crate::support::bot::REPO).len(),
        1,
        "one check run in the end"
    );
    assert!(counted(&h, "hunkscan_jobs_total{outcome=\"retried\"}").await);
    assert!(!h.metrics().await.contains("outcome=\"abandoned\""));
    h.assert_valid_requests();
}

/// The most content-creating requests `installation`'s repository got in
/// any `window`, as the emulator saw them arrive.
fn busiest_window(h: &Harness, repo: &str, window: Duration) -> usize {
    let prefix = format!("/repos/{repo}/");
    let arrivals: Vec<Instant> = h
        .github
        .requests()
        .into_iter()
        .filter(|r| r.method != "GET" && r.path.starts_with(&prefix))
        .map(|r| r.at)
        .collect();
    arrivals
        .iter()
        .map(|start| {
            arrivals
                .iter()
                .filter(|at| **at >= *start && at.duration_since(*start) < window)
                .count()
        })
        .max()
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn under_bursts_of_failures_every_pull_request_completes_at_the_content_pace() {
    // 8 content-creating calls per 2 s stands for GitHub's 80 a minute; the
    // emulator refuses what goes over, as GitHub does.
    let window = Duration::from_secs(2);
    let h = Harness::start_configured(
        test_policy(),
        true,
        &[
            ("HUNKSCAN_CONTENT_CALLS", "8"),
            ("HUNKSCAN_CONTENT_WINDOW_MS", "2000"),
        ],
        std::future::pending(),
    )
    .await;
    h.github.limit_content_creation(8, window);
    h.github.inject(Fault::Status {
        method: "GET",
        path_contains: "/files",
        status: 500,
        times: 5,
    });
    h.github.inject(Fault::Timeout {
        method: "GET",
        path_contains: "/pulls/",
        delay: Duration::from_millis(900),
        times: 2,
    });
    h.github.inject(Fault::RateLimit {
        method: "POST",
        path_contains: "/reviews",
        retry_after_secs: 1,
        times: 2,
    });
    h.github.inject(Fault::Status {
        method: "POST",
        path_contains: "/check-runs",
        status: 502,
        times: 6,
    });
    let heads: Vec<String> = (1..=6).map(|n| format!("stress{n:04}")).collect();
    for (n, head) in (1..).zip(&heads) {
        h.open(pull(100 + n, head)).await;
    }
    for head in &heads {
        let check = h.completed_check(head).await;
        assert_eq!(check.conclusion.as_deref(), Some("failure"), "{check:#?}");
    }
    let runs = h.github.check_runs(crate::support::bot::REPO);
    assert_eq!(runs.len(), heads.len(), "one check run per head: {runs:#?}");
    for n in 101..=106 {
        let reviews = h.github.reviews(crate::support::bot::REPO, n);
        assert_eq!(reviews.len(), 1, "one review on #{n}: {reviews:#?}");
    }
    assert_eq!(
        h.github.content_limit_refusals(),
        0,
        "the bot went over GitHub's content-creation limit"
    );
    let busiest = busiest_window(&h, crate::support::bot::REPO, window);
    assert!(
        busiest <= 8,
        "{busiest} content-creating calls in one window"
    );
    assert!(counted(&h, "hunkscan_github_waits_total{reason=\"paced\"}").await);
    h.assert_valid_requests();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rate_limit_pauses_only_the_installation_that_hit_it() {
    const OTHER_INSTALLATION: u64 = 78;
    const OTHER_REPO: &str = "acme/admin";
    const RESET: Duration = Duration::from_secs(4);
    let h = Harness::start().await;
    h.github.add_installation(OTHER_INSTALLATION, OTHER_REPO);
    h.github.inject(Fault::RateLimit {
        method: "POST",
        path_contains: "/repos/acme/shop/check-runs",
        retry_after_secs: RESET.as_secs(),
        times: 1,
    });
    h.open(pull(11, "limited1")).await;
    let limited_at = h
        .github
        .wait_for("the rate limit answered", crate::support::bot::WAIT, |gh| {
            gh.requests()
                .into_iter()
                .find(|r| r.status == 403 && r.path.contains("/repos/acme/shop/"))
                .map(|r| r.at)
        })
        .await;

    // The other installation's pull request, delivered during the pause.
    let other = pull(12, "free0001");
    h.github.put_pull_request(OTHER_REPO, other.clone());
    let mut event = Harness::pull_request_event("opened", 12, &other.base_sha, "free0001", false);
    event["repository"]["full_name"] = OTHER_REPO.into();
    event["installation"]["id"] = OTHER_INSTALLATION.into();
    let (status, body) = h.deliver("pull_request", &event).await;
    assert_eq!(status, 202, "{body}");
    let other_done = h
        .github
        .wait_for(
            "the other installation's check",
            crate::support::bot::WAIT,
            |gh| {
                gh.check_runs(OTHER_REPO)
                    .into_iter()
                    .find(|c| c.status == "completed")
            },
        )
        .await;
    assert_eq!(other_done.conclusion.as_deref(), Some("failure"));
    let other_finished_at = h
        .github
        .requests()
        .into_iter()
        .filter(|r| r.path.starts_with("/repos/acme/admin/"))
        .map(|r| r.at)
        .max()
        .expect("requests of the other installation");
    assert!(
        other_finished_at.duration_since(limited_at) < RESET,
        "the other installation waited for a limit that was not its own"
    );

    let check = h.completed_check("limited1").await;
    assert_eq!(check.conclusion.as_deref(), Some("failure"), "{check:#?}");
    // Nothing of the limited installation reached GitHub before the reset
    // (token fetches are the app's own calls, not the installation's).
    let early: Vec<String> = h
        .github
        .requests()
        .into_iter()
        .filter(|r| r.path.starts_with("/repos/acme/shop/") && r.at > limited_at)
        .filter(|r| r.at.duration_since(limited_at) < RESET - Duration::from_millis(100))
        .map(|r| format!("{} {}", r.method, r.path))
        .collect();
    assert!(early.is_empty(), "sent during the pause: {early:?}");
    assert_eq!(h.github.check_runs(crate::support::bot::REPO).len(), 1);
    assert!(counted(&h, "hunkscan_github_waits_total{reason=\"rate_limited\"}").await);
}
