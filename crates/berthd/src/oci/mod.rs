//! The OCI runtime spec of a container: Docker's defaults (capabilities, masked paths, mounts)
//! applied to what the user asked for. The daemon writes it; the runtime, run by the monitor,
//! reads it. The daemon itself never creates a namespace or forks a container.

use serde_json::{json, Value};
use std::path::PathBuf;

mod user;
pub use user::resolve_user;

/// Network namespace choice.
#[derive(Debug, Clone, PartialEq)]
pub enum NetNs {
    /// A new, empty namespace (only `lo`): `none`, and the bridge until the network issue lands.
    New,
    /// The host's namespace.
    Host,
    /// Join an existing one (`container:<id>`): a /proc/<pid>/ns/net path.
    Join(PathBuf),
}

#[derive(Debug, Clone, Default)]
pub struct Resources {
    pub memory: i64,
    pub memory_swap: i64,
    pub nano_cpus: i64,
    pub cpu_shares: i64,
    pub cpu_quota: i64,
    pub cpu_period: i64,
    pub pids_limit: i64,
    pub cpuset_cpus: String,
}

#[derive(Debug, Clone)]
pub struct MountSpec {
    pub destination: String,
    pub source: String,
    pub kind: String,
    pub options: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct SpecInput {
    pub args: Vec<String>,
    pub env: Vec<String>,
    pub cwd: String,
    pub uid: u32,
    pub gid: u32,
    pub additional_gids: Vec<u32>,
    pub hostname: String,
    pub tty: bool,
    pub rootfs: PathBuf,
    pub readonly_rootfs: bool,
    pub net: NetNs,
    pub resources: Resources,
    pub mounts: Vec<MountSpec>,
    pub privileged: bool,
    pub cap_add: Vec<String>,
    pub cap_drop: Vec<String>,
    /// As recorded at create (invariant 8).
    pub cgroups_path: String,
}

/// Docker's default capability set.
const DEFAULT_CAPS: &[&str] = &[
    "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_NET_RAW", "CAP_SETGID",
    "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_KILL",
    "CAP_AUDIT_WRITE",
];

const MASKED: &[&str] = &[
    "/proc/asound", "/proc/acpi", "/proc/kcore", "/proc/keys", "/proc/latency_stats", "/proc/timer_list",
    "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi", "/sys/firmware", "/sys/devices/virtual/powercap",
];
const READONLY: &[&str] = &["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"];

fn caps(input: &SpecInput) -> Vec<String> {
    let norm = |c: &str| {
        let c = c.to_ascii_uppercase();
        if c.starts_with("CAP_") { c } else { format!("CAP_{c}") }
    };
    if input.privileged {
        return DEFAULT_CAPS.iter().map(|s| s.to_string()).chain(["CAP_SYS_ADMIN".into(), "CAP_NET_ADMIN".into()]).collect();
    }
    let drop: Vec<String> = input.cap_drop.iter().map(|c| norm(c)).collect();
    let mut v: Vec<String> = if drop.iter().any(|d| d == "CAP_ALL") {
        vec![]
    } else {
        DEFAULT_CAPS.iter().map(|s| s.to_string()).filter(|c| !drop.contains(c)).collect()
    };
    for c in &input.cap_add {
        let c = norm(c);
        if c != "CAP_ALL" && !v.contains(&c) {
            v.push(c);
        }
    }
    v
}

fn default_mounts(input: &SpecInput) -> Vec<Value> {
    let mut m = vec![
        json!({"destination": "/proc", "type": "proc", "source": "proc", "options": ["nosuid", "noexec", "nodev"]}),
        json!({"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]}),
        json!({"destination": "/dev/pts", "type": "devpts", "source": "devpts", "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]}),
        json!({"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["nosuid", "noexec", "nodev", "ro"]}),
        json!({"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup", "options": ["ro", "nosuid", "noexec", "nodev"]}),
        json!({"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue", "options": ["nosuid", "noexec", "nodev"]}),
        json!({"destination": "/dev/shm", "type": "tmpfs", "source": "shm", "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=67108864"]}),
    ];
    if input.net == NetNs::Host {
        // A new sysfs cannot be mounted without a new network namespace: bind the host's.
        m[3] = json!({"destination": "/sys", "type": "bind", "source": "/sys", "options": ["rbind", "nosuid", "noexec", "nodev", "ro"]});
    }
    m
}

/// Builds config.json.
pub fn spec(input: &SpecInput) -> Value {
    let caps = caps(input);
    let mut namespaces = vec![json!({"type": "pid"}), json!({"type": "ipc"}), json!({"type": "uts"}), json!({"type": "mount"})];
    match &input.net {
        NetNs::New => namespaces.push(json!({"type": "network"})),
        NetNs::Host => {}
        NetNs::Join(p) => namespaces.push(json!({"type": "network", "path": p})),
    }
    let mut mounts = default_mounts(input);
    for m in &input.mounts {
        mounts.push(json!({"destination": m.destination, "type": m.kind, "source": m.source, "options": m.options}));
    }
    let r = &input.resources;
    let mut resources = json!({"devices": [{"allow": false, "access": "rwm"}]});
    if r.memory > 0 {
        resources["memory"] = json!({"limit": r.memory});
        if r.memory_swap != 0 {
            resources["memory"]["swap"] = json!(r.memory_swap);
        }
    }
    let mut cpu = serde_json::Map::new();
    if r.nano_cpus > 0 {
        let period = 100_000i64;
        cpu.insert("period".into(), json!(period));
        cpu.insert("quota".into(), json!(r.nano_cpus * period / 1_000_000_000));
    } else if r.cpu_quota > 0 {
        cpu.insert("quota".into(), json!(r.cpu_quota));
        cpu.insert("period".into(), json!(if r.cpu_period > 0 { r.cpu_period } else { 100_000 }));
    }
    if r.cpu_shares > 0 {
        cpu.insert("shares".into(), json!(r.cpu_shares));
    }
    if !r.cpuset_cpus.is_empty() {
        cpu.insert("cpus".into(), json!(r.cpuset_cpus));
    }
    if !cpu.is_empty() {
        resources["cpu"] = Value::Object(cpu);
    }
    if r.pids_limit > 0 {
        resources["pids"] = json!({"limit": r.pids_limit});
    }
    let devices: Vec<Value> = [(1, 3), (1, 5), (1, 7), (1, 8), (1, 9), (5, 0), (5, 2), (136, -1), (10, 200)]
        .iter()
        .map(|(maj, min)| {
            if *min < 0 {
                json!({"allow": true, "type": "c", "major": maj, "access": "rwm"})
            } else {
                json!({"allow": true, "type": "c", "major": maj, "minor": min, "access": "rwm"})
            }
        })
        .collect();
    resources["devices"].as_array_mut().expect("array").extend(devices);
    json!({
        "ociVersion": "1.0.2",
        "process": {
            "terminal": input.tty,
            "user": {"uid": input.uid, "gid": input.gid, "additionalGids": input.additional_gids},
            "args": input.args,
            "env": input.env,
            "cwd": if input.cwd.is_empty() { "/" } else { &input.cwd },
            "capabilities": {"bounding": caps, "effective": caps, "permitted": caps},
            "noNewPrivileges": false,
            "oomScoreAdj": 0
        },
        "root": {"path": input.rootfs, "readonly": input.readonly_rootfs},
        "hostname": input.hostname,
        "mounts": mounts,
        "linux": {
            "cgroupsPath": input.cgroups_path,
            "resources": resources,
            "namespaces": namespaces,
            "maskedPaths": if input.privileged { vec![] } else { MASKED.to_vec() },
            "readonlyPaths": if input.privileged { vec![] } else { READONLY.to_vec() },
        }
    })
}

#[cfg(test)]
mod tests;
