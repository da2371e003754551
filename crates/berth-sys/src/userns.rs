//! User namespaces for `--userns-remap`: a process holding new namespaces (so the daemon can pin
//! them with bind mounts and give their fds to the kernel), and idmapped mounts
//! (`mount_setattr(MOUNT_ATTR_IDMAP)`), which shift an image layer's owners without a copy.

use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// A stopped-forever child in new namespaces (`CLONE_NEWUSER`, optionally `CLONE_NEWNET`),
/// killed and reaped on drop. Its `/proc/<pid>/ns/*` files are what callers pin or open.
pub struct NsHolder {
    pid: i32,
}

extern "C" fn hold(_: *mut libc::c_void) -> libc::c_int {
    // Only async-signal-safe calls: the parent may have other threads.
    loop {
        // SAFETY: pause(2) has no arguments and no memory effects.
        unsafe { libc::pause() };
    }
}

impl NsHolder {
    /// Clones a child into a new user namespace (and a new network namespace owned by it when
    /// `with_net`), then writes its `uid_map` and `gid_map` (`inner outer count` lines).
    pub fn new(uid_map: &str, gid_map: &str, with_net: bool) -> io::Result<NsHolder> {
        const STACK: usize = 64 * 1024;
        let mut stack = vec![0u8; STACK];
        let mut flags = libc::CLONE_NEWUSER | libc::SIGCHLD;
        if with_net {
            flags |= libc::CLONE_NEWNET;
        }
        // SAFETY: the child runs `hold` on its own copy of `stack` (no CLONE_VM: the address
        // space is copied as by fork), calls only pause(2), and never returns; the stack pointer
        // given is the top of a live, suitably aligned allocation.
        let pid = unsafe {
            let top = stack.as_mut_ptr().add(STACK) as *mut libc::c_void;
            let top = ((top as usize) & !15) as *mut libc::c_void;
            libc::clone(hold, top, flags, std::ptr::null_mut())
        };
        if pid < 0 {
            return Err(io::Error::last_os_error());
        }
        let holder = NsHolder { pid };
        std::fs::write(format!("/proc/{pid}/uid_map"), uid_map)?;
        std::fs::write(format!("/proc/{pid}/gid_map"), gid_map)?;
        Ok(holder)
    }

    pub fn pid(&self) -> i32 {
        self.pid
    }

    /// `/proc/<pid>/ns/<name>` of the holder.
    pub fn ns_path(&self, name: &str) -> std::path::PathBuf {
        std::path::PathBuf::from(format!("/proc/{}/ns/{name}", self.pid))
    }
}

impl Drop for NsHolder {
    fn drop(&mut self) {
        // SAFETY: kill and waitpid on our own child's pid, reaped exactly once here.
        unsafe {
            libc::kill(self.pid, libc::SIGKILL);
            let mut status = 0;
            libc::waitpid(self.pid, &mut status, libc::__WALL);
        }
    }
}

fn cpath(p: &Path) -> io::Result<CString> {
    CString::new(p.as_os_str().as_bytes()).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))
}

const OPEN_TREE_CLONE: libc::c_uint = 1;
const MOVE_MOUNT_F_EMPTY_PATH: libc::c_uint = 0x4;
const MOUNT_ATTR_IDMAP: u64 = 0x0010_0000;

#[repr(C)]
struct MountAttr {
    attr_set: u64,
    attr_clr: u64,
    propagation: u64,
    userns_fd: u64,
}

/// Mounts `src` at `dst` (an existing directory) with its owners shifted by the mappings of
/// the user namespace `userns`: `open_tree(OPEN_TREE_CLONE)`, `mount_setattr(MOUNT_ATTR_IDMAP)`,
/// `move_mount`. Fails with EINVAL/EPERM/ENOSYS where the kernel or the file system cannot.
pub fn idmapped_bind(src: &Path, dst: &Path, userns: BorrowedFd<'_>) -> io::Result<()> {
    let src = cpath(src)?;
    let dst = cpath(dst)?;
    // SAFETY: open_tree(2) reads the NUL-terminated path; the returned fd is owned below.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_open_tree,
            libc::AT_FDCWD,
            src.as_ptr(),
            OPEN_TREE_CLONE | libc::O_CLOEXEC as libc::c_uint,
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` was just returned by open_tree and is owned by nobody else.
    let tree = unsafe { OwnedFd::from_raw_fd(fd as i32) };
    let attr =
        MountAttr { attr_set: MOUNT_ATTR_IDMAP, attr_clr: 0, propagation: 0, userns_fd: userns.as_raw_fd() as u64 };
    let empty = c"";
    // SAFETY: mount_setattr(2) on our detached tree, reading `attr` of the size given.
    let r = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            tree.as_raw_fd(),
            empty.as_ptr(),
            libc::AT_EMPTY_PATH,
            &attr as *const MountAttr,
            std::mem::size_of::<MountAttr>(),
        )
    };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: move_mount(2) of our detached tree onto the NUL-terminated target path.
    let r = unsafe {
        libc::syscall(
            libc::SYS_move_mount,
            tree.as_raw_fd(),
            empty.as_ptr(),
            libc::AT_FDCWD,
            dst.as_ptr(),
            MOVE_MOUNT_F_EMPTY_PATH,
        )
    };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}
