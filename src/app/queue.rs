//! Where accepted jobs wait for a worker.
//!
//! The server only needs [`JobSink::submit`]; this in-memory queue is the
//! first implementation, a durable store (SQLite/PostgreSQL, keyed by
//! delivery id so a restart loses nothing) replaces it behind the same trait.

use super::webhook::{Job, Trigger};
use std::collections::{HashSet, VecDeque};
use std::sync::Mutex;
use thiserror::Error;
use tokio::sync::mpsc;

/// Delivery ids and automatic heads remembered for de-duplication.
const REMEMBERED: usize = 10_000;

/// What happened to a submitted job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Submitted {
    /// Queued.
    Queued,
    /// The same delivery was queued before (GitHub redelivery): nothing to do.
    DuplicateDelivery,
    /// `check_suite.requested` and `pull_request.synchronize` announce the
    /// same push; the second is dropped.
    SameHeadQueued,
}

/// Why a job could not be queued.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum QueueError {
    /// Every slot is taken; GitHub shows the delivery as failed and it can
    /// be redelivered.
    #[error("the job queue is full ({0} jobs)")]
    Full(usize),
    /// The workers are gone (shutting down).
    #[error("the job queue is closed")]
    Closed,
}

/// Accepts jobs.
pub trait JobSink: Send + Sync {
    /// Stores a job for a worker; must return quickly.
    fn submit(&self, job: Job) -> Result<Submitted, QueueError>;
}

/// A bounded remembered set: forgets the oldest entries first.
#[derive(Default)]
struct Remembered {
    set: HashSet<String>,
    order: VecDeque<String>,
}

impl Remembered {
    fn contains(&self, key: &str) -> bool {
        self.set.contains(key)
    }

    fn insert(&mut self, key: String) {
        if self.set.contains(&key) {
            return;
        }
        if self.order.len() >= REMEMBERED
            && let Some(oldest) = self.order.pop_front()
        {
            self.set.remove(&oldest);
        }
        self.set.insert(key.clone());
        self.order.push_back(key);
    }
}

/// A bounded in-process queue.
pub struct MemoryQueue {
    sender: mpsc::Sender<Job>,
    capacity: usize,
    deliveries: Mutex<Remembered>,
    automatic_heads: Mutex<Remembered>,
}

impl MemoryQueue {
    /// A queue of `capacity` jobs and the receiver the workers read.
    pub fn new(capacity: usize) -> (Self, mpsc::Receiver<Job>) {
        let (sender, receiver) = mpsc::channel(capacity.max(1));
        (
            Self {
                sender,
                capacity,
                deliveries: Mutex::default(),
                automatic_heads: Mutex::default(),
            },
            receiver,
        )
    }
}

impl JobSink for MemoryQueue {
    fn submit(&self, job: Job) -> Result<Submitted, QueueError> {
        // Both locks are held for the whole (non-blocking) submission, so a
        // job is remembered only once it is really queued: a delivery that
        // failed on a full queue can be redelivered.
        let mut deliveries = self.deliveries.lock().unwrap_or_else(|p| p.into_inner());
        let mut heads = self
            .automatic_heads
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if deliveries.contains(&job.id) {
            return Ok(Submitted::DuplicateDelivery);
        }
        let head_key = (job.trigger != Trigger::Rerun)
            .then(|| format!("{}#{}@{}", job.repo, job.number, job.head_sha));
        if head_key.as_ref().is_some_and(|key| heads.contains(key)) {
            return Ok(Submitted::SameHeadQueued);
        }
        let id = job.id.clone();
        match self.sender.try_send(job) {
            Ok(()) => {
                deliveries.insert(id);
                if let Some(key) = head_key {
                    heads.insert(key);
                }
                Ok(Submitted::Queued)
            }
            Err(mpsc::error::TrySendError::Full(_)) => Err(QueueError::Full(self.capacity)),
            Err(mpsc::error::TrySendError::Closed(_)) => Err(QueueError::Closed),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::github::types::RepoRef;

    fn job(id: &str, head: &str, trigger: Trigger) -> Job {
        Job {
            id: id.into(),
            installation_id: 1,
            repo: RepoRef {
                owner: "o".into(),
                name: "r".into(),
            },
            repo_url: String::new(),
            number: 1,
            head_sha: head.into(),
            base_sha: "b".into(),
            draft: false,
            trigger,
            kind: crate::app::webhook::JobKind::PullRequest,
        }
    }

    #[test]
    fn redeliveries_and_duplicate_pushes_are_dropped_reruns_are_not() {
        let (queue, mut receiver) = MemoryQueue::new(10);
        assert_eq!(
            queue.submit(job("d1", "h1", Trigger::PullRequest)),
            Ok(Submitted::Queued)
        );
        assert_eq!(
            queue.submit(job("d1", "h1", Trigger::PullRequest)),
            Ok(Submitted::DuplicateDelivery)
        );
        assert_eq!(
            queue.submit(job("d2", "h1", Trigger::SuiteRequested)),
            Ok(Submitted::SameHeadQueued)
        );
        assert_eq!(
            queue.submit(job("d3", "h1", Trigger::Rerun)),
            Ok(Submitted::Queued)
        );
        assert_eq!(
            queue.submit(job("d4", "h2", Trigger::PullRequest)),
            Ok(Submitted::Queued)
        );
        let mut received = Vec::new();
        while let Ok(job) = receiver.try_recv() {
            received.push(job.id);
        }
        assert_eq!(received, vec!["d1", "d3", "d4"]);
    }

    #[test]
    fn a_full_queue_says_so() {
        let (queue, mut receiver) = MemoryQueue::new(1);
        assert_eq!(
            queue.submit(job("a", "h1", Trigger::PullRequest)),
            Ok(Submitted::Queued)
        );
        assert_eq!(
            queue.submit(job("b", "h2", Trigger::PullRequest)),
            Err(QueueError::Full(1))
        );
        assert!(receiver.try_recv().is_ok());
        assert_eq!(
            queue.submit(job("b", "h2", Trigger::PullRequest)),
            Ok(Submitted::Queued),
            "a delivery refused on a full queue can be redelivered"
        );
    }
}
