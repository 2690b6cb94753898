//! Group commit for incoming deliveries.
//!
//! A delivery must be durable before it is acknowledged, and a durable
//! commit costs a disk flush (about 2 ms on a cloud volume): one transaction
//! per delivery caps the server at a few hundred deliveries a second however
//! fast the rest is. Deliveries arriving together are therefore written
//! together: one writer task takes every delivery waiting, stores them in one
//! transaction ([`Store::accept`]) and answers each when the commit is done,
//! so no delivery is acknowledged before it is durable and a burst costs one
//! flush per batch instead of one per delivery.

use super::{Accepted, Incoming, Store, StoreError};
use chrono::{DateTime, Utc};
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot};

/// Most deliveries written in one transaction: bounds a transaction's
/// duration and the wait of the first delivery in it.
pub const MAX_BATCH: usize = 256;

/// Deliveries waiting for the writer; beyond it, senders wait (the body
/// budget already bounds what the server holds).
const QUEUE: usize = 4 * MAX_BATCH;

struct Request {
    incoming: Incoming,
    now: DateTime<Utc>,
    answer: oneshot::Sender<Result<Accepted, StoreError>>,
}

/// The way deliveries reach the store.
#[derive(Clone)]
pub struct Intake {
    requests: mpsc::Sender<Request>,
}

impl Intake {
    /// Starts the writer task, which lives as long as an `Intake` handle.
    pub fn start(store: Arc<dyn Store>) -> Self {
        let (requests, waiting) = mpsc::channel(QUEUE);
        tokio::spawn(write(store, waiting));
        Self { requests }
    }

    /// Stores one delivery (with the others arriving at the same time) and
    /// answers once it is committed.
    pub async fn accept(
        &self,
        incoming: Incoming,
        now: DateTime<Utc>,
    ) -> Result<Accepted, StoreError> {
        let (answer, answered) = oneshot::channel();
        let request = Request {
            incoming,
            now,
            answer,
        };
        if self.requests.send(request).await.is_err() {
            return Err(StoreError::Unavailable(
                "the store's writer has stopped".into(),
            ));
        }
        answered.await.unwrap_or_else(|_| {
            Err(StoreError::Unavailable(
                "the store's writer stopped before answering".into(),
            ))
        })
    }
}

async fn write(store: Arc<dyn Store>, mut waiting: mpsc::Receiver<Request>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while waiting.recv_many(&mut batch, MAX_BATCH).await > 0 {
        // One clock for the batch: the latest, so no job is stored as
        // received before its delivery was.
        let now = batch.iter().map(|r| r.now).max().unwrap_or_else(Utc::now);
        let incoming: Vec<Incoming> = batch.iter().map(|r| r.incoming.clone()).collect();
        match store.accept(&incoming, now).await {
            Ok(accepted) if accepted.len() == batch.len() => {
                for (request, accepted) in batch.drain(..).zip(accepted) {
                    let _ = request.answer.send(Ok(accepted));
                }
            }
            outcome => {
                if let Err(error) = &outcome {
                    tracing::warn!(%error, deliveries = batch.len(), "a batch of deliveries failed; storing them one by one");
                }
                // One delivery the store refuses must not fail the others:
                // each is tried alone and gets its own answer.
                for request in batch.drain(..) {
                    let alone = store
                        .accept(std::slice::from_ref(&request.incoming), request.now)
                        .await
                        .and_then(|mut accepted| {
                            accepted.pop().ok_or_else(|| {
                                StoreError::Unavailable("the store answered nothing".into())
                            })
                        });
                    let _ = request.answer.send(alone);
                }
            }
        }
    }
}
