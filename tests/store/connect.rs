//! Opening a store, and what a job looks like after the round trip.

use crate::harness::{Db, add, claim, job, t};
use hunkscan::app::store::{self, StoreError};
use hunkscan::app::webhook::Trigger;
use sqlx::Connection;
use std::collections::HashMap;

#[tokio::test]
async fn connect_creates_a_wal_sqlite_file_and_refuses_other_schemes() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let path = dir.path().join("new.db");
    let url = format!("sqlite://{}", path.display());
    let store = store::connect(&url).await.expect("connect");
    store.health().await.expect("health");
    assert!(path.exists(), "created when missing");
    let mut connection = sqlx::SqliteConnection::connect(&url).await.expect("open");
    let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
        .fetch_one(&mut connection)
        .await
        .expect("journal mode");
    assert_eq!(mode, "wal");

    match store::connect("mysql://user:hunter2@db.example/jobs").await {
        Err(StoreError::UnsupportedUrl(scheme)) => assert_eq!(scheme, "mysql"),
        Err(other) => panic!("wrong error: {other}"),
        Ok(_) => panic!("a mysql URL was accepted"),
    }
}

#[tokio::test]
async fn stored_jobs_keep_every_field_and_trigger() {
    let db = Db::sqlite().await;
    let store = db.open().await;
    let mut expected = HashMap::new();
    for (n, trigger) in [
        Trigger::PullRequest,
        Trigger::SuiteRequested,
        Trigger::Rerun,
    ]
    .into_iter()
    .enumerate()
    {
        let mut job = job(&format!("j{n}"), n as u64, &format!("h{n}"), trigger);
        job.installation_id = u64::MAX;
        job.draft = n == 1;
        job.base_sha = String::new();
        add(store.as_ref(), &job, t(n as i64)).await;
        expected.insert(job.id.clone(), job);
    }
    for claimed in claim(store.as_ref(), "w", t(10)).await {
        assert_eq!(Some(&claimed.job), expected.get(&claimed.job.id));
        expected.remove(&claimed.job.id);
    }
    assert!(expected.is_empty(), "not claimed: {expected:?}");
}
