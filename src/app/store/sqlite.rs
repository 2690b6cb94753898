//! The embedded store: one SQLite file, for a single instance.
//!
//! WAL mode so readers (/metrics, health, the status page) never wait for
//! the writer. SQLite has one writer at a time, and a writer that finds the
//! lock taken sleeps in SQLite's busy handler, up to 100 ms a time: so every
//! write here takes [`SqliteStore::turn`] first, in arrival order, and never
//! meets a busy lock from this process (the busy timeout is only for another
//! process opening the same file, which is not supported).
//!
//! Two writer connections share that turn, because durability has two
//! prices. Deliveries are written with `synchronous = FULL`: each commit is
//! flushed before the delivery is acknowledged, so it survives a power cut,
//! not only a crash. Every other write (claims, leases, completions, status
//! records) uses `synchronous = NORMAL`: committed in the write-ahead log
//! without a flush of its own, so it survives a crash of the process, and
//! reaches the disk with the next delivery's flush (which flushes the whole
//! log) or the next checkpoint. A power cut can lose only such worker
//! writes made since the last delivery: the job then runs again, and every
//! GitHub write of a job is idempotent (it finds its own check run and
//! comments before creating them). Before this split, the workers' flushes
//! took most of the disk's time and deliveries waited behind them.
//!
//! A claim is a single `UPDATE … RETURNING`, so it sees a consistent picture
//! of every lease; multi-statement writes begin with `BEGIN IMMEDIATE`.
//! Times are milliseconds since the Unix epoch, UTC.

use super::codec::{self, RawJob, job_columns};
use super::{
    Accepted, Claimed, DeliveryRecord, Incoming, JobRecord, Lease, Outcome, RecentJob, Store,
    StoreError, StoreStats, SupersededJob,
};
use super::{CachedLicense, LicenseKey, license_cache};
use super::{batch, migrations};
use crate::app::queue::Submitted;
use crate::app::webhook::Job;
use crate::github::types::RepoRef;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteRow,
    SqliteSynchronous,
};
use sqlx::{Row, Sqlite};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Mutex;

/// How long a writer waits for another process's write before giving up.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);
/// Reader connections, beside the two writers.
const READERS: u32 = 3;
/// How long a caller waits for a free connection.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(15);

/// The job store in one SQLite file.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    /// Reads only.
    readers: SqlitePool,
    /// The connection that stores deliveries (`synchronous = FULL`).
    intake: SqlitePool,
    /// The connection for every other write (`synchronous = NORMAL`).
    writes: SqlitePool,
    /// Held by every write, first come first served.
    turn: Arc<Mutex<()>>,
}

fn ms(time: DateTime<Utc>) -> i64 {
    time.timestamp_millis()
}

fn time(ms: i64) -> Result<DateTime<Utc>, StoreError> {
    DateTime::from_timestamp_millis(ms).ok_or(StoreError::OutOfRange("stored time"))
}

fn raw(row: &SqliteRow) -> Result<RawJob, StoreError> {
    let optional_time = |column: &str| -> Result<Option<DateTime<Utc>>, StoreError> {
        row.try_get::<Option<i64>, _>(column)?.map(time).transpose()
    };
    Ok(RawJob {
        seq: row.try_get("seq")?,
        id: row.try_get("id")?,
        job: row.try_get("job")?,
        state: row.try_get("state")?,
        outcome: row.try_get("outcome")?,
        enqueued_at: time(row.try_get("enqueued_at")?)?,
        not_before: time(row.try_get("not_before")?)?,
        lease_owner: row.try_get("lease_owner")?,
        lease_until: optional_time("lease_until")?,
        attempts: row.try_get("attempts")?,
        retries: row.try_get("retries")?,
        last_error: row.try_get("last_error")?,
        check_run_id: row.try_get("check_run_id")?,
        review_fingerprints: row.try_get("review_fingerprints")?,
        superseded_by: row.try_get("superseded_by")?,
        finished_at: optional_time("finished_at")?,
    })
}

impl SqliteStore {
    /// Opens (creating if missing) the database `url` names, such as
    /// `sqlite://hunkscan.db` or `sqlite:///var/lib/hunkscan/hunkscan.db`,
    /// and brings its schema up to date.
    pub async fn open(url: &str) -> Result<Self, StoreError> {
        let options = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .busy_timeout(BUSY_TIMEOUT);
        let pool = |connections: u32, synchronous: SqliteSynchronous| {
            SqlitePoolOptions::new()
                .max_connections(connections)
                .acquire_timeout(ACQUIRE_TIMEOUT)
                .connect_with(options.clone().synchronous(synchronous))
        };
        // The intake's connection first: it creates the file and migrates.
        let intake = pool(1, SqliteSynchronous::Full).await?;
        migrations::migrator(migrations::SQLITE)
            .await?
            .run(&intake)
            .await?;
        Ok(Self {
            readers: pool(READERS, SqliteSynchronous::Normal).await?,
            writes: pool(1, SqliteSynchronous::Normal).await?,
            intake,
            turn: Arc::new(Mutex::new(())),
        })
    }

    /// A fenced write: applies only while `lease` is the job's current claim.
    /// Every fenced statement binds `value` as ?1, the lease as ?2..?4 and,
    /// when it uses it, `time` as ?5.
    async fn fenced<'q, T>(
        &self,
        sql: &'static str,
        value: T,
        lease: &'q Lease,
        time: Option<i64>,
    ) -> Result<bool, StoreError>
    where
        T: 'q + Send + sqlx::Encode<'q, Sqlite> + sqlx::Type<Sqlite>,
    {
        let mut query = sqlx::query(sql)
            .bind(value)
            .bind(lease.job_id.as_str())
            .bind(lease.worker.as_str())
            .bind(i64::from(lease.attempt));
        if let Some(time) = time {
            query = query.bind(time);
        }
        let _turn = self.turn.lock().await;
        Ok(query.execute(&self.writes).await?.rows_affected() == 1)
    }

    /// The caller holds the write turn.
    async fn abandon_unreadable(&self, ids: &[String], now: i64) -> Result<(), StoreError> {
        for id in ids {
            sqlx::query(
                "UPDATE jobs SET state = 'done', outcome = 'abandoned', last_error = ?1, \
                 finished_at = ?2, lease_until = NULL WHERE id = ?3",
            )
            .bind(codec::UNREADABLE)
            .bind(now)
            .bind(id)
            .execute(&self.writes)
            .await?;
        }
        Ok(())
    }
}

#[async_trait]
impl Store for SqliteStore {
    async fn enqueue(
        &self,
        delivery_id: &str,
        jobs: &[Job],
        now: DateTime<Utc>,
    ) -> Result<Vec<Submitted>, StoreError> {
        let delivery = [Incoming {
            delivery_id: delivery_id.to_owned(),
            jobs: jobs.to_vec(),
        }];
        let _turn = self.turn.lock().await;
        let mut tx = self.intake.begin_with("BEGIN IMMEDIATE").await?;
        let mut accepted = store_batch(&mut tx, &delivery, ms(now), false).await?;
        tx.commit().await?;
        Ok(accepted.pop().map(|a| a.submitted).unwrap_or_default())
    }

    async fn accept(
        &self,
        deliveries: &[Incoming],
        now: DateTime<Utc>,
    ) -> Result<Vec<Accepted>, StoreError> {
        let _turn = self.turn.lock().await;
        let mut tx = self.intake.begin_with("BEGIN IMMEDIATE").await?;
        let accepted = store_batch(&mut tx, deliveries, ms(now), true).await?;
        tx.commit().await?;
        Ok(accepted)
    }

    async fn claim(
        &self,
        worker: &str,
        limit: usize,
        lease: Duration,
        now: DateTime<Utc>,
    ) -> Result<Vec<Claimed>, StoreError> {
        let until = ms(codec::after(now, lease)?);
        let now = ms(now);
        // One statement: the oldest runnable job of each pull request that
        // no live lease holds, oldest first. The scan walks open jobs in
        // order (index jobs_open_order) and stops at `limit`: a claim costs
        // the same with ten thousand jobs queued as with ten. SQLite 3.46
        // (bundled by sqlx) would rather gather every queued job by state
        // and sort them (3.5 ms with 7,000 queued, against 0.1 ms), so it is
        // told the index. In SET, `state` is the old value: a running job
        // here is a takeover of an expired lease.
        let rows = sqlx::query(concat!(
            "UPDATE jobs SET state = 'running', lease_owner = ?1, lease_until = ?2, \
             attempts = attempts + 1, \
             lease_expiries = lease_expiries + (state = 'running'), \
             last_error = CASE WHEN state = 'running' THEN ?5 ELSE last_error END \
             WHERE seq IN ( \
               SELECT j.seq FROM jobs AS j INDEXED BY jobs_open_order \
               WHERE j.state <> 'done' \
                 AND ((j.state = 'queued' AND j.not_before <= ?3) \
                   OR (j.state = 'running' AND j.lease_until <= ?3)) \
                 AND NOT EXISTS ( \
                   SELECT 1 FROM jobs AS o \
                   WHERE o.repo = j.repo AND o.number = j.number \
                     AND o.state <> 'done' AND o.seq <> j.seq \
                     AND ((o.state = 'running' AND o.lease_until > ?3) \
                       OR (((o.state = 'queued' AND o.not_before <= ?3) \
                           OR (o.state = 'running' AND o.lease_until <= ?3)) \
                         AND (o.enqueued_at < j.enqueued_at \
                           OR (o.enqueued_at = j.enqueued_at AND o.seq < j.seq))))) \
               ORDER BY j.enqueued_at, j.seq LIMIT ?4) \
             RETURNING ",
            job_columns!()
        ))
        .bind(worker)
        .bind(until)
        .bind(now)
        .bind(codec::claim_limit(limit))
        .bind(codec::LEASE_EXPIRED);
        let _turn = self.turn.lock().await;
        let rows = rows.fetch_all(&self.writes).await?;
        let rows = rows.iter().map(raw).collect::<Result<Vec<_>, _>>()?;
        let (claimed, unreadable) = codec::claimed(rows);
        self.abandon_unreadable(&unreadable, now).await?;
        Ok(claimed)
    }

    async fn renew(
        &self,
        lease: &Lease,
        duration: Duration,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let until = ms(codec::after(now, duration)?);
        self.fenced(
            "UPDATE jobs SET lease_until = ?1 WHERE id = ?2 AND lease_owner = ?3 \
             AND attempts = ?4 AND state = 'running' AND lease_until > ?5",
            until,
            lease,
            Some(ms(now)),
        )
        .await
    }

    async fn complete(
        &self,
        lease: &Lease,
        outcome: Outcome,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        self.fenced(
            "UPDATE jobs SET state = 'done', outcome = ?1, finished_at = ?5, lease_until = NULL \
             WHERE id = ?2 AND lease_owner = ?3 AND attempts = ?4 AND state = 'running'",
            codec::outcome_str(outcome),
            lease,
            Some(ms(now)),
        )
        .await
    }

    async fn release(&self, lease: &Lease, now: DateTime<Utc>) -> Result<bool, StoreError> {
        self.fenced(
            "UPDATE jobs SET state = 'queued', last_error = ?1, not_before = ?5, \
             lease_until = NULL \
             WHERE id = ?2 AND lease_owner = ?3 AND attempts = ?4 AND state = 'running'",
            codec::RELEASED,
            lease,
            Some(ms(now)),
        )
        .await
    }

    async fn retry_later(
        &self,
        lease: &Lease,
        not_before: DateTime<Utc>,
        error_class: &str,
    ) -> Result<bool, StoreError> {
        self.fenced(
            "UPDATE jobs SET state = 'queued', last_error = ?1, not_before = ?5, \
             lease_until = NULL, retries = retries + 1 \
             WHERE id = ?2 AND lease_owner = ?3 AND attempts = ?4 AND state = 'running'",
            error_class,
            lease,
            Some(ms(codec::at_millis(not_before)?)),
        )
        .await
    }

    async fn supersede(
        &self,
        repo: &RepoRef,
        number: u64,
        current_head: &str,
        now: DateTime<Utc>,
    ) -> Result<Vec<SupersededJob>, StoreError> {
        let heads = [batch::newest_head(repo, number, current_head)?];
        let _turn = self.turn.lock().await;
        let mut conn = self.writes.acquire().await?;
        supersede_older(&mut conn, &heads, ms(now)).await
    }

    async fn record_check_run(&self, lease: &Lease, check_run_id: u64) -> Result<bool, StoreError> {
        self.fenced(
            "UPDATE jobs SET check_run_id = ?1 \
             WHERE id = ?2 AND lease_owner = ?3 AND attempts = ?4 AND state = 'running'",
            codec::to_i64(check_run_id, "check run id")?,
            lease,
            None,
        )
        .await
    }

    async fn record_review(
        &self,
        lease: &Lease,
        fingerprints: &[String],
    ) -> Result<bool, StoreError> {
        self.fenced(
            "UPDATE jobs SET review_fingerprints = ?1 \
             WHERE id = ?2 AND lease_owner = ?3 AND attempts = ?4 AND state = 'running'",
            codec::fingerprints_json(fingerprints),
            lease,
            None,
        )
        .await
    }

    async fn knows_delivery(&self, delivery_id: &str) -> Result<bool, StoreError> {
        Ok(
            sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM deliveries WHERE id = ?1)")
                .bind(delivery_id)
                .fetch_one(&self.readers)
                .await?,
        )
    }

    async fn job(&self, job_id: &str) -> Result<Option<JobRecord>, StoreError> {
        let row = sqlx::query(concat!(
            "SELECT ",
            job_columns!(),
            " FROM jobs WHERE id = ?1"
        ))
        .bind(job_id)
        .fetch_optional(&self.readers)
        .await?;
        row.as_ref()
            .map(raw)
            .transpose()?
            .map(RawJob::into_record)
            .transpose()
    }

    async fn stats(&self, now: DateTime<Utc>) -> Result<StoreStats, StoreError> {
        let row = sqlx::query(
            "SELECT \
               (SELECT COUNT(*) FROM jobs WHERE state = 'queued' \
                  OR (state = 'running' AND lease_until <= ?1)) AS queued, \
               (SELECT MIN(enqueued_at) FROM jobs WHERE state = 'queued' \
                  OR (state = 'running' AND lease_until <= ?1)) AS oldest, \
               (SELECT COUNT(*) FROM jobs WHERE state = 'running' AND lease_until > ?1) \
                  AS running, \
               (SELECT COALESCE(SUM(lease_expiries), 0) FROM jobs) + (SELECT COALESCE(SUM(value), 0) \
                  FROM counters WHERE name = 'lease_expiries') AS lease_expiries, \
               (SELECT COALESCE(SUM(retries), 0) FROM jobs) + (SELECT COALESCE(SUM(value), 0) \
                  FROM counters WHERE name = 'retries') AS retries",
        )
        .bind(ms(now))
        .fetch_one(&self.readers)
        .await?;
        let oldest = row
            .try_get::<Option<i64>, _>("oldest")?
            .map(time)
            .transpose()?;
        Ok(StoreStats {
            queued: codec::count(row.try_get("queued")?),
            oldest_queued_age: codec::age(now, oldest),
            running: codec::count(row.try_get("running")?),
            lease_expiries: codec::count(row.try_get("lease_expiries")?),
            retries: codec::count(row.try_get("retries")?),
        })
    }

    async fn health(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.readers).await?;
        Ok(())
    }

    async fn record_deliveries(&self, records: &[DeliveryRecord]) -> Result<(), StoreError> {
        let times: Vec<i64> = records.iter().map(|r| ms(r.received_at)).collect();
        let Some(mut insert) = batch::record_deliveries::<Sqlite, _>(records, &times) else {
            return Ok(());
        };
        let _turn = self.turn.lock().await;
        insert.build().execute(&self.writes).await?;
        Ok(())
    }

    async fn recent_deliveries(&self, limit: usize) -> Result<Vec<DeliveryRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, received_at, event, outcome, ack_ms FROM deliveries \
             WHERE outcome IS NOT NULL ORDER BY received_at DESC, id LIMIT ?1",
        )
        .bind(codec::recent_limit(limit))
        .fetch_all(&self.readers)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(DeliveryRecord {
                    id: row.try_get("id")?,
                    event: row
                        .try_get::<Option<String>, _>("event")?
                        .unwrap_or_default(),
                    outcome: row
                        .try_get::<Option<String>, _>("outcome")?
                        .unwrap_or_default(),
                    received_at: time(row.try_get("received_at")?)?,
                    ack: codec::ack(row.try_get("ack_ms")?),
                })
            })
            .collect()
    }

    async fn recent_jobs(&self, limit: usize) -> Result<Vec<RecentJob>, StoreError> {
        let rows = sqlx::query(concat!(
            "SELECT ",
            job_columns!(),
            " FROM jobs ORDER BY enqueued_at DESC, seq DESC LIMIT ?1"
        ))
        .bind(codec::recent_limit(limit))
        .fetch_all(&self.readers)
        .await?;
        let rows = rows.iter().map(raw).collect::<Result<Vec<_>, _>>()?;
        Ok(codec::recent(rows))
    }

    async fn prune(&self, finished_before: DateTime<Utc>) -> Result<u64, StoreError> {
        let cutoff = ms(finished_before);
        let _turn = self.turn.lock().await;
        let mut tx = self.writes.begin_with("BEGIN IMMEDIATE").await?;
        for counter in ["lease_expiries", "retries"] {
            // `counter` is one of two column names, never outside input.
            let sql = format!(
                "UPDATE counters SET value = value + (SELECT COALESCE(SUM({counter}), 0) \
                 FROM jobs WHERE state = 'done' AND finished_at < ?1) WHERE name = ?2"
            );
            sqlx::query(&sql)
                .bind(cutoff)
                .bind(counter)
                .execute(&mut *tx)
                .await?;
        }
        let pruned = sqlx::query("DELETE FROM jobs WHERE state = 'done' AND finished_at < ?1")
            .bind(cutoff)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        sqlx::query(
            "DELETE FROM deliveries WHERE received_at < ?1 \
             AND NOT EXISTS (SELECT 1 FROM jobs WHERE jobs.delivery_id = deliveries.id)",
        )
        .bind(cutoff)
        .execute(&mut *tx)
        .await?;
        sqlx::query("DELETE FROM locks WHERE expires_at < ?1")
            .bind(cutoff)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(pruned)
    }

    async fn try_lock(
        &self,
        name: &str,
        holder: &str,
        lease: Duration,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let until = ms(codec::after(now, lease)?);
        let taken = sqlx::query(
            "INSERT INTO locks (name, holder, expires_at) VALUES (?1, ?2, ?3) \
             ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, \
               expires_at = excluded.expires_at \
             WHERE locks.expires_at <= ?4 OR locks.holder = excluded.holder \
             RETURNING holder",
        )
        .bind(name)
        .bind(holder)
        .bind(until)
        .bind(ms(now));
        let _turn = self.turn.lock().await;
        let taken = taken.fetch_optional(&self.writes).await?;
        Ok(taken.is_some())
    }

    async fn unlock(&self, name: &str, holder: &str) -> Result<bool, StoreError> {
        let _turn = self.turn.lock().await;
        let deleted = sqlx::query("DELETE FROM locks WHERE name = ?1 AND holder = ?2")
            .bind(name)
            .bind(holder)
            .execute(&self.writes)
            .await?
            .rows_affected();
        Ok(deleted == 1)
    }

    async fn live_locks(&self, prefix: &str, now: DateTime<Utc>) -> Result<u32, StoreError> {
        let live: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM locks WHERE name LIKE ?1 || '%' AND expires_at > ?2",
        )
        .bind(prefix)
        .bind(ms(now))
        .fetch_one(&self.readers)
        .await?;
        Ok(u32::try_from(live).unwrap_or(u32::MAX))
    }

    async fn cached_licenses(&self, keys: &[LicenseKey]) -> Result<Vec<CachedLicense>, StoreError> {
        license_cache::sqlite_get(&self.readers, keys).await
    }

    async fn cache_licenses(
        &self,
        entries: &[CachedLicense],
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let _turn = self.turn.lock().await;
        license_cache::sqlite_put(&self.writes, entries, now).await
    }

    async fn prune_licenses(&self, fetched_before: DateTime<Utc>) -> Result<u64, StoreError> {
        let mut pruned = 0;
        for _ in 0..license_cache::MAX_PRUNE_ROUNDS {
            // The writer's turn per chunk, so other writes go in between.
            let _turn = self.turn.lock().await;
            let done = license_cache::sqlite_prune_chunk(&self.writes, fetched_before).await?;
            pruned += done;
            if done < license_cache::PRUNE_CHUNK {
                break;
            }
        }
        Ok(pruned)
    }

    async fn close(&self) {
        self.readers.close().await;
        self.writes.close().await;
        self.intake.close().await;
    }
}

/// Stores a batch of deliveries on `conn`, inside the caller's transaction
/// (see [`batch`]); with `supersede`, a push ends its pull request's older
/// heads.
async fn store_batch(
    conn: &mut sqlx::SqliteConnection,
    deliveries: &[Incoming],
    now: i64,
    supersede: bool,
) -> Result<Vec<Accepted>, StoreError> {
    if deliveries.is_empty() {
        return Ok(Vec::new());
    }
    let plan = batch::Plan::new(deliveries)?;
    plan.insert_deliveries::<Sqlite, _>(now)
        .build()
        .execute(&mut *conn)
        .await?;
    if !plan.has_jobs() {
        return plan.accepted(Vec::new(), Vec::new());
    }
    let inserted: Vec<String> = plan
        .insert_jobs::<Sqlite, _>(now)
        .build_query_scalar()
        .fetch_all(&mut *conn)
        .await?;
    let stored: Vec<String> = match plan.lookup_not_inserted::<Sqlite>(&inserted) {
        Some(mut lookup) => lookup.build_query_scalar().fetch_all(&mut *conn).await?,
        None => Vec::new(),
    };
    let outcomes = plan.outcomes(&inserted, &stored);
    let heads = if supersede {
        plan.newest_heads(&outcomes)
    } else {
        Vec::new()
    };
    let ended = supersede_older(conn, &heads, now).await?;
    plan.accepted(outcomes, ended)
}

/// Ends the older heads' open jobs of each pull request in `heads`.
async fn supersede_older(
    conn: &mut sqlx::SqliteConnection,
    heads: &[batch::NewestHead<'_>],
    now: i64,
) -> Result<Vec<SupersededJob>, StoreError> {
    if heads.is_empty() {
        return Ok(Vec::new());
    }
    let rows = batch::supersede_older::<Sqlite, _>("jobs INDEXED BY jobs_pull", heads, now)
        .build()
        .fetch_all(&mut *conn)
        .await?;
    batch::oldest_first(rows.iter().map(raw).collect::<Result<_, _>>()?)
}
