//! Seccomp: Berth's default profile, profiles given by users and the daemon, and the
//! `linux.seccomp` section of each container's runtime spec.
//!
//! # The default profile
//!
//! `profiles/seccomp-default.json` is Berth's own file in Docker's profile format. Its rules
//! are those of Docker's default profile (moby `profiles/seccomp/default_linux.go`, as
//! vendored by moby in 2026-08, profiles v0.2.3; and Docker's seccomp documentation),
//! regrouped by purpose, each group with a `comment` saying what it is for:
//!
//! - an allow-list of ordinary syscalls; everything else fails with EPERM
//!   (`defaultAction` ERRNO, `defaultErrnoRet` 1). Absent on purpose, as in Docker: the
//!   keyrings (`keyctl`, `add_key`, `request_key`: not namespaced), `io_uring_*`,
//!   `userfaultfd`, `kexec_*`, `open_by_handle_at`, `pivot_root`, `swapon`...;
//! - `clone` only without namespace flags, `clone3` failing with ENOSYS (its flags cannot be
//!   inspected; ENOSYS makes libcs fall back to `clone`), both allowed whole with
//!   CAP_SYS_ADMIN;
//! - `socket` for every address family but AF_ALG (38) and AF_VSOCK (40);
//! - `personality` only for PER_LINUX, PER_LINUX32, UNAME26, their union and the query;
//! - `ptrace`, `process_vm_readv/writev` from kernel 4.8 (ptrace can no longer bypass
//!   seccomp there);
//! - syscalls gated by a capability of the container, as Docker: CAP_SYS_ADMIN (mounts,
//!   namespaces, sethostname, quotas, bpf, perf, fanotify, syslog), CAP_BPF, CAP_PERFMON,
//!   CAP_DAC_READ_SEARCH, CAP_SYS_PTRACE, CAP_SYS_MODULE, CAP_SYS_BOOT, CAP_SYS_CHROOT,
//!   CAP_SYS_PACCT, CAP_SYS_RAWIO, CAP_SYS_TIME, CAP_SYS_TTY_CONFIG, CAP_SYS_NICE, CAP_SYSLOG;
//! - architecture-specific calls for x86, arm, ppc64le, s390 and riscv64.
//!
//! A unit test checks the properties above; the e2e tests in `security/seccomp.rs` probe them
//! from inside containers.
//!
//! # Cost
//!
//! The default profile is parsed once per daemon ([`builtin`]). Each start resolves the
//! conditions for the container's capabilities (a few microseconds) and writes the result
//! into config.json; compiling it to BPF is the runtime's job.

mod options;
mod profile;
mod resolve;

use crate::model::SeccompRecord;
pub use options::{choose, parse_security_opts, DaemonSeccomp};
pub use profile::Profile;
pub use resolve::Host;

use std::sync::OnceLock;

/// The profile's file, embedded in the daemon.
pub const BUILTIN_JSON: &str = include_str!("../../profiles/seccomp-default.json");

/// Berth's default profile, parsed on first use and kept for the daemon's life.
pub fn builtin() -> &'static Profile {
    static BUILTIN: OnceLock<Profile> = OnceLock::new();
    BUILTIN.get_or_init(|| {
        Profile::parse(BUILTIN_JSON).expect("the embedded default seccomp profile is valid (unit-tested)")
    })
}

/// The file a custom profile is kept in, in the container's directory.
pub const PROFILE_FILE: &str = "seccomp.json";

/// Puts the container's recorded filter and no-new-privileges setting into its runtime spec,
/// resolved for the spec's bounding capabilities. Called once per start.
pub fn apply_to_spec(
    spec: &mut oci_spec::runtime::Spec,
    record: &SeccompRecord,
    no_new_privileges: bool,
) -> Result<(), String> {
    // Absent rather than false: libcontainer 0.7.0 loads the filter after dropping capabilities
    // whenever the key is present, and without no_new_privs or CAP_SYS_ADMIN that load fails.
    if let Some(p) = spec.process_mut() {
        p.set_no_new_privileges(no_new_privileges.then_some(true));
    }
    let custom;
    let profile = match record {
        SeccompRecord::Unconfined => return Ok(()),
        SeccompRecord::Builtin => builtin(),
        SeccompRecord::Custom { profile, .. } => {
            let json = std::fs::read_to_string(profile)
                .map_err(|e| format!("reading the container's seccomp profile {}: {e}", profile.display()))?;
            custom = Profile::parse(&json).map_err(|e| format!("{}: {e}", profile.display()))?;
            &custom
        }
    };
    let bounding: Vec<String> = spec
        .process()
        .as_ref()
        .and_then(|p| p.capabilities().as_ref())
        .and_then(|c| c.bounding().as_ref())
        .map(|b| b.iter().map(|c| format!("CAP_{c}")).collect())
        .unwrap_or_default();
    let section = profile.resolve(Host::current(), &bounding).map_err(|e| e.to_string())?;
    if let Some(linux) = spec.linux_mut() {
        linux.set_seccomp(Some(section));
    }
    Ok(())
}

#[cfg(test)]
mod tests;
