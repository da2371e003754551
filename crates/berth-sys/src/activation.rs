//! Socket activation: the listening sockets a service manager passes (sd_listen_fds(3)), and the
//! test side of it, passing one the same way.

use std::io;
use std::os::fd::{FromRawFd, OwnedFd, RawFd};
use std::os::unix::process::CommandExt;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};

static TAKEN: AtomicBool = AtomicBool::new(false);

/// The sockets passed to this process (fds from 3, `LISTEN_FDS` of them, when `LISTEN_PID` is
/// this process), each with its `LISTEN_FDNAMES` name (`unknown` when none was given), made
/// close-on-exec so that no child inherits them. Empty when nothing was passed.
///
/// Only the first call takes them: the fds then belong to the returned `OwnedFd`s, and a second
/// call returns an error rather than a second owner of the same fd.
pub fn take_listen_fds() -> io::Result<Vec<(OwnedFd, String)>> {
    if TAKEN.swap(true, Ordering::SeqCst) {
        return Err(io::Error::other("the passed sockets were already taken"));
    }
    let fds: Vec<(RawFd, String)> = sd_notify::listen_fds_with_names()?.collect();
    let mut out = Vec::with_capacity(fds.len());
    for (fd, name) in fds {
        // fstat first: an fd the manager said it passed but that is not open must be an error,
        // not an OwnedFd that would close whatever gets that number later.
        // SAFETY: fstat writes into the zeroed stat buffer we own; fd is only read.
        let mut st: libc::stat = unsafe { std::mem::zeroed() };
        // SAFETY: see above.
        if unsafe { libc::fstat(fd, &mut st) } != 0 {
            return Err(io::Error::other(format!("passed fd {fd} ({name}): {}", io::Error::last_os_error())));
        }
        // SAFETY: the fd is open (fstat above), was handed to this process by its service manager
        // and is owned by nothing else here: TAKEN makes this the only place that adopts it.
        out.push((unsafe { OwnedFd::from_raw_fd(fd) }, name));
    }
    Ok(out)
}

/// Makes the child of `cmd` get `fd` as its fd `target`, as a service manager passes a socket
/// (the caller sets `LISTEN_FDS`, and the child its own `LISTEN_PID`). dup2 leaves the new fd
/// inheritable while `fd` itself stays close-on-exec.
pub fn pass_fd_as(cmd: &mut Command, fd: RawFd, target: RawFd) {
    // SAFETY: the closure runs between fork and exec and calls only dup2 and fcntl, which are
    // async-signal-safe; it allocates nothing and touches no locks.
    unsafe {
        cmd.pre_exec(move || {
            if fd == target {
                let flags = libc::fcntl(fd, libc::F_GETFD);
                if flags == -1 || libc::fcntl(fd, libc::F_SETFD, flags & !libc::FD_CLOEXEC) == -1 {
                    return Err(io::Error::last_os_error());
                }
            } else if libc::dup2(fd, target) == -1 {
                return Err(io::Error::last_os_error());
            }
            Ok(())
        });
    }
}
