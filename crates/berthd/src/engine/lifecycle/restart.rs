//! Restart policies with Docker's semantics: `no`, `always`, `unless-stopped`, `on-failure[:N]`,
//! an increasing back-off between attempts, and `RestartCount`.

use crate::engine::daemon::Daemon;
use crate::engine::store::Entry;
use crate::model::{Container, Status};
use std::sync::Arc;
use std::time::Duration;

fn policy(c: &Container) -> (String, i64) {
    let p = c.host_config.restart_policy.clone().unwrap_or_default();
    (p.name.unwrap_or_default(), p.maximum_retry_count.unwrap_or(0))
}

/// The policy the monitor honours by itself while the daemon is away (`no` sends none).
pub fn monitor_spec(c: &crate::model::Container) -> Option<berth_proto::RestartSpec> {
    let p = c.host_config.restart_policy.clone().unwrap_or_default();
    let name = p.name.unwrap_or_default();
    matches!(name.as_str(), "always" | "unless-stopped" | "on-failure").then(|| berth_proto::RestartSpec {
        name,
        max_retry: p.maximum_retry_count.unwrap_or(0).max(0) as u32,
        count: c.restart_count,
    })
}

/// Whether an exited container should be started again.
pub(crate) fn wants_restart(c: &Container, at_daemon_start: bool) -> bool {
    let (name, max) = policy(c);
    match name.as_str() {
        "always" => at_daemon_start || !c.state.stopped_by_user,
        "unless-stopped" => !c.state.stopped_by_user,
        "on-failure" => {
            !c.state.stopped_by_user && c.state.exit_code != 0 && (max == 0 || (c.restart_count as i64) < max)
        }
        _ => false,
    }
}

/// After an exit while the daemon runs, for a container `on_exit` already marked restarting (in
/// the same write as the exit, so no client ever sees it exited in between, as with dockerd):
/// wait the back-off, then start again.
pub async fn after_exit(d: Arc<Daemon>, e: Arc<Entry>) {
    let c = e.snapshot();
    if c.state.status != Status::Restarting {
        return;
    }
    let ran_for = chrono::DateTime::parse_from_rfc3339(&c.state.finished_at)
        .ok()
        .zip(chrono::DateTime::parse_from_rfc3339(&c.state.started_at).ok())
        .map(|(f, s)| (f - s).num_milliseconds())
        .unwrap_or(0);
    // Docker doubles the delay from 100 ms while a container keeps failing fast, and resets it
    // once the container ran for 10 s.
    let delay = if ran_for >= 10_000 { 100 } else { (100u64 << c.restart_count.min(9)).min(60_000) };
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(delay)).await;
        let _op = e.op.lock().await;
        if e.status() != Status::Restarting || d.is_shutting_down() {
            return;
        }
        let _ = e.update(|c| c.restart_count += 1);
        if let Err(err) = super::restart_locked(&d, &e).await {
            tracing::warn!(id = %&e.snapshot().id[..12], "restart failed: {}", err);
        } else {
            let c = e.snapshot();
            d.events.emit("container", "restart", &c.id, super::attrs(&c));
        }
    });
}

/// On daemon start: containers whose policy says they should run, and do not, are started.
pub async fn apply_restart_policies(d: &Arc<Daemon>) {
    for e in d.store.all() {
        let st = e.status();
        if st == Status::Restarting {
            let _ = e.update(|c| c.state.status = Status::Exited);
        } else if st != Status::Exited {
            continue;
        }
        if wants_restart(&e.snapshot(), true) {
            if let Err(err) = super::start(d, &e).await {
                tracing::warn!(id = %&e.snapshot().id[..12], "restart on daemon start failed: {}", err);
            }
        }
    }
}
