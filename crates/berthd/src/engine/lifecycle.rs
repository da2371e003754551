//! Container lifecycle: create, start (`start.rs`), stop, kill, remove, wait, restart, and what happens when a
//! container exits. Each operation on a container holds its `op` lock, so two requests never
//! interleave on one container; state changes are persisted before they are announced.

use crate::engine::daemon::Daemon;
use crate::engine::store::Entry;
use crate::engine::EngineError;
use crate::model::{Container, Status};
use crate::monitor::{self, MonitorPaths};
use berth_proto::ExitRecord;
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
mod start;
pub mod update;
mod validate;

pub use create::create;
pub use restart::apply_restart_policies;
pub use start::start;
pub(crate) use start::{restart_locked, start_locked};

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
    if c.state.status == Status::Exited {
        let (path, e2) = (c.options.cgroups_path.clone(), e.clone());
        tokio::spawn(async move {
            crate::cgroups::remove_monitor_once_gone(&path, || e2.status() == Status::Exited).await;
        });
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
