//! What operations cut short by a daemon crash leave behind, settled at the next start so that
//! every operation ends finished or rolled back:
//! - a create that died before its record was written leaves storage and a directory no record
//!   claims (its reserved address is freed by the network restore);
//! - an `rm` that died half-way leaves a record marked `removing`: the removal is finished;
//! - a monitor state directory whose container is gone.
//!
//! Only what is older than this daemon's start is judged: a create in flight right now has no
//! record yet either, but everything it made is newer.

use crate::engine::daemon::Daemon;
use crate::engine::store::Entry;
use crate::model::Status;
use std::collections::HashSet;
use std::path::Path;
use std::sync::Arc;

/// Entries of `dir` (not dot-files) older than the daemon and not in `known`.
fn stale_unclaimed(d: &Daemon, dir: &Path, known: &HashSet<String>) -> Vec<String> {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return vec![];
    };
    rd.flatten()
        .filter(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            !name.starts_with('.') && !known.contains(&name)
        })
        .filter(|e| e.metadata().and_then(|m| m.modified()).is_ok_and(|t| t < d.booted))
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect()
}

/// Storage, container directories and monitor state directories that no container record claims.
pub async fn unclaimed(d: &Arc<Daemon>) {
    let known: HashSet<String> = d.store.all().iter().map(|e| e.snapshot().id).collect();
    let cfg = d.config();
    for driver_name in ["overlay2", "vfs"] {
        let home = cfg.data_root.join("storage").join(driver_name);
        let stale = stale_unclaimed(d, &home, &known);
        if stale.is_empty() {
            continue;
        }
        let Ok(driver) = d.driver(driver_name) else {
            continue;
        };
        for id in stale {
            tracing::info!(driver = driver_name, "removing storage no container records: {id} (an interrupted create)");
            let drv = driver.clone();
            let id2 = id.clone();
            match tokio::task::spawn_blocking(move || drv.remove(&id2)).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => tracing::warn!("removing storage of {id}: {e}"),
                Err(e) => tracing::warn!("removing storage of {id}: {e}"),
            }
        }
    }
    let containers = cfg.data_root.join("containers");
    for id in stale_unclaimed(d, &containers, &known) {
        let dir = containers.join(&id);
        // An unreadable record is kept for a human to look at; only a directory without one
        // (create died before writing it) is removed.
        if dir.join("container.json").exists() {
            continue;
        }
        tracing::info!("removing container directory without a record: {id} (an interrupted create)");
        if let Err(e) = std::fs::remove_dir_all(&dir) {
            tracing::warn!("removing {}: {e}", dir.display());
        }
    }
    let shims = cfg.exec_root.join("shims");
    for id in stale_unclaimed(d, &shims, &known) {
        // The exec-root is shared by daemons of other `userns-remap` settings (each has its own
        // state root): a live monitor is one of theirs, never ours to sweep.
        let live = crate::engine::watcher::read_monitor(d, &id)
            .is_some_and(|m| berth_sys::identity::process_start_time(m.shim_pid) == Some(m.shim_start_time));
        if live {
            tracing::info!(
                "keeping the monitor state of {id}: no record here, but its monitor runs (another userns-remap setting's container?)"
            );
            continue;
        }
        let _ = std::fs::remove_dir_all(shims.join(id));
    }
    crate::engine::userns::sweep(&cfg, &known);
}

/// Containers whose `rm` was cut short are removed now, as their owner asked.
pub async fn finish_removals(d: &Arc<Daemon>) {
    let removing: Vec<Arc<Entry>> = d.store.all().into_iter().filter(|e| e.status() == Status::Removing).collect();
    for e in removing {
        let id = e.snapshot().id;
        tracing::info!(id = %&id[..12], "finishing a removal the previous daemon did not complete");
        e.set_mem(|c| c.state.status = Status::Dead);
        if let Err(err) = crate::engine::lifecycle::remove(d, &e, true, false).await {
            tracing::warn!(id = %&id[..12], "finishing the removal: {}", err);
        }
    }
}
