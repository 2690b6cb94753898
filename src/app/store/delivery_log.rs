//! The status page's record of what each signed delivery was answered.
//!
//! Written off the answer's path and in batches: one write per delivery
//! took a durable commit each, which on SQLite (one writer) cost as much
//! disk time as storing the deliveries themselves and made the intake wait
//! for the writer. The record only feeds the operator's status page, so it
//! is written at most every [`FLUSH_EVERY`] and, when the store cannot keep
//! up, records beyond [`QUEUE`] are dropped and counted rather than held.

use super::{DeliveryRecord, Store};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::sync::mpsc;

/// Records written in one transaction at most.
const MAX_BATCH: usize = 512;
/// Records waiting for the writer; beyond it they are dropped.
const QUEUE: usize = 8 * MAX_BATCH;
/// How long a record may wait for others to share its write.
const FLUSH_EVERY: Duration = Duration::from_millis(100);

/// Where the server leaves delivery records.
#[derive(Clone)]
pub struct DeliveryLog {
    records: mpsc::Sender<DeliveryRecord>,
    dropped: Arc<AtomicU64>,
}

impl DeliveryLog {
    /// Starts the writer task, which lives as long as a `DeliveryLog` handle.
    pub fn start(store: Arc<dyn Store>) -> Self {
        let (records, waiting) = mpsc::channel(QUEUE);
        tokio::spawn(write(store, waiting));
        Self {
            records,
            dropped: Arc::new(AtomicU64::new(0)),
        }
    }

    /// Leaves `record` for the next batch; never waits.
    pub fn record(&self, record: DeliveryRecord) {
        if self.records.try_send(record).is_err() {
            let dropped = self.dropped.fetch_add(1, Ordering::Relaxed) + 1;
            // Said once, then every thousandth: a flood must not flood the log.
            if dropped == 1 || dropped.is_multiple_of(1000) {
                tracing::warn!(
                    dropped,
                    "the status page's delivery log is behind; records dropped"
                );
            }
        }
    }
}

async fn write(store: Arc<dyn Store>, mut waiting: mpsc::Receiver<DeliveryRecord>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while waiting.recv_many(&mut batch, MAX_BATCH).await > 0 {
        // Let the records of a burst gather, so a burst costs one commit.
        if batch.len() < MAX_BATCH {
            tokio::time::sleep(FLUSH_EVERY).await;
            while batch.len() < MAX_BATCH {
                match waiting.try_recv() {
                    Ok(record) => batch.push(record),
                    Err(_) => break,
                }
            }
        }
        if let Err(error) = store.record_deliveries(&batch).await {
            tracing::warn!(%error, records = batch.len(), "delivery outcomes not recorded for the status page");
        }
        batch.clear();
    }
}
