//! `berth container adopt <id>`: a new monitor for an orphan whose process still runs but whose
//! monitor is gone. The container is not touched; from then on it is running and managed again,
//! its logs resume, and its exit is recorded (with an unknown status: it is not the new monitor's
//! child).

use crate::engine::daemon::Daemon;
use crate::engine::store::Entry;
use crate::engine::EngineError;
use crate::model::Status;
use crate::monitor::{self, MonitorPaths};
use berth_proto::StartReport;
use berth_sys::ProcessIdentity;
use std::sync::Arc;

pub async fn adopt(d: &Arc<Daemon>, e: &Arc<Entry>) -> Result<String, EngineError> {
    let _op = e.op.lock().await;
    let c = e.snapshot();
    if c.state.status != Status::Orphaned {
        return Err(EngineError::conflict(format!(
            "container {} is {}, not orphaned: there is nothing to adopt",
            c.short_id(),
            format!("{:?}", c.state.status).to_lowercase()
        )));
    }
    let init = ProcessIdentity { pid: c.state.pid, start_time: c.state.pid_start_time };
    if !init.is_alive() {
        return Err(EngineError::conflict(format!("container {}: its process {} is gone", c.short_id(), init.pid)));
    }
    if let Some(m) = crate::engine::watcher::read_monitor(d, &c.id) {
        if (ProcessIdentity { pid: m.shim_pid, start_time: m.shim_start_time }).is_alive() {
            return Err(EngineError::conflict(format!(
                "container {}: its monitor (pid {}) is still alive and holds its output; a second one would split it. \
                 Restore it with a daemon that speaks its protocol, or stop or forget it",
                c.short_id(),
                m.shim_pid
            )));
        }
    }
    let paths = MonitorPaths::new(&d.config().exec_root, &c.id);
    let cfg_path = paths.state_dir.join(berth_proto::paths::CONFIG);
    let mut cfg: berth_proto::ShimConfig = berth_proto::fsutil::read_json(&cfg_path)?.ok_or_else(|| {
        EngineError::conflict(format!(
            "container {}: its monitor configuration {} is gone",
            c.short_id(),
            cfg_path.display()
        ))
    })?;
    if cfg.monitor_cgroup.is_none() {
        // A config from a daemon that left monitors in its own cgroup: the new monitor moves.
        cfg.monitor_cgroup = Some(crate::cgroups::monitor_path(&c.options.cgroups_path));
        berth_proto::fsutil::write_json_runtime(&cfg_path, &cfg)?;
    }
    let who = format!("{}:{}", init.pid, init.start_time);
    let report = monitor::launch_with(&d.shim_binary, &cfg, &["--adopt".to_string(), who]).await;
    let shim_pid = match report {
        Ok(StartReport::Started { shim_pid, .. }) => shim_pid,
        Ok(StartReport::Failed { message }) | Err(monitor::MonitorError::StartFailed(message)) => {
            return Err(EngineError::internal(format!("adopting container {}: {message}", c.short_id())))
        }
        Err(err) => return Err(EngineError::internal(format!("adopting container {}: {err}", c.short_id()))),
    };
    let mon = crate::engine::watcher::read_monitor(d, &c.id);
    e.update(|x| {
        x.state.status = Status::Running;
        x.state.reason.clear();
        x.options.shim_binary = d.shim_binary.clone();
        if let Some(m) = mon {
            x.options.shim_version = m.shim_version;
            x.options.protocol = m.protocol;
        }
    })?;
    let mut attrs = crate::engine::lifecycle::attrs(&c);
    attrs.insert("monitorPid".into(), shim_pid.to_string());
    d.events.emit("container", "adopt", &c.id, attrs);
    crate::engine::watcher::spawn(d.clone(), e.clone());
    Ok(format!(
        "adopted container {}: a new monitor (pid {shim_pid}) follows process {}; its logs resume from now, and its exit status will not be known",
        c.short_id(),
        init.pid
    ))
}
