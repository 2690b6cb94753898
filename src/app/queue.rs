//! What the job store answers for each job of a delivery. (The in-memory
//! queue that lived here gave way to the durable store, `app::store`.)

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
