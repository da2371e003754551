//! `GET /containers/{id}/logs` and `POST /containers/{id}/attach` (output side), both read from
//! the log file the monitor writes: the daemon is never on the container's output path.

use super::body::qbool;
use super::{ApiError, AppState};
use crate::engine::store::Entry;
use crate::logs::{frame, Filter, Follower, LogLine};
use axum::body::Body;
use axum::extract::{Path, Query, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::AsyncWriteExt;

const POLL: Duration = Duration::from_millis(50);

/// A log line as a client reads it: raw on a terminal, else a multiplexed frame.
pub(crate) fn encode(l: &LogLine, tty: bool, timestamps: bool) -> Vec<u8> {
    let payload = if timestamps { format!("{} {}", l.time, l.log).into_bytes() } else { l.log.clone().into_bytes() };
    if tty {
        payload
    } else {
        frame(&l.stream, &payload)
    }
}

fn content_type(tty: bool) -> HeaderValue {
    HeaderValue::from_static(if tty {
        "application/vnd.docker.raw-stream"
    } else {
        "application/vnd.docker.multiplexed-stream"
    })
}

pub async fn logs(
    State(d): State<AppState>,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let e = d.store.get(&id)?;
    let c = e.snapshot();
    let mut f = Filter {
        stdout: qbool(q.get("stdout")),
        stderr: qbool(q.get("stderr")),
        since_nanos: q.get("since").and_then(|s| crate::logs::parse_time(s)),
        until_nanos: q.get("until").and_then(|s| crate::logs::parse_time(s)),
        tail: None,
    };
    if !f.stdout && !f.stderr {
        return Err(ApiError::bad_request("Bad parameters: you must choose at least one stream"));
    }
    f.tail = match q.get("tail").map(String::as_str) {
        None | Some("all") | Some("") => None,
        Some(n) => match n.parse::<i64>() {
            Ok(n) if n >= 0 => Some(n as usize),
            Ok(_) => None,
            Err(_) => return Err(ApiError::bad_request(format!("invalid value for \"tail\": {n}"))),
        },
    };
    let follow = qbool(q.get("follow"));
    let timestamps = qbool(q.get("timestamps"));
    let tty = c.config.tty.unwrap_or(false);
    let path = c.log_path.clone();
    let f2 = f.clone();
    let (past, pos) = tokio::task::spawn_blocking(move || crate::logs::read_all(&path, &f2)).await??;
    let (tx, rx) = tokio::sync::mpsc::channel::<bytes::Bytes>(64);
    let live_filter = Filter { tail: None, ..f };
    tokio::spawn(async move {
        for l in &past {
            if tx.send(encode(l, tty, timestamps).into()).await.is_err() {
                return;
            }
        }
        if follow {
            let _ = follow_until_exit(
                &e,
                c.log_path.clone(),
                pos,
                &live_filter,
                |l| {
                    let tx = tx.clone();
                    let b: bytes::Bytes = encode(&l, tty, timestamps).into();
                    async move { tx.send(b).await.is_ok() }
                },
                None,
            )
            .await;
        }
    });
    let body = Body::from_stream(futures_util::StreamExt::map(
        tokio_stream::wrappers::ReceiverStream::new(rx),
        Ok::<_, std::io::Error>,
    ));
    let mut r = (StatusCode::OK, body).into_response();
    r.headers_mut().insert(header::CONTENT_TYPE, content_type(tty));
    Ok(r)
}

/// Streams new log lines until the container is not running any more (and, when `started_at` is
/// given, has run since: an attach made before start waits for that run).
async fn follow_until_exit<F, Fut>(
    e: &Arc<Entry>,
    path: std::path::PathBuf,
    pos: u64,
    f: &Filter,
    mut send: F,
    started_before: Option<String>,
) -> bool
where
    F: FnMut(LogLine) -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let mut fol = Follower::new(&path, pos);
    let mut changed = e.changed.subscribe();
    loop {
        let snap = e.snapshot();
        let live = snap.state.status.is_live();
        let ran = started_before.as_ref().is_none_or(|s| &snap.state.started_at != s);
        let lines = fol.poll(f).unwrap_or_default();
        for l in lines {
            if !send(l).await {
                return false;
            }
        }
        let removed = changed.has_changed().is_err();
        if (!live && ran) || removed {
            // The monitor writes every byte before it records the exit: one last read gets them.
            for l in fol.poll(f).unwrap_or_default() {
                if !send(l).await {
                    return false;
                }
            }
            return true;
        }
        tokio::select! {
            _ = tokio::time::sleep(POLL) => {}
            r = changed.changed() => { if r.is_err() { tokio::time::sleep(POLL).await; } }
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
    let upgrade_asked = req.headers().get(header::UPGRADE).is_some();
    let want_stdin = qbool(q.get("stdin"));
    if stream && (want_stdin || tty) {
        // Input, or a terminal: the monitor that owns them is attached to.
        let keys =
            super::attach::parse_detach_keys(q.get("detachKeys").map(String::as_str)).map_err(ApiError::bad_request)?;
        let Some(on_upgrade) = on_upgrade else {
            return Err(ApiError::bad_request("attach needs a connection that can be hijacked"));
        };
        let d2 = d.clone();
        tokio::spawn(async move {
            let Ok(upgraded) = on_upgrade.await else {
                return;
            };
            super::attach::relay(d2, e, hyper_util::rt::TokioIo::new(upgraded), want_stdin, keys).await;
        });
        return Ok(hijacked(upgrade_asked, tty));
    }
    let path = c.log_path.clone();
    let f2 = f.clone();
    let (past, pos) = tokio::task::spawn_blocking(move || crate::logs::read_all(&path, &f2)).await??;
    let started_before = (!c.state.status.is_live()).then(|| c.state.started_at.clone());
    let Some(on_upgrade) = on_upgrade else {
        return Err(ApiError::bad_request("attach needs a connection that can be hijacked"));
    };
    tokio::spawn(async move {
        let Ok(upgraded) = on_upgrade.await else {
            return;
        };
        let mut io = hyper_util::rt::TokioIo::new(upgraded);
        if want_logs {
            for l in &past {
                if io.write_all(&encode(l, tty, false)).await.is_err() {
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
                follow_until_exit(
                    &e,
                    c.log_path.clone(),
                    pos,
                    &f,
                    |l| {
                        let tx = tx.clone();
                        async move { tx.send(encode(&l, tty, false)).await.is_ok() }
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

/// The answer that hands the connection over: 101 when the client asked to upgrade (as the CLI
/// and docker-py do), else a plain 200 whose body is the stream.
fn hijacked(upgrade_asked: bool, tty: bool) -> Response {
    let mut r = Response::new(Body::empty());
    if upgrade_asked {
        *r.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
        r.headers_mut().insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
        r.headers_mut().insert(header::UPGRADE, HeaderValue::from_static("tcp"));
    }
    r.headers_mut().insert(header::CONTENT_TYPE, content_type(tty));
    r
}
