//! Restore on start (invariants 3 and 6): every container recorded live is reconnected to its
//! monitor in parallel, within one time budget, while the API already answers. A container whose
//! monitor cannot be spoken to is shown with the reason, never killed on doubt.

use crate::engine::daemon::Daemon;
use crate::engine::store::Entry;
use crate::model::Status;
use crate::monitor::{MonitorConn, MonitorError, MonitorPaths};
use berth_proto::WireError;
use berth_sys::ProcessIdentity;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tracing::Instrument;

/// How long one monitor gets to answer the handshake before it is judged by its records.
const HANDSHAKE: Duration = Duration::from_secs(2);

pub async fn restore_all(d: Arc<Daemon>) {
    let t0 = Instant::now();
    // A daemon killed while launching a monitor: the monitor record decides what happened.
    for e in d.store.all().into_iter().filter(|e| e.status() == Status::Starting) {
        settle_starting(&d, &e).await;
    }
    let live: Vec<Arc<Entry>> = d.store.all().into_iter().filter(|e| e.status().is_live()).collect();
    // Only what was already stopped when the daemon came up gets tidied below; containers
    // created and started through the API meanwhile are not restore's business.
    let stopped: Vec<Arc<Entry>> = d
        .store
        .all()
        .into_iter()
        .filter(|e| matches!(e.status(), Status::Created | Status::Exited | Status::Dead))
        .collect();
    for e in &live {
        // In memory only: a crash now must not lose the "running" record.
        e.rec.lock().expect("lock").state.status = Status::Restoring;
        e.changed.send_modify(|n| *n += 1);
    }
    let mut tasks = Vec::with_capacity(live.len());
    for e in live.iter().cloned() {
        let d = d.clone();
        let id = e.snapshot().id;
        let span = tracing::info_span!("restore", id = %&id[..12]);
        tasks.push(tokio::spawn(restore_one(d, e).instrument(span)));
    }
    for t in tasks {
        let _ = t.await;
    }
    berth_proto::crashpoint::hit("restore.midway");
    let running = live.iter().filter(|e| e.status() == Status::Running).count();
    let orphaned = live.iter().filter(|e| e.status() == Status::Orphaned).count();
    tracing::info!(
        restored = running,
        orphaned,
        exited = live.len() - running - orphaned,
        elapsed_ms = t0.elapsed().as_millis() as u64,
        "restore finished"
    );
    if !d.config().live_restore {
        // The previous daemon died without live restore: what survived it is stopped now, as a
        // clean shutdown would have done.
        let survivors: Vec<_> = live.into_iter().filter(|e| e.status() == Status::Running).collect();
        if !survivors.is_empty() {
            tracing::info!(
                containers = survivors.len(),
                "live restore is off: stopping containers that outlived the previous daemon"
            );
            crate::engine::shutdown::stop_all(&d, survivors).await;
        }
    }
    // Kernel networking is brought to the recorded state in one transaction (invariant 7).
    let d2 = d.clone();
    let t_net = std::time::Instant::now();
    match tokio::task::spawn_blocking(move || d2.net.restore(&d2)).await {
        Ok(Ok(())) => tracing::info!(elapsed_ms = t_net.elapsed().as_millis() as u64, "network restore finished"),
        Ok(Err(e)) => tracing::error!("network restore: {e}"),
        Err(e) => tracing::error!("network restore task: {e}"),
    }
    let cfg = d.config();
    for c in d.store.all().iter().map(|e| e.snapshot()) {
        for w in old_options(&cfg, &c) {
            tracing::warn!("{w} (new containers get the current defaults)");
        }
    }
    crate::engine::lifecycle::apply_restart_policies(&d).await;
    cleanup_exited(&d, stopped).await;
    crate::engine::sweep::finish_removals(&d).await;
    crate::engine::sweep::unclaimed(&d).await;
    crate::engine::build::sweep(&d).await;
}

async fn restore_one(d: Arc<Daemon>, e: Arc<Entry>) {
    // Restarts the monitor did on its own come first: they say which incarnation runs now.
    crate::engine::incarnations::replay(&d, &e);
    let c = e.snapshot();
    if let Some(rec) = crate::engine::watcher::read_exit(&e) {
        // Exited while the daemon was away: recorded with its true code and time.
        crate::engine::lifecycle::on_exit(d, e, rec).await;
        return;
    }
    let paths = MonitorPaths::new(&d.config().exec_root, &c.id);
    let mon = crate::engine::watcher::read_monitor(&d, &c.id);
    let shim_alive = mon
        .as_ref()
        .map(|m| ProcessIdentity { pid: m.shim_pid, start_time: m.shim_start_time }.is_alive())
        .unwrap_or(false);
    if !shim_alive {
        if crate::engine::incarnations::restarting(&e) {
            crate::engine::watcher::spawn(d, e);
            return;
        }
        crate::engine::watcher::judge_lost(d, e, false).await;
        return;
    }
    match MonitorConn::connect(&paths.socket(), HANDSHAKE).await {
        Ok(conn) => {
            // On disk it was recorded running (or paused) all along: no write needed.
            let paused = crate::cgroupctl::is_frozen(&c.options.cgroups_path);
            e.set_mem(|x| x.state.status = if paused { Status::Paused } else { Status::Running });
            crate::engine::watcher::spawn_with(d, e, Some(conn));
        }
        Err(MonitorError::Wire(WireError::Version { theirs, min, max })) => {
            crate::engine::watcher::orphan(
                d,
                e,
                format!("monitor protocol {theirs} not supported: this daemon speaks {min}–{max}"),
            );
        }
        Err(MonitorError::Refused(msg)) => {
            // Said from this daemon's side, with the range the monitor recorded at its start.
            let (min, max) = berth_proto::protocol_range(berth_proto::Side::Daemon);
            let reason =
                match mon.as_ref().filter(|m| berth_proto::negotiate(m.min_protocol, m.protocol, min, max).is_none()) {
                    Some(m) if m.min_protocol == m.protocol => {
                        format!("monitor protocol {} not supported: this daemon speaks {min}–{max}", m.protocol)
                    }
                    Some(m) => format!(
                        "monitor protocols {}–{} not supported: this daemon speaks {min}–{max}",
                        m.min_protocol, m.protocol
                    ),
                    None => format!("monitor refused the handshake: {msg}"),
                };
            crate::engine::watcher::orphan(d, e, reason);
        }
        Err(err) => {
            // Alive but silent within the budget: the watcher keeps trying without holding up
            // the rest; the container stays "restoring" until it settles.
            tracing::warn!("monitor did not answer within {HANDSHAKE:?}: {err}; still trying");
            crate::engine::watcher::spawn(d, e);
        }
    }
}

/// A start interrupted by the daemon's death: if the monitor came up (its record names a live
/// container), the container is running and gets restored; otherwise the start never happened.
async fn settle_starting(d: &Arc<Daemon>, e: &Arc<Entry>) {
    let c = e.snapshot();
    let paths = MonitorPaths::new(&d.config().exec_root, &c.id);
    // A monitor waiting at a start gate nobody opened cannot have started the container: it is
    // told to give up. One launched without a gate may still be starting the container: it gets
    // the time a start takes to write its record before the start is judged never done.
    let shim_cfg =
        berth_proto::fsutil::read_json::<berth_proto::ShimConfig>(&paths.state_dir.join(berth_proto::paths::CONFIG));
    if let Some(gate) = shim_cfg.ok().flatten().and_then(|s| s.start_gate) {
        if std::fs::read_to_string(&gate).map(|s| s.trim() != "ok").unwrap_or(true) {
            let _ = berth_proto::fsutil::write_runtime(&gate, b"fail: the daemon restarted during the start");
        }
    }
    let mut rec = crate::engine::watcher::read_monitor(d, &c.id);
    let deadline = Instant::now() + Duration::from_secs(2);
    while rec.is_none() && Instant::now() < deadline && !gate_failed(&paths) {
        tokio::time::sleep(Duration::from_millis(50)).await;
        rec = crate::engine::watcher::read_monitor(d, &c.id);
    }
    let alive = rec.as_ref().filter(|m| {
        ProcessIdentity { pid: m.container_pid, start_time: m.container_start_time }.is_alive()
            || crate::engine::watcher::read_exit(e).is_some_and(|x| x.pid == m.container_pid)
    });
    match alive {
        Some(m) => {
            tracing::info!(id = %c.short_id(), "the previous daemon died while starting this container; its monitor is up");
            let _ = e.update(|x| {
                x.state.status = Status::Running;
                x.state.before_start = None;
                x.state.pid = m.container_pid;
                x.state.pid_start_time = m.container_start_time;
                x.state.started_at = m.started_at.clone();
            });
        }
        None => {
            let _ = e.update(|x| {
                let before = x.state.before_start.take().unwrap_or(Status::Created);
                x.state.status = if before == Status::Starting { Status::Created } else { before };
            });
            crate::engine::lifecycle::release_resources(d, e).await;
        }
    }
}

/// Stopped containers whose rootfs is still mounted or whose network namespace is still there
/// (the daemon died before releasing them, or during a start) are tidied.
async fn cleanup_exited(d: &Arc<Daemon>, stopped: Vec<Arc<Entry>>) {
    for e in stopped {
        // A container someone is operating on (start, rm) is left to that operation.
        let Ok(op) = e.op.try_lock() else { continue };
        let status = e.status();
        if matches!(status, Status::Created | Status::Exited | Status::Dead) {
            crate::engine::lifecycle::release_resources(d, &e).await;
        }
        drop(op);
        // A `--rm` container whose exit was recorded by a daemon that died before removing it.
        if matches!(status, Status::Exited | Status::Dead) {
            crate::engine::lifecycle::auto_remove(d, &e);
        }
    }
}

fn gate_failed(paths: &MonitorPaths) -> bool {
    std::fs::read_to_string(paths.state_dir.join("start-gate")).is_ok_and(|s| s.starts_with("fail"))
}

/// The options a container was created under that differ from this daemon's defaults (it keeps
/// them, invariant 8), in words for `info` and the log.
pub fn old_options(cfg: &crate::config::Config, c: &crate::model::Container) -> Vec<String> {
    let mut out = Vec::new();
    if c.options.storage_driver != cfg.storage_driver {
        out.push(format!("container {} uses storage driver {}", c.short_id(), c.options.storage_driver));
    }
    if c.options.runtime_defaulted && c.options.runtime != cfg.default_runtime {
        out.push(format!("container {} uses runtime {}", c.short_id(), c.options.runtime));
    }
    let bip =
        crate::config::parse_cidr(&cfg.bip).and_then(|(g, l)| berth_net::Ipv4Net::new(g, l).ok()).map(|n| n.trunc());
    if let Some(ep) = c.endpoint.as_ref().filter(|ep| ep.network == "bridge" && Some(ep.subnet) != bip) {
        out.push(format!("container {} is on the previous bridge range {}", c.short_id(), ep.subnet));
    }
    out
}
