//! Restarts with changed daemon options while containers run (invariant 8): every container stays
//! listed and managed, images stay listed, and no address is handed out twice.

use berth_tests::{DaemonOpts, TestDaemon};
use std::collections::BTreeSet;
use std::time::Duration;

fn addresses(d: &TestDaemon) -> Vec<String> {
    let ids = d.docker_ok(&["ps", "-aq"]);
    ids.lines()
        .map(|id| d.docker_ok(&["inspect", "-f", "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}", id]))
        .filter(|ip| !ip.is_empty())
        .collect()
}

#[test]
fn storage_driver_round_trip_keeps_containers_images_and_unique_addresses() {
    let mut d = TestDaemon::start(DaemonOpts::new("opt-driver").live_restore(true).storage_driver("overlay2"));
    d.busybox_image();
    let mut names = vec![];
    for (step, driver) in ["overlay2", "vfs", "overlay2"].iter().enumerate() {
        if step > 0 {
            d.kill9();
            d.wait_exit(Duration::from_secs(5));
            d.opts.storage_driver = Some(driver.to_string());
            d.restart();
        }
        assert_eq!(d.docker_ok(&["info", "-f", "{{.Driver}}"]), *driver);
        for i in 0..3 {
            let name = format!("c{step}{i}");
            d.run_detached(&["--name", &name, "busybox", "sleep", "1000"]);
            names.push(name);
        }
        let listed: BTreeSet<String> =
            d.docker_ok(&["ps", "--format", "{{.Names}}"]).lines().map(String::from).collect();
        for n in &names {
            assert!(listed.contains(n), "{n} running and listed under {driver}: {listed:?}");
        }
        let ips = addresses(&d);
        let unique: BTreeSet<&String> = ips.iter().collect();
        assert_eq!(ips.len(), names.len(), "every container has its address: {ips:?}");
        assert_eq!(unique.len(), ips.len(), "an address was handed out twice under {driver}: {ips:?}");
        assert!(
            d.docker_ok(&["images", "--format", "{{.Repository}}"]).lines().any(|l| l == "busybox"),
            "image listed"
        );
        if step == 1 {
            // `info` and the log name the containers still on the old driver.
            let warnings = d.docker_ok(&["info", "-f", "{{json .Warnings}}"]);
            let id = d.docker_ok(&["inspect", "-f", "{{.Id}}", "c00"]);
            assert!(warnings.contains(&format!("container {} uses storage driver overlay2", &id[..12])), "{warnings}");
            assert!(
                d.log_text().contains(&format!("container {} uses storage driver overlay2", &id[..12])),
                "the log names it"
            );
        }
    }
    // Each container is still managed through the driver it was created under.
    d.docker_ok(&["stop", "-t", "1", "c10"]);
    d.docker_ok(&["start", "c10"]);
    assert_eq!(d.inspect("c10")["Driver"], "vfs");
    assert_eq!(d.inspect("c00")["Driver"], "overlay2");
    let all: Vec<&str> = names.iter().map(String::as_str).collect();
    d.docker_ok(&[&["rm", "-f"][..], &all].concat());
}

#[test]
fn default_runtime_change_keeps_old_containers_on_theirs() {
    if !std::path::Path::new("/usr/sbin/runc").exists() && !std::path::Path::new("/usr/bin/runc").exists() {
        panic!("runc is not installed: scripts/lib.sh installs it");
    }
    let mut d = TestDaemon::start(DaemonOpts::new("opt-runtime").live_restore(true));
    d.busybox_image();
    d.run_detached(&["--name", "old", "busybox", "sleep", "1000"]);
    let pid = d.container_pid("old");
    d.kill9();
    d.wait_exit(Duration::from_secs(5));
    d.opts.extra_args = vec!["--default-runtime".into(), "runc".into()];
    d.restart();
    assert_eq!(d.container_pid("old"), pid, "restored");
    assert_eq!(d.docker_ok(&["inspect", "-f", "{{.HostConfig.Runtime}}", "old"]), "berth");
    d.run_detached(&["--name", "new", "busybox", "sleep", "1000"]);
    assert_eq!(d.docker_ok(&["inspect", "-f", "{{.HostConfig.Runtime}}", "new"]), "runc");
    let id = d.docker_ok(&["inspect", "-f", "{{.Id}}", "old"]);
    let warnings = d.docker_ok(&["info", "-f", "{{json .Warnings}}"]);
    assert!(warnings.contains(&format!("container {} uses runtime berth", &id[..12])), "{warnings}");
    // Still managed through its own runtime.
    d.docker_ok(&["stop", "-t", "1", "old"]);
    d.docker_ok(&["start", "old"]);
    assert!(d.state("old").running);
    d.docker_ok(&["rm", "-f", "old", "new"]);
}

/// Records written by an older release (without the fields later ones added) are still read:
/// the container is listed, restored and managed. Fields are stripped from container.json while
/// the daemon is down, as an older daemon would have written it.
#[test]
fn records_of_an_older_layout_are_still_read() {
    let mut d = TestDaemon::start(DaemonOpts::new("opt-layout").live_restore(true));
    d.busybox_image();
    let id = d.run_detached(&["--name", "older", "-p", "127.0.0.1::80", "busybox", "sleep", "1000"]);
    let pid = d.container_pid("older");
    d.kill9();
    d.wait_exit(Duration::from_secs(5));
    let path = d.data_root.join("containers").join(&id).join("container.json");
    let mut v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    for k in ["restart_count", "extra_endpoints"] {
        v.as_object_mut().unwrap().remove(k);
    }
    v["options"].as_object_mut().unwrap().remove("runtime_defaulted");
    v["endpoint"].as_object_mut().unwrap().remove("iface");
    v["endpoint"].as_object_mut().unwrap().remove("aliases");
    std::fs::write(&path, serde_json::to_vec(&v).unwrap()).unwrap();
    d.restart();
    assert_eq!(d.container_pid("older"), pid, "listed and restored");
    assert!(d.docker_ok(&["port", "older"]).contains("127.0.0.1:"));
    d.docker_ok(&["stop", "-t", "1", "older"]);
    d.docker_ok(&["start", "older"]);
    d.docker_ok(&["rm", "-f", "older"]);
}

/// The cgroup a container's memory limit lives in, relative to the hierarchy (`/parent/<id>`).
fn memory_cgroup(d: &TestDaemon, name: &str) -> String {
    let (dir, v2) = berth_tests::cgroup_dir(d.container_pid(name), "memory");
    let root = if v2 && std::path::Path::new("/sys/fs/cgroup/unified").is_dir() {
        "/sys/fs/cgroup/unified"
    } else if v2 {
        "/sys/fs/cgroup"
    } else {
        "/sys/fs/cgroup/memory"
    };
    format!("/{}", dir.strip_prefix(root).unwrap().display())
}

/// `--cgroup-parent` of the daemon and of `docker run`, and a restart with another daemon parent:
/// each container stays in the cgroup it was created in and is still paused, limited, measured
/// and stopped there.
#[test]
fn cgroup_parent_of_daemon_and_container_and_a_restart_with_another() {
    let mut d = TestDaemon::start(DaemonOpts::new("opt-cgparent").live_restore(true));
    d.busybox_image();
    let parent = format!("/{}", d.cgroup_parent_name());
    let a = d.run_detached(&["--name", "ca", "busybox", "sleep", "1000"]);
    assert_eq!(memory_cgroup(&d, "ca"), format!("{parent}/{a}"));
    assert_eq!(d.docker_ok(&["inspect", "-f", "{{.HostConfig.CgroupParent}}", "ca"]), "");
    let own = format!("{parent}/mine//");
    let b = d.run_detached(&["--name", "cb", "--cgroup-parent", &own, "busybox", "sleep", "1000"]);
    assert_eq!(memory_cgroup(&d, "cb"), format!("{parent}/mine/{b}"));
    assert_eq!(d.docker_ok(&["inspect", "-f", "{{.HostConfig.CgroupParent}}", "cb"]), own);
    let (code, err) = d.docker_err(&["run", "-d", "--cgroup-parent", "/x/../y", "busybox", "true"]);
    assert_eq!(code, Some(125), "{err}");
    assert!(err.contains("invalid cgroup parent \"/x/../y\""), "{err}");

    // Another daemon parent after a restart: new containers go there, old ones stay managed.
    d.kill9();
    d.wait_exit(Duration::from_secs(5));
    d.opts.extra_args.extend(["--cgroup-parent".to_string(), format!("{parent}/v2")]);
    d.restart();
    let c = d.run_detached(&["--name", "cc", "busybox", "sleep", "1000"]);
    assert_eq!(memory_cgroup(&d, "cc"), format!("{parent}/v2/{c}"));
    for name in ["ca", "cb"] {
        d.docker_ok(&["pause", name]);
        assert_eq!(d.docker_ok(&["inspect", "-f", "{{.State.Status}}", name]), "paused");
        d.docker_ok(&["unpause", name]);
        d.docker_ok(&["update", "--memory", "64m", "--memory-swap", "-1", name]);
        let (dir, v2) = berth_tests::cgroup_dir(d.container_pid(name), "memory");
        let limit = std::fs::read_to_string(dir.join(if v2 { "memory.max" } else { "memory.limit_in_bytes" })).unwrap();
        assert_eq!(limit.trim(), "67108864", "{name}'s limit is set in its own cgroup");
        let usage = d.docker_ok(&["stats", "--no-stream", "--format", "{{.MemUsage}}", name]);
        assert!(usage.ends_with("64MiB") && !usage.starts_with("0B"), "{name}: {usage}");
    }
    d.docker_ok(&["stop", "-t", "1", "ca", "cb", "cc"]);
    d.docker_ok(&["rm", "ca", "cb", "cc"]);
}
