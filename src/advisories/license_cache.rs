//! Registry licences remembered between scans, in one JSON file: the
//! command line's cache (the bot keeps its in the store).
//!
//! Lasting answers ([`Fetched::lasting`]) are kept for [`TTL`] (the bot's
//! store prunes to the same): a published release's licence rarely
//! changes, but registries correct their metadata and a "no such release"
//! answer stops being true when it is published, and without an end the
//! cache only grows. Failures are never kept.
//! The file is read whole (at most [`MAX_FILE_BYTES`]), holds at most
//! [`MAX_ENTRIES`] (the oldest go first) and is replaced atomically, so a
//! crash mid-write leaves the previous file. A file that does not parse is
//! treated as empty and rewritten.

use super::registry::{Fetched, RegistryOptions, fetch_blocking};
use crate::engine::deps::license::{Licenses, Lookup, PackageId};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// Largest cache file read.
pub const MAX_FILE_BYTES: u64 = 64 * 1024 * 1024;
/// The environment variable naming the cache file (default:
/// [`FileCache::default_path`]).
pub const PATH_ENV: &str = "HUNKSCAN_LICENSE_CACHE";
/// Most entries kept.
pub const MAX_ENTRIES: usize = 200_000;
/// How long a registry's answer is used before it is asked again.
pub const TTL: std::time::Duration = std::time::Duration::from_secs(30 * 24 * 3600);

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Entry {
    /// The licence; `None` with `reason` when the registry states none.
    license: Option<String>,
    reason: Option<String>,
    /// Seconds since the epoch when it was fetched (for eviction).
    at: i64,
}

/// The cache file.
#[derive(Debug)]
pub struct FileCache {
    path: PathBuf,
    entries: HashMap<String, Entry>,
    changed: bool,
}

fn key(id: &PackageId) -> String {
    format!(
        "{}\t{}\t{}",
        id.ecosystem.osv_name(),
        id.ecosystem.normalise_name(&id.name),
        id.version
    )
}

impl FileCache {
    /// The cache in `path` (created on the first save), without the
    /// entries older than [`TTL`].
    pub fn open(path: &Path) -> Self {
        let entries = std::fs::metadata(path)
            .ok()
            .filter(|m| m.len() <= MAX_FILE_BYTES)
            .and_then(|_| std::fs::read(path).ok())
            .and_then(|bytes| serde_json::from_slice(&bytes).ok())
            .unwrap_or_default();
        let mut cache = Self {
            path: path.to_owned(),
            entries,
            changed: false,
        };
        let ttl = i64::try_from(TTL.as_secs()).unwrap_or(i64::MAX);
        cache.prune(chrono::Utc::now().timestamp().saturating_sub(ttl));
        cache
    }

    /// Forgets the entries fetched before `before` (seconds since the
    /// epoch); how many. The next save writes the file without them.
    pub fn prune(&mut self, before: i64) -> usize {
        let count = self.entries.len();
        self.entries.retain(|_, e| e.at >= before);
        let pruned = count - self.entries.len();
        if pruned > 0 {
            self.changed = true;
        }
        pruned
    }

    /// Where the command line keeps it: `licenses.json` in the advisory
    /// database's parent cache folder.
    pub fn default_path() -> Option<PathBuf> {
        dirs::cache_dir().map(|d| d.join("hunkscan").join("licenses.json"))
    }

    /// What the cache knows of `id`.
    pub fn get(&self, id: &PackageId) -> Option<Lookup> {
        self.entries.get(&key(id)).map(|e| match &e.license {
            Some(license) => Lookup::Found(license.clone()),
            None => Lookup::Unknown(e.reason.clone().unwrap_or_default()),
        })
    }

    /// Remembers the lasting answers of `fetched`.
    pub fn put(&mut self, fetched: &[Fetched]) {
        let now = chrono::Utc::now().timestamp();
        for f in fetched.iter().filter(|f| f.lasting) {
            let (license, reason) = match &f.lookup {
                Lookup::Found(license) => (Some(license.clone()), None),
                Lookup::Unknown(reason) => (None, Some(reason.clone())),
            };
            self.entries.insert(
                key(&f.id),
                Entry {
                    license,
                    reason,
                    at: now,
                },
            );
            self.changed = true;
        }
        if self.entries.len() > MAX_ENTRIES {
            let mut ages: Vec<(i64, String)> = self
                .entries
                .iter()
                .map(|(k, e)| (e.at, k.clone()))
                .collect();
            ages.sort();
            for (_, k) in ages.into_iter().take(self.entries.len() - MAX_ENTRIES) {
                self.entries.remove(&k);
            }
        }
    }

    /// Writes the cache when it changed (to a temporary file, then renamed).
    pub fn save(&mut self) -> std::io::Result<()> {
        if !self.changed {
            return Ok(());
        }
        if let Some(parent) = self.path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        let temporary = self.path.with_extension("json.partial");
        std::fs::write(&temporary, serde_json::to_vec(&self.entries)?)?;
        std::fs::rename(&temporary, &self.path)?;
        self.changed = false;
        Ok(())
    }

    /// Splits `wanted` into what the cache answers (into `licenses`) and
    /// what must be fetched.
    fn split(&self, wanted: Vec<PackageId>, licenses: &mut Licenses) -> Vec<PackageId> {
        wanted
            .into_iter()
            .filter(|id| match self.get(id) {
                Some(lookup) => {
                    licenses.insert(id, lookup);
                    false
                }
                None => true,
            })
            .collect()
    }
}

fn record(licenses: &mut Licenses, fetched: &[Fetched]) {
    for f in fetched {
        licenses.insert(&f.id, f.lookup.clone());
    }
}

/// The licences of `wanted`: from `cache` where it has them, the rest from
/// the registries (remembered in `cache`, which is saved).
pub fn look_up_blocking(
    wanted: Vec<PackageId>,
    options: &RegistryOptions,
    cache: &mut FileCache,
) -> Licenses {
    let mut licenses = Licenses::none("not looked up");
    let missing = cache.split(wanted, &mut licenses);
    let fetched = fetch_blocking(missing, options);
    finish(&mut licenses, &fetched, cache);
    licenses
}

fn finish(licenses: &mut Licenses, fetched: &[Fetched], cache: &mut FileCache) {
    record(licenses, fetched);
    cache.put(fetched);
    if let Err(error) = cache.save() {
        tracing::warn!(%error, path = %cache.path.display(), "licence cache not saved");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::deps::model::Ecosystem;

    #[test]
    fn lasting_answers_survive_a_reopen_and_failures_do_not() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("licenses.json");
        let id = |name: &str| PackageId {
            ecosystem: Ecosystem::PyPI,
            name: name.into(),
            version: "1.0".into(),
        };
        let mut cache = FileCache::open(&path);
        cache.put(&[
            Fetched {
                id: id("Found_It"),
                lookup: Lookup::Found("MIT".into()),
                lasting: true,
            },
            Fetched {
                id: id("timed-out"),
                lookup: Lookup::Unknown("PyPI did not answer".into()),
                lasting: false,
            },
        ]);
        cache.save().expect("saves");
        let again = FileCache::open(&path);
        assert_eq!(
            again.get(&id("found-it")),
            Some(Lookup::Found("MIT".into()))
        );
        assert_eq!(again.get(&id("timed-out")), None);
        std::fs::write(&path, b"{not json").expect("corrupt");
        assert_eq!(
            FileCache::open(&path).get(&id("found-it")),
            None,
            "corrupt: empty"
        );
    }

    #[test]
    fn answers_older_than_the_ttl_are_forgotten_on_open() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("licenses.json");
        let now = chrono::Utc::now().timestamp();
        let ttl = i64::try_from(TTL.as_secs()).expect("ttl");
        let entry = |at: i64| serde_json::json!({"license": "MIT", "reason": null, "at": at});
        let file = serde_json::json!({
            "npm\tstale\t1.0.0": entry(now - ttl - 60),
            "npm\tfresh\t1.0.0": entry(now - ttl + 3600),
        });
        std::fs::write(&path, file.to_string()).expect("write");
        let id = |name: &str| PackageId {
            ecosystem: Ecosystem::Npm,
            name: name.into(),
            version: "1.0.0".into(),
        };
        let mut cache = FileCache::open(&path);
        assert_eq!(cache.get(&id("stale")), None, "past the TTL: asked again");
        assert_eq!(cache.get(&id("fresh")), Some(Lookup::Found("MIT".into())));
        cache.save().expect("saves");
        let written: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&path).expect("read")).expect("json");
        let keys: Vec<&String> = written.as_object().expect("object").keys().collect();
        assert_eq!(keys, vec!["npm\tfresh\t1.0.0"], "the file loses it too");
        assert_eq!(cache.prune(now + 1), 1, "an explicit prune counts");
    }
}
