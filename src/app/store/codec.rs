//! What both stores share: a job row in neutral types, and the conversions
//! between the API's types and the columns.

use super::{Claimed, JobRecord, JobState, Lease, Outcome, StoreError, SupersededJob, Written};
use crate::app::webhook::{Job, Trigger};
use chrono::{DateTime, TimeDelta, Utc};
use sha2::{Digest, Sha256};
use std::time::Duration;

/// A `jobs` row, read by either store.
#[derive(Debug)]
pub(super) struct RawJob {
    pub seq: i64,
    pub id: String,
    pub job: String,
    pub state: String,
    pub outcome: Option<String>,
    pub enqueued_at: DateTime<Utc>,
    pub not_before: DateTime<Utc>,
    pub lease_owner: Option<String>,
    pub lease_until: Option<DateTime<Utc>>,
    pub attempts: i64,
    pub retries: i64,
    pub last_error: Option<String>,
    pub check_run_id: Option<i64>,
    pub review_fingerprints: Option<String>,
    pub superseded_by: Option<String>,
    pub finished_at: Option<DateTime<Utc>>,
}

/// The columns [`RawJob`] is read from, in every query that returns jobs
/// (a macro so that queries stay `&'static str` through `concat!`).
macro_rules! job_columns {
    () => {
        "seq, id, job, state, outcome, enqueued_at, not_before, lease_owner, lease_until, \
         attempts, retries, last_error, check_run_id, review_fingerprints, superseded_by, \
         finished_at"
    };
}
pub(super) use job_columns;

pub(super) const QUEUED: &str = "queued";
pub(super) const RUNNING: &str = "running";
pub(super) const DONE: &str = "done";

/// `last_error` of a job taken over from a worker whose lease expired.
pub(super) const LEASE_EXPIRED: &str = "lease_expired";

impl RawJob {
    fn job(&self) -> Result<Job, StoreError> {
        serde_json::from_str(&self.job).map_err(|error| self.error(error))
    }

    fn written(&self) -> Result<Written, StoreError> {
        let check_run_id = self
            .check_run_id
            .map(|id| u64::try_from(id).map_err(|error| self.error(error)))
            .transpose()?;
        let review = self
            .review_fingerprints
            .as_deref()
            .map(|text| serde_json::from_str(text).map_err(|error| self.error(error)))
            .transpose()?;
        Ok(Written {
            check_run_id,
            review,
        })
    }

    fn attempts(&self) -> Result<u32, StoreError> {
        u32::try_from(self.attempts).map_err(|error| self.error(error))
    }

    fn error(&self, error: impl std::fmt::Display) -> StoreError {
        StoreError::Encoding {
            id: self.id.clone(),
            message: error.to_string(),
        }
    }

    /// The job as claimed.
    fn into_claimed(self) -> Result<Claimed, StoreError> {
        let lease_until = self
            .lease_until
            .ok_or_else(|| self.error("claimed without a lease"))?;
        Ok(Claimed {
            job: self.job()?,
            lease: Lease {
                job_id: self.id.clone(),
                worker: self.lease_owner.clone().unwrap_or_default(),
                attempt: self.attempts()?,
            },
            lease_until,
            enqueued_at: self.enqueued_at,
            written: self.written()?,
            last_error: self.last_error,
        })
    }

    pub fn into_superseded(self) -> Result<SupersededJob, StoreError> {
        Ok(SupersededJob {
            job: self.job()?,
            check_run_id: self.written()?.check_run_id,
        })
    }

    pub fn into_record(self) -> Result<JobRecord, StoreError> {
        let state = match self.state.as_str() {
            QUEUED => JobState::Queued,
            RUNNING => JobState::Running,
            DONE => JobState::Done,
            other => return Err(self.error(format!("unknown state {other:?}"))),
        };
        let outcome = match self.outcome.as_deref() {
            None => None,
            Some(text) => Some(
                outcome_from_str(text)
                    .ok_or_else(|| self.error(format!("unknown outcome {text:?}")))?,
            ),
        };
        Ok(JobRecord {
            job: self.job()?,
            state,
            outcome,
            attempts: self.attempts()?,
            retries: u32::try_from(self.retries).map_err(|error| self.error(error))?,
            written: self.written()?,
            last_error: self.last_error,
            not_before: self.not_before,
            lease_owner: self.lease_owner,
            superseded_by: self.superseded_by,
            finished_at: self.finished_at,
        })
    }
}

/// What is stored of a job besides its JSON.
pub(super) struct JobColumns {
    pub json: String,
    pub repo: String,
    pub number: i64,
    pub automatic: bool,
}

pub(super) fn stored_columns(job: &Job) -> Result<JobColumns, StoreError> {
    let encoding = |message: String| StoreError::Encoding {
        id: job.id.clone(),
        message,
    };
    Ok(JobColumns {
        json: serde_json::to_string(job).map_err(|error| encoding(error.to_string()))?,
        repo: job.repo.to_string(),
        number: i64::try_from(job.number).map_err(|error| encoding(error.to_string()))?,
        automatic: job.trigger != Trigger::Rerun,
    })
}

pub(super) fn outcome_str(outcome: Outcome) -> &'static str {
    match outcome {
        Outcome::Completed => "completed",
        Outcome::Superseded => "superseded",
        Outcome::SkippedDraft => "skipped_draft",
        Outcome::Failed => "failed",
        Outcome::Abandoned => "abandoned",
    }
}

fn outcome_from_str(text: &str) -> Option<Outcome> {
    [
        Outcome::Completed,
        Outcome::Superseded,
        Outcome::SkippedDraft,
        Outcome::Failed,
        Outcome::Abandoned,
    ]
    .into_iter()
    .find(|outcome| outcome_str(*outcome) == text)
}

pub(super) fn fingerprints_json(fingerprints: &[String]) -> String {
    // A list of strings always serialises.
    serde_json::to_string(fingerprints).unwrap_or_else(|_| "[]".to_owned())
}

/// `now` to the millisecond: what both stores keep, so they answer alike.
pub(super) fn at_millis(now: DateTime<Utc>) -> Result<DateTime<Utc>, StoreError> {
    DateTime::from_timestamp_millis(now.timestamp_millis()).ok_or(StoreError::OutOfRange("time"))
}

/// `now + duration`, to the millisecond.
pub(super) fn after(now: DateTime<Utc>, duration: Duration) -> Result<DateTime<Utc>, StoreError> {
    let delta = TimeDelta::from_std(duration).map_err(|_| StoreError::OutOfRange("duration"))?;
    at_millis(
        now.checked_add_signed(delta)
            .ok_or(StoreError::OutOfRange("time"))?,
    )
}

pub(super) fn to_i64(value: u64, what: &'static str) -> Result<i64, StoreError> {
    i64::try_from(value).map_err(|_| StoreError::OutOfRange(what))
}

/// A count read from the database (never negative).
pub(super) fn count(value: i64) -> u64 {
    u64::try_from(value).unwrap_or(0)
}

/// A `recent_*` limit, bounded.
pub(super) fn recent_limit(limit: usize) -> i64 {
    // MAX_RECENT fits any integer type.
    limit.min(super::MAX_RECENT) as i64
}

/// An answer time in milliseconds, as stored.
pub(super) fn ack_ms(ack: Option<Duration>) -> Option<i64> {
    ack.map(|ack| i64::try_from(ack.as_millis()).unwrap_or(i64::MAX))
}

/// A stored answer time.
pub(super) fn ack(ms: Option<i64>) -> Option<Duration> {
    ms.and_then(|ms| u64::try_from(ms).ok())
        .map(Duration::from_millis)
}

/// The jobs of a `recent_jobs` query that this version can read.
pub(super) fn recent(rows: Vec<RawJob>) -> Vec<super::RecentJob> {
    rows.into_iter()
        .filter_map(|row| {
            let enqueued_at = row.enqueued_at;
            let id = row.id.clone();
            match row.into_record() {
                Ok(record) => Some(super::RecentJob {
                    record,
                    enqueued_at,
                }),
                Err(error) => {
                    tracing::warn!(job = %crate::render::Untrusted(&id), %error, "job left off the status page");
                    None
                }
            }
        })
        .collect()
}

/// `claim`'s limit, bounded.
pub(super) fn claim_limit(limit: usize) -> i64 {
    // MAX_CLAIM fits any integer type.
    limit.min(super::MAX_CLAIM) as i64
}

/// How long the oldest waiting job has waited.
pub(super) fn age(now: DateTime<Utc>, oldest: Option<DateTime<Utc>>) -> Option<Duration> {
    oldest.map(|oldest| (now - oldest).to_std().unwrap_or(Duration::ZERO))
}

/// The PostgreSQL advisory-lock key of a pull request in `schema`:
/// claimers serialise on it. A collision only makes a claimer skip a job
/// until its next claim.
pub(super) fn pull_lock_key(schema: &str, repo: &str, number: i64) -> i64 {
    let digest = Sha256::digest(format!("hunkscan-pull:{schema}:{repo}#{number}").as_bytes());
    let mut bytes = [0u8; 8];
    bytes.copy_from_slice(&digest[..8]);
    i64::from_be_bytes(bytes)
}

/// Claimed rows, oldest first, and the ids of those this version cannot
/// read: the caller ends them (as abandoned) rather than let them block
/// every later claim.
pub(super) fn claimed(mut rows: Vec<RawJob>) -> (Vec<Claimed>, Vec<String>) {
    rows.sort_by_key(|row| (row.enqueued_at, row.seq));
    let mut claimed = Vec::with_capacity(rows.len());
    let mut unreadable = Vec::new();
    for row in rows {
        let id = row.id.clone();
        match row.into_claimed() {
            Ok(job) => claimed.push(job),
            Err(error) => {
                tracing::error!(job_id = %id, %error, "a stored job cannot be read; abandoning it");
                unreadable.push(id);
            }
        }
    }
    (claimed, unreadable)
}

/// `last_error` of a job abandoned because it cannot be read.
pub(super) const UNREADABLE: &str = "unreadable";

/// `last_error` of a job a worker gave back unfinished (shutdown).
pub(super) const RELEASED: &str = "released";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcomes_round_trip_through_their_names() {
        for outcome in [
            Outcome::Completed,
            Outcome::Superseded,
            Outcome::SkippedDraft,
            Outcome::Failed,
            Outcome::Abandoned,
        ] {
            assert_eq!(outcome_from_str(outcome_str(outcome)), Some(outcome));
        }
        assert_eq!(outcome_from_str("exploded"), None);
    }

    #[test]
    fn times_keep_milliseconds_and_durations_past_the_range_are_refused() {
        let now = DateTime::from_timestamp(1_700_000_000, 123_456_789).expect("valid time");
        assert_eq!(
            at_millis(now).expect("in range").timestamp_subsec_nanos(),
            123_000_000
        );
        assert_eq!(
            after(now, Duration::from_millis(1500))
                .expect("in range")
                .timestamp_millis(),
            1_700_000_001_623
        );
        assert!(matches!(
            after(now, Duration::MAX),
            Err(StoreError::OutOfRange(_))
        ));
    }

    #[test]
    fn pull_lock_keys_differ_by_pull_request_and_schema() {
        let key = pull_lock_key("public", "o/r", 1);
        assert_eq!(key, pull_lock_key("public", "o/r", 1));
        assert_ne!(key, pull_lock_key("public", "o/r", 2));
        assert_ne!(key, pull_lock_key("public", "o/s", 1));
        assert_ne!(key, pull_lock_key("other", "o/r", 1));
    }
}
