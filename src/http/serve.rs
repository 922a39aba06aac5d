//! Serves a router on a listener through hyper's HTTP/1 connection builder, which (unlike
//! `axum::serve`) bounds how long a client may take to send a request head and how large the
//! head may be. One task per connection; `TCP_NODELAY` set; the peer address handed to
//! handlers as `ConnectInfo<SocketAddr>`; on `stop`, the listener closes, idle connections
//! close, and requests in flight finish.
//!
//! hyper starts the header-read timer whenever a connection waits for a request head, so the
//! same timeout also closes keep-alive connections left idle that long: one knob for both, and
//! no connection is held by a client that sends nothing.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use axum::extract::ConnectInfo;
use axum::response::Response;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tower::{Service, ServiceExt};

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
    /// Whether requests carry the peer address (`ConnectInfo`): only the rate limit reads it,
    /// and attaching it costs every request an allocation.
    pub attach_peer: bool,
}

impl ConnectionLimits {
    pub fn new(server: &ServerConfig) -> Self {
        Self {
            header_read_timeout: Duration::from_millis(server.header_read_timeout_ms.max(1)),
            attach_peer: super::limit::RateLimit::configured(server),
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
        .max_header_size(MAX_HEADER_BYTES);
    let graceful = GracefulShutdown::new();
    let attach_peer = limits.attach_peer;
    let mut stop = std::pin::pin!(stop);
    loop {
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
        let connection = graceful.watch(builder.serve_connection(TokioIo::new(stream), service));
        tokio::spawn(async move {
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
