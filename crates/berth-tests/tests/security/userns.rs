//! `--userns-remap` (issue 13, point 8), through the docker CLI: the container's root is a
//! subordinate uid on the host, seen from inside (`/proc/self/uid_map`) and from the host (what
//! it can read and what it writes in a bind mount); image files are root's inside, copy-up and
//! exec work, `--userns=host` opts out, the idmapped and the copied layers both, a daemon
//! killed with a remapped container running, and bad settings.

use crate::{daemon_with, run};
use berth_tests::{DaemonOpts, TestDaemon};
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::time::Duration;

mod restore;

/// dockremap's first range, as `default` reads it from /etc/subuid and /etc/subgid.
fn default_root() -> (u32, u32) {
    let first = |f: &str| {
        std::fs::read_to_string(f)
            .unwrap_or_default()
            .lines()
            .find_map(|l| {
                let mut p = l.split(':');
                (p.next()? == "dockremap").then_some(())?;
                p.next()?.parse::<u32>().ok()
            })
            .unwrap_or_else(|| panic!("no dockremap range in {f}"))
    };
    (first("/etc/subuid"), first("/etc/subgid"))
}

fn remapped(name: &str) -> DaemonOpts {
    DaemonOpts::new(name).arg("--userns-remap=default")
}

fn uid_map_line(uid: u32) -> String {
    format!("0 {uid} 65536")
}

fn squash(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[test]
fn container_root_is_a_subordinate_uid() {
    let d = daemon_with(remapped("userns-basic"));
    let (uid, gid) = default_root();
    let info = d.docker_ok(&["info", "--format", "{{json .SecurityOptions}} {{.DockerRootDir}}"]);
    assert!(info.contains("name=userns"), "{info}");
    assert!(info.ends_with(&format!("{}/{uid}.{gid}", d.data_root.display())), "{info}");
    let out = run(
        &d,
        &[
            "busybox",
            "sh",
            "-c",
            "cat /proc/self/uid_map /proc/self/gid_map; id -u; stat -c %u:%g /bin/busybox /etc/passwd /",
        ],
    );
    let lines: Vec<String> = out.lines().map(squash).collect();
    assert_eq!(lines[0], uid_map_line(uid), "{out}");
    assert_eq!(lines[1], uid_map_line(gid), "{out}");
    assert_eq!(lines[2], "0");
    assert_eq!(&lines[3..], ["0:0", "0:0", "0:0"], "image files are root's inside: {out}");
    // Writes to the image's files (copy-up), new files, a user of the image, the network.
    let out = run(&d, &["busybox", "sh", "-c", "echo x >> /etc/passwd && tail -c 2 /etc/passwd && mkdir /new && touch /new/f && stat -c %u /new/f && echo 1 > /etc/hostname && ip -4 addr show eth0 | grep -c inet && echo ok"]);
    assert_eq!(out.lines().collect::<Vec<_>>(), ["x", "0", "1", "ok"], "{out}");
    let out = run(
        &d,
        &[
            "-u",
            "1000:1000",
            "-w",
            "/made",
            "busybox",
            "sh",
            "-c",
            "id -u; touch /tmp/u-file; stat -c %u:%g /tmp/u-file .; cat /proc/self/status | grep ^Uid",
        ],
    );
    assert_eq!(out.lines().take(3).collect::<Vec<_>>(), ["1000", "1000:1000", "1000:1000"], "{out}");
    // tmpfs, /dev/shm and a named volume are the container's root's; the volume's files land
    // as the subordinate uid on the host.
    let out = run(
        &d,
        &[
            "--tmpfs",
            "/t",
            "-v",
            "uvol:/data",
            "busybox",
            "sh",
            "-c",
            "touch /t/a /dev/shm/b /data/c && stat -c %u:%g /t /dev/shm /data /data/c",
        ],
    );
    assert_eq!(out.lines().collect::<Vec<_>>(), ["0:0", "0:0", "0:0", "0:0"], "{out}");
    let vol = d.docker_ok(&["volume", "inspect", "-f", "{{.Mountpoint}}", "uvol"]);
    let c = std::fs::metadata(Path::new(&vol).join("c")).unwrap();
    assert_eq!((c.uid(), c.gid()), (uid, gid));
    // --read-only, --init and a sysctl of the container's own network namespace.
    let out = d.docker(&["run", "--rm", "--read-only", "busybox", "touch", "/x"]);
    assert!(!out.status.success(), "--read-only rootfs written");
    let out = run(
        &d,
        &[
            "--init",
            "--sysctl",
            "net.ipv4.ip_forward=1",
            "busybox",
            "sh",
            "-c",
            "cat /proc/1/cmdline | tr '\\0' ' '; echo; cat /proc/sys/net/ipv4/ip_forward",
        ],
    );
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines[0].starts_with("/sbin/docker-init"), "{out}");
    assert_eq!(lines[1], "1", "{out}");
    // Sharing another remapped container's network and PID namespaces shares its user namespace.
    let donor = d.run_detached(&["busybox", "sleep", "300"]);
    let dpid = d.container_pid(&donor);
    let dns = std::fs::read_link(format!("/proc/{dpid}/ns/user")).unwrap();
    let net = format!("container:{donor}");
    let out = run(
        &d,
        &[
            "--net",
            &net,
            "--pid",
            &net,
            "busybox",
            "sh",
            "-c",
            "readlink /proc/self/ns/user; ps -o args | grep -cx 'sleep 300'",
        ],
    );
    assert_eq!(out.lines().collect::<Vec<_>>(), [dns.display().to_string().as_str(), "1"], "{out}");
    d.docker_ok(&["rm", "-f", &donor]);
}

#[test]
fn bind_mounts_keep_host_files_from_container_root() {
    let d = daemon_with(remapped("userns-bind"));
    let (uid, _) = default_root();
    let dir = d.base.join("bind");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("secret"), "host root only\n").unwrap();
    std::fs::set_permissions(dir.join("secret"), std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    std::fs::set_permissions(&dir, std::os::unix::fs::PermissionsExt::from_mode(0o777)).unwrap();
    let v = format!("{}:/m", dir.display());
    let out = d.docker(&[
        "run",
        "--rm",
        "-v",
        &v,
        "busybox",
        "sh",
        "-c",
        "cat /m/secret; echo rc=$?; touch /m/made; stat -c %u /m/secret",
    ]);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(!text.contains("host root only"), "container root read a host root-only file: {text}");
    assert!(text.contains("rc=1"), "{text}");
    assert!(text.trim_end().ends_with("65534"), "host root shows as nobody inside: {text}");
    let made = std::fs::metadata(dir.join("made")).unwrap();
    assert_eq!(made.uid(), uid, "a file container root makes is the subordinate uid's on the host");
}

#[test]
fn exec_joins_the_user_namespace_and_userns_host_opts_out() {
    let d = daemon_with(remapped("userns-exec"));
    let (uid, _) = default_root();
    let id = d.run_detached(&["busybox", "sleep", "300"]);
    let pid = d.container_pid(&id);
    let init_ns = std::fs::read_link(format!("/proc/{pid}/ns/user")).unwrap();
    let host_ns = std::fs::read_link("/proc/self/ns/user").unwrap();
    assert_ne!(init_ns, host_ns);
    let out = d.docker_ok(&["exec", &id, "sh", "-c", "readlink /proc/self/ns/user; cat /proc/self/uid_map; id -u"]);
    let lines: Vec<String> = out.lines().map(squash).collect();
    assert_eq!(lines[0], init_ns.display().to_string(), "exec runs in the container's user namespace");
    assert_eq!(lines[1], uid_map_line(uid));
    assert_eq!(lines[2], "0");
    // Joining the user namespace gives every capability in it: the exec'd process keeps only
    // the container's, and a non-root user none.
    let field = |status: &str, f: &str| {
        status
            .lines()
            .find(|l| l.starts_with(f))
            .unwrap_or_default()
            .split_whitespace()
            .nth(1)
            .unwrap_or_default()
            .to_string()
    };
    let init_status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let exec_status = d.docker_ok(&["exec", &id, "cat", "/proc/self/status"]);
    for f in ["CapEff:", "CapPrm:", "CapBnd:", "CapInh:", "CapAmb:", "Seccomp:"] {
        assert_eq!(field(&exec_status, f), field(&init_status, f), "{f} of an exec'd process");
    }
    let user_status = d.docker_ok(&["exec", "-u", "1000:1000", &id, "cat", "/proc/self/status"]);
    assert_eq!(field(&user_status, "Uid:"), "1000");
    assert_eq!(field(&user_status, "Gid:"), "1000");
    assert_eq!(field(&user_status, "CapEff:"), "0000000000000000");
    // HOME is the exec user's (libcontainer was given uid 0: it is put right).
    let want = d.docker_ok(&["exec", &id, "sh", "-c", "grep '^nobody:' /etc/passwd | cut -d: -f6"]);
    assert_eq!(d.docker_ok(&["exec", "-u", "nobody", &id, "sh", "-c", "echo $HOME"]), want);
    assert_eq!(d.docker_ok(&["exec", &id, "sh", "-c", "echo $HOME"]), "/root");
    let host_view = d.docker_ok(&["exec", "-d", &id, "sleep", "77"]);
    let _ = host_view;
    let sleeper = berth_tests::wait_until(Duration::from_secs(5), || {
        std::fs::read_dir("/proc").unwrap().flatten().any(|e| {
            std::fs::read_to_string(e.path().join("cmdline")).is_ok_and(|c| c == "sleep\u{0}77\0")
                && std::fs::metadata(e.path()).is_ok_and(|m| m.uid() == uid)
        })
    });
    assert!(sleeper, "an exec'd process runs as the subordinate uid on the host");
    // cp and export show the owners as the container sees them; cp in gives them to its root.
    let r = d.api_get(&format!("/containers/{id}/archive?path=/etc/passwd"));
    assert_eq!(r.status, 200);
    let octal = |b: &[u8]| {
        u32::from_str_radix(String::from_utf8_lossy(b).trim_matches(|c: char| c == '\0' || c == ' '), 8).unwrap()
    };
    assert_eq!(
        (octal(&r.body[108..116]), octal(&r.body[116..124])),
        (0, 0),
        "cp out: uid/gid of /etc/passwd in the tar"
    );
    let src = d.base.join("cp-in");
    std::fs::write(&src, "in\n").unwrap();
    d.docker_ok(&["cp", &src.display().to_string(), &format!("{id}:/cp-in")]);
    assert_eq!(d.docker_ok(&["exec", &id, "stat", "-c", "%u:%g", "/cp-in"]), "0:0");
    d.docker_ok(&["rm", "-f", &id]);
    let out = run(&d, &["--userns=host", "busybox", "sh", "-c", "readlink /proc/self/ns/user; cat /proc/self/uid_map"]);
    let lines: Vec<String> = out.lines().map(squash).collect();
    assert_eq!(lines[0], host_ns.display().to_string(), "--userns=host opts out");
    assert_eq!(lines[1], "0 0 4294967295");
    // Docker's refusals: what would need the host's user namespace.
    for (arg, want) in [
        ("--privileged", "privileged mode is incompatible with user namespaces"),
        ("--net=host", "cannot share the host's network namespace"),
        ("--pid=host", "cannot share the host PID namespace"),
    ] {
        let (_, err) = d.docker_err(&["create", arg, "busybox", "true"]);
        assert!(err.contains(want), "{arg}: {err}");
    }
    let r = d.api_post(
        "/containers/create",
        r#"{"Image": "busybox", "Cmd": ["true"], "HostConfig": {"UsernsMode": "private"}}"#,
    );
    assert_eq!(r.status, 400, "{}", r.text());
    assert!(r.text().contains("UsernsMode"), "{}", r.text());
    assert!(d.docker_ok(&["ps", "-aq"]).is_empty(), "a refused create left a container");
    run(&d, &["--privileged", "--userns=host", "busybox", "true"]);
    // Ports published from a remapped container answer.
    let id = d.run_detached(&["-p", "127.0.0.1::80", "busybox", "httpd", "-f", "-p", "80", "-h", "/etc"]);
    let port = d.docker_ok(&["port", &id, "80"]);
    let port = port.rsplit(':').next().unwrap().trim().to_string();
    let ok = berth_tests::wait_until(Duration::from_secs(10), || {
        std::net::TcpStream::connect(format!("127.0.0.1:{port}")).is_ok_and(|mut s| {
            use std::io::{Read, Write};
            let _ = s.write_all(b"GET /hostname HTTP/1.0\r\n\r\n");
            let mut b = String::new();
            let _ = s.read_to_string(&mut b);
            b.contains("200")
        })
    });
    assert!(ok, "published port of a remapped container");
    d.docker_ok(&["rm", "-f", &id]);
}

/// The layers' mode: idmapped mounts (no copy) or the chowned copy; both give the same view.
fn layers_case(name: &str, force_copy: bool) {
    let mut opts = remapped(name);
    if force_copy {
        opts = opts.env("BERTH_STORAGE_NO_IDMAP", "1");
    }
    let d = daemon_with(opts);
    let (uid, gid) = default_root();
    let id = d.run_detached(&[
        "busybox",
        "sh",
        "-c",
        "echo y > /etc/group; stat -c %u:%g /bin/busybox /etc/group; sleep 300",
    ]);
    let storage = d.data_root.join(format!("{uid}.{gid}")).join("storage/overlay2").join(&id);
    assert_eq!(storage.join("shifted").exists(), force_copy, "shifted copy present only when forced");
    assert!(berth_tests::wait_until(Duration::from_secs(10), || d.docker_ok(&["logs", &id]).lines().count() == 2));
    assert_eq!(d.docker_ok(&["logs", &id]).lines().collect::<Vec<_>>(), ["0:0", "0:0"]);
    let up = std::fs::metadata(storage.join("upper/etc/group")).unwrap();
    assert_eq!((up.uid(), up.gid()), (uid, gid), "the copied-up file is the remapped root's");
    // The image's layer itself is untouched.
    let layers = d.data_root.join(format!("{uid}.{gid}")).join("storage/layers");
    let owners: Vec<u32> = std::fs::read_dir(&layers)
        .unwrap()
        .flatten()
        .filter_map(|e| std::fs::metadata(e.path().join("diff/bin/busybox")).ok())
        .map(|m| m.uid())
        .collect();
    assert!(!owners.is_empty() && owners.iter().all(|&u| u == 0), "{owners:?}");
    d.docker_ok(&["rm", "-f", &id]);
    assert!(!storage.exists());
}

#[test]
fn layers_are_idmapped_without_a_copy() {
    layers_case("userns-idmap", false);
}

#[test]
fn layers_copied_and_chowned_when_idmap_is_off() {
    layers_case("userns-copy", true);
}

#[test]
fn default_creates_dockremap_with_ranges() {
    let d = TestDaemon::start(remapped("userns-default"));
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap();
    assert!(passwd.lines().any(|l| l.starts_with("dockremap:")), "no dockremap user");
    let group = std::fs::read_to_string("/etc/group").unwrap();
    assert!(group.lines().any(|l| l.starts_with("dockremap:")), "no dockremap group");
    for f in ["/etc/subuid", "/etc/subgid"] {
        let text = std::fs::read_to_string(f).unwrap();
        let lines: Vec<&str> = text.lines().filter(|l| l.starts_with("dockremap:")).collect();
        assert_eq!(lines.len(), 1, "{f}: one range, not one per start: {text}");
        assert!(lines[0].ends_with(":65536"), "{f}: {text}");
    }
    let (uid, gid) = default_root();
    let root = d.data_root.join(format!("{uid}.{gid}"));
    for p in [&d.data_root, &root, &root.join("containers")] {
        let m = std::fs::metadata(p).unwrap();
        assert_eq!((m.mode() & 0o7777, m.uid(), m.gid()), (0o710, 0, gid), "{}", p.display());
    }
    // The runtime opens the network namespace file from inside the container's user namespace.
    for p in [&d.exec_root, &d.exec_root.join("netns")] {
        let m = std::fs::metadata(p).unwrap();
        assert_eq!((m.mode() & 0o7777, m.uid(), m.gid()), (0o710, 0, gid), "{}", p.display());
    }
    let m = std::fs::metadata(d.exec_root.join("userns")).unwrap();
    assert_eq!((m.mode() & 0o7777, m.gid()), (0o700, 0), "pinned user namespaces: root only");
}

#[test]
fn bad_settings_stop_the_daemon_naming_the_key() {
    for (setting, want) in [("no-such-user-zz", "no such user"), ("nobody", "no subuid ranges")] {
        let mut d = TestDaemon::spawn(DaemonOpts::new("userns-bad").arg(&format!("--userns-remap={setting}")));
        assert!(d.wait_exit(Duration::from_secs(20)).is_some_and(|s| !s.success()), "{setting}: the daemon started");
        let log = d.log_text();
        assert!(log.contains("userns-remap") && log.contains(want), "{setting}: {log}");
    }
    let mut d = TestDaemon::spawn(DaemonOpts::new("userns-bad-json").config(r#"{"userns-remap": "no-such-user-zz"}"#));
    assert!(d.wait_exit(Duration::from_secs(20)).is_some_and(|s| !s.success()));
    assert!(d.log_text().contains("userns-remap"), "{}", d.log_text());
}

#[test]
fn vfs_copies_are_shifted() {
    let d = daemon_with(remapped("userns-vfs").storage_driver("vfs"));
    let (uid, gid) = default_root();
    let id = d.run_detached(&["busybox", "sh", "-c", "touch /made; stat -c %u:%g /bin/busybox /made; sleep 300"]);
    assert!(berth_tests::wait_until(Duration::from_secs(10), || d.docker_ok(&["logs", &id]).lines().count() == 2));
    assert_eq!(d.docker_ok(&["logs", &id]).lines().collect::<Vec<_>>(), ["0:0", "0:0"]);
    let rootfs = d.data_root.join(format!("{uid}.{gid}")).join("storage/vfs").join(&id).join("rootfs");
    for f in ["bin/busybox", "made"] {
        let m = std::fs::metadata(rootfs.join(f)).unwrap();
        assert_eq!((m.uid(), m.gid()), (uid, gid), "{f} on the host");
    }
    d.docker_ok(&["rm", "-f", &id]);
}

/// The cost of remapping on `run --rm` (ms per start): `cargo nextest run --run-ignored only
/// -p berth-tests --test security start_cost`.
#[test]
#[ignore]
fn start_cost() {
    let time = |d: &TestDaemon| {
        run(d, &["busybox", "true"]);
        let t = std::time::Instant::now();
        for _ in 0..10 {
            run(d, &["busybox", "true"]);
        }
        t.elapsed().as_secs_f64() * 100.0
    };
    let plain = time(&daemon_with(DaemonOpts::new("userns-cost-plain")));
    let idmap = time(&daemon_with(remapped("userns-cost-idmap")));
    let copy = time(&daemon_with(remapped("userns-cost-copy").env("BERTH_STORAGE_NO_IDMAP", "1")));
    eprintln!(
        "run --rm: plain {plain:.1} ms, remapped (idmapped layers) {idmap:.1} ms, remapped (chowned copy) {copy:.1} ms"
    );
}

/// `user:group` with two subordinate ranges each: every line is a range, in file order, numbered
/// from container id 0 (Docker's idtools).
#[test]
fn a_named_user_with_two_ranges() {
    {
        // The lock `default` takes to add dockremap's range: no line is appended twice.
        let lock = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open("/run/lock/berth-dockremap.lock")
            .unwrap();
        let _held = nix::fcntl::Flock::lock(lock, nix::fcntl::FlockArg::LockExclusive).unwrap();
        for f in ["/etc/subuid", "/etc/subgid"] {
            let text = std::fs::read_to_string(f).unwrap_or_default();
            if !text.lines().any(|l| l.starts_with("daemon:")) {
                use std::io::Write;
                let mut w = std::fs::OpenOptions::new().append(true).create(true).open(f).unwrap();
                write!(w, "daemon:200000:1000\ndaemon:300000:65536\n").unwrap();
            }
        }
    }
    let d = daemon_with(DaemonOpts::new("userns-named").arg("--userns-remap=daemon:daemon"));
    assert!(d.data_root.join("200000.200000").is_dir());
    let out = run(
        &d,
        &[
            "-u",
            "5000:5000",
            "busybox",
            "sh",
            "-c",
            "cat /proc/self/uid_map /proc/self/gid_map; touch /tmp/x; stat -c %u /tmp/x",
        ],
    );
    let lines: Vec<String> = out.lines().map(squash).collect();
    assert_eq!(lines, ["0 200000 1000", "1000 300000 65536", "0 200000 1000", "1000 300000 65536", "5000"], "{out}");
    let id = d.run_detached(&["-u", "5000", "busybox", "sleep", "300"]);
    let pid = d.container_pid(&id);
    assert_eq!(
        std::fs::metadata(format!("/proc/{pid}")).unwrap().uid(),
        300000 + 4000,
        "container uid 5000 on the host"
    );
    d.docker_ok(&["rm", "-f", &id]);
}
