//! The monitor's single-threaded poll(2) loop: container output → log file, SIGCHLD → reaping,
//! control connections → answers. Output is always drained first: nothing here waits on a client.

mod dns;
mod ops;
mod probe;

pub(crate) use dns::DnsServer;

use crate::control::{error, Conn};
use crate::error::ShimError;
use crate::exec::ExecProc;
use crate::exit::{self, MemoryCgroup, WaitOutcome};
use crate::health::Health;
use crate::log::{JsonLog, Stream};
use crate::runtime::{error_message, Runtime};
use berth_proto::{fsutil, paths, ExitRecord, Response, ShimConfig, StartReport};
use berth_sys::ProcessIdentity;
use nix::errno::Errno;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::Signal;
use nix::sys::signalfd::SignalFd;
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;
use std::fs;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::net::UnixListener;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// After the init exits, how long to keep reading output still held open by a stray grandchild.
const DRAIN_AFTER_EXIT: Duration = Duration::from_secs(1);
/// Reads per output per loop turn, so one chatty stream cannot starve the rest.
const READS_PER_TURN: usize = 16;
const READ_BUF: usize = 16 * 1024;
const MAX_CONNS: usize = 512;

pub struct Output {
    pub fd: OwnedFd,
    pub stream: Stream,
    /// Output of an exec (by id) rather than of the container's init.
    pub exec: Option<String>,
}

/// Everything but the connections, so that a connection can call into it.
struct Core {
    cfg: ShimConfig,
    init: ProcessIdentity,
    log: JsonLog,
    pty: Option<OwnedFd>,
    memcg: MemoryCgroup,
    /// Set when the init has been reaped (finished_at is the reaping time).
    reaped: Option<ExitRecord>,
    /// Set once the exit record is on disk: only then is the exit reported to anyone.
    exit: Option<ExitRecord>,
    kills: Vec<PendingKill>,
    kill_seq: u64,
    execs: Vec<ExecProc>,
    /// Children reaped that nobody claimed yet: an exec can exit before the `runtime exec` that
    /// reports its pid does. Bounded: stray orphans of the container land here too.
    unclaimed: Vec<(i32, ExitRecord)>,
    /// Exec outputs opened by a request, moved into the loop's outputs after the turn.
    new_outputs: Vec<Output>,
    /// The init is not our child (`berth container adopt`): its end is noticed by polling its
    /// identity, and its exit status is unknown.
    adopted: bool,
    /// When this monitor (and so this incarnation) started: a restart back-off resets after 10 s.
    born: Instant,
    /// The container's input (terminal or stdin) and what attached clients are sent.
    io: crate::attach::AttachIo,
    /// Its health check, when it has one.
    health: Option<Health>,
}

impl Core {
    /// Offers typed input to the container and its execs again; true while some still waits.
    fn flush_inputs(&mut self) -> bool {
        let mut waiting = self.io.flush();
        for e in &mut self.execs {
            waiting |= e.io.flush();
        }
        waiting
    }
}

/// A `runtime kill --all` still running, and the connection waiting for its outcome.
struct PendingKill {
    pid: i32,
    conn: u64,
    err_file: PathBuf,
}

pub struct Monitor {
    core: Core,
    started_at: String,
    sigfd: SignalFd,
    outputs: Vec<Output>,
    listener: UnixListener,
    conns: Vec<Conn>,
    next_conn: u64,
    /// The embedded DNS at 127.0.0.11:53 in the container's namespace, when it is served.
    dns: Option<DnsServer>,
}

impl Monitor {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        cfg: ShimConfig,
        init: ProcessIdentity,
        started_at: String,
        sigfd: SignalFd,
        outputs: Vec<Output>,
        stdin: Option<OwnedFd>,
        pty: Option<OwnedFd>,
        listener: UnixListener,
        log: JsonLog,
        memcg: MemoryCgroup,
    ) -> Self {
        let io = crate::attach::AttachIo::new(
            cfg.terminal,
            cfg.stdin_once,
            pty.as_ref(),
            stdin,
            cfg.terminal || cfg.open_stdin,
        );
        let health = Health::new(&cfg);
        Monitor {
            core: Core {
                io,
                health,
                cfg,
                init,
                log,
                pty,
                memcg,
                reaped: None,
                exit: None,
                kills: Vec::new(),
                kill_seq: 0,
                execs: Vec::new(),
                unclaimed: Vec::new(),
                new_outputs: Vec::new(),
                adopted: false,
                born: Instant::now(),
            },
            started_at,
            sigfd,
            outputs,
            listener,
            conns: Vec::new(),
            next_conn: 0,
            dns: None,
        }
    }

    /// With the embedded DNS server bound for this container.
    pub fn with_dns(mut self, dns: Option<DnsServer>) -> Self {
        self.dns = dns;
        self
    }

    /// For a monitor adopting a running container it did not start.
    pub fn adopted(mut self) -> Self {
        self.core.adopted = true;
        self
    }

    pub fn started_report(&self) -> StartReport {
        StartReport::Started {
            shim_pid: std::process::id() as i32,
            container_pid: self.core.init.pid,
            container_start_time: self.core.init.start_time,
            started_at: self.started_at.clone(),
        }
    }

    /// Runs until the container has exited and everything is recorded; returns the exit code.
    pub fn run(mut self) -> i32 {
        let mut buf = vec![0u8; READ_BUF];
        // The init may have exited before the loop started; its SIGCHLD is pending, but be sure.
        self.reap();
        let mut drain_deadline: Option<Instant> = None;
        loop {
            if self.core.reaped.is_some() {
                let deadline = *drain_deadline.get_or_insert_with(|| Instant::now() + DRAIN_AFTER_EXIT);
                if self.outputs.is_empty() || Instant::now() >= deadline {
                    break;
                }
            }
            let health_due = match self.core.reaped {
                None => self.tick_health(),
                Some(_) => None,
            };
            let ms_until = |d: Instant| d.saturating_duration_since(Instant::now()).as_millis().clamp(1, 1000) as u16;
            let timeout_ms = match drain_deadline.or(health_due) {
                Some(d) => Some(ms_until(d)),
                // An adopted init sends no SIGCHLD: look at it a few times a second; typed input
                // the container has not taken yet is offered again soon.
                None if self.core.adopted => Some(200),
                None if self.core.flush_inputs() => Some(20),
                None => None,
            };
            let dns_due = self.dns.as_mut().and_then(|d| d.tick(Instant::now())).map(ms_until);
            let timeout = match (timeout_ms, dns_due) {
                (Some(a), Some(b)) => PollTimeout::from(a.min(b)),
                (Some(a), None) | (None, Some(a)) => PollTimeout::from(a),
                (None, None) => PollTimeout::NONE,
            };
            let revents = {
                let mut fds = Vec::with_capacity(2 + self.outputs.len() + self.conns.len());
                fds.push(PollFd::new(self.sigfd.as_fd(), PollFlags::POLLIN));
                fds.push(PollFd::new(self.listener.as_fd(), PollFlags::POLLIN));
                for o in &self.outputs {
                    fds.push(PollFd::new(o.fd.as_fd(), PollFlags::POLLIN));
                }
                for c in &self.conns {
                    let mut ev = PollFlags::empty();
                    if c.wants_read() {
                        ev |= PollFlags::POLLIN;
                    }
                    if c.wants_write() {
                        ev |= PollFlags::POLLOUT;
                    }
                    fds.push(PollFd::new(c.stream.as_fd(), ev));
                }
                if let Some(d) = &self.dns {
                    fds.extend(d.poll_fds());
                }
                match poll(&mut fds, timeout) {
                    Ok(_) => {}
                    Err(Errno::EINTR) => continue,
                    Err(e) => {
                        crate::diag!("poll: {e}");
                        std::thread::sleep(Duration::from_millis(10));
                        continue;
                    }
                }
                fds.iter().map(|f| f.revents().unwrap_or(PollFlags::empty())).collect::<Vec<_>>()
            };
            let n_out = self.outputs.len();
            self.pump_outputs(&revents[2..2 + n_out], &mut buf);
            if !revents[0].is_empty() {
                self.on_signals();
            }
            let n_conns = self.conns.len();
            self.serve_conns(&revents[2 + n_out..2 + n_out + n_conns]);
            if let Some(d) = &mut self.dns {
                d.on_ready(&revents[2 + n_out + n_conns..]);
            }
            if !revents[1].is_empty() {
                self.accept();
            }
            self.outputs.append(&mut self.core.new_outputs);
            self.settle_execs(false);
            if self.core.adopted && self.core.reaped.is_none() && !self.core.init.is_alive() {
                self.core.reaped = Some(exit::unknown(self.core.init.pid));
            }
        }
        self.settle_execs(true);
        self.finish()
    }

    fn pump_outputs(&mut self, revents: &[PollFlags], buf: &mut [u8]) {
        let mut closed = Vec::new();
        for (i, (o, ev)) in self.outputs.iter().zip(revents).enumerate() {
            if ev.is_empty() {
                continue;
            }
            let exec = o.exec.as_ref().and_then(|id| self.core.execs.iter_mut().find(|e| &e.id == id));
            match exec {
                Some(e) if e.probe => {
                    let health = &mut self.core.health;
                    let ended = read_output(o, buf, &mut |data| {
                        if let Some(h) = health.as_mut() {
                            h.capture(data);
                        }
                    });
                    if ended {
                        e.output_closed(o.stream);
                        closed.push(i);
                    }
                }
                Some(e) => {
                    let conns = &mut self.conns;
                    let ended = read_output(o, buf, &mut |data| {
                        e.log.feed(o.stream, data, &crate::timefmt::now());
                        let out = e.io.format(o.stream, data);
                        for c in conns.iter_mut().filter(|c| c.attached_exec.as_deref() == Some(e.id.as_str())) {
                            c.push_output(&out);
                        }
                    });
                    if ended {
                        e.output_closed(o.stream);
                        closed.push(i);
                    }
                    e.log.flush();
                }
                None if o.exec.is_some() => closed.push(i),
                None => {
                    let (log, io, conns) = (&mut self.core.log, &mut self.core.io, &mut self.conns);
                    let ended = read_output(o, buf, &mut |data| {
                        // The log first: an attached client never comes before the record.
                        log.feed(o.stream, data, &crate::timefmt::now());
                        let out = io.format(o.stream, data);
                        for c in conns.iter_mut().filter(|c| c.attached && c.attached_exec.is_none()) {
                            c.push_output(&out);
                        }
                    });
                    if ended {
                        self.core.log.end_stream(o.stream, &crate::timefmt::now());
                        closed.push(i);
                    }
                }
            }
        }
        for i in closed.into_iter().rev() {
            self.outputs.remove(i);
        }
        self.core.log.flush();
    }

    fn on_signals(&mut self) {
        let mut chld = false;
        loop {
            match self.sigfd.read_signal() {
                Ok(Some(si)) if si.ssi_signo == Signal::SIGCHLD as u32 => chld = true,
                // Termination signals are ignored on purpose: the container outlives its monitor's
                // supervisor; only SIGKILL ends a monitor early.
                Ok(Some(si)) => crate::diag!("ignoring signal {}", si.ssi_signo),
                Ok(None) => break,
                Err(Errno::EINTR) => {}
                Err(e) => {
                    crate::diag!("signalfd: {e}");
                    break;
                }
            }
        }
        if chld {
            self.reap();
        }
    }

    /// Reaps every child that has exited: the init, runtime invocations, re-parented orphans.
    fn reap(&mut self) {
        loop {
            let (pid, outcome) = match waitpid(Pid::from_raw(-1), Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::Exited(p, c)) => (p.as_raw(), WaitOutcome::Exited(c)),
                Ok(WaitStatus::Signaled(p, s, _)) => (p.as_raw(), WaitOutcome::Signaled(s as i32)),
                Ok(WaitStatus::StillAlive) => break,
                Ok(_) => continue,
                Err(Errno::EINTR) => continue,
                Err(_) => break, // ECHILD
            };
            if let Some(e) = self.core.execs.iter_mut().find(|e| e.runtime_pid == Some(pid)) {
                let resp = match e.runtime_exited(outcome) {
                    Ok(p) => {
                        if let Some(i) = self.core.unclaimed.iter().position(|(up, _)| *up == p) {
                            e.reaped = Some(self.core.unclaimed.remove(i).1);
                        }
                        Response::ExecStarted { pid: p }
                    }
                    Err(e) => error(e),
                };
                if let Some(conn) = e.starter.take() {
                    if let Some(c) = self.conns.iter_mut().find(|c| c.id == conn) {
                        c.send(&resp);
                        c.process(&mut self.core);
                    }
                }
                continue;
            }
            if let Some(e) = self.core.execs.iter_mut().find(|e| e.pid == Some(pid) && e.reaped.is_none()) {
                e.reaped = Some(exit::record(pid, outcome, false));
                continue;
            }
            if pid == self.core.init.pid && self.core.reaped.is_none() {
                // OOM is judged after the drain, from the cgroup the runtime has not deleted yet.
                self.core.reaped = Some(exit::record(pid, outcome, false));
            } else if let Some(k) = self.core.kills.iter().position(|k| k.pid == pid) {
                let k = self.core.kills.remove(k);
                let resp = match outcome {
                    WaitOutcome::Exited(0) => Response::Ok,
                    outcome => error(
                        error_message(&fs::read(&k.err_file).unwrap_or_default())
                            .map(ShimError::Runtime)
                            .unwrap_or_else(|| ShimError::KillAll {
                                runtime: self.core.cfg.runtime.name.clone(),
                                outcome,
                            }),
                    ),
                };
                let _ = fs::remove_file(&k.err_file);
                if let Some(c) = self.conns.iter_mut().find(|c| c.id == k.conn) {
                    c.send(&resp);
                    c.process(&mut self.core);
                }
            } else if self.core.execs.iter().any(|e| e.runtime_pid.is_some()) {
                if self.core.unclaimed.len() >= 64 {
                    self.core.unclaimed.remove(0);
                }
                self.core.unclaimed.push((pid, exit::record(pid, outcome, false)));
            }
        }
    }

    /// Execs that ended and whose output is drained get their exit written and their waiters told.
    fn settle_execs(&mut self, force: bool) {
        if let Some(i) = self.core.execs.iter().position(|e| e.probe) {
            if let Some(rec) = self.core.execs[i].settle(force) {
                let probe = self.core.execs.remove(i);
                self.probe_ended(rec.exit_code as i64, probe.failure);
            }
        }
        for i in 0..self.core.execs.len() {
            if let Some(rec) = self.core.execs[i].settle(force) {
                let id = self.core.execs[i].id.clone();
                let resp = Response::Exited(rec);
                for c in &mut self.conns {
                    c.finish_wait_exec(&id, &resp);
                    c.process(&mut self.core);
                    if c.attached_exec.as_deref() == Some(id.as_str()) {
                        c.end_attach();
                    }
                }
            }
        }
    }

    fn serve_conns(&mut self, revents: &[PollFlags]) {
        for (c, ev) in self.conns.iter_mut().zip(revents) {
            if ev.intersects(PollFlags::POLLIN | PollFlags::POLLHUP | PollFlags::POLLERR) {
                c.on_readable(&mut self.core);
            }
            if ev.contains(PollFlags::POLLOUT) {
                c.flush();
            }
            // POLLHUP is reported whether asked for or not: a peer that is fully gone (even one with
            // a pending Wait) must be dropped, or poll would report it forever.
            if c.read_closed && ev.intersects(PollFlags::POLLHUP | PollFlags::POLLERR) {
                c.dead = true;
            }
        }
        self.conns.retain(|c| !c.dead);
    }

    fn accept(&mut self) {
        loop {
            match self.listener.accept() {
                Ok((s, _)) => {
                    if self.conns.len() >= MAX_CONNS {
                        crate::diag!("too many control connections; refusing one");
                        continue;
                    }
                    self.next_conn += 1;
                    match Conn::new(self.next_conn, s) {
                        Ok(c) => self.conns.push(c),
                        Err(e) => crate::diag!("control connection: {e}"),
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => {
                    crate::diag!("accept: {e}");
                    break;
                }
            }
        }
    }

    /// The init is gone and its output drained: record the exit durably, tell the waiters, let
    /// the runtime clean up, and leave.
    fn finish(mut self) -> i32 {
        // The container is gone: so is its DNS, and the port is free for the monitor of a next
        // incarnation, which binds it again.
        self.dns = None;
        let core = &mut self.core;
        let now = crate::timefmt::now();
        for s in [Stream::Stdout, Stream::Stderr] {
            core.log.end_stream(s, &now);
        }
        core.log.flush();
        let mut rec = core.reaped.clone().expect("finish runs after the init was reaped");
        rec.oom_killed = core.memcg.oom_killed();
        if rec.oom_killed && rec.signal == Some(9) {
            crate::diag!("container was OOM-killed");
        }
        // No daemon waiting on us and a policy that says so: the next incarnation is ours to
        // start, and this exit is not final (no exit record; the daemon replays the restart).
        let daemon_waiting = self.conns.iter().any(|c| c.waiting);
        let restart = crate::selfrestart::decide(&core.cfg, &rec, daemon_waiting, core.born.elapsed());
        let dir = &core.cfg.container_dir;
        if restart.is_some() {
            crate::selfrestart::mark(&core.cfg);
        } else {
            let written =
                fs::create_dir_all(dir).and_then(|_| fsutil::write_json_atomic(&dir.join(paths::EXIT_RECORD), &rec));
            if let Err(e) = written {
                crate::diag!("writing the exit record to {}: {e}", dir.display());
            }
        }
        core.exit = Some(rec.clone());
        let exited = Response::Exited(rec);
        for c in &mut self.conns {
            c.finish_wait(&exited);
            c.process(&mut self.core);
        }
        let core = &mut self.core;
        for k in std::mem::take(&mut core.kills) {
            if let Some(c) = self.conns.iter_mut().find(|c| c.id == k.conn) {
                c.send(&Response::Ok);
            }
            let _ = fs::remove_file(&k.err_file);
        }
        // A daemon connecting from now on (its watcher, just after a very short container's
        // start) finds no socket and reads the exit record at once, instead of queueing behind
        // the runtime's clean-up until this process exits.
        let _ = fs::remove_file(core.cfg.state_dir.join(paths::SOCKET));
        let rt = Runtime { spec: &core.cfg.runtime, id: &core.cfg.id };
        if let Err(e) = rt.delete(false) {
            crate::diag!("runtime delete: {e}; forcing");
            if let Err(e) = rt.delete(true) {
                crate::diag!("runtime delete --force: {e}");
            }
        }
        // Answers are tiny and the sockets were writable a moment ago; give slow readers a moment.
        for c in &mut self.conns {
            let _ = c.stream.set_nonblocking(false);
            let _ = c.stream.set_write_timeout(Some(Duration::from_millis(200)));
            c.flush();
        }
        if let (Some(delay), Some(rec)) = (restart, core.exit.clone()) {
            crate::selfrestart::relaunch(&core.cfg, &rec, delay);
        }
        0
    }
}

/// Reads what the output offers; true at EOF (EIO is how a pty says its last slave closed).
fn read_output(o: &Output, buf: &mut [u8], sink: &mut dyn FnMut(&[u8])) -> bool {
    for _ in 0..READS_PER_TURN {
        match nix::unistd::read(o.fd.as_raw_fd(), buf) {
            Ok(0) => return true,
            Ok(n) => {
                sink(&buf[..n]);
                if n < buf.len() / 2 {
                    return false; // most likely empty now; poll will tell
                }
            }
            Err(Errno::EAGAIN) => return false,
            Err(Errno::EINTR) => {}
            Err(Errno::EIO) => return true,
            Err(e) => {
                crate::diag!("reading container {:?}: {e}", o.stream);
                return true;
            }
        }
    }
    false
}
