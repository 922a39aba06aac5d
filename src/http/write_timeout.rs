//! A connection's writes held to `server.write_timeout_ms`: a write, flush or shutdown that
//! makes no progress that long fails (`TimedOut`), and hyper closes the connection. The timer
//! is armed only when a write has to wait, so the common write — the socket takes the answer
//! at once — reads no clock and touches no timer; a write that makes progress disarms it.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use pin_project_lite::pin_project;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};

pin_project! {
    pub struct WriteTimeout<S> {
        #[pin]
        inner: S,
        timeout: Duration,
        // Created once per connection; reset when a write starts to wait.
        #[pin]
        timer: Sleep,
        armed: bool,
    }
}

impl<S> WriteTimeout<S> {
    pub fn new(inner: S, timeout: Duration) -> Self {
        Self {
            inner,
            timeout,
            timer: tokio::time::sleep(timeout),
            armed: false,
        }
    }
}

impl<S: AsyncWrite> WriteTimeout<S> {
    /// `write` on the stream, failing once it has waited `timeout` without progress.
    fn held<T>(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        write: impl FnOnce(Pin<&mut S>, &mut Context<'_>) -> Poll<io::Result<T>>,
    ) -> Poll<io::Result<T>> {
        let mut this = self.project();
        if let Poll::Ready(result) = write(this.inner, cx) {
            *this.armed = false;
            return Poll::Ready(result);
        }
        if !*this.armed {
            this.timer.as_mut().reset(Instant::now() + *this.timeout);
            *this.armed = true;
        }
        ready!(this.timer.poll(cx));
        Poll::Ready(Err(io::Error::new(
            io::ErrorKind::TimedOut,
            "a write made no progress within the write timeout",
        )))
    }
}

impl<S: AsyncRead> AsyncRead for WriteTimeout<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        self.project().inner.poll_read(cx, buf)
    }
}

impl<S: AsyncWrite> AsyncWrite for WriteTimeout<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.held(cx, |inner, cx| inner.poll_write(cx, buf))
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.held(cx, |inner, cx| inner.poll_write_vectored(cx, bufs))
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.held(cx, AsyncWrite::poll_flush)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.held(cx, AsyncWrite::poll_shutdown)
    }
}
