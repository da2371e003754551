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

/// Makes the child of `cmd` die (SIGKILL) when the thread that spawned it ends: for short helpers
/// (`ip`, `nft`) whose caller waits for them. A helper outliving a killed daemon would apply its
/// change after the next daemon's reconcile had already read the kernel's state.
pub fn die_with_parent(cmd: &mut Command) {
    let parent = std::process::id() as libc::pid_t;
    // SAFETY: the closure runs between fork and exec and calls only prctl and getppid, which are
    // async-signal-safe; it allocates nothing and touches no locks.
    unsafe {
        cmd.pre_exec(move || {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong, 0, 0, 0) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            // The parent may have died between fork and prctl; the signal would never come.
            if libc::getppid() != parent {
                return Err(std::io::Error::from_raw_os_error(libc::ESRCH));
            }
            Ok(())
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::process::ExitStatusExt;

    #[test]
    fn a_helper_dies_with_the_thread_that_spawned_it() {
        let mut child = std::thread::spawn(|| {
            let mut cmd = Command::new("sleep");
            cmd.arg("30");
            die_with_parent(&mut cmd);
            cmd.spawn().expect("spawn sleep")
        })
        .join()
        .expect("spawning thread");
        // The spawning thread has ended: the kernel sends the helper SIGKILL.
        let st = child.wait().expect("wait");
        assert_eq!(st.signal(), Some(libc::SIGKILL), "helper must be killed, got {st}");
    }

    #[test]
    fn a_waited_helper_runs_to_its_end() {
        let mut cmd = Command::new("sh");
        cmd.args(["-c", "exit 3"]);
        die_with_parent(&mut cmd);
        assert_eq!(cmd.status().expect("run sh").code(), Some(3));
    }
}
