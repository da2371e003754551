//! The restart policy while the daemon is away. With a daemon up, it holds a `Wait` on this
//! monitor and decides restarts itself; with none waiting, the monitor honours the policy: it
//! hands over to a fresh monitor of its own binary, which creates and starts the next incarnation
//! (same bundle, rootfs, network namespace and log), and leaves a line in `restarts.jsonl` for the
//! daemon to replay (die and start events with their true times, RestartCount) when it returns.

use crate::error::ShimError;
use berth_proto::{fsutil, paths, ExitRecord, RestartRecord, ShimConfig, StartReport};
use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::process::{Command, Stdio};
use std::time::Duration;

/// Docker's back-off: 100 ms, doubled after each quick failure, at most a minute; back to 100 ms
/// once an incarnation ran for 10 s.
const FIRST_DELAY_MS: u64 = 100;
const MAX_DELAY_MS: u64 = 60_000;
const RESET_AFTER: Duration = Duration::from_secs(10);

fn history(cfg: &ShimConfig) -> Vec<RestartRecord> {
    fs::read_to_string(cfg.container_dir.join(paths::RESTARTS))
        .map(|s| s.lines().filter_map(|l| serde_json::from_str(l).ok()).collect())
        .unwrap_or_default()
}

/// How long to wait before restarting by ourselves, or None when we must not.
pub fn decide(cfg: &ShimConfig, rec: &ExitRecord, daemon_waiting: bool, ran_for: Duration) -> Option<Duration> {
    if daemon_waiting || rec.unknown {
        return None;
    }
    let updated = fs::read(cfg.container_dir.join(paths::RESTART_POLICY))
        .ok()
        .and_then(|b| serde_json::from_slice::<Option<berth_proto::RestartSpec>>(&b).ok());
    let spec = match updated {
        Some(spec) => spec?,
        None => cfg.restart.clone()?,
    };
    let past = history(cfg);
    let count = spec.count + past.len() as u32;
    let wanted = match spec.name.as_str() {
        "always" | "unless-stopped" => true,
        "on-failure" => rec.exit_code != 0 && (spec.max_retry == 0 || count < spec.max_retry),
        _ => false,
    };
    if !wanted {
        return None;
    }
    // A daemon is up but its watcher has not connected yet (the container exited within
    // milliseconds of its start): the exit record is for that daemon, which applies the policy.
    // Restarting here would race it for every incarnation, and its `wait` would never return.
    // Asked last: a container without a policy to honour never reads /proc/locks.
    if cfg.daemon_lock.as_deref().is_some_and(fsutil::is_flocked) {
        return None;
    }
    let prev = past.last().map(|r| r.delay_ms).unwrap_or(0);
    let ms = if ran_for >= RESET_AFTER || prev == 0 { FIRST_DELAY_MS } else { (prev * 2).min(MAX_DELAY_MS) };
    Some(Duration::from_millis(ms))
}

/// Marks the hand-over in progress, so that a daemon arriving meanwhile waits for the next
/// monitor instead of judging the container gone.
pub fn mark(cfg: &ShimConfig) {
    if let Err(e) = fsutil::write_atomic(&cfg.container_dir.join(paths::RESTARTING), crate::timefmt::now().as_bytes()) {
        crate::diag!("writing the restart marker: {e}");
    }
}

/// After the back-off, starts the next monitor and records the restart. When that fails, the
/// exit is recorded as final (the daemon will see it) and false is returned.
pub fn relaunch(cfg: &ShimConfig, rec: &ExitRecord, delay: Duration) -> bool {
    std::thread::sleep(delay);
    let started = Command::new("/proc/self/exe")
        .arg("--config")
        .arg(cfg.state_dir.join(paths::CONFIG))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .output()
        .map_err(ShimError::from)
        .and_then(|o| {
            let line = String::from_utf8_lossy(&o.stdout).lines().last().unwrap_or("").to_string();
            serde_json::from_str::<StartReport>(&line).map_err(|_| ShimError::RelaunchReport(line))
        });
    // A relaunch that could not even report is told like one that reported its failure.
    let started = started.unwrap_or_else(|e| StartReport::Failed { message: e.to_string() });
    let ok = match started {
        StartReport::Started { started_at, container_pid, container_start_time, .. } => {
            let line = RestartRecord {
                exit: rec.clone(),
                pid: container_pid,
                start_time: container_start_time,
                started_at,
                delay_ms: delay.as_millis() as u64,
            };
            let appended = OpenOptions::new()
                .create(true)
                .mode(fsutil::PRIVATE_FILE)
                .append(true)
                .open(cfg.container_dir.join(paths::RESTARTS))
                .and_then(|mut f| {
                    let mut l = serde_json::to_vec(&line).expect("restart records serialize");
                    l.push(b'\n');
                    f.write_all(&l).and_then(|_| f.sync_all())
                });
            if let Err(e) = appended {
                crate::diag!("recording the restart: {e}");
            }
            true
        }
        StartReport::Failed { message } => {
            crate::diag!("restarting the container failed: {message}; its exit is final");
            if let Err(e) = fsutil::write_json_atomic(&cfg.container_dir.join(paths::EXIT_RECORD), rec) {
                crate::diag!("writing the exit record: {e}");
            }
            false
        }
    };
    let _ = fs::remove_file(cfg.container_dir.join(paths::RESTARTING));
    ok
}
