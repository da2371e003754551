//! Stopping the API without cutting a request: at exit the daemon stops accepting, then waits
//! (bounded) for the connections it has accepted to finish.
//!
//! axum's own graceful shutdown is not used: it closes at once every connection whose request
//! hyper has not started parsing, and a client that connected just before the stop has usually
//! written its request already; closing with those bytes unread resets the connection. Here a
//! connection accepted is a connection served. What was not accepted stays in the socket's
//! backlog: with socket activation, that backlog belongs to systemd's socket and the next
//! daemon answers it.

use std::io;
use std::os::fd::{AsRawFd, RawFd};
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_util::sync::CancellationToken;

/// Shared by every API listener: the stop signal and the count of open connections.
#[derive(Clone, Default)]
pub struct Gate {
    stop: CancellationToken,
    open: Arc<AtomicUsize>,
}

impl Gate {
    pub fn listener(&self, inner: tokio::net::UnixListener) -> Listener {
        Listener { inner, gate: self.clone() }
    }

    /// Stops accepting on every listener and waits until the accepted connections are closed,
    /// `bound` at most (streams such as `events` or `logs -f` never end on their own). Returns
    /// how many were still open.
    pub async fn close(&self, bound: Duration) -> usize {
        self.stop.cancel();
        let deadline = tokio::time::Instant::now() + bound;
        while self.open.load(Ordering::SeqCst) > 0 && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        self.open.load(Ordering::SeqCst)
    }
}

pub struct Listener {
    inner: tokio::net::UnixListener,
    gate: Gate,
}

impl axum::serve::Listener for Listener {
    type Io = Conn;
    type Addr = tokio::net::unix::SocketAddr;

    async fn accept(&mut self) -> (Conn, Self::Addr) {
        loop {
            tokio::select! {
                // Checked first: once stopped, nothing more is taken out of the backlog.
                biased;
                _ = self.gate.stop.cancelled() => std::future::pending::<()>().await,
                r = self.inner.accept() => match r {
                    Ok((io, addr)) => {
                        self.gate.open.fetch_add(1, Ordering::SeqCst);
                        return (Conn { io, open: self.gate.open.clone() }, addr);
                    }
                    Err(e) => accept_error(e).await,
                },
            }
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        self.inner.local_addr()
    }
}

/// As axum's: a connection that failed before it was taken is skipped; anything else (out of
/// fds) is waited out rather than spun on.
async fn accept_error(e: io::Error) {
    use io::ErrorKind::*;
    if matches!(e.kind(), ConnectionRefused | ConnectionAborted | ConnectionReset) {
        return;
    }
    tracing::error!("accepting an API connection: {e}");
    tokio::time::sleep(Duration::from_secs(1)).await;
}

/// An accepted connection, counted open until dropped (by hyper, or by an upgrade's owner).
pub struct Conn {
    io: tokio::net::UnixStream,
    open: Arc<AtomicUsize>,
}

impl Drop for Conn {
    fn drop(&mut self) {
        self.open.fetch_sub(1, Ordering::SeqCst);
    }
}

impl AsRawFd for Conn {
    fn as_raw_fd(&self) -> RawFd {
        self.io.as_raw_fd()
    }
}

impl AsyncRead for Conn {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl AsyncWrite for Conn {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }
    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
    }
    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}
