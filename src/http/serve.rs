//! Serves a router on a listener through hyper's HTTP/1 connection builder, which (unlike
//! `axum::serve`) bounds how long a client may take to send a request head and how large the
//! head may be. One task per connection; `TCP_NODELAY` set; the peer address handed to
//! handlers as `ConnectInfo<SocketAddr>`; on `stop`, the listener closes, idle connections
//! close, and requests in flight finish.
//!
//! hyper starts the header-read timer whenever a connection waits for a request head, so the
//! same timeout also closes keep-alive connections left idle that long: one knob for both, and
//! no connection is held by a client that sends nothing. A client that sends requests but
//! stops reading the answers is held to the write timeout: a write that makes no progress that
//! long closes the connection. Each listener holds at most its share of connections
//! (`capacity`); more wait in the accept queue rather than take descriptors the others need. A
//! client that shuts down its write side after its request (HTTP/1.0 clients, some proxies)
//! still gets its answer.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ConnectInfo;
use axum::response::Response;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tower::{Service, ServiceExt};

use super::capacity;
use super::write_timeout::WriteTimeout;
use crate::config::ServerConfig;

/// Largest request head (request line and headers) accepted; a larger one is answered `431`
/// by hyper and the connection closed. Four times what browsers send with heavy cookies.
pub const MAX_HEADER_BYTES: usize = 64 * 1024;

/// What every connection of a listener is held to.
#[derive(Debug, Clone, Copy)]
pub struct ConnectionLimits {
    /// `server.header_read_timeout_ms`: to send a request head, and to stay idle between
    /// keep-alive requests.
    pub header_read_timeout: Duration,
    /// `server.write_timeout_ms`: longest a write may make no progress.
    pub write_timeout: Duration,
    /// Connections held at once; the next waits in the accept queue.
    pub max_connections: usize,
    /// Whether requests carry the peer address (`ConnectInfo`): only the rate limit reads it,
    /// and attaching it costs every request an allocation.
    pub attach_peer: bool,
}

impl ConnectionLimits {
    /// The public listener's, under `descriptors` open files.
    pub fn public(server: &ServerConfig, descriptors: u64) -> Self {
        Self {
            header_read_timeout: Duration::from_millis(server.header_read_timeout_ms.max(1)),
            write_timeout: Duration::from_millis(server.write_timeout_ms.max(1)),
            max_connections: capacity::public_connections(descriptors, server.max_connections),
            attach_peer: super::limit::RateLimit::configured(server),
        }
    }

    /// The ops listener's: the same timeouts, its own small share of connections, and the
    /// peer address on every request (the admin API keeps count of wrong tokens per peer).
    pub fn ops(server: &ServerConfig) -> Self {
        Self {
            max_connections: capacity::OPS_CONNECTIONS,
            attach_peer: true,
            ..Self::public(server, u64::MAX)
        }
    }
}

/// Serves `router` on `listener` until `stop` completes, then waits for the connections to
/// finish (the caller bounds that wait).
pub async fn serve<S>(
    listener: TcpListener,
    router: S,
    limits: ConnectionLimits,
    stop: impl Future<Output = ()>,
) -> std::io::Result<()>
where
    S: Service<http::Request<Incoming>, Response = Response, Error = Infallible>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
{
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .max_header_size(MAX_HEADER_BYTES)
        // A read that ends (the client shut down its write side) does not drop the answer.
        .half_close(true);
    let graceful = GracefulShutdown::new();
    let attach_peer = limits.attach_peer;
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let mut stop = std::pin::pin!(stop);
    loop {
        // A free slot first: at the cap, new connections wait in the kernel's accept queue.
        let slot = tokio::select! {
            slot = slots.clone().acquire_owned() => slot.expect("the semaphore is never closed"),
            () = &mut stop => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    accept_failed(e).await;
                    continue;
                }
            },
            () = &mut stop => break,
        };
        // Answers are small and written at once: do not hold them back for Nagle.
        let _ = stream.set_nodelay(true);
        let service = TowerToHyperService::new(router.clone().map_request(
            move |mut request: http::Request<Incoming>| {
                if attach_peer {
                    request
                        .extensions_mut()
                        .insert(ConnectInfo::<SocketAddr>(peer));
                }
                request
            },
        ));
        let stream = WriteTimeout::new(stream, limits.write_timeout);
        let io = TokioIo::new(Box::pin(stream));
        let connection = graceful.watch(builder.serve_connection(io, service));
        tokio::spawn(async move {
            let _slot = slot;
            // Timeouts, oversized heads and resets end here; hyper already answered what
            // deserves an answer (431, 400).
            if let Err(e) = connection.await {
                tracing::debug!(error = %e, timeout = e.is_timeout(), "connection ended with an error");
            }
        });
    }
    drop(listener);
    graceful.shutdown().await;
    Ok(())
}

/// As hyper 0.14 and `axum::serve` do: a reset before accept is nothing; anything else (out of
/// file descriptors) is logged, and accepting pauses for a second rather than spin.
async fn accept_failed(e: std::io::Error) {
    use std::io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset};
    if matches!(
        e.kind(),
        ConnectionRefused | ConnectionAborted | ConnectionReset
    ) {
        return;
    }
    tracing::error!(error = %e, "accept failed; pausing for 1 s");
    tokio::time::sleep(Duration::from_secs(1)).await;
}
