//! The runtime as an attack surface: the CVE-2019-5736 and CVE-2024-21626 reproductions, the
//! signal state the container's processes start with, and cgroup files a container must not be
//! able to write (its own limits, the host's hierarchy roots).

use crate::status_field;
use berth_tests::{DaemonOpts, TestDaemon};

mod cgroups;
mod cost;
mod devices_v2;
mod leaked_fd;
mod overwrite;
mod signals;

/// A daemon with the busybox image.
fn daemon(opts: DaemonOpts) -> TestDaemon {
    let mut d = TestDaemon::start(opts);
    d.busybox_image();
    d
}

/// A scratch directory on the host, removed at drop.
struct Dir(std::path::PathBuf);

impl Dir {
    fn new(tag: &str) -> Dir {
        let p = std::env::temp_dir().join(format!("berth-sec-rt-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        Dir(p)
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
