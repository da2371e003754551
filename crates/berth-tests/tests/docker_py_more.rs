//! docker-py 7.1 beyond the basics: exec_run, networks (create, connect, disconnect, aliases),
//! events with since/until and decode, ports, the error classes scripts catch, and the low-level
//! APIClient.

use berth_tests::{DaemonOpts, TestDaemon};

fn py(d: &TestDaemon, body: &str) -> String {
    d.docker_py(body)
}

#[test]
fn exec_networks_ports_events_and_errors() {
    let mut d = TestDaemon::start(DaemonOpts::new("py-more").live_restore(true));
    d.busybox_image();
    let (_, cidr) = d.bridge.clone().unwrap();
    let o: Vec<u32> = cidr.split('/').next().unwrap().split('.').map(|x| x.parse().unwrap()).collect();
    let subnet = format!("{}.{}.{}.0/24", o[0], o[1], (o[2] + 99) % 256);
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let script = format!(
        r#"
t0 = int(time.time())
web = c.containers.run("busybox", ["sh", "-c", "echo hi > /index.html; httpd -f -p 80 -h /"], detach=True, name="pyweb",
                       ports={{"80/tcp": ("127.0.0.1", {port})}}, labels={{"suite": "py"}})
web.reload()
assert web.status == "running", web.status
assert web.ports["80/tcp"][0]["HostPort"] == "{port}", web.ports
assert web.labels["suite"] == "py"
# exec_run: output and exit code, env, workdir, user
r = web.exec_run(["sh", "-c", "echo $FOO; pwd; id -u; exit 5"], environment={{"FOO": "bar"}}, workdir="/tmp", user="1000")
assert r.exit_code == 5, r
assert r.output.decode().split() == ["bar", "/tmp", "1000"], r.output
r = web.exec_run("cat /index.html")
assert (r.exit_code, r.output) == (0, b"hi\n"), r
# networks
net = c.networks.create("pynet", driver="bridge", ipam=docker.types.IPAMConfig(pool_configs=[docker.types.IPAMPool(subnet="{subnet}")]))
assert net.attrs["IPAM"]["Config"][0]["Subnet"] == "{subnet}"
peer = c.containers.run("busybox", "sleep 1000", detach=True, name="pypeer", network="pynet")
net.connect(web, aliases=["www"])
net.reload()
assert sorted(x.name for x in net.containers) == ["pypeer", "pyweb"], net.containers
r = peer.exec_run(["sh", "-c", "printf 'GET /index.html HTTP/1.0\\r\\n\\r\\n' | nc -w 2 www 80"])
assert b"hi" in r.output, r
net.disconnect(web)
net.reload()
assert [x.name for x in net.containers] == ["pypeer"]
assert [n.name for n in c.networks.list(names=["pynet"])] == ["pynet"]
# errors scripts catch
try:
    c.containers.get("nosuch"); raise SystemExit("no NotFound")
except NotFound as e:
    assert e.status_code == 404
try:
    c.containers.run("busybox", "true", name="pyweb"); raise SystemExit("no conflict")
except APIError as e:
    assert e.status_code == 409, e
try:
    c.images.get("nosuch:img"); raise SystemExit("no ImageNotFound")
except ImageNotFound:
    pass
try:
    net.remove(); raise SystemExit("network in use removed")
except APIError as e:
    assert e.status_code == 403, e
# events over a window, decoded
web.stop(timeout=1)
time.sleep(1.1)
evs = list(c.events(since=t0, until=int(time.time()), decode=True, filters={{"container": "pyweb"}}))
acts = [e["Action"] for e in evs]
for a in ["create", "start", "die", "stop"]:
    assert a in acts, acts
# low-level client
api = docker.APIClient(base_url="unix://" + os.environ["BERTH_SOCK"], version="auto")
assert api.inspect_container("pyweb")["State"]["Status"] == "exited"
assert any(x["Names"] == ["/pypeer"] for x in api.containers())
for x in (web, peer):
    x.remove(force=True)
net.remove()
assert c.networks.list(names=["pynet"]) == []
"#
    );
    py(&d, &script);
    berth_tests::converge::assert_converged(&d, &[]);
}

/// `attach(logs=True)`: what the container wrote before the attach comes first, whether it has
/// exited (docker-py reads the raw socket after its buffered reader took the headers: bytes sent
/// with them were lost, 6 times in 10) or runs with a terminal (the monitor replays this run's
/// output; `logs=1` was ignored there).
#[test]
fn attach_with_logs_replays_what_came_before() {
    let mut d = TestDaemon::start(DaemonOpts::new("py-attach-logs"));
    d.busybox_image();
    py(
        &d,
        r#"
api = docker.APIClient(base_url="unix://" + os.environ["BERTH_SOCK"], version="auto")
for i in range(10):
    ct = api.create_container("busybox", "echo hello")
    api.start(ct)
    api.wait(ct, condition="not-running")
    out = api.attach(ct, stream=False, logs=True)
    assert out == b"hello\n", (i, out)
    api.remove_container(ct, force=True)
ct = api.create_container("busybox", ["sh", "-c", "echo early; sleep 60"], tty=True)
api.start(ct)
deadline = time.time() + 10
while b"early" not in api.logs(ct):
    assert time.time() < deadline, "no output"
    time.sleep(0.05)
sock = api.attach_socket(ct, params={"stdout": 1, "stderr": 1, "stream": 1, "logs": 1})
sock._sock.settimeout(5)
got = b""
while b"early" not in got:
    chunk = sock._sock.recv(4096)
    assert chunk, got
    got += chunk
assert got.startswith(b"early"), got
sock.close()
api.remove_container(ct, force=True)
# An attach to stdin alone gets no output (the relay sent it all, and compose printed it twice).
for tty in (False, True):
    ct = api.create_container("busybox", ["sh", "-c", "sleep 0.3; echo out; echo err >&2"], stdin_open=True, tty=tty)
    s_in = api.attach_socket(ct, params={"stdin": 1, "stream": 1})
    s_err = api.attach_socket(ct, params={"stderr": 1, "stream": 1})
    api.start(ct)
    for s, want in ((s_in, b""), (s_err, b"" if tty else b"\x02\x00\x00\x00\x00\x00\x00\x04err\n")):
        s._sock.settimeout(10)
        got = b""
        while True:
            chunk = s._sock.recv(4096)
            if not chunk:
                break
            got += chunk
        assert got == want, (tty, got)
        s.close()
    api.remove_container(ct, force=True)
"#,
    );
    berth_tests::converge::assert_converged(&d, &[]);
}
