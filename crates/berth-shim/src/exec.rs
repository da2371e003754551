//! Processes run in the container besides its init (`docker exec`). The monitor starts them with
//! `runtime exec -d`, adopts them as their subreaper, writes their output json-file formatted to
//! `execs/<id>/output.log` and their exit to `execs/<id>/exit.json` — so an exec, like the
//! container, never depends on the daemon being there.

use crate::error::ShimError;
use crate::exit::WaitOutcome;
use crate::log::{JsonLog, Stream};
use crate::runtime::{error_message, Runtime};
use berth_proto::{fsutil, paths, ExitRecord, LogConfig, ShimConfig};
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::process::Stdio;

pub struct ExecProc {
    pub id: String,
    pub dir: PathBuf,
    /// The `runtime exec -d` process, until it exits.
    pub runtime_pid: Option<i32>,
    /// Connection waiting for the exec to have started.
    pub starter: Option<u64>,
    pub pid: Option<i32>,
    pub log: JsonLog,
    pub open_outputs: usize,
    pub reaped: Option<ExitRecord>,
    /// Written to disk: waiters may be answered.
    pub exit: Option<ExitRecord>,
    /// Its terminal (`-t`) or stdin (`-i`), and what attached clients are sent.
    pub io: crate::attach::AttachIo,
    /// The terminal's master, for resizes.
    pub pty: Option<OwnedFd>,
    /// The container's health probe: its output is judged, not logged.
    pub probe: bool,
    /// Why the runtime could not start it.
    pub failure: Option<String>,
}

/// Valid exec ids are what the daemon generates: hex, so they are safe as directory names.
pub fn valid_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 64 && id.chars().all(|c| c.is_ascii_hexdigit())
}

/// What an exec is started with.
pub struct ExecSpec<'a> {
    pub id: &'a str,
    pub process: &'a Path,
    pub conn: u64,
    /// A terminal whose master the monitor holds (`-t`).
    pub tty: bool,
    /// A stdin pipe the monitor holds (`-i`).
    pub stdin: bool,
    /// The health probe (one at a time, in its own directory, output to no log).
    pub probe: bool,
    /// The terminal's starting size (rows, columns), with `tty`.
    pub console_size: Option<(u16, u16)>,
}

/// Starts the runtime for one exec; returns the exec and the read ends of its outputs (the
/// terminal's master, or the stdout and stderr pipes).
pub fn spawn(cfg: &ShimConfig, spec: &ExecSpec) -> Result<(ExecProc, Vec<(OwnedFd, Stream)>), ShimError> {
    let id = spec.id;
    if !spec.probe && !valid_id(id) {
        return Err(ShimError::InvalidExecId(id.into()));
    }
    let (dir, log_path) = match spec.probe {
        true => {
            let dir = cfg.state_dir.join(paths::HEALTH_PROBE);
            let _ = std::fs::remove_dir_all(&dir);
            (dir, PathBuf::from("/dev/null"))
        }
        false => {
            let dir = cfg.state_dir.join(paths::EXECS).join(id);
            let log = dir.join(paths::EXEC_OUTPUT);
            (dir, log)
        }
    };
    std::fs::create_dir_all(&dir).map_err(|source| ShimError::Path { path: dir.clone(), source })?;
    let log = JsonLog::open(&LogConfig { path: log_path, max_size: 0, max_file: 1 }).map_err(ShimError::ExecLog)?;
    let spawn_failed = |source| ShimError::RuntimeSpawn { path: cfg.runtime.path.clone(), source };
    let rt = Runtime { spec: &cfg.runtime, id: &cfg.id };
    let (pid_file, err_log) = (dir.join("pid"), dir.join("runtime.log"));
    let (child, outputs, stdin_w, pty) = if spec.tty {
        // The runtime hands the terminal's master over a socket while `exec -d` runs (it is
        // still our child, reaped by the event loop once it exits).
        let console = dir.join("console.sock");
        let _ = std::fs::remove_file(&console);
        let (_d, short) = fsutil::socket_path(&console).map_err(ShimError::Console)?;
        let l = std::os::unix::net::UnixListener::bind(&short).map_err(ShimError::Console)?;
        let mut child = rt
            .spawn_exec(
                spec.process,
                &pid_file,
                &err_log,
                Some(&console),
                [Stdio::null(), Stdio::null(), Stdio::null()],
            )
            .map_err(spawn_failed)?;
        let master = crate::fds::receive_console(&l, &mut child);
        let _ = std::fs::remove_file(&console);
        let master = master?;
        if let Some((rows, cols)) = spec.console_size {
            if let Err(e) = berth_sys::set_winsize(std::os::fd::AsFd::as_fd(&master), rows, cols) {
                crate::diag!("exec {id}: setting the console size: {e}");
            }
        }
        let out = master.try_clone().map_err(ShimError::Dup)?;
        (child, vec![(out, Stream::Stdout)], None, Some(master))
    } else {
        let (out_r, out_w) = crate::fds::pipe().map_err(ShimError::Pipe)?;
        let (err_r, err_w) = crate::fds::pipe().map_err(ShimError::Pipe)?;
        let (stdin_child, stdin_w) = if spec.stdin {
            let (r, w) = crate::fds::pipe().map_err(ShimError::Pipe)?;
            (Stdio::from(r), Some(w))
        } else {
            (Stdio::null(), None)
        };
        let child = rt
            .spawn_exec(spec.process, &pid_file, &err_log, None, [stdin_child, Stdio::from(out_w), Stdio::from(err_w)])
            .map_err(spawn_failed)?;
        (child, vec![(out_r, Stream::Stdout), (err_r, Stream::Stderr)], stdin_w, None)
    };
    let io = crate::attach::AttachIo::new(spec.tty, true, pty.as_ref(), stdin_w, spec.tty || spec.stdin);
    let e = ExecProc {
        id: id.to_string(),
        dir,
        runtime_pid: Some(child.id() as i32),
        starter: Some(spec.conn),
        pid: None,
        log,
        open_outputs: outputs.len(),
        reaped: None,
        exit: None,
        io,
        pty,
        probe: spec.probe,
        failure: None,
    };
    Ok((e, outputs))
}

impl ExecProc {
    /// The runtime process exited: the exec runs (its pid is in the pid file) or failed to start.
    /// Returns Ok(pid) or the runtime's error.
    pub fn runtime_exited(&mut self, outcome: WaitOutcome) -> Result<i32, ShimError> {
        self.runtime_pid = None;
        let ok = matches!(outcome, WaitOutcome::Exited(0));
        let pid = std::fs::read_to_string(self.dir.join("pid")).ok().and_then(|s| s.trim().parse::<i32>().ok());
        match (ok, pid) {
            (true, Some(p)) => {
                self.pid = Some(p);
                Ok(p)
            }
            _ => {
                let msg = error_message(&std::fs::read(self.dir.join("runtime.log")).unwrap_or_default())
                    .map(ShimError::Runtime)
                    .unwrap_or(ShimError::Exec(outcome));
                // Docker's codes: 127 command not found, 126 not executable / cannot run.
                let text = msg.to_string();
                let code = if text.contains("not found") || text.contains("no such file") { 127 } else { 126 };
                self.reaped = Some(ExitRecord {
                    exit_code: code,
                    signal: None,
                    finished_at: crate::timefmt::now(),
                    pid: 0,
                    oom_killed: false,
                    unknown: false,
                });
                self.failure = Some(text);
                Err(msg)
            }
        }
    }

    /// Output pipe at EOF.
    pub fn output_closed(&mut self, stream: Stream) {
        self.log.end_stream(stream, &crate::timefmt::now());
        self.open_outputs = self.open_outputs.saturating_sub(1);
    }

    /// Once reaped and drained (or `force`), the exit is written; returns it the first time.
    pub fn settle(&mut self, force: bool) -> Option<ExitRecord> {
        if self.exit.is_some() || self.runtime_pid.is_some() {
            return None;
        }
        let rec = self.reaped.clone()?;
        if self.open_outputs > 0 && !force {
            return None;
        }
        let now = crate::timefmt::now();
        self.log.end_stream(Stream::Stdout, &now);
        self.log.end_stream(Stream::Stderr, &now);
        self.log.flush();
        if let Err(e) = fsutil::write_json_atomic(&self.dir.join(paths::EXIT_RECORD), &rec) {
            crate::diag!("exec {}: writing exit record: {e}", self.id);
        }
        self.exit = Some(rec.clone());
        Some(rec)
    }
}
