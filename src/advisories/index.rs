//! The compact in-memory index: per (ecosystem, normalised name) the
//! affected ranges, each pointing at one shared advisory summary. Only what
//! matching and messages need is kept (no details, no credits), so the
//! full exports of the big ecosystems fit in a few tens of megabytes.
//!
//! Reading is bounded: a record over [`MAX_RECORD_BYTES`] is skipped and
//! counted, an archive holds at most [`MAX_RECORDS`] entries, and a zip
//! entry's size is checked against what is actually read, so a zip bomb
//! costs no more than one record's limit.

use super::osv::{self, Record};
use crate::engine::Severity;
use crate::engine::deps::model::Ecosystem;
use crate::engine::deps::version::{Event, Listed, SortedRange};
use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use thiserror::Error;

/// The largest single OSV record read (the biggest real ones are ~1 MB,
/// Linux kernel records with thousands of versions).
pub const MAX_RECORD_BYTES: u64 = 8 * 1024 * 1024;
/// Records per ecosystem at most (PyPI and npm have well under 300,000).
pub const MAX_RECORDS: usize = 2_000_000;
/// Characters of a summary kept.
const SUMMARY_CHARS: usize = 160;

/// One advisory, as findings show it.
#[derive(Debug, Clone)]
pub struct Advisory {
    /// Its id.
    pub id: String,
    /// Other ids of the same vulnerability.
    pub aliases: Vec<String>,
    /// One line, shortened.
    pub summary: String,
    /// Highest stated severity, if any.
    pub severity: Option<Severity>,
    /// First CWE the database names.
    pub cwe: Option<String>,
}

/// One affected package of one advisory.
#[derive(Debug, Clone)]
pub struct AffectedEntry {
    /// Index into [`Index::advisory`].
    pub advisory: u32,
    /// Each range's events (GIT ranges dropped: they name commits).
    pub ranges: Vec<Vec<Event>>,
    /// Versions listed one by one.
    pub versions: Vec<String>,
    /// `ranges` and `versions` parsed, on the first package that asks.
    /// Parsing every event at load would spend much of the load budget on
    /// records no change ever names; parsing at each check made a review of
    /// 5,000 pins parse each range twice (base and head) and each fix again.
    parsed: OnceLock<ParsedEntry>,
}

/// An [`AffectedEntry`]'s versions parsed with its ecosystem's rules.
#[derive(Debug, Clone)]
pub struct ParsedEntry {
    /// Each range.
    pub ranges: Vec<SortedRange>,
    /// The explicit versions.
    pub listed: Listed,
}

impl AffectedEntry {
    /// An entry of `ranges` and `versions`.
    pub fn new(advisory: u32, ranges: Vec<Vec<Event>>, versions: Vec<String>) -> AffectedEntry {
        AffectedEntry {
            advisory,
            ranges,
            versions,
            parsed: OnceLock::new(),
        }
    }

    /// The entry's versions parsed with `ecosystem`'s rules (the ecosystem
    /// the index filed it under), once.
    pub fn parsed(&self, ecosystem: Ecosystem) -> &ParsedEntry {
        self.parsed.get_or_init(|| ParsedEntry {
            ranges: self
                .ranges
                .iter()
                .map(|events| SortedRange::new(ecosystem, events))
                .collect(),
            listed: Listed::new(ecosystem, &self.versions),
        })
    }
}

/// What was loaded for one ecosystem.
#[derive(Debug, Clone)]
pub struct EcosystemStatus {
    /// Which.
    pub ecosystem: Ecosystem,
    /// Records indexed.
    pub records: usize,
    /// Withdrawn records left out.
    pub withdrawn: usize,
    /// Records that could not be read, with the first reason.
    pub unreadable: usize,
    /// The first unreadable record's reason.
    pub first_problem: Option<String>,
    /// The newest `modified` among the records (RFC 3339), the data's age.
    pub newest: Option<String>,
    /// When `hunkscan advisories sync` last heard from the server (RFC
    /// 3339), when it synced this folder.
    pub synced_at: Option<String>,
}

impl EcosystemStatus {
    /// How fresh the data is: the last sync, else the newest record.
    pub fn as_of(&self) -> Option<chrono::DateTime<chrono::Utc>> {
        self.synced_at
            .as_deref()
            .or(self.newest.as_deref())
            .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
            .map(|t| t.with_timezone(&chrono::Utc))
    }
}

/// The advisories of a database directory.
#[derive(Default)]
pub struct Index {
    advisories: Vec<Advisory>,
    by_package: HashMap<(Ecosystem, String), Vec<AffectedEntry>>,
    /// Per ecosystem found in the directory.
    pub status: Vec<EcosystemStatus>,
    /// The directory it came from.
    pub dir: PathBuf,
}

impl std::fmt::Debug for Index {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Index")
            .field("dir", &self.dir)
            .field("advisories", &self.advisories.len())
            .field("packages", &self.by_package.len())
            .finish()
    }
}

/// Why a database could not be opened at all.
#[derive(Debug, Error)]
pub enum IndexError {
    /// The directory holds no ecosystem this analyzer reads.
    #[error("{0}: no advisories (expected `<Ecosystem>/all.zip` or `<Ecosystem>/*.json`)")]
    Empty(String),
    /// An archive or folder could not be read.
    #[error("{path}: {reason}")]
    Io {
        /// The file.
        path: String,
        /// Why.
        reason: String,
    },
}

impl Index {
    /// The advisory at `index`.
    pub fn advisory(&self, index: u32) -> Option<&Advisory> {
        self.advisories.get(index as usize)
    }

    /// Every affected entry of a package.
    pub fn affected(&self, ecosystem: Ecosystem, name: &str) -> &[AffectedEntry] {
        self.by_package
            .get(&(ecosystem, ecosystem.normalise_name(name)))
            .map_or(&[], Vec::as_slice)
    }

    /// Ecosystems loaded.
    pub fn has(&self, ecosystem: Ecosystem) -> bool {
        self.status.iter().any(|s| s.ecosystem == ecosystem)
    }

    /// How fresh the whole database is: its stalest ecosystem's
    /// [`EcosystemStatus::as_of`] (`None`: no ecosystem says).
    pub fn as_of(&self) -> Option<chrono::DateTime<chrono::Utc>> {
        self.status.iter().filter_map(EcosystemStatus::as_of).min()
    }

    /// Number of advisories held.
    pub fn len(&self) -> usize {
        self.advisories.len()
    }

    /// True when nothing was loaded.
    pub fn is_empty(&self) -> bool {
        self.advisories.is_empty()
    }

    /// Loads every ecosystem under `dir`: `<Ecosystem>/all.zip` when present
    /// (OSV's published layout), else `<Ecosystem>/*.json`.
    pub fn load(dir: &Path) -> Result<Index, IndexError> {
        let mut index = Index {
            dir: dir.to_owned(),
            ..Index::default()
        };
        for ecosystem in Ecosystem::ALL {
            let folder = dir.join(ecosystem.osv_name());
            let zip = folder.join("all.zip");
            let mut status = EcosystemStatus {
                ecosystem,
                records: 0,
                withdrawn: 0,
                unreadable: 0,
                first_problem: None,
                newest: None,
                synced_at: super::sync::synced_at(dir, ecosystem),
            };
            if zip.is_file() {
                index.load_zip(&zip, &mut status)?;
            } else if folder.is_dir() {
                index.load_folder(&folder, &mut status)?;
            } else {
                continue;
            }
            index.status.push(status);
        }
        if index.status.is_empty() {
            return Err(IndexError::Empty(dir.display().to_string()));
        }
        Ok(index)
    }

    fn load_zip(&mut self, path: &Path, status: &mut EcosystemStatus) -> Result<(), IndexError> {
        let io = |reason: String| IndexError::Io {
            path: path.display().to_string(),
            reason,
        };
        let file = std::fs::File::open(path).map_err(|e| io(e.to_string()))?;
        let mut archive =
            zip::ZipArchive::new(std::io::BufReader::new(file)).map_err(|e| io(e.to_string()))?;
        if archive.len() > MAX_RECORDS {
            return Err(io(format!(
                "{} entries, over the {MAX_RECORDS} limit",
                archive.len()
            )));
        }
        let mut buffer = Vec::new();
        for i in 0..archive.len() {
            let mut entry = match archive.by_index(i) {
                Ok(entry) => entry,
                Err(error) => {
                    status.problem(format!("entry {i}: {error}"));
                    continue;
                }
            };
            let name = match entry.name() {
                Ok(name) => name.into_owned(),
                Err(error) => {
                    status.problem(format!("entry {i}: {error}"));
                    continue;
                }
            };
            if !entry.is_file() || !name.ends_with(".json") {
                continue;
            }
            buffer.clear();
            // `take` bounds what is inflated whatever the header claims.
            let read = (&mut entry)
                .take(MAX_RECORD_BYTES + 1)
                .read_to_end(&mut buffer);
            // The entry's inflater (tens of KB) is freed before the record's
            // small, lasting allocations are made: made while it lived, they
            // sat above it on the heap, the next entry's inflater no longer
            // fit in its hole, and the heap grew by ~14 KB a record (1.7 GB
            // for 90,000 records, never returned).
            drop(entry);
            match read {
                Ok(_) if buffer.len() as u64 > MAX_RECORD_BYTES => {
                    status.problem(format!("{name}: over {MAX_RECORD_BYTES} bytes"));
                }
                Ok(_) => self.add(&buffer, &name, status),
                Err(error) => status.problem(format!("{name}: {error}")),
            }
        }
        Ok(())
    }

    fn load_folder(
        &mut self,
        folder: &Path,
        status: &mut EcosystemStatus,
    ) -> Result<(), IndexError> {
        let entries = std::fs::read_dir(folder).map_err(|e| IndexError::Io {
            path: folder.display().to_string(),
            reason: e.to_string(),
        })?;
        let mut paths: Vec<PathBuf> = entries
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "json"))
            .take(MAX_RECORDS)
            .collect();
        paths.sort();
        for path in paths {
            let name = path.display().to_string();
            let read = std::fs::File::open(&path).and_then(|file| {
                let mut buffer = Vec::new();
                file.take(MAX_RECORD_BYTES + 1).read_to_end(&mut buffer)?;
                Ok(buffer)
            });
            match read {
                Ok(buffer) if buffer.len() as u64 > MAX_RECORD_BYTES => {
                    status.problem(format!("{name}: over {MAX_RECORD_BYTES} bytes"));
                }
                Ok(buffer) => self.add(&buffer, &name, status),
                Err(error) => status.problem(format!("{name}: {error}")),
            }
        }
        Ok(())
    }

    /// Indexes one record's entries for `status.ecosystem`.
    fn add(&mut self, bytes: &[u8], name: &str, status: &mut EcosystemStatus) {
        let record: Record = match serde_json::from_slice(bytes) {
            Ok(record) => record,
            Err(error) => return status.problem(format!("{name}: {error}")),
        };
        if record.withdrawn.is_some() {
            status.withdrawn += 1;
            return;
        }
        if status
            .newest
            .as_deref()
            .is_none_or(|n| n < record.modified.as_str())
        {
            status.newest = Some(record.modified.clone());
        }
        let ecosystem = status.ecosystem;
        let mine: Vec<&osv::Affected> = record
            .affected
            .iter()
            .filter(|a| {
                a.package
                    .as_ref()
                    .is_some_and(|p| p.ecosystem == ecosystem.osv_name())
            })
            .collect();
        if mine.is_empty() {
            return;
        }
        let scores: Vec<&osv::SeverityScore> = record
            .severity
            .iter()
            .chain(mine.iter().flat_map(|a| a.severity.iter()))
            .collect();
        let databases: Vec<Option<&serde_json::Value>> =
            std::iter::once(record.database_specific.as_ref())
                .chain(mine.iter().map(|a| a.database_specific.as_ref()))
                .collect();
        let cwe = record
            .database_specific
            .as_ref()
            .and_then(|d| d.get("cwe_ids"))
            .and_then(serde_json::Value::as_array)
            .and_then(|ids| ids.first())
            .and_then(serde_json::Value::as_str)
            .map(str::to_owned);
        let Ok(advisory) = u32::try_from(self.advisories.len()) else {
            return status.problem(format!("{name}: index full"));
        };
        self.advisories.push(Advisory {
            summary: record
                .summary
                .as_deref()
                .unwrap_or("")
                .chars()
                .take(SUMMARY_CHARS)
                .collect(),
            severity: osv::severity_of(&scores, &databases),
            aliases: record.aliases.clone(),
            id: record.id.clone(),
            cwe,
        });
        status.records += 1;
        for affected in mine {
            let Some(package) = &affected.package else {
                continue;
            };
            let ranges = affected
                .ranges
                .iter()
                .filter(|r| r.kind != "GIT")
                .map(|r| r.events.iter().filter_map(osv::RangeEvent::event).collect())
                .collect();
            self.by_package
                .entry((ecosystem, ecosystem.normalise_name(&package.name)))
                .or_default()
                .push(AffectedEntry::new(
                    advisory,
                    ranges,
                    affected.versions.clone(),
                ));
        }
    }
}

impl EcosystemStatus {
    fn problem(&mut self, reason: String) {
        self.unreadable += 1;
        if self.first_problem.is_none() {
            tracing::warn!(ecosystem = self.ecosystem.osv_name(), %reason, "advisory record skipped");
            self.first_problem = Some(reason);
        }
    }
}
