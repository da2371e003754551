//! CVE-2019-5736: this binary runs inside the container's namespaces (libcontainer clones the
//! init and the exec'd processes from it), where the container can reach it as
//! `/proc/<pid>/exe`. It must then be a sealed in-memory copy, never the host's file.
//!
//! The monitor normally executes us from the daemon's sealed copy (`/proc/self/fd/N`, the fd
//! named by [`FD_ENV`]): nothing to do. Run from a host file (by hand, by another engine), the
//! commands that enter the container re-execute themselves from a sealed copy first; that costs
//! one copy of the binary per command.

use crate::cli::Command;
use anyhow::{bail, Context, Result};

/// The environment variable naming the inherited descriptor of the daemon's sealed copy.
pub const FD_ENV: &str = "BERTH_RUNTIME_FD";
/// Set on the re-execution, so that a copy that is somehow not sealed fails instead of looping.
const MARKER: &str = "_BERTH_RUNTIME_SEALED";

pub fn ensure(cmd: &Command) -> Result<()> {
    // The copy we were executed from stays open here; it must not reach the container.
    if let Some(fd) = std::env::var(FD_ENV).ok().and_then(|v| v.parse::<i32>().ok()) {
        if fd > 2 && berth_sys::sealed::raw_fd_is_sealed(fd) {
            berth_sys::sealed::set_cloexec(fd, true).context("closing the sealed copy on exec")?;
        }
    }
    // start, kill, state, delete, ps, update, pause, resume never enter the container.
    if !matches!(cmd, Command::Create { .. } | Command::Exec { .. }) {
        return Ok(());
    }
    if berth_sys::sealed::running_sealed().context("inspecting /proc/self/exe")? {
        return Ok(());
    }
    if std::env::var_os(MARKER).is_some() {
        bail!("re-executed from a sealed copy, yet /proc/self/exe is not sealed");
    }
    Err(berth_sys::sealed::reexec_sealed("berth-runtime", MARKER))
        .context("re-executing from a sealed copy of berth-runtime")
}
