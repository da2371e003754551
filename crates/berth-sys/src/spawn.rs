//! Spawning helpers for processes that block signals (e.g. to read them from a signalfd).

use std::os::unix::process::CommandExt;
use std::process::Command;

/// Makes `cmd` start with an empty signal mask and default SIGPIPE. A blocked mask survives
/// execve, and std::process does not reset it on every spawn path; a container init inheriting a
/// blocked SIGPIPE makes `yes | head` spin forever instead of dying of SIGPIPE.
pub fn reset_signals_on_exec(cmd: &mut Command) {
    // SAFETY: the closure runs between fork and exec and calls only sigemptyset, sigprocmask and
    // signal, which are async-signal-safe; it allocates nothing and touches no locks.
    unsafe {
        cmd.pre_exec(|| {
            let mut set: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut set);
            if libc::sigprocmask(libc::SIG_SETMASK, &set, std::ptr::null_mut()) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            libc::signal(libc::SIGPIPE, libc::SIG_DFL);
            Ok(())
        });
    }
}
