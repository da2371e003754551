//! Issue 13, point 3 (cgroup v2 part): the device filter holds on a cgroup v2 host. libcgroups
//! enforces it there with a BPF_CGROUP_DEVICE program (berth-runtime is built with its
//! `cgroupsv2_devices` feature); without one a container with CAP_MKNOD opens any device node
//! it makes. This host is v1 (hybrid): the daemon runs in a mount namespace of its own where
//! `/sys/fs/cgroup` is the host's cgroup2 hierarchy (no controller is needed for the program).

use super::Dir;
use berth_tests::{workspace_bin, DaemonOpts, TestDaemon};
use std::os::unix::fs::PermissionsExt;

/// Opens a node made with mknod; prints `<name> rc=<status>`.
const OPENS: &str = r#"
t() { mknod /tmp/$1 c $2 $3 2>/dev/null; (: < /tmp/$1) 2>/dev/null; echo "$1 rc=$?"; }
t loop-control 10 237
t fuse 10 229
t null 1 3
t zero 1 5
(: < /dev/null) && echo "devnull rc=0"
"#;

#[test]
fn v2_device_filter_denies_nodes_the_container_makes() {
    let unified = std::path::Path::new("/sys/fs/cgroup/unified");
    let on_v2 = nix_is_cgroup2(std::path::Path::new("/sys/fs/cgroup"));
    if !on_v2 && !nix_is_cgroup2(unified) {
        eprintln!("skipped: no cgroup2 hierarchy on this host");
        return;
    }
    let dir = Dir::new("devices-v2");
    let mut opts = DaemonOpts::new("rt-devices-v2");
    if !on_v2 {
        // A daemon (and its monitors and runtime) that sees the cgroup2 hierarchy at the
        // default root: libcgroups then takes the host for a v2 one.
        let wrapper = dir.0.join("berthd-v2");
        std::fs::write(
            &wrapper,
            format!(
                "#!/bin/sh\nexec unshare --mount --propagation private -- /bin/sh -c \
                 'mount --bind /sys/fs/cgroup/unified /sys/fs/cgroup && exec \"$0\" \"$@\"' {} \"$@\"\n",
                workspace_bin("berthd").display()
            ),
        )
        .unwrap();
        std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755)).unwrap();
        opts.daemon_binary = Some(wrapper);
    }
    let mut d = TestDaemon::start(opts);
    d.busybox_image();
    let parent = d.cgroup_parent_name().to_string();
    if !bpf_loadable() {
        // libcgroups sets RLIMIT_MEMLOCK to 128 MiB before loading the program; this host cannot
        // (no CAP_SYS_RESOURCE, lower hard limit). No container may then run without its filter.
        let (_, err) = d.docker_err(&["run", "--rm", "busybox", "true"]);
        assert!(
            err.contains("device filter") && err.contains("RLIMIT_MEMLOCK"),
            "refused with the cause and the remedy: {err}"
        );
        eprintln!("the filter's enforcement was not run: RLIMIT_MEMLOCK cannot be raised to 128 MiB here");
    } else {
        let out = d.docker_ok(&["run", "--rm", "busybox", "sh", "-c", OPENS]);
        let rc = |name: &str| {
            out.lines()
                .find_map(|l| l.strip_prefix(&format!("{name} rc=")))
                .unwrap_or_else(|| panic!("no {name} in {out}"))
                .to_string()
        };
        for denied in ["loop-control", "fuse"] {
            assert_ne!(rc(denied), "0", "a node the container made for {denied} opened under v2: {out}");
        }
        for allowed in ["null", "zero", "devnull"] {
            assert_eq!(rc(allowed), "0", "{allowed} is in Docker's default allow list: {out}");
        }
        // --privileged gets every device, as under Docker.
        let out = d.docker_ok(&["run", "--rm", "--privileged", "busybox", "sh", "-c", OPENS]);
        assert!(out.contains("loop-control rc=0"), "--privileged: {out}");
    }
    drop(d);
    // The daemon's cgroups in the cgroup2 hierarchy (the harness cleans the v1 ones).
    if !on_v2 {
        let _ = std::fs::remove_dir(unified.join(parent));
    }
}

fn nix_is_cgroup2(p: &std::path::Path) -> bool {
    std::fs::read_to_string("/proc/self/mounts").is_ok_and(|m| {
        m.lines().any(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            f.len() > 2 && f[2] == "cgroup2" && std::path::Path::new(f[1]) == p
        })
    })
}

/// Whether a process started from here could load the program: a hard RLIMIT_MEMLOCK of 128 MiB
/// or more, or CAP_SYS_RESOURCE to raise it.
fn bpf_loadable() -> bool {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let cap_eff = status
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))
        .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
        .unwrap_or(0);
    let limits = std::fs::read_to_string("/proc/self/limits").unwrap_or_default();
    let hard = limits
        .lines()
        .find(|l| l.starts_with("Max locked memory"))
        .and_then(|l| l.split_whitespace().nth(4).map(String::from))
        .unwrap_or_default();
    cap_eff & (1 << 24) != 0 || hard == "unlimited" || hard.parse::<u64>().is_ok_and(|b| b >= 128 << 20)
}
