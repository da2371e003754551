//! `--pid`, `--uts`, `--ipc`, `--cgroupns`, `--userns`, `--group-add` and `--sysctl`, seen from
//! inside the container.

use super::*;
use serde_json::json;

/// `readlink /proc/self/ns/<kind>` for each kind, inside a container run with `args`.
fn ns_of(d: &TestDaemon, args: &[&str], kinds: &[&str]) -> Vec<String> {
    let script: String = kinds.iter().map(|k| format!("readlink /proc/self/ns/{k};")).collect();
    let mut a: Vec<&str> = args.to_vec();
    a.extend(["busybox", "sh", "-c", &script]);
    run(d, &a).lines().map(str::to_string).collect()
}

#[test]
fn pid_uts_ipc_host_share_the_hosts_namespaces() {
    let d = daemon("sec-nshost");
    let kinds = ["pid", "uts", "ipc"];
    let host: Vec<String> = kinds.iter().map(|k| host_ns(k)).collect();
    let private = ns_of(&d, &[], &kinds);
    for (i, k) in kinds.iter().enumerate() {
        assert_ne!(private[i], host[i], "a plain container shares the host's {k} namespace");
    }
    assert_eq!(ns_of(&d, &["--pid", "host", "--uts", "host", "--ipc", "host"], &kinds), host);
    // The host's processes are visible, this test's own among them; the host's name is the container's.
    let me = std::process::id().to_string();
    assert_eq!(run(&d, &["--pid", "host", "busybox", "sh", "-c", &format!("test -d /proc/{me} && echo seen")]), "seen");
    let host_name = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap().trim().to_string();
    assert_eq!(run(&d, &["--uts", "host", "busybox", "hostname"]), host_name);
    let (_, err) = d.docker_err(&["create", "--uts", "host", "--hostname", "other", "busybox", "true"]);
    assert!(err.contains("conflicting options: hostname and the UTS mode"), "{err}");
    // --domainname reaches the container's own UTS namespace.
    assert_eq!(
        run(&d, &["--domainname", "example.org", "busybox", "cat", "/proc/sys/kernel/domainname"]),
        "example.org"
    );
    // --ipc host: the host's /dev/shm too.
    let probe = format!("/dev/shm/berth-sec-{me}");
    std::fs::write(&probe, "from the host").unwrap();
    let seen = run(&d, &["--ipc", "host", "busybox", "cat", &probe]);
    let private_shm = d.docker(&["run", "--rm", "busybox", "cat", &probe]);
    let _ = std::fs::remove_file(&probe);
    assert_eq!(seen, "from the host");
    assert!(!private_shm.status.success(), "a private /dev/shm shows the host's files");
    let v = created(&d, &["--pid", "host", "--uts", "host", "--ipc", "host"]);
    assert_eq!(
        (v["HostConfig"]["PidMode"].as_str(), v["HostConfig"]["UTSMode"].as_str(), v["HostConfig"]["IpcMode"].as_str()),
        (Some("host"), Some("host"), Some("host"))
    );
    assert_eq!(created(&d, &[])["HostConfig"]["IpcMode"], "private", "the daemon's default IPC mode is recorded");
    // --ipc none: a namespace of its own and no /dev/shm.
    assert_eq!(run(&d, &["--ipc", "none", "busybox", "sh", "-c", "test -e /dev/shm || echo none"]), "none");
}

#[test]
fn pid_container_joins_the_other_containers_pid_namespace() {
    let d = daemon("sec-nspid");
    d.run_detached(&["--name", "donor", "busybox", "sleep", "1000"]);
    let pid = d.container_pid("donor");
    let donor_ns = std::fs::read_link(format!("/proc/{pid}/ns/pid")).unwrap().display().to_string();
    assert_eq!(ns_of(&d, &["--pid", "container:donor"], &["pid"]), [donor_ns]);
    let ps = run(&d, &["--pid", "container:donor", "busybox", "ps", "-o", "args"]);
    assert!(ps.lines().any(|l| l.trim() == "sleep 1000"), "the donor's process is not visible: {ps}");
    let v = created(&d, &["--pid", "container:donor"]);
    assert_eq!(v["HostConfig"]["PidMode"], format!("container:{}", d.inspect("donor")["Id"].as_str().unwrap()));
    let (_, err) = d.docker_err(&["create", "--pid", "container:nosuch", "busybox", "true"]);
    assert!(err.contains("No such container: nosuch"), "{err}");
    d.docker_ok(&["rm", "-f", "donor"]);
}

#[test]
fn cgroupns_and_userns_modes() {
    let d = daemon("sec-nscg");
    let v2 = !std::path::Path::new("/sys/fs/cgroup/cpu").exists();
    let default_mode = if v2 { "private" } else { "host" };
    assert_eq!(
        created(&d, &[])["HostConfig"]["CgroupnsMode"],
        default_mode,
        "Docker's default for this cgroup version"
    );
    let host = host_ns("cgroup");
    assert_eq!(ns_of(&d, &["--cgroupns", "host"], &["cgroup"]), std::slice::from_ref(&host));
    let private = ns_of(&d, &["--cgroupns", "private"], &["cgroup"]);
    assert_ne!(private, [host], "--cgroupns private shares the host's cgroup namespace");
    // Inside a namespace of its own the container's cgroup is its root.
    let cg = run(&d, &["--cgroupns", "private", "busybox", "cat", "/proc/self/cgroup"]);
    assert!(cg.lines().all(|l| l.ends_with(":/")), "{cg}");

    run(&d, &["--userns", "host", "busybox", "true"]);
    assert_refused(
        &d,
        &json!({"Image": "busybox", "Cmd": ["true"], "HostConfig": {"UsernsMode": "private"}}),
        &["UsernsMode", "private"],
    );
    assert_refused(
        &d,
        &json!({"Image": "busybox", "Cmd": ["true"], "HostConfig": {"CgroupnsMode": "bogus"}}),
        &["invalid cgroup namespace mode"],
    );
    assert_refused(
        &d,
        &json!({"Image": "busybox", "Cmd": ["true"], "HostConfig": {"IpcMode": "shareable"}}),
        &["IpcMode", "shareable"],
    );
    assert_refused(
        &d,
        &json!({"Image": "busybox", "Cmd": ["true"], "Domainname": "example.org", "HostConfig": {"UTSMode": "host"}}),
        &["domainname and the UTS mode"],
    );
    assert_refused(
        &d,
        &json!({"Image": "busybox", "Cmd": ["true"], "HostConfig": {"PidMode": "bogus"}}),
        &["invalid PID mode"],
    );
}

#[test]
fn group_add_by_name_and_number() {
    let d = daemon("sec-groups");
    let groups = run(&d, &["--group-add", "1234", "--group-add", "nobody", "busybox", "cat", "/proc/self/status"]);
    let ids = status_field(&groups, "Groups");
    let ids: Vec<&str> = ids.split_whitespace().collect();
    assert!(ids.contains(&"1234") && ids.contains(&"65534"), "Groups: {ids:?}");
    assert_eq!(created(&d, &["--group-add", "1234"])["HostConfig"]["GroupAdd"], json!(["1234"]));
    // Execs get them too, with -u as without.
    d.run_detached(&["--name", "grp", "--group-add", "1234", "busybox", "sleep", "1000"]);
    for user in [&[][..], &["-u", "nobody"][..]] {
        let mut a = vec!["exec"];
        a.extend_from_slice(user);
        a.extend(["grp", "id", "-G"]);
        let ids = d.docker_ok(&a);
        assert!(ids.split_whitespace().any(|g| g == "1234"), "exec {user:?}: {ids}");
    }
    d.docker_ok(&["rm", "-f", "grp"]);
    let (_, err) = d.docker_err(&["run", "--rm", "--group-add", "nosuchgroup", "busybox", "true"]);
    assert!(err.contains("Unable to find group nosuchgroup"), "{err}");
}

#[test]
fn sysctls_namespaced_only() {
    let d = daemon("sec-sysctl");
    assert_eq!(run(&d, &["--sysctl", "net.ipv4.ip_forward=1", "busybox", "cat", "/proc/sys/net/ipv4/ip_forward"]), "1");
    assert_eq!(run(&d, &["--sysctl", "kernel.shmmni=1000", "busybox", "cat", "/proc/sys/kernel/shmmni"]), "1000");
    // Docker's defaults in a network namespace of the container's own.
    assert_eq!(run(&d, &["busybox", "cat", "/proc/sys/net/ipv4/ip_unprivileged_port_start"]), "0");
    let (_, err) = d.docker_err(&["run", "--rm", "--sysctl", "kernel.panic=1", "busybox", "true"]);
    assert!(err.contains("kernel.panic"), "{err}");
    let body = |h: Value| json!({"Image": "busybox", "Cmd": ["true"], "HostConfig": h});
    assert_refused(&d, &body(json!({"Sysctls": {"kernel.panic": "1"}})), &["kernel.panic", "not allowed"]);
    assert_refused(&d, &body(json!({"Sysctls": {"vm.swappiness": "10"}})), &["vm.swappiness"]);
    assert_refused(&d, &body(json!({"Sysctls": {"net/../../kernel/panic": "1"}})), &["invalid sysctl"]);
    assert_refused(
        &d,
        &body(json!({"NetworkMode": "host", "Sysctls": {"net.ipv4.ip_forward": "1"}})),
        &["network namespace"],
    );
    assert_refused(&d, &body(json!({"IpcMode": "host", "Sysctls": {"kernel.shmmni": "10"}})), &["IPC namespace"]);
}
