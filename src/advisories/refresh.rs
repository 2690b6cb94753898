//! The bot's advisory database upkeep: a sync at start-up, then one every
//! interval (`HUNKSCAN_ADVISORY_SYNC_INTERVAL`, default six hours; `off`
//! switches both off), each followed by a reload swapped into the running
//! pipeline ([`SharedIndex`]).
//!
//! Never two at once: one task runs them in turn, and [`sync::sync`] holds
//! an exclusive lock on the database directory, so a `hunkscan advisories
//! sync` run by hand meanwhile is refused rather than interleaved. A failed
//! sync or reload keeps the index in use (the sync itself never replaces a
//! good archive with a bad one).

use super::sync::{self, Outcome, SyncOptions};
use super::{Index, SharedIndex};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// The environment variable of the interval.
pub const INTERVAL_ENV: &str = "HUNKSCAN_ADVISORY_SYNC_INTERVAL";
/// The interval when it is not set.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(6 * 3600);
/// The shortest interval accepted (OSV's exports change a few times a day).
pub const MIN_INTERVAL: Duration = Duration::from_secs(60);

/// Reads an interval: `off` (or `0`), or a number with an optional unit
/// `s`, `m`, `h` or `d` (seconds without one).
pub fn parse_interval(text: &str) -> Result<Option<Duration>, String> {
    let text = text.trim();
    if text.eq_ignore_ascii_case("off") || text == "0" {
        return Ok(None);
    }
    let (number, unit) = match text.find(|c: char| !c.is_ascii_digit()) {
        Some(at) => text.split_at(at),
        None => (text, "s"),
    };
    let number: u64 = number
        .parse()
        .map_err(|_| format!("{INTERVAL_ENV}: {text:?} is not a number with s, m, h or d"))?;
    let seconds = match unit.trim() {
        "s" => Some(number),
        "m" => number.checked_mul(60),
        "h" => number.checked_mul(3600),
        "d" => number.checked_mul(86_400),
        other => {
            return Err(format!(
                "{INTERVAL_ENV}: unit {other:?} is not one of s, m, h, d"
            ));
        }
    }
    .ok_or_else(|| format!("{INTERVAL_ENV}: {text:?} is too long"))?;
    let interval = Duration::from_secs(seconds);
    if interval < MIN_INTERVAL {
        return Err(format!(
            "{INTERVAL_ENV}: {text:?} is shorter than {MIN_INTERVAL:?}"
        ));
    }
    Ok(Some(interval))
}

/// What one refresh did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refreshed {
    /// A new index is in use.
    Reloaded {
        /// Advisories it holds.
        advisories: usize,
    },
    /// Nothing changed on the server; the index in use stays.
    Unchanged,
    /// Every ecosystem's sync failed, or the reload did; the index in use
    /// stays. Why.
    Failed(String),
}

/// Syncs `dir` and reloads it into `shared`.
pub struct Refresher {
    dir: PathBuf,
    options: SyncOptions,
    shared: SharedIndex,
}

impl Refresher {
    /// Keeps `dir` synced with `options`, for `shared`.
    pub fn new(dir: PathBuf, options: SyncOptions, shared: SharedIndex) -> Self {
        Self {
            dir,
            options,
            shared,
        }
    }

    /// One sync and, when an archive changed or no index is in use, a
    /// reload. Blocking (downloads, inflates, parses): run it off the async
    /// threads.
    pub fn refresh_blocking(&self) -> Refreshed {
        let outcomes = sync::sync(&self.dir, &self.options);
        let mut updated = false;
        let mut failures = Vec::new();
        for (ecosystem, outcome) in &outcomes {
            match outcome {
                Outcome::Updated { records, .. } => {
                    tracing::info!(
                        ecosystem = ecosystem.osv_name(),
                        records,
                        "advisories updated"
                    );
                    updated = true;
                }
                Outcome::NotModified => {}
                Outcome::Failed(reason) => {
                    tracing::warn!(
                        ecosystem = ecosystem.osv_name(),
                        reason = %crate::render::Untrusted(reason),
                        "advisory sync failed; the data in use is kept"
                    );
                    failures.push(format!("{}: {reason}", ecosystem.osv_name()));
                }
            }
        }
        // The sync times are in the index's status: a 304 still makes the
        // data "as of now", so reload whenever any ecosystem answered.
        let answered = failures.len() < outcomes.len();
        if !(updated || answered || self.shared.current().is_none()) {
            return Refreshed::Failed(failures.join("; "));
        }
        match Index::load(&self.dir) {
            Ok(index) => {
                let advisories = index.len();
                self.shared.replace(Arc::new(index));
                if updated {
                    Refreshed::Reloaded { advisories }
                } else if failures.is_empty() {
                    Refreshed::Unchanged
                } else {
                    Refreshed::Failed(failures.join("; "))
                }
            }
            Err(error) => Refreshed::Failed(format!(
                "reloading {}: {error}; the data in use is kept",
                self.dir.display()
            )),
        }
    }

    /// Refreshes now, then every `interval`, until the task is dropped.
    /// One refresh at a time: the next starts only after the previous one
    /// ended (a slow one delays the schedule rather than overlap).
    pub async fn run(self: Arc<Self>, interval: Duration) {
        loop {
            let refresher = Arc::clone(&self);
            match tokio::task::spawn_blocking(move || refresher.refresh_blocking()).await {
                Ok(Refreshed::Failed(reason)) => tracing::warn!(
                    reason = %crate::render::Untrusted(&reason),
                    "advisory refresh failed"
                ),
                Ok(outcome) => tracing::info!(?outcome, "advisory refresh"),
                Err(error) => tracing::error!(%error, "advisory refresh crashed"),
            }
            tokio::time::sleep(interval).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intervals_parse_with_units_and_off() {
        assert_eq!(parse_interval("off"), Ok(None));
        assert_eq!(parse_interval("0"), Ok(None));
        assert_eq!(parse_interval("6h"), Ok(Some(Duration::from_secs(21_600))));
        assert_eq!(parse_interval("90m"), Ok(Some(Duration::from_secs(5_400))));
        assert_eq!(parse_interval("1d"), Ok(Some(Duration::from_secs(86_400))));
        assert_eq!(parse_interval("600"), Ok(Some(Duration::from_secs(600))));
        assert!(parse_interval("5s").is_err(), "too short");
        assert!(parse_interval("6 weeks").is_err());
        assert!(parse_interval("h").is_err());
        assert!(parse_interval("99999999999999999999d").is_err());
    }
}
