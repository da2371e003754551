//! Monitors leave the daemon's cgroup ("Real hosts", point 1). Under systemd berthd runs in its
//! unit's cgroup (`berth.service`, `KillMode=process`); a monitor left there, with the container
//! and exec processes it starts, would pile up in the unit across restarts. Here the daemon is
//! put in a cgroup of the test's own, as systemd would, and killed and restarted: its cgroup must
//! hold the daemon alone, each monitor must sit in `<container cgroup>.monitor`, and nothing of
//! the test may be left in the cgroup fs once its containers are removed.

use berth_tests::{wait_until, DaemonOpts, TestDaemon};
use std::path::{Path, PathBuf};
use std::time::Duration;

const ROOT: &str = "/sys/fs/cgroup";

/// One hierarchy the daemon is placed in: its key in `/proc/<pid>/cgroup` terms and its mount.
struct Hierarchy {
    key: &'static str,
    mount: PathBuf,
    /// The test's own `berth-test-<unique>` and, in it, the daemon's cgroup.
    top: PathBuf,
    daemon: PathBuf,
}

/// The test's cgroups, removed on success and on failure. Declared before the daemon, so that it
/// is dropped after it (the daemon, its monitors and containers gone by then).
struct TestCgroups(Vec<Hierarchy>);

impl TestCgroups {
    /// On a pure v2 host the root; on a hybrid one the unified hierarchy (where systemd tracks its
    /// units) and, as on v1, the name=systemd and memory hierarchies (the unit's tracking and its
    /// memory accounting).
    fn new(unique: &str) -> TestCgroups {
        let root = Path::new(ROOT);
        let mut mounts: Vec<(&'static str, PathBuf)> = Vec::new();
        if root.join("cgroup.controllers").exists() {
            mounts.push(("", root.to_path_buf()));
        } else {
            for (key, name) in [("", "unified"), ("name=systemd", "systemd"), ("memory", "memory")] {
                if root.join(name).join("cgroup.procs").exists() {
                    mounts.push((key, root.join(name)));
                }
            }
        }
        assert!(!mounts.is_empty(), "no cgroup hierarchy found under {ROOT}");
        let mut made = TestCgroups(Vec::new());
        for (key, mount) in mounts {
            let top = mount.join(format!("berth-test-{unique}"));
            let daemon = top.join("daemon");
            std::fs::create_dir_all(&daemon).unwrap_or_else(|e| panic!("mkdir {}: {e}", daemon.display()));
            made.0.push(Hierarchy { key, mount, top, daemon });
        }
        made
    }
}

impl Drop for TestCgroups {
    fn drop(&mut self) {
        for h in &self.0 {
            for dir in [&h.daemon, &h.top] {
                let gone = wait_until(Duration::from_secs(5), || std::fs::remove_dir(dir).is_ok() || !dir.exists());
                if !gone {
                    // Something of ours still in it: back to the root, so the directory can go.
                    for pid in procs(dir) {
                        let _ = std::fs::write(h.mount.join("cgroup.procs"), pid.to_string());
                    }
                    if let Err(e) = std::fs::remove_dir(dir) {
                        eprintln!("cleanup: cgroup {} not removed: {e}", dir.display());
                    }
                }
            }
        }
    }
}

fn procs(dir: &Path) -> Vec<i32> {
    std::fs::read_to_string(dir.join("cgroup.procs"))
        .map(|s| s.lines().filter_map(|l| l.trim().parse().ok()).collect())
        .unwrap_or_default()
}

/// `pid`'s cgroup path in the hierarchy `key` ("" = v2; a v1 controller or `name=…`).
fn cgroup_of(pid: i32, key: &str) -> Option<String> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).ok()?;
    text.lines().find_map(|l| {
        let mut it = l.splitn(3, ':');
        let (_, ctrls, path) = (it.next()?, it.next()?, it.next()?);
        let hit = if key.is_empty() { ctrls.is_empty() } else { ctrls.split(',').any(|c| c == key) };
        hit.then(|| path.to_string())
    })
}

fn describe(pids: &[i32]) -> String {
    pids.iter()
        .map(|p| {
            let cmd = std::fs::read(format!("/proc/{p}/cmdline")).unwrap_or_default();
            let cmd: String = String::from_utf8_lossy(&cmd).replace('\0', " ");
            format!("{p} ({})", cmd.trim())
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn monitor_pid(d: &TestDaemon, id: &str) -> i32 {
    let path = d.exec_root.join("shims").join(id).join("monitor.json");
    let rec: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    rec["shim_pid"].as_i64().unwrap() as i32
}

/// The daemon's cgroups hold the daemon alone; each container's monitor is in its own cgroup
/// beside the container's, and neither it nor the container's processes are in the daemon's.
fn check(d: &TestDaemon, cg: &TestCgroups, ids: &[String], when: &str) {
    let daemon = d.pid();
    for h in &cg.0 {
        // Helpers the daemon runs (`ip`, `nft`) come and go; what stays must be the daemon.
        let alone = wait_until(Duration::from_secs(10), || procs(&h.daemon) == vec![daemon]);
        let left = procs(&h.daemon);
        assert!(
            alone,
            "{when}: the daemon's cgroup {} holds more than the daemon (pid {daemon}): {}",
            h.daemon.display(),
            describe(&left)
        );
        let daemon_cg = cgroup_of(daemon, h.key).expect("daemon cgroup");
        for id in ids {
            let want = format!("/{}/{id}.monitor", d.cgroup_parent_name());
            let mon = monitor_pid(d, id);
            assert_eq!(
                cgroup_of(mon, h.key).as_deref(),
                Some(want.as_str()),
                "{when}: monitor {mon} of {id} in hierarchy {:?}",
                h.mount.display()
            );
            let init = d.container_pid(id);
            let at = cgroup_of(init, h.key).unwrap_or_default();

            assert!(!at.starts_with(&daemon_cg), "{when}: container {id} (pid {init}) is in the daemon's cgroup {at}");
        }
    }
}

#[test]
fn monitors_leave_the_daemon_cgroup_across_restarts() {
    let unique = format!("{}-{:x}", std::process::id(), berth_tests::unix_now().to_bits() & 0xffff_ffff);
    let cg = TestCgroups::new(&unique);
    let mut opts = DaemonOpts::new("monitor-cgroups").live_restore(true);
    for h in &cg.0 {
        opts = opts.cgroup(&h.daemon);
    }
    let mut d = TestDaemon::start(opts);
    d.busybox_image();
    let mut ids = vec![d.run_detached(&["--name", "one", "busybox", "sleep", "1000"])];
    ids.push(d.run_detached(&["--name", "two", "--memory", "64m", "busybox", "sh", "-c", "while :; do sleep 1; done"]));
    d.docker_ok(&["exec", "-d", "one", "sleep", "1000"]);
    assert_eq!(d.docker_ok(&["exec", "two", "echo", "hi"]), "hi");
    check(&d, &cg, &ids, "after the first start");

    for round in 1..=3 {
        d.kill9();
        d.restart();
        for id in &ids {
            let ok = wait_until(Duration::from_secs(15), || d.state(id).status == "running");
            assert!(ok, "round {round}: {id} not running after restore: {:?}", d.state(id));
        }
        if round == 1 {
            // Started by a restarted daemon, next to restored ones.
            ids.push(d.run_detached(&["--name", "three", "busybox", "sleep", "1000"]));
        }
        d.docker_ok(&["exec", "-d", "one", "sleep", "1000"]);
        assert_eq!(d.docker_ok(&["exec", "three", "echo", "hi"]), "hi");
        check(&d, &cg, &ids, &format!("after restart {round}"));
    }

    let names = ["one", "two", "three"];
    let mut args = vec!["rm", "-f"];
    args.extend(names);
    d.docker_ok(&args);
    let parent = d.cgroup_parent_name().to_string();
    let hierarchies: Vec<PathBuf> = std::fs::read_dir(ROOT)
        .unwrap()
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .map(|e| e.path())
        .chain(std::iter::once(PathBuf::from(ROOT)))
        .collect();
    for id in &ids {
        for h in &hierarchies {
            for dir in [h.join(&parent).join(id), h.join(&parent).join(format!("{id}.monitor"))] {
                assert!(!dir.exists(), "{} left after docker rm -f", dir.display());
            }
        }
    }
    for h in &cg.0 {
        assert_eq!(procs(&h.daemon), vec![d.pid()], "after rm: {}", h.daemon.display());
        let children: Vec<_> = std::fs::read_dir(&h.top)
            .unwrap()
            .flatten()
            .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
            .map(|e| e.file_name())
            .collect();
        assert_eq!(children, vec![std::ffi::OsString::from("daemon")], "{}", h.top.display());
    }
}

/// The `<id>.monitor` cgroups of one container, in every hierarchy where it exists.
fn monitor_dirs(d: &TestDaemon, id: &str) -> Vec<PathBuf> {
    let rel = Path::new(d.cgroup_parent_name()).join(format!("{id}.monitor"));
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(ROOT)
        .unwrap()
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .map(|e| e.path().join(&rel))
        .collect();
    dirs.push(Path::new(ROOT).join(&rel));
    dirs.retain(|p| p.is_dir());
    dirs
}

#[test]
fn a_stopped_container_leaves_no_monitor_cgroup() {
    let mut d = TestDaemon::start(DaemonOpts::new("monitor-cgroup-exit"));
    d.busybox_image();
    let id = d.run_detached(&["--name", "stopme", "busybox", "sleep", "1000"]);
    assert!(!monitor_dirs(&d, &id).is_empty(), "a running container's monitor has its cgroup");
    d.docker_ok(&["stop", "-t", "1", "stopme"]);
    let gone = wait_until(Duration::from_secs(10), || monitor_dirs(&d, &id).is_empty());
    assert!(gone, "after stop: {:?} left", monitor_dirs(&d, &id));
    // Started again, the monitor's cgroup is made again and the container works.
    d.docker_ok(&["start", "stopme"]);
    assert_eq!(d.docker_ok(&["exec", "stopme", "echo", "hi"]), "hi");
    assert!(!monitor_dirs(&d, &id).is_empty(), "a restarted container's monitor has its cgroup");
    let mon = monitor_pid(&d, &id);
    assert!(
        cgroup_of(mon, "").is_some_and(|p| p.ends_with(&format!("{id}.monitor"))),
        "the new monitor {mon} is in {:?}",
        cgroup_of(mon, "")
    );
    // A container that ends by itself leaves none either.
    let own = d.run_detached(&["busybox", "true"]);
    let exited = wait_until(Duration::from_secs(10), || d.state(&own).status == "exited");
    assert!(exited, "{:?}", d.state(&own));
    let gone = wait_until(Duration::from_secs(10), || monitor_dirs(&d, &own).is_empty());
    assert!(gone, "after its own exit: {:?} left", monitor_dirs(&d, &own));
    d.docker_ok(&["rm", "-f", "stopme", &own]);
}
