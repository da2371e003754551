//! Daemon shutdown. With live restore the daemon simply leaves: containers, monitors, logs and
//! records need nothing from it. Without, every running container is stopped in parallel (stop
//! signal, its own timeout, then SIGKILL) before the daemon exits.

use crate::engine::daemon::Daemon;
use std::sync::atomic::Ordering;
use std::sync::Arc;

pub async fn shutdown(d: Arc<Daemon>) {
    d.shutting_down.store(true, Ordering::SeqCst);
    let cfg = d.config();
    let live: Vec<_> = d.store.all().into_iter().filter(|e| e.status().is_live()).collect();
    if cfg.live_restore {
        tracing::info!(containers = live.len(), "live restore: leaving containers running");
        return;
    }
    tracing::info!(containers = live.len(), "stopping containers before exit");
    let bound = stop_bound(&cfg, &live);
    if tokio::time::timeout(bound, stop_all(&d, live.clone())).await.is_err() {
        tracing::warn!("containers still running after {bound:?}: killing them");
        for e in live.iter().filter(|e| e.status().is_live()) {
            let _ = crate::engine::lifecycle::signal(&d, e, libc::SIGKILL).await;
        }
        for e in &live {
            crate::engine::lifecycle::wait_not_live(e, std::time::Duration::from_secs(5)).await;
        }
    }
    for e in &live {
        crate::engine::lifecycle::release_resources(&d, e).await;
        crate::cgroups::remove_with_monitor(&e.snapshot().options.cgroups_path).await;
    }
    // The parent (`/berth`) is left, as dockerd leaves `/docker`: another daemon on the host may
    // be creating a container under it, and an rmdir between its mkdirs fails that start.
    tracing::info!("all containers stopped");
}

/// Docker's bound on stopping the containers at shutdown: `shutdown-timeout`, or the longest stop
/// timeout of a container if that is longer; past it, whatever still runs gets SIGKILL.
pub fn stop_bound(cfg: &crate::config::Config, live: &[Arc<crate::engine::store::Entry>]) -> std::time::Duration {
    let longest = live.iter().map(|e| e.snapshot().config.stop_timeout.unwrap_or(10)).max().unwrap_or(0).max(0) as u64;
    std::time::Duration::from_secs(cfg.shutdown_timeout.max(longest)) + std::time::Duration::from_secs(2)
}

/// Stops containers in parallel, each with its own stop timeout, bounded by the daemon's
/// shutdown-timeout when that is longer.
pub async fn stop_all(d: &Arc<Daemon>, entries: Vec<Arc<crate::engine::store::Entry>>) {
    let mut tasks = Vec::new();
    for e in entries {
        let d = d.clone();
        tasks.push(tokio::spawn(async move {
            let id = e.snapshot().id;
            if let Err(err) = crate::engine::lifecycle::stop(&d, &e, None, false).await {
                tracing::error!(id = %&id[..12], "stop failed: {}", err);
            }
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
}
