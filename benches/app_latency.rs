//! The GitHub App under load, against the GitHub API emulator of the tests:
//!
//! 1. webhook acknowledgement latency under 200 concurrent signed deliveries
//!    (target: p99 under 5 ms on loopback);
//! 2. end-to-end time from delivery to completed check run for a 20-file
//!    pull request (target: under 250 ms);
//! 3. GitHub API calls per analysed pull request (target: at most 6, plus
//!    one per 50 annotations beyond the first 50, with no earlier comments).
//!
//! `cargo bench --bench app_latency`. The bot, the emulator and the load
//! generator share one process and the machine's cores, so the latencies are
//! upper bounds of what the bot alone would show. Request bodies are not
//! OpenAPI-validated here (the tests do that); the emulator would otherwise
//! dominate the end-to-end time.

#[path = "../tests/support/mod.rs"]
mod support;

mod common;

use serde_json::json;
use std::sync::Arc;
use std::time::{Duration, Instant};
use support::bot::{Harness, REPO, test_policy};
use support::github_emulator::{FileSpec, PullSpec};

const CONCURRENCY: usize = 200;
const ROUNDS: usize = 10;
const END_TO_END_RUNS: u64 = 30;

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

fn verdict(met: bool, text: &str) {
    println!("- {} {text}", if met { "PASS" } else { "MISS" });
}

/// `pull_request.opened` for an installation the emulator does not know:
/// the delivery takes the full path (signature, parse, queue) and the job
/// ends at its first GitHub call, so workers do not compete with the load.
fn opened_elsewhere(number: usize) -> serde_json::Value {
    json!({
        "action": "opened",
        "number": number,
        "pull_request": {
            "number": number, "draft": false,
            "head": { "sha": format!("{number:040x}") }, "base": { "sha": "base" },
        },
        "repository": { "full_name": "elsewhere/repo", "html_url": "https://github.com/elsewhere/repo" },
        "installation": { "id": 999_999 },
    })
}

/// A `pull_request.labeled` delivery: signed, parsed, answered 202 and
/// ignored: the acknowledgement path without a job behind it.
fn labeled(number: usize) -> serde_json::Value {
    let mut event = opened_elsewhere(number);
    event["action"] = json!("labeled");
    event
}

/// Client-observed latencies of `CONCURRENCY` clients each sending `ROUNDS`
/// deliveries made by `make`.
async fn acknowledgement_latency(
    h: Arc<Harness>,
    make: fn(usize) -> serde_json::Value,
) -> (Duration, Duration, Duration, usize) {
    // Warm the connection pool and the server.
    for i in 0..CONCURRENCY {
        let (status, _) = h.deliver("pull_request", &make(i)).await;
        assert_eq!(status, 202);
    }
    let mut tasks = Vec::new();
    for client in 0..CONCURRENCY {
        let h = Arc::clone(&h);
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::with_capacity(ROUNDS);
            for round in 0..ROUNDS {
                let body = make(10_000 + round * CONCURRENCY + client);
                let started = Instant::now();
                let (status, answer) = h.deliver("pull_request", &body).await;
                latencies.push(started.elapsed());
                assert_eq!(status, 202, "{answer}");
            }
            latencies
        }));
    }
    let mut all = Vec::new();
    for task in tasks {
        all.extend(task.await.expect("load task"));
    }
    all.sort();
    let count = all.len();
    (
        percentile(&all, 50.0),
        percentile(&all, 99.0),
        all[count - 1],
        count,
    )
}

/// `(upper bound in seconds, cumulative count)` of the acknowledgement
/// histogram.
fn ack_buckets(metrics: &str) -> Vec<(f64, u64)> {
    metrics
        .lines()
        .filter(|l| l.starts_with("hunkscan_webhook_ack_seconds_bucket{le=\""))
        .filter_map(|l| {
            let le = l.split("le=\"").nth(1)?.split('"').next()?;
            let count = l.rsplit(' ').next()?.parse().ok()?;
            let bound = if le == "+Inf" {
                f64::INFINITY
            } else {
                le.parse().ok()?
            };
            Some((bound, count))
        })
        .collect()
}

/// The smallest bucket bound holding `quantile` of the observations made
/// between two readings.
fn bucket_percentile(before: &[(f64, u64)], after: &[(f64, u64)], quantile: f64) -> Duration {
    let total = after.last().map_or(0, |b| b.1) - before.last().map_or(0, |b| b.1);
    let wanted = (total as f64 * quantile).ceil() as u64;
    for ((bound, count_after), (_, count_before)) in after.iter().zip(before) {
        if count_after - count_before >= wanted {
            return Duration::from_secs_f64(bound.min(3600.0));
        }
    }
    Duration::from_secs(3600)
}

/// Waits until no job is queued or running, so one measurement does not
/// pay for the previous one's backlog.
async fn wait_until_idle(h: &Harness) {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let metrics = h.metrics().await;
        if metrics.lines().any(|l| l == "hunkscan_jobs_pending 0") || Instant::now() > deadline {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn twenty_file_pr(number: u64) -> PullSpec {
    let files = (0..20)
        .map(|i| match i % 4 {
            0 => FileSpec::modified(
                &format!("svc/handler_{i}.py"),
                "import subprocess\n",
                &format!("import subprocess\n\n\ndef run_{i}(cmd):\n    subprocess.run(cmd, shell=True)\n"),
            ),
            1 => FileSpec::added(
                &format!("src/module_{i}.rs"),
                &format!("pub fn f_{i}(x: u32) -> u32 {{\n    x.wrapping_mul({i})\n}}\n"),
            ),
            2 => FileSpec::modified(
                &format!("lib/util_{i}.py"),
                &"def keep(x):\n    return x\n".repeat(20),
                &("def keep(x):\n    return x\n".repeat(20) + "\n\ndef added(y):\n    return y * 2\n"),
            ),
            _ => FileSpec::modified(
                &format!("docs/page_{i}.md"),
                "# Page\n",
                "# Page\n\nMore words.\n",
            ),
        })
        .collect();
    PullSpec {
        number,
        base_sha: "base0001".into(),
        head_sha: format!("{number:040x}"),
        draft: false,
        files,
    }
}

async fn end_to_end(h: &Harness, number: u64, spec: PullSpec) -> (Duration, usize) {
    let head = spec.head_sha.clone();
    let event = Harness::pull_request_event("opened", number, &spec.base_sha, &head, false);
    h.github.put_pull_request(REPO, spec);
    let calls_before = h.installation_calls();
    let started = Instant::now();
    let (status, _) = h.deliver("pull_request", &event).await;
    assert_eq!(status, 202);
    // Poll the emulator's state every 200 µs: the measurement's resolution.
    loop {
        if h.github
            .check_runs(REPO)
            .iter()
            .any(|c| c.head_sha == head && c.status == "completed")
        {
            break;
        }
        if started.elapsed() > Duration::from_secs(30) {
            panic!("no completed check run for {head}: {:#?}", h.paths());
        }
        tokio::time::sleep(Duration::from_micros(200)).await;
    }
    let elapsed = started.elapsed();
    (elapsed, h.installation_calls() - calls_before)
}

fn many_findings_pr(number: u64, findings: usize) -> PullSpec {
    let body: String = (0..findings)
        .map(|i| format!("\n\ndef f{i}(cmd):\n    os.system(cmd)\n"))
        .collect();
    PullSpec {
        number,
        base_sha: "base0001".into(),
        head_sha: format!("{number:040x}"),
        draft: false,
        files: vec![FileSpec::added("jobs.py", &format!("import os\n{body}"))],
    }
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        println!("# hunkscan app benchmark\n");
        println!("machine: {}", common::machine());
        println!("command: cargo bench --bench app_latency\n");
        let h = Arc::new(Harness::start_with(test_policy(), false).await);

        println!("## Webhook acknowledgement ({CONCURRENCY} concurrent clients x {ROUNDS} signed deliveries each)\n");
        println!("Client-observed: from sending the request to reading the answer, load generator in the same process.\n");
        println!("| deliveries | p50 | p99 | max | server-side p99 (histogram bucket bound) |\n| --- | ---: | ---: | ---: | ---: |");
        let mut worst_server_p99 = Duration::ZERO;
        for (name, make) in [
            ("ignored (`labeled`)", labeled as fn(usize) -> serde_json::Value),
            ("queued (`opened`, job fails fast)", opened_elsewhere),
        ] {
            let before = ack_buckets(&h.metrics().await);
            let (p50, p99, max, _) = acknowledgement_latency(Arc::clone(&h), make).await;
            let after = ack_buckets(&h.metrics().await);
            let server_p99 = bucket_percentile(&before, &after, 0.99);
            worst_server_p99 = worst_server_p99.max(server_p99);
            println!(
                "| {name} | {} | {} | {} | <= {} |",
                ms(p50),
                ms(p99),
                ms(max),
                ms(server_p99)
            );
            wait_until_idle(&h).await;
        }
        println!();
        verdict(
            worst_server_p99 <= Duration::from_millis(5),
            &format!("server-side p99 <= {} (target < 5 ms)", ms(worst_server_p99)),
        );
        let mut times = Vec::new();
        let mut calls = Vec::new();
        for run in 0..END_TO_END_RUNS {
            let (elapsed, used) = end_to_end(&h, 100 + run, twenty_file_pr(100 + run)).await;
            times.push(elapsed);
            calls.push(used);
        }
        times.sort();
        println!("\n## Delivery to completed check run, 20-file pull request ({END_TO_END_RUNS} runs)\n");
        println!(
            "| p50 | p90 | max |\n| ---: | ---: | ---: |\n| {} | {} | {} |\n",
            ms(percentile(&times, 50.0)),
            ms(percentile(&times, 90.0)),
            ms(times[times.len() - 1])
        );
        verdict(
            percentile(&times, 50.0) < Duration::from_millis(250),
            &format!("p50 {} (target < 250 ms)", ms(percentile(&times, 50.0))),
        );

        println!("\n## GitHub API calls per analysed pull request (no earlier comments; `GET /app` and token fetches excluded)\n");
        println!("| pull request | annotations | calls | allowed |\n| --- | ---: | ---: | ---: |");
        let max_calls = calls.iter().copied().max().unwrap_or(0);
        println!("| 20 files, 5 findings | 5 | {max_calls} | 6 |");
        let mut met = max_calls <= 6;
        for findings in [50usize, 120] {
            let number = 1_000 + findings as u64;
            let (_, used) = end_to_end(&h, number, many_findings_pr(number, findings)).await;
            let allowed = 6 + findings.saturating_sub(50).div_ceil(50);
            println!("| 1 file, {findings} findings | {findings} | {used} | {allowed} |");
            met &= used <= allowed;
        }
        println!();
        verdict(met, "calls per pull request within 6 + 1 per 50 annotations beyond 50");
        println!("\ninstallation token fetches in the whole run: {}", h.github.token_fetches());
    });
}
