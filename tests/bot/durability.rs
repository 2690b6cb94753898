//! Nothing is lost: real `hunkscan serve` processes against the GitHub
//! emulator and one job store, killed with SIGKILL mid-review, stopped with
//! SIGTERM with jobs queued, and started again on the same store. Every
//! accepted delivery ends with exactly one completed check run and no
//! comment twice.

use crate::support::bot::{APP_ID, Harness, INSTALLATION, PRIVATE_KEY, PUBLIC_KEY, REPO, SECRET};
use crate::support::github_emulator::{Emulator, Fault, FileSpec, PullSpec};
use hunkscan::app::webhook::sign;
use serde_json::Value;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A `hunkscan serve` process.
struct Serve {
    child: Child,
    port: u16,
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// Starts `hunkscan serve` on the store `database_url` and waits until it
/// answers /healthz.
async fn serve(github: &Emulator, database_url: &str, extra: &[(&str, &str)]) -> Serve {
    let port = free_port();
    let mut command = Command::new(env!("CARGO_BIN_EXE_hunkscan"));
    command
        .arg("serve")
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("GITHUB_APP_ID", APP_ID.to_string())
        .env("GITHUB_PRIVATE_KEY", PRIVATE_KEY)
        .env("GITHUB_WEBHOOK_SECRET", SECRET)
        .env("GITHUB_API_URL", &github.url)
        .env("DATABASE_URL", database_url)
        .env("PORT", port.to_string())
        .env("HUNKSCAN_FINGERPRINT_KEY", "durability test key")
        .env("HUNKSCAN_WORKERS", "2")
        .env("HUNKSCAN_LEASE_SECS", "2")
        .env("HUNKSCAN_RETRY_BASE_MS", "50")
        // Unpaced, as in the in-process harness: at GitHub's 80 content
        // calls a minute the scale-out test's 175 pull requests took eight
        // minutes of waiting. Pacing has its own tests (app_retries).
        .env("HUNKSCAN_CONTENT_CALLS", "0")
        // No advisory sync: nothing here reaches OSV, and a test must not
        // write the user's cache directory.
        .env("HUNKSCAN_ADVISORY_SYNC_INTERVAL", "off")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit());
    for (name, value) in extra {
        command.env(name, value);
    }
    let child = command.spawn().expect("hunkscan serve starts");
    let server = Serve { child, port };
    let client = reqwest::Client::new();
    for _ in 0..200 {
        if let Ok(answer) = client
            .get(format!("http://127.0.0.1:{port}/healthz"))
            .send()
            .await
            && answer.status().is_success()
        {
            return server;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("hunkscan serve did not answer /healthz within 10 s");
}

async fn deliver(server: &Serve, delivery: &str, body: &Value) -> u16 {
    let body = serde_json::to_vec(body).expect("json");
    reqwest::Client::new()
        .post(format!(
            "http://127.0.0.1:{}/api/github/webhooks",
            server.port
        ))
        .header("content-type", "application/json")
        .header("x-github-event", "pull_request")
        .header("x-github-delivery", delivery)
        .header("x-hub-signature-256", sign(SECRET.as_bytes(), &body))
        .body(body)
        .send()
        .await
        .expect("delivered")
        .status()
        .as_u16()
}

fn pull(number: u64) -> PullSpec {
    PullSpec {
        number,
        base_sha: format!("base{number:04}"),
        head_sha: format!("head{number:04}"),
        draft: false,
        files: vec![FileSpec::added(
            "app.py",
            "import os\nimport subprocess\n\n\ndef run(cmd):\n    subprocess.run(cmd, shell=True)\n    os.system(cmd)\n",
        )],
    }
}

async fn open(github: &Emulator, server: &Serve, number: u64) {
    let spec = pull(number);
    let event =
        Harness::pull_request_event("opened", number, &spec.base_sha, &spec.head_sha, false);
    github.put_pull_request(REPO, spec);
    let status = deliver(server, &format!("delivery-{number}"), &event).await;
    assert_eq!(status, 202, "delivery {number} stored and acknowledged");
}

/// Waits until every pull request in `numbers` has a completed check run,
/// then checks there is exactly one check run per head and no comment twice.
async fn assert_each_completed_once(github: &Emulator, numbers: &[u64]) {
    for &number in numbers {
        let head = format!("head{number:04}");
        github
            .wait_for(
                &format!("a completed check run on {head}"),
                Duration::from_secs(60),
                |gh| {
                    gh.check_runs(REPO)
                        .into_iter()
                        .find(|c| c.head_sha == head && c.status == "completed")
                },
            )
            .await;
    }
    let runs = github.check_runs(REPO);
    for &number in numbers {
        let head = format!("head{number:04}");
        let on_head: Vec<_> = runs.iter().filter(|c| c.head_sha == head).collect();
        assert_eq!(on_head.len(), 1, "one check run on {head}: {on_head:#?}");
        let comments = github.review_comments(REPO, number);
        let mut bodies: Vec<&str> = comments.iter().map(|c| c.body.as_str()).collect();
        let all = bodies.len();
        bodies.sort_unstable();
        bodies.dedup();
        assert_eq!(bodies.len(), all, "no comment twice on #{number}");
        assert_eq!(all, 2, "both findings of #{number} commented");
        let reviews = github.reviews(REPO, number);
        assert_eq!(reviews.len(), 1, "one review on #{number}: {reviews:#?}");
    }
}

fn sqlite_url(dir: &tempfile::TempDir) -> String {
    format!("sqlite://{}", dir.path().join("jobs.db").display())
}

async fn emulator() -> Emulator {
    let github = Emulator::start(APP_ID, PUBLIC_KEY).await;
    github.add_installation(INSTALLATION, REPO);
    github
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_killed_mid_review_resumes_every_job_once_after_a_restart() {
    let github = emulator().await;
    let store = tempfile::tempdir().expect("tempdir");
    let url = sqlite_url(&store);
    // The first review is held for 30 s (GitHub answers 504 then, without
    // applying it): the process is killed while it waits.
    github.inject(Fault::Timeout {
        method: "POST",
        path_contains: "/reviews",
        delay: Duration::from_secs(30),
        times: 1,
    });
    let first = serve(&github, &url, &[]).await;
    for number in 1..=4 {
        open(&github, &first, number).await;
    }
    // Wait until a job is posting its review, then SIGKILL.
    github
        .wait_for("a check run created", Duration::from_secs(30), |gh| {
            (!gh.check_runs(REPO).is_empty()).then_some(())
        })
        .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    drop(first);
    // The same store, a new process: jobs whose leases ran out are taken
    // over, each with the check run it had.
    let _second = serve(&github, &url, &[]).await;
    assert_each_completed_once(&github, &[1, 2, 3, 4]).await;
    assert!(github.schema_violations().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deploy_leaves_queued_jobs_to_the_next_start() {
    let github = emulator().await;
    let store = tempfile::tempdir().expect("tempdir");
    let url = sqlite_url(&store);
    // One worker, slowed down: most jobs are still queued at SIGTERM.
    github.inject(Fault::Timeout {
        method: "GET",
        path_contains: "/files",
        delay: Duration::from_millis(700),
        times: 2,
    });
    let first = serve(&github, &url, &[("HUNKSCAN_WORKERS", "1")]).await;
    for number in 11..=16 {
        open(&github, &first, number).await;
    }
    // SIGTERM, as a deploy sends it; the process exits by itself.
    let status = Command::new("kill")
        .args(["-TERM", &first.child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success());
    let mut first = first;
    let mut exited = false;
    for _ in 0..600 {
        if first.child.try_wait().ok().flatten().is_some() {
            exited = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(exited, "hunkscan serve exits within 30 s of SIGTERM");
    let _second = serve(&github, &url, &[]).await;
    assert_each_completed_once(&github, &[11, 12, 13, 14, 15, 16]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_quick_pushes_end_with_one_analysed_head_and_two_superseded() {
    let h = Harness::start_configured(
        crate::support::bot::test_policy(),
        true,
        &[("HUNKSCAN_WORKERS", "1")],
        std::future::pending(),
    )
    .await;
    // The first job is slow, so the next two pushes arrive while it runs.
    h.github.inject(Fault::Timeout {
        method: "GET",
        path_contains: "/files",
        delay: Duration::from_millis(600),
        times: 1,
    });
    let mut spec = pull(21);
    for (i, head) in ["head0021", "head0022", "head0023"].iter().enumerate() {
        spec.head_sha = (*head).to_owned();
        h.github.put_pull_request(REPO, spec.clone());
        let action = if i == 0 { "opened" } else { "synchronize" };
        let event = Harness::pull_request_event(action, 21, &spec.base_sha, head, false);
        let (status, body) = h.deliver("pull_request", &event).await;
        assert_eq!(status, 202, "{body}");
    }
    let last = h.completed_check("head0023").await;
    assert_ne!(
        last.conclusion.as_deref(),
        Some("neutral"),
        "the newest head is analysed"
    );
    // The older heads: at most a neutral superseded run each, never a review.
    for head in ["head0021", "head0022"] {
        for run in h
            .github
            .check_runs(REPO)
            .iter()
            .filter(|c| c.head_sha == head)
        {
            let completed = h.completed_check(head).await;
            assert_eq!(completed.conclusion.as_deref(), Some("neutral"), "{run:#?}");
            assert!(
                completed
                    .output
                    .title
                    .unwrap_or_default()
                    .contains("Superseded")
            );
        }
    }
    let reviews = h.github.reviews(REPO, 21);
    assert!(
        reviews.iter().all(|r| r.commit_id == "head0023"),
        "no review for a stale head: {reviews:#?}"
    );
    h.assert_valid_requests();
}

/// A fresh, empty schema on the test PostgreSQL, as a URL whose connections
/// use it (`options=-csearch_path=…`); `None` (and a loud line) without
/// `HUNKSCAN_TEST_DATABASE_URL`.
async fn postgres_schema() -> Option<String> {
    let Ok(base) = std::env::var("HUNKSCAN_TEST_DATABASE_URL") else {
        eprintln!(
            "SKIPPED: HUNKSCAN_TEST_DATABASE_URL is not set; the scale-out test on PostgreSQL did not run"
        );
        return None;
    };
    let schema = format!(
        "scaleout_{}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos())
    );
    let status = Command::new("psql")
        .args([
            base.as_str(),
            "-q",
            "-c",
            &format!("CREATE SCHEMA {schema}"),
        ])
        .status()
        .expect("psql runs");
    assert!(status.success(), "schema {schema} created");
    let separator = if base.contains('?') { '&' } else { '?' };
    Some(format!("{base}{separator}options=-csearch_path%3D{schema}"))
}

/// 175 pull requests, 200 deliveries (every seventh delivered twice, at the
/// other instance), spread over two instances sharing one PostgreSQL; one
/// instance is killed outright halfway. Each head ends with exactly one
/// completed check run and its comments once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_on_postgres_share_the_work_and_survive_one_dying() {
    let Some(url) = postgres_schema().await else {
        return;
    };
    let github = emulator().await;
    let mut a = Some(serve(&github, &url, &[]).await);
    let b = serve(&github, &url, &[]).await;
    let numbers: Vec<u64> = (101..=275).collect();
    let mut deliveries = 0;
    for (i, &number) in numbers.iter().enumerate() {
        let spec = pull(number);
        let event =
            Harness::pull_request_event("opened", number, &spec.base_sha, &spec.head_sha, false);
        github.put_pull_request(REPO, spec);
        let delivery = format!("delivery-{number}");
        let (first, second) = match (&a, i % 2) {
            (Some(a), 0) => (a, &b),
            (Some(a), _) => (&b, a),
            (None, _) => (&b, &b),
        };
        assert_eq!(deliver(first, &delivery, &event).await, 202);
        deliveries += 1;
        if number % 7 == 0 {
            assert_eq!(deliver(second, &delivery, &event).await, 202);
            deliveries += 1;
        }
        if number == 190 {
            // Halfway, one instance dies outright (SIGKILL): its jobs are
            // taken over when their leases run out.
            a = None;
        }
    }
    assert_eq!(deliveries, 200);
    assert_each_completed_once(&github, &numbers).await;
    drop(b);
}
