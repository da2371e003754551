//! Daemon shutdown. With live restore the daemon simply leaves: containers, monitors, logs and
//! records need nothing from it. Without, every running container is stopped in parallel (stop
//! signal, its own timeout, then SIGKILL) before the daemon exits.

use crate::daemon::Daemon;
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
    stop_all(&d, live).await;
    tracing::info!("all containers stopped");
}

/// Stops containers in parallel, each with its own stop timeout, bounded by the daemon's
/// shutdown-timeout when that is longer.
pub async fn stop_all(d: &Arc<Daemon>, entries: Vec<Arc<crate::state::Entry>>) {
    let mut tasks = Vec::new();
    for e in entries {
        let d = d.clone();
        tasks.push(tokio::spawn(async move {
            let id = e.snapshot().id;
            if let Err(err) = crate::lifecycle::stop(&d, &e, None, false).await {
                tracing::error!(id = %&id[..12], "stop failed: {}", err.message);
            }
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
}
