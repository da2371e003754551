//! The monitor's pipes and the handover of a container's terminal: container output pipes with
//! a large buffer, and the pty master the runtime sends over the console socket.

use crate::error::ShimError;
use nix::fcntl::{fcntl, FcntlArg, OFlag};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::net::UnixListener;
use std::time::{Duration, Instant};

/// A pipe for container output. Its buffer is enlarged so a burst while the monitor is busy (for
/// instance starting up) does not block the writer.
pub(crate) fn pipe() -> nix::Result<(OwnedFd, OwnedFd)> {
    let (r, w) = pipe2()?;
    let _ = fcntl(r.as_raw_fd(), FcntlArg::F_SETPIPE_SZ(256 * 1024));
    Ok((r, w))
}

pub(crate) fn pipe2() -> nix::Result<(OwnedFd, OwnedFd)> {
    nix::unistd::pipe2(OFlag::O_CLOEXEC)
}

pub(crate) fn set_nonblocking(fd: &OwnedFd) -> nix::Result<()> {
    let flags = OFlag::from_bits_truncate(fcntl(fd.as_raw_fd(), FcntlArg::F_GETFL)?);
    fcntl(fd.as_raw_fd(), FcntlArg::F_SETFL(flags | OFlag::O_NONBLOCK)).map(drop)
}

/// Whatever is buffered in a pipe whose writers are gone (the runtime's error output).
pub(crate) fn read_available(fd: &OwnedFd) -> Vec<u8> {
    let _ = set_nonblocking(fd);
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    while out.len() < 64 * 1024 {
        match nix::unistd::read(fd.as_raw_fd(), &mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => out.extend_from_slice(&buf[..n]),
        }
    }
    out
}

/// Waits for the runtime to connect to the console socket and hand over the pty master, giving up
/// if `create` exits first.
pub(crate) fn receive_console(l: &UnixListener, child: &mut std::process::Child) -> Result<OwnedFd, ShimError> {
    use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let mut fds = [PollFd::new(l.as_fd(), PollFlags::POLLIN)];
        let ready = poll(&mut fds, PollTimeout::from(100u16)).unwrap_or(0);
        if ready > 0 {
            let (conn, _) = l.accept().map_err(ShimError::ConsoleAccept)?;
            conn.set_read_timeout(Some(Duration::from_secs(10))).ok();
            return berth_sys::fdpass::recv_fd(conn.as_fd()).map_err(ShimError::Console);
        }
        if let Ok(Some(st)) = child.try_wait() {
            return Err(ShimError::ConsoleNotSent(st));
        }
        if Instant::now() > deadline {
            return Err(ShimError::ConsoleTimeout);
        }
    }
}
