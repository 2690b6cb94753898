//! The licence cache's queries ([`super::Store::cached_licenses`],
//! [`super::Store::cache_licenses`], [`super::Store::prune_licenses`]) for
//! both backends, in chunks so one statement stays within the databases'
//! bind limits (SQLite: 32,766) and a prune holds the table briefly.

use super::{CachedLicense, LicenseKey, MAX_LICENSE_KEYS, StoreError};
use chrono::{DateTime, Utc};
use sqlx::{Database, Encode, PgPool, Postgres, QueryBuilder, Row, Sqlite, SqlitePool, Type};

/// Rows per statement: 3 or 6 binds each.
const CHUNK: usize = 500;

fn row_of<R: Row>(row: &R) -> Result<CachedLicense, sqlx::Error>
where
    for<'r> &'r str: sqlx::ColumnIndex<R>,
    for<'r> String: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> Option<String>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    Ok(CachedLicense {
        key: LicenseKey {
            ecosystem: row.try_get("ecosystem")?,
            name: row.try_get("name")?,
            version: row.try_get("version")?,
        },
        license: row.try_get("license")?,
        reason: row.try_get("reason")?,
    })
}

const SELECT: &str = "SELECT ecosystem, name, version, license, reason FROM license_cache WHERE (ecosystem, name, version) IN ";
const INSERT: &str =
    "INSERT INTO license_cache (ecosystem, name, version, license, reason, fetched_at) ";
const UPSERT: &str = " ON CONFLICT (ecosystem, name, version) DO UPDATE SET license = excluded.license, \
     reason = excluded.reason, fetched_at = excluded.fetched_at";

/// `SELECT … WHERE (ecosystem, name, version) IN (…)` for one chunk of keys.
fn select<'q, DB>(chunk: &'q [LicenseKey]) -> QueryBuilder<'q, DB>
where
    DB: Database,
    &'q String: Encode<'q, DB> + Type<DB>,
{
    let mut query = QueryBuilder::new(SELECT);
    query.push_tuples(chunk, |mut row, key| {
        row.push_bind(&key.ecosystem)
            .push_bind(&key.name)
            .push_bind(&key.version);
    });
    query
}

/// The upsert of one chunk of entries, stamped `now_ms`.
fn upsert<'q, DB>(chunk: &'q [CachedLicense], now_ms: i64) -> QueryBuilder<'q, DB>
where
    DB: Database,
    &'q String: Encode<'q, DB> + Type<DB>,
    &'q Option<String>: Encode<'q, DB> + Type<DB>,
    i64: Encode<'q, DB> + Type<DB>,
{
    let mut query = QueryBuilder::new(INSERT);
    query.push_values(chunk, |mut row, entry| {
        row.push_bind(&entry.key.ecosystem)
            .push_bind(&entry.key.name)
            .push_bind(&entry.key.version)
            .push_bind(&entry.license)
            .push_bind(&entry.reason)
            .push_bind(now_ms);
    });
    query.push(UPSERT);
    query
}

/// The keys looked up, at most [`MAX_LICENSE_KEYS`].
fn bounded(keys: &[LicenseKey]) -> &[LicenseKey] {
    &keys[..keys.len().min(MAX_LICENSE_KEYS)]
}

pub(super) async fn sqlite_get(
    pool: &SqlitePool,
    keys: &[LicenseKey],
) -> Result<Vec<CachedLicense>, StoreError> {
    let mut out = Vec::new();
    for chunk in bounded(keys).chunks(CHUNK) {
        for row in select::<Sqlite>(chunk).build().fetch_all(pool).await? {
            out.push(row_of(&row)?);
        }
    }
    Ok(out)
}

pub(super) async fn sqlite_put(
    pool: &SqlitePool,
    entries: &[CachedLicense],
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    for chunk in entries.chunks(CHUNK) {
        upsert::<Sqlite>(chunk, now.timestamp_millis())
            .build()
            .execute(pool)
            .await?;
    }
    Ok(())
}

pub(super) async fn postgres_get(
    pool: &PgPool,
    keys: &[LicenseKey],
) -> Result<Vec<CachedLicense>, StoreError> {
    let mut out = Vec::new();
    for chunk in bounded(keys).chunks(CHUNK) {
        for row in select::<Postgres>(chunk).build().fetch_all(pool).await? {
            out.push(row_of(&row)?);
        }
    }
    Ok(out)
}

pub(super) async fn postgres_put(
    pool: &PgPool,
    entries: &[CachedLicense],
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    for chunk in entries.chunks(CHUNK) {
        upsert::<Postgres>(chunk, now.timestamp_millis())
            .build()
            .execute(pool)
            .await?;
    }
    Ok(())
}

/// Rows one prune statement deletes: a long-idle cache may hold hundreds of
/// thousands of stale rows, and one huge delete would hold SQLite's single
/// writer (and Postgres' row locks) for its whole length.
pub(super) const PRUNE_CHUNK: u64 = 5_000;
/// Statements one prune runs at most (the rest waits for the next prune).
pub(super) const MAX_PRUNE_ROUNDS: usize = 200;

const PRUNE_SQLITE: &str = "DELETE FROM license_cache WHERE rowid IN \
     (SELECT rowid FROM license_cache WHERE fetched_at < ?1 LIMIT ?2)";
const PRUNE_POSTGRES: &str = "DELETE FROM license_cache WHERE (ecosystem, name, version) IN \
     (SELECT ecosystem, name, version FROM license_cache WHERE fetched_at < $1 LIMIT $2)";

/// One chunk of a prune: at most [`PRUNE_CHUNK`] rows; how many went.
pub(super) async fn sqlite_prune_chunk(
    pool: &SqlitePool,
    fetched_before: DateTime<Utc>,
) -> Result<u64, StoreError> {
    Ok(sqlx::query(PRUNE_SQLITE)
        .bind(fetched_before.timestamp_millis())
        .bind(PRUNE_CHUNK as i64)
        .execute(pool)
        .await?
        .rows_affected())
}

/// One chunk of a prune: at most [`PRUNE_CHUNK`] rows; how many went.
pub(super) async fn postgres_prune_chunk(
    pool: &PgPool,
    fetched_before: DateTime<Utc>,
) -> Result<u64, StoreError> {
    Ok(sqlx::query(PRUNE_POSTGRES)
        .bind(fetched_before.timestamp_millis())
        .bind(PRUNE_CHUNK as i64)
        .execute(pool)
        .await?
        .rows_affected())
}
