//! `GET /containers/{id}/logs` and `POST /containers/{id}/attach` (output side), both read from
//! the log file the monitor writes: the daemon is never on the container's output path.

use super::body::qbool;
use super::{ApiError, AppState};
use crate::engine::store::Entry;
use crate::logs::{encode, Filter, Follower, LogLine};
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

const POLL: Duration = Duration::from_millis(50);

pub(super) fn content_type(tty: bool) -> HeaderValue {
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
    if c.log_discarded() {
        return Err(ApiError::new(
            axum::http::StatusCode::NOT_IMPLEMENTED,
            "configured logging driver does not support reading",
        ));
    }
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
pub(super) async fn follow_until_exit<F, Fut>(
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
