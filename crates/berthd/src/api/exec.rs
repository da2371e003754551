//! `docker exec`: `/containers/{id}/exec`, `/exec/{id}/start|json|resize`. The process is started
//! by the container's monitor (the daemon never forks container processes); its output is read
//! from the file the monitor writes, like container logs.

use super::body::JsonBody;
use super::{ApiError, AppState};
use crate::logs::{frame, Filter, Follower};
use crate::model::Status;
use crate::monitor::{MonitorConn, MonitorPaths};
use axum::body::Body;
use axum::extract::{Path, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use berth_proto::{ExitRecord, Request as ShimRequest, Response as ShimResponse};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::time::Duration;
use tokio::io::AsyncWriteExt;

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ExecConfig {
    #[serde(default)]
    pub attach_stdin: bool,
    #[serde(default)]
    pub attach_stdout: bool,
    #[serde(default)]
    pub attach_stderr: bool,
    #[serde(default)]
    pub tty: bool,
    #[serde(default)]
    pub env: Option<Vec<String>>,
    #[serde(default)]
    pub cmd: Option<Vec<String>>,
    #[serde(default)]
    pub privileged: bool,
    #[serde(default)]
    pub user: Option<String>,
    #[serde(default)]
    pub working_dir: Option<String>,
    #[serde(default)]
    pub detach_keys: Option<String>,
}

#[derive(Debug, Clone)]
pub struct ExecInfo {
    pub id: String,
    pub container_id: String,
    pub config: ExecConfig,
    pub running: bool,
    pub started: bool,
    pub exit_code: Option<i32>,
    pub pid: i32,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ExecStart {
    #[serde(default)]
    pub detach: bool,
}

fn exec_attrs(d: &crate::daemon::Daemon, cid: &str, eid: &str) -> BTreeMap<String, String> {
    let mut a = d.store.get(cid).map(|e| crate::lifecycle::attrs(&e.snapshot())).unwrap_or_default();
    a.insert("execID".into(), eid.into());
    a
}

pub async fn create(
    State(d): State<AppState>,
    Path(id): Path<String>,
    JsonBody(cfg): JsonBody<ExecConfig>,
) -> Result<Response, ApiError> {
    let e = d.store.get(&id)?;
    let c = e.snapshot();
    if !matches!(c.state.status, Status::Running | Status::Restoring) {
        return Err(ApiError::conflict(format!("container {} is not running", c.id)));
    }
    if cfg.cmd.as_ref().is_none_or(|v| v.is_empty()) {
        return Err(ApiError::bad_request("No exec command specified"));
    }
    if let Err(msg) = super::attach::parse_detach_keys(cfg.detach_keys.as_deref()) {
        return Err(ApiError::bad_request(msg));
    }
    let eid = crate::state::new_id();
    let cmdline = cfg.cmd.clone().unwrap_or_default().join(" ");
    d.execs.lock().expect("execs lock").insert(
        eid.clone(),
        ExecInfo {
            id: eid.clone(),
            container_id: c.id.clone(),
            config: cfg,
            running: false,
            started: false,
            exit_code: None,
            pid: 0,
        },
    );
    d.events.emit("container", &format!("exec_create: {cmdline}"), &c.id, exec_attrs(&d, &c.id, &eid));
    Ok((StatusCode::CREATED, Json(serde_json::json!({"Id": eid}))).into_response())
}

fn get(d: &crate::daemon::Daemon, id: &str) -> Result<ExecInfo, ApiError> {
    d.execs
        .lock()
        .expect("execs lock")
        .get(id)
        .cloned()
        .ok_or_else(|| ApiError::not_found(format!("No such exec instance: {id}")))
}

fn set(d: &crate::daemon::Daemon, id: &str, f: impl FnOnce(&mut ExecInfo)) {
    if let Some(x) = d.execs.lock().expect("execs lock").get_mut(id) {
        f(x);
    }
}

/// Writes the OCI process of an exec: the container's own process settings with the exec's
/// command, environment, directory and user.
fn process_file(d: &crate::daemon::Daemon, x: &ExecInfo) -> Result<std::path::PathBuf, String> {
    let e = d.store.get(&x.container_id).map_err(|e| e.to_string())?;
    let c = e.snapshot();
    let paths = MonitorPaths::new(&d.config().exec_root, &c.id);
    let spec: serde_json::Value = berth_proto::fsutil::read_json(&paths.state_dir.join("config.json"))
        .map_err(|e| e.to_string())?
        .ok_or("the container's runtime spec is missing")?;
    let mut p = spec["process"].clone();
    p["args"] = serde_json::json!(x.config.cmd.clone().unwrap_or_default());
    p["terminal"] = serde_json::json!(x.config.tty);
    let mut env: Vec<String> = serde_json::from_value(p["env"].clone()).unwrap_or_default();
    for kv in x.config.env.clone().unwrap_or_default() {
        let k = kv.split('=').next().unwrap_or("").to_string();
        env.retain(|v| v.split('=').next() != Some(k.as_str()));
        env.push(kv);
    }
    p["env"] = serde_json::json!(env);
    if let Some(w) = x.config.working_dir.as_ref().filter(|w| !w.is_empty()) {
        p["cwd"] = serde_json::json!(w);
    }
    if let Some(u) = x.config.user.as_ref().filter(|u| !u.is_empty()) {
        let rootfs = std::path::PathBuf::from(spec["root"]["path"].as_str().unwrap_or("/nonexistent"));
        let (uid, gid, mut extra) = crate::oci::resolve_user(&rootfs, u)?;
        // The container's `--group-add` applies to its execs too, as in Docker.
        extra.extend(crate::oci::group_add(&rootfs, c.host_config.group_add.as_deref().unwrap_or_default())?);
        p["user"] = serde_json::json!({"uid": uid, "gid": gid, "additionalGids": extra});
    }
    if x.config.privileged {
        // `docker exec --privileged`: every capability the daemon has, as dockerd gives it.
        let all = crate::oci::caps::available();
        p["capabilities"] =
            serde_json::json!({"bounding": all, "effective": all, "permitted": all, "inheritable": [], "ambient": []});
    }
    let f = paths.state_dir.join(format!("exec-{}.json", x.id));
    berth_proto::fsutil::write_json_runtime(&f, &p).map_err(|e| e.to_string())?;
    Ok(f)
}

/// Asks the monitor to start the exec; Ok(pid) or the runtime's message.
async fn start_in_monitor(d: &crate::daemon::Daemon, x: &ExecInfo) -> Result<i32, String> {
    let process = process_file(d, x)?;
    let paths = MonitorPaths::new(&d.config().exec_root, &x.container_id);
    let mut conn = MonitorConn::connect(&paths.socket(), Duration::from_secs(5)).await.map_err(|e| e.to_string())?;
    if !conn.capabilities.iter().any(|c| c == berth_proto::caps::EXEC) {
        return Err("this container's monitor does not support exec".into());
    }
    match conn
        .call(&ShimRequest::Exec { id: x.id.clone(), process, tty: x.config.tty, stdin: x.config.attach_stdin })
        .await
        .map_err(|e| e.to_string())?
    {
        ShimResponse::ExecStarted { pid } => Ok(pid),
        ShimResponse::Error { message } => Err(message),
        other => Err(format!("unexpected monitor reply {other:?}")),
    }
}

async fn wait_in_monitor(socket: std::path::PathBuf, id: String) -> Result<ExitRecord, String> {
    let mut conn = MonitorConn::connect(&socket, Duration::from_secs(5)).await.map_err(|e| e.to_string())?;
    match conn.call(&ShimRequest::WaitExec { id }).await.map_err(|e| e.to_string())? {
        ShimResponse::Exited(r) => Ok(r),
        ShimResponse::Error { message } => Err(message),
        other => Err(format!("unexpected monitor reply {other:?}")),
    }
}

fn failed_code(msg: &str) -> i32 {
    if msg.contains("not found") || msg.contains("no such file") {
        127
    } else {
        126
    }
}

pub async fn start(State(d): State<AppState>, Path(id): Path<String>, mut req: Request) -> Result<Response, ApiError> {
    let x = get(&d, &id)?;
    if x.started {
        return Err(ApiError::conflict(format!("Exec {id} has already been started")));
    }
    let body = axum::body::to_bytes(std::mem::take(req.body_mut()), 1 << 20)
        .await
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
    let opts: ExecStart = if body.iter().all(|b| b.is_ascii_whitespace()) {
        ExecStart::default()
    } else {
        serde_json::from_slice(&body).map_err(|e| ApiError::bad_request(format!("invalid JSON: {e}")))?
    };
    set(&d, &id, |x| x.started = true);
    let cmdline = x.config.cmd.clone().unwrap_or_default().join(" ");
    let paths = MonitorPaths::new(&d.config().exec_root, &x.container_id);
    let output = paths.state_dir.join(berth_proto::paths::EXECS).join(&id).join(berth_proto::paths::EXEC_OUTPUT);
    let begin = {
        let (d, x, id) = (d.clone(), x.clone(), id.clone());
        move || async move {
            let started = start_in_monitor(&d, &x).await;
            if let Ok(pid) = started {
                set(&d, &id, |x| {
                    x.running = true;
                    x.pid = pid;
                });
                d.events.emit(
                    "container",
                    &format!("exec_start: {cmdline}"),
                    &x.container_id,
                    exec_attrs(&d, &x.container_id, &id),
                );
            }
            started
        }
    };
    let finish = {
        let (d, id, cid, socket) = (d.clone(), id.clone(), x.container_id.clone(), paths.socket());
        move |started: Result<i32, String>| async move {
            let code = match started {
                Ok(_) => match wait_in_monitor(socket, id.clone()).await {
                    Ok(r) => r.exit_code,
                    Err(e) => {
                        tracing::warn!("exec {}: {e}", &id[..12]);
                        -1
                    }
                },
                Err(msg) => failed_code(&msg),
            };
            set(&d, &id, |x| {
                x.running = false;
                x.exit_code = Some(code);
            });
            let mut a = exec_attrs(&d, &cid, &id);
            a.insert("exitCode".into(), code.to_string());
            d.events.emit("container", "exec_die", &cid, a);
        }
    };
    if opts.detach {
        let started = begin().await;
        if let Err(msg) = &started {
            set(&d, &id, |x| x.exit_code = Some(failed_code(msg)));
            return Err(ApiError::internal(format!("OCI runtime exec failed: {msg}")));
        }
        tokio::spawn(finish(started));
        return Ok(StatusCode::OK.into_response());
    }
    let Some(on_upgrade) = req.extensions_mut().remove::<hyper::upgrade::OnUpgrade>() else {
        return Err(ApiError::bad_request("exec start needs a connection that can be hijacked"));
    };
    let upgrade_asked = req.headers().get(header::UPGRADE).is_some();
    let interactive = x.config.tty || x.config.attach_stdin;
    let tty = x.config.tty;
    let d2 = d.clone();
    tokio::spawn(async move {
        let Ok(upgraded) = on_upgrade.await else {
            return;
        };
        let mut io = hyper_util::rt::TokioIo::new(upgraded);
        // Started only now that the 101 answer is out: docker-py reads the raw socket after its
        // HTTP parser, which swallows whatever arrived together with the headers.
        let started = begin().await;
        let err = started.as_ref().err().cloned();
        let (done_tx, mut done_rx) = tokio::sync::oneshot::channel::<()>();
        let waiter = tokio::spawn(async move {
            finish(started).await;
            let _ = done_tx.send(());
        });
        if let Some(msg) = err {
            let _ = io.write_all(&frame("stdout", format!("OCI runtime exec failed: {msg}\r\n").as_bytes())).await;
        } else if interactive && relay_exec(&d2, &x, &mut io).await {
            // Relayed through the monitor, which holds the exec's terminal or stdin.
        } else {
            let f = Filter { stdout: x.config.attach_stdout, stderr: x.config.attach_stderr, ..Default::default() };
            let mut fol = Follower::new(&output, 0);
            loop {
                let done = done_rx.try_recv().is_ok();
                for l in fol.poll(&f).unwrap_or_default() {
                    if io.write_all(&super::logs::encode(&l, tty, false)).await.is_err() {
                        return;
                    }
                }
                if done {
                    break;
                }
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_millis(20)) => {}
                    _ = &mut done_rx => {
                        // One more turn reads what was written before the exit was recorded.
                        for l in fol.poll(&f).unwrap_or_default() {
                            let _ = io.write_all(&super::logs::encode(&l, tty, false)).await;
                        }
                        break;
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

pub async fn inspect(State(d): State<AppState>, Path(id): Path<String>) -> Result<Json<serde_json::Value>, ApiError> {
    let x = get(&d, &id)?;
    let mut cmd = x.config.cmd.clone().unwrap_or_default();
    let entry = if cmd.is_empty() { String::new() } else { cmd.remove(0) };
    Ok(Json(serde_json::json!({
        "ID": x.id,
        "Running": x.running,
        "ExitCode": x.exit_code,
        "ProcessConfig": {"tty": x.config.tty, "entrypoint": entry, "arguments": cmd, "privileged": x.config.privileged, "user": x.config.user.clone().unwrap_or_default()},
        "OpenStdin": x.config.attach_stdin,
        "OpenStderr": x.config.attach_stderr,
        "OpenStdout": x.config.attach_stdout,
        "CanRemove": false,
        "ContainerID": x.container_id,
        "DetachKeys": x.config.detach_keys.clone().unwrap_or_default(),
        "Pid": x.pid,
    })))
}

/// `POST /exec/{id}/resize?h=&w=`: the exec's terminal size, through the monitor that holds it.
pub async fn resize(
    State(d): State<AppState>,
    Path(id): Path<String>,
    axum::extract::Query(q): axum::extract::Query<std::collections::HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let x = get(&d, &id)?;
    let dim = |k: &str| {
        q.get(k).map(|v| v.parse::<u16>().map_err(|_| ApiError::bad_request(format!("invalid {k}: {v}")))).transpose()
    };
    let (Some(h), Some(w)) = (dim("h")?, dim("w")?) else {
        return Err(ApiError::bad_request("resize needs h and w"));
    };
    if !x.config.tty || !x.running {
        return Ok(StatusCode::OK.into_response());
    }
    let p = MonitorPaths::new(&d.config().exec_root, &x.container_id);
    crate::monitor::resize(&p.socket(), h, w, Some(x.id.clone()))
        .await
        .map_err(|err| ApiError::internal(format!("resize: {err}")))?;
    Ok(StatusCode::OK.into_response())
}

/// Attaches the hijacked connection to the running exec through its monitor; false when the exec
/// was already over (its output is then streamed from its log like a plain exec's).
async fn relay_exec<IO: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin>(
    d: &crate::daemon::Daemon,
    x: &ExecInfo,
    io: &mut IO,
) -> bool {
    let paths = MonitorPaths::new(&d.config().exec_root, &x.container_id);
    let halves = match MonitorConn::connect(&paths.socket(), Duration::from_secs(5)).await {
        Ok(conn) => conn.attach_exec(&x.id, x.config.attach_stdin).await,
        Err(e) => Err(e),
    };
    let Ok((mon_r, mon_w)) = halves else {
        return false;
    };
    let keys = super::attach::parse_detach_keys(x.config.detach_keys.as_deref()).unwrap_or_default();
    let (client_r, client_w) = tokio::io::split(io);
    super::attach::pump(client_r, client_w, mon_r, mon_w, &keys).await;
    true
}
