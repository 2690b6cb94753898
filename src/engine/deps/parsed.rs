//! Lockfile sides parsed once and shared. With a licence policy one scan
//! reads each side of a changed lockfile three times: for the licences to
//! look up ([`super::license::wanted`]), for advisories
//! ([`super::DepsAnalyzer`]) and for the licence review
//! ([`super::license::LicenseAnalyzer`]); a large lockfile takes most of a
//! scan's time to parse. The three run in different engines and calls, so
//! the parse is kept here, keyed by the text itself, for a short while.
//!
//! The key is a hash of the text under a per-process random key (a pull
//! request cannot craft a collision with a lockfile it does not know the
//! key for) plus its length. Entries are few, young and bounded in total
//! packages, so a bot does not keep a large lockfile's parse once its
//! scan is over.

use super::format::{Format, read};
use super::model::{ReadError, Resolved};
use std::collections::VecDeque;
use std::hash::BuildHasher;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

/// Entries kept at most.
const MAX_ENTRIES: usize = 16;
/// Packages of all entries kept at most (a 50 MB `package-lock.json`
/// holds about 140,000).
const MAX_PACKAGES: usize = 400_000;
/// How long an entry is used: one scan's reviews follow each other closely.
const MAX_AGE: Duration = Duration::from_secs(120);

type Parse = Result<Arc<Resolved>, ReadError>;

struct Entry {
    key: (Format, usize, u64),
    at: Instant,
    parse: Parse,
}

struct Cache {
    hasher: std::collections::hash_map::RandomState,
    entries: VecDeque<Entry>,
}

fn cache() -> &'static Mutex<Cache> {
    static CACHE: OnceLock<Mutex<Cache>> = OnceLock::new();
    CACHE.get_or_init(|| {
        Mutex::new(Cache {
            hasher: std::collections::hash_map::RandomState::new(),
            entries: VecDeque::new(),
        })
    })
}

fn size(parse: &Parse) -> usize {
    parse.as_ref().map_or(0, |r| r.packages.len())
}

/// `text` read as `format`, parsed at most once while it stays cached.
pub fn read_shared(format: Format, text: &str) -> Parse {
    let hash = {
        let guard = cache().lock().unwrap_or_else(|p| p.into_inner());
        guard.hasher.hash_one(text)
    };
    let key = (format, text.len(), hash);
    {
        let mut guard = cache().lock().unwrap_or_else(|p| p.into_inner());
        guard.entries.retain(|e| e.at.elapsed() < MAX_AGE);
        if let Some(entry) = guard.entries.iter().find(|e| e.key == key) {
            return entry.parse.clone();
        }
    }
    // Parsed outside the lock: other files' reviews go on meanwhile (two
    // threads may both parse one new text; the second insert is dropped).
    let parse = read(format, text).map(Arc::new);
    let packages = size(&parse);
    if packages <= MAX_PACKAGES {
        let mut guard = cache().lock().unwrap_or_else(|p| p.into_inner());
        if !guard.entries.iter().any(|e| e.key == key) {
            guard.entries.push_back(Entry {
                key,
                at: Instant::now(),
                parse: parse.clone(),
            });
            let mut total: usize = guard.entries.iter().map(|e| size(&e.parse)).sum();
            while guard.entries.len() > MAX_ENTRIES || total > MAX_PACKAGES {
                match guard.entries.pop_front() {
                    Some(old) => total -= size(&old.parse),
                    None => break,
                }
            }
        }
    }
    parse
}

#[cfg(test)]
mod tests {
    use super::*;

    fn requirements(n: usize) -> String {
        format!("# shared-parse test {n}\nrequests==2.{n}.0\n")
    }

    #[test]
    fn the_same_text_is_parsed_once_and_another_text_again() {
        let text = requirements(1001);
        let first = read_shared(Format::Requirements, &text).expect("reads");
        let again = read_shared(Format::Requirements, &text.clone()).expect("reads");
        assert!(Arc::ptr_eq(&first, &again), "one parse shared");
        let other = read_shared(Format::Requirements, &requirements(1002)).expect("reads");
        assert!(!Arc::ptr_eq(&first, &other));
        assert_eq!(other.packages[0].version, "2.1002.0");
        // The same bytes read as another format are another parse.
        assert!(read_shared(Format::CargoLock, &text).is_err());
    }

    #[test]
    fn errors_are_shared_too_and_the_cache_stays_bounded() {
        let broken = "[[package]]\nname = \"x\"\nversion = \"1.0.0\n";
        let a = read_shared(Format::CargoLock, broken).expect_err("broken");
        let b = read_shared(Format::CargoLock, broken).expect_err("broken");
        assert_eq!(a, b);
        for n in 0..(MAX_ENTRIES * 2) {
            read_shared(Format::Requirements, &requirements(2000 + n)).expect("reads");
        }
        let guard = cache().lock().unwrap_or_else(|p| p.into_inner());
        assert!(guard.entries.len() <= MAX_ENTRIES);
    }
}
