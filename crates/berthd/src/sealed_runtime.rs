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

static BUILTIN: OnceLock<PathBuf> = OnceLock::new();
static COPY: OnceLock<Option<Sealed>> = OnceLock::new();

/// Starts making the copy of `runtime` in the background (~90 ms for a 70 MB debug build, off
/// the daemon's start-up path); the first monitor launched before it is done waits for it.
pub fn init(runtime: &Path) {
    if BUILTIN.set(runtime.to_path_buf()).is_err() {
        return;
    }
    let spawned = std::thread::Builder::new().name("sealed-runtime".into()).spawn(|| {
        copy();
    });
    if let Err(e) = spawned {
        tracing::warn!("making the sealed runtime copy in the background: {e}; made on first use");
    }
}

/// The copy, made on the first call. Without one (no such file, memfd refused), monitors run
/// the runtime from its file and berth-runtime seals itself (a copy per create and exec).
fn copy() -> Option<&'static Sealed> {
    let runtime = BUILTIN.get()?;
    COPY.get_or_init(|| {
        let t = std::time::Instant::now();
        match berth_sys::sealed::sealed_copy(runtime, "berth-runtime") {
            Ok(fd) => {
                tracing::debug!(runtime = %runtime.display(), ms = t.elapsed().as_millis() as u64, "sealed copy of the runtime made");
                Some(Sealed { path: runtime.clone(), fd })
            }
            Err(e) => {
                tracing::warn!(runtime = %runtime.display(), "no sealed copy of the runtime ({e}); it will seal itself on each create and exec");
                None
            }
        }
    })
    .as_ref()
}

/// Hands the copy to a monitor about to be spawned by `cmd` when its runtime is the built-in one.
pub fn attach(cmd: &mut std::process::Command, runtime_path: &Path) {
    if BUILTIN.get().map(PathBuf::as_path) != Some(runtime_path) {
        return;
    }
    let Some(s) = copy() else { return };
    if s.path != runtime_path {
        return;
    }
    berth_sys::sealed::inherit_fd(cmd, s.fd.as_raw_fd());
    cmd.env("BERTH_RUNTIME_FD", s.fd.as_raw_fd().to_string());
}
