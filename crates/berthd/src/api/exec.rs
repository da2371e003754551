//! `/containers/{id}/exec`, `/exec/{id}/start|json|resize`: the wire side of `engine::exec`.
//! A non-detached start hijacks the connection and streams the exec's output (or relays its
//! terminal or stdin through the monitor).

use super::body::JsonBody;
use super::{ApiError, AppState};
use crate::engine::exec::{self, ExecInfo};
use crate::logs::{frame, Filter, Follower};
use axum::body::Body;
use axum::extract::{Path, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use berth_api::{ExecInspect, ExecProcessConfig};
use std::time::Duration;
use tokio::io::AsyncWriteExt;

pub async fn create(
    State(d): State<AppState>,
    Path(id): Path<String>,
    JsonBody(b): JsonBody<berth_api::ExecConfig>,
) -> Result<Response, ApiError> {
    let cfg = super::request::exec::config(b)?;
    let eid = exec::create(&d, &id, cfg)?;
    Ok((StatusCode::CREATED, Json(berth_api::IdResponse { id: eid })).into_response())
}

pub async fn start(State(d): State<AppState>, Path(id): Path<String>, mut req: Request) -> Result<Response, ApiError> {
    exec::get(&d, &id)?;
    let body = axum::body::to_bytes(std::mem::take(req.body_mut()), 1 << 20)
        .await
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
    // The process gets a terminal by the create call's `Tty`; what is sent back is framed by the
    // start call's, as dockerd does (docker-py starts a terminal exec with `Tty: false` and reads
    // frames). Without a body, the create call's. `ConsoleSize` is the create call's (the CLI
    // resizes at once).
    let (opts, raw_out) = if body.iter().all(|b| b.is_ascii_whitespace()) {
        (berth_api::ExecStartConfig::default(), None)
    } else {
        let o: berth_api::ExecStartConfig =
            serde_json::from_slice(&body).map_err(|e| ApiError::bad_request(format!("invalid JSON: {e}")))?;
        let tty = o.tty;
        (o, Some(tty))
    };
    let x = exec::claim(&d, &id)?;
    let raw_out = raw_out.unwrap_or(x.config.tty);
    if opts.detach {
        exec::start_detached(&d, x).await?;
        return Ok(StatusCode::OK.into_response());
    }
    let Some(on_upgrade) = req.extensions_mut().remove::<hyper::upgrade::OnUpgrade>() else {
        return Err(ApiError::bad_request("exec start needs a connection that can be hijacked"));
    };
    let upgrade_asked = req.headers().get(header::UPGRADE).is_some();
    tokio::spawn(async move {
        let Ok(upgraded) = on_upgrade.await else {
            return;
        };
        let mut io = hyper_util::rt::TokioIo::new(upgraded);
        // Started only now that the 101 answer is out: docker-py reads the raw socket after its
        // HTTP parser, which swallows whatever arrived together with the headers.
        let started = exec::begin(&d, &x).await;
        let err = started.as_ref().err().cloned();
        let (done_tx, done_rx) = tokio::sync::oneshot::channel::<()>();
        let waiter = tokio::spawn({
            let (d, x) = (d.clone(), x.clone());
            async move {
                exec::finish(d, x, started).await;
                let _ = done_tx.send(());
            }
        });
        if let Some(msg) = err {
            let text = format!("OCI runtime exec failed: {msg}\r\n");
            let _ = io.write_all(&if raw_out { text.into_bytes() } else { frame("stdout", text.as_bytes()) }).await;
        } else {
            let relayed = match x.config.tty || x.config.attach_stdin {
                true => relay_exec(&d, &x, &mut io, raw_out).await,
                false => Relayed::NotAttached,
            };
            match relayed {
                // The client pressed the detach keys: its connection ends now, the process runs on
                // (the waiter still records its exit), as with dockerd.
                Relayed::Detached => {
                    let _ = io.shutdown().await;
                    return;
                }
                Relayed::Ended => {}
                Relayed::NotAttached => {
                    if !stream_output(&d, &x, &mut io, done_rx, raw_out).await {
                        return;
                    }
                }
            }
        }
        let _ = waiter.await;
        let _ = io.shutdown().await;
    });
    let mut r = Response::new(Body::empty());
    if upgrade_asked {
        *r.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
        r.headers_mut().insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
        r.headers_mut().insert(header::UPGRADE, HeaderValue::from_static("tcp"));
    }
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/vnd.docker.multiplexed-stream"));
    Ok(r)
}

/// Streams a non-interactive exec's output from its log until its exit; false when the client
/// went away.
async fn stream_output<IO: tokio::io::AsyncWrite + Unpin>(
    d: &crate::engine::daemon::Daemon,
    x: &ExecInfo,
    io: &mut IO,
    mut done_rx: tokio::sync::oneshot::Receiver<()>,
    raw_out: bool,
) -> bool {
    let f = Filter { stdout: x.config.attach_stdout, stderr: x.config.attach_stderr, ..Default::default() };
    let mut fol = Follower::new(&x.output_path(d), 0);
    let tty = raw_out;
    loop {
        let done = done_rx.try_recv().is_ok();
        for l in fol.poll(&f).unwrap_or_default() {
            if io.write_all(&crate::logs::encode(&l, tty, false)).await.is_err() {
                return false;
            }
        }
        if done {
            return true;
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(20)) => {}
            _ = &mut done_rx => {
                // One more turn reads what was written before the exit was recorded.
                for l in fol.poll(&f).unwrap_or_default() {
                    let _ = io.write_all(&crate::logs::encode(&l, tty, false)).await;
                }
                return true;
            }
        }
    }
}

pub async fn inspect(State(d): State<AppState>, Path(id): Path<String>) -> Result<Json<ExecInspect>, ApiError> {
    let x = exec::get(&d, &id)?;
    let mut cmd = x.config.cmd.clone();
    let entry = if cmd.is_empty() { String::new() } else { cmd.remove(0) };
    Ok(Json(ExecInspect {
        id: x.id.clone(),
        running: x.running,
        exit_code: x.exit_code.map(i64::from),
        process_config: ExecProcessConfig {
            tty: x.config.tty,
            entrypoint: entry,
            arguments: cmd,
            privileged: x.config.privileged,
            user: x.config.user.clone().unwrap_or_default(),
        },
        open_stdin: x.config.attach_stdin,
        open_stderr: x.config.attach_stderr,
        open_stdout: x.config.attach_stdout,
        can_remove: false,
        container_id: x.container_id.clone(),
        detach_keys: x.config.detach_keys_spec.clone(),
        pid: i64::from(x.pid),
    }))
}

/// `POST /exec/{id}/resize?h=&w=`: the exec's terminal size, through the monitor that holds it.
pub async fn resize(
    State(d): State<AppState>,
    Path(id): Path<String>,
    axum::extract::Query(q): axum::extract::Query<std::collections::HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let dim = |k: &str| {
        q.get(k).map(|v| v.parse::<u16>().map_err(|_| ApiError::bad_request(format!("invalid {k}: {v}")))).transpose()
    };
    let (Some(h), Some(w)) = (dim("h")?, dim("w")?) else {
        return Err(ApiError::bad_request("resize needs h and w"));
    };
    exec::resize(&d, &id, h, w).await?;
    Ok(StatusCode::OK.into_response())
}

/// How an interactive exec's relay ended.
enum Relayed {
    /// The exec was already over: its output is streamed from its log like a plain exec's.
    NotAttached,
    /// The exec ended (or the client went away).
    Ended,
    /// The client typed the detach keys.
    Detached,
}

/// Attaches the hijacked connection to the running exec through its monitor.
async fn relay_exec<IO: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin>(
    d: &crate::engine::daemon::Daemon,
    x: &ExecInfo,
    io: &mut IO,
    raw_out: bool,
) -> Relayed {
    let Ok((mon_r, mon_w)) = exec::attach(d, x).await else {
        return Relayed::NotAttached;
    };
    let (client_r, client_w) = tokio::io::split(io);
    let reframe = super::reframe::Reframe::between(x.config.tty, raw_out);
    match super::attach::pump(client_r, client_w, mon_r, mon_w, &x.config.detach_keys, reframe).await {
        true => Relayed::Detached,
        false => Relayed::Ended,
    }
}
