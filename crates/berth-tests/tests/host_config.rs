//! HostConfig that reaches the kernel: resource limits in the cgroup files, network modes, and an
//! external OCI runtime (runc) registered in daemon.json.

use berth_tests::{cgroup_dir, identity, wait_until, DaemonOpts, TestDaemon};
use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;

fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_else(|e| panic!("read {}: {e}", p.display())).trim().to_string()
}

#[test]
fn memory_pids_and_cpu_limits_reach_the_cgroup() {
    let mut d = TestDaemon::start(DaemonOpts::new("hc-limits"));
    d.busybox_image();
    // Swappiness exists on cgroup v1 only; on v2 the create is refused by name.
    let v1 = !std::path::Path::new("/sys/fs/cgroup/cgroup.controllers").exists();
    let mut args = vec!["--name", "lim", "--memory", "64m", "--pids-limit", "50", "--cpus", "0.5"];
    if v1 {
        args.extend(["--memory-swappiness", "40"]);
    } else {
        let (_, err) = d.docker_err(&["run", "--rm", "--memory-swappiness", "40", "busybox", "true"]);
        assert!(err.contains("MemorySwappiness is not supported by Berth on cgroup v2"), "{err}");
    }
    args.extend(["busybox", "sleep", "1000"]);
    d.run_detached(&args);
    let v = d.inspect("lim");
    assert_eq!(v["HostConfig"]["Memory"], 67_108_864);
    assert_eq!(v["HostConfig"]["PidsLimit"], 50);
    assert_eq!(v["HostConfig"]["NanoCpus"], 500_000_000);
    let pid = d.container_pid("lim");

    let (mem, v2) = cgroup_dir(pid, "memory");
    let limit = if v2 { read(&mem.join("memory.max")) } else { read(&mem.join("memory.limit_in_bytes")) };
    assert_eq!(limit, "67108864", "memory limit in {}", mem.display());
    if v1 {
        assert_eq!(read(&mem.join("memory.swappiness")), "40", "swappiness in {}", mem.display());
        assert_eq!(v["HostConfig"]["MemorySwappiness"], 40);
    }
    let (pids, _) = cgroup_dir(pid, "pids");
    assert_eq!(read(&pids.join("pids.max")), "50", "pids limit in {}", pids.display());
    let (cpu, v2) = cgroup_dir(pid, "cpu");
    let (quota, period) = if v2 {
        let s = read(&cpu.join("cpu.max"));
        let (q, p) = s.split_once(' ').unwrap_or_else(|| panic!("cpu.max {s:?}"));
        (q.parse::<f64>().unwrap(), p.parse::<f64>().unwrap())
    } else {
        (read(&cpu.join("cpu.cfs_quota_us")).parse().unwrap(), read(&cpu.join("cpu.cfs_period_us")).parse().unwrap())
    };
    assert!((quota / period - 0.5).abs() < 1e-6, "cpu quota {quota}/{period} in {}", cpu.display());

    d.docker_ok(&["rm", "-f", "lim"]);
}

fn interfaces(proc_net_dev: &str) -> BTreeSet<String> {
    proc_net_dev.lines().skip(2).filter_map(|l| l.split_once(':')).map(|(n, _)| n.trim().to_string()).collect()
}

#[test]
fn network_none_has_only_loopback() {
    let mut d = TestDaemon::start(DaemonOpts::new("hc-netnone"));
    d.busybox_image();
    let out = d.docker_ok(&["run", "--rm", "--network", "none", "busybox", "cat", "/proc/net/dev"]);
    assert_eq!(interfaces(&out), BTreeSet::from(["lo".to_string()]), "{out}");
    d.run_detached(&["--name", "nn", "--network", "none", "busybox", "sleep", "1000"]);
    assert_eq!(d.inspect("nn")["HostConfig"]["NetworkMode"], "none");
}

#[test]
fn network_host_sees_host_interfaces_and_hostname() {
    let mut d = TestDaemon::start(DaemonOpts::new("hc-nethost"));
    d.busybox_image();
    let out = d.docker_ok(&["run", "--rm", "--network", "host", "busybox", "cat", "/proc/net/dev"]);
    let inside = interfaces(&out);
    // Interfaces come and go as other tests run; the default-route one and lo are stable.
    let route = std::fs::read_to_string("/proc/net/route").unwrap();
    let default_if = route
        .lines()
        .skip(1)
        .find(|l| l.split_whitespace().nth(1) == Some("00000000"))
        .and_then(|l| l.split_whitespace().next())
        .map(str::to_string);
    assert!(inside.contains("lo"), "{inside:?}");
    if let Some(i) = default_if {
        assert!(inside.contains(&i), "host interface {i} not visible with --network host: {inside:?}");
    }
    let host_name = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap().trim().to_string();
    assert_eq!(d.docker_ok(&["run", "--rm", "--network", "host", "busybox", "hostname"]), host_name);
}

#[test]
fn runc_registered_in_daemon_json_runs_and_survives_restore() {
    let runc = "/usr/sbin/runc";
    let cfg = format!(r#"{{"runtimes": {{"runc": {{"path": "{runc}"}}}}}}"#);
    let mut d = TestDaemon::start(DaemonOpts::new("hc-runc").live_restore(true).config(cfg));
    d.busybox_image();
    let rts = d.docker_ok(&["info", "-f", "{{json .Runtimes}}"]);
    assert!(rts.contains("\"runc\""), "docker info Runtimes: {rts}");
    assert_eq!(d.docker_ok(&["run", "--rm", "--runtime", "runc", "busybox", "echo", "via-runc"]), "via-runc");
    let (code, err) = d.docker_err(&["run", "--rm", "--runtime", "nope", "busybox", "true"]);
    assert_eq!(code, Some(125));
    assert!(err.contains("nope"), "{err}");

    d.run_detached(&["--name", "rr", "--runtime", "runc", "busybox", "sleep", "1000"]);
    assert_eq!(d.inspect("rr")["HostConfig"]["Runtime"], "runc");
    let id = identity(d.container_pid("rr")).unwrap();
    d.kill9();
    d.wait_exit(Duration::from_secs(5)).expect("daemon survived SIGKILL");
    std::thread::sleep(Duration::from_secs(1));
    assert!(id.is_alive(), "runc container died with the daemon: {}", d.log_text());
    d.restart();
    assert!(
        wait_until(Duration::from_secs(15), || d.state("rr").status == "running"),
        "{:?}\n{}",
        d.inspect("rr")["State"],
        d.log_text()
    );
    assert_eq!(d.container_pid("rr"), id.pid);
    d.docker_ok(&["stop", "-t", "1", "rr"]);
    assert_eq!(d.state("rr").exit_code, 137, "{:?}", d.inspect("rr")["State"]);
    assert!(wait_until(Duration::from_secs(5), || !id.is_alive()), "the container process outlived its stop");
}

/// A block device of this host and its major:minor, from /sys/block.
fn a_block_device() -> (String, String) {
    for e in std::fs::read_dir("/sys/block").expect("/sys/block").flatten() {
        let name = e.file_name().to_string_lossy().to_string();
        let dev = format!("/dev/{name}");
        let numbers = std::fs::read_to_string(e.path().join("dev")).unwrap_or_default().trim().to_string();
        if !name.starts_with("loop") && !numbers.is_empty() && Path::new(&dev).exists() {
            return (dev, numbers);
        }
    }
    panic!("no block device in /sys/block with a node in /dev");
}

#[test]
fn io_throttles_reach_the_cgroup() {
    let mut d = TestDaemon::start(DaemonOpts::new("hc-io"));
    d.busybox_image();
    let (dev, numbers) = a_block_device();
    let rbps = format!("{dev}:1mb");
    let iops = format!("{dev}:100");
    let id = d.run_detached(&["--device-read-bps", &rbps, "--device-write-iops", &iops, "busybox", "sleep", "300"]);
    let pid = d.container_pid(&id);
    let (dir, v2) = cgroup_dir(pid, "blkio");
    if v2 {
        let max = read(&dir.join("io.max"));
        assert!(max.contains(&format!("{numbers} rbps=1048576")) && max.contains("wiops=100"), "io.max: {max}");
    } else {
        assert_eq!(read(&dir.join("blkio.throttle.read_bps_device")), format!("{numbers} 1048576"));
        assert_eq!(read(&dir.join("blkio.throttle.write_iops_device")), format!("{numbers} 100"));
    }
    let h = &d.inspect(&id)["HostConfig"];
    assert_eq!(h["BlkioDeviceReadBps"], serde_json::json!([{"Path": dev, "Rate": 1048576}]));
    assert_eq!(h["BlkioDeviceWriteIOps"], serde_json::json!([{"Path": dev, "Rate": 100}]));
    assert_eq!(h["BlkioDeviceWriteBps"], serde_json::json!([]));
    // Restarted, the throttle is applied again (resolved at each start).
    d.docker_ok(&["restart", "-t", "1", &id]);
    let (dir, _) = cgroup_dir(d.container_pid(&id), "blkio");
    let file = if v2 { "io.max" } else { "blkio.throttle.read_bps_device" };
    assert!(read(&dir.join(file)).contains(&numbers), "after restart: {}", read(&dir.join(file)));
    d.docker_ok(&["rm", "-f", &id]);
    // Not a block device: refused at create, naming the field.
    let (code, err) = d.docker_err(&["create", "--device-read-bps", "/dev/null:1mb", "busybox", "true"]);
    assert_ne!(code, Some(0));
    assert!(err.contains("BlkioDeviceReadBps") && err.contains("not a block device"), "{err}");
}
