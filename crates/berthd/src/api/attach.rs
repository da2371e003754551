//! `POST /containers/{id}/attach`. Interactive attach (`docker run -it`, `docker attach`,
//! `docker start -ai`, `-i` with piped input) relays between the hijacked client connection and
//! the container's monitor, which owns the terminal or stdin. The daemon holds nothing the
//! container needs: if it dies, the client loses its connection, the container keeps its
//! terminal, and `docker attach` works again once the daemon is back. Without input or a
//! terminal, attach streams the container's log until it exits.

use super::body::qbool;
use super::{ApiError, AppState};
use crate::engine::daemon::Daemon;
use crate::engine::store::Entry;
use crate::logs::Filter;
use crate::model::Status;
use crate::monitor::{MonitorConn, MonitorPaths};
use axum::body::Body;
use axum::extract::{Path, Query, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::Response;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// Docker's default detach sequence: ctrl-p ctrl-q.
const DEFAULT_DETACH: &[u8] = &[0x10, 0x11];

/// Parses Docker's `detachKeys` (`ctrl-p,ctrl-q`, `ctrl-a,x`, …).
pub fn parse_detach_keys(spec: Option<&str>) -> Result<Vec<u8>, String> {
    let Some(spec) = spec.filter(|s| !s.is_empty()) else {
        return Ok(DEFAULT_DETACH.to_vec());
    };
    spec.split(',')
        .map(|k| {
            let k = k.trim();
            match k.strip_prefix("ctrl-") {
                Some(c) if c.len() == 1 => {
                    let b = c.as_bytes()[0].to_ascii_lowercase();
                    match b {
                        b'a'..=b'z' => Ok(b - b'a' + 1),
                        b'@' => Ok(0),
                        b'[' | b'\\' | b']' | b'^' | b'_' => Ok(b - b'@'),
                        _ => Err(format!("Invalid detach keys ({spec}) provided")),
                    }
                }
                None if k.len() == 1 => Ok(k.as_bytes()[0]),
                _ => Err(format!("Invalid detach keys ({spec}) provided")),
            }
        })
        .collect()
}

/// Finds the detach sequence in typed input; bytes of a partial match are held back until it is
/// clear they are not one.
struct Detach<'a> {
    keys: &'a [u8],
    matched: usize,
}

impl Detach<'_> {
    /// The bytes to forward, and whether the sequence was typed.
    fn scan(&mut self, data: &[u8]) -> (Vec<u8>, bool) {
        let mut out = Vec::with_capacity(data.len());
        for &b in data {
            if b == self.keys[self.matched] {
                self.matched += 1;
                if self.matched == self.keys.len() {
                    return (out, true);
                }
            } else {
                out.extend_from_slice(&self.keys[..self.matched]);
                self.matched = 0;
                if b == self.keys[0] {
                    self.matched = 1;
                } else {
                    out.push(b);
                }
            }
        }
        (out, false)
    }
}

/// Waits until the container runs (the CLI attaches before it starts one); true when it had to
/// wait, so that the output since the start is replayed. None if it went away.
async fn wait_running(e: &Entry) -> Option<bool> {
    let mut changed = e.changed.subscribe();
    let mut waited = false;
    loop {
        match e.status() {
            Status::Running | Status::Restoring | Status::Paused | Status::Orphaned => return Some(waited),
            Status::Removing | Status::Dead => return None,
            _ => {}
        }
        waited = true;
        if tokio::time::timeout(Duration::from_secs(3600), changed.changed()).await.map(|r| r.is_err()).unwrap_or(true)
        {
            return None;
        }
    }
}

/// What an attach through the monitor asks for.
pub struct Ask {
    pub stdin: bool,
    pub stdout: bool,
    pub stderr: bool,
    /// `logs=1`: the monitor first sends the output of this run so far, as when the client had
    /// to wait for the start.
    pub logs: bool,
    pub detach_keys: Vec<u8>,
}

/// Relays until the container ends, the client leaves or types the detach keys.
pub async fn relay<IO>(d: Arc<Daemon>, e: Arc<Entry>, io: IO, ask: Ask)
where
    IO: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    let Some(waited) = wait_running(&e).await else {
        return;
    };
    let (stdin, replay) = (ask.stdin, waited || ask.logs);
    let c = e.snapshot();
    let tty = c.config.tty.unwrap_or(false);
    let paths = MonitorPaths::new(&d.config().exec_root, &c.id);
    let (client_r, mut client_w) = tokio::io::split(io);
    let attached = match MonitorConn::connect(&paths.socket(), Duration::from_secs(5)).await {
        Ok(conn) => conn.attach(stdin, replay).await,
        Err(err) => Err(err),
    };
    let (mon_r, mon_w) = match attached {
        Ok(halves) => halves,
        Err(err) => {
            // Already over (a quick `docker run -it … echo hi`): its output is in the log.
            tracing::debug!(id = %c.short_id(), "attach through the monitor: {err}; replaying the log");
            replay_log(&c, &ask, &mut client_w).await;
            let _ = client_w.shutdown().await;
            return;
        }
    };
    // A terminal's output is all stdout; without one the monitor sends frames of both streams.
    let how = match (tty, ask.stdout, ask.stderr) {
        (true, true, _) | (false, true, true) => super::reframe::Reframe::Keep,
        (true, false, _) | (false, false, false) => super::reframe::Reframe::Drop,
        (false, stdout, stderr) => super::reframe::Reframe::Select { stdout, stderr },
    };
    if pump(client_r, client_w, mon_r, mon_w, &ask.detach_keys, how).await {
        tracing::debug!(id = %c.short_id(), "client detached");
    }
}

/// Moves bytes both ways between a hijacked client and an attached monitor connection until the
/// output ends (the process ended) or the client types the detach keys (true). The client's end
/// of input ends the process's stdin; output keeps flowing until the process ends.
pub async fn pump<CR, CW, MR, MW>(
    mut client_r: CR,
    mut client_w: CW,
    mut mon_r: MR,
    mut mon_w: MW,
    detach_keys: &[u8],
    reframe: super::reframe::Reframe,
) -> bool
where
    CR: AsyncRead + Unpin,
    CW: AsyncWrite + Unpin,
    MR: AsyncRead + Unpin,
    MW: AsyncWrite + Unpin,
{
    let output = async move {
        if reframe == super::reframe::Reframe::Keep {
            let _ = tokio::io::copy(&mut mon_r, &mut client_w).await;
        } else {
            let mut unframer = super::reframe::Unframer::default();
            let mut buf = vec![0u8; 16384];
            while let Ok(n @ 1..) = mon_r.read(&mut buf).await {
                let out = super::reframe::apply(reframe, &mut unframer, &buf[..n]);
                if !out.is_empty() && client_w.write_all(&out).await.is_err() {
                    break;
                }
            }
        }
        let _ = client_w.shutdown().await;
    };
    let input = async move {
        let mut det = Detach { keys: detach_keys, matched: 0 };
        let mut buf = vec![0u8; 8192];
        loop {
            let n = match client_r.read(&mut buf).await {
                Ok(0) | Err(_) => {
                    let _ = mon_w.shutdown().await; // the container's stdin ends
                    return false;
                }
                Ok(n) => n,
            };
            let (fwd, detached) = det.scan(&buf[..n]);
            if !fwd.is_empty() && mon_w.write_all(&fwd).await.is_err() {
                return false;
            }
            if detached {
                return true;
            }
        }
    };
    tokio::pin!(output, input);
    tokio::select! {
        _ = &mut output => false,
        detached = &mut input => {
            if detached {
                return true; // Dropping both ends closes the client's stream; the process runs on.
            }
            // Input over: output still flows until the process ends.
            output.await;
            false
        }
    }
}

/// The output of the current run, from the log (the container ended before the monitor could be
/// reached).
async fn replay_log<W: AsyncWrite + Unpin>(c: &crate::model::Container, ask: &Ask, w: &mut W) {
    let tty = c.config.tty.unwrap_or(false);
    // A terminal's output is all stdout, whatever stream the log line says.
    let (stdout, stderr) = if tty { (ask.stdout, ask.stdout) } else { (ask.stdout, ask.stderr) };
    let f = Filter { stdout, stderr, since_nanos: started_nanos(c), ..Default::default() };
    let path = c.log_path.clone();
    let Ok(Ok((lines, _))) = tokio::task::spawn_blocking(move || crate::logs::read_all(&path, &f)).await else {
        return;
    };
    for l in lines {
        if w.write_all(&crate::logs::encode(&l, tty, false)).await.is_err() {
            return;
        }
    }
}

/// Attach: the connection is hijacked (HTTP 101 `Upgrade: tcp`, as Docker does) and the
/// container's output streamed on it until the container exits.
pub async fn attach(
    State(d): State<AppState>,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
    mut req: Request,
) -> Result<Response, ApiError> {
    let e = d.store.get(&id)?;
    let c = e.snapshot();
    let tty = c.config.tty.unwrap_or(false);
    let want_logs = qbool(q.get("logs"));
    let stream = !q.contains_key("stream") || qbool(q.get("stream"));
    let f = Filter { stdout: qbool(q.get("stdout")), stderr: qbool(q.get("stderr")), ..Default::default() };
    let on_upgrade = req.extensions_mut().remove::<hyper::upgrade::OnUpgrade>();
    let conn = req.extensions().get::<axum::extract::ConnectInfo<ConnFd>>().map(|c| c.0);
    let upgrade_asked = req.headers().get(header::UPGRADE).is_some();
    let want_stdin = qbool(q.get("stdin"));
    let catch_up = stream && !want_logs && run_began_within(&c, CATCH_UP);
    if stream && (want_stdin || tty) {
        // Input, or a terminal: the monitor that owns them is attached to.
        let keys = parse_detach_keys(q.get("detachKeys").map(String::as_str)).map_err(ApiError::bad_request)?;
        let Some(on_upgrade) = on_upgrade else {
            return Err(ApiError::bad_request("attach needs a connection that can be hijacked"));
        };
        let d2 = d.clone();
        tokio::spawn(async move {
            let Ok(upgraded) = on_upgrade.await else {
                return;
            };
            if want_logs || catch_up {
                after_headers_read(conn).await;
            }
            let ask = Ask {
                stdin: want_stdin,
                stdout: f.stdout,
                stderr: f.stderr,
                logs: want_logs || catch_up,
                detach_keys: keys,
            };
            relay(d2, e, hyper_util::rt::TokioIo::new(upgraded), ask).await;
        });
        return Ok(hijacked(upgrade_asked, tty));
    }
    let path = c.log_path.clone();
    let mut f2 = f.clone();
    if catch_up {
        f2.since_nanos = started_nanos(&c);
    }
    let (past, pos) = tokio::task::spawn_blocking(move || crate::logs::read_all(&path, &f2)).await??;
    let want_logs = want_logs || catch_up;
    let started_before = (!c.state.status.is_live()).then(|| c.state.started_at.clone());
    let Some(on_upgrade) = on_upgrade else {
        return Err(ApiError::bad_request("attach needs a connection that can be hijacked"));
    };
    tokio::spawn(async move {
        let Ok(upgraded) = on_upgrade.await else {
            return;
        };
        if want_logs && !past.is_empty() {
            after_headers_read(conn).await;
        }
        let mut io = hyper_util::rt::TokioIo::new(upgraded);
        if want_logs {
            for l in &past {
                if io.write_all(&crate::logs::encode(l, tty, false)).await.is_err() {
                    return;
                }
            }
        }
        if stream {
            let io_ref = &mut io;
            let (tx, mut rx) = tokio::sync::mpsc::channel::<Vec<u8>>(64);
            let writer = async move {
                while let Some(b) = rx.recv().await {
                    if io_ref.write_all(&b).await.is_err() {
                        return;
                    }
                }
                let _ = io_ref.flush().await;
            };
            let reader = async move {
                super::logs::follow_until_exit(
                    &e,
                    c.log_path.clone(),
                    pos,
                    &f,
                    |l| {
                        let tx = tx.clone();
                        async move { tx.send(crate::logs::encode(&l, tty, false)).await.is_ok() }
                    },
                    started_before,
                )
                .await;
            };
            tokio::join!(writer, reader);
        }
        let _ = io.shutdown().await;
    });
    Ok(hijacked(upgrade_asked, tty))
}

/// How late after a run's start a streaming attach still gets that run's output from its start.
///
/// docker-compose (its dockerpty, for `run` without the docker CLI) attaches only after the start
/// it asked for, so a quick command's output is gone before it listens. dockerd's slower start
/// hides that race (5 of 5 `run -T … echo hi` printed on dockerd here, 1 of 3 on Berth). Beyond
/// Docker: such an attach is sent the run's output so far, which it would have seen had it come
/// a moment earlier; a later one (`docker attach` to a running service) sees only what follows.
/// 500 ms was too short once in the full suite (compose's attach came later on a loaded host).
const CATCH_UP: Duration = Duration::from_millis(1000);

fn started_nanos(c: &crate::model::Container) -> Option<i64> {
    chrono::DateTime::parse_from_rfc3339(&c.state.started_at).ok()?.timestamp_nanos_opt()
}

fn run_began_within(c: &crate::model::Container, window: Duration) -> bool {
    let Some(start) = started_nanos(c) else {
        return false;
    };
    let now = chrono::Utc::now().timestamp_nanos_opt().unwrap_or(i64::MAX);
    start > 0 && now.saturating_sub(start) < window.as_nanos() as i64
}

/// The API connection's socket, by number: what [`after_headers_read`] asks the kernel about.
#[derive(Debug, Clone, Copy)]
pub struct ConnFd(pub std::os::fd::RawFd);

impl axum::extract::connect_info::Connected<axum::serve::IncomingStream<'_, crate::drain::Listener>> for ConnFd {
    fn connect_info(s: axum::serve::IncomingStream<'_, crate::drain::Listener>) -> Self {
        use std::os::fd::AsRawFd;
        ConnFd(s.io().as_raw_fd())
    }
}

/// Waits (at most 200 ms) until the client has read everything sent on its connection so far:
/// the 101's headers, before the first byte of a replayed log.
///
/// docker-py reads the headers through a buffered reader and then reads the raw socket: bytes
/// that arrive in the same read as the headers stay in that buffer, unseen (its
/// `attach(stream=False, logs=True)` returned nothing). dockerd's own latency hides that; Berth
/// has the log in hand at once.
async fn after_headers_read(conn: Option<ConnFd>) {
    let Some(ConnFd(fd)) = conn else {
        return;
    };
    let deadline = tokio::time::Instant::now() + Duration::from_millis(200);
    while berth_sys::unread_by_peer(fd).is_ok_and(|n| n > 0) && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

/// The answer that hands the connection over: 101 when the client asked to upgrade (as the CLI
/// and docker-py do), else a plain 200 whose body is the stream.
fn hijacked(upgrade_asked: bool, tty: bool) -> Response {
    let mut r = Response::new(Body::empty());
    if upgrade_asked {
        *r.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
        r.headers_mut().insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
        r.headers_mut().insert(header::UPGRADE, HeaderValue::from_static("tcp"));
    }
    r.headers_mut().insert(header::CONTENT_TYPE, super::logs::content_type(tty));
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detach_keys_parse_and_match() {
        assert_eq!(parse_detach_keys(None).unwrap(), vec![0x10, 0x11]);
        assert_eq!(parse_detach_keys(Some("ctrl-a,x")).unwrap(), vec![1, b'x']);
        assert!(parse_detach_keys(Some("ctrl-ab")).is_err());
        let keys = [0x10, 0x11];
        let mut d = Detach { keys: &keys, matched: 0 };
        assert_eq!(d.scan(b"ab\x10"), (b"ab".to_vec(), false));
        assert_eq!(d.scan(b"c"), (b"\x10c".to_vec(), false), "a partial match is forwarded once broken");
        assert_eq!(d.scan(b"\x10\x10\x11rest"), (b"\x10".to_vec(), true));
    }
}
