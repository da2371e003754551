//! `rename`, `pause`/`unpause`, `top`, `update` (issue 3), through the docker CLI, with their
//! error cases, and their state kept across a daemon crash.

use berth_tests::{cgroup_dir, wait_until, DaemonOpts, TestDaemon};
use std::time::Duration;

#[test]
fn rename_with_conflicts_and_event() {
    let mut d = TestDaemon::start(DaemonOpts::new("verbs-rename"));
    d.busybox_image();
    d.docker_ok(&["run", "-d", "--name", "old", "busybox", "sleep", "1000"]);
    d.docker_ok(&["run", "-d", "--name", "other", "busybox", "sleep", "1000"]);
    d.docker_ok(&["rename", "old", "new"]);
    assert_eq!(d.docker_ok(&["inspect", "-f", "{{.Name}}", "new"]), "/new");
    let (code, err) = d.docker_err(&["rename", "new", "other"]);
    assert_eq!(code, Some(1));
    assert!(err.contains("The container name \"/other\" is already in use by container"), "{err}");
    let (_, err) = d.docker_err(&["rename", "nosuch", "x2"]);
    assert!(err.contains("No such container: nosuch"), "{err}");
    let (_, err) = d.docker_err(&["rename", "new", "bad/name"]);
    assert!(err.contains("Invalid container name"), "{err}");
    std::thread::sleep(Duration::from_millis(1100));
    let ev = d.docker_ok(&[
        "events",
        "--since",
        "0",
        "--until",
        "0s",
        "--filter",
        "event=rename",
        "--format",
        "{{.Actor.Attributes.oldName}} {{.Actor.Attributes.name}}",
    ]);
    assert_eq!(ev, "/old new");
    d.docker_ok(&["rm", "-f", "new", "other"]);
}

#[test]
fn pause_unpause_survive_a_crash_and_stop() {
    let mut d = TestDaemon::start(DaemonOpts::new("verbs-pause").live_restore(true));
    d.busybox_image();
    d.docker_ok(&[
        "run",
        "-d",
        "--name",
        "ticker",
        "busybox",
        "sh",
        "-c",
        "i=0; while :; do i=$((i+1)); echo $i; sleep 0.05; done",
    ]);
    std::thread::sleep(Duration::from_millis(300));
    d.docker_ok(&["pause", "ticker"]);
    assert!(d.docker_ok(&["ps", "--format", "{{.Status}}"]).ends_with("(Paused)"));
    assert_eq!(d.docker_ok(&["inspect", "-f", "{{.State.Status}} {{.State.Paused}}", "ticker"]), "paused true");
    let (_, err) = d.docker_err(&["pause", "ticker"]);
    assert!(err.contains("is already paused"), "{err}");
    let n1 = d.docker_ok(&["logs", "ticker"]).lines().count();
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(d.docker_ok(&["logs", "ticker"]).lines().count(), n1, "frozen: no output while paused");
    d.kill9();
    d.wait_exit(Duration::from_secs(5));
    d.restart();
    assert_eq!(
        d.docker_ok(&["inspect", "-f", "{{.State.Status}}", "ticker"]),
        "paused",
        "still paused after the restart"
    );
    assert_eq!(d.docker_ok(&["info", "-f", "{{.ContainersPaused}}"]), "1");
    d.docker_ok(&["unpause", "ticker"]);
    assert!(wait_until(Duration::from_secs(3), || d.docker_ok(&["logs", "ticker"]).lines().count() > n1), "resumed");
    let (_, err) = d.docker_err(&["unpause", "ticker"]);
    assert!(err.contains("is not paused"), "{err}");
    d.docker_ok(&["pause", "ticker"]);
    d.docker_ok(&["stop", "-t", "1", "ticker"]);
    assert_eq!(d.state("ticker").status, "exited", "a paused container stops");
    d.docker_ok(&["run", "-d", "--name", "p2", "busybox", "sleep", "1000"]);
    d.docker_ok(&["pause", "p2"]);
    d.docker_ok(&["kill", "p2"]);
    assert!(wait_until(Duration::from_secs(5), || d.state("p2").status == "exited"), "a paused container dies of kill");
    let (_, err) = d.docker_err(&["pause", "p2"]);
    assert!(err.contains("is not running"), "{err}");
    std::thread::sleep(Duration::from_millis(1100));
    let ev = d.docker_ok(&[
        "events",
        "--since",
        "0",
        "--until",
        "0s",
        "--filter",
        "container=ticker",
        "--filter",
        "event=pause",
        "--filter",
        "event=unpause",
        "--format",
        "{{.Action}}",
    ]);
    assert_eq!(ev, "pause\nunpause\npause", "pause and unpause events");
    d.docker_ok(&["rm", "ticker", "p2"]);
}

#[test]
fn top_lists_the_containers_processes() {
    let mut d = TestDaemon::start(DaemonOpts::new("verbs-top"));
    d.busybox_image();
    d.docker_ok(&["run", "-d", "--name", "tp", "busybox", "sh", "-c", "sleep 1001 & sleep 1002"]);
    std::thread::sleep(Duration::from_millis(300));
    let out = d.docker_ok(&["top", "tp"]);
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines[0].contains("PID") && lines[0].contains("CMD"), "{out}");
    assert!(out.contains("sleep 1001") && out.contains("sleep 1002"), "{out}");
    // busybox sh execs its last command: two sleeps, one the parent of the other, nothing else.
    assert_eq!(lines.len(), 3, "two sleeps and nothing of the host: {out}");
    let custom = d.docker_ok(&["top", "tp", "-o", "pid,comm"]);
    assert!(custom.lines().next().unwrap().split_whitespace().collect::<Vec<_>>() == ["PID", "COMMAND"], "{custom}");
    d.docker_ok(&["stop", "-t", "0", "tp"]);
    let (_, err) = d.docker_err(&["top", "tp"]);
    assert!(err.contains("is not running"), "{err}");
    d.docker_ok(&["rm", "tp"]);
}

#[test]
fn update_changes_limits_live_and_keeps_them() {
    let mut d = TestDaemon::start(DaemonOpts::new("verbs-update").live_restore(true));
    d.busybox_image();
    d.docker_ok(&["run", "-d", "--name", "up", "-m", "32m", "busybox", "sleep", "1000"]);
    let pid = d.container_pid("up");
    d.docker_ok(&[
        "update",
        "--memory",
        "64m",
        "--memory-swap",
        "128m",
        "--cpus",
        "0.5",
        "--pids-limit",
        "20",
        "--restart",
        "on-failure:3",
        "up",
    ]);
    let (mem, v2) = cgroup_dir(pid, "memory");
    let read = |p: std::path::PathBuf| std::fs::read_to_string(p).unwrap().trim().to_string();
    assert_eq!(read(mem.join(if v2 { "memory.max" } else { "memory.limit_in_bytes" })), "67108864");
    let (pids, _) = cgroup_dir(pid, "pids");
    assert_eq!(read(pids.join("pids.max")), "20");
    if !v2 {
        let (cpu, _) = cgroup_dir(pid, "cpu");
        assert_eq!(read(cpu.join("cpu.cfs_quota_us")), "50000");
    }
    let hc = d.docker_ok(&["inspect", "-f", "{{.HostConfig.Memory}} {{.HostConfig.NanoCpus}} {{.HostConfig.PidsLimit}} {{.HostConfig.RestartPolicy.Name}}:{{.HostConfig.RestartPolicy.MaximumRetryCount}}", "up"]);
    assert_eq!(hc, "67108864 500000000 20 on-failure:3");
    let (code, err) = d.docker_err(&["update", "--memory", "-5", "up"]);
    assert_ne!(code, Some(0));
    assert!(!err.is_empty());
    // Recorded: a crash, a restart of the container, and the limits are those of the update.
    d.kill9();
    d.wait_exit(Duration::from_secs(5));
    d.restart();
    d.docker_ok(&["restart", "-t", "0", "up"]);
    let pid = d.container_pid("up");
    let (mem, v2) = cgroup_dir(pid, "memory");
    assert_eq!(read(mem.join(if v2 { "memory.max" } else { "memory.limit_in_bytes" })), "67108864");
    d.docker_ok(&["rm", "-f", "up"]);
}

#[test]
fn stats_no_stream_reports_the_cgroup() {
    let mut d = TestDaemon::start(DaemonOpts::new("verbs-stats"));
    d.busybox_image();
    // A busy loop and 8 MiB held in a tmpfs-free way: a shell variable grown in memory.
    d.docker_ok(&[
        "run",
        "-d",
        "--name",
        "busy",
        "-m",
        "64m",
        "--pids-limit",
        "50",
        "--cpus",
        "0.5",
        "busybox",
        "sh",
        "-c",
        "while :; do :; done",
    ]);
    d.docker_ok(&["run", "-d", "--name", "idle", "busybox", "sleep", "1000"]);
    let out = d.docker_ok(&[
        "stats",
        "--no-stream",
        "--format",
        "{{.Name}} {{.CPUPerc}} {{.MemUsage}} {{.PIDs}}",
        "busy",
        "idle",
    ]);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 2, "{out}");
    let busy: Vec<&str> = lines[0].split_whitespace().collect();
    assert_eq!(busy[0], "busy");
    // CPU% depends on how much of the machine the loop got while other tests ran (CI saw 28%
    // on 2 busy cores), so the CLI figure is only compared with the idle one; the raw counters
    // are checked against the cgroup below.
    let cpu: f64 = busy[1].trim_end_matches('%').parse().unwrap();
    let idle_cpu: f64 = lines[1].split_whitespace().nth(1).unwrap().trim_end_matches('%').parse().unwrap();
    assert!(cpu > 1.0 && cpu > idle_cpu, "a busy loop shows its CPU: {out}");
    assert_eq!(busy[4], "64MiB", "the memory limit: {out}");
    assert_eq!(busy[5], "1", "{out}");
    let idle: Vec<&str> = lines[1].split_whitespace().collect();
    assert!(idle[1].trim_end_matches('%').parse::<f64>().unwrap() < 5.0, "{out}");
    // Through docker-py, the raw document.
    let py = d.docker_py(
        r#"s = c.containers.get("idle").stats(stream=False)
print(s["pids_stats"]["current"], s["memory_stats"]["usage"] > 0, "eth0" in s.get("networks", {}))"#,
    );
    assert!(py.starts_with("1 True True"), "{py}");
    // The busy loop's cumulative CPU time is the cgroup's own counter, read between two reads of
    // it by the test, and it grew between the two samples the daemon took.
    let busy_pid = d.container_pid("busy");
    let (cg, v2) = cgroup_dir(busy_pid, "cpuacct");
    let usage_ns = || -> u64 {
        if v2 {
            let stat = std::fs::read_to_string(cg.join("cpu.stat")).unwrap();
            let us: u64 = stat.lines().find_map(|l| l.strip_prefix("usage_usec ")).unwrap().parse().unwrap();
            us * 1000
        } else {
            std::fs::read_to_string(cg.join("cpuacct.usage")).unwrap().trim().parse().unwrap()
        }
    };
    // The quota's periods and throttles (`--cpus 0.5`), from the cpu controller's cpu.stat.
    let (cpu_dir, _) = cgroup_dir(busy_pid, "cpu");
    let throttled = || -> (u64, u64) {
        let stat = std::fs::read_to_string(cpu_dir.join("cpu.stat")).unwrap();
        let get = |k: &str| stat.lines().find_map(|l| l.strip_prefix(k)).map_or(0, |v| v.trim().parse().unwrap());
        (get("nr_periods "), get("nr_throttled "))
    };
    let before = usage_ns();
    let (periods0, throttled0) = throttled();
    let py = d.docker_py(
        r#"s = c.containers.get("busy").stats(stream=False)
t = s["cpu_stats"]["throttling_data"]
print(s["precpu_stats"]["cpu_usage"]["total_usage"], s["cpu_stats"]["cpu_usage"]["total_usage"], t["periods"], t["throttled_periods"])"#,
    );
    let after = usage_ns();
    let (periods1, throttled1) = throttled();
    let nums: Vec<u64> =
        py.split_whitespace().take(4).map(|n| n.parse().unwrap_or_else(|e| panic!("{e}: {py}"))).collect();
    assert!(nums[0] < nums[1], "the loop ran between the samples: {py}");
    // v2 counts in microseconds: allow the rounding on the lower bound.
    assert!(before <= nums[1] + 1000 && nums[1] <= after, "{before} <= {} <= {after}", nums[1]);
    assert!(
        periods0 > 0 && periods0 <= nums[2] && nums[2] <= periods1,
        "periods {periods0} <= {} <= {periods1}",
        nums[2]
    );
    assert!(throttled0 <= nums[3] && nums[3] <= throttled1, "throttled {throttled0} <= {} <= {throttled1}", nums[3]);
    d.docker_ok(&["rm", "-f", "busy", "idle"]);
}

#[test]
fn prune_and_system_df() {
    let mut d = TestDaemon::start(DaemonOpts::new("verbs-prune"));
    d.busybox_image();
    d.docker_ok(&["tag", "busybox", "spare:1"]);
    d.docker_ok(&[
        "run",
        "--name",
        "done1",
        "--label",
        "keep=yes",
        "busybox",
        "sh",
        "-c",
        "head -c 100000 /dev/zero > /big",
    ]);
    d.docker_ok(&["run", "--name", "done2", "busybox", "true"]);
    d.docker_ok(&["run", "-d", "--name", "live", "-v", "dfvol:/v", "busybox", "sleep", "1000"]);
    let df = d.docker_ok(&["system", "df", "--format", "{{.Type}} {{.TotalCount}} {{.Active}}"]);
    assert!(df.contains("Images 1 1") && df.contains("Containers 3 1") && df.contains("Local Volumes 1 1"), "{df}");
    let v = d.docker_ok(&["system", "df", "-v", "--format", "{{json .}}"]);
    assert!(v.contains("done1") && v.contains("dfvol"), "{v}");
    // Filters: the labelled one stays.
    let out = d.docker_ok(&["container", "prune", "-f", "--filter", "label!=keep"]);
    assert!(
        !out.contains(&d.docker_ok(&["inspect", "-f", "{{.Id}}", "live"])) && out.contains("Total reclaimed space"),
        "{out}"
    );
    let names = d.docker_ok(&["ps", "-a", "--format", "{{.Names}}"]);
    assert!(names.contains("done1") && !names.contains("done2") && names.contains("live"), "{names}");
    let out = d.docker_ok(&["container", "prune", "-f"]);
    assert!(out.contains("Total reclaimed space: 100"), "the container's own layer is counted: {out}");
    assert_eq!(d.docker_ok(&["ps", "-a", "--format", "{{.Names}}"]), "live");
    // Images: nothing dangling; with -a the unused ones go and the used one stays.
    let out = d.docker_ok(&["image", "prune", "-f"]);
    assert!(out.contains("Total reclaimed space: 0B"), "{out}");
    let tarfile = d.base.join("live.tar");
    d.docker_ok(&["export", "-o", tarfile.to_str().unwrap(), "live"]);
    d.docker_ok(&["import", tarfile.to_str().unwrap(), "other:1"]);
    d.docker_ok(&["import", tarfile.to_str().unwrap()]);
    assert_eq!(d.docker_ok(&["images", "-q", "--filter", "dangling=true"]).lines().count(), 1);
    let out = d.docker_ok(&["image", "prune", "-f"]);
    assert!(out.contains("deleted: sha256:"), "the dangling one: {out}");
    assert!(d.docker_ok(&["images", "--format", "{{.Repository}}"]).contains("other"));
    let out = d.docker_ok(&["image", "prune", "-a", "-f"]);
    assert!(out.contains("untagged: other:1"), "{out}");
    let left = d.docker_ok(&["images", "--format", "{{.Repository}}:{{.Tag}}"]);
    assert!(
        left.contains("busybox:latest") && left.contains("spare:1") && !left.contains("other"),
        "an image a container uses stays: {left}"
    );
    // system prune: stopped containers, unused networks, dangling images; volumes only with --volumes.
    d.docker_ok(&["run", "--name", "done3", "busybox", "true"]);
    d.docker_ok(&["network", "create", "unusednet"]);
    d.docker_ok(&["rm", "-f", "live"]);
    let out = d.docker_ok(&["system", "prune", "-f"]);
    assert!(
        out.contains("Deleted Containers:") && out.contains("Deleted Networks:") && out.contains("unusednet"),
        "{out}"
    );
    assert_eq!(d.docker_ok(&["volume", "ls", "-q"]), "dfvol");
    d.docker_ok(&["system", "prune", "-f", "-a", "--volumes"]);
    assert_eq!(d.docker_ok(&["ps", "-aq"]), "");
    assert_eq!(d.docker_ok(&["images", "-q"]), "", "nothing uses busybox any more");
    let (_, err) = d.docker_err(&["container", "prune", "-f", "--filter", "color=red"]);
    assert!(err.contains("invalid filter 'color'"), "{err}");
}
