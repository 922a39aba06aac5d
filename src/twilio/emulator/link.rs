//! Serving, and the `down` switch as a real outage: while down the listening socket is closed,
//! so connects are refused, and connections already open are cut as a dead server's would be.
//! When the switch goes off, the same address is bound again.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

use super::Emulator;

/// How long to keep trying to bind the port again after an outage (another socket may hold it
/// for a moment) before `serve` gives up with the bind error.
const REBIND_FOR: Duration = Duration::from_secs(10);

pub async fn serve(
    emulator: &Emulator,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    let addr = listener.local_addr()?;
    let account_sid = emulator.account_sid();
    tracing::info!(listen = %addr, account_sid, "Flex API emulator listening");
    let (stop_tx, stop) = watch::channel(false);
    tokio::spawn(async move {
        shutdown.await;
        let _ = stop_tx.send(true);
    });
    let switches = emulator.switches();
    let mut socket = Some(listener);
    loop {
        if switches.is_down() {
            drop(socket.take()); // closes the port: connects are refused from here on
            switches.set_listening(false);
            tracing::info!(listen = %addr, "Flex API emulator down");
            let up = async {
                let _ = switches.watch_down().wait_for(|down| !*down).await;
            };
            tokio::select! {
                _ = up => {}
                _ = turned_on(stop.clone()) => return Ok(()),
            }
            continue;
        }
        let listener = match socket.take() {
            Some(listener) => listener,
            None => match rebind(addr, stop.clone()).await? {
                Some(listener) => listener,
                None => return Ok(()),
            },
        };
        switches.set_listening(true);
        let down = switches.watch_down();
        let signal = {
            let (down, stop) = (down.clone(), stop.clone());
            async move {
                tokio::select! {
                    _ = turned_on(down) => {}
                    _ = turned_on(stop) => {}
                }
            }
        };
        let refusing = Refusing { listener, down };
        axum::serve(refusing, emulator.router())
            .with_graceful_shutdown(signal)
            .await?;
        switches.set_listening(false);
        if *stop.borrow() {
            return Ok(());
        }
    }
}

/// Completes when the flag is (or becomes) true, or its sender is gone.
async fn turned_on(mut flag: watch::Receiver<bool>) {
    let _ = flag.wait_for(|on| *on).await;
}

/// Binds `addr` again, retrying while the port is briefly taken. `None` if shut down meanwhile.
async fn rebind(addr: SocketAddr, stop: watch::Receiver<bool>) -> io::Result<Option<TcpListener>> {
    let deadline = tokio::time::Instant::now() + REBIND_FOR;
    loop {
        match TcpListener::bind(addr).await {
            Ok(listener) => {
                tracing::info!(listen = %addr, "Flex API emulator up again");
                return Ok(Some(listener));
            }
            Err(e)
                if e.kind() == io::ErrorKind::AddrInUse
                    && tokio::time::Instant::now() < deadline =>
            {
                tracing::debug!(listen = %addr, "port still in use, retrying");
            }
            Err(e) => return Err(e),
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(50)) => {}
            _ = turned_on(stop.clone()) => return Ok(None),
        }
    }
}

/// A listener that hands out [`Conn`]s, and drops a connection that arrives after the switch
/// went down but before the socket is closed.
struct Refusing {
    listener: TcpListener,
    down: watch::Receiver<bool>,
}

impl axum::serve::Listener for Refusing {
    type Io = Conn;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Conn, SocketAddr) {
        loop {
            match self.listener.accept().await {
                Ok((stream, peer)) => {
                    let down = *self.down.borrow();
                    if !down {
                        return (Conn::new(stream, self.down.clone()), peer);
                    }
                }
                // The peer gave up before we accepted: nothing to do.
                Err(e) if is_connection_error(&e) => {}
                // E.g. out of file descriptors: wait for some to close, as axum does.
                Err(e) => {
                    tracing::error!("emulator accept error: {e}");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        }
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.listener.local_addr()
    }
}

fn is_connection_error(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    )
}

/// A TCP connection that fails every read and write once the `down` switch is on, so hyper
/// drops it: idle keep-alive connections too, since a read in progress is woken by the switch.
struct Conn {
    stream: TcpStream,
    /// Completes when the switch goes down; `None` once it has.
    down: Option<Pin<Box<dyn Future<Output = ()> + Send>>>,
}

impl Conn {
    fn new(stream: TcpStream, down: watch::Receiver<bool>) -> Self {
        Self {
            stream,
            down: Some(Box::pin(turned_on(down))),
        }
    }

    /// Whether the switch is down; registers `cx` to be woken when it goes down.
    fn cut(&mut self, cx: &mut Context<'_>) -> bool {
        if let Some(down) = &mut self.down
            && down.as_mut().poll(cx).is_ready()
        {
            self.down = None;
        }
        self.down.is_none()
    }
}

fn reset<T>() -> Poll<io::Result<T>> {
    Poll::Ready(Err(io::Error::new(
        io::ErrorKind::ConnectionReset,
        "emulator is down",
    )))
}

impl AsyncRead for Conn {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if self.cut(cx) {
            return reset();
        }
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for Conn {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        if self.cut(cx) {
            return reset();
        }
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        if self.cut(cx) {
            return reset();
        }
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}
