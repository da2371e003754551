//! The API sockets: owner, group and mode (`-G`, `"group"`, `mode=`), and a read-only socket
//! probed with the docker CLI and raw requests shaped to slip past its check.

use super::{as_user, assert_modes, mode, random_hex, restart_with, NOBODY};
use berth_tests::{output_text, unix_http_request, wait_until, DaemonOpts, TestDaemon};
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

/// Group guard: a test group removed on drop.
struct TestGroup(String, u32);

impl TestGroup {
    fn new() -> TestGroup {
        let name = format!("berth-test-{}", random_hex());
        // groupadd takes a lock on /etc/group; another test's groupadd may hold it a moment.
        assert!(
            wait_until(Duration::from_secs(10), || Command::new("groupadd")
                .arg(&name)
                .status()
                .is_ok_and(|s| s.success())),
            "groupadd {name}"
        );
        let gid = nix::unistd::Group::from_name(&name).unwrap().expect("group just added").gid.as_raw();
        TestGroup(name, gid)
    }
}

impl Drop for TestGroup {
    fn drop(&mut self) {
        let _ = Command::new("groupdel").arg(&self.0).status();
    }
}

/// `GET /_ping` on `sock` as that user: the answer's body, or the connect error's name.
fn ping_as(sock: &Path, gid: u32, extra: Option<u32>) -> String {
    const PING: &str = "import socket, sys\ns = socket.socket(socket.AF_UNIX)\ntry:\n    s.connect(sys.argv[1])\nexcept OSError as e:\n    print(type(e).__name__)\n    sys.exit(0)\ns.sendall(b'GET /_ping HTTP/1.0\\r\\nHost: x\\r\\n\\r\\n')\nd = b''\nwhile True:\n    c = s.recv(4096)\n    if not c:\n        break\n    d += c\nprint(d.split(b'\\r\\n\\r\\n', 1)[-1].decode())\n";
    // Debian's python3: another user cannot reach a toolchain under /root.
    let python = if Path::new("/usr/bin/python3").exists() { "/usr/bin/python3" } else { "python3" };
    let out = as_user(gid, extra, &[python, "-c", PING, sock.to_str().unwrap()]);
    assert!(out.status.success(), "{}", output_text(&out));
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

#[test]
fn sockets_are_root_and_their_group_0660_and_a_missing_group_stops_the_start() {
    let group = TestGroup::new();
    // A group that does not exist, named explicitly: the daemon refuses to start, naming it,
    // before it creates anything.
    let missing = format!("berth-missing-{}", random_hex());
    let mut bad = TestDaemon::spawn(DaemonOpts::new("sec-host-nogroup").arg("-G").arg(&missing));
    assert!(bad.wait_exit(Duration::from_secs(20)).is_some_and(|s| !s.success()), "started without group {missing}");
    assert!(bad.log_text().contains(&format!("group {missing} not found")), "{}", bad.log_tail(5));
    assert!(!bad.socket.exists() && !bad.data_root.exists(), "nothing is created before the group is known");
    // Without --group: root:berth when a `berth` group exists, else root:root.
    let mut d = TestDaemon::start(DaemonOpts::new("sec-host-sock"));
    let md = std::fs::metadata(&d.socket).unwrap();
    let default_gid = nix::unistd::Group::from_name("berth").unwrap().map_or(0, |g| g.gid.as_raw());
    assert_eq!((md.uid(), md.gid(), md.mode() & 0o7777), (0, default_gid, 0o660));
    // -G, a socket of its own mode, and a read-only one everyone may use, inside the exec-root.
    let own = d.base.join("own.sock");
    let ro = d.exec_root.join("ro.sock");
    let hosts = [
        format!("berth+unix://{}?mode=0600", own.display()),
        format!("berth+unix://{}?role=read-only&mode=0666&group=root", ro.display()),
    ];
    restart_with(&mut d, &["-G".into(), group.0.clone(), "-H".into(), hosts[0].clone(), "-H".into(), hosts[1].clone()]);
    let st = |p: &Path| {
        let m = std::fs::metadata(p).unwrap();
        (m.uid(), m.gid(), m.mode() & 0o7777)
    };
    assert_eq!(st(&d.socket), (0, group.1, 0o660));
    assert_eq!(st(&own), (0, group.1, 0o600));
    assert_eq!(st(&ro), (0, 0, 0o666));
    assert_eq!(mode(&d.exec_root), 0o711, "a socket in the exec-root: traversable, not listable");
    assert_modes(&[
        (&d.exec_root.join("shims"), 0o700),
        (&d.exec_root.join("netns"), 0o700),
        (&d.exec_root.join("runtime"), 0o700),
    ]);
    // A member of the group connects; anyone else is refused by the kernel.
    assert_eq!(ping_as(&d.socket, NOBODY, Some(group.1)), "OK");
    assert_eq!(ping_as(&d.socket, NOBODY, None), "PermissionError");
    assert_eq!(ping_as(&own, NOBODY, Some(group.1)), "PermissionError", "mode 0600: the group is out too");
    assert_eq!(ping_as(&ro, NOBODY, None), "OK");
    let ls = as_user(NOBODY, None, &["ls", d.exec_root.to_str().unwrap()]);
    assert!(!ls.status.success(), "the exec-root is not listable: {}", output_text(&ls));
    // The same group from daemon.json.
    d.term();
    assert!(d.wait_exit(Duration::from_secs(30)).is_some());
    d.opts.extra_args.clear();
    d.write_config(&format!("{{\"group\": \"{}\"}}", group.0));
    d.restart();
    assert_eq!(st(&d.socket), (0, group.1, 0o660));
    assert_eq!(mode(&d.exec_root), 0o700, "no socket in the exec-root any more");
}

/// Raw requests to the read-only socket that must all be refused with 403, whatever their
/// spelling; `{id}` is the container, `{exec}` an exec instance made on the full socket.
const REFUSED: &[(&str, &str)] = &[
    ("POST", "/containers/create"),
    ("POST", "/v1.51/containers/create"),
    ("POST", "/v1.24/containers/create"),
    ("POST", "//containers/create"),
    ("POST", "/containers//create"),
    ("POST", "/containers/create/"),
    ("POST", "/containers/%63reate"),
    ("POST", "/v1.51/containers/%2e%2e/containers/create"),
    ("post", "/containers/create"),
    ("PUT", "/containers/create"),
    ("POST", "http://localhost/containers/create"),
    ("POST", "/containers/{id}/start"),
    ("POST", "/containers/{id}/kill?signal=KILL"),
    ("POST", "/containers/{id}/stop"),
    ("POST", "/containers/{id}/exec"),
    ("POST", "/v1.51/exec/{exec}/start"),
    ("POST", "/containers/{id}/attach?stream=1&stdin=1&stdout=1"),
    ("GET", "/containers/{id}/attach/ws?stream=1"),
    ("DELETE", "/containers/{id}?force=1"),
    ("DELETE", "/v1.51/containers/{id}/?force=1"),
    ("PUT", "/containers/{id}/archive?path=/tmp"),
    ("GET", "/containers/{id}/archive?path=/etc/passwd"),
    ("HEAD", "/containers/{id}/archive?path=/etc/passwd"),
    ("GET", "/containers/{id}/export"),
    ("HEAD", "/containers/{id}/export"),
    ("POST", "/containers/{id}/wait"),
    ("POST", "/containers/{id}/update"),
    ("POST", "/containers/{id}/rename?name=x"),
    ("POST", "/containers/{id}/pause"),
    ("GET", "/images/get?names=busybox"),
    ("GET", "/images/busybox/get"),
    ("GET", "/images/busybox%2Fget"),
    ("GET", "/v1.51/images/busybox%252Fget"),
    ("POST", "/images/create?fromImage=busybox"),
    ("POST", "/images/load"),
    ("POST", "/images/busybox/tag?repo=x"),
    ("DELETE", "/images/busybox"),
    ("POST", "/build"),
    ("POST", "/commit?container={id}"),
    ("POST", "/auth"),
    ("POST", "/session"),
    ("POST", "/grpc"),
    ("GET", "/plugins"),
    ("POST", "/containers/prune"),
    ("POST", "/volumes/create"),
    ("DELETE", "/volumes/rovol"),
    ("POST", "/networks/create"),
    ("OPTIONS", "/containers/json"),
    ("GET", "/v1.51//containers/json"),
];

#[test]
fn a_read_only_socket_serves_reads_and_refuses_everything_else() {
    let mut d = TestDaemon::start(DaemonOpts::new("sec-host-ro"));
    let ro = d.base.join("ro.sock");
    restart_with(&mut d, &["-H".into(), format!("berth+unix://{}?role=read-only", ro.display())]);
    d.busybox_image();
    let t0 = berth_tests::unix_now() - 1.0;
    let id = d.run_detached(&[
        "--name",
        "watched",
        "-v",
        "rovol:/vol",
        "busybox",
        "sh",
        "-c",
        "echo hello-ro; exec sleep 1000",
    ]);
    let pid = d.container_pid("watched");
    let host = format!("unix://{}", ro.display());
    let cli = |args: &[&str]| d.docker(&[&["-H", host.as_str()], args].concat());
    let ok = |args: &[&str]| {
        let o = cli(args);
        assert!(o.status.success(), "read-only docker {args:?}: {}", output_text(&o));
        String::from_utf8_lossy(&o.stdout).into_owned()
    };
    assert!(ok(&["ps"]).contains("watched"));
    assert_eq!(ok(&["inspect", "-f", "{{.Id}}", "watched"]).trim(), id);
    assert!(wait_until(Duration::from_secs(10), || ok(&["logs", "watched"]).contains("hello-ro")));
    let until = format!("{:.0}", berth_tests::unix_now() + 1.0);
    assert!(ok(&["events", "--since", &format!("{t0:.0}"), "--until", &until]).contains("container start"));
    for args in [
        &["images"][..],
        &["info"],
        &["version"],
        &["network", "ls"],
        &["volume", "ls"],
        &["system", "df"],
        &["top", "watched"],
        &["stats", "--no-stream", "watched"],
        &["image", "inspect", "busybox"],
        &["diff", "watched"],
    ] {
        ok(args);
    }
    let file = d.base.join("in.txt");
    std::fs::write(&file, "in").unwrap();
    let f = file.to_str().unwrap();
    let refused: &[&[&str]] = &[
        &["run", "--rm", "busybox", "true"],
        &["create", "busybox"],
        &["exec", "watched", "touch", "/tmp/pwned"],
        &["rm", "-f", "watched"],
        &["cp", f, "watched:/tmp/in.txt"],
        &["cp", "watched:/etc/passwd", "-"],
        &["export", "watched"],
        &["save", "busybox"],
        &["stop", "watched"],
        &["kill", "watched"],
        &["pause", "watched"],
        &["attach", "watched"],
        &["tag", "busybox", "stolen"],
        &["rmi", "-f", "busybox"],
        &["network", "create", "ronet"],
        &["volume", "rm", "rovol"],
        &["container", "prune", "-f"],
    ];
    for args in refused {
        let o = cli(args);
        let text = output_text(&o);
        assert!(!o.status.success(), "read-only socket let docker {args:?} through: {text}");
        assert!(text.contains("this API socket is read-only") || text.contains("403"), "docker {args:?}: {text}");
    }
    // Raw, as an attacker would shape them. An exec instance made on the full socket cannot be
    // started through the read-only one.
    let ex = d.api_post(&format!("/containers/{id}/exec"), r#"{"Cmd": ["touch", "/tmp/pwned"]}"#).json();
    let exec_id = ex["Id"].as_str().expect("exec id").to_string();
    for (method, path) in REFUSED {
        let path = path.replace("{id}", &id).replace("{exec}", &exec_id);
        let r =
            unix_http_request(&ro, method, &path, Some(("application/json", b"{}")), Duration::from_secs(30)).unwrap();
        assert_eq!(r.status, 403, "{method} {path} on the read-only socket: {}", r.text());
        if *method != "HEAD" {
            let msg = r.json()["message"].as_str().unwrap_or_default().to_string();
            assert!(msg.contains("read-only"), "{method} {path}: {msg}");
        }
    }
    // The capture of /images/{*rest} is decoded before dispatch: on the full socket, an encoded
    // slash does reach `save`, which is why the role judges the decoded capture, not the path.
    assert_eq!(d.api_get("/images/busybox%2Fget").status, 200);
    for (method, path) in [
        ("GET", "/_ping"),
        ("HEAD", "/_ping"),
        ("GET", "/v1.51/containers/json?all=1"),
        ("GET", "/images/busybox%2Fjson"),
        ("GET", &format!("/exec/{exec_id}/json")),
    ] {
        let r = unix_http_request(&ro, method, path, None, Duration::from_secs(30)).unwrap();
        assert_eq!(r.status, 200, "{method} {path}: {}", r.text());
    }
    // Nothing changed.
    assert_eq!(d.ps(true).len(), 1, "{:?}", d.ps(true));
    assert_eq!(d.container_pid("watched"), pid);
    for p in ["/tmp/pwned", "/tmp/in.txt"] {
        assert!(
            !d.docker(&["exec", "watched", "test", "-e", p]).status.success(),
            "{p} was made through the read-only socket"
        );
    }
    let images = d.docker_ok(&["images", "--format", "{{.Repository}}"]);
    assert_eq!(images.trim(), "busybox");
    assert!(d.docker(&["volume", "inspect", "rovol"]).status.success());
    assert!(!d.docker(&["network", "inspect", "ronet"]).status.success());
    // An unknown role stops the start, naming it.
    let mut bad = TestDaemon::spawn(
        DaemonOpts::new("sec-host-badrole").arg("-H").arg("berth+unix:///nonexistent-berth/x.sock?role=admin"),
    );
    assert!(bad.wait_exit(Duration::from_secs(20)).is_some_and(|s| !s.success()));
    assert!(bad.log_text().contains("unknown role \"admin\""), "{}", bad.log_tail(5));
}
