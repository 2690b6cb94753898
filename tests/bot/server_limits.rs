//! What unauthenticated traffic can take of the server: memory for bodies
//! not yet verified, time (slow headers, slow bodies, idle connections),
//! connections, and the time it takes to shut down. The real app
//! (`hunkscan::app::start`) with small configured limits; the slow and
//! half-sent clients speak HTTP by hand over raw sockets.
//!
//! No assertion is about speed: the timeouts configured are short, and each
//! wait for the server to act has a generous bound.

use crate::support::bot::{Harness, SECRET, test_policy};
use crate::support::github_emulator::{FileSpec, PullSpec};
use hunkscan::app::webhook::sign;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot, watch};

/// The longest any test waits for the server to answer or close.
const BOUND: Duration = Duration::from_secs(10);
const MIB: usize = 1024 * 1024;
/// Well-formed, and never the signature of any body these tests send.
const FORGED: &str = "sha256=0000000000000000000000000000000000000000000000000000000000000000";

async fn start(settings: &[(&str, &str)]) -> Harness {
    Harness::start_configured(test_policy(), true, settings, std::future::pending()).await
}

/// A metric's value in the server's exposition; 0 when it has no sample.
fn metric(h: &Harness, sample: &str) -> f64 {
    h.bot
        .metrics
        .render()
        .lines()
        .find_map(|line| line.strip_prefix(sample)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or(0.0)
}

/// Polls `metric` until `until` holds, for at most [`BOUND`].
async fn wait_for_metric(h: &Harness, sample: &str, until: impl Fn(f64) -> bool) {
    let deadline = tokio::time::Instant::now() + BOUND;
    while !until(metric(h, sample)) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{sample} stayed at {}",
            metric(h, sample)
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

async fn connect(h: &Harness) -> TcpStream {
    TcpStream::connect(h.bot.addr).await.expect("connect")
}

/// A webhook request's head: `signature` (if any) and `Content-Length`.
fn webhook_head(signature: Option<&str>, length: usize) -> String {
    let signature = signature
        .map(|s| format!("x-hub-signature-256: {s}\r\n"))
        .unwrap_or_default();
    format!(
        "POST /api/github/webhooks HTTP/1.1\r\nhost: hunkscan\r\ncontent-type: application/json\r\nx-github-event: pull_request\r\nx-github-delivery: raw\r\n{signature}content-length: {length}\r\n\r\n"
    )
}

/// Everything the server sends until it closes the connection; `None` if
/// it is still open after [`BOUND`]. A reset counts as closed.
async fn until_closed(stream: &mut TcpStream) -> Option<String> {
    let mut received = Vec::new();
    let mut buffer = [0u8; 4096];
    let closed = tokio::time::timeout(BOUND, async {
        loop {
            match stream.read(&mut buffer).await {
                Ok(0) | Err(_) => return,
                Ok(n) => received.extend_from_slice(&buffer[..n]),
            }
        }
    })
    .await;
    closed
        .ok()
        .map(|()| String::from_utf8_lossy(&received).into_owned())
}

/// The head of the server's next answer (or what it sent before closing);
/// `None` if nothing came within [`BOUND`].
async fn answer_head(stream: &mut TcpStream) -> Option<String> {
    let mut received = Vec::new();
    let mut byte = [0u8; 1];
    let read = tokio::time::timeout(BOUND, async {
        while !received.ends_with(b"\r\n\r\n") {
            match stream.read(&mut byte).await {
                Ok(0) | Err(_) => return,
                Ok(_) => received.push(byte[0]),
            }
        }
    })
    .await;
    read.ok()
        .map(|()| String::from_utf8_lossy(&received).into_owned())
}

async fn get_healthz(stream: &mut TcpStream) -> String {
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nhost: hunkscan\r\n\r\n")
        .await
        .expect("request sent");
    let head = answer_head(stream).await.expect("answered");
    let mut ok = [0u8; 2];
    stream.read_exact(&mut ok).await.expect("the body, \"ok\"");
    head
}

async fn next_answer(answered: &mut mpsc::Receiver<String>) -> String {
    tokio::time::timeout(BOUND, answered.recv())
        .await
        .ok()
        .flatten()
        .expect("a client is answered")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_bodies_sent_at_once_stay_within_the_body_budget() {
    const CLIENTS: usize = 20;
    const BODY: usize = 2 * MIB;
    // Room for two 2 MB bodies. Each client sends its headers, then the
    // body only when released: the two admitted hold their share until
    // then, the others wait 200 ms for room and are answered 503.
    let budget = (4 * MIB).to_string();
    let h = start(&[
        ("HUNKSCAN_BODY_BUDGET_BYTES", &budget),
        ("HUNKSCAN_BODY_BUDGET_WAIT_MS", "200"),
        ("HUNKSCAN_BODY_TIMEOUT_MS", "60000"),
    ])
    .await;
    let (release, released) = watch::channel(false);
    let (answers, mut answered) = mpsc::channel(CLIENTS);
    for _ in 0..CLIENTS {
        let mut stream = connect(&h).await;
        let mut released = released.clone();
        let answers = answers.clone();
        tokio::spawn(async move {
            stream
                .write_all(webhook_head(Some(FORGED), BODY).as_bytes())
                .await
                .expect("head sent");
            let (mut reader, mut writer) = stream.into_split();
            let mut head = Vec::new();
            let early = tokio::select! {
                read = reader.read_buf(&mut head) => read.is_ok(),
                _ = released.wait_for(|released| *released) => false,
            };
            if !early {
                writer
                    .write_all(&vec![b'x'; BODY])
                    .await
                    .expect("body sent once released");
            }
            let mut rest = [0u8; 4096];
            while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                match reader.read(&mut rest).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => head.extend_from_slice(&rest[..n]),
                }
            }
            let _ = answers
                .send(String::from_utf8_lossy(&head).into_owned())
                .await;
        });
    }
    let mut heads = Vec::new();
    // The 18 that find no room are answered while the two admitted still
    // hold theirs: nobody has sent a body byte yet.
    for _ in 0..CLIENTS - 2 {
        heads.push(next_answer(&mut answered).await);
    }
    let busy = heads
        .iter()
        .filter(|head| head.starts_with("HTTP/1.1 503"))
        .count();
    assert_eq!(busy, CLIENTS - 2, "{heads:#?}");
    assert!(
        heads
            .iter()
            .all(|head| head.to_ascii_lowercase().contains("retry-after: 5")),
        "{heads:#?}"
    );
    assert_eq!(
        metric(&h, "hunkscan_webhook_body_bytes"),
        (4 * MIB) as f64,
        "the two admitted hold the whole budget"
    );
    release.send_replace(true);
    for _ in 0..2 {
        heads.push(next_answer(&mut answered).await);
    }
    let refused = heads[CLIENTS - 2..]
        .iter()
        .filter(|head| head.starts_with("HTTP/1.1 401"))
        .count();
    assert_eq!(refused, 2, "read whole, then refused: {heads:#?}");
    assert_eq!(
        metric(&h, "hunkscan_webhook_body_bytes_peak"),
        (4 * MIB) as f64,
        "never more than the budget held"
    );
    assert_eq!(metric(&h, "hunkscan_webhook_body_bytes"), 0.0);
    assert_eq!(
        metric(&h, "hunkscan_webhook_body_budget_refused_total"),
        (CLIENTS - 2) as f64
    );
    assert_eq!(
        metric(
            &h,
            "hunkscan_webhook_deliveries_total{event=\"pull_request\",outcome=\"busy\"}"
        ),
        (CLIENTS - 2) as f64
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_or_malformed_signature_is_refused_before_the_body_is_read() {
    let h = start(&[]).await;
    for signature in [None, Some("sha1=0123"), Some("sha256=not-hex")] {
        let mut stream = connect(&h).await;
        // 20 MB announced (under the 25 MB limit), not a byte of it sent:
        // the answer comes all the same.
        stream
            .write_all(webhook_head(signature, 20 * MIB).as_bytes())
            .await
            .expect("head sent");
        let head = answer_head(&mut stream)
            .await
            .expect("answered without the body");
        assert!(head.starts_with("HTTP/1.1 401"), "{signature:?}: {head}");
    }
    assert_eq!(
        metric(&h, "hunkscan_webhook_body_bytes_peak"),
        0.0,
        "no body was taken in"
    );
    assert_eq!(
        metric(
            &h,
            "hunkscan_webhook_deliveries_total{event=\"pull_request\",outcome=\"rejected_signature\"}"
        ),
        3.0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_client_still_sending_its_body_gets_the_answer() {
    let h = start(&[]).await;
    let mut stream = connect(&h).await;
    // Unsigned: refused at the headers. The client sends its whole body
    // before it reads the answer, as many do; closing on the unread bytes
    // would reset the connection and lose the answer.
    stream
        .write_all(webhook_head(None, 2 * MIB).as_bytes())
        .await
        .expect("head sent");
    stream
        .write_all(&vec![b'x'; 2 * MIB])
        .await
        .expect("the body is taken in and dropped");
    let said = until_closed(&mut stream).await.expect("closed");
    assert!(said.starts_with("HTTP/1.1 401"), "{said:?}");
    assert_eq!(metric(&h, "hunkscan_webhook_body_bytes_peak"), 0.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_keep_alive_connection_is_closed_by_the_idle_timeout() {
    let h = start(&[
        ("HUNKSCAN_IDLE_TIMEOUT_MS", "300"),
        ("HUNKSCAN_HEADER_TIMEOUT_MS", "600000"),
    ])
    .await;
    let mut stream = connect(&h).await;
    let head = get_healthz(&mut stream).await;
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert_eq!(
        until_closed(&mut stream).await.as_deref(),
        Some(""),
        "closed, with nothing more said"
    );
    assert_eq!(
        metric(&h, "hunkscan_http_timeouts_total{phase=\"idle\"}"),
        1.0
    );
    assert_eq!(
        metric(&h, "hunkscan_http_timeouts_total{phase=\"header\"}"),
        0.0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_headers_are_closed_by_the_header_timeout() {
    let h = start(&[
        ("HUNKSCAN_HEADER_TIMEOUT_MS", "300"),
        ("HUNKSCAN_IDLE_TIMEOUT_MS", "600000"),
    ])
    .await;
    // Part of a request line, then nothing.
    let mut first = connect(&h).await;
    first
        .write_all(b"POST /api/github/webhooks HTT")
        .await
        .expect("sent");
    // A kept-alive connection whose next request stalls the same way.
    let mut later = connect(&h).await;
    let head = get_healthz(&mut later).await;
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    later
        .write_all(b"GET /healthz HTTP/1.1\r\nhost: hunk")
        .await
        .expect("sent");
    // And one that never says a word.
    let mut silent = connect(&h).await;
    for stream in [&mut first, &mut later, &mut silent] {
        assert_eq!(until_closed(stream).await.as_deref(), Some(""));
    }
    assert_eq!(
        metric(&h, "hunkscan_http_timeouts_total{phase=\"header\"}"),
        3.0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_body_is_answered_408_and_closed_by_the_body_timeout() {
    let h = start(&[("HUNKSCAN_BODY_TIMEOUT_MS", "300")]).await;
    let mut stream = connect(&h).await;
    stream
        .write_all(webhook_head(Some(FORGED), 1000).as_bytes())
        .await
        .expect("head sent");
    stream.write_all(b"{\"action\":").await.expect("some body");
    let said = until_closed(&mut stream).await.expect("closed");
    assert!(said.starts_with("HTTP/1.1 408"), "{said}");
    assert!(
        said.to_ascii_lowercase().contains("connection: close"),
        "{said}"
    );
    assert_eq!(
        metric(&h, "hunkscan_http_timeouts_total{phase=\"body\"}"),
        1.0
    );
    assert_eq!(metric(&h, "hunkscan_webhook_body_bytes"), 0.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_over_the_cap_are_closed_at_once() {
    let h = start(&[
        ("HUNKSCAN_MAX_CONNECTIONS", "4"),
        ("HUNKSCAN_HEADER_TIMEOUT_MS", "600000"),
        ("HUNKSCAN_IDLE_TIMEOUT_MS", "600000"),
    ])
    .await;
    let mut open = Vec::new();
    for _ in 0..4 {
        open.push(connect(&h).await);
    }
    wait_for_metric(&h, "hunkscan_http_connections", |n| n == 4.0).await;
    let mut fifth = connect(&h).await;
    let said = until_closed(&mut fifth)
        .await
        .expect("the fifth connection is closed");
    assert!(
        said.is_empty() || said.starts_with("HTTP/1.1 503"),
        "{said}"
    );
    assert_eq!(metric(&h, "hunkscan_http_connections_refused_total"), 1.0);
    // The four are still served; once one goes, a newcomer is too.
    let head = get_healthz(&mut open[0]).await;
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    drop(open.pop());
    wait_for_metric(&h, "hunkscan_http_connections", |n| n == 3.0).await;
    let mut newcomer = connect(&h).await;
    let head = get_healthz(&mut newcomer).await;
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn half_sent_requests_do_not_delay_shutdown() {
    let (stop, stopped) = oneshot::channel::<()>();
    // The default timeouts (10 s, 30 s, 30 s): shutdown must not wait them out.
    let mut h = Harness::start_configured(test_policy(), true, &[], async {
        let _ = stopped.await;
    })
    .await;
    let addr = h.bot.addr;
    let mut body_half_sent = connect(&h).await;
    body_half_sent
        .write_all(webhook_head(Some(FORGED), 1000).as_bytes())
        .await
        .expect("head sent");
    body_half_sent
        .write_all(b"{\"action\":")
        .await
        .expect("some body");
    let mut head_half_sent = connect(&h).await;
    head_half_sent
        .write_all(b"POST /api/github/webhooks HTTP/1.1\r\nx-github-ev")
        .await
        .expect("sent");
    let mut idle = connect(&h).await;
    let head = get_healthz(&mut idle).await;
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    wait_for_metric(&h, "hunkscan_webhook_body_bytes", |n| n == 1000.0).await;
    wait_for_metric(&h, "hunkscan_http_connections", |n| n == 3.0).await;

    stop.send(()).expect("server waiting for the signal");
    let ended = tokio::time::timeout(Duration::from_secs(5), &mut h.bot.server)
        .await
        .expect("the server ends while the clients still hold their connections");
    ended.expect("server task").expect("server");

    let said = until_closed(&mut body_half_sent).await.expect("closed");
    assert!(
        said.is_empty() || said.starts_with("HTTP/1.1 503"),
        "{said}"
    );
    assert_eq!(until_closed(&mut head_half_sent).await.as_deref(), Some(""));
    assert_eq!(until_closed(&mut idle).await.as_deref(), Some(""));
    assert!(
        TcpStream::connect(addr).await.is_err(),
        "no longer listening"
    );
    assert_eq!(metric(&h, "hunkscan_http_connections"), 0.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signed_deliveries_pass_under_tight_limits() {
    let budget = MIB.to_string();
    let h = start(&[
        ("HUNKSCAN_BODY_BUDGET_BYTES", &budget),
        ("HUNKSCAN_BODY_BUDGET_WAIT_MS", "200"),
        ("HUNKSCAN_HEADER_TIMEOUT_MS", "2000"),
        ("HUNKSCAN_BODY_TIMEOUT_MS", "2000"),
        ("HUNKSCAN_MAX_CONNECTIONS", "8"),
    ])
    .await;
    h.open(PullSpec {
        number: 1,
        base_sha: "base0001".into(),
        head_sha: "head0001".into(),
        draft: false,
        files: vec![FileSpec::added(
            "app.py",
            "import os\n\n\ndef run(cmd):\n    os.system(cmd)\n",
        )],
    })
    .await;
    let check = h.completed_check("head0001").await;
    assert_eq!(check.conclusion.as_deref(), Some("failure"));

    // Chunked, with no Content-Length, in pieces past the first reservation
    // (64 kB): the budget is taken as the body grows.
    let body = format!(
        "{{\"zen\":\"{}\",\"hook_id\":1}}",
        "Keep it logically awesome. ".repeat(8_000)
    );
    for (signature, expected) in [
        (sign(SECRET.as_bytes(), body.as_bytes()), "HTTP/1.1 200"),
        (FORGED.to_owned(), "HTTP/1.1 401"),
    ] {
        let mut stream = connect(&h).await;
        let head = format!(
            "POST /webhook HTTP/1.1\r\nhost: hunkscan\r\ncontent-type: application/json\r\nx-github-event: ping\r\nx-github-delivery: chunked\r\nx-hub-signature-256: {signature}\r\ntransfer-encoding: chunked\r\n\r\n"
        );
        stream.write_all(head.as_bytes()).await.expect("head sent");
        for piece in body.as_bytes().chunks(50_000) {
            stream
                .write_all(format!("{:x}\r\n", piece.len()).as_bytes())
                .await
                .expect("chunk size");
            stream.write_all(piece).await.expect("chunk");
            stream.write_all(b"\r\n").await.expect("chunk end");
        }
        stream.write_all(b"0\r\n\r\n").await.expect("last chunk");
        let answer = answer_head(&mut stream).await.expect("answered");
        assert!(answer.starts_with(expected), "{answer}");
    }
    assert!(
        metric(&h, "hunkscan_webhook_body_bytes_peak") <= MIB as f64,
        "within the budget"
    );
    assert_eq!(metric(&h, "hunkscan_webhook_body_bytes"), 0.0);
    h.assert_valid_requests();
}
