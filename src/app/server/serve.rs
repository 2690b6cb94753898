//! The accept loop: at most `max_connections` connections, each under its
//! header and idle timeouts, and a shutdown that never waits for a client.
//!
//! Hand-rolled over hyper because `axum::serve` has no header, idle or
//! connection limit, and its graceful shutdown waits for every open
//! connection, a half-sent request included, however long it takes.

use super::connection::{Activity, GuardedBody, Phase, Watched};
use crate::config::settings::ServerLimits;
use crate::metrics::Metrics;
use axum::Router;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::TokioIo;
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::AsyncWrite;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};
use tokio::task::JoinSet;
use tokio::time::Instant;
use tower::ServiceExt;

/// How long, at shutdown, a request already received whole may take to be
/// answered. Connections doing anything else are closed at once.
pub const SHUTDOWN_DRAIN: Duration = Duration::from_secs(3);

/// hyper's read buffer per connection (its default grows to about 400 kB):
/// GitHub's headers take a few kB, and bodies are copied out frame by
/// frame, so 64 kB is plenty and keeps a full house of connections small.
const READ_BUFFER_BYTES: usize = 64 * 1024;

/// The longest a closed connection's late bytes are read and dropped.
const LINGER: Duration = Duration::from_secs(2);

/// Pause after an accept error that is not about one connection (out of
/// file descriptors): retrying at once would spin.
const ACCEPT_ERROR_PAUSE: Duration = Duration::from_millis(100);

/// The answer to a connection over the cap, written only if the socket
/// takes it at once.
const OVER_CAPACITY: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\nretry-after: 1\r\nconnection: close\r\ncontent-length: 0\r\n\r\n";

/// Serves `router` on `listener` until `shutdown` resolves; then stops
/// accepting, sets `stopping` (handlers still reading a body answer 503),
/// closes every connection not serving a complete request, gives those
/// that are [`SHUTDOWN_DRAIN`], and returns.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: ServerLimits,
    metrics: Arc<Metrics>,
    shutdown: impl Future<Output = ()> + Send + 'static,
    stopping: watch::Sender<bool>,
) -> std::io::Result<()> {
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let mut http = http1::Builder::new();
    // Timeouts are ours (connection.rs); without a timer hyper's default
    // one would only log a warning per connection.
    http.header_read_timeout(None)
        .max_buf_size(READ_BUFFER_BYTES);
    let mut connections = JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            biased;
            () = &mut shutdown => break,
            // Finished connections are reaped as they end, so the set
            // holds only open ones.
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
            accepted = listener.accept() => match accepted {
                Ok((stream, _peer)) => match Arc::clone(&slots).try_acquire_owned() {
                    Ok(slot) => {
                        connections.spawn(connection(
                            stream,
                            slot,
                            http.clone(),
                            router.clone(),
                            limits.clone(),
                            Arc::clone(&metrics),
                            stopping.subscribe(),
                        ));
                    }
                    Err(_) => refuse(&stream, &metrics),
                },
                Err(error) if is_connection_error(&error) => {}
                Err(error) => {
                    tracing::error!(%error, "accept failed");
                    tokio::time::sleep(ACCEPT_ERROR_PAUSE).await;
                }
            },
        }
    }
    drop(listener);
    stopping.send_replace(true);
    tracing::info!(
        open = connections.len(),
        "shutting down: no new connections"
    );
    // Each connection ends itself within SHUTDOWN_DRAIN; the margin is for
    // the scheduler, and past it they are aborted.
    let all_closed = async { while connections.join_next().await.is_some() {} };
    if tokio::time::timeout(SHUTDOWN_DRAIN + Duration::from_secs(1), all_closed)
        .await
        .is_err()
    {
        tracing::warn!(
            open = connections.len(),
            "connections still open after the drain; closing them"
        );
        connections.shutdown().await;
    }
    Ok(())
}

/// Errors about one incoming connection (it went away before it was
/// accepted), not about the listener.
fn is_connection_error(error: &std::io::Error) -> bool {
    use std::io::ErrorKind;
    matches!(
        error.kind(),
        ErrorKind::ConnectionRefused | ErrorKind::ConnectionAborted | ErrorKind::ConnectionReset
    )
}

/// A connection over the cap: told 503 if its socket takes the answer
/// without waiting, and closed.
fn refuse(stream: &TcpStream, metrics: &Metrics) {
    metrics.connections_refused.inc();
    tracing::debug!("connection refused: at the connection cap");
    let _ = stream.try_write(OVER_CAPACITY);
}

/// Counts a connection as open while it lives.
struct Open(Arc<Metrics>);

impl Open {
    fn new(metrics: Arc<Metrics>) -> Self {
        metrics.connections.inc();
        Self(metrics)
    }
}

impl Drop for Open {
    fn drop(&mut self) {
        self.0.connections.dec();
    }
}

async fn connection(
    stream: TcpStream,
    _slot: OwnedSemaphorePermit,
    http: http1::Builder,
    router: Router,
    limits: ServerLimits,
    metrics: Arc<Metrics>,
    mut stopping: watch::Receiver<bool>,
) {
    let _open = Open::new(Arc::clone(&metrics));
    let activity = Activity::new();
    let io = TokioIo::new(Watched::new(stream, Arc::clone(&activity)));
    let service = {
        let activity = Arc::clone(&activity);
        hyper::service::service_fn(move |request: hyper::Request<Incoming>| {
            let serving = activity.serving();
            let router = router.clone();
            // Boxed so the connection is Unpin and can be polled without
            // shutting its socket down (see `linger`).
            Box::pin(async move {
                let response = router.oneshot(request).await?;
                Ok::<_, Infallible>(response.map(|body| GuardedBody::new(body, serving)))
            })
        })
    };
    let mut served = http.serve_connection(io, service);
    // Set at shutdown: the time a request being served still has.
    let mut drain_until: Option<Instant> = None;
    // Each turn waits for the connection to end, its phase to change, its
    // deadline or shutdown; every phase has a deadline but serving, which
    // the handler bounds, so the loop ends.
    let ended = loop {
        let deadline = match drain_until {
            Some(until) => Some((until, "drain")),
            None => activity.deadline(limits.header_timeout, limits.idle_timeout),
        };
        tokio::select! {
            ended = std::future::poll_fn(|cx| served.poll_without_shutdown(cx)) => break ended,
            () = activity.changed() => {}
            () = sleep_until(deadline.map(|(at, _)| at)) => {
                if drain_until.is_some() {
                    return;
                }
                // The phase may have changed since the deadline was taken.
                if let Some((at, phase)) =
                    activity.deadline(limits.header_timeout, limits.idle_timeout)
                    && at <= Instant::now()
                {
                    metrics.timed_out(phase);
                    tracing::debug!(phase, "connection timed out");
                    return;
                }
            }
            _ = stopping.wait_for(|stopping| *stopping), if drain_until.is_none() => {
                // No keep-alive after the current response; a connection
                // that is idle or still sending a request goes now.
                Pin::new(&mut served).graceful_shutdown();
                if activity.phase().0 != Phase::Serving {
                    return;
                }
                drain_until = Some(Instant::now() + SHUTDOWN_DRAIN);
            }
        }
    };
    match ended {
        Ok(()) if drain_until.is_none() => {
            let stream = served.into_parts().io.into_inner().into_inner();
            linger(stream, &mut stopping).await;
        }
        Ok(()) => {}
        Err(error) => tracing::debug!(%error, "connection ended with an error"),
    }
}

/// Closes a connection whose client may still be sending: after an answer
/// given before the body was read (401, 413, 503, 408), closing a socket
/// with unread bytes makes the kernel reset the connection, and a client
/// that has not read the answer yet loses it. So the answer is followed by
/// an end of stream and whatever still arrives is read and dropped, for at
/// most [`LINGER`] and never past shutdown.
async fn linger(mut stream: TcpStream, stopping: &mut watch::Receiver<bool>) {
    if std::future::poll_fn(|cx| Pin::new(&mut stream).poll_shutdown(cx))
        .await
        .is_err()
    {
        return;
    }
    let mut discard = [0u8; 8192];
    let drained = async {
        loop {
            if stream.readable().await.is_err() {
                return;
            }
            match stream.try_read(&mut discard) {
                Ok(0) => return,
                Ok(_) => {}
                Err(error) if error.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(_) => return,
            }
        }
    };
    tokio::select! {
        () = drained => {}
        () = tokio::time::sleep(LINGER) => {}
        _ = stopping.wait_for(|stopping| *stopping) => {}
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}
