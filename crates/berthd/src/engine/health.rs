//! Health checks, as the daemon sees them: checked and merged with the image's at create, handed
//! to the monitor at start (which runs the probes, daemon or not), read back from the monitor's
//! `health.json` for inspect and ps, and turned into `health_status` events — those made while
//! the daemon was away with their true times, once each.

use crate::engine::daemon::Daemon;
use crate::engine::store::Entry;
use crate::engine::EngineError;
use crate::model::{Container, HealthConfig};
use crate::monitor::{MonitorConn, MonitorPaths};
use berth_proto::{fsutil, paths, HealthRecord, HealthSpec, Request, Response};
use sha2::Digest as _;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

const MIN_DURATION_NS: i64 = 1_000_000;
const DEFAULT_INTERVAL_NS: i64 = 30_000_000_000;
const DEFAULT_TIMEOUT_NS: i64 = 30_000_000_000;
const DEFAULT_START_INTERVAL_NS: i64 = 5_000_000_000;
const DEFAULT_RETRIES: i64 = 3;
/// What the probe file in the monitor's state directory is called.
const PROBE_PROCESS: &str = "health-process.json";

/// Docker's checks of a given `Healthcheck` (validateHealthCheck), plus its type: a test Docker
/// would accept and never run (an unknown type) is refused rather than dropped.
pub fn validate(h: Option<&HealthConfig>) -> Result<(), EngineError> {
    let Some(h) = h else { return Ok(()) };
    let at_least_1ms = |v: Option<i64>, name: &str| match v.unwrap_or(0) {
        0 => Ok(()),
        n if n < MIN_DURATION_NS => Err(EngineError::invalid(format!("{name} in Healthcheck cannot be less than 1ms"))),
        _ => Ok(()),
    };
    at_least_1ms(h.interval, "Interval")?;
    at_least_1ms(h.timeout, "Timeout")?;
    at_least_1ms(h.start_period, "StartPeriod")?;
    at_least_1ms(h.start_interval, "StartInterval")?;
    if h.retries.unwrap_or(0) < 0 {
        return Err(EngineError::invalid("Retries in Healthcheck cannot be negative"));
    }
    match h.test.as_deref().unwrap_or_default() {
        [] => Ok(()),
        [kind] if kind == "NONE" => Ok(()),
        [kind, _, ..] if kind == "CMD" || kind == "CMD-SHELL" => Ok(()),
        [kind] if kind == "CMD" || kind == "CMD-SHELL" => {
            Err(EngineError::invalid(format!("Healthcheck.Test {kind} needs a command")))
        }
        [kind, ..] => Err(EngineError::invalid(format!(
            "unknown Healthcheck.Test type {kind:?}: it must be NONE, CMD or CMD-SHELL"
        ))),
    }
}

/// Docker's merge with the image's `HEALTHCHECK` (daemon/commit.go): no check given takes the
/// image's; an empty test or a zero duration takes the image's value.
pub fn merge(c: &mut Option<HealthConfig>, img: Option<&berth_image::HealthConfig>) {
    let Some(img) = img else { return };
    let h = c.get_or_insert_with(Default::default);
    if h.test.as_ref().is_none_or(|t| t.is_empty()) && !img.test.is_empty() {
        h.test = Some(img.test.clone());
    }
    let inherit = |v: &mut Option<i64>, from: i64| {
        if v.unwrap_or(0) == 0 && from != 0 {
            *v = Some(from);
        }
    };
    inherit(&mut h.interval, img.interval);
    inherit(&mut h.timeout, img.timeout);
    inherit(&mut h.start_period, img.start_period);
    inherit(&mut h.start_interval, img.start_interval);
    inherit(&mut h.retries, img.retries);
}

/// The probe's command line, when the container has a check to run.
pub fn probe_command(c: &Container) -> Option<Vec<String>> {
    probe_of(c.config.healthcheck.as_ref())
}

fn probe_of(h: Option<&HealthConfig>) -> Option<Vec<String>> {
    let test = h?.test.as_deref()?;
    match test {
        [kind, rest @ ..] if kind == "CMD" && !rest.is_empty() => Some(rest.to_vec()),
        [kind, rest @ ..] if kind == "CMD-SHELL" && !rest.is_empty() => {
            Some(["/bin/sh".to_string(), "-c".to_string()].into_iter().chain(rest.iter().cloned()).collect())
        }
        _ => None,
    }
}

/// What the monitor needs to run the check: the probe as the container's own process with the
/// check's command (written beside the runtime spec), and the durations with Docker's defaults.
pub fn shim_spec(
    c: &Container,
    spec: &oci_spec::runtime::Spec,
    state_dir: &Path,
) -> Result<Option<HealthSpec>, String> {
    let (Some(cmd), Some(h)) = (probe_command(c), c.config.healthcheck.as_ref()) else { return Ok(None) };
    let mut p = spec.process().clone().ok_or("the container's runtime spec has no process")?;
    p.set_args(Some(cmd));
    p.set_terminal(Some(false));
    p.set_console_size(None);
    let file = state_dir.join(PROBE_PROCESS);
    fsutil::write_json_runtime(&file, &p).map_err(|e| format!("writing the health probe: {e}"))?;
    let or = |v: Option<i64>, default: i64| v.filter(|v| *v > 0).unwrap_or(default) as u64;
    Ok(Some(HealthSpec {
        process: file,
        interval_ns: or(h.interval, DEFAULT_INTERVAL_NS),
        timeout_ns: or(h.timeout, DEFAULT_TIMEOUT_NS),
        start_period_ns: or(h.start_period, 0),
        start_interval_ns: or(h.start_interval, DEFAULT_START_INTERVAL_NS),
        retries: or(h.retries, DEFAULT_RETRIES) as u32,
    }))
}

/// The health the container's monitor last wrote; None for a container without a check or one
/// never started with it (Docker shows no `State.Health` then).
pub fn record(d: &Daemon, c: &Container) -> Option<HealthRecord> {
    probe_command(c)?;
    fsutil::read_json(&d.store.dir_of(&c.id).join(paths::HEALTH)).ok().flatten()
}

/// Follows the monitor's status changes while the container runs, and emits each as a
/// `health_status` event with the time the monitor judged it.
pub fn spawn_watch(d: Arc<Daemon>, e: Arc<Entry>) {
    let c = e.snapshot();
    if probe_command(&c).is_none() {
        return;
    }
    let span = tracing::info_span!("health", id = %&c.id[..12]);
    tokio::spawn(tracing::Instrument::instrument(watch(d, e), span));
}

async fn watch(d: Arc<Daemon>, e: Arc<Entry>) {
    let (id, pid) = {
        let c = e.snapshot();
        (c.id, c.state.pid)
    };
    let socket = MonitorPaths::new(&d.config().exec_root, &id).socket();
    // A monitor that does not answer (re-executing itself, or busy) is asked again, less often
    // the longer it stays away, for as long as the container runs under it.
    let mut pause = Duration::from_millis(200);
    loop {
        let still_ours = {
            let c = e.snapshot();
            c.state.status.is_live() && c.state.pid == pid
        };
        if !still_ours {
            return;
        }
        match MonitorConn::connect(&socket, Duration::from_secs(5)).await {
            Ok(conn) if !conn.capabilities.iter().any(|c| c == berth_proto::caps::HEALTH) => return,
            Ok(mut conn) => {
                pause = Duration::from_millis(200);
                let mut after = 0;
                while let Ok(Response::Health(rec)) = conn.call(&Request::WatchHealth { after }).await {
                    replay(&d, &e, &rec);
                    after = rec.seq;
                }
            }
            Err(_) => pause = (pause * 2).min(Duration::from_secs(5)),
        }
        tokio::time::sleep(pause).await;
    }
}

/// Emits what the record holds that the event journal does not yet: each probe as dockerd
/// reports its exec (`exec_create: <cmd>`, `exec_start: <cmd>`, `exec_die` with its exit code),
/// and the status changes. The record keeps the last 5 probes, so an outage longer than that
/// replays its last 5 probes' events and every status change.
fn replay(d: &Daemon, e: &Entry, rec: &HealthRecord) {
    let c = e.snapshot();
    let nanos = |t: &str| chrono::DateTime::parse_from_rfc3339(t).ok().and_then(|t| t.timestamp_nanos_opt());
    if let Some(cmd) = probe_command(&c).map(|v| v.join(" ")) {
        for p in &rec.log {
            let (Some(start), Some(end)) = (nanos(&p.start), nanos(&p.end)) else {
                continue;
            };
            let create = format!("exec_create: {cmd}");
            if d.events.seen("container", &create, &c.id, start) {
                continue;
            }
            // The same probe gets the same id in every replay.
            let exec_id = hex::encode(sha2::Sha256::digest(format!("{}/health/{start}", c.id)));
            let with = |extra: &[(&str, String)]| {
                let mut a = crate::engine::lifecycle::attrs(&c);
                a.insert("execID".into(), exec_id.clone());
                a.extend(extra.iter().map(|(k, v)| (k.to_string(), v.clone())));
                a
            };
            d.events.emit_at("container", &create, &c.id, with(&[]), start);
            d.events.emit_at("container", &format!("exec_start: {cmd}"), &c.id, with(&[]), start);
            d.events.emit_at("container", "exec_die", &c.id, with(&[("exitCode", p.exit_code.to_string())]), end);
        }
    }
    for t in &rec.transitions {
        let Some(at) = nanos(&t.time) else {
            continue;
        };
        let action = format!("health_status: {}", t.status);
        if !d.events.seen("container", &action, &c.id, at) {
            d.events.emit_at("container", &action, &c.id, crate::engine::lifecycle::attrs(&c), at);
        }
    }
}

#[cfg(test)]
mod tests;
