//! `--init`: a small init as the container's PID 1 (tini, which is what Docker ships as
//! docker-init), at Docker's path `/sbin/docker-init`, with the container's command after `--`.
//! It forwards the signals it gets to the command and reaps every process re-parented to it.
//!
//! The init is a host binary that runs inside the container, the CVE-2019-5736 shape: a process
//! in the container can reach it as `/proc/1/exe` or `/sbin/docker-init`, and a hostile one would
//! open it for writing to plant code that the host, or the next container, runs. Three things
//! stand in the way. The container never sees the host's file: each container gets its own copy
//! in its directory (checked against the host's at every start), so even a container that could
//! write it would spoil only itself. The copy is bind-mounted read-only, so a write open is EROFS
//! (a container given CAP_SYS_ADMIN can remount it read-write). And the init is PID 1 from the
//! container's first instruction to its end, so a write open is ETXTBSY for as long as anything
//! of the container runs. The binary should be static (tini-static is): a dynamic one would load
//! the image's loader and libraries, which cannot reach the host but would not run in most images.

use std::path::{Path, PathBuf};

/// Where the init appears inside the container.
pub const IN_CONTAINER: &str = "/sbin/docker-init";

/// Looked for, in order, when daemon.json has no `init-path`: Debian's `tini` package, then
/// Docker's own names.
const CANDIDATES: &[&str] =
    &["/usr/bin/tini-static", "/usr/libexec/docker/docker-init", "/usr/local/bin/docker-init", "/usr/bin/docker-init"];

/// The init binary on the host: `init-path`, else the first candidate present.
pub fn lookup(configured: Option<&Path>) -> Result<PathBuf, String> {
    if let Some(p) = configured {
        return match p.is_file() {
            true => Ok(p.to_path_buf()),
            false => Err(format!("--init: the init binary {} (daemon.json init-path) does not exist", p.display())),
        };
    }
    CANDIDATES.iter().map(PathBuf::from).find(|p| p.is_file()).ok_or_else(|| {
        format!(
            "--init: no init binary found (looked for {}); install Debian's tini package or set init-path in daemon.json",
            CANDIDATES.join(", ")
        )
    })
}

/// Copies the init into `dir` (the container's own directory) as a read-only, executable file
/// and returns its path. A copy already there with the same bytes is kept (a read costs less than
/// a write; nothing in the container can have changed it, see above, but it is compared all the
/// same). A new copy is written to a temporary name and renamed, so a start never mounts a
/// half-written one.
pub fn private_copy(src: &Path, dir: &Path) -> Result<PathBuf, String> {
    use std::os::unix::fs::PermissionsExt;
    let dst = dir.join("docker-init");
    let err = |what: &str, e: std::io::Error| format!("--init: {what} {}: {e}", src.display());
    let want = std::fs::read(src).map_err(|e| err("reading", e))?;
    let mode_ok = |m: &std::fs::Metadata| m.permissions().mode() & 0o7777 == 0o555;
    if std::fs::metadata(&dst).is_ok_and(|m| m.is_file() && mode_ok(&m)) && std::fs::read(&dst).is_ok_and(|b| b == want)
    {
        return Ok(dst);
    }
    let tmp = dir.join(".docker-init.tmp");
    let _ = std::fs::remove_file(&tmp);
    std::fs::write(&tmp, &want).map_err(|e| err("copying", e))?;
    std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o555))
        .map_err(|e| err("setting the mode of the copy of", e))?;
    std::fs::rename(&tmp, &dst).map_err(|e| err("installing the copy of", e))?;
    Ok(dst)
}
