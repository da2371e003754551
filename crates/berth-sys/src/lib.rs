//! Kernel facilities Berth needs that have no safe wrapper in a well-kept crate, or need care about
//! process state (fork in a single-threaded process). Every `unsafe` block of the project lives here.
// The workspace denies `unsafe` everywhere else; here each block carries its `// SAFETY:` reason
// (clippy::undocumented_unsafe_blocks, denied workspace-wide).
#![allow(unsafe_code)]

use std::io;

pub mod activation;
pub mod fdpass;
pub mod identity;
pub mod sealed;
pub mod seccomp;
pub mod signals;
pub mod spawn;
pub mod userns;

pub use identity::{process_start_time, ProcessIdentity};

/// Result of [`fork`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fork {
    Parent { child: i32 },
    Child,
}

/// Forks the calling process.
///
/// # Safety contract for callers (checked at runtime where possible)
/// The caller must be single-threaded: after fork only async-signal-safe work is sound in the child
/// of a multi-threaded process. `fork` refuses when `/proc/self/task` shows more than one thread.
pub fn fork() -> io::Result<Fork> {
    if thread_count()? != 1 {
        return Err(io::Error::other("fork refused: process has more than one thread"));
    }
    // SAFETY: the process has exactly one thread (checked above), so the child inherits a consistent
    // copy of every lock and allocator state; both sides continue normal Rust execution.
    let r = unsafe { libc::fork() };
    match r {
        -1 => Err(io::Error::last_os_error()),
        0 => Ok(Fork::Child),
        child => Ok(Fork::Parent { child }),
    }
}

fn thread_count() -> io::Result<usize> {
    Ok(std::fs::read_dir("/proc/self/task")?.count())
}

/// Makes the calling process the reaper of orphaned descendants (PR_SET_CHILD_SUBREAPER), so that the
/// container init, once its runtime parent exits, is re-parented to the monitor and not to pid 1.
pub fn set_child_subreaper() -> io::Result<()> {
    // SAFETY: prctl with PR_SET_CHILD_SUBREAPER takes an integer argument and touches no memory.
    let r = unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1 as libc::c_ulong, 0, 0, 0) };
    if r == -1 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Asks the kernel to send `sig` to this process when its parent dies (PR_SET_PDEATHSIG).
pub fn set_parent_death_signal(sig: i32) -> io::Result<()> {
    // SAFETY: prctl with PR_SET_PDEATHSIG takes an integer argument and touches no memory.
    let r = unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, sig as libc::c_ulong, 0, 0, 0) };
    if r == -1 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Sends `sig` to `pid` only if the process still has the identity the caller recorded; a bare pid
/// may have been reused by an unrelated process (invariant 4).
pub fn kill_verified(id: &ProcessIdentity, sig: i32) -> io::Result<()> {
    if !id.is_alive() {
        return Err(io::Error::from_raw_os_error(libc::ESRCH));
    }
    // A pidfd pins the process: once opened and the start time re-checked, a signal through it can
    // only reach that process even if the pid is recycled in between.
    let fd = pidfd_open(id.pid)?;
    if !id.is_alive() {
        return Err(io::Error::from_raw_os_error(libc::ESRCH));
    }
    pidfd_send_signal(&fd, sig)
}

/// Opens a pidfd for `pid` (Linux 5.3+).
pub fn pidfd_open(pid: i32) -> io::Result<std::os::fd::OwnedFd> {
    use std::os::fd::FromRawFd;
    // SAFETY: raw syscall with integer arguments; on success the kernel returns a new fd we own.
    let r = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `r` is a freshly returned descriptor owned by nobody else.
    Ok(unsafe { std::os::fd::OwnedFd::from_raw_fd(r as i32) })
}

/// Sends a signal through a pidfd.
pub fn pidfd_send_signal(fd: &std::os::fd::OwnedFd, sig: i32) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    // SAFETY: raw syscall; the fd is valid for the borrow, info is NULL as the man page allows.
    let r = unsafe { libc::syscall(libc::SYS_pidfd_send_signal, fd.as_raw_fd(), sig, std::ptr::null::<u8>(), 0) };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Bytes written on a Unix stream socket that its peer has not read yet (`SIOCOUTQ`: for a Unix
/// socket the kernel counts what sits in the peer's receive queue against the sender).
///
/// Takes the descriptor's number: the caller (an HTTP handler) knows it only from the accepted
/// connection, not as an owned or borrowed fd. Were the number reused meanwhile, the ioctl only
/// reads a count (or fails) on whatever it names now.
pub fn unread_by_peer(fd: std::os::fd::RawFd) -> io::Result<usize> {
    let mut n: libc::c_int = 0;
    // SAFETY: SIOCOUTQ writes one int through the pointer, which is valid for the call; a stale
    // fd number makes the call fail with EBADF/ENOTTY or read another socket's count, nothing more.
    let r = unsafe { libc::ioctl(fd, libc::TIOCOUTQ, &mut n) };
    if r == -1 {
        return Err(io::Error::last_os_error());
    }
    Ok(usize::try_from(n).unwrap_or(0))
}

/// Sets the window size of a terminal.
pub fn set_winsize(fd: std::os::fd::BorrowedFd<'_>, rows: u16, cols: u16) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    let ws = libc::winsize { ws_row: rows, ws_col: cols, ws_xpixel: 0, ws_ypixel: 0 };
    // SAFETY: TIOCSWINSZ reads a `winsize` from the pointer, which is valid for the call.
    let r = unsafe { libc::ioctl(fd.as_raw_fd(), libc::TIOCSWINSZ, &ws) };
    if r == -1 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}
