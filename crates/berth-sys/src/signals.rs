//! A clean signal state for a program about to be executed in a container.
//!
//! Ignored dispositions and the blocked mask survive `execve`: whatever the runtime (Rust ignores
//! SIGPIPE) or its parents ignored or blocked would reach the container's processes. Docker's
//! processes start with nothing ignored and nothing blocked; `yes | head` relies on it.

use std::io;

/// The kernel's `struct sigaction` for rt_sigaction (x86_64 and aarch64 layout), used raw because
/// glibc's sigaction refuses signals 32 and 33 (reserved for its threads), which can still be
/// inherited as ignored from a non-glibc parent.
#[repr(C)]
struct KernelSigaction {
    handler: libc::sighandler_t,
    flags: libc::c_ulong,
    restorer: usize,
    mask: u64,
}

/// The kernel's sigset size for rt_sig* calls (64 signals).
const SIGSET_SIZE: usize = 8;

/// Sets every signal's disposition (1..=64 but SIGKILL and SIGSTOP) to SIG_DFL and empties the
/// blocked mask of the calling thread. Meant for the last step before `execve`: handlers this
/// process installed are dropped as well.
pub fn reset_all() -> io::Result<()> {
    let dfl = KernelSigaction { handler: libc::SIG_DFL, flags: 0, restorer: 0, mask: 0 };
    for sig in 1..=64 {
        if sig == libc::SIGKILL || sig == libc::SIGSTOP {
            continue;
        }
        // SAFETY: rt_sigaction reads a kernel sigaction from a pointer valid for the call and
        // writes nothing (the old-action pointer is NULL); SIG_DFL needs no restorer.
        let r = unsafe {
            libc::syscall(
                libc::SYS_rt_sigaction,
                sig,
                &dfl as *const KernelSigaction,
                std::ptr::null_mut::<KernelSigaction>(),
                SIGSET_SIZE,
            )
        };
        if r != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    let empty: u64 = 0;
    // SAFETY: rt_sigprocmask reads an 8-byte set from a pointer valid for the call; the old-set
    // pointer is NULL.
    let r = unsafe {
        libc::syscall(
            libc::SYS_rt_sigprocmask,
            libc::SIG_SETMASK,
            &empty as *const u64,
            std::ptr::null_mut::<u64>(),
            SIGSET_SIZE,
        )
    };
    if r != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    fn status_mask(field: &str) -> u64 {
        let s = std::fs::read_to_string("/proc/thread-self/status").unwrap();
        let line = s.lines().find(|l| l.starts_with(field)).unwrap();
        u64::from_str_radix(line.split_whitespace().nth(1).unwrap(), 16).unwrap()
    }

    #[test]
    fn clears_ignored_and_blocked_even_32_and_33() {
        // A thread of its own: the mask is per thread and the test harness shares the process.
        std::thread::spawn(|| {
            let ign = super::KernelSigaction { handler: libc::SIG_IGN, flags: 0, restorer: 0, mask: 0 };
            for sig in [libc::SIGQUIT, 32, 33] {
                // SAFETY: as in reset_all, with SIG_IGN.
                let r = unsafe {
                    libc::syscall(libc::SYS_rt_sigaction, sig, &ign as *const _, std::ptr::null_mut::<u8>(), 8usize)
                };
                assert_eq!(r, 0);
            }
            let block: u64 = 1 << (libc::SIGUSR1 - 1);
            // SAFETY: as in reset_all.
            unsafe {
                libc::syscall(
                    libc::SYS_rt_sigprocmask,
                    libc::SIG_BLOCK,
                    &block as *const u64,
                    std::ptr::null_mut::<u64>(),
                    8usize,
                )
            };
            assert_ne!(status_mask("SigIgn:") & 0x1_8000_0004, 0);
            assert_ne!(status_mask("SigBlk:"), 0);
            super::reset_all().unwrap();
            assert_eq!(status_mask("SigIgn:"), 0);
            assert_eq!(status_mask("SigBlk:"), 0);
        })
        .join()
        .unwrap();
    }
}
