//! Storing a batch of deliveries in a handful of statements.
//!
//! The intake writes every delivery waiting in one transaction (see
//! [`super::intake`]). Written one row at a time, a batch costs three
//! statements per delivery (the delivery, its job, the supersede of older
//! heads): on PostgreSQL each is a round trip, and at a few thousand
//! deliveries a second those round trips, not the commit, set the pace.
//! Here a batch costs at most four statements whatever its size: insert the
//! deliveries, insert the jobs (answering which were new), look up the ids
//! of the jobs that were not, and end the older heads of every pull request
//! the batch pushed to.
//!
//! The statements are built once for both backends with sqlx's
//! [`QueryBuilder`], which writes each backend's placeholders; each backend
//! only runs them and maps its rows (`Store::accept` in `sqlite.rs` and
//! `postgres.rs`). The outcome is the one storing the deliveries one by one,
//! in order, would give — except that when one batch holds several pushes
//! to one pull request, the older heads (those of the batch included) are
//! all superseded by the newest, not each by the next.

use super::codec::{self, JobColumns, job_columns};
use super::{Accepted, Incoming, StoreError, SupersededJob};
use crate::app::queue::Submitted;
use crate::app::webhook::Job;
use crate::github::types::RepoRef;
use sqlx::{Database, Encode, QueryBuilder, Type};
use std::collections::{HashMap, HashSet};

/// The jobs of a batch of deliveries, in order, ready to be written.
pub(super) struct Plan<'a> {
    deliveries: &'a [Incoming],
    rows: Vec<Row<'a>>,
}

struct Row<'a> {
    /// Where the job is in the batch: (delivery, job within it).
    at: (usize, usize),
    delivery_id: &'a str,
    job: &'a Job,
    columns: JobColumns,
}

/// The newest head a batch pushed to one pull request: the older heads'
/// open jobs end, superseded by it.
pub(super) struct NewestHead<'a> {
    repo: String,
    number: i64,
    head: &'a str,
}

impl<'a> Plan<'a> {
    pub fn new(deliveries: &'a [Incoming]) -> Result<Self, StoreError> {
        let mut rows = Vec::new();
        for (d, delivery) in deliveries.iter().enumerate() {
            for (j, job) in delivery.jobs.iter().enumerate() {
                rows.push(Row {
                    at: (d, j),
                    delivery_id: &delivery.delivery_id,
                    job,
                    columns: codec::stored_columns(job)?,
                });
            }
        }
        Ok(Self { deliveries, rows })
    }

    pub fn has_jobs(&self) -> bool {
        !self.rows.is_empty()
    }

    /// `INSERT INTO deliveries …`: every delivery, a redelivery doing nothing.
    pub fn insert_deliveries<'q, DB, Time>(&'q self, now: Time) -> QueryBuilder<'q, DB>
    where
        DB: Database,
        &'q str: Encode<'q, DB> + Type<DB>,
        Time: Encode<'q, DB> + Type<DB> + Copy + 'q,
    {
        let mut query = QueryBuilder::new("INSERT INTO deliveries (id, received_at) ");
        query.push_values(self.deliveries, |mut row, delivery| {
            row.push_bind(delivery.delivery_id.as_str()).push_bind(now);
        });
        query.push(" ON CONFLICT (id) DO NOTHING");
        query
    }

    /// `INSERT INTO jobs … RETURNING id`: the ids of the jobs that were new.
    /// DO NOTHING on either unique key: the job id (a redelivery) or the
    /// automatic head (the same push announced twice). Rows go in batch
    /// order, so `seq` (the claim order among equal times) follows arrival.
    pub fn insert_jobs<'q, DB, Time>(&'q self, now: Time) -> QueryBuilder<'q, DB>
    where
        DB: Database,
        &'q str: Encode<'q, DB> + Type<DB>,
        i64: Encode<'q, DB> + Type<DB>,
        bool: Encode<'q, DB> + Type<DB>,
        Time: Encode<'q, DB> + Type<DB> + Copy + 'q,
    {
        let mut query = QueryBuilder::new(
            "INSERT INTO jobs (id, delivery_id, repo, number, head_sha, automatic, job, \
             state, enqueued_at, not_before) ",
        );
        query.push_values(&self.rows, |mut row, job| {
            row.push_bind(job.job.id.as_str())
                .push_bind(job.delivery_id)
                .push_bind(job.columns.repo.as_str())
                .push_bind(job.columns.number)
                .push_bind(job.job.head_sha.as_str())
                .push_bind(job.columns.automatic)
                .push_bind(job.columns.json.as_str())
                .push_bind(codec::QUEUED)
                .push_bind(now)
                .push_bind(now);
        });
        query.push(" ON CONFLICT DO NOTHING RETURNING id");
        query
    }

    /// The jobs `insert_jobs` did not insert, to be looked up by id:
    /// `None` when every job was new.
    pub fn lookup_not_inserted<'q, DB>(
        &'q self,
        inserted: &[String],
    ) -> Option<QueryBuilder<'q, DB>>
    where
        DB: Database,
        &'q str: Encode<'q, DB> + Type<DB>,
    {
        let inserted: HashSet<&str> = inserted.iter().map(String::as_str).collect();
        let mut missing = self
            .rows
            .iter()
            .map(|row| row.job.id.as_str())
            .filter(|id| !inserted.contains(id))
            .peekable();
        missing.peek()?;
        let mut query = QueryBuilder::new("SELECT id FROM jobs WHERE id IN (");
        let mut ids = query.separated(", ");
        for id in missing {
            ids.push_bind(id);
        }
        query.push(")");
        Some(query)
    }

    /// Each job's outcome, in batch order, from the ids that were inserted
    /// and the ids of the others found stored.
    pub fn outcomes(&self, inserted: &[String], stored: &[String]) -> Vec<Submitted> {
        let mut new: HashSet<&str> = inserted.iter().map(String::as_str).collect();
        let mut stored: HashSet<&str> = stored.iter().map(String::as_str).collect();
        self.rows
            .iter()
            .map(|row| {
                let id = row.job.id.as_str();
                // A job id twice in one batch: the first is the new one,
                // the second a redelivery of it.
                if new.remove(id) {
                    stored.insert(id);
                    Submitted::Queued
                } else if stored.contains(id) {
                    Submitted::DuplicateDelivery
                } else {
                    Submitted::SameHeadQueued
                }
            })
            .collect()
    }

    /// The row of each pull request's newest head in the batch: its last
    /// queued job that ends older heads.
    fn newest_rows(&self, outcomes: &[Submitted]) -> HashMap<(&str, i64), usize> {
        let mut newest = HashMap::new();
        for (index, (row, outcome)) in self.rows.iter().zip(outcomes).enumerate() {
            if matches!(outcome, Submitted::Queued) && row.job.supersedes_older_heads() {
                newest.insert((row.columns.repo.as_str(), row.columns.number), index);
            }
        }
        newest
    }

    /// The newest head each pull request got from a queued job that ends
    /// older heads, one per pull request, in batch order.
    pub fn newest_heads(&self, outcomes: &[Submitted]) -> Vec<NewestHead<'a>> {
        let mut rows: Vec<usize> = self.newest_rows(outcomes).into_values().collect();
        rows.sort_unstable();
        rows.into_iter()
            .map(|index| {
                let row = &self.rows[index];
                NewestHead {
                    repo: row.columns.repo.clone(),
                    number: row.columns.number,
                    head: row.job.head_sha.as_str(),
                }
            })
            .collect()
    }

    /// What each delivery got: its jobs' outcomes, and for the job that
    /// brought a pull request's newest head, the jobs that head ended
    /// (oldest first).
    pub fn accepted(
        &self,
        outcomes: Vec<Submitted>,
        ended: Vec<SupersededJob>,
    ) -> Result<Vec<Accepted>, StoreError> {
        let mut accepted: Vec<Accepted> = self
            .deliveries
            .iter()
            .map(|delivery| Accepted {
                submitted: Vec::with_capacity(delivery.jobs.len()),
                superseded: Vec::new(),
            })
            .collect();
        let newest_row = self.newest_rows(&outcomes);
        let mut ended_by: HashMap<usize, Vec<SupersededJob>> = HashMap::new();
        for job in ended {
            let repo = job.job.repo.to_string();
            let number = codec::to_i64(job.job.number, "pull request number")?;
            let Some(&index) = newest_row.get(&(repo.as_str(), number)) else {
                return Err(StoreError::Unavailable(
                    "the store superseded a job of a pull request the batch did not push to".into(),
                ));
            };
            ended_by.entry(index).or_default().push(job);
        }
        for (index, (row, outcome)) in self.rows.iter().zip(outcomes).enumerate() {
            let (delivery, job) = row.at;
            accepted[delivery].submitted.push(outcome);
            if newest_row.get(&(row.columns.repo.as_str(), row.columns.number)) == Some(&index) {
                let ended = ended_by.remove(&index).unwrap_or_default();
                accepted[delivery].superseded.push((job, ended));
            }
        }
        Ok(accepted)
    }
}

/// `UPDATE jobs … RETURNING`: ends the open jobs of older heads of each pull
/// request in `heads` (queued, or running under an expired lease: a live
/// worker finishes and its result is dropped by the fence). Returns the
/// ended jobs' columns ([`job_columns`]), in no particular order.
///
/// `jobs_table` names the table as the backend needs it: the statement
/// must walk the batch's pull requests and look each up by `jobs_pull`,
/// but SQLite 3.46 (bundled by sqlx) prefers scanning every queued job by
/// state, which cost 160 ms per batch with 7,000 jobs queued and stalled
/// acknowledgements for half a second; SQLite is told the index
/// (`INDEXED BY`), PostgreSQL plans from its statistics.
pub(super) fn supersede_older<'q, DB, Time>(
    jobs_table: &str,
    heads: &'q [NewestHead<'q>],
    now: Time,
) -> QueryBuilder<'q, DB>
where
    DB: Database,
    &'q str: Encode<'q, DB> + Type<DB>,
    i64: Encode<'q, DB> + Type<DB>,
    Time: Encode<'q, DB> + Type<DB> + Copy + 'q,
{
    // A CTE of VALUES joined by UPDATE … FROM: both SQLite (3.33+) and
    // PostgreSQL accept this shape. RETURNING names only `jobs` columns,
    // which is all SQLite allows there.
    let mut query = QueryBuilder::new("WITH newest (n_repo, n_number, n_head) AS (");
    query.push_values(heads, |mut row, head| {
        row.push_bind(head.repo.as_str())
            .push_bind(head.number)
            .push_bind(head.head);
    });
    query.push(") UPDATE ");
    query.push(jobs_table);
    query.push(
        " SET state = 'done', outcome = 'superseded', \
         superseded_by = newest.n_head, lease_until = NULL, finished_at = ",
    );
    query.push_bind(now);
    query.push(
        " FROM newest WHERE jobs.repo = newest.n_repo AND jobs.number = newest.n_number \
         AND jobs.head_sha <> newest.n_head \
         AND (jobs.state = 'queued' OR (jobs.state = 'running' AND jobs.lease_until <= ",
    );
    query.push_bind(now);
    query.push(")) RETURNING ");
    query.push(job_columns!());
    query
}

/// The single pull request form of [`supersede_older`], for
/// `Store::supersede`.
pub(super) fn newest_head<'h>(
    repo: &RepoRef,
    number: u64,
    head: &'h str,
) -> Result<NewestHead<'h>, StoreError> {
    Ok(NewestHead {
        repo: repo.to_string(),
        number: codec::to_i64(number, "pull request number")?,
        head,
    })
}

/// Sorts ended jobs oldest first, as they were queued.
pub(super) fn oldest_first(mut rows: Vec<codec::RawJob>) -> Result<Vec<SupersededJob>, StoreError> {
    rows.sort_by_key(|row| (row.enqueued_at, row.seq));
    rows.into_iter()
        .map(codec::RawJob::into_superseded)
        .collect()
}

/// `INSERT INTO deliveries … ON CONFLICT DO UPDATE`: status records of the
/// status page, `received_at[i]` being `records[i]`'s time as the backend
/// stores it. One statement for the batch (the delivery log writes every
/// 100 ms): row by row it held SQLite's writer for milliseconds while
/// deliveries waited. An id appears once (PostgreSQL refuses to update one
/// row twice in a statement), with its first time and its last outcome, as
/// recording the records one by one would leave it. `None` for no records.
pub(super) fn record_deliveries<'q, DB, Time>(
    records: &'q [super::DeliveryRecord],
    received_at: &'q [Time],
) -> Option<QueryBuilder<'q, DB>>
where
    DB: Database,
    &'q str: Encode<'q, DB> + Type<DB>,
    Option<i64>: Encode<'q, DB> + Type<DB>,
    Time: Encode<'q, DB> + Type<DB> + Copy + 'q,
{
    // One row per id, in first-seen order: the first reception time (as the
    // stored row keeps it) with the last record's outcome.
    let mut rows: Vec<(&super::DeliveryRecord, Time)> = Vec::new();
    let mut row_of: HashMap<&str, usize> = HashMap::new();
    for (record, at) in records.iter().zip(received_at.iter().copied()) {
        match row_of.get(record.id.as_str()) {
            Some(&index) => rows[index].0 = record,
            None => {
                row_of.insert(record.id.as_str(), rows.len());
                rows.push((record, at));
            }
        }
    }
    if rows.is_empty() {
        return None;
    }
    let mut query =
        QueryBuilder::new("INSERT INTO deliveries (id, received_at, event, outcome, ack_ms) ");
    query.push_values(rows, |mut row, (record, at)| {
        row.push_bind(record.id.as_str())
            .push_bind(at)
            .push_bind(record.event.as_str())
            .push_bind(record.outcome.as_str())
            .push_bind(codec::ack_ms(record.ack));
    });
    query.push(
        " ON CONFLICT (id) DO UPDATE SET \
         event = excluded.event, outcome = excluded.outcome, ack_ms = excluded.ack_ms",
    );
    Some(query)
}
