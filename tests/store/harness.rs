//! The databases the store suite runs on, and small helpers.

use chrono::{DateTime, TimeZone, Utc};
use hunkscan::app::queue::Submitted;
use hunkscan::app::store::{self, Claimed, Store};
use hunkscan::app::webhook::{Job, JobKind, Trigger};
use hunkscan::github::types::RepoRef;
use sqlx::Connection;
use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tempfile::TempDir;

const DATABASE_ENV: &str = "HUNKSCAN_TEST_DATABASE_URL";
pub const MINUTE: Duration = Duration::from_secs(60);

/// A database for one test: a SQLite file, or a PostgreSQL schema dropped
/// when the test ends (even when it fails).
pub enum Db {
    Sqlite {
        _dir: TempDir,
        url: String,
    },
    Postgres {
        admin_url: String,
        url: String,
        schema: String,
    },
}

impl Db {
    pub async fn sqlite() -> Db {
        let dir = tempfile::tempdir().expect("temporary directory");
        let url = format!("sqlite://{}", dir.path().join("jobs.db").display());
        Db::Sqlite { _dir: dir, url }
    }

    /// `None`, said loudly on stderr, without `HUNKSCAN_TEST_DATABASE_URL`.
    pub async fn postgres(test: &str) -> Option<Db> {
        let Some(admin_url) = std::env::var(DATABASE_ENV)
            .ok()
            .filter(|url| !url.trim().is_empty())
        else {
            // Straight to the stderr handle: the test harness captures
            // `eprintln!` of passing tests, and a skip must not pass silently.
            let _ = writeln!(
                std::io::stderr(),
                "SKIPPED: store::postgres::{test}: {DATABASE_ENV} is not set, PostgreSQL was not tested"
            );
            return None;
        };
        static SEQ: AtomicUsize = AtomicUsize::new(0);
        let nanos = Utc::now().timestamp_subsec_nanos();
        let schema = format!(
            "hunkscan_test_{}_{}_{nanos}",
            std::process::id(),
            SEQ.fetch_add(1, Ordering::Relaxed)
        );
        let mut admin = sqlx::PgConnection::connect(&admin_url)
            .await
            .expect("PostgreSQL answers at HUNKSCAN_TEST_DATABASE_URL");
        sqlx::query(&format!("CREATE SCHEMA {schema}"))
            .execute(&mut admin)
            .await
            .expect("create the test schema");
        let separator = if admin_url.contains('?') { '&' } else { '?' };
        let url = format!("{admin_url}{separator}options[search_path]={schema}");
        Some(Db::Postgres {
            admin_url,
            url,
            schema,
        })
    }

    pub fn url(&self) -> &str {
        match self {
            Db::Sqlite { url, .. } | Db::Postgres { url, .. } => url,
        }
    }

    /// One instance of the store (a new connection pool).
    pub async fn open(&self) -> Arc<dyn Store> {
        store::connect(self.url()).await.expect("open the store")
    }
}

impl Drop for Db {
    fn drop(&mut self) {
        let Db::Postgres {
            admin_url, schema, ..
        } = self
        else {
            return;
        };
        let (url, name) = (admin_url.clone(), schema.clone());
        // Drop runs inside the test's runtime, which cannot be blocked on.
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .ok()?;
            runtime.block_on(async {
                let mut admin = sqlx::PgConnection::connect(&url).await.ok()?;
                sqlx::query(&format!("DROP SCHEMA {name} CASCADE"))
                    .execute(&mut admin)
                    .await
                    .ok()
            })
        })
        .join();
        if !matches!(dropped, Ok(Some(_))) {
            let _ = writeln!(std::io::stderr(), "could not drop test schema {schema}");
        }
    }
}

/// `secs` seconds into the test's clock.
pub fn t(secs: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0)
        .single()
        .expect("valid time")
        + chrono::TimeDelta::seconds(secs)
}

pub fn job(id: &str, number: u64, head: &str, trigger: Trigger) -> Job {
    Job {
        id: id.into(),
        installation_id: 42,
        repo: RepoRef {
            owner: "octo".into(),
            name: "app".into(),
        },
        repo_url: "https://github.com/octo/app".into(),
        number,
        head_sha: head.into(),
        base_sha: "base".into(),
        draft: false,
        trigger,
        kind: JobKind::PullRequest,
    }
}

/// Enqueues `job` as its own delivery (its id), expecting it new.
pub async fn add(store: &dyn Store, job: &Job, at: DateTime<Utc>) {
    assert_eq!(
        store
            .enqueue(&job.id, std::slice::from_ref(job), at)
            .await
            .expect("enqueue"),
        vec![Submitted::Queued],
        "{} is new",
        job.id
    );
}

pub async fn claim(store: &dyn Store, worker: &str, at: DateTime<Utc>) -> Vec<Claimed> {
    store.claim(worker, 10, MINUTE, at).await.expect("claim")
}

pub fn ids(claimed: &[Claimed]) -> Vec<&str> {
    claimed.iter().map(|c| c.job.id.as_str()).collect()
}
