//! Starting a container: mount its rootfs, write its OCI spec, launch its monitor, and record
//! what the monitor reports. The record is persisted before the start is announced.

use super::{attrs, console_size, emit, mounts, release_resources, restart, spec};
use crate::engine::daemon::Daemon;
use crate::engine::store::Entry;
use crate::engine::EngineError;
use crate::model::{Container, Status, ZERO_TIME};
use crate::monitor::{self, MonitorPaths};
use berth_proto::{LogConfig, RuntimeSpec, ShimConfig, StartReport};
use std::sync::Arc;
use std::time::Duration;

/// Starts a created or exited container: mount its rootfs, write its OCI spec, launch its monitor.
pub async fn start(d: &Arc<Daemon>, e: &Arc<Entry>) -> Result<(), EngineError> {
    let _op = e.op.lock().await;
    start_locked(d, e).await
}

pub(crate) async fn start_locked(d: &Arc<Daemon>, e: &Arc<Entry>) -> Result<(), EngineError> {
    match e.status() {
        Status::Created | Status::Exited | Status::Dead => {}
        Status::Paused => return Err(EngineError::conflict("cannot start a paused container, try unpause instead")),
        Status::Removing => {
            return Err(EngineError::conflict("container is marked for removal and cannot be started".to_string()))
        }
        _ => return Ok(()), // Docker answers 304 Not Modified; the handler checks first.
    }
    launch(d, e).await
}

/// The restart policy's start (the op lock held): from restarting straight to running, as with
/// dockerd, so that no client sees the container exited between two incarnations (a `wait`
/// would answer the previous exit twice).
pub(crate) async fn restart_locked(d: &Arc<Daemon>, e: &Arc<Entry>) -> Result<(), EngineError> {
    if e.status() != Status::Restarting {
        return Ok(());
    }
    launch(d, e).await
}

async fn launch(d: &Arc<Daemon>, e: &Arc<Entry>) -> Result<(), EngineError> {
    let c = e.snapshot();
    let driver = d.driver(&c.options.storage_driver).map_err(|e| EngineError::internal(e.to_string()))?;
    let cid = c.id.clone();
    let rootfs = tokio::task::spawn_blocking(move || driver.mount(&cid))
        .await?
        .map_err(|e| EngineError::internal(format!("mounting the container's filesystem: {e}")))?;
    let paths = MonitorPaths::new(&d.config().exec_root, &c.id);
    if c.options.userns.is_some() {
        let (d2, c2) = (d.clone(), c.clone());
        let ns = c.endpoint.is_some().then(|| d.net.netns_path(&c.id));
        if let Err(msg) =
            tokio::task::spawn_blocking(move || crate::engine::userns::prepare(&d2, &c2, ns.as_deref())).await?
        {
            release_resources(d, e).await;
            return Err(fail_start(e, msg));
        }
    }
    let mut net_job = None;
    let netns = if c.endpoint.is_some() {
        let (d2, c2) = (d.clone(), c.clone());
        match tokio::task::spawn_blocking(move || d2.net.prepare(&d2, &c2)).await? {
            Ok((ns, ep)) => {
                e.update(|x| x.endpoint = Some(ep.clone()))?;
                // The veth and address are set up while the monitor runs `runtime create`; the
                // monitor starts the process only once the gate says the network is ready.
                let (d3, id3, ns3, extra) = (d.clone(), c.id.clone(), ns.clone(), c.extra_endpoints.clone());
                net_job = Some(tokio::task::spawn_blocking(move || {
                    d3.net.connect(&d3, &id3, &ep, &ns3)?;
                    extra.iter().try_for_each(|x| d3.net.connect(&d3, &id3, x, &ns3))
                }));
                Some(ns)
            }
            Err(err) => {
                release_resources(d, e).await;
                let msg = format!("driver failed programming external connectivity on endpoint {}: {err}", c.name);
                let _ = e.update(|x| x.state.error = msg.clone());
                return Err(EngineError::internal(msg));
            }
        }
    } else {
        None
    };
    let c = e.snapshot();
    if c.mounts.iter().any(|m| m.copy_up) {
        let (d2, mounts, root) = (d.clone(), c.mounts.clone(), rootfs.clone());
        tokio::task::spawn_blocking(move || mounts::copy_up(&d2, &mounts, &root)).await?;
    }
    // Legacy links give the process their children's addresses and environment (not the record).
    let spec_of = match crate::engine::links::env(d, &c) {
        Ok(env) if env.is_empty() => c.clone(),
        Ok(env) => {
            let mut with_links = c.clone();
            with_links.config.env.get_or_insert_with(Vec::new).extend(env);
            with_links
        }
        Err(err) => {
            let _ = release_resources(d, e).await;
            return Err(err);
        }
    };
    if c.host_config.links.is_some() || c.endpoints().any(|ep| !ep.links.is_empty()) {
        d.net.refresh_hosts_of(d, &c.id);
    }
    let spec = spec::build(&spec_of, &rootfs, netns.as_deref(), &d.config()).and_then(|mut s| {
        crate::engine::userns::apply_to_spec(&d.config(), &c, &mut s)?;
        Ok(s)
    });
    let spec = match spec {
        Ok(s) => s,
        Err(msg) => {
            let _ = release_resources(d, e).await;
            return Err(fail_start(e, msg));
        }
    };
    berth_proto::fsutil::create_dir_mode(&paths.state_dir, berth_proto::fsutil::modes::PRIVATE_DIR)?;
    berth_proto::fsutil::write_json_runtime(&paths.state_dir.join("config.json"), &spec)?;
    let health = crate::engine::health::shim_spec(&c, &spec, &paths.state_dir).map_err(EngineError::internal)?;
    // A stale exit record from the previous run must never be taken for this one's.
    let _ = std::fs::remove_file(e.dir.join(berth_proto::paths::EXIT_RECORD));
    previous_monitor_gone(d, &c.id).await?;
    let _ = std::fs::remove_file(paths.record());
    let cfg = d.config();
    let runtime_root = cfg.exec_root.join("runtime").join(&c.options.runtime);
    let mut rt_args = vec!["--root".to_string(), runtime_root.display().to_string()];
    rt_args.extend(c.options.runtime_args.iter().cloned());
    let shim_cfg = ShimConfig {
        id: c.id.clone(),
        bundle: paths.state_dir.clone(),
        state_dir: paths.state_dir.clone(),
        container_dir: e.dir.clone(),
        runtime: RuntimeSpec { name: c.options.runtime.clone(), path: c.options.runtime_path.clone(), args: rt_args },
        log: LogConfig { path: log_target(&c), max_size: c.options.log_max_size, max_file: c.options.log_max_file },
        terminal: c.config.tty.unwrap_or(false),
        open_stdin: c.config.open_stdin.unwrap_or(false),
        stdin_once: c.config.stdin_once.unwrap_or(false),
        start_gate: net_job.as_ref().map(|_| paths.state_dir.join("start-gate")),
        restart: restart::monitor_spec(&c),
        daemon_lock: Some(cfg.pidfile.clone()),
        health,
        console_size: console_size(c.config.tty.unwrap_or(false), c.host_config.console_size.as_deref()),
        dns: crate::engine::dns::spec(&c, netns.as_deref()),
        monitor_cgroup: Some(crate::cgroups::monitor_path(&c.options.cgroups_path)),
    };
    if let Some(g) = &shim_cfg.start_gate {
        let _ = std::fs::remove_file(g);
    }
    // The config below carries the current policy: an override from an earlier `update` is stale.
    let _ = std::fs::remove_file(e.dir.join(berth_proto::paths::RESTART_POLICY));
    berth_proto::fsutil::write_json_runtime(&paths.state_dir.join(berth_proto::paths::CONFIG), &shim_cfg)?;
    berth_proto::crashpoint::hit("start.after-prepare");
    e.update(|x| {
        x.state.before_start = Some(c.state.status);
        x.state.status = Status::Starting;
    })?;
    let gate = shim_cfg.start_gate.clone();
    let name = c.name.clone();
    let open_gate = async move {
        let (Some(job), Some(gate)) = (net_job, gate) else {
            return;
        };
        let verdict = match job.await {
            Ok(Ok(())) => "ok".to_string(),
            Ok(Err(err)) => format!("fail: driver failed programming external connectivity on endpoint {name}: {err}"),
            Err(err) => format!("fail: network set-up task failed: {err}"),
        };
        berth_proto::crashpoint::hit("start.before-gate");
        if let Err(err) = berth_proto::fsutil::write_runtime(&gate, verdict.as_bytes()) {
            tracing::error!("writing the start gate: {err}");
        }
    };
    let (report, ()) = tokio::join!(monitor::launch(&c.options.shim_binary, &shim_cfg), open_gate);
    match report {
        Ok(StartReport::Started { container_pid, container_start_time, started_at, .. }) => {
            berth_proto::crashpoint::hit("start.after-launch");
            // The monitor's own version and protocol, as it recorded them (inspect shows them).
            let mon = crate::engine::watcher::read_monitor(d, &c.id);
            e.update(|c| {
                if let Some(m) = mon {
                    c.options.shim_version = m.shim_version;
                    c.options.protocol = m.protocol;
                }
                c.state.status = Status::Running;
                c.state.before_start = None;
                c.state.pid = container_pid;
                c.state.pid_start_time = container_start_time;
                c.state.started_at = started_at;
                c.state.finished_at = ZERO_TIME.into();
                c.state.exit_code = 0;
                c.state.error.clear();
                c.state.reason.clear();
                c.state.oom_killed = false;
                c.state.stopped_by_user = false;
            })?;
            // At the time the process started: a container quicker than this line must not show
            // its `die` before its `start` in the history.
            let c = e.snapshot();
            let when =
                chrono::DateTime::parse_from_rfc3339(&c.state.started_at).ok().and_then(|t| t.timestamp_nanos_opt());
            match when {
                Some(t) => d.events.emit_at("container", "start", &c.id, attrs(&c), t),
                None => emit(d, &c, "start"),
            }
            crate::engine::watcher::spawn(d.clone(), e.clone());
            Ok(())
        }
        Ok(StartReport::Failed { message }) | Err(monitor::MonitorError::StartFailed(message)) => {
            let _ = release_resources(d, e).await;
            Err(fail_start(e, message))
        }
        Err(err) => {
            let _ = release_resources(d, e).await;
            Err(fail_start(e, err.to_string()))
        }
    }
}

/// The previous run's monitor reports the exit before it runs `runtime delete` and leaves: a
/// start that follows at once (`restart`, a restart policy, a quick `docker start`) must not have
/// the runtime create a container whose namesake is still being deleted.
async fn previous_monitor_gone(d: &Daemon, id: &str) -> Result<(), EngineError> {
    let Some(m) = crate::engine::watcher::read_monitor(d, id) else {
        return Ok(());
    };
    let old = berth_sys::ProcessIdentity { pid: m.shim_pid, start_time: m.shim_start_time };
    let t0 = std::time::Instant::now();
    while old.is_alive() {
        if t0.elapsed() > Duration::from_secs(10) {
            return Err(EngineError::conflict(format!(
                "the previous monitor of this container (pid {}) has not exited yet; try again",
                m.shim_pid
            )));
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    Ok(())
}

/// A start that failed leaves the container as Docker does: its error recorded, exit code 128
/// for "cannot run" (127 for a missing command, 126 for not executable).
fn fail_start(e: &Entry, message: String) -> EngineError {
    let code = if message.contains("not found") || message.contains("no such file") {
        127
    } else if message.contains("permission denied") {
        126
    } else {
        128
    };
    let _ = e.update(|c| {
        let before = c.state.before_start.take().unwrap_or(c.state.status);
        c.state.status =
            if before == Status::Created || before == Status::Starting { Status::Created } else { Status::Exited };
        c.state.exit_code = code;
        c.state.error = message.clone();
    });
    let msg = format!("failed to create task for container: {message}");
    if code == 127 || code == 126 {
        EngineError::invalid(msg)
    } else {
        EngineError::internal(msg)
    }
}

/// Where the monitor writes the container's output: its json-file log, or nowhere for the
/// `none` driver. Only the monitor is told /dev/null: the record keeps the log's own path, which
/// removal deletes.
fn log_target(c: &Container) -> std::path::PathBuf {
    if c.log_discarded() {
        std::path::PathBuf::from("/dev/null")
    } else {
        c.log_path.clone()
    }
}
