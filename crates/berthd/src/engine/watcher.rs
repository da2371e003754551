//! One task per running container: holds a `Wait` on the container's monitor and records the exit.
//! When contact is lost it judges, from the records on disk and verified process identities, what
//! happened — and never kills anything on doubt (invariant 3).

use crate::engine::daemon::Daemon;
use crate::engine::store::Entry;
use crate::model::Status;
use crate::monitor::{MonitorConn, MonitorPaths};
use berth_proto::{fsutil, ExitRecord, MonitorRecord};
use berth_sys::ProcessIdentity;
use std::sync::Arc;
use std::time::Duration;
use tracing::Instrument;

pub fn spawn(d: Arc<Daemon>, e: Arc<Entry>) {
    spawn_with(d, e, None)
}

/// Like [`spawn`], reusing a connection that already passed the handshake.
pub fn spawn_with(d: Arc<Daemon>, e: Arc<Entry>, conn: Option<MonitorConn>) {
    let id = e.snapshot().id;
    let span = tracing::info_span!("container", id = %&id[..12]);
    crate::engine::health::spawn_watch(d.clone(), e.clone());
    tokio::spawn(watch(d, e, conn).instrument(span));
}

pub fn read_exit(e: &Entry) -> Option<ExitRecord> {
    let st = e.snapshot().state;
    let rec: ExitRecord = fsutil::read_json(&e.dir.join(berth_proto::paths::EXIT_RECORD)).ok().flatten()?;
    // An exit record belongs to the incarnation whose pid it names.
    (st.pid == 0 || rec.pid == st.pid).then_some(rec)
}

pub fn read_monitor(d: &Daemon, id: &str) -> Option<MonitorRecord> {
    let p = MonitorPaths::new(&d.config().exec_root, id);
    fsutil::read_json(&p.record()).ok().flatten()
}

async fn watch(d: Arc<Daemon>, e: Arc<Entry>, mut first: Option<MonitorConn>) {
    let id = e.snapshot().id;
    let paths = MonitorPaths::new(&d.config().exec_root, &id);
    let mut misses = 0u32;
    loop {
        let conn = match first.take() {
            Some(c) => Ok(c),
            None => MonitorConn::connect(&paths.socket(), Duration::from_secs(5)).await,
        };
        if let Ok(mut c) = conn {
            misses = 0;
            crate::engine::incarnations::replay(&d, &e);
            if let Ok(rec) = c.wait().await {
                crate::engine::lifecycle::on_exit(d.clone(), e.clone(), rec).await;
                return;
            }
        }
        crate::engine::incarnations::replay(&d, &e);
        if let Some(rec) = read_exit(&e) {
            crate::engine::lifecycle::on_exit(d.clone(), e.clone(), rec).await;
            return;
        }
        if crate::engine::incarnations::restarting(&e) {
            // The monitor is handing over to the next incarnation's (its back-off can be long).
            tokio::time::sleep(Duration::from_millis(200)).await;
            continue;
        }
        let shim_alive = read_monitor(&d, &id)
            .map(|m| ProcessIdentity { pid: m.shim_pid, start_time: m.shim_start_time }.is_alive())
            .unwrap_or(false);
        if shim_alive && misses < 30 {
            // Alive but not answering: busy, or just exiting. Retry before judging.
            misses += 1;
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        }
        judge_lost(d, e, shim_alive).await;
        return;
    }
}

/// The monitor is gone or will not answer: decide from the container's verified identity.
pub fn judge_lost(
    d: Arc<Daemon>,
    e: Arc<Entry>,
    shim_alive: bool,
) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>> {
    Box::pin(judge_lost_inner(d, e, shim_alive))
}

async fn judge_lost_inner(d: Arc<Daemon>, e: Arc<Entry>, shim_alive: bool) {
    // The monitor writes the exit record before it exits: look once more.
    if let Some(rec) = read_exit(&e) {
        crate::engine::lifecycle::on_exit(d, e, rec).await;
        return;
    }
    let st = e.snapshot().state;
    let ctr = ProcessIdentity { pid: st.pid, start_time: st.pid_start_time };
    if ctr.is_alive() {
        let reason = if shim_alive {
            format!("monitor not answering; container pid {} still alive", st.pid)
        } else {
            format!("monitor exited; container pid {} still alive", st.pid)
        };
        mark_orphaned(&d, &e, reason);
        tokio::spawn(poll_orphan(d, e));
        return;
    }
    let reason = "exit status unknown: the monitor and the container were both gone when the daemon looked".to_string();
    tracing::warn!("{reason}");
    let _ = e.update(|c| {
        c.state.status = Status::Exited;
        c.state.exit_code = -1;
        c.state.error = reason.clone();
        c.state.reason = reason.clone();
        if c.state.finished_at == crate::model::ZERO_TIME {
            c.state.finished_at = crate::engine::store::now_rfc3339();
        }
    });
    // No monitor ran `runtime delete` for this one, and its own cgroup is empty now.
    crate::cgroups::remove_with_monitor(&e.snapshot().options.cgroups_path).await;
    crate::engine::lifecycle::release_resources(&d, &e).await;
    // `--rm` is honoured for an exit nobody saw, as dockerd does for containers it finds dead
    // on start (after a reboot, say).
    crate::engine::lifecycle::auto_remove(&d, &e);
}

pub fn mark_orphaned(d: &Daemon, e: &Entry, reason: String) {
    tracing::warn!(reason = %reason, "container orphaned: shown running, never killed automatically");
    let _ = e.update(|c| {
        c.state.status = Status::Orphaned;
        c.state.reason = reason.clone();
    });
    let c = e.snapshot();
    let mut attrs = crate::engine::lifecycle::attrs(&c);
    attrs.insert("reason".into(), reason);
    d.events.emit("container", "orphaned", &c.id, attrs);
}

/// Marks the container orphaned and follows it until its process ends.
pub fn orphan(d: Arc<Daemon>, e: Arc<Entry>, reason: String) {
    mark_orphaned(&d, &e, reason);
    tokio::spawn(poll_orphan(d, e));
}

/// Follows an orphan until its process ends; its exit code is unknown unless a record appears.
async fn poll_orphan(d: Arc<Daemon>, e: Arc<Entry>) {
    loop {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let st = e.snapshot().state;
        if st.status != Status::Orphaned {
            return;
        }
        if !(ProcessIdentity { pid: st.pid, start_time: st.pid_start_time }).is_alive() {
            // A monitor that is alive but unspeakable still reaps its container and writes the
            // exit record: give it a moment so the true exit code is kept.
            for _ in 0..20 {
                if read_exit(&e).is_some() {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            judge_lost(d, e, false).await;
            return;
        }
    }
}
