//! Emulated package registries for licence lookups: one loopback HTTP
//! server answering crates.io's, PyPI's and npm's metadata paths with the
//! JSON documents a test put there (any other path: 404), counting the
//! requests per path. A path can be made to answer slowly, to exercise the
//! lookup's timeout. Plain HTTP, one thread per connection,
//! `Connection: close`, like `osv_endpoint`.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[derive(Default)]
struct State {
    documents: HashMap<String, (u16, Vec<u8>)>,
    delays: HashMap<String, Duration>,
    requests: HashMap<String, usize>,
}

/// The running registries.
pub struct Registries {
    address: String,
    state: Arc<Mutex<State>>,
}

impl Registries {
    /// Starts on a free loopback port.
    pub fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let address = format!("http://{}", listener.local_addr().expect("address"));
        let state = Arc::new(Mutex::new(State::default()));
        let shared = Arc::clone(&state);
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let state = Arc::clone(&shared);
                std::thread::spawn(move || answer(stream, &state));
            }
        });
        Self { address, state }
    }

    /// The base URL (every registry's: their paths do not overlap).
    pub fn url(&self) -> String {
        self.address.clone()
    }

    /// Answers `path` with `status` and `body`.
    pub fn serve(&self, path: &str, status: u16, body: impl Into<Vec<u8>>) {
        self.state
            .lock()
            .expect("state")
            .documents
            .insert(path.to_owned(), (status, body.into()));
    }

    /// Waits `delay` before answering `path`.
    pub fn delay(&self, path: &str, delay: Duration) {
        self.state
            .lock()
            .expect("state")
            .delays
            .insert(path.to_owned(), delay);
    }

    /// Requests for `path` so far.
    pub fn requests(&self, path: &str) -> usize {
        self.state
            .lock()
            .expect("state")
            .requests
            .get(path)
            .copied()
            .unwrap_or(0)
    }

    /// Requests for any path so far.
    pub fn total_requests(&self) -> usize {
        self.state.lock().expect("state").requests.values().sum()
    }
}

fn answer(stream: std::net::TcpStream, state: &Mutex<State>) {
    let mut reader = BufReader::new(stream);
    let mut request_line = String::new();
    if reader.read_line(&mut request_line).is_err() {
        return;
    }
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).is_err() || line.trim().is_empty() {
            break;
        }
    }
    let path = request_line
        .split_whitespace()
        .nth(1)
        .unwrap_or("/")
        .to_owned();
    let (document, delay) = {
        let mut state = state.lock().expect("state");
        *state.requests.entry(path.clone()).or_default() += 1;
        (
            state.documents.get(&path).cloned(),
            state.delays.get(&path).copied(),
        )
    };
    if let Some(delay) = delay {
        std::thread::sleep(delay);
    }
    let (status, body) = document.unwrap_or((404, b"{\"errors\":[\"not found\"]}".to_vec()));
    let reason = if status == 200 { "OK" } else { "Other" };
    let mut response = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    response.extend_from_slice(&body);
    let mut stream = reader.into_inner();
    let _ = stream.write_all(&response);
    let _ = stream.flush();
}
