//! The server's memory under unsigned traffic: peak RSS (`VmHWM`) of a
//! `hunkscan serve` process while 40 clients at once each send a 24 MB body
//! with a forged signature, then 40 more without one (target: under
//! 150 MB; before the body budget, 30 such bodies took the process from
//! 48 MB to 482 MB and 40 past 1 GB). Also the time from SIGTERM to exit.
//!
//! `cargo bench --bench server_memory`. The server runs with the default
//! limits and test credentials, on loopback, measured from this process
//! through `/proc/<pid>/status`. `HUNKSCAN_BENCH_BIN=path` measures another
//! build of `hunkscan` instead (an older one, for a before/after).

mod common;

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const CLIENTS: usize = 40;
const BODY_BYTES: usize = 24 * 1024 * 1024;
const TARGET_MB: f64 = 150.0;
const PRIVATE_KEY: &str = include_str!("../fixtures/github/test-app-private-key.pem");
const FORGED: &str = "sha256=0000000000000000000000000000000000000000000000000000000000000000";

/// A `kB` field of `/proc/<pid>/status`, in MB.
fn status_mb(pid: u32, field: &str) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|value| value.trim().trim_end_matches(" kB").parse::<f64>().ok())
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .expect("a free port")
}

fn start_server(port: u16) -> Child {
    let binary = std::env::var("HUNKSCAN_BENCH_BIN")
        .unwrap_or_else(|_| env!("CARGO_BIN_EXE_hunkscan").to_owned());
    Command::new(binary)
        .arg("serve")
        // No .env of the working tree: only the settings below.
        .current_dir(std::env::temp_dir())
        .env_clear()
        .env("GITHUB_APP_ID", "4242")
        .env("GITHUB_PRIVATE_KEY", PRIVATE_KEY)
        .env("GITHUB_WEBHOOK_SECRET", "bench secret")
        // Never called: no delivery is signed, so no job runs.
        .env("GITHUB_API_URL", "http://127.0.0.1:9")
        .env("PORT", port.to_string())
        // Memory under forged traffic, without an advisory index loaded.
        .env("HUNKSCAN_ADVISORY_SYNC_INTERVAL", "off")
        .env("RUST_LOG", "error")
        .stdout(Stdio::null())
        .spawn()
        .expect("hunkscan serve starts")
}

async fn wait_until_serving(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)).await {
            let _ = stream
                .write_all(b"GET /healthz HTTP/1.1\r\nhost: bench\r\nconnection: close\r\n\r\n")
                .await;
            let mut answer = Vec::new();
            let _ = stream.read_to_end(&mut answer).await;
            if answer.starts_with(b"HTTP/1.1 200") {
                return;
            }
        }
        assert!(Instant::now() < deadline, "hunkscan serve did not come up");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// One delivery: the head, then the body while the answer is awaited (the
/// server may answer, and close, before it has read the body). Returns the
/// status code, or "closed" when the connection ended without one.
async fn deliver(port: u16, signature: Option<&'static str>, body: Arc<Vec<u8>>) -> String {
    let Ok(stream) = TcpStream::connect(("127.0.0.1", port)).await else {
        return "refused".to_owned();
    };
    let signature = signature
        .map(|s| format!("x-hub-signature-256: {s}\r\n"))
        .unwrap_or_default();
    let head = format!(
        "POST /api/github/webhooks HTTP/1.1\r\nhost: bench\r\ncontent-type: application/json\r\nx-github-event: pull_request\r\nx-github-delivery: bench\r\n{signature}content-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    );
    let (mut reader, mut writer) = stream.into_split();
    let sending = tokio::spawn(async move {
        if writer.write_all(head.as_bytes()).await.is_ok() {
            let _ = writer.write_all(&body).await;
        }
        // Dropping the write half would end the stream (a half-close),
        // which hyper takes for the client leaving: hold it until the
        // answer is read.
        std::future::pending::<()>().await;
    });
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(120), async {
        let mut buffer = [0u8; 1024];
        while !answer.windows(2).any(|w| w == b"\r\n") {
            match reader.read(&mut buffer).await {
                Ok(0) | Err(_) => break,
                Ok(n) => answer.extend_from_slice(&buffer[..n]),
            }
        }
    })
    .await;
    sending.abort();
    let answer = String::from_utf8_lossy(&answer);
    answer
        .strip_prefix("HTTP/1.1 ")
        .and_then(|rest| rest.get(..3))
        .map_or_else(|| "closed".to_owned(), str::to_owned)
}

/// `CLIENTS` deliveries at once; their outcomes, counted, and the time.
async fn wave(
    port: u16,
    signature: Option<&'static str>,
    body: &Arc<Vec<u8>>,
) -> (String, Duration) {
    let started = Instant::now();
    let clients: Vec<_> = (0..CLIENTS)
        .map(|_| tokio::spawn(deliver(port, signature, Arc::clone(body))))
        .collect();
    let mut outcomes = std::collections::BTreeMap::<String, usize>::new();
    for client in clients {
        let outcome = client.await.unwrap_or_else(|_| "panicked".to_owned());
        *outcomes.entry(outcome).or_default() += 1;
    }
    let counted = outcomes
        .iter()
        .map(|(outcome, count)| format!("{count} × {outcome}"))
        .collect::<Vec<_>>()
        .join(", ");
    (counted, started.elapsed())
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    println!("# hunkscan server memory under unsigned traffic\n");
    println!("machine: {}", common::machine());
    println!("command: cargo bench --bench server_memory\n");
    let port = free_port();
    let mut server = start_server(port);
    let pid = server.id();
    runtime.block_on(wait_until_serving(port));
    let body = Arc::new(vec![b'x'; BODY_BYTES]);
    println!(
        "`hunkscan serve`, default limits; {CLIENTS} clients at once, each one {} MB body.\n",
        BODY_BYTES / 1024 / 1024
    );
    println!("| load | answers | time | server VmRSS after | server VmHWM (peak) after |");
    println!("| --- | --- | ---: | ---: | ---: |");
    println!(
        "| started, idle | | | {:.1} MB | {:.1} MB |",
        status_mb(pid, "VmRSS"),
        status_mb(pid, "VmHWM")
    );
    for (name, signature) in [
        ("forged signature (well-formed, wrong)", Some(FORGED)),
        ("no signature", None),
    ] {
        let (answers, took) = runtime.block_on(wave(port, signature, &body));
        println!(
            "| {name} | {answers} | {:.2} s | {:.1} MB | {:.1} MB |",
            took.as_secs_f64(),
            status_mb(pid, "VmRSS"),
            status_mb(pid, "VmHWM")
        );
    }
    let peak = status_mb(pid, "VmHWM");
    println!();
    println!(
        "- {} peak RSS {peak:.1} MB (target < {TARGET_MB} MB)",
        if peak < TARGET_MB { "PASS" } else { "MISS" }
    );
    // SIGTERM, as fly.io sends it, with one connection still half-sent.
    let half_sent = runtime.block_on(async {
        let mut stream = TcpStream::connect(("127.0.0.1", port)).await.ok()?;
        let head = format!(
            "POST /api/github/webhooks HTTP/1.1\r\nhost: bench\r\nx-hub-signature-256: {FORGED}\r\ncontent-length: 1000\r\n\r\n{{\"action\":"
        );
        stream.write_all(head.as_bytes()).await.ok()?;
        Some(stream)
    });
    let signalled = Instant::now();
    let _ = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status();
    let exited = loop {
        match server.try_wait() {
            Ok(Some(status)) => break Some(status),
            Ok(None) if signalled.elapsed() < Duration::from_secs(60) => {
                std::thread::sleep(Duration::from_millis(10));
            }
            _ => break None,
        }
    };
    drop(half_sent);
    match exited {
        Some(status) => println!(
            "- SIGTERM to exit, with a half-sent request open: {:.2} s ({status})",
            signalled.elapsed().as_secs_f64()
        ),
        None => {
            println!("- MISS: still running 60 s after SIGTERM; killed");
            let _ = server.kill();
            let _ = server.wait();
        }
    }
}
