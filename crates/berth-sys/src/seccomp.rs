//! Loading a compiled seccomp filter (classic BPF) into the calling thread.
//!
//! berth-runtime compiles a container's filter once and keeps the program; the kernel takes it
//! through `seccomp(SECCOMP_SET_MODE_FILTER)` directly, without libseccomp, which would rebuild
//! the program from rules every time.

use std::io;

/// `SECCOMP_SET_MODE_FILTER` of `<linux/seccomp.h>`.
const SET_MODE_FILTER: libc::c_uint = 1;
/// One classic BPF instruction (`struct sock_filter`) is 8 bytes.
pub const INSN_LEN: usize = 8;
/// `BPF_MAXINSNS`: the kernel refuses longer programs.
pub const MAX_INSNS: usize = 4096;

/// `SECCOMP_FILTER_FLAG_*` bits, as the kernel numbers them.
pub mod flags {
    pub const TSYNC: u32 = 1 << 0;
    pub const LOG: u32 = 1 << 1;
    pub const SPEC_ALLOW: u32 = 1 << 2;
}

/// `struct sock_fprog`.
#[repr(C)]
struct SockFprog {
    len: libc::c_ushort,
    filter: *const u8,
}

/// Installs `program` (a sequence of `struct sock_filter`, native byte order) as a seccomp filter
/// of the calling thread (every thread with `flags::TSYNC`). Needs no_new_privs or CAP_SYS_ADMIN.
pub fn set_mode_filter(program: &[u8], flags: u32) -> io::Result<()> {
    let insns = program.len() / INSN_LEN;
    if !program.len().is_multiple_of(INSN_LEN) || insns == 0 || insns > MAX_INSNS {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, format!("not a BPF program: {} bytes", program.len())));
    }
    let prog = SockFprog { len: insns as libc::c_ushort, filter: program.as_ptr() };
    // SAFETY: the kernel reads a sock_fprog from a pointer valid for the call, and from it `len`
    // 8-byte instructions, all inside `program` (its length was checked above); it copies them
    // and keeps no pointer into this memory.
    let r =
        unsafe { libc::syscall(libc::SYS_seccomp, SET_MODE_FILTER, flags as libc::c_ulong, &prog as *const SockFprog) };
    match r {
        0 => Ok(()),
        // With TSYNC, a positive return names a thread that could not be synchronised.
        tid if tid > 0 => {
            Err(io::Error::other(format!("seccomp: thread {tid} could not be synchronised to the filter")))
        }
        _ => Err(io::Error::last_os_error()),
    }
}
