//! `berth-shim --adopt <pid>:<start_time> --config <state_dir>/shim.json`: a new monitor for a
//! running container whose monitor is gone (`berth container adopt`).
//!
//! The container keeps running untouched. Its stdout/stderr pipes lost their reader with the old
//! monitor; `/proc/<pid>/fd/{1,2}` opened for reading gives this monitor the same pipes back, so
//! the log resumes from here on. (A terminal container's pty master died with the old monitor:
//! its output cannot be recovered, but it is still followed, signalled and waited for.) The init
//! is not our child: its end is noticed by its identity and its exit status is unknown.

use crate::error::ShimError;
use crate::event_loop::{Monitor, Output};
use crate::exit::MemoryCgroup;
use crate::fds::set_nonblocking;
use crate::launch::{
    bind_control, close_inherited_fds, detach, failed, fork_monitor, monitor_record, report_and_exit, signals,
};
use crate::log::{JsonLog, Stream};
use berth_proto::{fsutil, paths, ShimConfig};
use berth_sys::ProcessIdentity;
use std::fs::{self, OpenOptions};
use std::os::fd::OwnedFd;
use std::path::Path;

/// Parses `<pid>:<start_time>`.
pub fn parse_identity(s: &str) -> Option<ProcessIdentity> {
    let (p, t) = s.split_once(':')?;
    Some(ProcessIdentity { pid: p.parse().ok()?, start_time: t.parse().ok()? })
}

/// Runs the adopting launcher; returns the process exit code (0 adopted, 1 not).
pub fn run(config_path: &Path, init: ProcessIdentity) -> i32 {
    let mut cfg: ShimConfig = match fsutil::read_json(config_path) {
        Ok(Some(c)) => c,
        Ok(None) => return report_and_exit(&failed(ShimError::ConfigMissing(config_path.into()))),
        Err(source) => return report_and_exit(&failed(ShimError::ConfigRead { path: config_path.into(), source })),
    };
    if !init.is_alive() {
        return report_and_exit(&failed(ShimError::InitNotRunning(init.pid)));
    }
    // As at a start: the runtime's own messages go to its log file, not to our diagnostics.
    let rt_log = cfg.state_dir.join("runtime.log");
    cfg.runtime.args.extend(["--log".into(), rt_log.display().to_string(), "--log-format".into(), "json".into()]);
    let sealed = crate::runtime::use_sealed_copy(&mut cfg.runtime);
    close_inherited_fds(sealed);
    // Before the fork: the monitor and everything it starts are born outside the daemon's cgroup.
    crate::cgroup::join_configured(&cfg);
    fork_monitor("adoption", || prepare(cfg, init))
}

/// The container's output pipe `fd` (1 or 2), reopened for reading; None when it is not a pipe.
fn reopen_output(pid: i32, fd: i32) -> Option<OwnedFd> {
    let target = fs::read_link(format!("/proc/{pid}/fd/{fd}")).ok()?;
    if !target.to_string_lossy().starts_with("pipe:") {
        return None;
    }
    let f = OpenOptions::new().read(true).open(format!("/proc/{pid}/fd/{fd}")).ok()?;
    Some(OwnedFd::from(f))
}

fn prepare(cfg: ShimConfig, init: ProcessIdentity) -> Result<Monitor, ShimError> {
    detach(&cfg)?;
    let sigfd = signals()?;
    let mut outputs = Vec::new();
    for (fd, stream) in [(1, Stream::Stdout), (2, Stream::Stderr)] {
        if let Some(fd) = reopen_output(init.pid, fd) {
            set_nonblocking(&fd).map_err(ShimError::Pipe)?;
            outputs.push(Output { fd, stream, exec: None });
        }
    }
    if outputs.is_empty() {
        crate::diag!(
            "container {} has no output pipes to take over (a terminal?): following it without logs",
            init.pid
        );
    }
    // The identity is checked again now that the pipes are held: a pid reused in between would
    // have handed us someone else's pipes.
    if !init.is_alive() {
        return Err(ShimError::InitEnded(init.pid));
    }
    let log = JsonLog::open(&cfg.log).map_err(|source| ShimError::Log { path: cfg.log.path.clone(), source })?;
    let started_at = fsutil::read_json::<berth_proto::MonitorRecord>(&cfg.state_dir.join(paths::MONITOR_RECORD))
        .ok()
        .flatten()
        .filter(|m| m.container_pid == init.pid && m.container_start_time == init.start_time)
        .map(|m| m.started_at)
        .unwrap_or_else(crate::timefmt::now);
    let record = monitor_record(&cfg, &init, &started_at);
    fsutil::write_json_runtime(&cfg.state_dir.join(paths::MONITOR_RECORD), &record)
        .map_err(ShimError::MonitorRecord)?;
    let socket = cfg.state_dir.join(paths::SOCKET);
    let listener = bind_control(&socket).map_err(|source| ShimError::ControlSocket { path: socket, source })?;
    let memcg = MemoryCgroup::of(init.pid);
    // The old monitor's DNS sockets went with it: the port is free to bind again.
    let dns = crate::event_loop::DnsServer::start(&cfg)?;
    Ok(Monitor::new(cfg, init, started_at, sigfd, outputs, None, None, listener, log, memcg).adopted().with_dns(dns))
}
