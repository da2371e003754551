//! Container lifecycle: create, start, stop, kill, remove, wait, restart, and what happens when a
//! container exits. Each operation on a container holds its `op` lock, so two requests never
//! interleave on one container; state changes are persisted before they are announced.

use crate::engine::daemon::Daemon;
use crate::engine::store::Entry;
use crate::engine::EngineError;
use crate::model::{Container, Status, ZERO_TIME};
use crate::monitor::{self, MonitorPaths};
use berth_proto::{ExitRecord, LogConfig, RuntimeSpec, ShimConfig, StartReport};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

pub mod create;
mod endpoints;
pub mod mounts;
pub mod pause;
pub mod rename;
pub(crate) mod restart;
mod spec;
pub mod update;
mod validate;

pub use create::create;
pub use restart::apply_restart_policies;

/// `ConsoleSize` `[height, width]` of a terminal, when both are given.
pub fn console_size(tty: bool, size: Option<&[u64]>) -> Option<(u16, u16)> {
    match size? {
        [h, w] if tty && *h > 0 && *w > 0 => Some(((*h).min(u16::MAX as u64) as u16, (*w).min(u16::MAX as u64) as u16)),
        _ => None,
    }
}

/// Event attributes Docker attaches to container events: name, image, and the labels.
pub fn attrs(c: &Container) -> BTreeMap<String, String> {
    let mut a: BTreeMap<String, String> = c.config.labels.clone().unwrap_or_default().into_iter().collect();
    a.insert("name".into(), c.name.clone());
    a.insert("image".into(), c.config.image.clone().unwrap_or_default());
    a
}

fn emit(d: &Daemon, c: &Container, action: &str) {
    d.events.emit("container", action, &c.id, attrs(c));
}

/// Parses a signal as Docker accepts it: number, `KILL`, `SIGKILL`.
pub fn parse_signal(s: &str) -> Result<i32, EngineError> {
    let s = s.trim();
    if let Ok(n) = s.parse::<i32>() {
        if (1..=64).contains(&n) {
            return Ok(n);
        }
        return Err(EngineError::invalid(format!("Invalid signal: {s}")));
    }
    let up = s.to_ascii_uppercase();
    let name = up.strip_prefix("SIG").unwrap_or(&up);
    let name = format!("SIG{name}");
    name.parse::<nix::sys::signal::Signal>()
        .map(|s| s as i32)
        .map_err(|_| EngineError::invalid(format!("Invalid signal: {s}")))
}

fn stop_signal(c: &Container) -> i32 {
    c.config.stop_signal.as_deref().and_then(|s| parse_signal(s).ok()).unwrap_or(libc::SIGTERM)
}

fn stop_timeout(c: &Container) -> i64 {
    c.config.stop_timeout.unwrap_or(10)
}

/// Starts a created or exited container: mount its rootfs, write its OCI spec, launch its monitor.
pub async fn start(d: &Arc<Daemon>, e: &Arc<Entry>) -> Result<(), EngineError> {
    let _op = e.op.lock().await;
    start_locked(d, e).await
}

pub(crate) async fn start_locked(d: &Arc<Daemon>, e: &Arc<Entry>) -> Result<(), EngineError> {
    match e.status() {
        Status::Created | Status::Exited | Status::Dead => {}
        Status::Paused => return Err(EngineError::conflict("cannot start a paused container, try unpause instead")),
        Status::Removing => {
            return Err(EngineError::conflict("container is marked for removal and cannot be started".to_string()))
        }
        _ => return Ok(()), // Docker answers 304 Not Modified; the handler checks first.
    }
    launch(d, e).await
}

/// The restart policy's start (the op lock held): from restarting straight to running, as with
/// dockerd, so that no client sees the container exited between two incarnations (a `wait`
/// would answer the previous exit twice).
pub(crate) async fn restart_locked(d: &Arc<Daemon>, e: &Arc<Entry>) -> Result<(), EngineError> {
    if e.status() != Status::Restarting {
        return Ok(());
    }
    launch(d, e).await
}

async fn launch(d: &Arc<Daemon>, e: &Arc<Entry>) -> Result<(), EngineError> {
    let c = e.snapshot();
    let driver = d.driver(&c.options.storage_driver).map_err(|e| EngineError::internal(e.to_string()))?;
    let cid = c.id.clone();
    let rootfs = tokio::task::spawn_blocking(move || driver.mount(&cid))
        .await?
        .map_err(|e| EngineError::internal(format!("mounting the container's filesystem: {e}")))?;
    let paths = MonitorPaths::new(&d.config().exec_root, &c.id);
    if c.options.userns.is_some() {
        let (d2, c2) = (d.clone(), c.clone());
        let ns = c.endpoint.is_some().then(|| d.net.netns_path(&c.id));
        if let Err(msg) =
            tokio::task::spawn_blocking(move || crate::engine::userns::prepare(&d2, &c2, ns.as_deref())).await?
        {
            release_resources(d, e).await;
            return Err(fail_start(e, msg));
        }
    }
    let mut net_job = None;
    let netns = if c.endpoint.is_some() {
        let (d2, c2) = (d.clone(), c.clone());
        match tokio::task::spawn_blocking(move || d2.net.prepare(&d2, &c2)).await? {
            Ok((ns, ep)) => {
                e.update(|x| x.endpoint = Some(ep.clone()))?;
                // The veth and address are set up while the monitor runs `runtime create`; the
                // monitor starts the process only once the gate says the network is ready.
                let (d3, id3, ns3, extra) = (d.clone(), c.id.clone(), ns.clone(), c.extra_endpoints.clone());
                net_job = Some(tokio::task::spawn_blocking(move || {
                    d3.net.connect(&d3, &id3, &ep, &ns3)?;
                    extra.iter().try_for_each(|x| d3.net.connect(&d3, &id3, x, &ns3))
                }));
                Some(ns)
            }
            Err(err) => {
                release_resources(d, e).await;
                let msg = format!("driver failed programming external connectivity on endpoint {}: {err}", c.name);
                let _ = e.update(|x| x.state.error = msg.clone());
                return Err(EngineError::internal(msg));
            }
        }
    } else {
        None
    };
    let c = e.snapshot();
    if c.mounts.iter().any(|m| m.copy_up) {
        let (d2, mounts, root) = (d.clone(), c.mounts.clone(), rootfs.clone());
        tokio::task::spawn_blocking(move || mounts::copy_up(&d2, &mounts, &root)).await?;
    }
    // Legacy links give the process their children's addresses and environment (not the record).
    let spec_of = match crate::engine::links::env(d, &c) {
        Ok(env) if env.is_empty() => c.clone(),
        Ok(env) => {
            let mut with_links = c.clone();
            with_links.config.env.get_or_insert_with(Vec::new).extend(env);
            with_links
        }
        Err(err) => {
            let _ = release_resources(d, e).await;
            return Err(err);
        }
    };
    if c.host_config.links.is_some() || c.endpoints().any(|ep| !ep.links.is_empty()) {
        d.net.refresh_hosts_of(d, &c.id);
    }
    let spec = spec::build(&spec_of, &rootfs, netns.as_deref(), &d.config()).and_then(|mut s| {
        crate::engine::userns::apply_to_spec(&d.config(), &c, &mut s)?;
        Ok(s)
    });
    let spec = match spec {
        Ok(s) => s,
        Err(msg) => {
            let _ = release_resources(d, e).await;
            return Err(fail_start(e, msg));
        }
    };
    berth_proto::fsutil::create_dir_mode(&paths.state_dir, berth_proto::fsutil::modes::PRIVATE_DIR)?;
    berth_proto::fsutil::write_json_runtime(&paths.state_dir.join("config.json"), &spec)?;
    let health = crate::engine::health::shim_spec(&c, &spec, &paths.state_dir).map_err(EngineError::internal)?;
    // A stale exit record from the previous run must never be taken for this one's.
    let _ = std::fs::remove_file(e.dir.join(berth_proto::paths::EXIT_RECORD));
    previous_monitor_gone(d, &c.id).await?;
    let _ = std::fs::remove_file(paths.record());
    let cfg = d.config();
    let runtime_root = cfg.exec_root.join("runtime").join(&c.options.runtime);
    let mut rt_args = vec!["--root".to_string(), runtime_root.display().to_string()];
    rt_args.extend(c.options.runtime_args.iter().cloned());
    let shim_cfg = ShimConfig {
        id: c.id.clone(),
        bundle: paths.state_dir.clone(),
        state_dir: paths.state_dir.clone(),
        container_dir: e.dir.clone(),
        runtime: RuntimeSpec { name: c.options.runtime.clone(), path: c.options.runtime_path.clone(), args: rt_args },
        log: LogConfig { path: log_target(&c), max_size: c.options.log_max_size, max_file: c.options.log_max_file },
        terminal: c.config.tty.unwrap_or(false),
        open_stdin: c.config.open_stdin.unwrap_or(false),
        stdin_once: c.config.stdin_once.unwrap_or(false),
        start_gate: net_job.as_ref().map(|_| paths.state_dir.join("start-gate")),
        restart: restart::monitor_spec(&c),
        daemon_lock: Some(cfg.pidfile.clone()),
        health,
        console_size: console_size(c.config.tty.unwrap_or(false), c.host_config.console_size.as_deref()),
        dns: crate::engine::dns::spec(&c, netns.as_deref()),
        monitor_cgroup: Some(crate::cgroups::monitor_path(&c.options.cgroups_path)),
    };
    if let Some(g) = &shim_cfg.start_gate {
        let _ = std::fs::remove_file(g);
    }
    // The config below carries the current policy: an override from an earlier `update` is stale.
    let _ = std::fs::remove_file(e.dir.join(berth_proto::paths::RESTART_POLICY));
    berth_proto::fsutil::write_json_runtime(&paths.state_dir.join(berth_proto::paths::CONFIG), &shim_cfg)?;
    berth_proto::crashpoint::hit("start.after-prepare");
    e.update(|x| {
        x.state.before_start = Some(c.state.status);
        x.state.status = Status::Starting;
    })?;
    let gate = shim_cfg.start_gate.clone();
    let name = c.name.clone();
    let open_gate = async move {
        let (Some(job), Some(gate)) = (net_job, gate) else {
            return;
        };
        let verdict = match job.await {
            Ok(Ok(())) => "ok".to_string(),
            Ok(Err(err)) => format!("fail: driver failed programming external connectivity on endpoint {name}: {err}"),
            Err(err) => format!("fail: network set-up task failed: {err}"),
        };
        berth_proto::crashpoint::hit("start.before-gate");
        if let Err(err) = berth_proto::fsutil::write_runtime(&gate, verdict.as_bytes()) {
            tracing::error!("writing the start gate: {err}");
        }
    };
    let (report, ()) = tokio::join!(monitor::launch(&c.options.shim_binary, &shim_cfg), open_gate);
    match report {
        Ok(StartReport::Started { container_pid, container_start_time, started_at, .. }) => {
            berth_proto::crashpoint::hit("start.after-launch");
            // The monitor's own version and protocol, as it recorded them (inspect shows them).
            let mon = crate::engine::watcher::read_monitor(d, &c.id);
            e.update(|c| {
                if let Some(m) = mon {
                    c.options.shim_version = m.shim_version;
                    c.options.protocol = m.protocol;
                }
                c.state.status = Status::Running;
                c.state.before_start = None;
                c.state.pid = container_pid;
                c.state.pid_start_time = container_start_time;
                c.state.started_at = started_at;
                c.state.finished_at = ZERO_TIME.into();
                c.state.exit_code = 0;
                c.state.error.clear();
                c.state.reason.clear();
                c.state.oom_killed = false;
                c.state.stopped_by_user = false;
            })?;
            // At the time the process started: a container quicker than this line must not show
            // its `die` before its `start` in the history.
            let c = e.snapshot();
            let when =
                chrono::DateTime::parse_from_rfc3339(&c.state.started_at).ok().and_then(|t| t.timestamp_nanos_opt());
            match when {
                Some(t) => d.events.emit_at("container", "start", &c.id, attrs(&c), t),
                None => emit(d, &c, "start"),
            }
            crate::engine::watcher::spawn(d.clone(), e.clone());
            Ok(())
        }
        Ok(StartReport::Failed { message }) | Err(monitor::MonitorError::StartFailed(message)) => {
            let _ = release_resources(d, e).await;
            Err(fail_start(e, message))
        }
        Err(err) => {
            let _ = release_resources(d, e).await;
            Err(fail_start(e, err.to_string()))
        }
    }
}

/// The previous run's monitor reports the exit before it runs `runtime delete` and leaves: a
/// start that follows at once (`restart`, a restart policy, a quick `docker start`) must not have
/// the runtime create a container whose namesake is still being deleted.
async fn previous_monitor_gone(d: &Daemon, id: &str) -> Result<(), EngineError> {
    let Some(m) = crate::engine::watcher::read_monitor(d, id) else {
        return Ok(());
    };
    let old = berth_sys::ProcessIdentity { pid: m.shim_pid, start_time: m.shim_start_time };
    let t0 = std::time::Instant::now();
    while old.is_alive() {
        if t0.elapsed() > Duration::from_secs(10) {
            return Err(EngineError::conflict(format!(
                "the previous monitor of this container (pid {}) has not exited yet; try again",
                m.shim_pid
            )));
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    Ok(())
}

/// A start that failed leaves the container as Docker does: its error recorded, exit code 128
/// for "cannot run" (127 for a missing command, 126 for not executable).
fn fail_start(e: &Entry, message: String) -> EngineError {
    let code = if message.contains("not found") || message.contains("no such file") {
        127
    } else if message.contains("permission denied") {
        126
    } else {
        128
    };
    let _ = e.update(|c| {
        let before = c.state.before_start.take().unwrap_or(c.state.status);
        c.state.status =
            if before == Status::Created || before == Status::Starting { Status::Created } else { Status::Exited };
        c.state.exit_code = code;
        c.state.error = message.clone();
    });
    let msg = format!("failed to create task for container: {message}");
    if code == 127 || code == 126 {
        EngineError::invalid(msg)
    } else {
        EngineError::internal(msg)
    }
}

/// Sends a signal through the container's monitor, or, for an orphan, through its verified pid.
pub async fn signal(d: &Daemon, e: &Entry, sig: i32) -> Result<(), EngineError> {
    let c = e.snapshot();
    match c.state.status {
        Status::Running | Status::Restoring | Status::Paused | Status::Restarting => {
            let p = MonitorPaths::new(&d.config().exec_root, &c.id);
            match monitor::signal(&p.socket(), sig).await {
                Ok(()) if c.state.status == Status::Paused && sig == libc::SIGKILL => {
                    // A frozen process dies of SIGKILL only once thawed (dockerd thaws too).
                    let _ = crate::cgroupctl::freeze(&c.options.cgroups_path, false);
                    Ok(())
                }
                Ok(()) => Ok(()),
                Err(err) => {
                    // Monitor unreachable: signal the verified process directly; never a bare pid.
                    let id = berth_sys::ProcessIdentity { pid: c.state.pid, start_time: c.state.pid_start_time };
                    berth_sys::kill_verified(&id, sig).map_err(|e| {
                        EngineError::internal(format!("cannot signal container {}: {err}; {e}", c.short_id()))
                    })
                }
            }
        }
        Status::Orphaned => {
            let id = berth_sys::ProcessIdentity { pid: c.state.pid, start_time: c.state.pid_start_time };
            berth_sys::kill_verified(&id, sig)
                .map_err(|e| EngineError::internal(format!("cannot signal orphaned container: {e}")))
        }
        _ => Err(EngineError::conflict(format!("Container {} is not running", c.id))),
    }
}

/// Waits until the container is no longer live; false on timeout.
pub async fn wait_not_live(e: &Entry, timeout: Duration) -> bool {
    let mut rx = e.changed.subscribe();
    let fut = async {
        loop {
            if !e.status().is_live() {
                return;
            }
            if rx.changed().await.is_err() {
                return;
            }
        }
    };
    tokio::time::timeout(timeout, fut).await.is_ok()
}

/// Docker's stop: stop signal, wait `timeout` (container's, or 10 s), then SIGKILL.
pub async fn stop(d: &Arc<Daemon>, e: &Arc<Entry>, timeout: Option<i64>, by_user: bool) -> Result<(), EngineError> {
    let _op = e.op.lock().await;
    stop_locked(d, e, timeout, None, by_user).await
}

pub(crate) async fn stop_locked(
    d: &Arc<Daemon>,
    e: &Arc<Entry>,
    timeout: Option<i64>,
    sig: Option<i32>,
    by_user: bool,
) -> Result<(), EngineError> {
    let c = e.snapshot();
    if !c.state.status.is_live() {
        return Ok(());
    }
    if c.state.status == Status::Restarting {
        // Between two runs there is no process: cancelling the pending restart is the stop.
        e.update(|c| {
            c.state.status = Status::Exited;
            c.state.stopped_by_user |= by_user;
        })?;
        emit(d, &e.snapshot(), "stop");
        return Ok(());
    }
    if by_user {
        e.update(|c| c.state.stopped_by_user = true)?;
    }
    if c.state.status == Status::Paused {
        // A frozen process cannot act on its stop signal: thaw it first, as dockerd does.
        let path = c.options.cgroups_path.clone();
        if let Err(err) = tokio::task::spawn_blocking(move || crate::cgroupctl::freeze(&path, false)).await? {
            tracing::warn!(id = %c.short_id(), "unpausing before the stop: {err}");
        }
        e.update(|x| x.state.status = Status::Running)?;
    }
    let t = timeout.unwrap_or_else(|| stop_timeout(&c));
    let sig = sig.unwrap_or_else(|| stop_signal(&c));
    if t != 0 {
        if let Err(err) = signal(d, e, sig).await {
            tracing::warn!(id = %c.short_id(), "stop signal failed: {}", err);
        }
        berth_proto::crashpoint::hit("stop.after-signal");
        // A negative timeout waits forever, as Docker's does.
        let wait = if t < 0 { Duration::from_secs(u64::MAX / 4) } else { Duration::from_secs(t as u64) };
        if wait_not_live(e, wait).await {
            emit(d, &e.snapshot(), "stop");
            return Ok(());
        }
        tracing::info!(id = %c.short_id(), "container did not stop within {t}s: killing it");
    }
    let _ = signal(d, e, libc::SIGKILL).await;
    if !wait_not_live(e, Duration::from_secs(10)).await {
        return Err(EngineError::internal(format!("container {} did not exit after SIGKILL", c.short_id())));
    }
    emit(d, &e.snapshot(), "stop");
    Ok(())
}

/// `docker kill`.
pub async fn kill(d: &Arc<Daemon>, e: &Arc<Entry>, sig: i32) -> Result<(), EngineError> {
    let c = e.snapshot();
    if !c.state.status.is_live() {
        return Err(EngineError::conflict(format!(
            "cannot kill container: {}: container {} is not running",
            c.id, c.id
        )));
    }
    e.update(|c| c.state.stopped_by_user = true)?;
    signal(d, e, sig).await?;
    let mut a = attrs(&c);
    a.insert("signal".into(), sig.to_string());
    d.events.emit("container", "kill", &c.id, a);
    if sig == libc::SIGKILL {
        wait_not_live(e, Duration::from_secs(10)).await;
    }
    Ok(())
}

/// Records an exit reported by the monitor (or found on disk after an outage), with its true time.
pub async fn on_exit(d: Arc<Daemon>, e: Arc<Entry>, rec: ExitRecord) {
    crate::engine::incarnations::replay(&d, &e);
    let already = e.snapshot();
    if matches!(already.state.status, Status::Exited | Status::Restarting)
        && already.state.finished_at == rec.finished_at
    {
        return;
    }
    // Storage and network are released before the exit is recorded: whoever waits for the exit
    // (stop, restart) may start the container again at once, and must find them free.
    release_resources(&d, &e).await;
    let may_restart = !d.is_shutting_down();
    let _ = e.update(|c| {
        c.state.status = Status::Exited;
        c.state.exit_code = rec.exit_code;
        c.state.finished_at = rec.finished_at.clone();
        c.state.oom_killed = rec.oom_killed;
        c.state.reason.clear();
        if rec.unknown {
            // Never a made-up status: only a process's parent learns how it ended.
            let why = "exit status unknown: the container was adopted, and only its parent could learn how it ended";
            c.state.reason = why.into();
            c.state.error = why.into();
        }
        if may_restart && restart::wants_restart(c, false) {
            c.state.status = Status::Restarting;
        }
    });
    let c = e.snapshot();
    let when = chrono::DateTime::parse_from_rfc3339(&rec.finished_at)
        .ok()
        .and_then(|t| t.timestamp_nanos_opt())
        .unwrap_or_else(|| chrono::Utc::now().timestamp_nanos_opt().unwrap_or(0));
    if rec.oom_killed {
        d.events.emit_at("container", "oom", &c.id, attrs(&c), when);
    }
    let mut a = attrs(&c);
    a.insert("exitCode".into(), rec.exit_code.to_string());
    d.events.emit_at("container", "die", &c.id, a, when);
    tracing::info!(id = %c.short_id(), exit_code = rec.exit_code, "container exited");
    if d.is_shutting_down() {
        return;
    }
    berth_proto::crashpoint::hit("exit.before-auto-remove");
    if auto_remove(&d, &e) {
        return;
    }
    restart::after_exit(d, e).await;
}

/// Removes an exited `--rm` container (and its anonymous volumes) in the background; false if it
/// is not one or the daemon is shutting down.
pub fn auto_remove(d: &Arc<Daemon>, e: &Arc<Entry>) -> bool {
    if !e.snapshot().host_config.auto_remove.unwrap_or(false) || d.is_shutting_down() {
        return false;
    }
    let (d2, e2) = (d.clone(), e.clone());
    tokio::spawn(async move {
        // Not forced: a container started again in the meantime is left running.
        if let Err(err) = remove(&d2, &e2, false, true).await {
            tracing::warn!("auto-remove failed: {}", err);
        }
    });
    true
}

/// Unmounts the rootfs of a container that no longer runs and takes down its network endpoint.
/// Idempotent.
pub async fn release_resources(d: &Arc<Daemon>, e: &Arc<Entry>) {
    let c = e.snapshot();
    // Even with no endpoint left (all disconnected), a namespace file may still be mounted.
    if d.net.netns_path(&c.id).exists() {
        let (d2, c2) = (d.clone(), c.clone());
        let _ = tokio::task::spawn_blocking(move || d2.net.teardown(&d2, &c2)).await;
    }
    crate::engine::userns::release(&d.config(), &c.id);
    if let Ok(driver) = d.driver(&c.options.storage_driver) {
        let id = c.id.clone();
        let _ = tokio::task::spawn_blocking(move || {
            if let Err(err) = driver.unmount(&id) {
                tracing::warn!(id = %&id[..12], "unmount: {err}");
            }
        })
        .await;
    }
}

/// The anonymous volumes made for `c` (`-v /path`, the image's VOLUMEs) that no other container
/// mounts: `rm -v` and `--rm` remove them, as Docker does.
pub fn remove_anonymous_volumes(d: &Daemon, c: &Container) {
    for name in c.mounts.iter().filter_map(|m| m.name.as_ref()) {
        let anonymous = d.volumes.get(name).is_some_and(|v| v.anonymous);
        let shared = d
            .store
            .all()
            .iter()
            .map(|e| e.snapshot())
            .any(|o| o.id != c.id && o.mounts.iter().any(|m| m.name.as_ref() == Some(name)));
        if anonymous && !shared {
            if let Err(err) = d.volumes.remove(name) {
                tracing::warn!(id = %c.short_id(), "removing volume {name}: {err}");
            }
        }
    }
}

/// `docker rm`: refuses a running container unless forced; then removes its storage, records and
/// logs (and with `volumes`, its anonymous volumes).
pub async fn remove(d: &Arc<Daemon>, e: &Arc<Entry>, force: bool, volumes: bool) -> Result<(), EngineError> {
    let _op = e.op.lock().await;
    let c = e.snapshot();
    if c.state.status == Status::Removing {
        return Err(EngineError::conflict(format!("removal of container {} is already in progress", c.id)));
    }
    if c.state.status.is_live() {
        if !force {
            let what = match c.state.status {
                Status::Paused => "paused",
                Status::Restarting => "restarting",
                _ => "running",
            };
            return Err(EngineError::conflict(format!(
                "cannot remove container \"/{}\": container is {what}: stop the container before removing or force remove",
                c.name
            )));
        }
        stop_locked(d, e, Some(0), Some(libc::SIGKILL), true).await?;
    }
    e.update(|c| c.state.status = Status::Removing)?;
    let driver = d.driver(&c.options.storage_driver).map_err(|e| EngineError::internal(e.to_string()))?;
    let id = c.id.clone();
    tokio::task::spawn_blocking(move || driver.remove(&id))
        .await?
        .map_err(|err| EngineError::internal(format!("removing the container's filesystem: {err}")))?;
    berth_proto::crashpoint::hit("rm.after-storage");
    let paths = MonitorPaths::new(&d.config().exec_root, &c.id);
    let _ = std::fs::remove_dir_all(&paths.state_dir);
    crate::cgroups::remove_with_monitor(&c.options.cgroups_path).await;
    for ep in c.endpoints() {
        d.net.release(&c.id, ep);
    }
    d.store.remove(&c.id);
    std::fs::remove_dir_all(&e.dir)?;
    if volumes {
        remove_anonymous_volumes(d, &c);
    }
    emit(d, &c, "destroy");
    e.changed.send_modify(|n| *n += 1);
    Ok(())
}

/// Where the monitor writes the container's output: its json-file log, or nowhere for the
/// `none` driver. Only the monitor is told /dev/null: the record keeps the log's own path, which
/// removal deletes.
fn log_target(c: &Container) -> std::path::PathBuf {
    if c.log_discarded() {
        std::path::PathBuf::from("/dev/null")
    } else {
        c.log_path.clone()
    }
}
