//! berthd's open-file limit. The unit gives the daemon `LimitNOFILE=1024:524288`, systemd's
//! default and the soft limit programs that still use select(2) need. The daemon holds a socket
//! per monitor and per client and many files at once, so it raises its own soft limit to the hard
//! one at start; the monitors it starts, and so the containers and exec processes they start,
//! get the soft limit the daemon was given (as dockerd's children do since Docker 25). A
//! container's own `--ulimit nofile` still sets its limit in the OCI spec.

use nix::sys::resource::{getrlimit, setrlimit, Resource};
use std::sync::OnceLock;

/// The soft limit berthd was started with: what children get.
static GIVEN: OnceLock<u64> = OnceLock::new();

/// Raises the soft limit to the hard one, remembering the one given. Returns (given, now).
pub fn raise() -> std::io::Result<(u64, u64)> {
    let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE)?;
    let _ = GIVEN.set(soft);
    if soft < hard {
        setrlimit(Resource::RLIMIT_NOFILE, hard, hard)?;
    }
    Ok((soft, hard.max(soft)))
}

/// Makes `cmd`'s child start with the soft limit berthd was given.
pub fn for_children(cmd: &mut std::process::Command) {
    if let Some(&soft) = GIVEN.get() {
        berth_sys::spawn::nofile_soft_on_exec(cmd, soft);
    }
}
