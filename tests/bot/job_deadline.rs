//! A job that runs past its deadline completes its check run with a clear
//! conclusion: a required check never hangs on a slow GitHub or a slow
//! analysis.

use crate::support::bot::{Harness, test_policy};
use crate::support::github_emulator::{Fault, FileSpec, PullSpec};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_past_its_deadline_completes_its_check_with_the_error_conclusion() {
    let h = Harness::start_configured(
        test_policy(),
        true,
        &[("HUNKSCAN_JOB_DEADLINE_SECS", "1")],
        std::future::pending(),
    )
    .await;
    // GitHub asks the bot to wait 3 s (the policy accepts up to 5 s): the job
    // is still waiting when its 1 s deadline passes.
    h.github.inject(Fault::RateLimit {
        method: "GET",
        path_contains: "/files",
        retry_after_secs: 3,
        times: 1,
    });
    h.open(PullSpec {
        number: 41,
        base_sha: "base0041".into(),
        head_sha: "head0041".into(),
        draft: false,
        files: vec![FileSpec::added(
            "app.py",
            "import os\n\ndef run(cmd):\n    os.system(cmd)\n",
        )],
    })
    .await;
    let check = h.completed_check("head0041").await;
    assert_eq!(check.conclusion.as_deref(), Some("neutral"), "{check:#?}");
    let summary = check.output.summary.unwrap_or_default();
    assert!(
        summary.contains("ran past its deadline") && summary.contains("error id `"),
        "{summary}"
    );
    // The worker counts the outcome just after completing the check.
    let needle = "hunkscan_jobs_total{outcome=\"failed\"} 1";
    let counted = h.metrics_with(needle).await.contains(needle);
    assert!(counted, "the failed job is counted");
    h.assert_valid_requests();
}
