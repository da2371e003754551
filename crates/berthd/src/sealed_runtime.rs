//! The daemon's sealed copy of the built-in runtime (CVE-2019-5736).
//!
//! berth-runtime runs inside the container's namespaces, where the container reaches it as
//! `/proc/<pid>/exe`; from a host file, a malicious image could open that link for writing and
//! replace the host's runtime. The daemon makes one sealed in-memory copy when it starts and every
//! monitor it launches for the built-in runtime inherits it and runs the runtime from it
//! (`/proc/self/fd/N`), so no start pays for a copy. A monitor keeps its descriptor after the
//! daemon is gone; a new (upgraded) daemon makes a copy of the binary it finds then.

use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

struct Sealed {
    path: PathBuf,
    fd: OwnedFd,
}

static COPY: OnceLock<Option<Sealed>> = OnceLock::new();

/// Makes the copy of `runtime`. Without one (no such file, memfd refused), monitors run the
/// runtime from its file and berth-runtime seals itself (a copy per create/exec).
pub fn init(runtime: &Path) {
    COPY.get_or_init(|| {
        let t = std::time::Instant::now();
        match berth_sys::sealed::sealed_copy(runtime, "berth-runtime") {
            Ok(fd) => {
                tracing::debug!(runtime = %runtime.display(), ms = t.elapsed().as_millis() as u64, "sealed copy of the runtime made");
                Some(Sealed { path: runtime.to_path_buf(), fd })
            }
            Err(e) => {
                tracing::warn!(runtime = %runtime.display(), "no sealed copy of the runtime ({e}); it will seal itself on each create and exec");
                None
            }
        }
    });
}

/// Hands the copy to a monitor about to be spawned by `cmd` when its runtime is the built-in one.
pub fn attach(cmd: &mut std::process::Command, runtime_path: &Path) {
    let Some(Some(s)) = COPY.get() else { return };
    if s.path != runtime_path {
        return;
    }
    berth_sys::sealed::inherit_fd(cmd, s.fd.as_raw_fd());
    cmd.env("BERTH_RUNTIME_FD", s.fd.as_raw_fd().to_string());
}
