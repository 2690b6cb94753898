//! Webhook bodies read under a memory budget, their signature computed as
//! they stream in.
//!
//! Nothing about a body can be trusted until its last byte has been hashed,
//! so every body is held against one budget of bytes shared by all
//! requests: a request reserves its declared `Content-Length` before it
//! reads a byte (a chunked one reserves as it grows), waits only briefly
//! when the budget is spent, and is answered 503 then. However much unsigned
//! traffic arrives, the bytes held stay within the budget.

use super::MAX_BODY_BYTES;
use crate::app::webhook::{SignatureError, SignatureVerifier};
use crate::config::settings::ServerLimits;
use crate::metrics::Metrics;
use axum::body::Body;
use http_body_util::BodyExt;
use std::ops::Deref;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;
use thiserror::Error;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, TryAcquireError, watch};
use tokio::time::Instant;

/// What a chunked body (no `Content-Length`) reserves first.
const CHUNKED_START_BYTES: usize = 64 * 1024;

/// Why a body was not read whole and found signed.
#[derive(Debug, Error)]
pub enum BodyError {
    /// Over [`MAX_BODY_BYTES`], or over the whole budget.
    #[error("body over the {limit}-byte limit")]
    TooLarge {
        /// The largest body this server reads.
        limit: usize,
    },
    /// The budget stayed spent for the whole wait.
    #[error("too many deliveries being read at once; redeliver later")]
    Busy,
    /// The body did not arrive in time.
    #[error("body not received within {0:?}")]
    Timeout(Duration),
    /// The server began to shut down while the body was arriving.
    #[error("server shutting down; redeliver later")]
    ShuttingDown,
    /// The client broke off or sent a malformed body.
    #[error("body unreadable: {0}")]
    Unreadable(String),
    /// Read whole, and not signed with our secret.
    #[error(transparent)]
    Signature(SignatureError),
}

/// The bytes all bodies being read or handled may hold at once.
pub struct BodyBudget {
    bytes: Arc<Semaphore>,
    total: usize,
    wait: Duration,
    timeout: Duration,
    metrics: Arc<Metrics>,
}

impl BodyBudget {
    /// A budget of `limits.body_budget_bytes`.
    pub fn new(limits: &ServerLimits, metrics: Arc<Metrics>) -> Self {
        let total = limits.body_budget_bytes.min(Semaphore::MAX_PERMITS);
        Self {
            bytes: Arc::new(Semaphore::new(total)),
            total,
            wait: limits.body_budget_wait,
            timeout: limits.body_timeout,
            metrics,
        }
    }

    /// The largest body that can ever be read.
    fn largest(&self) -> usize {
        MAX_BODY_BYTES.min(self.total)
    }

    /// Reads `body` whole, hashing it as it arrives, within the body timeout
    /// counted from `started` (when the request's headers were complete).
    /// `declared` is its `Content-Length`, if any.
    pub async fn read_signed(
        &self,
        mut body: Body,
        declared: Option<u64>,
        mut verifier: SignatureVerifier,
        started: Instant,
        mut stopping: watch::Receiver<bool>,
    ) -> Result<SignedBody, BodyError> {
        let deadline = started + self.timeout;
        let mut buffer = match declared {
            Some(length) => {
                let length = usize::try_from(length)
                    .ok()
                    .filter(|length| *length <= self.largest())
                    .ok_or(BodyError::TooLarge {
                        limit: self.largest(),
                    })?;
                BodyBuffer::new(self.reserve(length, deadline).await?)
            }
            None => {
                let start = CHUNKED_START_BYTES.min(self.total);
                BodyBuffer::new(self.reserve(start, deadline).await?)
            }
        };
        // One frame per loop turn: a body has at most MAX_BODY_BYTES, and
        // the deadline ends the loop whatever the client sends.
        loop {
            let frame = tokio::select! {
                frame = body.frame() => frame,
                () = tokio::time::sleep_until(deadline) => {
                    self.metrics.timed_out("body");
                    return Err(BodyError::Timeout(self.timeout));
                }
                _ = stopping.wait_for(|stopping| *stopping) => {
                    return Err(BodyError::ShuttingDown);
                }
            };
            let Some(frame) = frame else { break };
            let frame = frame.map_err(|error| BodyError::Unreadable(error.to_string()))?;
            let Ok(data) = frame.into_data() else {
                // Trailers carry nothing GitHub signs.
                continue;
            };
            let needed = buffer.bytes.len() + data.len();
            if needed > buffer.capacity() {
                if declared.is_some() || needed > self.largest() {
                    return Err(BodyError::TooLarge {
                        limit: self.largest(),
                    });
                }
                self.grow(&mut buffer, needed, deadline).await?;
            }
            verifier.update(&data);
            buffer.bytes.extend_from_slice(&data);
        }
        verifier.verify().map_err(BodyError::Signature)?;
        Ok(SignedBody { buffer })
    }

    /// Takes `bytes` of the budget, waiting at most the budget wait (and
    /// never past `deadline`).
    async fn reserve(&self, bytes: usize, deadline: Instant) -> Result<Held, BodyError> {
        let too_large = BodyError::TooLarge {
            limit: self.largest(),
        };
        if bytes > self.total {
            return Err(too_large);
        }
        let count = u32::try_from(bytes).map_err(|_| too_large)?;
        let permit = match Arc::clone(&self.bytes).try_acquire_many_owned(count) {
            Ok(permit) => permit,
            Err(TryAcquireError::Closed) => return Err(BodyError::Busy),
            Err(TryAcquireError::NoPermits) => {
                let until = deadline.min(Instant::now() + self.wait);
                match tokio::time::timeout_at(
                    until,
                    Arc::clone(&self.bytes).acquire_many_owned(count),
                )
                .await
                {
                    Ok(Ok(permit)) => permit,
                    Ok(Err(_)) | Err(_) => {
                        self.metrics.body_budget_refused.inc();
                        return Err(BodyError::Busy);
                    }
                }
            }
        };
        Ok(Held::new(permit, Arc::clone(&self.metrics)))
    }

    /// Moves a chunked body into a buffer of at least `needed` bytes. The
    /// old and the new buffer both exist while the bytes are copied, so
    /// both are held against the budget until the old one is gone.
    async fn grow(
        &self,
        buffer: &mut BodyBuffer,
        needed: usize,
        deadline: Instant,
    ) -> Result<(), BodyError> {
        let old = buffer.capacity();
        let doubled = old.saturating_mul(2).min(self.largest());
        let wanted = if old + doubled <= self.total {
            doubled.max(needed)
        } else {
            needed
        };
        if old + wanted > self.total {
            // Growing needs the old and the new buffer at once: a chunked
            // body can use about half of the budget.
            return Err(BodyError::TooLarge {
                limit: self.largest().min(self.total / 2),
            });
        }
        let more = self.reserve(wanted, deadline).await?;
        let mut grown = Vec::with_capacity(wanted);
        grown.extend_from_slice(&buffer.bytes);
        buffer.bytes = grown;
        buffer.held.absorb(more);
        buffer.held.release(old);
        Ok(())
    }
}

/// Bytes of the budget taken; given back when dropped. The gauge of bytes
/// held moves with it.
struct Held {
    permit: OwnedSemaphorePermit,
    metrics: Arc<Metrics>,
}

impl Held {
    fn new(permit: OwnedSemaphorePermit, metrics: Arc<Metrics>) -> Self {
        let held = Self { permit, metrics };
        held.count(held.permit.num_permits());
        held
    }

    fn count(&self, added: usize) {
        let added = i64::try_from(added).unwrap_or(i64::MAX);
        let now = self.metrics.body_bytes.inc_by(added).saturating_add(added);
        self.metrics
            .body_bytes_peak
            .inner()
            .fetch_max(now, Ordering::Relaxed);
    }

    /// Takes over `more`'s bytes (counted already when it was made).
    fn absorb(&mut self, mut more: Held) {
        if let Some(permit) = more.permit.split(more.permit.num_permits()) {
            self.permit.merge(permit);
        }
    }

    fn release(&mut self, bytes: usize) {
        if let Some(released) = self.permit.split(bytes) {
            self.metrics
                .body_bytes
                .dec_by(i64::try_from(released.num_permits()).unwrap_or(i64::MAX));
        }
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        self.metrics
            .body_bytes
            .dec_by(i64::try_from(self.permit.num_permits()).unwrap_or(i64::MAX));
    }
}

/// A body being read, with the budget it holds.
struct BodyBuffer {
    bytes: Vec<u8>,
    held: Held,
}

impl BodyBuffer {
    fn new(held: Held) -> Self {
        Self {
            bytes: Vec::with_capacity(held.permit.num_permits()),
            held,
        }
    }

    /// What the buffer may hold: the budget it holds, never more than it
    /// allocated.
    fn capacity(&self) -> usize {
        self.held.permit.num_permits()
    }
}

/// A body read whole and signed with our secret. It keeps its share of the
/// budget until dropped, so a replayed signed delivery is bounded too.
pub struct SignedBody {
    buffer: BodyBuffer,
}

impl Deref for SignedBody {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        &self.buffer.bytes
    }
}
