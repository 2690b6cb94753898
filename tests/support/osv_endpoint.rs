//! An emulated OSV export bucket: `GET /{Ecosystem}/all.zip` answers the
//! archive a test put there with its `ETag`, or `304 Not Modified` when the
//! request's `If-None-Match` names the current one. Plain HTTP on a
//! loopback port, one thread per connection, `Connection: close`.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

#[derive(Default)]
struct State {
    archives: HashMap<String, (Vec<u8>, String)>,
    conditional: usize,
}

/// The running endpoint.
pub struct OsvEndpoint {
    address: String,
    state: Arc<Mutex<State>>,
}

impl OsvEndpoint {
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

    /// The base URL (`HUNKSCAN_OSV_URL`).
    pub fn url(&self) -> String {
        self.address.clone()
    }

    /// Serves `bytes` as `{ecosystem}/all.zip` with `etag` from now on.
    pub fn serve(&self, ecosystem: &str, bytes: Vec<u8>, etag: &str) {
        self.state
            .lock()
            .expect("state")
            .archives
            .insert(ecosystem.to_owned(), (bytes, etag.to_owned()));
    }

    /// Requests answered 304 so far.
    pub fn conditional_requests(&self) -> usize {
        self.state.lock().expect("state").conditional
    }
}

fn answer(stream: std::net::TcpStream, state: &Mutex<State>) {
    let mut reader = BufReader::new(stream);
    let mut request_line = String::new();
    if reader.read_line(&mut request_line).is_err() {
        return;
    }
    let mut if_none_match = None;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).is_err() || line.trim().is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':')
            && name.eq_ignore_ascii_case("if-none-match")
        {
            if_none_match = Some(value.trim().to_owned());
        }
    }
    let path = request_line
        .split_whitespace()
        .nth(1)
        .unwrap_or("/")
        .to_owned();
    let ecosystem = path
        .trim_start_matches('/')
        .strip_suffix("/all.zip")
        .unwrap_or("")
        .to_owned();
    let mut stream = reader.into_inner();
    let response = {
        let mut state = state.lock().expect("state");
        match state.archives.get(&ecosystem).cloned() {
            Some((_, etag)) if if_none_match.as_deref() == Some(etag.as_str()) => {
                state.conditional += 1;
                format!("HTTP/1.1 304 Not Modified\r\nETag: {etag}\r\nConnection: close\r\n\r\n")
                    .into_bytes()
            }
            Some((bytes, etag)) => {
                let mut head = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: application/zip\r\nContent-Length: {}\r\nETag: {etag}\r\nConnection: close\r\n\r\n",
                    bytes.len()
                )
                .into_bytes();
                head.extend_from_slice(&bytes);
                head
            }
            None => {
                b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".to_vec()
            }
        }
    };
    let _ = stream.write_all(&response);
    let _ = stream.flush();
}
