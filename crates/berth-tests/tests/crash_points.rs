//! The crash-point matrix (issues 5 and 7): for every named point inside create, start, stop, rm,
//! import, restore and pull, the daemon is killed exactly there (a SIGKILL it raises itself, armed by
//! `BERTH_CRASH_AT` in debug builds), restarted, and the engine must converge: the operation is
//! finished or rolled back, no container is lost or duplicated, nothing leaks.

use berth_tests::converge::{assert_converged, listed};
use berth_tests::{wait_until, DaemonOpts, TestDaemon};
use std::time::Duration;

const TRAP: &str = "trap 'exit 0' TERM; while :; do sleep 0.1; done";

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A live-restore daemon with the busybox image, ready to be armed.
fn daemon(name: &str) -> TestDaemon {
    let mut d = TestDaemon::start(DaemonOpts::new(name).live_restore(true));
    d.busybox_image();
    d
}

/// Restarts the daemon with `point` armed (containers survive: live restore).
fn arm(d: &mut TestDaemon, point: &str) {
    d.term();
    assert!(d.wait_exit(Duration::from_secs(10)).is_some());
    d.opts.env = vec![("BERTH_CRASH_AT".into(), point.into())];
    d.restart();
}

/// Runs the docker command that must reach the point; the daemon dies there; it is restarted unarmed.
fn crash_during(d: &mut TestDaemon, point: &str, args: &[&str]) {
    let out = d.docker(args);
    assert!(!out.status.success(), "docker {args:?} should have lost its daemon at {point}");
    let st = d.wait_exit(Duration::from_secs(10)).expect("the daemon died at the crash point");
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(st.signal(), Some(9), "killed by its own SIGKILL at {point}");
    assert!(d.log_text().contains(&format!("crash point {point}")), "the log names the point");
    d.opts.env.clear();
    d.restart();
}

#[test]
fn create_after_storage_is_rolled_back() {
    let mut d = daemon("crash-create-storage");
    let port = free_port();
    arm(&mut d, "create.after-storage");
    crash_during(
        &mut d,
        "create.after-storage",
        &["create", "--name", "xx", "-p", &format!("127.0.0.1:{port}:80"), "busybox", "sleep", "1000"],
    );
    assert!(
        wait_until(Duration::from_secs(5), || d.docker(&["inspect", "xx"]).status.code() == Some(1)),
        "rolled back: no x"
    );
    assert_converged(&d, &[]);
    // The name and the port are free again.
    d.docker_ok(&["run", "-d", "--name", "xx", "-p", &format!("127.0.0.1:{port}:80"), "busybox", "sleep", "1000"]);
    assert_converged(&d, &[]);
}

#[test]
fn create_after_record_is_finished() {
    let mut d = daemon("crash-create-record");
    arm(&mut d, "create.after-record");
    crash_during(&mut d, "create.after-record", &["create", "--name", "xx", "busybox", "sleep", "1000"]);
    assert_eq!(d.state("xx").status, "created");
    assert_eq!(listed(&d).len(), 1, "one container, not two");
    assert_converged(&d, &[]);
    d.docker_ok(&["start", "xx"]);
    assert!(d.state("xx").running);
    assert_converged(&d, &[]);
}

#[test]
fn start_after_prepare_is_rolled_back() {
    let mut d = daemon("crash-start-prepare");
    let port = free_port();
    d.docker_ok(&["create", "--name", "xx", "-p", &format!("127.0.0.1:{port}:80"), "busybox", "sleep", "1000"]);
    arm(&mut d, "start.after-prepare");
    crash_during(&mut d, "start.after-prepare", &["start", "xx"]);
    assert!(wait_until(Duration::from_secs(5), || d.state("xx").status == "created"), "{:?}", d.state("xx"));
    assert_converged(&d, &[]);
    d.docker_ok(&["start", "xx"]);
    assert!(d.state("xx").running);
    assert_converged(&d, &[]);
}

/// The monitor is up and waiting for the daemon's go-ahead (network ready) when the daemon dies:
/// the next daemon tells it to give up, and the start is undone.
#[test]
fn start_before_gate_is_rolled_back() {
    let mut d = daemon("crash-start-gate");
    d.docker_ok(&["create", "--name", "xx", "busybox", "sleep", "1000"]);
    arm(&mut d, "start.before-gate");
    crash_during(&mut d, "start.before-gate", &["start", "xx"]);
    assert!(wait_until(Duration::from_secs(5), || d.state("xx").status == "created"), "{:?}", d.state("xx"));
    assert_converged(&d, &[]);
    d.docker_ok(&["start", "xx"]);
    assert!(d.state("xx").running);
    assert_converged(&d, &[]);
}

#[test]
fn start_after_launch_is_finished() {
    let mut d = daemon("crash-start-launch");
    d.docker_ok(&["create", "--name", "xx", "busybox", "sh", "-c", TRAP]);
    arm(&mut d, "start.after-launch");
    crash_during(&mut d, "start.after-launch", &["start", "xx"]);
    assert!(wait_until(Duration::from_secs(5), || d.state("xx").running), "{:?}", d.state("xx"));
    assert_converged(&d, &[]);
    d.docker_ok(&["stop", "xx"]);
    assert_eq!(d.state("xx").exit_code, 0);
    assert_converged(&d, &[]);
}

#[test]
fn stop_after_signal_is_finished_with_the_true_exit_code() {
    let mut d = daemon("crash-stop");
    d.run_detached(&["--name", "xx", "busybox", "sh", "-c", "trap 'exit 7' TERM; while :; do sleep 0.1; done"]);
    arm(&mut d, "stop.after-signal");
    crash_during(&mut d, "stop.after-signal", &["stop", "xx"]);
    assert!(wait_until(Duration::from_secs(10), || d.state("xx").status == "exited"), "{:?}", d.state("xx"));
    assert_eq!(d.state("xx").exit_code, 7);
    assert_converged(&d, &[]);
}

#[test]
fn rm_after_storage_is_finished() {
    let mut d = daemon("crash-rm");
    let id =
        d.run_detached(&["--name", "xx", "-p", &format!("127.0.0.1:{}:80", free_port()), "busybox", "sh", "-c", TRAP]);
    d.docker_ok(&["stop", "xx"]);
    arm(&mut d, "rm.after-storage");
    crash_during(&mut d, "rm.after-storage", &["rm", "xx"]);
    assert!(
        wait_until(Duration::from_secs(5), || d.docker(&["inspect", "xx"]).status.code() == Some(1)),
        "the removal was finished"
    );
    assert_converged(&d, &[id]);
}

#[test]
fn import_after_layer_is_rolled_back() {
    let mut d = TestDaemon::start(DaemonOpts::new("crash-import").env("BERTH_CRASH_AT", "import.after-layer"));
    let tar = berth_tests::busybox_tar_path();
    crash_during(&mut d, "import.after-layer", &["import", tar.to_str().unwrap(), "bb:1"]);
    assert_eq!(d.docker_ok(&["images", "-q"]), "", "no image was half-made");
    let layers = d.data_root.join("storage").join("layers");
    let left: Vec<_> =
        std::fs::read_dir(&layers).map(|rd| rd.flatten().map(|e| e.file_name()).collect()).unwrap_or_default();
    assert!(left.is_empty(), "unreferenced layers swept: {left:?}");
    // The same import works now, once.
    d.busybox_image();
    assert_eq!(d.docker_ok(&["images", "-q"]).lines().count(), 1);
}

#[test]
fn restore_midway_is_finished_by_the_next_start() {
    let mut d = daemon("crash-restore");
    let port = free_port();
    d.run_detached(&[
        "--name",
        "web",
        "-p",
        &format!("127.0.0.1:{port}:80"),
        "busybox",
        "sh",
        "-c",
        "echo hi > /i; httpd -f -p 80 -h /",
    ]);
    d.run_detached(&["--name", "aa", "busybox", "sleep", "1000"]);
    let pids: Vec<i32> = ["web", "aa"].iter().map(|n| d.container_pid(n)).collect();
    d.kill9();
    d.wait_exit(Duration::from_secs(5));
    d.opts.env = vec![("BERTH_CRASH_AT".into(), "restore.midway".into())];
    d.spawn_unready();
    let st = d.wait_exit(Duration::from_secs(10)).expect("died at restore.midway");
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(st.signal(), Some(9));
    d.opts.env.clear();
    d.restart();
    assert!(wait_until(Duration::from_secs(5), || d.state("aa").running && d.state("web").running));
    assert_eq!(["web", "aa"].iter().map(|n| d.container_pid(n)).collect::<Vec<_>>(), pids, "same processes");
    assert_converged(&d, &[]);
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).expect("published port answers");
    use std::io::{Read, Write};
    s.write_all(b"GET /i HTTP/1.0\r\n\r\n").unwrap();
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    assert!(out.contains("hi"), "{out}");
}

#[test]
fn pull_crashes_leave_no_download_layer_or_image() {
    for point in ["pull.after-download", "pull.after-layer"] {
        let reg = berth_tests::registry::Registry::start("crash-pull", None);
        let mut d = daemon("crash-pull");
        let name = format!("{}/crash/bb:1", reg.addr);
        d.docker_ok(&["tag", "busybox", &name]);
        d.docker_ok(&["push", &name]);
        d.docker_ok(&["rmi", &name, "busybox"]);
        arm(&mut d, point);
        // The CLI takes a progress stream that stops short for a finished one: the daemon's
        // death is what is checked.
        let _ = d.docker(&["pull", &name]);
        let st = d.wait_exit(Duration::from_secs(10)).expect("the daemon died at the crash point");
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(st.signal(), Some(9), "{point}");
        assert!(d.log_text().contains(&format!("crash point {point}")));
        d.opts.env.clear();
        d.restart();
        assert_eq!(d.docker_ok(&["images", "-q"]), "", "{point}: no image");
        let left = |sub: &str, keep: fn(&str) -> bool| -> Vec<String> {
            std::fs::read_dir(d.data_root.join(sub))
                .map(|rd| {
                    rd.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).filter(|n| keep(n)).collect()
                })
                .unwrap_or_default()
        };
        assert!(left("image", |n| n.starts_with(".tmp")).is_empty(), "{point}: downloads swept");
        assert!(left("storage/layers", |_| true).is_empty(), "{point}: unreferenced layers swept");
        d.docker_ok(&["pull", &name]);
        assert_eq!(d.docker_ok(&["run", "--rm", &name, "echo", "ok"]), "ok", "{point}: the pull works again");
    }
}

/// Every point in the daemon's list has a test here (the build's are in `build_crash.rs`).
#[test]
fn every_crash_point_is_covered() {
    let me = concat!(include_str!("crash_points.rs"), include_str!("build_crash.rs"));
    for p in berth_proto_points() {
        assert!(me.contains(&format!("\"{p}\"")), "crash point {p} has no test");
    }
}

fn berth_proto_points() -> Vec<String> {
    let src = include_str!("../../berth-proto/src/crashpoint.rs");
    let list = src.split("pub const POINTS").nth(1).and_then(|s| s.split("];").next()).unwrap_or_default();
    list.lines()
        .filter_map(|l| l.trim().strip_prefix('"').and_then(|l| l.split('"').next()))
        .map(String::from)
        .collect()
}

#[test]
fn exit_before_auto_remove_is_finished() {
    let mut d = daemon("crash-autorm");
    arm(&mut d, "exit.before-auto-remove");
    crash_during(&mut d, "exit.before-auto-remove", &["run", "--name", "brief", "--rm", "busybox", "true"]);
    // The exit was recorded, the removal never started: the restarted daemon does it.
    assert!(
        wait_until(Duration::from_secs(10), || d.docker(&["inspect", "brief"]).status.code() == Some(1)),
        "--rm container kept"
    );
    assert_converged(&d, &[]);
}

/// `docker commit` killed after its layer, after the parent record, before and after the image:
/// the restart shows no image, or the whole one (tagged, its parent recorded), and no layer that
/// no image uses.
#[test]
fn commit_points_leave_no_image_or_a_whole_one() {
    let mut d = TestDaemon::start(DaemonOpts::new("crash-commit"));
    let bb = d.busybox_image();
    d.docker_ok(&["run", "--name", "src", "busybox", "sh", "-c", "echo x > /x"]);
    let layers = d.data_root.join("storage").join("layers");
    let count = || std::fs::read_dir(&layers).map(|rd| rd.flatten().count()).unwrap_or(0);
    let before = count();
    for point in ["commit.after-layer", "commit.after-parent", "commit.before-image", "commit.after-image"] {
        arm(&mut d, point);
        crash_during(&mut d, point, &["commit", "src", "made:1"]);
        let all = d.docker_ok(&["images", "-a", "-q", "--no-trunc"]);
        if point == "commit.after-image" {
            let v = d.inspect("made:1");
            assert_eq!(v["Parent"], bb.as_str(), "whole: its parent recorded");
            assert_eq!(d.docker_ok(&["run", "--rm", "made:1", "cat", "/x"]), "x");
            assert_eq!(count(), before + 1, "its layer, nothing else");
            d.docker_ok(&["rmi", "made:1"]);
        } else {
            assert_eq!(all, bb, "{point}: no image was half-made");
        }
        assert_eq!(count(), before, "{point}: no stray layer");
        let records = d.data_root.join("image").join("parent");
        assert_eq!(std::fs::read_dir(&records).map(|rd| rd.count()).unwrap_or(0), 0, "{point}: no parent record");
    }
    // And the commit works afterwards.
    d.docker_ok(&["commit", "src", "made:2"]);
    assert_eq!(d.inspect("made:2")["Parent"], bb.as_str());
}

/// Deletes the link on the way out, so a failing test leaves nothing behind.
struct LinkGuard(String);

impl Drop for LinkGuard {
    fn drop(&mut self) {
        if std::path::Path::new("/sys/class/net").join(&self.0).exists() {
            let _ = std::process::Command::new("ip").args(["link", "del", &self.0]).output();
        }
    }
}

/// A daemon killed between `ip link add` of a container's veth pair and moving the peer into the
/// container's namespace leaves both ends in the host's (the suite's leak check found two). The
/// next daemon removes the pair of a container that is not running, and its start still works.
#[test]
fn stray_veth_pair_of_a_stopped_container_is_removed_at_restart() {
    let mut d = daemon("crash-veth");
    let id = d.docker_ok(&["create", "--name", "xx", "busybox", "sleep", "1000"]).trim().to_string();
    let (vb, vp) = (format!("vb{}", &id[..10]), format!("vp{}", &id[..10]));
    let st = std::process::Command::new("ip")
        .args(["link", "add", &vb, "type", "veth", "peer", "name", &vp])
        .status()
        .expect("ip link add");
    assert!(st.success(), "made the pair a crash would leave");
    let _guard = LinkGuard(vb.clone());
    let net = std::path::Path::new("/sys/class/net");
    d.term();
    assert!(d.wait_exit(Duration::from_secs(10)).is_some());
    d.restart();
    assert!(wait_until(Duration::from_secs(10), || !net.join(&vb).exists()), "the stray pair is removed");
    assert!(!net.join(&vp).exists(), "both ends");
    d.docker_ok(&["start", "xx"]);
    assert!(d.state("xx").running);
    assert!(net.join(&vb).exists(), "the start made its own pair");
    assert_converged(&d, &[]);
}
