//! The shared store: PostgreSQL, for any number of instances.
//!
//! A claim runs in one transaction: `SELECT … FOR UPDATE SKIP LOCKED` picks
//! the oldest runnable job of each pull request that no live lease holds,
//! skipping rows another claimer is taking. Pull requests need one more
//! step, because two claimers may lock *different* jobs of one pull request
//! from snapshots taken before either committed: each claimer then takes
//! the pull request's transaction-scoped advisory lock
//! (`pg_try_advisory_xact_lock`, skipping the job if another claimer holds
//! it) and checks again, in a new statement and so a fresh snapshot, that
//! no job of the pull request holds a live lease. Whoever comes second sees
//! the first one's committed claim.
//!
//! Tables live in the first schema of the connection's `search_path`; a URL
//! can choose it with `?options[search_path]=NAME` (the tests use a fresh
//! schema each).

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
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions, PgRow};
use sqlx::{Postgres, Row};
use std::str::FromStr;
use std::time::Duration;

/// Connections per instance: workers' claims and lease renewals, the
/// server's enqueues, /metrics.
const MAX_CONNECTIONS: u32 = 8;
/// How long a caller waits for a free connection.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(15);

/// The job store in a PostgreSQL database.
#[derive(Debug, Clone)]
pub struct PostgresStore {
    pool: PgPool,
    /// The schema the tables live in: advisory locks are database-wide,
    /// so pull-request lock keys include it (two deployments, or two test
    /// runs, in one database must not make each other skip jobs).
    schema: String,
}

fn raw(row: &PgRow) -> Result<RawJob, StoreError> {
    Ok(RawJob {
        seq: row.try_get("seq")?,
        id: row.try_get("id")?,
        job: row.try_get("job")?,
        state: row.try_get("state")?,
        outcome: row.try_get("outcome")?,
        enqueued_at: row.try_get("enqueued_at")?,
        not_before: row.try_get("not_before")?,
        lease_owner: row.try_get("lease_owner")?,
        lease_until: row.try_get("lease_until")?,
        attempts: row.try_get("attempts")?,
        retries: row.try_get("retries")?,
        last_error: row.try_get("last_error")?,
        check_run_id: row.try_get("check_run_id")?,
        review_fingerprints: row.try_get("review_fingerprints")?,
        superseded_by: row.try_get("superseded_by")?,
        finished_at: row.try_get("finished_at")?,
    })
}

impl PostgresStore {
    /// Connects to the database `url` names (`postgres://…` or
    /// `postgresql://…`) and brings its schema up to date. Several
    /// instances starting at once migrate one after another (sqlx holds an
    /// advisory lock while it migrates).
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        let options = PgConnectOptions::from_str(url)?;
        let pool = PgPoolOptions::new()
            .max_connections(MAX_CONNECTIONS)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect_with(options)
            .await?;
        migrations::migrator(migrations::POSTGRES)
            .await?
            .run(&pool)
            .await?;
        let schema: String = sqlx::query_scalar("SELECT current_schema()")
            .fetch_one(&pool)
            .await?;
        Ok(Self { pool, schema })
    }

    /// A fenced write: applies only while `lease` is the job's current claim.
    /// Every fenced statement binds `value` as $1, the lease as $2..$4 and,
    /// when it uses it, `time` as $5.
    async fn fenced<'q, T>(
        &self,
        sql: &'static str,
        value: T,
        lease: &'q Lease,
        time: Option<DateTime<Utc>>,
    ) -> Result<bool, StoreError>
    where
        T: 'q + Send + sqlx::Encode<'q, Postgres> + sqlx::Type<Postgres>,
    {
        let mut query = sqlx::query(sql)
            .bind(value)
            .bind(lease.job_id.as_str())
            .bind(lease.worker.as_str())
            .bind(i64::from(lease.attempt));
        if let Some(time) = time {
            query = query.bind(time);
        }
        Ok(query.execute(&self.pool).await?.rows_affected() == 1)
    }

    async fn abandon_unreadable(
        &self,
        ids: &[String],
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        for id in ids {
            sqlx::query(
                "UPDATE jobs SET state = 'done', outcome = 'abandoned', last_error = $1, \
                 finished_at = $2, lease_until = NULL WHERE id = $3",
            )
            .bind(codec::UNREADABLE)
            .bind(now)
            .bind(id)
            .execute(&self.pool)
            .await?;
        }
        Ok(())
    }
}

#[async_trait]
impl Store for PostgresStore {
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
        let mut tx = self.pool.begin().await?;
        let mut accepted = store_batch(&mut tx, &delivery, codec::at_millis(now)?, false).await?;
        tx.commit().await?;
        Ok(accepted.pop().map(|a| a.submitted).unwrap_or_default())
    }

    async fn accept(
        &self,
        deliveries: &[Incoming],
        now: DateTime<Utc>,
    ) -> Result<Vec<Accepted>, StoreError> {
        let mut tx = self.pool.begin().await?;
        let accepted = store_batch(&mut tx, deliveries, codec::at_millis(now)?, true).await?;
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
        let until = codec::after(now, lease)?;
        let now = codec::at_millis(now)?;
        let mut tx = self.pool.begin().await?;
        let candidates: Vec<(i64, String, i64)> = sqlx::query_as(
            // The oldest runnable job of each pull request that no live
            // lease holds, walking open jobs in order (index
            // jobs_open_order) and stopping at the limit, so a claim costs
            // the same however many jobs are queued.
            "SELECT j.seq, j.repo, j.number FROM jobs AS j \
             WHERE j.state <> 'done' \
               AND ((j.state = 'queued' AND j.not_before <= $1) \
                 OR (j.state = 'running' AND j.lease_until <= $1)) \
               AND NOT EXISTS ( \
                 SELECT 1 FROM jobs AS o \
                 WHERE o.repo = j.repo AND o.number = j.number \
                   AND o.state <> 'done' AND o.seq <> j.seq \
                   AND ((o.state = 'running' AND o.lease_until > $1) \
                     OR (((o.state = 'queued' AND o.not_before <= $1) \
                         OR (o.state = 'running' AND o.lease_until <= $1)) \
                       AND (o.enqueued_at < j.enqueued_at \
                         OR (o.enqueued_at = j.enqueued_at AND o.seq < j.seq))))) \
             ORDER BY j.enqueued_at, j.seq LIMIT $2 \
             FOR UPDATE OF j SKIP LOCKED",
        )
        .bind(now)
        .bind(codec::claim_limit(limit))
        .fetch_all(&mut *tx)
        .await?;
        let mut rows = Vec::with_capacity(candidates.len());
        for (seq, repo, number) in candidates {
            let ours: bool = sqlx::query_scalar("SELECT pg_try_advisory_xact_lock($1)")
                .bind(codec::pull_lock_key(&self.schema, &repo, number))
                .fetch_one(&mut *tx)
                .await?;
            if !ours {
                continue;
            }
            let busy: bool = sqlx::query_scalar(
                "SELECT EXISTS (SELECT 1 FROM jobs WHERE repo = $1 AND number = $2 \
                 AND state = 'running' AND lease_until > $3 AND seq <> $4)",
            )
            .bind(&repo)
            .bind(number)
            .bind(now)
            .bind(seq)
            .fetch_one(&mut *tx)
            .await?;
            if busy {
                continue;
            }
            // In SET, `state` is the old value: a running job here is a
            // takeover of an expired lease.
            let row = sqlx::query(concat!(
                "UPDATE jobs SET state = 'running', lease_owner = $1, lease_until = $2, \
                 attempts = attempts + 1, \
                 lease_expiries = lease_expiries + CASE WHEN state = 'running' THEN 1 ELSE 0 END, \
                 last_error = CASE WHEN state = 'running' THEN $3 ELSE last_error END \
                 WHERE seq = $4 RETURNING ",
                job_columns!()
            ))
            .bind(worker)
            .bind(until)
            .bind(codec::LEASE_EXPIRED)
            .bind(seq)
            .fetch_one(&mut *tx)
            .await?;
            rows.push(raw(&row)?);
        }
        tx.commit().await?;
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
        self.fenced(
            "UPDATE jobs SET lease_until = $1 WHERE id = $2 AND lease_owner = $3 \
             AND attempts = $4 AND state = 'running' AND lease_until > $5",
            codec::after(now, duration)?,
            lease,
            Some(codec::at_millis(now)?),
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
            "UPDATE jobs SET state = 'done', outcome = $1, finished_at = $5, lease_until = NULL \
             WHERE id = $2 AND lease_owner = $3 AND attempts = $4 AND state = 'running'",
            codec::outcome_str(outcome),
            lease,
            Some(codec::at_millis(now)?),
        )
        .await
    }

    async fn release(&self, lease: &Lease, now: DateTime<Utc>) -> Result<bool, StoreError> {
        self.fenced(
            "UPDATE jobs SET state = 'queued', last_error = $1, not_before = $5, \
             lease_until = NULL \
             WHERE id = $2 AND lease_owner = $3 AND attempts = $4 AND state = 'running'",
            codec::RELEASED,
            lease,
            Some(codec::at_millis(now)?),
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
            "UPDATE jobs SET state = 'queued', last_error = $1, not_before = $5, \
             lease_until = NULL, retries = retries + 1 \
             WHERE id = $2 AND lease_owner = $3 AND attempts = $4 AND state = 'running'",
            error_class,
            lease,
            Some(codec::at_millis(not_before)?),
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
        let mut conn = self.pool.acquire().await?;
        supersede_older(&mut conn, &heads, codec::at_millis(now)?).await
    }

    async fn record_check_run(&self, lease: &Lease, check_run_id: u64) -> Result<bool, StoreError> {
        self.fenced(
            "UPDATE jobs SET check_run_id = $1 \
             WHERE id = $2 AND lease_owner = $3 AND attempts = $4 AND state = 'running'",
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
            "UPDATE jobs SET review_fingerprints = $1 \
             WHERE id = $2 AND lease_owner = $3 AND attempts = $4 AND state = 'running'",
            codec::fingerprints_json(fingerprints),
            lease,
            None,
        )
        .await
    }

    async fn knows_delivery(&self, delivery_id: &str) -> Result<bool, StoreError> {
        Ok(
            sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM deliveries WHERE id = $1)")
                .bind(delivery_id)
                .fetch_one(&self.pool)
                .await?,
        )
    }

    async fn job(&self, job_id: &str) -> Result<Option<JobRecord>, StoreError> {
        let row = sqlx::query(concat!(
            "SELECT ",
            job_columns!(),
            " FROM jobs WHERE id = $1"
        ))
        .bind(job_id)
        .fetch_optional(&self.pool)
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
                  OR (state = 'running' AND lease_until <= $1)) AS queued, \
               (SELECT MIN(enqueued_at) FROM jobs WHERE state = 'queued' \
                  OR (state = 'running' AND lease_until <= $1)) AS oldest, \
               (SELECT COUNT(*) FROM jobs WHERE state = 'running' AND lease_until > $1) \
                  AS running, \
               ((SELECT COALESCE(SUM(lease_expiries), 0) FROM jobs) + (SELECT COALESCE(SUM(value), 0) \
                  FROM counters WHERE name = 'lease_expiries'))::BIGINT AS lease_expiries, \
               ((SELECT COALESCE(SUM(retries), 0) FROM jobs) + (SELECT COALESCE(SUM(value), 0) \
                  FROM counters WHERE name = 'retries'))::BIGINT AS retries",
        )
        .bind(codec::at_millis(now)?)
        .fetch_one(&self.pool)
        .await?;
        Ok(StoreStats {
            queued: codec::count(row.try_get("queued")?),
            oldest_queued_age: codec::age(now, row.try_get("oldest")?),
            running: codec::count(row.try_get("running")?),
            lease_expiries: codec::count(row.try_get("lease_expiries")?),
            retries: codec::count(row.try_get("retries")?),
        })
    }

    async fn health(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    async fn record_deliveries(&self, records: &[DeliveryRecord]) -> Result<(), StoreError> {
        let times = records
            .iter()
            .map(|r| codec::at_millis(r.received_at))
            .collect::<Result<Vec<_>, _>>()?;
        let Some(mut insert) = batch::record_deliveries::<Postgres, _>(records, &times) else {
            return Ok(());
        };
        insert.build().execute(&self.pool).await?;
        Ok(())
    }

    async fn recent_deliveries(&self, limit: usize) -> Result<Vec<DeliveryRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, received_at, event, outcome, ack_ms FROM deliveries \
             WHERE outcome IS NOT NULL ORDER BY received_at DESC, id LIMIT $1",
        )
        .bind(codec::recent_limit(limit))
        .fetch_all(&self.pool)
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
                    received_at: row.try_get("received_at")?,
                    ack: codec::ack(row.try_get("ack_ms")?),
                })
            })
            .collect()
    }

    async fn recent_jobs(&self, limit: usize) -> Result<Vec<RecentJob>, StoreError> {
        let rows = sqlx::query(concat!(
            "SELECT ",
            job_columns!(),
            " FROM jobs ORDER BY enqueued_at DESC, seq DESC LIMIT $1"
        ))
        .bind(codec::recent_limit(limit))
        .fetch_all(&self.pool)
        .await?;
        let rows = rows.iter().map(raw).collect::<Result<Vec<_>, _>>()?;
        Ok(codec::recent(rows))
    }

    async fn prune(&self, finished_before: DateTime<Utc>) -> Result<u64, StoreError> {
        let cutoff = codec::at_millis(finished_before)?;
        let mut tx = self.pool.begin().await?;
        for counter in ["lease_expiries", "retries"] {
            // `counter` is one of two column names, never outside input.
            let sql = format!(
                "UPDATE counters SET value = value + (SELECT COALESCE(SUM({counter}), 0) \
                 FROM jobs WHERE state = 'done' AND finished_at < $1)::BIGINT WHERE name = $2"
            );
            sqlx::query(&sql)
                .bind(cutoff)
                .bind(counter)
                .execute(&mut *tx)
                .await?;
        }
        let pruned = sqlx::query("DELETE FROM jobs WHERE state = 'done' AND finished_at < $1")
            .bind(cutoff)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        sqlx::query(
            "DELETE FROM deliveries WHERE received_at < $1 \
             AND NOT EXISTS (SELECT 1 FROM jobs WHERE jobs.delivery_id = deliveries.id)",
        )
        .bind(cutoff)
        .execute(&mut *tx)
        .await?;
        sqlx::query("DELETE FROM locks WHERE expires_at < $1")
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
        let taken = sqlx::query(
            "INSERT INTO locks (name, holder, expires_at) VALUES ($1, $2, $3) \
             ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, \
               expires_at = excluded.expires_at \
             WHERE locks.expires_at <= $4 OR locks.holder = excluded.holder \
             RETURNING holder",
        )
        .bind(name)
        .bind(holder)
        .bind(codec::after(now, lease)?)
        .bind(codec::at_millis(now)?)
        .fetch_optional(&self.pool)
        .await?;
        Ok(taken.is_some())
    }

    async fn unlock(&self, name: &str, holder: &str) -> Result<bool, StoreError> {
        let deleted = sqlx::query("DELETE FROM locks WHERE name = $1 AND holder = $2")
            .bind(name)
            .bind(holder)
            .execute(&self.pool)
            .await?
            .rows_affected();
        Ok(deleted == 1)
    }

    async fn live_locks(&self, prefix: &str, now: DateTime<Utc>) -> Result<u32, StoreError> {
        let live: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM locks WHERE name LIKE $1 || '%' AND expires_at > $2",
        )
        .bind(prefix)
        .bind(codec::at_millis(now)?)
        .fetch_one(&self.pool)
        .await?;
        Ok(u32::try_from(live).unwrap_or(u32::MAX))
    }

    async fn cached_licenses(&self, keys: &[LicenseKey]) -> Result<Vec<CachedLicense>, StoreError> {
        license_cache::postgres_get(&self.pool, keys).await
    }

    async fn cache_licenses(
        &self,
        entries: &[CachedLicense],
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        license_cache::postgres_put(&self.pool, entries, now).await
    }

    async fn prune_licenses(&self, fetched_before: DateTime<Utc>) -> Result<u64, StoreError> {
        let mut pruned = 0;
        for _ in 0..license_cache::MAX_PRUNE_ROUNDS {
            let done = license_cache::postgres_prune_chunk(&self.pool, fetched_before).await?;
            pruned += done;
            if done < license_cache::PRUNE_CHUNK {
                break;
            }
        }
        Ok(pruned)
    }

    async fn close(&self) {
        self.pool.close().await;
    }
}

/// Stores a batch of deliveries on `conn`, inside the caller's transaction
/// (see [`batch`]); with `supersede`, a push ends its pull request's older
/// heads.
async fn store_batch(
    conn: &mut sqlx::PgConnection,
    deliveries: &[Incoming],
    now: DateTime<Utc>,
    supersede: bool,
) -> Result<Vec<Accepted>, StoreError> {
    if deliveries.is_empty() {
        return Ok(Vec::new());
    }
    let plan = batch::Plan::new(deliveries)?;
    plan.insert_deliveries::<Postgres, _>(now)
        .build()
        .execute(&mut *conn)
        .await?;
    if !plan.has_jobs() {
        return plan.accepted(Vec::new(), Vec::new());
    }
    let inserted: Vec<String> = plan
        .insert_jobs::<Postgres, _>(now)
        .build_query_scalar()
        .fetch_all(&mut *conn)
        .await?;
    let stored: Vec<String> = match plan.lookup_not_inserted::<Postgres>(&inserted) {
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
    conn: &mut sqlx::PgConnection,
    heads: &[batch::NewestHead<'_>],
    now: DateTime<Utc>,
) -> Result<Vec<SupersededJob>, StoreError> {
    if heads.is_empty() {
        return Ok(Vec::new());
    }
    let rows = batch::supersede_older::<Postgres, _>("jobs", heads, now)
        .build()
        .fetch_all(&mut *conn)
        .await?;
    batch::oldest_first(rows.iter().map(raw).collect::<Result<_, _>>()?)
}
