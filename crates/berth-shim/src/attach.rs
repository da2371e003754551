//! Attached clients (`docker attach`, `docker run -it`, `docker start -ai`): the monitor owns the
//! container's terminal (pty master) or stdin pipe, so an interactive container outlives the
//! daemon and a client can attach again after a restart. Output goes to the log first, then to
//! each attached connection in the client's format; typed input goes to the terminal or stdin
//! without ever blocking the monitor (what the container does not read yet waits here).

use crate::log::Stream;
use nix::errno::Errno;
use nix::fcntl::{fcntl, FcntlArg, OFlag};
use std::os::fd::{AsRawFd, OwnedFd};

/// Output kept for a client that attaches only after the start (`docker run -it` attaches before
/// it starts the container, but the daemon can only reach the monitor once it runs).
const EARLY_MAX: usize = 64 * 1024;
/// Typed input the container has not read yet, at most.
const PENDING_MAX: usize = 1024 * 1024;

pub struct AttachIo {
    terminal: bool,
    /// `StdinOnce` (`docker run -i`): stdin ends when the first attached client's input ends.
    stdin_once: bool,
    /// Where input goes: a duplicate of the pty master, or the write end of the stdin pipe.
    input: Option<OwnedFd>,
    pending: Vec<u8>,
    /// Close the input once `pending` is written (stdin ended, no terminal).
    close_when_flushed: bool,
    early: Option<Vec<u8>>,
}

impl AttachIo {
    pub fn new(
        terminal: bool,
        stdin_once: bool,
        pty: Option<&OwnedFd>,
        stdin: Option<OwnedFd>,
        interactive: bool,
    ) -> Self {
        let input = match (terminal, pty) {
            (true, Some(m)) => m.try_clone().ok(),
            _ => stdin,
        };
        if let Some(fd) = &input {
            if let Err(e) = fcntl(fd.as_raw_fd(), FcntlArg::F_SETFL(OFlag::O_NONBLOCK)) {
                crate::diag!("container input: {e}");
            }
        }
        AttachIo {
            terminal,
            stdin_once,
            input,
            pending: Vec::new(),
            close_when_flushed: false,
            early: interactive.then(Vec::new),
        }
    }

    /// Container output in the attached clients' format: as is for a terminal, else Docker's
    /// multiplexed frames. Also kept for a first, late client.
    pub fn format(&mut self, stream: Stream, data: &[u8]) -> Vec<u8> {
        let out = if self.terminal {
            data.to_vec()
        } else {
            let mut v = Vec::with_capacity(8 + data.len());
            v.push(if stream == Stream::Stderr { 2 } else { 1 });
            v.extend_from_slice(&[0, 0, 0]);
            v.extend_from_slice(&(data.len() as u32).to_be_bytes());
            v.extend_from_slice(data);
            v
        };
        if let Some(early) = &mut self.early {
            if early.len() + out.len() <= EARLY_MAX {
                early.extend_from_slice(&out);
            }
        }
        out
    }

    /// A client attaches: what it should see first. Only the first attach replays; later ones
    /// see output from now on, as in Docker.
    pub fn attach(&mut self, replay: bool) -> Vec<u8> {
        let early = self.early.take().unwrap_or_default();
        if replay {
            early
        } else {
            Vec::new()
        }
    }

    pub fn write(&mut self, data: &[u8]) {
        if self.input.is_none() || self.close_when_flushed {
            return;
        }
        if self.pending.len() + data.len() > PENDING_MAX {
            crate::diag!("the container is not reading its input: dropping {} bytes", data.len());
            return;
        }
        self.pending.extend_from_slice(data);
        self.flush();
    }

    /// Writes what the container's input takes now; true while some is still waiting.
    pub fn flush(&mut self) -> bool {
        while !self.pending.is_empty() {
            let Some(fd) = &self.input else {
                self.pending.clear();
                break;
            };
            match nix::unistd::write(fd, &self.pending) {
                Ok(n) => {
                    self.pending.drain(..n);
                }
                Err(Errno::EINTR) => {}
                Err(Errno::EAGAIN) => return true,
                Err(e) => {
                    crate::diag!("writing the container's input: {e}");
                    self.pending.clear();
                    self.input = None;
                }
            }
        }
        if self.close_when_flushed {
            self.input = None;
        }
        false
    }

    /// The client's input ended: with `StdinOnce` and no terminal, the container's stdin is
    /// closed (once what was typed before is written), so `echo hi | docker run -i … cat` ends.
    pub fn end(&mut self) {
        if !self.terminal && self.stdin_once {
            self.close_when_flushed = true;
            self.flush();
        }
    }
}
