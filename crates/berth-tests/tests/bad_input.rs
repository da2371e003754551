//! Bad input (issue 3): malformed bodies, fields of the wrong type, absurd values and hostile names
//! get Docker-shaped JSON errors (`{"message": …}`) with the status Docker uses; the daemon never
//! panics and never leaves a half-created container (or anything else) behind.

use berth_tests::converge::{assert_converged, listed};
use berth_tests::{DaemonOpts, TestDaemon};

fn post_json(d: &TestDaemon, path: &str, body: &str) -> (u16, serde_json::Value) {
    let r = d.api("POST", path, Some(("application/json", body.as_bytes())));
    let v: serde_json::Value =
        serde_json::from_slice(&r.body).unwrap_or_else(|e| panic!("{path}: not JSON ({e}): {}", r.text()));
    (r.status, v)
}

fn create(d: &TestDaemon, name: Option<&str>, body: &str) -> (u16, String) {
    let path = match name {
        Some(n) => format!("/v1.47/containers/create?name={n}"),
        None => "/v1.47/containers/create".to_string(),
    };
    let (status, v) = post_json(d, &path, body);
    if status >= 400 {
        let msg = v["message"].as_str().unwrap_or_else(|| panic!("{path}: error without a message: {v}")).to_string();
        assert!(!msg.is_empty());
        (status, msg)
    } else {
        (status, v["Id"].as_str().unwrap_or_default().to_string())
    }
}

#[test]
fn malformed_and_absurd_create_requests_are_refused_and_leave_nothing() {
    let mut d = TestDaemon::start(DaemonOpts::new("bad-create"));
    d.busybox_image();
    let huge_label = "x".repeat(10 * 1024 * 1024);
    let cases: Vec<(Option<&str>, String, u16, &str)> = vec![
        (None, "{not json".into(), 400, "invalid JSON"),
        (None, r#"{"Image": 42}"#.into(), 400, "invalid JSON"),
        (None, r#"{"Image": "busybox", "Cmd": "true", "HostConfig": {"Memory": "lots"}}"#.into(), 400, "invalid JSON"),
        (None, r#"{"Image": "busybox", "Cmd": ["true"], "HostConfig": {"Memory": -5}}"#.into(), 400, "memory"),
        (None, r#"{"Image": "busybox", "Cmd": ["true"], "HostConfig": {"NanoCpus": -1}}"#.into(), 400, "CPU"),
        (
            None,
            r#"{"Image": "busybox", "Cmd": ["true"], "HostConfig": {"RestartPolicy": {"Name": "sometimes"}}}"#.into(),
            400,
            "restart policy",
        ),
        (
            None,
            r#"{"Image": "busybox", "Cmd": ["true"], "HostConfig": {"PortBindings": {"80/tcp": [{"HostPort": "99999"}]}}}"#.into(),
            400,
            "hostPort",
        ),
        (
            None,
            r#"{"Image": "busybox", "Cmd": ["true"], "HostConfig": {"PortBindings": {"eighty/tcp": [{}]}}}"#.into(),
            400,
            "containerPort",
        ),
        (None, r#"{"Image": "nosuchimage:1", "Cmd": ["true"]}"#.into(), 404, "No such image"),
        (None, r#"{"Image": "busybox"}"#.into(), 400, "No command specified"),
        (Some("../evil"), r#"{"Image": "busybox", "Cmd": ["true"]}"#.into(), 400, "Invalid container name"),
        (Some("a/b"), r#"{"Image": "busybox", "Cmd": ["true"]}"#.into(), 400, "Invalid container name"),
        (Some("x"), r#"{"Image": "busybox", "Cmd": ["true"]}"#.into(), 400, "Invalid container name"),
        (None, format!(r#"{{"Image": "busybox", "Cmd": ["true"], "Labels": {{"big": "{huge_label}"}}}}"#), 400, "label"),
    ];
    for (name, body, want, words) in &cases {
        let (status, msg) = create(&d, *name, body);
        assert_eq!(status, *want, "{name:?} {}: {msg}", &body[..body.len().min(120)]);
        assert!(msg.contains(words), "{name:?} {}: {msg:?} should mention {words:?}", &body[..body.len().min(120)]);
    }
    assert!(listed(&d).is_empty(), "nothing half-created: {:?}", listed(&d));
    assert!(d.ping(), "still serving");
    // A name in use: 409, Docker's wording, and the first container untouched.
    let (s, _) = create(&d, Some("taken"), r#"{"Image": "busybox", "Cmd": ["true"]}"#);
    assert_eq!(s, 201);
    let (s, msg) = create(&d, Some("taken"), r#"{"Image": "busybox", "Cmd": ["true"]}"#);
    assert_eq!(s, 409);
    assert!(msg.contains("is already in use by container"), "{msg}");
    assert_eq!(listed(&d).len(), 1);
    d.docker_ok(&["rm", "taken"]);
    assert_converged(&d, &[]);
}

#[test]
fn unknown_objects_and_bad_parameters_get_dockers_statuses() {
    let mut d = TestDaemon::start(DaemonOpts::new("bad-params"));
    d.busybox_image();
    d.docker_ok(&["run", "-d", "--name", "live", "busybox", "sleep", "100"]);
    let cases: Vec<(&str, &str, Option<&str>, u16, &str)> = vec![
        ("GET", "/v1.47/containers/nosuch/json", None, 404, "No such container: nosuch"),
        ("POST", "/v1.47/containers/nosuch/start", None, 404, "No such container"),
        ("POST", "/v1.47/containers/live/kill?signal=SIGNOPE", None, 400, "Invalid signal"),
        ("DELETE", "/v1.47/containers/live", None, 409, "container is running"),
        ("DELETE", "/v1.47/images/busybox", None, 409, "(must force) - container"),
        ("GET", "/v1.47/images/nosuch/json", None, 404, "No such image"),
        ("GET", "/v1.47/networks/nosuch", None, 404, "network nosuch not found"),
        (
            "POST",
            "/v1.47/networks/create",
            Some(r#"{"Name": "n1", "IPAM": {"Config": [{"Subnet": "not-a-subnet"}]}}"#),
            400,
            "invalid subnet",
        ),
        ("POST", "/v1.47/networks/create", Some(r#"{"Name": 7}"#), 400, "invalid JSON"),
        ("GET", "/v1.47/containers/json?filters=%7Bbroken", None, 400, ""),
        ("GET", "/v99.0/version", None, 400, "client version 99.0 is too new"),
        ("GET", "/v1.12/version", None, 400, "client version 1.12 is too old"),
        // Swarm's routes answer as a dockerd outside a swarm does (clients tear down with them).
        ("POST", "/v1.47/swarm/leave?force=1", None, 503, "This node is not part of a swarm"),
        ("GET", "/v1.47/swarm", None, 503, "This node is not a swarm manager"),
        ("GET", "/v1.47/services", None, 503, "This node is not a swarm manager"),
        ("DELETE", "/v1.47/secrets/s1", None, 503, "This node is not a swarm manager"),
        ("POST", "/v1.47/swarm/init", Some("{}"), 503, "Berth does not implement swarm mode"),
    ];
    for (method, path, body, want, words) in cases {
        let r = d.api(method, path, body.map(|b| ("application/json", b.as_bytes())));
        let v: serde_json::Value =
            serde_json::from_slice(&r.body).unwrap_or_else(|e| panic!("{method} {path}: not JSON ({e}): {}", r.text()));
        let msg = v["message"].as_str().unwrap_or_else(|| panic!("{method} {path}: no message: {v}"));
        assert_eq!(r.status, want, "{method} {path}: {msg}");
        assert!(msg.contains(words), "{method} {path}: {msg:?} should mention {words:?}");
    }
    assert!(d.state("live").running, "the running container was not touched");
    // Through the CLI: Docker's exit codes.
    let (code, err) = d.docker_err(&["inspect", "nosuch"]);
    assert_eq!(code, Some(1));
    assert!(err.contains("No such object: nosuch") || err.contains("No such container"), "{err}");
    let (code, err) = d.docker_err(&["run", "--rm", "--memory", "-1", "busybox", "true"]);
    assert_eq!(code, Some(125), "{err}");
    let (code, err) = d.docker_err(&["node", "ls"]);
    assert_eq!(code, Some(1));
    assert!(err.contains("This node is not a swarm manager"), "{err}");
    d.docker_ok(&["rm", "-f", "live"]);
    assert_converged(&d, &[]);
}

/// Plugins: `docker plugin create` from a directory, `ls`, `inspect`, `rm`; what would install,
/// run or fetch one is refused with a 501 naming it; a hostile archive writes nothing outside.
#[test]
fn plugins_created_listed_removed_and_never_run() {
    let d = TestDaemon::start(DaemonOpts::new("plugins"));
    assert_eq!(d.docker_ok(&["plugin", "ls", "-q"]), "");
    let (_, err) = d.docker_err(&["plugin", "inspect", "vieux/sshfs"]);
    assert!(err.contains("not found"), "{err}");
    let (_, err) = d.docker_err(&["plugin", "install", "--grant-all-permissions", "vieux/sshfs"]);
    assert!(err.contains("not supported by Berth"), "{err}");
    // docker-py's own test data, as the docker CLI sends it.
    let dir = d.base.join("dummy-plugin");
    std::fs::create_dir_all(dir.join("rootfs/dummy")).unwrap();
    std::fs::write(dir.join("rootfs/dummy/file.txt"), "x\n").unwrap();
    std::fs::write(
        dir.join("config.json"),
        r#"{"description": "Dummy", "entrypoint": ["/dummy"], "network": {"type": "host"},
            "interface": {"types": ["docker.volumedriver/1.0"], "socket": "dummy.sock"},
            "env": [{"name": "DEBUG", "settable": ["value"], "value": "0"}]}"#,
    )
    .unwrap();
    d.docker_ok(&["plugin", "create", "berth-test/dummy", &dir.display().to_string()]);
    assert_eq!(d.docker_ok(&["plugin", "ls", "--format", "{{.Name}} {{.Enabled}}"]), "berth-test/dummy:latest false");
    let p: serde_json::Value = serde_json::from_str(&d.docker_ok(&["plugin", "inspect", "berth-test/dummy"])).unwrap();
    let p = p[0].clone();
    assert_eq!(p["Config"]["Entrypoint"], serde_json::json!(["/dummy"]));
    assert_eq!(p["Settings"]["Env"], serde_json::json!(["DEBUG=0"]));
    let (_, err) = d.docker_err(&["plugin", "create", "berth-test/dummy", &dir.display().to_string()]);
    assert!(err.contains("already exists"), "{err}");
    let (_, err) = d.docker_err(&["plugin", "enable", "berth-test/dummy"]);
    assert!(err.contains("not supported by Berth"), "{err}");
    let r = d.api_post("/v1.41/plugins/create?name=x", "");
    assert_eq!(r.status, 400, "an empty archive has no config.json: {}", r.text());
    let id = p["Id"].as_str().unwrap().to_string();
    d.docker_ok(&["plugin", "rm", &id[..12]]);
    assert_eq!(d.docker_ok(&["plugin", "ls", "-q"]), "");
    let left: Vec<_> =
        std::fs::read_dir(d.data_root.join("plugins")).unwrap().flatten().map(|e| e.file_name()).collect();
    assert!(left.is_empty(), "{left:?}");
    let r = d.api("DELETE", "/plugins/x", None);
    assert_eq!(r.status, 404, "{}", r.text());
}
