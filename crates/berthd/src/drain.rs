//! Stopping the API without cutting a request: at exit the daemon stops accepting, then waits
//! (bounded) for the connections it has accepted to finish.
//!
//! axum's own graceful shutdown is not used: it closes at once every connection whose request
//! hyper has not started parsing, and a client that connected just before the stop has usually
//! written its request already; closing with those bytes unread resets the connection. Here a
//! connection accepted is a connection served. What was not accepted stays in the socket's
//! backlog: with socket activation, that backlog belongs to systemd's socket and the next
//! daemon answers it.
//!
//! A TCP connection is counted open from its accept, through its TLS handshake: the handshakes
//! run in tasks of their own (bounded in time), so that a client that connects and says nothing,
//! or fails the handshake, holds up no one else.

use crate::listen::Bound;
use std::io;
use std::os::fd::{AsRawFd, RawFd};
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// How long a client has to finish its TLS handshake.
const HANDSHAKE: Duration = Duration::from_secs(10);

/// Shared by every API listener: the stop signal and the count of open connections.
#[derive(Clone, Default)]
pub struct Gate {
    stop: CancellationToken,
    open: Arc<AtomicUsize>,
}

impl Gate {
    /// A listener for a bound socket; a TCP one needs the TLS configuration.
    pub fn listener(&self, bound: Bound, tls: Option<Arc<rustls::ServerConfig>>) -> io::Result<Listener> {
        let inner = match bound {
            Bound::Unix(l) => Inner::Unix(l),
            Bound::Tcp(l) => {
                let Some(tls) = tls else {
                    return Err(io::Error::other("a tcp:// host is served only over TLS"));
                };
                let local = l.local_addr()?;
                let (tx, rx) = mpsc::channel(64);
                tokio::spawn(accept_tls(l, tokio_rustls::TlsAcceptor::from(tls), self.clone(), tx));
                Inner::Tls { rx, local }
            }
        };
        Ok(Listener { inner, gate: self.clone() })
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

    fn opened(&self) -> Open {
        self.open.fetch_add(1, Ordering::SeqCst);
        Open(self.open.clone())
    }
}

/// One open connection in the gate's count, until dropped.
struct Open(Arc<AtomicUsize>);

impl Drop for Open {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Accepts TCP connections until the stop, handing each to a handshake task; the connections
/// that pass are sent to the listener. Dropping the listener at the stop refuses later clients.
async fn accept_tls(
    l: tokio::net::TcpListener,
    acceptor: tokio_rustls::TlsAcceptor,
    gate: Gate,
    tx: mpsc::Sender<(Conn, Addr)>,
) {
    loop {
        let (tcp, peer) = tokio::select! {
            biased;
            _ = gate.stop.cancelled() => return,
            r = l.accept() => match r {
                Ok(c) => c,
                Err(e) => {
                    accept_error(e).await;
                    continue;
                }
            },
        };
        let open = gate.opened();
        // The API's streams (attach, exec) are interactive.
        let _ = tcp.set_nodelay(true);
        let (acceptor, tx) = (acceptor.clone(), tx.clone());
        tokio::spawn(async move {
            match tokio::time::timeout(HANDSHAKE, acceptor.accept(tcp)).await {
                Ok(Ok(tls)) => {
                    let _ = tx.send((Conn { io: Io::Tls(Box::new(tls)), _open: open }, Addr::Tcp(peer))).await;
                }
                Ok(Err(e)) => tracing::warn!(%peer, "API connection refused: TLS handshake failed: {e}"),
                Err(_) => tracing::warn!(%peer, "API connection closed: no TLS handshake within {HANDSHAKE:?}"),
            }
        });
    }
}

enum Inner {
    Unix(tokio::net::UnixListener),
    /// The handshaken connections of [`accept_tls`]; the channel ends once it has stopped and
    /// its handshakes are done.
    Tls {
        rx: mpsc::Receiver<(Conn, Addr)>,
        local: std::net::SocketAddr,
    },
}

pub struct Listener {
    inner: Inner,
    gate: Gate,
}

/// A client's address: axum's contract; the API reads none today (`ConnFd` is its connect info).
#[derive(Debug)]
#[allow(dead_code)]
pub enum Addr {
    Unix(tokio::net::unix::SocketAddr),
    Tcp(std::net::SocketAddr),
}

impl axum::serve::Listener for Listener {
    type Io = Conn;
    type Addr = Addr;

    async fn accept(&mut self) -> (Conn, Addr) {
        let l = match &mut self.inner {
            Inner::Unix(l) => l,
            // What was accepted before the stop is served, handshake included.
            Inner::Tls { rx, .. } => match rx.recv().await {
                Some(c) => return c,
                None => std::future::pending().await,
            },
        };
        loop {
            tokio::select! {
                // Checked first: once stopped, nothing more is taken out of the backlog.
                biased;
                _ = self.gate.stop.cancelled() => std::future::pending::<()>().await,
                r = tokio::net::UnixListener::accept(l) => match r {
                    Ok((io, addr)) => {
                        return (Conn { io: Io::Unix(io), _open: self.gate.opened() }, Addr::Unix(addr));
                    }
                    Err(e) => accept_error(e).await,
                },
            }
        }
    }

    fn local_addr(&self) -> io::Result<Addr> {
        match &self.inner {
            Inner::Unix(l) => l.local_addr().map(Addr::Unix),
            Inner::Tls { local, .. } => Ok(Addr::Tcp(*local)),
        }
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

enum Io {
    Unix(tokio::net::UnixStream),
    Tls(Box<tokio_rustls::server::TlsStream<tokio::net::TcpStream>>),
}

/// An accepted connection, counted open until dropped (by hyper, or by an upgrade's owner).
pub struct Conn {
    io: Io,
    _open: Open,
}

impl AsRawFd for Conn {
    /// The socket under the TLS too: what `attach` asks the kernel about is the send queue.
    fn as_raw_fd(&self) -> RawFd {
        match &self.io {
            Io::Unix(s) => s.as_raw_fd(),
            Io::Tls(s) => s.get_ref().0.as_raw_fd(),
        }
    }
}

/// Forwards to the stream in `$io`, whichever kind it is.
macro_rules! both {
    ($self:expr, $s:ident => $e:expr) => {
        match &mut $self.get_mut().io {
            Io::Unix($s) => {
                let $s = Pin::new($s);
                $e
            }
            Io::Tls($s) => {
                let $s = Pin::new(&mut **$s);
                $e
            }
        }
    };
}

impl AsyncRead for Conn {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        both!(self, s => s.poll_read(cx, buf))
    }
}

impl AsyncWrite for Conn {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        both!(self, s => s.poll_write(cx, buf))
    }
    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        both!(self, s => s.poll_write_vectored(cx, bufs))
    }
    fn is_write_vectored(&self) -> bool {
        match &self.io {
            Io::Unix(s) => s.is_write_vectored(),
            Io::Tls(s) => s.is_write_vectored(),
        }
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        both!(self, s => s.poll_flush(cx))
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        both!(self, s => s.poll_shutdown(cx))
    }
}
