//! `docker exec`: a process started in a running container by the container's monitor (the
//! daemon never forks container processes). Its output is in the file the monitor writes, read
//! like container logs; its exit comes from the monitor. Execs live in memory only, as in Docker.

use crate::engine::daemon::Daemon;
use crate::engine::EngineError;
use crate::model::Status;
use crate::monitor::{MonitorConn, MonitorError, MonitorPaths};
use berth_proto::{ExitRecord, Request as ShimRequest, Response as ShimResponse};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::BufReader;
use tokio::net::unix::{OwnedReadHalf, OwnedWriteHalf};

/// What the exec runs, as `exec create` asked.
#[derive(Debug, Clone, Default)]
pub struct ExecConfig {
    pub attach_stdin: bool,
    pub attach_stdout: bool,
    pub attach_stderr: bool,
    pub tty: bool,
    pub env: Vec<String>,
    pub cmd: Vec<String>,
    pub privileged: bool,
    pub user: Option<String>,
    pub working_dir: Option<String>,
    /// The validated `detachKeys` sequence for an interactive exec.
    pub detach_keys: Vec<u8>,
    /// `detachKeys` as given, shown by inspect.
    pub detach_keys_spec: String,
    /// `ConsoleSize` `[height, width]` as given.
    pub console_size: Option<Vec<u64>>,
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

impl ExecInfo {
    /// The file the monitor writes the exec's output to (json-file lines).
    pub fn output_path(&self, d: &Daemon) -> PathBuf {
        let paths = MonitorPaths::new(&d.config().exec_root, &self.container_id);
        paths.state_dir.join(berth_proto::paths::EXECS).join(&self.id).join(berth_proto::paths::EXEC_OUTPUT)
    }
}

fn exec_attrs(d: &Daemon, cid: &str, eid: &str) -> BTreeMap<String, String> {
    let mut a = d.store.get(cid).map(|e| crate::engine::lifecycle::attrs(&e.snapshot())).unwrap_or_default();
    a.insert("execID".into(), eid.into());
    a
}

/// `exec create`: records the exec; returns its id.
pub fn create(d: &Daemon, container: &str, cfg: ExecConfig) -> Result<String, EngineError> {
    let e = d.store.get(container)?;
    let c = e.snapshot();
    if !matches!(c.state.status, Status::Running | Status::Restoring) {
        return Err(EngineError::conflict(format!("container {} is not running", c.id)));
    }
    if cfg.cmd.is_empty() {
        return Err(EngineError::invalid("No exec command specified"));
    }
    let eid = crate::engine::store::new_id();
    let cmdline = cfg.cmd.join(" ");
    let info = ExecInfo {
        id: eid.clone(),
        container_id: c.id.clone(),
        config: cfg,
        running: false,
        started: false,
        exit_code: None,
        pid: 0,
    };
    d.execs.lock().expect("execs lock").insert(eid.clone(), info);
    d.events.emit("container", &format!("exec_create: {cmdline}"), &c.id, exec_attrs(d, &c.id, &eid));
    Ok(eid)
}

pub fn get(d: &Daemon, id: &str) -> Result<ExecInfo, EngineError> {
    d.execs
        .lock()
        .expect("execs lock")
        .get(id)
        .cloned()
        .ok_or_else(|| EngineError::not_found(format!("No such exec instance: {id}")))
}

fn set(d: &Daemon, id: &str, f: impl FnOnce(&mut ExecInfo)) {
    if let Some(x) = d.execs.lock().expect("execs lock").get_mut(id) {
        f(x);
    }
}

/// Marks the exec started (an exec starts once); returns it as it was.
pub fn claim(d: &Daemon, id: &str) -> Result<ExecInfo, EngineError> {
    let mut execs = d.execs.lock().expect("execs lock");
    let x = execs.get_mut(id).ok_or_else(|| EngineError::not_found(format!("No such exec instance: {id}")))?;
    if x.started {
        return Err(EngineError::conflict(format!("Exec {id} has already been started")));
    }
    x.started = true;
    Ok(x.clone())
}

/// Writes the OCI process of an exec: the container's own process settings with the exec's
/// command, environment, directory and user.
fn process_file(d: &Daemon, x: &ExecInfo) -> Result<PathBuf, String> {
    let e = d.store.get(&x.container_id).map_err(|e| e.to_string())?;
    let c = e.snapshot();
    let paths = MonitorPaths::new(&d.config().exec_root, &c.id);
    let spec: oci_spec::runtime::Spec = berth_proto::fsutil::read_json(&paths.state_dir.join("config.json"))
        .map_err(|e| e.to_string())?
        .ok_or("the container's runtime spec is missing")?;
    let mut p = spec.process().clone().ok_or("the container's runtime spec has no process")?;
    p.set_args(Some(x.config.cmd.clone()));
    p.set_terminal(Some(x.config.tty));
    let mut env = p.env().clone().unwrap_or_default();
    for kv in &x.config.env {
        let k = kv.split('=').next().unwrap_or("");
        env.retain(|v| v.split('=').next() != Some(k));
        env.push(kv.clone());
    }
    p.set_env(Some(env));
    if let Some(w) = x.config.working_dir.as_ref().filter(|w| !w.is_empty()) {
        p.set_cwd(w.into());
    }
    if let Some(u) = x.config.user.as_ref().filter(|u| !u.is_empty()) {
        let rootfs = spec.root().as_ref().map(|r| r.path().clone()).unwrap_or_else(|| "/nonexistent".into());
        let (uid, gid, mut extra) = crate::oci::resolve_user(&rootfs, u)?;
        // The container's `--group-add` applies to its execs too, as in Docker.
        extra.extend(crate::oci::group_add(&rootfs, c.host_config.group_add.as_deref().unwrap_or_default())?);
        let mut user = p.user().clone();
        user.set_uid(uid);
        user.set_gid(gid);
        user.set_additional_gids(Some(extra));
        p.set_user(user);
    }
    if x.config.privileged {
        // `docker exec --privileged`: every capability the daemon has, as dockerd gives it.
        p.set_capabilities(Some(crate::oci::capability_set(&crate::oci::caps::available())?));
    }
    let f = paths.state_dir.join(format!("exec-{}.json", x.id));
    berth_proto::fsutil::write_json_runtime(&f, &p).map_err(|e| e.to_string())?;
    Ok(f)
}

/// Asks the monitor to start the exec; Ok(pid) or the runtime's message.
async fn start_in_monitor(d: &Daemon, x: &ExecInfo) -> Result<i32, String> {
    let process = process_file(d, x)?;
    let paths = MonitorPaths::new(&d.config().exec_root, &x.container_id);
    let mut conn = MonitorConn::connect(&paths.socket(), Duration::from_secs(5)).await.map_err(|e| e.to_string())?;
    if !conn.capabilities.iter().any(|c| c == berth_proto::caps::EXEC) {
        return Err("this container's monitor does not support exec".into());
    }
    match conn
        .call(&ShimRequest::Exec {
            id: x.id.clone(),
            process,
            tty: x.config.tty,
            stdin: x.config.attach_stdin,
            console_size: crate::engine::lifecycle::console_size(x.config.tty, x.config.console_size.as_deref()),
        })
        .await
        .map_err(|e| e.to_string())?
    {
        ShimResponse::ExecStarted { pid } => Ok(pid),
        ShimResponse::Error { message } => Err(message),
        other => Err(format!("unexpected monitor reply {other:?}")),
    }
}

async fn wait_in_monitor(socket: PathBuf, id: String) -> Result<ExitRecord, String> {
    let mut conn = MonitorConn::connect(&socket, Duration::from_secs(5)).await.map_err(|e| e.to_string())?;
    match conn.call(&ShimRequest::WaitExec { id }).await.map_err(|e| e.to_string())? {
        ShimResponse::Exited(r) => Ok(r),
        ShimResponse::Error { message } => Err(message),
        other => Err(format!("unexpected monitor reply {other:?}")),
    }
}

/// The exit code of an exec that could not start, whatever the cause, as on dockerd (docker-py's
/// suite checks it); only `docker run` tells a missing command (127) from one that cannot run.
const FAILED_TO_START: i32 = 126;

/// Starts a claimed exec in its monitor; Ok(pid) or the runtime's message. The exit is then
/// collected by [`finish`], which the caller runs whatever the outcome.
pub async fn begin(d: &Daemon, x: &ExecInfo) -> Result<i32, String> {
    let started = start_in_monitor(d, x).await;
    match &started {
        Ok(pid) => {
            set(d, &x.id, |e| {
                e.running = true;
                e.pid = *pid;
            });
            let cmdline = x.config.cmd.join(" ");
            d.events.emit(
                "container",
                &format!("exec_start: {cmdline}"),
                &x.container_id,
                exec_attrs(d, &x.container_id, &x.id),
            );
        }
        Err(_) => set(d, &x.id, |e| e.exit_code = Some(FAILED_TO_START)),
    }
    started
}

/// Waits for a started exec's exit (or records a failed start's code) and emits `exec_die`.
pub async fn finish(d: Arc<Daemon>, x: ExecInfo, started: Result<i32, String>) {
    let paths = MonitorPaths::new(&d.config().exec_root, &x.container_id);
    let code = match started {
        Ok(_) => match wait_in_monitor(paths.socket(), x.id.clone()).await {
            Ok(r) => r.exit_code,
            Err(e) => {
                tracing::warn!("exec {}: {e}", &x.id[..12]);
                -1
            }
        },
        Err(_) => FAILED_TO_START,
    };
    set(&d, &x.id, |e| {
        e.running = false;
        e.exit_code = Some(code);
    });
    let mut a = exec_attrs(&d, &x.container_id, &x.id);
    a.insert("exitCode".into(), code.to_string());
    d.events.emit("container", "exec_die", &x.container_id, a);
}

/// `exec start` with `Detach`: the exec runs on; its exit is collected in the background.
pub async fn start_detached(d: &Arc<Daemon>, x: ExecInfo) -> Result<(), EngineError> {
    let started = begin(d, &x).await;
    if let Err(msg) = &started {
        return Err(EngineError::internal(format!("OCI runtime exec failed: {msg}")));
    }
    tokio::spawn(finish(d.clone(), x, started));
    Ok(())
}

/// Connects to the running exec's terminal or stdin through its monitor.
pub async fn attach(d: &Daemon, x: &ExecInfo) -> Result<(BufReader<OwnedReadHalf>, OwnedWriteHalf), MonitorError> {
    let paths = MonitorPaths::new(&d.config().exec_root, &x.container_id);
    let conn = MonitorConn::connect(&paths.socket(), Duration::from_secs(5)).await?;
    conn.attach_exec(&x.id, x.config.attach_stdin).await
}

/// `exec resize`: the exec's terminal size, through the monitor that holds it.
pub async fn resize(d: &Daemon, id: &str, h: u16, w: u16) -> Result<(), EngineError> {
    let x = get(d, id)?;
    if !x.config.tty || !x.running {
        return Ok(());
    }
    let p = MonitorPaths::new(&d.config().exec_root, &x.container_id);
    crate::monitor::resize(&p.socket(), h, w, Some(x.id.clone()))
        .await
        .map_err(|err| EngineError::internal(format!("resize: {err}")))
}
