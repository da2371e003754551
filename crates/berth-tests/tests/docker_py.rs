//! The same basics through docker-py 7.1, the other client people script Docker with.

use berth_tests::{wait_until, DaemonOpts, TestDaemon};
use std::time::Duration;

fn py(d: &TestDaemon, body: &str) -> String {
    d.docker_py(body)
}

#[test]
fn version_ping_info() {
    let d = TestDaemon::start(DaemonOpts::new("py-version").live_restore(true));
    let out = py(
        &d,
        r#"
assert c.ping() is True
v = c.version()
assert v["Os"] == "linux", v
assert v["ApiVersion"].startswith("1."), v
i = c.info()
assert i["LiveRestoreEnabled"] is True, i.get("LiveRestoreEnabled")
print("api", v["ApiVersion"])
"#,
    );
    assert!(out.contains("api 1."), "{out}");
}

#[test]
fn run_logs_wait_list_remove() {
    let mut d = TestDaemon::start(DaemonOpts::new("py-run"));
    d.busybox_image();
    py(
        &d,
        r#"
ctr = c.containers.run("busybox", ["sh", "-c", "echo hello-py; echo err-py >&2; echo $X; exit 4"],
                       detach=True, name="py1", labels={"k": "v"}, environment={"X": "xval"})
r = ctr.wait(timeout=30)
assert r["StatusCode"] == 4, r
assert ctr.logs(stdout=True, stderr=False) == b"hello-py\nxval\n", ctr.logs(stdout=True, stderr=False)
assert ctr.logs(stdout=False, stderr=True) == b"err-py\n", ctr.logs(stdout=False, stderr=True)
ctr.reload()
assert ctr.status == "exited", ctr.status
assert ctr.attrs["State"]["ExitCode"] == 4
assert ctr.labels == {"k": "v"}, ctr.labels
assert ctr.name == "py1"
assert "py1" in [x.name for x in c.containers.list(all=True)]
assert "py1" not in [x.name for x in c.containers.list()]
assert [x.id for x in c.containers.list(all=True, filters={"label": "k=v"})] == [ctr.id]
ctr.remove()
try:
    c.containers.get("py1")
    raise AssertionError("py1 still exists")
except docker.errors.NotFound:
    pass

out = c.containers.run("busybox", "echo direct", remove=True)
assert out == b"direct\n", out
try:
    c.containers.run("busybox", ["sh", "-c", "echo bad >&2; exit 3"], remove=True)
    raise AssertionError("no ContainerError")
except docker.errors.ContainerError as e:
    assert e.exit_status == 3, e.exit_status
assert c.containers.list(all=True) == [], c.containers.list(all=True)
"#,
    );
}

#[test]
fn stop_kill_restart_and_images() {
    let mut d = TestDaemon::start(DaemonOpts::new("py-life"));
    d.busybox_image();
    py(
        &d,
        r#"
ctr = c.containers.run("busybox", "sleep 1000", detach=True)
ctr.reload()
assert ctr.status == "running", ctr.status
ctr.stop(timeout=1)
ctr.reload()
assert ctr.status == "exited" and ctr.attrs["State"]["ExitCode"] == 137, ctr.attrs["State"]
ctr.start()
ctr.reload()
assert ctr.status == "running"
pid = ctr.attrs["State"]["Pid"]
ctr.restart(timeout=1)
ctr.reload()
assert ctr.status == "running" and ctr.attrs["State"]["Pid"] != pid
ctr.kill()
assert ctr.wait(timeout=30)["StatusCode"] == 137
ctr.remove(force=True)

# A container its policy will restart is "restarting" by the time wait answers (Docker's
# SetRestarting runs in the exit handler), so a remove right after wait is refused, not raced.
# It exits at once, before the daemon's watcher connects to its monitor: the daemon still sees
# every exit (the monitor leaves the restart to a running daemon), so each wait returns.
ra = c.containers.create("busybox", "sh -c 'exit 3'", restart_policy={"Name": "always"})
ra.start()
for _ in range(6):
    w = ra.wait(timeout=30)
    assert w["StatusCode"] == 3, w
    try:
        ra.remove()
        raise AssertionError("removed a container its restart policy is restarting")
    except APIError as e:
        assert e.status_code == 409 and "stop the container before" in str(e), e
ra.reload()
assert ra.attrs["RestartCount"] >= 5, ra.attrs["RestartCount"]
ra.remove(force=True)

tags = [t for i in c.images.list() for t in i.tags]
assert "busybox:latest" in tags, tags
img = c.images.get("busybox")
assert img.id.startswith("sha256:"), img.id
assert img.tag("pybox", "v1")
assert "pybox:v1" in c.images.get("pybox:v1").tags
c.images.remove("pybox:v1")
try:
    c.images.get("pybox:v1")
    raise AssertionError("pybox:v1 still there")
except docker.errors.ImageNotFound:
    pass
"#,
    );
}

#[test]
fn container_survives_daemon_kill_as_seen_by_docker_py() {
    let mut d = TestDaemon::start(DaemonOpts::new("py-restore").live_restore(true));
    d.busybox_image();
    let out = py(
        &d,
        r#"
ctr = c.containers.run("busybox", "sleep 1000", detach=True, name="keep")
ctr.reload()
print("pid", ctr.attrs["State"]["Pid"])
"#,
    );
    let pid: i32 = out.lines().find_map(|l| l.strip_prefix("pid ")).unwrap().parse().unwrap();
    let ident = berth_tests::identity(pid).expect("container process");
    d.kill9();
    d.wait_exit(Duration::from_secs(5)).expect("daemon survived SIGKILL");
    std::thread::sleep(Duration::from_secs(1));
    assert!(ident.is_alive());
    d.restart();
    assert!(wait_until(Duration::from_secs(15), || d.state("keep").status == "running"));
    py(
        &d,
        &format!(
            r#"
ctr = c.containers.get("keep")
assert ctr.status == "running", ctr.status
assert ctr.attrs["State"]["Pid"] == {pid}, ctr.attrs["State"]
ctr.stop(timeout=1)
assert ctr.wait(timeout=30)["StatusCode"] == 137
"#
        ),
    );
    assert!(!ident.is_alive());
}
