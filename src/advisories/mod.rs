//! The OSV advisory database on disk: where it lives, how it is read into
//! the compact [`Index`] the `deps` analyzer matches against, and how
//! `hunkscan advisories sync` refreshes it. All I/O of dependency review is
//! here; `engine::deps` only matches.
//!
//! The directory is `--advisory-db DIR`, else `$HUNKSCAN_ADVISORY_DB`,
//! else `hunkscan/advisories` in the user's cache directory. It holds one
//! folder per OSV ecosystem (`crates.io`, `npm`, `PyPI`, `Go`, `RubyGems`,
//! `Packagist`) with either
//! OSV's published `all.zip` or the records unpacked as `*.json`.

pub mod cvss2;
pub mod index;
pub mod license_cache;
pub mod osv;
pub mod refresh;
pub mod registry;
pub mod sync;

pub use index::{Advisory, AffectedEntry, EcosystemStatus, Index, IndexError};

use std::path::PathBuf;
use std::sync::{Arc, RwLock};

/// The advisory database in use, replaceable while scans run: the bot's
/// scheduled sync swaps a fresh index in; a scan takes the one current
/// when it starts and keeps it to the end.
#[derive(Clone, Default)]
pub struct SharedIndex(Arc<RwLock<Option<Arc<Index>>>>);

impl SharedIndex {
    /// Holding `index`.
    pub fn new(index: Option<Arc<Index>>) -> Self {
        Self(Arc::new(RwLock::new(index)))
    }

    /// The index now.
    pub fn current(&self) -> Option<Arc<Index>> {
        // A writer that panicked left a whole `Option<Arc<_>>` behind: still usable.
        match self.0.read() {
            Ok(guard) => guard.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Puts `index` in place for the scans that start from now on.
    pub fn replace(&self, index: Arc<Index>) {
        match self.0.write() {
            Ok(mut guard) => *guard = Some(index),
            Err(poisoned) => *poisoned.into_inner() = Some(index),
        }
    }
}

/// The environment variable naming the database directory.
pub const DB_ENV: &str = "HUNKSCAN_ADVISORY_DB";

/// The database directory: `flag`, else `$HUNKSCAN_ADVISORY_DB`, else the
/// user cache directory's `hunkscan/advisories` (`None` when there is no
/// cache directory either).
pub fn db_dir(flag: Option<PathBuf>) -> Option<PathBuf> {
    flag.or_else(|| {
        std::env::var_os(DB_ENV)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    })
    .or_else(|| dirs::cache_dir().map(|d| d.join("hunkscan").join("advisories")))
}

/// The index of `dir` when it holds a database; `None` (with a log line)
/// when it does not, so the analyzer says "not synced" rather than fail.
pub fn open(dir: &std::path::Path) -> Result<Option<Index>, IndexError> {
    if !dir.exists() {
        return Ok(None);
    }
    match Index::load(dir) {
        Ok(index) => Ok(Some(index)),
        Err(IndexError::Empty(_)) => Ok(None),
        Err(error) => Err(error),
    }
}
