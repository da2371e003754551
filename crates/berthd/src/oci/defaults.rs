//! Docker's defaults for every container (moby `oci/defaults.go`, `daemon/oci_linux.go`): the
//! kernel file systems mounted in, the paths masked and made read-only, and the sysctls a
//! container with its own network namespace gets.

use oci_spec::runtime::{Mount, MountBuilder};
use std::sync::OnceLock;

/// Hidden from the container (moby, Docker 28): `/proc/interrupts` and the CPUs'
/// `thermal_throttle` directories since GHSA-6fw5-f8r9-fgfm, powercap since GHSA-jq35-85cj-fj4p.
const MASKED: &[&str] = &[
    "/proc/asound",
    "/proc/acpi",
    "/proc/interrupts",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
    "/sys/devices/virtual/powercap",
];

pub const READONLY: &[&str] = &["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"];

/// Docker's masked paths with the `thermal_throttle` directory of every possible CPU that has
/// one on this host (looked up once, as moby does).
pub fn masked() -> Vec<String> {
    static PATHS: OnceLock<Vec<String>> = OnceLock::new();
    PATHS
        .get_or_init(|| {
            let mut v: Vec<String> = MASKED.iter().map(|s| s.to_string()).collect();
            let possible = std::fs::read_to_string("/sys/devices/system/cpu/possible").unwrap_or_default();
            for cpu in cpu_list(possible.trim()) {
                let p = format!("/sys/devices/system/cpu/cpu{cpu}/thermal_throttle");
                if std::path::Path::new(&p).exists() {
                    v.push(p);
                }
            }
            v
        })
        .clone()
}

/// The kernel's CPU list format: `0-3,8,10-11`.
pub fn cpu_list(s: &str) -> Vec<u32> {
    let mut out = Vec::new();
    for part in s.split(',').filter(|p| !p.is_empty()) {
        match part.split_once('-') {
            Some((a, b)) => {
                if let (Ok(a), Ok(b)) = (a.parse::<u32>(), b.parse::<u32>()) {
                    out.extend(a..=b.min(a.saturating_add(4096)));
                }
            }
            None => out.extend(part.parse::<u32>().ok()),
        }
    }
    out
}

pub fn mount(destination: &str, typ: &str, source: &str, options: &[&str]) -> Mount {
    MountBuilder::default()
        .destination(destination)
        .typ(typ)
        .source(source)
        .options(options.iter().map(|s| s.to_string()).collect::<Vec<_>>())
        .build()
        .expect("every field of a mount is set")
}

/// How /sys and /dev/shm come into the container.
pub struct KernelMounts {
    /// No network namespace of its own: a new sysfs cannot be mounted, the host's is bound.
    pub host_net: bool,
    pub privileged: bool,
    /// `None`: no /dev/shm (`--ipc none`); `Some(None)`: the host's (`--ipc host`);
    /// `Some(Some(bytes))`: a private tmpfs of that size.
    pub shm: Option<Option<i64>>,
}

/// Docker's default mounts. `--privileged` makes /sys and the cgroup mount writable.
pub fn mounts(k: &KernelMounts) -> Vec<Mount> {
    let ro = if k.privileged { "rw" } else { "ro" };
    let mut m = vec![
        mount("/proc", "proc", "proc", &["nosuid", "noexec", "nodev"]),
        mount("/dev", "tmpfs", "tmpfs", &["nosuid", "strictatime", "mode=755", "size=65536k"]),
        mount(
            "/dev/pts",
            "devpts",
            "devpts",
            &["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"],
        ),
        if k.host_net {
            mount("/sys", "bind", "/sys", &["rbind", "nosuid", "noexec", "nodev", ro])
        } else {
            mount("/sys", "sysfs", "sysfs", &["nosuid", "noexec", "nodev", ro])
        },
        mount("/sys/fs/cgroup", "cgroup", "cgroup", &[ro, "nosuid", "noexec", "nodev"]),
        mount("/dev/mqueue", "mqueue", "mqueue", &["nosuid", "noexec", "nodev"]),
    ];
    match k.shm {
        None => {}
        Some(None) => m.push(mount("/dev/shm", "bind", "/dev/shm", &["rbind", "rprivate", "nosuid", "nodev"])),
        Some(Some(size)) => {
            let size = format!("size={size}");
            m.push(mount("/dev/shm", "tmpfs", "shm", &["nosuid", "noexec", "nodev", "mode=1777", &size]));
        }
    }
    m
}

/// Docker's /dev/shm size.
pub const SHM_SIZE: i64 = 64 << 20;

/// Sysctls Docker sets in a container with a network namespace of its own (ping without
/// CAP_NET_RAW, low ports without CAP_NET_BIND_SERVICE), where this kernel has them.
pub fn net_sysctls() -> Vec<(&'static str, &'static str)> {
    [("net.ipv4.ping_group_range", "0 2147483647"), ("net.ipv4.ip_unprivileged_port_start", "0")]
        .into_iter()
        .filter(|(k, _)| std::path::Path::new("/proc/sys").join(k.replace('.', "/")).exists())
        .collect()
}
