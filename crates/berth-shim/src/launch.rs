//! Start-up: the launcher forks the monitor, the monitor creates and starts the container, and the
//! launcher relays the outcome to the daemon as one [`StartReport`] line.

use crate::error::ShimError;
use crate::event_loop::{Monitor, Output};
use crate::exit::MemoryCgroup;
use crate::fds::{pipe, pipe2, read_available, receive_console, set_nonblocking};
use crate::log::{JsonLog, Stream};
use crate::runtime::{error_message, Runtime};
use berth_proto::{fsutil, paths, protocol_range, MonitorRecord, ShimConfig, Side, StartReport};
use berth_sys::{Fork, ProcessIdentity};
use nix::fcntl::OFlag;
use nix::sys::signal::{SigSet, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::os::unix::net::UnixListener;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

/// Runs the launcher; returns the process exit code.
pub fn run(config_path: &Path) -> i32 {
    let mut cfg: ShimConfig = match fsutil::read_json(config_path) {
        Ok(Some(c)) => c,
        Ok(None) => return report_and_exit(&failed(ShimError::ConfigMissing(config_path.into()))),
        Err(source) => return report_and_exit(&failed(ShimError::ConfigRead { path: config_path.into(), source })),
    };
    // The runtime's own messages (warnings included) go to a file, never into the container's
    // stdio, which its `create` hands to the init.
    let rt_log = cfg.state_dir.join("runtime.log");
    cfg.runtime.args.extend(["--log".into(), rt_log.display().to_string(), "--log-format".into(), "json".into()]);
    let sealed = crate::runtime::use_sealed_copy(&mut cfg.runtime);
    close_inherited_fds(sealed);
    // Before the fork: the monitor and everything it starts are born outside the daemon's cgroup.
    crate::cgroup::join_configured(&cfg);
    fork_monitor("start", || start(cfg))
}

/// Forks the monitor, which runs `prepare` and reports its outcome on a pipe; the launcher (the
/// parent) relays that report on stdout and exits. Returns the exit code of whichever we are.
pub(crate) fn fork_monitor(what: &str, prepare: impl FnOnce() -> Result<Monitor, ShimError>) -> i32 {
    let (report_r, report_w) = match nix::unistd::pipe2(OFlag::O_CLOEXEC) {
        Ok(p) => p,
        Err(e) => return report_and_exit(&failed(ShimError::Pipe(e))),
    };
    match berth_sys::fork() {
        Err(e) => report_and_exit(&failed(ShimError::Fork(e))),
        Ok(Fork::Parent { .. }) => {
            drop(report_w);
            let mut line = String::new();
            let _ = File::from(report_r).read_to_string(&mut line);
            let report = serde_json::from_str::<StartReport>(line.trim())
                .unwrap_or_else(|_| failed(ShimError::NoReport(what.into())));
            report_and_exit(&report)
        }
        Ok(Fork::Child) => {
            drop(report_r);
            let mut report = File::from(report_w);
            match prepare() {
                Ok(monitor) => {
                    let _ = report.write_all(&line_of(&monitor.started_report()));
                    drop(report);
                    monitor.run()
                }
                Err(e) => {
                    crate::diag!("{what} failed: {e}");
                    let _ = report.write_all(&line_of(&failed(e)));
                    1
                }
            }
        }
    }
}

/// The report's message is the wire boundary: the daemon shows it as the start's error.
pub(crate) fn failed(e: ShimError) -> StartReport {
    StartReport::Failed { message: e.to_string() }
}

pub(crate) fn line_of(r: &StartReport) -> Vec<u8> {
    let mut v = serde_json::to_vec(r).expect("StartReport serializes");
    v.push(b'\n');
    v
}

pub(crate) fn report_and_exit(r: &StartReport) -> i32 {
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(&line_of(r));
    let _ = out.flush();
    match r {
        StartReport::Started { .. } => 0,
        StartReport::Failed { .. } => 1,
    }
}

/// Descriptors the daemon leaked into us would otherwise be held for the container's lifetime.
pub(crate) fn close_inherited_fds(keep: Option<i32>) {
    let fds: Vec<i32> = match fs::read_dir("/proc/self/fd") {
        Ok(rd) => rd
            .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
            .filter(|&fd| fd > 2 && Some(fd) != keep)
            .collect(),
        Err(_) => return,
    };
    for fd in fds {
        // The read_dir descriptor is already closed by now: EBADF is expected and harmless.
        let _ = nix::unistd::close(fd);
    }
}

/// Everything the monitor does before it reports Started.
fn start(cfg: ShimConfig) -> Result<Monitor, ShimError> {
    detach(&cfg)?;
    let sigfd = signals()?;
    let rt = Runtime { spec: &cfg.runtime, id: &cfg.id };
    let pid_file = cfg.state_dir.join(paths::INIT_PID);
    let _ = fs::remove_file(&pid_file);

    let (out_r, out_w) = pipe().map_err(ShimError::Pipe)?;
    let (err_r, err_w) = pipe().map_err(ShimError::Pipe)?;
    let (stdin_r, stdin_w) = if cfg.open_stdin && !cfg.terminal {
        let (r, w) = pipe2().map_err(ShimError::Pipe)?;
        (Stdio::from(r), Some(w))
    } else {
        (Stdio::null(), None)
    };
    let console_path = cfg.state_dir.join("console.sock");
    let (stdio, console) = if cfg.terminal {
        let _ = fs::remove_file(&console_path);
        let (_dir, short) = berth_proto::fsutil::socket_path(&console_path).map_err(ShimError::Console)?;
        let l = UnixListener::bind(&short).map_err(ShimError::Console)?;
        // With a terminal the runtime's own stdio carries only its error messages.
        drop(out_w);
        ([Stdio::null(), Stdio::null(), Stdio::from(err_w)], Some(l))
    } else {
        ([stdin_r, Stdio::from(out_w), Stdio::from(err_w)], None)
    };

    let child = rt.spawn_create(&cfg.bundle, &pid_file, console.as_ref().map(|_| console_path.as_path()), stdio);
    let mut child = child.map_err(|source| ShimError::RuntimeSpawn { path: cfg.runtime.path.clone(), source })?;
    let pty = match &console {
        Some(l) => {
            let r = receive_console(l, &mut child);
            let _ = fs::remove_file(&console_path);
            match r {
                Ok(fd) => {
                    if let Some((rows, cols)) = cfg.console_size {
                        if let Err(e) = berth_sys::set_winsize(std::os::fd::AsFd::as_fd(&fd), rows, cols) {
                            crate::diag!("setting the console size: {e}");
                        }
                    }
                    Some(fd)
                }
                Err(e) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    let err = error_message(&read_available(&err_r)).map(ShimError::Runtime).unwrap_or(e);
                    let _ = rt.delete(true);
                    return Err(err);
                }
            }
        }
        None => None,
    };
    let status = child.wait().map_err(|source| ShimError::RuntimeWait { runtime: cfg.runtime.name.clone(), source })?;
    if !status.success() {
        let err = error_message(&read_available(&err_r)).map(ShimError::Runtime).unwrap_or_else(|| {
            ShimError::RuntimeStatus { runtime: cfg.runtime.name.clone(), verb: "create".into(), status }
        });
        let _ = rt.delete(true);
        return Err(err);
    }
    let fail = |err: ShimError| {
        let _ = rt.delete(true);
        Err(err)
    };
    let pid: i32 = match fs::read_to_string(&pid_file).map(|s| s.trim().parse()) {
        Ok(Ok(p)) => p,
        _ => return fail(ShimError::NoPid { runtime: cfg.runtime.name.clone(), path: pid_file }),
    };
    if let Some(gate) = &cfg.start_gate {
        if let Err(err) = wait_gate(gate) {
            return fail(err);
        }
    }
    // Before the process runs, so that its first lookup finds the server (and its resolv.conf
    // pointing there); the namespace and its names are ready once the gate opened.
    let dns = match crate::event_loop::DnsServer::start(&cfg) {
        Ok(d) => d,
        Err(err) => return fail(err.into()),
    };
    if let Err(err) = rt.start() {
        return fail(err);
    }
    // The init is our child now (we are its subreaper): even if it already exited it stays a zombie
    // until we reap it, so its identity is readable and the pid cannot be reused.
    let Some(init) = ProcessIdentity::of(pid) else {
        return fail(ShimError::InitVanished(pid));
    };
    let memcg = MemoryCgroup::of(pid);

    let mut outputs = Vec::new();
    if let Some(master) = &pty {
        let fd = master.try_clone().map_err(ShimError::Dup)?;
        set_nonblocking(&fd).map_err(ShimError::Pty)?;
        outputs.push(Output { fd, stream: Stream::Stdout, exec: None });
    } else {
        for (fd, stream) in [(out_r, Stream::Stdout), (err_r, Stream::Stderr)] {
            set_nonblocking(&fd).map_err(ShimError::Pipe)?;
            outputs.push(Output { fd, stream, exec: None });
        }
    }
    let log = match JsonLog::open(&cfg.log) {
        Ok(l) => l,
        Err(source) => return fail(ShimError::Log { path: cfg.log.path.clone(), source }),
    };

    let started_at = crate::timefmt::now();
    let socket = cfg.state_dir.join(paths::SOCKET);
    let record = monitor_record(&cfg, &init, &started_at);
    // An exit record left from an earlier run of this container would tell a restoring daemon
    // that the new one has exited.
    match fs::remove_file(cfg.container_dir.join(paths::EXIT_RECORD)) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return fail(ShimError::PreviousExitRecord(e)),
        _ => {}
    }
    if let Err(e) = fsutil::write_json_runtime(&cfg.state_dir.join(paths::MONITOR_RECORD), &record) {
        return fail(ShimError::MonitorRecord(e));
    }
    let listener = match bind_control(&socket) {
        Ok(l) => l,
        Err(source) => return fail(ShimError::ControlSocket { path: socket, source }),
    };
    Ok(Monitor::new(cfg, init, started_at, sigfd, outputs, stdin_w, pty, listener, log, memcg).with_dns(dns))
}

/// What this monitor writes to `monitor.json` for a daemon to find it after a restart.
pub(crate) fn monitor_record(cfg: &ShimConfig, init: &ProcessIdentity, started_at: &str) -> MonitorRecord {
    let me = std::process::id() as i32;
    MonitorRecord {
        container_id: cfg.id.clone(),
        shim_pid: me,
        shim_start_time: ProcessIdentity::of(me).map(|i| i.start_time).unwrap_or(0),
        shim_binary: fs::read_link("/proc/self/exe").unwrap_or_default(),
        shim_version: berth_proto::monitor_version(),
        protocol: protocol_range(Side::Monitor).1,
        min_protocol: protocol_range(Side::Monitor).0,
        socket: cfg.state_dir.join(paths::SOCKET),
        container_pid: init.pid,
        container_start_time: init.start_time,
        started_at: started_at.to_string(),
        runtime: cfg.runtime.name.clone(),
    }
}

/// Own session (no terminal or process-group signal of the daemon reaches us), subreaper, and
/// stdio that cannot block: a diagnostics pipe the daemon stops reading would stall the monitor.
pub(crate) fn detach(cfg: &ShimConfig) -> Result<(), ShimError> {
    nix::unistd::setsid().map_err(ShimError::Setsid)?;
    berth_sys::set_child_subreaper().map_err(ShimError::Subreaper)?;
    fs::create_dir_all(&cfg.state_dir).map_err(|source| ShimError::Path { path: cfg.state_dir.clone(), source })?;
    let null = OpenOptions::new().read(true).write(true).open("/dev/null")?;
    let diag = OpenOptions::new()
        .create(true)
        .mode(fsutil::PRIVATE_FILE)
        .append(true)
        .open(cfg.state_dir.join("shim.log"))
        .map_err(ShimError::DiagLog)?;
    for (from, to) in [(null.as_raw_fd(), 0), (null.as_raw_fd(), 1), (diag.as_raw_fd(), 2)] {
        nix::unistd::dup2(from, to).map_err(ShimError::Dup2)?;
    }
    // Do not pin whatever mount the daemon ran in.
    let _ = std::env::set_current_dir("/");
    Ok(())
}

/// Blocks the signals we handle or ignore and returns a signalfd for them. The runtime children get
/// an empty mask back from std::process (it resets the mask and SIGPIPE before exec).
pub(crate) fn signals() -> Result<SignalFd, ShimError> {
    let mut mask = SigSet::empty();
    for s in [Signal::SIGCHLD, Signal::SIGTERM, Signal::SIGINT, Signal::SIGHUP, Signal::SIGPIPE, Signal::SIGQUIT] {
        mask.add(s);
    }
    mask.thread_block().map_err(ShimError::Sigprocmask)?;
    SignalFd::with_flags(&mask, SfdFlags::SFD_NONBLOCK | SfdFlags::SFD_CLOEXEC).map_err(ShimError::Signalfd)
}

/// Waits for the daemon's go-ahead (network in place) before the container's process starts.
fn wait_gate(gate: &Path) -> Result<(), ShimError> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(s) = fs::read_to_string(gate) {
            let s = s.trim();
            if s == "ok" {
                return Ok(());
            }
            if let Some(reason) = s.strip_prefix("fail:") {
                return Err(ShimError::GateRefused(reason.trim().to_string()));
            }
        }
        if Instant::now() > deadline {
            return Err(ShimError::GateTimeout);
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// Binds the control socket, owner-only: whoever can connect can kill the container.
pub(crate) fn bind_control(path: &Path) -> std::io::Result<UnixListener> {
    use nix::sys::stat::{umask, Mode};
    let _ = fs::remove_file(path);
    // The umask closes the window between bind and chmod in which others could connect.
    // Deep exec-roots overflow sun_path: bind through a directory handle when needed.
    let (_dir, short) = berth_proto::fsutil::socket_path(path)?;
    let old = umask(Mode::from_bits_truncate(0o177));
    let bound = UnixListener::bind(&short);
    umask(old);
    let l = bound?;
    fs::set_permissions(path, fs::Permissions::from_mode(0o600))?;
    l.set_nonblocking(true)?;
    Ok(l)
}
