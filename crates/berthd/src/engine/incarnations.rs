//! Restarts a monitor did by itself while the daemon was away (`restarts.jsonl` in the
//! container's directory): replayed as die/start/restart events with their true times, counted in
//! RestartCount, and the record moved to the incarnation that runs now.

use crate::engine::daemon::Daemon;
use crate::engine::store::Entry;
use berth_proto::{paths, RestartRecord};

fn nanos(t: &str) -> i64 {
    chrono::DateTime::parse_from_rfc3339(t)
        .ok()
        .and_then(|t| t.timestamp_nanos_opt())
        .unwrap_or_else(|| chrono::Utc::now().timestamp_nanos_opt().unwrap_or(0))
}

/// Takes in the monitor's restart records; returns how many there were. The file is renamed
/// before it is read, so a restart appended meanwhile lands in a new file for next time; a
/// renamed file left by a crash is taken in first.
pub fn replay(d: &Daemon, e: &Entry) -> usize {
    let live = e.dir.join(paths::RESTARTS);
    let taken = e.dir.join(format!("{}.replay", paths::RESTARTS));
    if !taken.exists() && std::fs::rename(&live, &taken).is_err() {
        return 0;
    }
    let recs: Vec<RestartRecord> = std::fs::read_to_string(&taken)
        .map(|s| s.lines().filter_map(|l| serde_json::from_str(l).ok()).collect())
        .unwrap_or_default();
    let Some(last) = recs.last().cloned() else {
        let _ = std::fs::remove_file(&taken);
        return 0;
    };
    let updated = e.update(|c| {
        c.restart_count += recs.len() as u32;
        c.state.pid = last.pid;
        c.state.pid_start_time = last.start_time;
        c.state.started_at = last.started_at.clone();
        c.state.exit_code = last.exit.exit_code;
        c.state.finished_at = last.exit.finished_at.clone();
    });
    if updated.is_err() {
        return 0;
    }
    let _ = std::fs::remove_file(&taken);
    let c = e.snapshot();
    for r in &recs {
        let mut a = crate::engine::lifecycle::attrs(&c);
        if r.exit.oom_killed {
            d.events.emit_at("container", "oom", &c.id, a.clone(), nanos(&r.exit.finished_at));
        }
        a.insert("exitCode".into(), r.exit.exit_code.to_string());
        d.events.emit_at("container", "die", &c.id, a, nanos(&r.exit.finished_at));
        d.events.emit_at("container", "start", &c.id, crate::engine::lifecycle::attrs(&c), nanos(&r.started_at));
        d.events.emit_at("container", "restart", &c.id, crate::engine::lifecycle::attrs(&c), nanos(&r.started_at));
    }
    tracing::info!(id = %c.short_id(), restarts = recs.len(), pid = last.pid, "the monitor restarted the container while the daemon was away");
    recs.len()
}

/// A monitor is handing over to the next incarnation's right now.
pub fn restarting(e: &Entry) -> bool {
    std::fs::metadata(e.dir.join(paths::RESTARTING))
        .and_then(|m| m.modified())
        .is_ok_and(|t| t.elapsed().map(|a| a.as_secs() < 120).unwrap_or(true))
}
