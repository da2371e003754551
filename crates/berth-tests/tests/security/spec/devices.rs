//! The device cgroup (deny by default, Docker's allow list), `--device`, `--device-cgroup-rule`,
//! and GPUs refused. A node the container makes itself (it has CAP_MKNOD) must not open unless a
//! rule allows it; /dev is the container's tmpfs, mounted without nodev, so only the cgroup stands
//! in the way.

use super::*;
use serde_json::json;

/// Makes a node for fuse (10:229, which Docker's list denies by name) and opens it.
const OPEN_FUSE_NODE: &str = "mknod /dev/probe c 10 229 && exec 3</dev/probe && echo opened";

fn cgroup_v1_devices() -> bool {
    std::fs::read_to_string("/proc/self/cgroup")
        .unwrap_or_default()
        .lines()
        .any(|l| l.split(':').nth(1).is_some_and(|c| c.split(',').any(|x| x == "devices")))
}

#[test]
fn device_cgroup_denies_by_default_and_honours_devices_and_rules() {
    if !cgroup_v1_devices() {
        eprintln!(
            "skipped: no cgroup v1 devices controller on this host (the v2 filter is the runtime's eBPF program)"
        );
        return;
    }
    let d = daemon("sec-devices");
    let (_, err) = d.docker_err(&["run", "--rm", "busybox", "sh", "-c", OPEN_FUSE_NODE]);
    assert!(err.contains("Operation not permitted"), "a node made in the container opened: {err}");
    // The allow list: null, zero, full, random, urandom, tty work.
    let ok = "for n in null zero full random urandom; do head -c 1 /dev/$n >/dev/null || exit 1; done; echo ok";
    assert_eq!(run(&d, &["busybox", "sh", "-c", ok]), "ok");

    assert_eq!(run(&d, &["--device-cgroup-rule", "c 10:229 rwm", "busybox", "sh", "-c", OPEN_FUSE_NODE]), "opened");
    // m only: the node can be made but not opened.
    let (_, err) =
        d.docker_err(&["run", "--rm", "--device-cgroup-rule", "c 10:229 m", "busybox", "sh", "-c", OPEN_FUSE_NODE]);
    assert!(err.contains("Operation not permitted"), "{err}");

    if std::path::Path::new("/dev/fuse").exists() {
        assert_eq!(
            run(&d, &["--device", "/dev/fuse", "busybox", "sh", "-c", "exec 3</dev/fuse && echo opened"]),
            "opened"
        );
    }
    // A mapping to another path with read-only permissions: the node is there with the host's
    // numbers, a read open passes, a write open is refused by the cgroup.
    if std::path::Path::new("/dev/loop-control").exists() {
        let probe =
            "stat -c %t:%T /dev/myloop; (exec 3</dev/myloop) && echo read; (exec 3>/dev/myloop) || echo write-denied";
        let out = run(&d, &["--device", "/dev/loop-control:/dev/myloop:r", "busybox", "sh", "-c", probe]);
        assert_eq!(out.lines().collect::<Vec<_>>(), ["a:ed", "read", "write-denied"], "{out}");
    }
    let v = created(&d, &["--device", "/dev/zero:/dev/myzero:r", "--device-cgroup-rule", "c 1:5 r"]);
    assert_eq!(
        v["HostConfig"]["Devices"],
        json!([{"PathOnHost": "/dev/zero", "PathInContainer": "/dev/myzero", "CgroupPermissions": "r"}])
    );
    assert_eq!(v["HostConfig"]["DeviceCgroupRules"], json!(["c 1:5 r"]));
}

#[test]
fn bad_devices_and_rules_are_400s() {
    let d = daemon("sec-devbad");
    let body = |h: Value| json!({"Image": "busybox", "Cmd": ["true"], "HostConfig": h});
    assert_refused(
        &d,
        &body(json!({"DeviceCgroupRules": ["c 1:3 xyz"]})),
        &["invalid device cgroup rule format", "c 1:3 xyz"],
    );
    assert_refused(&d, &body(json!({"DeviceCgroupRules": ["q *:* rwm"]})), &["invalid device cgroup rule format"]);
    assert_refused(
        &d,
        &body(
            json!({"Devices": [{"PathOnHost": "/dev/nonexistent-berth", "PathInContainer": "/dev/x", "CgroupPermissions": "rwm"}]}),
        ),
        &["/dev/nonexistent-berth"],
    );
    assert_refused(
        &d,
        &body(
            json!({"Devices": [{"PathOnHost": "/etc/passwd", "PathInContainer": "/dev/x", "CgroupPermissions": "rwm"}]}),
        ),
        &["not a device node"],
    );
    assert_refused(
        &d,
        &body(
            json!({"Devices": [{"PathOnHost": "/dev/null", "PathInContainer": "/dev/../etc/x", "CgroupPermissions": "rwm"}]}),
        ),
        &["/dev/../etc/x"],
    );
    assert_refused(
        &d,
        &body(
            json!({"Devices": [{"PathOnHost": "/dev/null", "PathInContainer": "/dev/x", "CgroupPermissions": "rwx"}]}),
        ),
        &["rwx"],
    );
    assert_refused(
        &d,
        &body(
            json!({"DeviceRequests": [{"Driver": "", "Count": -1, "DeviceIDs": null, "Capabilities": [["gpu"]], "Options": {}}]}),
        ),
        &["HostConfig.DeviceRequests is not supported by Berth"],
    );
    let (_, err) = d.docker_err(&["run", "--rm", "--gpus", "all", "busybox", "true"]);
    assert!(err.contains("HostConfig.DeviceRequests"), "{err}");
    assert_eq!(containers(&d), 0);
}
