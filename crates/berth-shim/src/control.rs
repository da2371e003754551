//! The control socket: many non-blocking connections, newline-delimited JSON, Hello first.

use crate::error::ShimError;
use berth_proto::{negotiate, protocol_range, Request, Response, Side, WireError};
use std::io::{self, Read, Write};
use std::os::unix::net::UnixStream;

/// A request line longer than this is not a protocol message; the connection is dropped.
const MAX_LINE: usize = 64 * 1024;
/// A client that stops reading its answers is dropped once this much is queued for it.
const MAX_QUEUED: usize = 256 * 1024;
/// An attached client that falls this far behind the container's output is dropped: the log has
/// every byte, and the monitor never waits for anyone.
const MAX_ATTACH_QUEUED: usize = 4 * 1024 * 1024;

/// What the monitor does for requests; implemented by the event loop's state.
pub trait Ops {
    fn capabilities(&self) -> Vec<String>;
    fn state(&self) -> Response;
    /// None: the answer comes later through [`Conn::send`] (e.g. `kill --all` runs asynchronously).
    fn kill(&mut self, conn: u64, signal: i32, all: bool) -> Option<Response>;
    /// None: the container is still running; the connection is marked waiting.
    fn wait(&mut self) -> Option<Response>;
    fn resize(&mut self, rows: u16, cols: u16, exec: Option<&str>) -> Response;
    fn reopen_log(&mut self) -> Response;
    /// None: answered once the runtime has started the process.
    fn exec(&mut self, spec: &crate::exec::ExecSpec) -> Option<Response>;
    /// None: the exec still runs; the connection waits for it.
    fn wait_exec(&mut self, id: &str) -> Option<Response>;
    /// Starts an attach to the container (`exec` None) or an exec: Ok(the output to replay
    /// first) or why not.
    fn attach(&mut self, exec: Option<&str>, stdin: bool, replay: bool) -> Result<Vec<u8>, ShimError>;
    /// Bytes an attached client typed, for the terminal or stdin of the container or an exec.
    fn stdin(&mut self, exec: Option<&str>, data: &[u8]);
    /// An attached client closed its side: stdin ends (`-i` without `-t`).
    fn stdin_eof(&mut self, exec: Option<&str>);
    /// None: the record has not changed since `after`; the connection waits for it.
    fn watch_health(&mut self, after: u64) -> Option<Response>;
}

pub struct Conn {
    pub id: u64,
    pub stream: UnixStream,
    rbuf: Vec<u8>,
    wbuf: Vec<u8>,
    /// Negotiated protocol version, once Hello succeeded.
    version: Option<u32>,
    /// Has an outstanding Wait.
    pub waiting: bool,
    /// Has an outstanding WaitExec for this exec.
    pub waiting_exec: Option<String>,
    /// Has an outstanding WatchHealth, answered once the health record's seq passes this.
    pub waiting_health: Option<u64>,
    /// Has a request whose answer is deferred; further lines wait in rbuf (one request at a time).
    pub busy: bool,
    /// Peer closed its side or we decided to close after flushing.
    pub read_closed: bool,
    close_after_flush: bool,
    pub dead: bool,
    /// After a successful Attach: raw output out, raw stdin in (when `attach_stdin`).
    pub attached: bool,
    attach_stdin: bool,
    /// Attached to this exec rather than to the container.
    pub attached_exec: Option<String>,
}

impl Conn {
    pub fn new(id: u64, stream: UnixStream) -> io::Result<Self> {
        stream.set_nonblocking(true)?;
        Ok(Conn {
            id,
            stream,
            rbuf: Vec::new(),
            wbuf: Vec::new(),
            version: None,
            waiting: false,
            waiting_exec: None,
            waiting_health: None,
            busy: false,
            read_closed: false,
            close_after_flush: false,
            dead: false,
            attached: false,
            attach_stdin: false,
            attached_exec: None,
        })
    }

    pub fn wants_write(&self) -> bool {
        !self.wbuf.is_empty()
    }

    pub fn wants_read(&self) -> bool {
        !self.read_closed && !self.close_after_flush
    }

    /// Queues a response and tries to write it at once.
    pub fn send(&mut self, resp: &Response) {
        self.busy = false;
        self.wbuf.extend_from_slice(&berth_proto::encode(resp));
        if self.wbuf.len() > MAX_QUEUED {
            self.dead = true;
        }
        self.flush();
    }

    /// Writes as much of the queue as the socket takes.
    pub fn flush(&mut self) {
        while !self.wbuf.is_empty() {
            match self.stream.write(&self.wbuf) {
                Ok(0) => {
                    self.dead = true;
                    return;
                }
                Ok(n) => {
                    self.wbuf.drain(..n);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => {
                    self.dead = true;
                    return;
                }
            }
        }
        if self.close_after_flush
            || (self.read_closed && !self.attached && !self.waiting && !self.busy && !self.deferred())
        {
            self.dead = true;
        }
    }

    /// The exec this client is attached to ended and its output was sent: close after it.
    pub fn end_attach(&mut self) {
        self.close_after_flush = true;
        self.flush();
    }

    /// Output for an attached client (already in the client's format).
    pub fn push_output(&mut self, data: &[u8]) {
        if !self.attached || self.dead {
            return;
        }
        self.wbuf.extend_from_slice(data);
        if self.wbuf.len() > MAX_ATTACH_QUEUED {
            crate::diag!("attached client fell {} bytes behind: dropping it", self.wbuf.len());
            self.dead = true;
            return;
        }
        self.flush();
    }

    /// Reads stdin bytes from an attached client.
    fn on_attached_readable(&mut self, ops: &mut dyn Ops) {
        let mut buf = [0u8; 4096];
        loop {
            match self.stream.read(&mut buf) {
                Ok(0) => {
                    self.read_closed = true;
                    if self.attach_stdin {
                        ops.stdin_eof(self.attached_exec.as_deref());
                    }
                    break;
                }
                Ok(n) => {
                    if self.attach_stdin {
                        ops.stdin(self.attached_exec.as_deref(), &buf[..n]);
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => {
                    self.dead = true;
                    return;
                }
            }
        }
        self.flush();
    }

    /// Reads what is available and answers every complete request line.
    pub fn on_readable(&mut self, ops: &mut dyn Ops) {
        if self.attached {
            return self.on_attached_readable(ops);
        }
        let mut buf = [0u8; 4096];
        loop {
            match self.stream.read(&mut buf) {
                Ok(0) => {
                    self.read_closed = true;
                    break;
                }
                Ok(n) => {
                    self.rbuf.extend_from_slice(&buf[..n]);
                    if self.rbuf.len() > MAX_LINE && memchr::memchr(b'\n', &self.rbuf).is_none() {
                        self.dead = true;
                        return;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => {
                    self.dead = true;
                    return;
                }
            }
        }
        self.process(ops);
        self.flush();
    }

    /// Answers queued lines, stopping at a request whose answer is deferred.
    pub fn process(&mut self, ops: &mut dyn Ops) {
        while !self.attached && !self.busy && !self.waiting && !self.deferred() && !self.close_after_flush {
            let Some(i) = memchr::memchr(b'\n', &self.rbuf) else {
                break;
            };
            let line: Vec<u8> = self.rbuf.drain(..=i).collect();
            let line = String::from_utf8_lossy(&line);
            let line = line.trim();
            if line.is_empty() {
                continue;
            }
            if let Some(resp) = self.handle(line, ops) {
                self.send(&resp);
            }
        }
    }

    fn handle(&mut self, line: &str, ops: &mut dyn Ops) -> Option<Response> {
        let req: Request = match serde_json::from_str(line) {
            Ok(r) => r,
            Err(e) => return Some(error(WireError::Malformed(e).into())),
        };
        if let Request::Hello { min, max, client: _ } = req {
            let (our_min, our_max) = protocol_range(Side::Monitor);
            return Some(match negotiate(min, max, our_min, our_max) {
                Some(v) => {
                    self.version = Some(v);
                    Response::Hello {
                        version: v,
                        capabilities: ops.capabilities(),
                        shim_version: berth_proto::monitor_version(),
                        pid: std::process::id() as i32,
                    }
                }
                None => {
                    self.close_after_flush = true;
                    let theirs = if min == max { min.to_string() } else { format!("{min}–{max}") };
                    error(WireError::Version { theirs, min: our_min, max: our_max }.into())
                }
            });
        }
        if self.version.is_none() {
            return Some(error(ShimError::NoHello));
        }
        match req {
            Request::Hello { .. } => unreachable!("handled above"),
            Request::State => Some(ops.state()),
            Request::Kill { signal, all } => {
                let r = ops.kill(self.id, signal, all);
                self.busy = r.is_none();
                r
            }
            Request::Wait => {
                let r = ops.wait();
                self.waiting = r.is_none();
                r
            }
            Request::Resize { rows, cols, exec } => Some(ops.resize(rows, cols, exec.as_deref())),
            Request::ReopenLog => Some(ops.reopen_log()),
            Request::Exec { id, process, tty, stdin, console_size } => {
                let spec = crate::exec::ExecSpec {
                    id: &id,
                    process: &process,
                    conn: self.id,
                    tty,
                    stdin,
                    probe: false,
                    console_size,
                };
                let r = ops.exec(&spec);
                self.busy = r.is_none();
                r
            }
            Request::WaitExec { id } => {
                let r = ops.wait_exec(&id);
                if r.is_none() {
                    self.waiting_exec = Some(id);
                }
                r
            }
            Request::Attach { stdin, replay } => self.attach(ops, None, stdin, replay),
            Request::AttachExec { id, stdin } => self.attach(ops, Some(id), stdin, true),
            Request::WatchHealth { after } => {
                let r = ops.watch_health(after);
                if r.is_none() {
                    self.waiting_health = Some(after);
                }
                r
            }
        }
    }

    fn attach(&mut self, ops: &mut dyn Ops, exec: Option<String>, stdin: bool, replay: bool) -> Option<Response> {
        match ops.attach(exec.as_deref(), stdin, replay) {
            Ok(first) => {
                self.send(&Response::Ok);
                self.attached = true;
                self.attach_stdin = stdin;
                self.attached_exec = exec;
                // Bytes that followed the request line are already the client's stdin.
                let early: Vec<u8> = std::mem::take(&mut self.rbuf);
                if stdin && !early.is_empty() {
                    ops.stdin(self.attached_exec.as_deref(), &early);
                }
                self.push_output(&first);
                None
            }
            Err(msg) => Some(error(msg)),
        }
    }

    /// Waits for an exec or for the health record.
    fn deferred(&self) -> bool {
        self.waiting_exec.is_some() || self.waiting_health.is_some()
    }

    /// Answers an outstanding WatchHealth once the record's `seq` has passed what it asked after.
    pub fn finish_watch_health(&mut self, record: &berth_proto::HealthRecord) {
        if self.waiting_health.is_some_and(|after| record.seq > after) {
            self.waiting_health = None;
            self.send(&Response::Health(record.clone()));
        }
    }

    /// Answers an outstanding WaitExec for `id`.
    pub fn finish_wait_exec(&mut self, id: &str, resp: &Response) {
        if self.waiting_exec.as_deref() == Some(id) {
            self.waiting_exec = None;
            self.send(resp);
        }
    }

    /// Answers an outstanding Wait.
    pub fn finish_wait(&mut self, resp: &Response) {
        if self.waiting {
            self.waiting = false;
            self.send(resp);
        }
    }
}

/// The wire boundary: the daemon receives the error as its text.
pub fn error(e: ShimError) -> Response {
    Response::Error { message: e.to_string() }
}
