//! What a connection is doing, for its timeouts and for shutdown: waiting
//! for a request's headers, idle between requests, or serving a request.
//!
//! hyper's own `header_read_timeout` also runs while a keep-alive
//! connection waits for its next request, so it cannot tell a slow header
//! from an idle connection; this tracks the two apart.

use hyper::body::{Body as HttpBody, Frame, SizeHint};
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::Notify;
use tokio::time::Instant;

/// A connection's phase.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Waiting for a request's headers: from the connection's opening, or
    /// from the first byte of a later request.
    Head,
    /// A keep-alive connection between requests.
    Idle,
    /// A request is with the router, until its response has been handed
    /// to hyper whole. The handler bounds the time its body may take.
    Serving,
}

/// The phase of one connection and since when, shared by the socket
/// wrapper, the service and the task that enforces the timeouts.
pub struct Activity {
    state: Mutex<(Phase, Instant)>,
    changed: Notify,
}

impl Activity {
    /// A connection just accepted: its first request's headers are due.
    pub fn new() -> Arc<Self> {
        Arc::new(Self {
            state: Mutex::new((Phase::Head, Instant::now())),
            changed: Notify::new(),
        })
    }

    fn set(&self, phase: Phase) {
        *self.state.lock().unwrap_or_else(PoisonError::into_inner) = (phase, Instant::now());
        self.changed.notify_one();
    }

    /// The phase now and since when.
    pub fn phase(&self) -> (Phase, Instant) {
        *self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Resolves after the next change of phase.
    pub async fn changed(&self) {
        self.changed.notified().await;
    }

    /// Bytes arrived: on an idle connection, the next request has begun.
    fn read(&self) {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        if state.0 == Phase::Idle {
            *state = (Phase::Head, Instant::now());
            drop(state);
            self.changed.notify_one();
        }
    }

    /// A request reached the router; the connection is idle again when the
    /// returned guard is dropped.
    pub fn serving(self: &Arc<Self>) -> ServingGuard {
        self.set(Phase::Serving);
        ServingGuard(Arc::clone(self))
    }

    /// When the current phase runs out, and which timeout that is; `None`
    /// while a request is served.
    pub fn deadline(
        &self,
        header_timeout: Duration,
        idle_timeout: Duration,
    ) -> Option<(Instant, &'static str)> {
        match self.phase() {
            (Phase::Head, since) => Some((since + header_timeout, "header")),
            (Phase::Idle, since) => Some((since + idle_timeout, "idle")),
            (Phase::Serving, _) => None,
        }
    }
}

/// Held while a request is served.
pub struct ServingGuard(Arc<Activity>);

impl Drop for ServingGuard {
    fn drop(&mut self) {
        self.0.set(Phase::Idle);
    }
}

/// The socket, telling [`Activity`] when bytes arrive.
pub struct Watched<S> {
    inner: S,
    activity: Arc<Activity>,
}

impl<S> Watched<S> {
    /// Wraps `inner`.
    pub fn new(inner: S, activity: Arc<Activity>) -> Self {
        Self { inner, activity }
    }

    /// The socket.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Watched<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let polled = Pin::new(&mut this.inner).poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            this.activity.read();
        }
        polled
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Watched<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

/// A response body that keeps its request's [`ServingGuard`] until hyper
/// has taken its last frame (and drops it).
pub struct GuardedBody<B> {
    inner: B,
    _serving: ServingGuard,
}

impl<B> GuardedBody<B> {
    /// `inner`, holding `serving`.
    pub fn new(inner: B, serving: ServingGuard) -> Self {
        Self {
            inner,
            _serving: serving,
        }
    }
}

impl<B: HttpBody + Unpin> HttpBody for GuardedBody<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        Pin::new(&mut self.get_mut().inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
