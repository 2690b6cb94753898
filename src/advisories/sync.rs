//! `hunkscan advisories sync`: OSV's per-ecosystem `all.zip` exports into
//! the database directory.
//!
//! Each download is conditional (the previous `ETag` / `Last-Modified`,
//! kept beside the archive in `all.zip.meta.json`), size-limited while it
//! streams, written to a temporary file in the same folder, and checked
//! before it replaces the working archive with one atomic rename: it must
//! open as a zip, every entry must inflate within
//! [`index::MAX_RECORD_BYTES`] (counted on what is inflated, not on what
//! the header claims, so a zip bomb stops at the limit) and parse as an
//! OSV record, and the total inflated size must stay within
//! [`SyncOptions::max_inflated`]. A download that fails any of these is
//! deleted and the previous database stays as it was.

use super::index::{self, MAX_RECORD_BYTES};
use super::osv::Record;
use crate::engine::deps::model::Ecosystem;
use http_body_util::BodyExt;
use serde::{Deserialize, Serialize};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Where OSV publishes its exports; `HUNKSCAN_OSV_URL` overrides it.
pub const DEFAULT_BASE_URL: &str = "https://osv-vulnerabilities.storage.googleapis.com";
/// The environment variable overriding [`DEFAULT_BASE_URL`].
pub const URL_ENV: &str = "HUNKSCAN_OSV_URL";

/// How to sync.
#[derive(Debug, Clone)]
pub struct SyncOptions {
    /// The export's base URL (`{base}/{Ecosystem}/all.zip`).
    pub base_url: String,
    /// Which ecosystems.
    pub ecosystems: Vec<Ecosystem>,
    /// Largest archive downloaded (bytes).
    pub max_download: u64,
    /// Largest total of inflated records accepted (bytes).
    pub max_inflated: u64,
    /// Time one download may take.
    pub timeout: Duration,
}

impl Default for SyncOptions {
    fn default() -> Self {
        Self {
            base_url: std::env::var(URL_ENV).unwrap_or_else(|_| DEFAULT_BASE_URL.to_owned()),
            ecosystems: Ecosystem::ALL.to_vec(),
            // npm's export, the largest of the four, is a few hundred MB.
            max_download: 1024 * 1024 * 1024,
            max_inflated: 8 * 1024 * 1024 * 1024,
            timeout: Duration::from_secs(600),
        }
    }
}

/// What happened to one ecosystem.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// A new archive replaced the old one.
    Updated {
        /// Archive size.
        bytes: u64,
        /// Records it holds.
        records: usize,
    },
    /// The server said the archive had not changed (304).
    NotModified,
    /// The download or its check failed; the previous database is kept.
    Failed(String),
}

/// Validators of the archive in place, for the next conditional request.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Meta {
    etag: Option<String>,
    last_modified: Option<String>,
    /// RFC 3339 time of the last successful check with the server.
    synced_at: Option<String>,
}

/// Syncs every ecosystem of `options` into `dir`; one failing does not stop the others.
///
/// Holds an exclusive lock on `dir/.sync.lock` throughout: a second sync of
/// the same directory (the bot's schedule, a run by hand) fails at once
/// rather than interleave its renames with this one's.
pub fn sync(dir: &Path, options: &SyncOptions) -> Vec<(Ecosystem, Outcome)> {
    let all_failed = |reason: String| {
        options
            .ecosystems
            .iter()
            .map(|e| (*e, Outcome::Failed(reason.clone())))
            .collect::<Vec<_>>()
    };
    let lock_path = dir.join(".sync.lock");
    let lock = std::fs::create_dir_all(dir)
        .and_then(|()| {
            std::fs::OpenOptions::new()
                .create(true)
                .truncate(false)
                .write(true)
                .open(&lock_path)
        })
        .map_err(|e| format!("{}: {e}", lock_path.display()));
    let lock = match lock {
        Ok(lock) => lock,
        Err(reason) => return all_failed(reason),
    };
    match lock.try_lock() {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => {
            return all_failed(format!(
                "another sync of {} is running; this one did nothing",
                dir.display()
            ));
        }
        Err(std::fs::TryLockError::Error(error)) => {
            return all_failed(format!("{}: {error}", lock_path.display()));
        }
    }
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            return options
                .ecosystems
                .iter()
                .map(|e| {
                    (
                        *e,
                        Outcome::Failed(format!("cannot start the runtime: {error}")),
                    )
                })
                .collect();
        }
    };
    let client = match client() {
        Ok(client) => client,
        Err(reason) => {
            return options
                .ecosystems
                .iter()
                .map(|e| (*e, Outcome::Failed(reason.clone())))
                .collect();
        }
    };
    options
        .ecosystems
        .iter()
        .map(|eco| {
            let outcome = runtime
                .block_on(sync_one(&client, dir, *eco, options))
                .unwrap_or_else(Outcome::Failed);
            (*eco, outcome)
        })
        .collect()
}

/// The time of the last successful sync of `ecosystem` under `dir`, if recorded.
pub fn synced_at(dir: &Path, ecosystem: Ecosystem) -> Option<String> {
    read_meta(&meta_path(dir, ecosystem)).synced_at
}

pub(crate) type Client = hyper_util::client::legacy::Client<
    hyper_rustls::HttpsConnector<hyper_util::client::legacy::connect::HttpConnector>,
    http_body_util::Empty<bytes::Bytes>,
>;

pub(crate) fn client() -> Result<Client, String> {
    let connector = hyper_rustls::HttpsConnectorBuilder::new()
        .with_native_roots()
        .map_err(|e| format!("no root certificates: {e}"))?
        .https_or_http()
        .enable_http1()
        .build();
    Ok(
        hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
            .build(connector),
    )
}

fn meta_path(dir: &Path, ecosystem: Ecosystem) -> PathBuf {
    dir.join(ecosystem.osv_name()).join("all.zip.meta.json")
}

fn read_meta(path: &Path) -> Meta {
    std::fs::read(path)
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .unwrap_or_default()
}

async fn sync_one(
    client: &Client,
    dir: &Path,
    eco: Ecosystem,
    options: &SyncOptions,
) -> Result<Outcome, String> {
    let folder = dir.join(eco.osv_name());
    std::fs::create_dir_all(&folder).map_err(|e| format!("{}: {e}", folder.display()))?;
    let target = folder.join("all.zip");
    let meta_file = meta_path(dir, eco);
    let mut meta = if target.is_file() {
        read_meta(&meta_file)
    } else {
        Meta::default()
    };
    let url = format!(
        "{}/{}/all.zip",
        options.base_url.trim_end_matches('/'),
        eco.osv_name()
    );
    let mut request = http::Request::get(&url).header(
        "user-agent",
        concat!("hunkscan/", env!("CARGO_PKG_VERSION")),
    );
    if let Some(etag) = &meta.etag {
        request = request.header("if-none-match", etag);
    }
    if let Some(modified) = &meta.last_modified {
        request = request.header("if-modified-since", modified);
    }
    let request = request
        .body(http_body_util::Empty::new())
        .map_err(|e| format!("{url}: {e}"))?;
    let work = async {
        let response = client
            .request(request)
            .await
            .map_err(|e| format!("{url}: {e}"))?;
        let status = response.status();
        if status == http::StatusCode::NOT_MODIFIED {
            return Ok(None);
        }
        if !status.is_success() {
            return Err(format!("{url}: HTTP {status}"));
        }
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let (etag, last_modified) = (header("etag"), header("last-modified"));
        if let Some(length) = header("content-length").and_then(|l| l.parse::<u64>().ok())
            && length > options.max_download
        {
            return Err(format!(
                "{url}: {length} bytes, over the {}-byte limit",
                options.max_download
            ));
        }
        let partial = folder.join(".all.zip.partial");
        let mut file =
            std::fs::File::create(&partial).map_err(|e| format!("{}: {e}", partial.display()))?;
        let mut body = response.into_body();
        let mut written = 0u64;
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|e| format!("{url}: {e}"))?;
            if let Some(chunk) = frame.data_ref() {
                written += chunk.len() as u64;
                if written > options.max_download {
                    drop(file);
                    let _ = std::fs::remove_file(&partial);
                    return Err(format!(
                        "{url}: over the {}-byte limit",
                        options.max_download
                    ));
                }
                file.write_all(chunk)
                    .map_err(|e| format!("{}: {e}", partial.display()))?;
            }
        }
        file.sync_all()
            .map_err(|e| format!("{}: {e}", partial.display()))?;
        Ok(Some((partial, written, etag, last_modified)))
    };
    let downloaded = tokio::time::timeout(options.timeout, work)
        .await
        .map_err(|_| format!("{url}: no complete answer within {:?}", options.timeout))??;
    let now = chrono::Utc::now().to_rfc3339();
    let Some((partial, bytes, etag, last_modified)) = downloaded else {
        meta.synced_at = Some(now);
        write_meta(&meta_file, &meta)?;
        return Ok(Outcome::NotModified);
    };
    let records = match check_archive(&partial, options.max_inflated) {
        Ok(records) => records,
        Err(reason) => {
            let _ = std::fs::remove_file(&partial);
            return Err(format!(
                "{url}: refused, the previous database is kept: {reason}"
            ));
        }
    };
    std::fs::rename(&partial, &target).map_err(|e| format!("{}: {e}", target.display()))?;
    write_meta(
        &meta_file,
        &Meta {
            etag,
            last_modified,
            synced_at: Some(now),
        },
    )?;
    Ok(Outcome::Updated { bytes, records })
}

fn write_meta(path: &Path, meta: &Meta) -> Result<(), String> {
    let text = serde_json::to_vec_pretty(meta).map_err(|e| e.to_string())?;
    let temporary = path.with_extension("json.partial");
    std::fs::write(&temporary, text)
        .and_then(|()| std::fs::rename(&temporary, path))
        .map_err(|e| format!("{}: {e}", path.display()))
}

/// Opens a downloaded archive and reads every record, within the limits;
/// the number of records, or why it is refused.
pub fn check_archive(path: &Path, max_inflated: u64) -> Result<usize, String> {
    let file = std::fs::File::open(path).map_err(|e| e.to_string())?;
    let mut archive = zip::ZipArchive::new(std::io::BufReader::new(file))
        .map_err(|e| format!("not a zip archive: {e}"))?;
    if archive.len() > index::MAX_RECORDS {
        return Err(format!(
            "{} entries, over the {} limit",
            archive.len(),
            index::MAX_RECORDS
        ));
    }
    let mut total = 0u64;
    let mut records = 0usize;
    let mut buffer = Vec::new();
    for i in 0..archive.len() {
        let mut entry = archive.by_index(i).map_err(|e| format!("entry {i}: {e}"))?;
        if !entry.is_file() {
            continue;
        }
        let name = entry
            .name()
            .map_err(|e| format!("entry {i}: {e}"))?
            .into_owned();
        buffer.clear();
        (&mut entry)
            .take(MAX_RECORD_BYTES + 1)
            .read_to_end(&mut buffer)
            .map_err(|e| format!("{name}: {e}"))?;
        if buffer.len() as u64 > MAX_RECORD_BYTES {
            return Err(format!("{name} inflates to over {MAX_RECORD_BYTES} bytes"));
        }
        total += buffer.len() as u64;
        if total > max_inflated {
            return Err(format!("records inflate to over {max_inflated} bytes"));
        }
        if name.ends_with(".json") {
            serde_json::from_slice::<Record>(&buffer)
                .map_err(|e| format!("{name}: not an OSV record: {e}"))?;
            records += 1;
        }
    }
    if records == 0 {
        return Err("no OSV record in the archive".into());
    }
    Ok(records)
}
