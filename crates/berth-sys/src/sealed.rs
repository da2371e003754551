//! Sealed, read-only in-memory copies of binaries (CVE-2019-5736).
//!
//! A host binary that runs inside a container's namespaces is reachable from the container as
//! `/proc/<pid>/exe`; a process of the container that opens that link for writing overwrites the
//! binary on the host. Executed from a memfd sealed against writing, resizing and further sealing
//! (as runc and youki's CLI do), the link reaches only that copy, and the copy cannot be changed.

use std::ffi::{CString, OsString};
use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::Command;

/// The seals every sealed copy carries; a memfd missing any of them is not trusted.
pub const SEALS: i32 = libc::F_SEAL_SEAL | libc::F_SEAL_SHRINK | libc::F_SEAL_GROW | libc::F_SEAL_WRITE;

/// `MFD_EXEC` (Linux 6.3+): says the memfd is meant to be executed, so a `vm.memfd_noexec`
/// policy of 1 does not make it non-executable behind our back.
const MFD_EXEC: libc::c_uint = 0x10;

fn memfd_create(name: &str) -> io::Result<OwnedFd> {
    let cname = CString::new(name).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    let base = libc::MFD_CLOEXEC | libc::MFD_ALLOW_SEALING;
    let mut last = io::Error::from_raw_os_error(libc::EINVAL);
    // Kernels before 6.3 refuse the unknown MFD_EXEC flag with EINVAL: retry without it.
    for flags in [base | MFD_EXEC, base] {
        // SAFETY: memfd_create reads the NUL-terminated name, valid for the call, and returns a
        // new descriptor that nobody else owns.
        let r = unsafe { libc::memfd_create(cname.as_ptr(), flags) };
        if r >= 0 {
            // SAFETY: `r` is a freshly returned descriptor owned by nobody else.
            return Ok(unsafe { OwnedFd::from_raw_fd(r) });
        }
        last = io::Error::last_os_error();
        if last.raw_os_error() != Some(libc::EINVAL) {
            break;
        }
    }
    Err(last)
}

fn fcntl_int(fd: RawFd, cmd: libc::c_int, arg: libc::c_int) -> io::Result<libc::c_int> {
    // SAFETY: fcntl with an integer argument (F_GET_SEALS, F_ADD_SEALS, F_GETFD, F_SETFD) touches
    // no memory; an invalid fd is reported as EBADF.
    let r = unsafe { libc::fcntl(fd, cmd, arg) };
    if r == -1 {
        return Err(io::Error::last_os_error());
    }
    Ok(r)
}

/// A sealed in-memory copy of `src`, close-on-exec. `name` shows in `/proc/<pid>/exe` as
/// `/memfd:<name> (deleted)`.
pub fn sealed_copy(src: &Path, name: &str) -> io::Result<OwnedFd> {
    let mut from = File::open(src)?;
    let fd = memfd_create(name)?;
    let mut to = File::from(fd);
    // std::io::copy uses copy_file_range/sendfile between two files: no userspace buffer.
    io::copy(&mut from, &mut to)?;
    to.set_permissions(std::os::unix::fs::PermissionsExt::from_mode(0o555))?;
    let fd = OwnedFd::from(to);
    fcntl_int(fd.as_raw_fd(), libc::F_ADD_SEALS, SEALS)?;
    Ok(fd)
}

/// True when `fd` is a memfd carrying every seal of [`SEALS`].
pub fn is_sealed(fd: BorrowedFd<'_>) -> bool {
    fcntl_int(fd.as_raw_fd(), libc::F_GET_SEALS, 0).is_ok_and(|s| s & SEALS == SEALS)
}

/// [`is_sealed`] for a descriptor known only by number (inherited, named in the environment);
/// a closed or unrelated descriptor is simply not sealed.
pub fn raw_fd_is_sealed(fd: RawFd) -> bool {
    fcntl_int(fd, libc::F_GET_SEALS, 0).is_ok_and(|s| s & SEALS == SEALS)
}

/// True when the running program is executed from a sealed copy.
pub fn running_sealed() -> io::Result<bool> {
    let exe = File::open("/proc/self/exe")?;
    Ok(is_sealed(std::os::fd::AsFd::as_fd(&exe)))
}

/// Re-executes the running program from a sealed copy of itself, with the same arguments and
/// the environment plus `marker=1`. Returns only on failure.
pub fn reexec_sealed(name: &str, marker: &str) -> io::Error {
    let fd = match sealed_copy(Path::new("/proc/self/exe"), name) {
        Ok(fd) => fd,
        Err(e) => return e,
    };
    let cstr = |s: &[u8]| CString::new(s).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput));
    let argv: io::Result<Vec<CString>> = std::env::args_os().map(|a| cstr(a.as_bytes())).collect();
    let mut envs: Vec<(OsString, OsString)> = std::env::vars_os().filter(|(k, _)| k != marker).collect();
    envs.push((marker.into(), "1".into()));
    let envp: io::Result<Vec<CString>> =
        envs.iter().map(|(k, v)| cstr(&[k.as_bytes(), b"=", v.as_bytes()].concat())).collect();
    let (argv, envp) = match (argv, envp) {
        (Ok(a), Ok(e)) => (a, e),
        (Err(e), _) | (_, Err(e)) => return e,
    };
    let mut argv_p: Vec<*const libc::c_char> = argv.iter().map(|a| a.as_ptr()).collect();
    argv_p.push(std::ptr::null());
    let mut envp_p: Vec<*const libc::c_char> = envp.iter().map(|e| e.as_ptr()).collect();
    envp_p.push(std::ptr::null());
    // SAFETY: both arrays are NULL-terminated arrays of pointers to NUL-terminated strings that
    // outlive the call; the path is the empty C string, as AT_EMPTY_PATH requires. The memfd is
    // close-on-exec, which execveat allows for an ELF binary (the kernel holds the file).
    unsafe {
        libc::execveat(
            fd.as_raw_fd(),
            c"".as_ptr(),
            argv_p.as_ptr() as *const *mut libc::c_char,
            envp_p.as_ptr() as *const *mut libc::c_char,
            libc::AT_EMPTY_PATH,
        );
    }
    io::Error::last_os_error()
}

/// Sets or clears close-on-exec on `fd` in this process.
pub fn set_cloexec(fd: RawFd, on: bool) -> io::Result<()> {
    let flags = fcntl_int(fd, libc::F_GETFD, 0)?;
    let new = if on { flags | libc::FD_CLOEXEC } else { flags & !libc::FD_CLOEXEC };
    fcntl_int(fd, libc::F_SETFD, new).map(|_| ())
}

/// Makes the child of `cmd` inherit `fd` (at the same number) although it is close-on-exec here:
/// the flag is cleared in the child only, so the daemon's other children never get it.
pub fn inherit_fd(cmd: &mut Command, fd: RawFd) {
    // SAFETY: the closure runs between fork and exec and calls only fcntl, which is
    // async-signal-safe; it allocates nothing and touches no locks.
    unsafe {
        cmd.pre_exec(move || {
            let flags = libc::fcntl(fd, libc::F_GETFD);
            if flags == -1 || libc::fcntl(fd, libc::F_SETFD, flags & !libc::FD_CLOEXEC) == -1 {
                return Err(io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Seek, Write};
    use std::os::fd::AsFd;

    #[test]
    fn copy_is_sealed_and_cannot_be_changed() {
        let fd = sealed_copy(Path::new("/proc/self/exe"), "berth-sealed-test").unwrap();
        assert!(is_sealed(fd.as_fd()));
        let path = format!("/proc/self/fd/{}", fd.as_raw_fd());
        let mut f = std::fs::OpenOptions::new().read(true).write(true).open(&path).unwrap();
        let err = f.write_all(b"x").unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::EPERM), "{err}");
        assert!(f.set_len(1).is_err());
        let mut head = [0u8; 4];
        f.rewind().unwrap();
        f.read_exact(&mut head).unwrap();
        assert_eq!(&head, b"\x7fELF");
        assert!(fcntl_int(fd.as_raw_fd(), libc::F_ADD_SEALS, libc::F_SEAL_EXEC).is_err(), "sealed against more seals");
        let plain = File::open("/proc/self/exe").unwrap();
        assert!(!is_sealed(plain.as_fd()));
        assert!(!running_sealed().unwrap());
    }
}
