//! The GitHub App end to end: the real server and workers (`hunkscan::app`)
//! against the GitHub API emulator in `tests/support`, driven by signed
//! webhook deliveries, as GitHub drives it.

use crate::support::bot::{APP_ID, Harness, INSTALLATION, REPO, WAIT};
use crate::support::github_emulator::{Fault, FileSpec, PullSpec};
use hunkscan::app::webhook::sign;
use serde_json::json;
use std::time::Duration;

const APP_PY_BASE: &str = "import subprocess\nimport yaml\n";
const APP_PY_HEAD: &str = "import subprocess\nimport yaml\n\n\ndef run(cmd):\n    subprocess.run(cmd, shell=True)\n\n\ndef load(stream):\n    return yaml.load(stream)\n";
const LIB_RS: &str =
    "pub fn bits(x: u32) -> f32 {\n    unsafe { std::mem::transmute::<u32, f32>(x) }\n}\n";
const SETTINGS_PY: &str = "GITHUB_TOKEN = \"ghp_R8kZ2nQ7wLx4Vb9TfJ3mHs6Yc1Pd5Ge0Ua2K\"\n";
const MAIN_TF_BASE: &str = "resource \"aws_security_group\" \"ssh\" {\n  name = \"ssh\"\n\n  ingress {\n    from_port   = 22\n    to_port     = 22\n    protocol    = \"tcp\"\n    cidr_blocks = [\"10.0.0.0/8\"]\n  }\n}\n";

fn sample_pr(number: u64, head: &str) -> PullSpec {
    PullSpec {
        number,
        base_sha: "base0001".into(),
        head_sha: head.into(),
        draft: false,
        files: vec![
            FileSpec::modified("app.py", APP_PY_BASE, APP_PY_HEAD),
            FileSpec::added("src/lib.rs", LIB_RS),
            FileSpec::added("settings.py", SETTINGS_PY),
            FileSpec::modified(
                "infra/main.tf",
                MAIN_TF_BASE,
                &MAIN_TF_BASE.replace("10.0.0.0/8", "0.0.0.0/0"),
            ),
            FileSpec::modified("README.md", "# shop\n", "# shop\n\nNow with more.\n"),
            FileSpec::added("logo.png", "\u{0}PNG").binary(),
        ],
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pull_request_gets_one_review_and_one_completed_check() {
    let h = Harness::start().await;
    h.open(sample_pr(1, "head0001")).await;
    let check = h.completed_check("head0001").await;

    assert_eq!(check.name, "hunkscan");
    assert_eq!(
        check.conclusion.as_deref(),
        Some("failure"),
        "a critical secret and high SAST findings"
    );
    let title = check.output.title.clone().unwrap_or_default();
    assert_eq!(
        title,
        "6 new findings (2 critical, 2 high, 1 medium, 1 low)"
    );
    let summary = check.output.summary.clone().unwrap_or_default();
    assert!(
        summary.contains("[`app.py:6`](https://github.com/acme/shop/blob/head0001/app.py#L6)"),
        "{summary}"
    );
    assert!(
        summary.contains("`logo.png`: binary file"),
        "skips are visible: {summary}"
    );
    assert!(
        !summary.contains("R8kZ2nQ7wLx4Vb9TfJ3mHs6Yc1Pd5Ge0Ua2K"),
        "never echo a secret"
    );
    assert_eq!(check.annotations.len(), 6);
    assert!(
        summary.contains("### Made worse by this pull request"),
        "IaC regressions have their section: {summary}"
    );
    assert!(
        summary.contains("changed from `10.0.0.0/8` to `0.0.0.0/0`"),
        "{summary}"
    );

    let reviews = h.github.reviews(REPO, 1);
    assert_eq!(reviews.len(), 1, "exactly one review");
    assert_eq!(reviews[0].event, "COMMENT");
    assert_eq!(reviews[0].commit_id, "head0001");
    let comments = h.github.review_comments(REPO, 1);
    assert_eq!(comments.len(), 6);
    let terraform = comments
        .iter()
        .find(|c| c.path == "infra/main.tf")
        .expect("the Terraform regression is commented");
    assert_eq!(terraform.line, Some(8));
    assert!(
        comments
            .iter()
            .all(|c| c.body.contains("<!-- hunkscan:fingerprint="))
    );
    let yaml = comments
        .iter()
        .find(|c| c.body.contains("python.yaml-load-without-loader"))
        .expect("yaml comment");
    assert_eq!((yaml.path.as_str(), yaml.line), ("app.py", Some(10)));
    assert!(
        yaml.body.contains("```suggestion\n"),
        "a fix becomes a suggestion: {}",
        yaml.body
    );
    assert!(
        comments
            .iter()
            .all(|c| !c.body.contains("R8kZ2nQ7wLx4Vb9TfJ3mHs6Yc1Pd5Ge0Ua2K"))
    );

    // create check, list files, one GraphQL blob query, list comments,
    // review, complete check: six calls, plus one token fetch.
    assert_eq!(h.installation_calls(), 6, "{:#?}", h.paths());
    assert_eq!(h.github.token_fetches(), 1);
    h.assert_valid_requests();

    let metrics = h
        .metrics_with("hunkscan_jobs_total{outcome=\"completed\"} 1")
        .await;
    assert!(
        metrics.contains(
            "hunkscan_webhook_deliveries_total{event=\"pull_request\",outcome=\"accepted\"} 1"
        ),
        "{metrics}"
    );
    assert!(
        metrics.contains("hunkscan_findings_total{analyzer=\"secrets\",severity=\"critical\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("hunkscan_jobs_total{outcome=\"completed\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("route=\"POST /repos/{owner}/{repo}/check-runs\",status=\"201\""),
        "{metrics}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_later_push_posts_only_new_comments_and_resolves_fixed_threads() {
    let h = Harness::start().await;
    h.open(sample_pr(2, "head0001")).await;
    h.completed_check("head0001").await;
    assert_eq!(h.github.review_comments(REPO, 2).len(), 6);

    // The second push fixes the shell=True call and adds an os.system call.
    let fixed = APP_PY_HEAD.replace(
        "subprocess.run(cmd, shell=True)",
        "subprocess.run([\"ls\", cmd])",
    ) + "\n\ndef other(cmd):\n    import os\n    os.system(cmd)\n";
    let mut second = sample_pr(2, "head0002");
    second.files[0] = FileSpec::modified("app.py", APP_PY_BASE, &fixed);
    let event = Harness::pull_request_event("synchronize", 2, "base0001", "head0002", false);
    h.github.put_pull_request(REPO, second);
    let (status, _) = h.deliver("pull_request", &event).await;
    assert_eq!(status, 202);
    let check = h.completed_check("head0002").await;

    let reviews = h.github.reviews(REPO, 2);
    assert_eq!(reviews.len(), 2);
    assert_eq!(
        reviews[1].comments.len(),
        1,
        "only the new finding: {:#?}",
        reviews[1].comments
    );
    assert!(
        reviews[1].comments[0].body.contains("os-system"),
        "{}",
        reviews[1].comments[0].body
    );

    let comments = h.github.review_comments(REPO, 2);
    let shell = comments
        .iter()
        .find(|c| c.body.contains("python.subprocess-shell-true"))
        .expect("the first push's comment");
    assert!(shell.resolved, "the fixed finding's thread is resolved");
    let still_open: Vec<_> = comments.iter().filter(|c| !c.resolved).collect();
    assert_eq!(
        still_open.len(),
        6,
        "five unchanged findings and the new one stay open"
    );
    assert!(
        check
            .output
            .summary
            .unwrap_or_default()
            .contains("1 fixed thread resolved")
    );
    assert_eq!(
        h.github.token_fetches(),
        1,
        "the installation token is reused"
    );
    h.assert_valid_requests();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pull_request_of_300_files_with_60_findings_batches_annotations() {
    let h = Harness::start().await;
    let files: Vec<FileSpec> = (0..300)
        .map(|i| {
            let text = if i < 60 {
                format!("import os\n\n\ndef f{i}(cmd):\n    os.system(cmd)\n")
            } else {
                format!("def f{i}(x):\n    return x + {i}\n")
            };
            FileSpec::added(&format!("pkg/m{i:03}.py"), &text)
        })
        .collect();
    h.open(PullSpec {
        number: 3,
        base_sha: "base0001".into(),
        head_sha: "big00001".into(),
        draft: false,
        files,
    })
    .await;
    let check = h.completed_check("big00001").await;
    assert_eq!(
        check.annotations.len(),
        60,
        "every finding annotated across batches"
    );
    assert_eq!(check.conclusion.as_deref(), Some("failure"));
    let comments = h.github.review_comments(REPO, 3);
    assert_eq!(comments.len(), 25, "the default comment cap");
    assert!(
        check
            .output
            .summary
            .unwrap_or_default()
            .contains("35 as annotations only")
    );
    let patches = h
        .github
        .requests()
        .iter()
        .filter(|r| r.method == "PATCH" && r.status == 200)
        .count();
    assert_eq!(patches, 2, "60 annotations need two updates");
    // 1 create + 3 pages of files + 4 blob queries (301 blobs) + 1 comments
    // + 1 review + 2 updates.
    assert_eq!(h.installation_calls(), 12, "{:#?}", h.paths());
    h.assert_valid_requests();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_missing_and_oversized_deliveries_are_refused_and_nothing_runs() {
    let h = Harness::start().await;
    h.github.put_pull_request(REPO, sample_pr(4, "head0001"));
    let event = serde_json::to_vec(&Harness::pull_request_event(
        "opened", 4, "base0001", "head0001", false,
    ))
    .expect("json");

    let (status, body) = h
        .deliver_raw("pull_request", "forged", event.clone(), false)
        .await;
    assert_eq!(status, 401, "{body}");
    let forged = h
        .client
        .post(h.url("/webhook"))
        .header("x-github-event", "pull_request")
        .header("x-github-delivery", "forged-2")
        .header("x-hub-signature-256", sign(b"another secret", &event))
        .body(event.clone())
        .send()
        .await
        .expect("sent");
    assert_eq!(forged.status().as_u16(), 401);

    // Over 25 MB: refused from the Content-Length alone, before any byte of
    // the body is read (a client streaming the body may see the connection
    // close under it, so this speaks HTTP by hand and sends no body).
    let status_line = tokio::task::spawn_blocking({
        let addr = h.bot.addr;
        move || {
            use std::io::{Read, Write};
            let mut stream = std::net::TcpStream::connect(addr).expect("connect");
            stream
                .set_read_timeout(Some(Duration::from_secs(10)))
                .expect("timeout");
            let head = format!(
                "POST /api/github/webhooks HTTP/1.1\r\nhost: {addr}\r\ncontent-type: application/json\r\nx-github-event: pull_request\r\nx-github-delivery: huge\r\nx-hub-signature-256: sha256={}\r\ncontent-length: {}\r\n\r\n",
                "0".repeat(64),
                26 * 1024 * 1024
            );
            stream.write_all(head.as_bytes()).expect("request head sent");
            let mut answer = vec![0u8; 64];
            let read = stream
                .read(&mut answer)
                .expect("answered without waiting for the body");
            String::from_utf8_lossy(&answer[..read]).into_owned()
        }
    })
    .await
    .expect("raw request");
    assert!(status_line.starts_with("HTTP/1.1 413"), "{status_line}");

    let (status, body) = h
        .deliver_raw("pull_request", "bad-json", b"{not json".to_vec(), true)
        .await;
    assert_eq!(status, 400, "{body}");

    tokio::time::sleep(Duration::from_millis(200)).await;
    // Only the app's own start-up calls (the reconciler's listing of recent
    // deliveries) reached GitHub; nothing on behalf of an installation.
    assert_eq!(
        h.installation_calls(),
        0,
        "nothing ran for a refused delivery: {:#?}",
        h.paths()
    );
    let metrics = h.metrics().await;
    assert!(
        metrics.contains("outcome=\"rejected_signature\"} 2"),
        "{metrics}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_config_file_is_reported_and_the_defaults_apply() {
    let h = Harness::start().await;
    h.github.put_file(
        REPO,
        "base0001",
        ".github/hunkscan.yml",
        "fail_on: low\npaths:\n  ignroe: [\"app.py\"]\n",
    );
    h.open(sample_pr(5, "head0001")).await;
    let check = h.completed_check("head0001").await;
    let summary = check.output.summary.unwrap_or_default();
    assert!(
        summary.contains("Configuration ignored, defaults apply: .github/hunkscan.yml:3"),
        "{summary}"
    );
    assert!(summary.contains("ignroe"), "{summary}");
    assert_eq!(check.annotations.len(), 6, "the scan ran with the defaults");
    h.assert_valid_requests();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn config_is_read_from_the_base_and_applied() {
    let h = Harness::start().await;
    let config = "analyzers:\n  secrets: false\nfail_on: critical\npaths:\n  ignore: [\"src/**\"]\nrules:\n  severity:\n    python.subprocess-shell-true: critical\ncomments:\n  max: 1\n";
    h.github
        .put_file(REPO, "base0001", ".github/hunkscan.yml", config);
    // The pull request's own head tries to switch the scan off: ignored.
    let mut spec = sample_pr(6, "head0001");
    spec.files.push(FileSpec::added(
        ".github/hunkscan.yml",
        "analyzers:\n  sast: false\n",
    ));
    h.open(spec).await;
    let check = h.completed_check("head0001").await;
    assert_eq!(
        check.conclusion.as_deref(),
        Some("failure"),
        "shell=True re-levelled to critical"
    );
    let title = check.output.title.clone().unwrap_or_default();
    assert_eq!(
        title, "3 new findings (2 critical, 1 high)",
        "no secrets, nothing under src/"
    );
    assert_eq!(h.github.review_comments(REPO, 6).len(), 1, "comments.max");
    h.assert_valid_requests();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drafts_are_skipped_when_the_repository_says_so() {
    let h = Harness::start().await;
    h.github
        .put_file(REPO, "base0001", ".github/hunkscan.yml", "drafts: skip\n");
    let mut spec = sample_pr(7, "head0001");
    spec.draft = true;
    h.open(spec).await;
    let check = h.completed_check("head0001").await;
    assert_eq!(check.conclusion.as_deref(), Some("skipped"));
    assert!(h.github.reviews(REPO, 7).is_empty());
    h.assert_valid_requests();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transient_errors_timeouts_and_rate_limits_are_retried() {
    let h = Harness::start().await;
    h.github.inject(Fault::Status {
        method: "GET",
        path_contains: "/files",
        status: 500,
        times: 1,
    });
    h.github.inject(Fault::Timeout {
        method: "POST",
        path_contains: "/graphql",
        delay: Duration::from_secs(3),
        times: 1,
    });
    h.github.inject(Fault::RateLimit {
        method: "POST",
        path_contains: "/reviews",
        retry_after_secs: 1,
        times: 1,
    });
    let started = std::time::Instant::now();
    h.open(sample_pr(9, "head0001")).await;
    let check = h.completed_check("head0001").await;
    assert_eq!(
        check.conclusion.as_deref(),
        Some("failure"),
        "the analysis completed normally"
    );
    assert_eq!(h.github.reviews(REPO, 9).len(), 1);
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "retry-after was honoured"
    );
    let review_posts = h
        .github
        .requests()
        .iter()
        .filter(|r| r.method == "POST" && r.path.ends_with("/reviews"))
        .count();
    assert_eq!(
        review_posts, 2,
        "one rate-limited attempt, one after waiting"
    );
    h.assert_valid_requests();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redeliveries_run_once_and_reruns_run_again() {
    let h = Harness::start().await;
    let spec = sample_pr(10, "head0001");
    h.github.put_pull_request(REPO, spec);
    let event = serde_json::to_vec(&Harness::pull_request_event(
        "opened", 10, "base0001", "head0001", false,
    ))
    .expect("json");
    let (first, _) = h
        .deliver_raw("pull_request", "same-delivery", event.clone(), true)
        .await;
    let (again, _) = h
        .deliver_raw("pull_request", "same-delivery", event, true)
        .await;
    assert_eq!((first, again), (202, 202));
    h.completed_check("head0001").await;

    let rerun = json!({
        "action": "rerequested",
        "check_run": {
            "name": "hunkscan", "head_sha": "head0001", "app": { "id": APP_ID },
            "pull_requests": [{ "number": 10, "head": { "sha": "head0001" }, "base": { "sha": "base0001" } }],
        },
        "repository": { "full_name": REPO, "html_url": "https://github.com/acme/shop" },
        "installation": { "id": INSTALLATION },
    });
    let (status, _) = h.deliver("check_run", &rerun).await;
    assert_eq!(status, 202);
    h.github
        .wait_for("a second completed check run", WAIT, |gh| {
            let done = gh
                .check_runs(REPO)
                .into_iter()
                .filter(|c| c.status == "completed")
                .count();
            (done == 2).then_some(())
        })
        .await;
    assert_eq!(
        h.github.check_runs(REPO).len(),
        2,
        "the redelivery did not run"
    );
    assert_eq!(
        h.github.reviews(REPO, 10).len(),
        1,
        "the re-run repeats no comment"
    );
}

/// Every example payload of the events the app handles (octokit/webhooks,
/// in ../shared) is accepted without error when delivered signed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_example_payload_of_handled_events_is_accepted() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/github/webhooks/payload-examples/api.github.com");
    if !root.is_dir() {
        eprintln!(
            "skipped: {} is absent (a clone without ../shared); CI has it",
            root.display()
        );
        return;
    }
    let h = Harness::start().await;
    let mut delivered = 0;
    for event in [
        "pull_request",
        "check_run",
        "check_suite",
        "installation",
        "installation_repositories",
        "ping",
    ] {
        let mut paths: Vec<_> = std::fs::read_dir(root.join(event))
            .expect("examples folder")
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|e| e == "json"))
            .collect();
        paths.sort();
        assert!(!paths.is_empty(), "no examples for {event}");
        for path in paths {
            let body = std::fs::read(&path).expect("example");
            let (status, answer) = h
                .deliver_raw(event, &format!("example-{delivered}"), body, true)
                .await;
            assert!(
                status == 200 || status == 202,
                "{} answered {status}: {answer}",
                path.display()
            );
            delivered += 1;
        }
    }
    assert!(delivered >= 40, "only {delivered} examples");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_review_or_check_run_created_despite_an_error_answer_is_not_created_twice() {
    let h = Harness::start().await;
    h.github.inject(Fault::AppliedThenStatus {
        method: "POST",
        path_contains: "/reviews",
        status: 502,
        times: 1,
    });
    h.github.inject(Fault::AppliedThenStatus {
        method: "POST",
        path_contains: "/check-runs",
        status: 502,
        times: 1,
    });
    h.open(sample_pr(11, "head0001")).await;
    let check = h.completed_check("head0001").await;
    assert_eq!(check.conclusion.as_deref(), Some("failure"));
    assert_eq!(
        h.github.check_runs(REPO).len(),
        1,
        "the check run GitHub created is reused"
    );
    assert_eq!(
        h.github.reviews(REPO, 11).len(),
        1,
        "no second review: {:#?}",
        h.paths()
    );
    assert_eq!(h.github.review_comments(REPO, 11).len(), 6);
    h.assert_valid_requests();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_review_is_posted_once_more_when_github_has_nothing() {
    let h = Harness::start().await;
    h.github.inject(Fault::Status {
        method: "POST",
        path_contains: "/reviews",
        status: 502,
        times: 1,
    });
    h.open(sample_pr(12, "head0001")).await;
    h.completed_check("head0001").await;
    assert_eq!(h.github.reviews(REPO, 12).len(), 1);
    assert_eq!(h.github.review_comments(REPO, 12).len(), 6);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_for_a_superseded_head_completes_neutral_whatever_the_delivery_order() {
    let h = Harness::start().await;
    // GitHub's pull request is already at head0002 when the delivery for
    // head0001 arrives (late, or redelivered).
    h.github.put_pull_request(REPO, sample_pr(13, "head0001"));
    h.github.put_pull_request(REPO, sample_pr(13, "head0002"));
    let late = Harness::pull_request_event("synchronize", 13, "base0001", "head0001", false);
    let (status, _) = h.deliver("pull_request", &late).await;
    assert_eq!(status, 202);
    let old = h.completed_check("head0001").await;
    assert_eq!(old.conclusion.as_deref(), Some("neutral"));
    assert_eq!(
        old.output.title.as_deref(),
        Some("Superseded by a newer push")
    );
    assert!(h.github.reviews(REPO, 13).is_empty());

    let current = Harness::pull_request_event("synchronize", 13, "base0001", "head0002", false);
    let (status, _) = h.deliver("pull_request", &current).await;
    assert_eq!(status, 202);
    let new = h.completed_check("head0002").await;
    assert_eq!(
        new.conclusion.as_deref(),
        Some("failure"),
        "the real head is analysed"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_draft_skipped_earlier_is_analysed_when_marked_ready() {
    let h = Harness::start().await;
    h.github
        .put_file(REPO, "base0001", ".github/hunkscan.yml", "drafts: skip\n");
    let mut spec = sample_pr(14, "head0001");
    spec.draft = true;
    h.open(spec).await;
    let skipped = h.completed_check("head0001").await;
    assert_eq!(skipped.conclusion.as_deref(), Some("skipped"));

    let mut ready = sample_pr(14, "head0001");
    ready.draft = false;
    h.github.put_pull_request(REPO, ready);
    let event = Harness::pull_request_event("ready_for_review", 14, "base0001", "head0001", false);
    let (status, _) = h.deliver("pull_request", &event).await;
    assert_eq!(status, 202);
    h.github
        .wait_for("a second, analysed check run", WAIT, |gh| {
            gh.check_runs(REPO)
                .into_iter()
                .find(|c| c.status == "completed" && c.conclusion.as_deref() == Some("failure"))
        })
        .await;
    assert_eq!(h.github.reviews(REPO, 14).len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_marker_written_by_another_bot_does_not_silence_a_finding() {
    // The fingerprint hunkscan gives the shell=True finding.
    let first = Harness::start().await;
    first.open(sample_pr(15, "head0001")).await;
    first.completed_check("head0001").await;
    let marker_line = first
        .github
        .review_comments(REPO, 15)
        .into_iter()
        .find(|c| c.body.contains("python.subprocess-shell-true"))
        .and_then(|c| {
            c.body
                .lines()
                .find(|l| l.contains("hunkscan:fingerprint"))
                .map(str::to_owned)
        })
        .expect("the finding's marker");

    // Elsewhere, a workflow's bot pastes that marker first: it is not ours.
    let h = Harness::start().await;
    h.github.put_pull_request(REPO, sample_pr(15, "head0001"));
    h.github
        .add_review_comment(REPO, 15, "github-actions[bot]", "app.py", 6, &marker_line);
    let event = Harness::pull_request_event("opened", 15, "base0001", "head0001", false);
    let (status, _) = h.deliver("pull_request", &event).await;
    assert_eq!(status, 202);
    h.completed_check("head0001").await;
    let ours: Vec<_> = h
        .github
        .review_comments(REPO, 15)
        .into_iter()
        .filter(|c| c.author == "hunkscan[bot]")
        .collect();
    assert_eq!(
        ours.len(),
        6,
        "the shell=True finding still gets its comment"
    );
    assert!(
        ours.iter()
            .any(|c| c.body.contains("python.subprocess-shell-true"))
    );
}
