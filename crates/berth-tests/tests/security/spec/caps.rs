//! Capabilities and `--privileged`, read from /proc/self/status inside the container.

use super::*;
use serde_json::json;

/// Docker's default set (CHOWN DAC_OVERRIDE FOWNER FSETID KILL SETGID SETUID SETPCAP
/// NET_BIND_SERVICE NET_RAW SYS_CHROOT MKNOD AUDIT_WRITE SETFCAP).
const DOCKER_DEFAULT: u64 = 0x0000_0000_a804_25fb;

fn mask(hex: &str) -> u64 {
    u64::from_str_radix(hex, 16).unwrap_or_else(|e| panic!("{hex}: {e}"))
}

/// CapEff, CapBnd, CapInh and CapAmb of the container's process.
fn caps_of(d: &TestDaemon, args: &[&str]) -> [u64; 4] {
    let mut a: Vec<&str> = args.to_vec();
    a.extend(["busybox", "cat", "/proc/self/status"]);
    let s = run(d, &a);
    ["CapEff", "CapBnd", "CapInh", "CapAmb"].map(|f| mask(&status_field(&s, f)))
}

#[test]
fn capabilities_follow_dockers_rules() {
    let d = daemon("sec-caps");
    let daemon_caps =
        mask(&status_field(&std::fs::read_to_string(format!("/proc/{}/status", d.pid())).unwrap(), "CapEff"));
    let [eff, bnd, inh, amb] = caps_of(&d, &[]);
    assert_eq!(
        (eff, bnd, inh, amb),
        (DOCKER_DEFAULT, DOCKER_DEFAULT, 0, 0),
        "default set: {eff:x} {bnd:x} {inh:x} {amb:x}"
    );
    assert_eq!(caps_of(&d, &["--cap-add", "ALL"])[0], daemon_caps, "--cap-add ALL is every capability the daemon has");
    assert_eq!(caps_of(&d, &["--cap-drop", "ALL"])[0], 0);
    assert_eq!(caps_of(&d, &["--cap-drop", "ALL", "--cap-add", "chown"])[0], 1, "drop ALL keeps only the additions");
    assert_eq!(caps_of(&d, &["--cap-add", "ALL", "--cap-drop", "net_raw"])[0], daemon_caps & !(1 << 13));
    // `docker exec --privileged` gets every capability, a plain exec the container's.
    d.run_detached(&["--name", "execs", "busybox", "sleep", "1000"]);
    let exec_caps = |flags: &[&str]| {
        let mut a = vec!["exec"];
        a.extend_from_slice(flags);
        a.extend(["execs", "cat", "/proc/self/status"]);
        mask(&status_field(&d.docker_ok(&a), "CapEff"))
    };
    assert_eq!(exec_caps(&[]), DOCKER_DEFAULT);
    assert_eq!(exec_caps(&["--privileged"]), daemon_caps);
    d.docker_ok(&["rm", "-f", "execs"]);
    // Lower case, no CAP_ prefix, as Docker takes them; SYS_ADMIN is bit 21, KILL bit 5.
    assert_eq!(
        caps_of(&d, &["--cap-add", "sys_admin", "--cap-drop", "Cap_Kill"])[0],
        (DOCKER_DEFAULT | 1 << 21) & !(1 << 5)
    );
}

#[test]
fn unknown_capability_is_a_400_at_create() {
    let d = daemon("sec-capbad");
    for (field, cap) in [("CapAdd", "CAP_BOGUS"), ("CapDrop", "bogus2"), ("CapAdd", "NET_ADMIN2")] {
        let want = format!("CAP_{}", cap.trim_start_matches("CAP_").to_uppercase());
        assert_refused(
            &d,
            &json!({"Image": "busybox", "Cmd": ["true"], "HostConfig": {field: [cap]}}),
            &["unknown capability", &want],
        );
    }
    let (_, err) = d.docker_err(&["create", "--cap-add", "CAP_NOPE", "busybox", "true"]);
    assert!(err.contains("unknown capability: \"CAP_NOPE\""), "{err}");
}

#[test]
fn privileged_is_dockers_privileged() {
    let d = daemon("sec-priv");
    let daemon_caps =
        mask(&status_field(&std::fs::read_to_string(format!("/proc/{}/status", d.pid())).unwrap(), "CapEff"));
    let [eff, bnd, ..] = caps_of(&d, &["--privileged"]);
    assert_eq!((eff, bnd), (daemon_caps, daemon_caps), "--privileged has every capability");

    // Every char and block device of the host's /dev (outside pts, shm, …) is in the container.
    let script =
        "find /dev -path /dev/pts -prune -o -path /dev/shm -prune -o -path /dev/mqueue -prune -o \\( -type c -o -type b \\) -print | sort";
    let inside: Vec<String> =
        run(&d, &["--privileged", "busybox", "sh", "-c", script]).lines().map(str::to_string).collect();
    for dev in ["/dev/loop-control", "/dev/fuse", "/dev/kmsg", "/dev/mem"] {
        if std::path::Path::new(dev).exists() {
            assert!(inside.iter().any(|l| l == dev), "{dev} missing from a privileged container's /dev: {inside:?}");
        }
    }
    let plain = run(&d, &["busybox", "sh", "-c", script]);
    assert!(!plain.lines().any(|l| l == "/dev/mem"), "an unprivileged container has /dev/mem: {plain}");

    // /sys and the cgroup mount writable, nothing masked or read-only.
    let mounts = run(&d, &["--privileged", "busybox", "cat", "/proc/self/mountinfo"]);
    let opts = |mi: &str, at: &str| -> Option<String> {
        mi.lines()
            .map(|l| l.split(' ').collect::<Vec<_>>())
            .filter(|f| f.len() > 5 && f[4] == at)
            .map(|f| f[5].to_string())
            .next_back()
    };
    assert!(opts(&mounts, "/sys").is_some_and(|o| o.split(',').any(|x| x == "rw")), "/sys not rw: {mounts}");
    assert!(opts(&mounts, "/proc/sys").is_none(), "/proc/sys is still remounted read-only: {mounts}");
    assert_eq!(
        run(&d, &["--privileged", "busybox", "stat", "-c", "%F", "/proc/keys"]),
        "regular empty file",
        "/proc/keys masked"
    );
    let plain = run(&d, &["busybox", "cat", "/proc/self/mountinfo"]);
    assert!(
        opts(&plain, "/sys").is_some_and(|o| o.split(',').any(|x| x == "ro")),
        "/sys not ro without --privileged: {plain}"
    );
    assert_eq!(created(&d, &["--privileged"])["HostConfig"]["Privileged"], true);
}

#[test]
fn masked_and_readonly_paths_are_dockers() {
    let d = daemon("sec-masked");
    let mut files = vec!["stat", "-c", "%n %F"];
    files.extend(
        ["/proc/kcore", "/proc/keys", "/proc/interrupts", "/proc/timer_list", "/proc/sched_debug"]
            .into_iter()
            .filter(|p| std::path::Path::new(p).exists()),
    );
    let mut args = vec!["busybox"];
    args.extend(&files);
    let kinds = run(&d, &args);
    assert_eq!(kinds.lines().count(), files.len() - 3, "{kinds}");
    for l in kinds.lines() {
        assert!(l.ends_with("character special file"), "not masked with /dev/null: {l}");
    }
    for dir in ["/sys/firmware", "/proc/scsi", "/proc/acpi"] {
        if std::path::Path::new(dir).exists() {
            assert_eq!(run(&d, &["busybox", "ls", "-A", dir]), "", "{dir} is not masked");
        }
    }
    let (_, err) = d.docker_err(&["run", "--rm", "busybox", "sh", "-c", "echo 1 > /proc/sys/kernel/panic_on_oops"]);
    assert!(err.contains("Read-only file system"), "/proc/sys is writable: {err}");
    if std::path::Path::new("/proc/sysrq-trigger").exists() {
        let (_, err) = d.docker_err(&["run", "--rm", "busybox", "sh", "-c", "echo h > /proc/sysrq-trigger"]);
        assert!(err.contains("Read-only file system"), "/proc/sysrq-trigger is writable: {err}");
    }

    // HostConfig.MaskedPaths and ReadonlyPaths replace Docker's lists.
    let body = json!({"Image": "busybox", "Cmd": ["sh", "-c", "stat -c %F /proc/keys; cat /proc/uptime | wc -c; touch /tmp/x; echo > /etc/hostname && echo written"],
        "HostConfig": {"MaskedPaths": ["/proc/uptime"], "ReadonlyPaths": ["/tmp"]}});
    let r = create_raw(&d, &body);
    assert_eq!(r.status, 201, "{}", r.text());
    let id = r.json()["Id"].as_str().unwrap().to_string();
    d.docker_ok(&["start", &id]);
    d.docker_ok(&["wait", &id]);
    let logs = d.docker_ok(&["logs", &id]);
    let out = String::from_utf8_lossy(&d.docker(&["logs", &id]).stderr).to_string() + &logs;
    assert!(logs.starts_with("regular empty file\n0"), "keys unmasked and uptime masked: {out}");
    assert!(
        out.contains("Read-only file system") && logs.contains("written"),
        "/tmp read-only, the rest writable: {out}"
    );
}
