//! Host permissions and the API sockets (issue 13, points 7 and 9), as a local unprivileged user
//! would try them: the modes of every tree the daemon keeps, `-e` secrets searched for in every
//! file such a user can read, a setuid binary a container plants (CVE-2021-41091), the sockets'
//! owner, group and mode, a read-only socket probed with the docker CLI and raw requests shaped
//! to slip past its check, and an older Berth's 0755 data-root fixed at start.

use berth_tests::{output_text, wait_until, DaemonOpts, TestDaemon};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

mod sockets;

pub(super) const NOBODY: u32 = 65534;

pub(super) fn mode(p: &Path) -> u32 {
    std::fs::symlink_metadata(p).unwrap_or_else(|e| panic!("stat {}: {e}", p.display())).permissions().mode() & 0o7777
}

pub(super) fn random_hex() -> String {
    let mut b = [0u8; 6];
    std::fs::File::open("/dev/urandom").and_then(|mut f| std::io::Read::read_exact(&mut f, &mut b)).unwrap();
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Runs `argv` as uid nobody with the given primary gid and no other groups (or `extra` only).
pub(super) fn as_user(gid: u32, extra: Option<u32>, argv: &[&str]) -> Output {
    let mut c = Command::new("setpriv");
    c.arg(format!("--reuid={NOBODY}")).arg(format!("--regid={gid}"));
    match extra {
        Some(g) => c.arg(format!("--groups={g}")),
        None => c.arg("--clear-groups"),
    };
    c.arg("--").args(argv).env("HOME", "/").env_remove("DOCKER_HOST");
    berth_tests::run_with_timeout(&mut c, Duration::from_secs(60))
}

/// What a user with that primary gid finds of `needle` in every file it can read under `roots`.
pub(super) fn readable_hits(gid: u32, roots: &[&Path], needle: &str) -> String {
    let mut argv = vec!["grep", "-rlF", "--", needle];
    let roots: Vec<String> = roots.iter().map(|r| r.display().to_string()).collect();
    argv.extend(roots.iter().map(String::as_str));
    let out = as_user(gid, None, &argv);
    assert_ne!(out.status.code(), None, "grep was killed: {}", output_text(&out));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub(super) fn assert_modes(what: &[(&Path, u32)]) {
    let wrong: Vec<String> = what
        .iter()
        .filter(|(p, m)| mode(p) != *m)
        .map(|(p, m)| format!("{} is {:04o}, want {m:04o}", p.display(), mode(p)))
        .collect();
    assert!(wrong.is_empty(), "modes:\n{}", wrong.join("\n"));
}

/// Restarts the daemon with more arguments (paths under its base directory, known only once it
/// was spawned); waits for its first one to go.
pub(super) fn restart_with(d: &mut TestDaemon, args: &[String]) {
    d.term();
    assert!(d.wait_exit(Duration::from_secs(30)).is_some(), "daemon did not stop");
    d.opts.extra_args.extend(args.iter().cloned());
    d.restart();
}

#[test]
fn modes_are_dockers_and_no_secret_is_readable_by_another_user() {
    let mut d = TestDaemon::start(DaemonOpts::new("sec-host-modes"));
    d.busybox_image();
    let (secret, exec_secret) = (format!("run-secret-{}", random_hex()), format!("exec-secret-{}", random_hex()));
    let id = d.run_detached(&[
        "--name",
        "sec",
        "-e",
        &format!("SECRET={secret}"),
        "-v",
        "secvol:/vol",
        "busybox",
        "sh",
        "-c",
        "echo started; exec sleep 1000",
    ]);
    d.docker_ok(&["exec", "-e", &format!("EXSECRET={exec_secret}"), "sec", "true"]);
    let (data, exec) = (d.data_root.clone(), d.exec_root.clone());
    let cdir = data.join("containers").join(&id);
    let shim = exec.join("shims").join(&id);
    let layer = std::fs::read_dir(data.join("storage/layers")).unwrap().flatten().next().expect("a layer").path();
    assert!(wait_until(Duration::from_secs(10), || {
        std::fs::read_to_string(cdir.join(format!("{id}-json.log"))).is_ok_and(|l| l.contains("started"))
    }));
    assert_modes(&[
        (&data, 0o710),
        (&exec, 0o700),
        (&data.join("containers"), 0o710),
        (&cdir, 0o710),
        (&cdir.join("container.json"), 0o600),
        (&cdir.join(format!("{id}-json.log")), 0o640),
        (&cdir.join("hosts"), 0o644),
        (&cdir.join("resolv.conf"), 0o644),
        (&exec.join("shims"), 0o700),
        (&shim, 0o700),
        (&shim.join("config.json"), 0o600),
        (&shim.join("shim.json"), 0o600),
        (&shim.join("monitor.json"), 0o600),
        (&data.join("image"), 0o700),
        (&data.join("storage"), 0o710),
        (&data.join("storage/layers"), 0o710),
        (&layer, 0o710),
        (&data.join("storage/overlay2"), 0o710),
        (&data.join("storage/overlay2").join(&id), 0o710),
        (&data.join("storage/overlay2").join(&id).join("work"), 0o700),
        (&data.join("volumes"), 0o701),
        (&data.join("volumes/secvol/volume.json"), 0o600),
        (&data.join("events.jsonl"), 0o600),
        (&data.join("engine-id"), 0o600),
    ]);
    // The secrets are on disk (root finds them), so the searches below are not vacuous.
    let root_hits = Command::new("grep").args(["-rlF", "--", &secret]).arg(&data).arg(&exec).output().unwrap();
    let root_hits = String::from_utf8_lossy(&root_hits.stdout);
    assert!(root_hits.contains("container.json") && root_hits.contains("config.json"), "{root_hits}");
    // The base directory above is open to everyone: what stops a user is Berth's own modes.
    assert!(as_user(NOBODY, None, &["ls", d.base.to_str().unwrap()]).status.success());
    // Another user, and one in the root group (which Docker also lets traverse its 0710 dirs).
    for gid in [NOBODY, 0] {
        for s in [&secret, &exec_secret] {
            let hits = readable_hits(gid, &[&data, &exec], s);
            assert!(hits.is_empty(), "gid {gid} reads {s} in:\n{hits}");
        }
    }
    let listed = as_user(NOBODY, None, &["find", data.to_str().unwrap(), exec.to_str().unwrap()]);
    let found: Vec<&str> = std::str::from_utf8(&listed.stdout).unwrap().lines().collect();
    assert_eq!(found.len(), 2, "another user lists nothing below the roots: {found:?}");
}

/// A setuid-root program and busybox, planted by a container in its upper layer and in a named
/// volume: another local user cannot even reach them, let alone run them as root.
#[test]
fn a_setuid_binary_a_container_plants_is_out_of_reach() {
    let mut d = TestDaemon::start(DaemonOpts::new("sec-host-setuid"));
    d.busybox_image();
    let probe_dir = d.base.join("probe");
    std::fs::create_dir_all(&probe_dir).unwrap();
    let src = probe_dir.join("euid.c");
    std::fs::write(
        &src,
        "#include <stdio.h>\n#include <unistd.h>\nint main(void){printf(\"euid=%d\\n\",(int)geteuid());return 0;}\n",
    )
    .unwrap();
    let cc = Command::new("cc").args(["-static", "-O2", "-o"]).arg(probe_dir.join("euid")).arg(&src).output().unwrap();
    assert!(cc.status.success(), "cc: {}", output_text(&cc));
    let plant = "cp /probe/euid /suid-euid && cp /bin/busybox /suid-bb && chmod 4755 /suid-euid /suid-bb \
                 && cp /suid-euid /suid-bb /vol/ && chmod 4755 /vol/suid-euid /vol/suid-bb && touch /ready && exec sleep 1000";
    let id = d.run_detached(&[
        "--name",
        "plant",
        "-v",
        &format!("{}:/probe:ro", probe_dir.display()),
        "-v",
        "plantvol:/vol",
        "busybox",
        "sh",
        "-c",
        plant,
    ]);
    assert!(wait_until(Duration::from_secs(10), || d
        .docker(&["exec", "plant", "test", "-e", "/ready"])
        .status
        .success()));
    let pid = d.container_pid("plant");
    let storage = d.data_root.join("storage/overlay2").join(&id);
    let vol = d.data_root.join("volumes/plantvol/_data");
    let mut planted: Vec<PathBuf> = Vec::new();
    for dir in [storage.join("upper"), storage.join("merged"), vol.clone(), PathBuf::from(format!("/proc/{pid}/root"))]
    {
        for f in ["suid-euid", "suid-bb"] {
            let p = dir.join(f);
            let md = std::fs::metadata(&p).unwrap_or_else(|e| panic!("root sees the plant {}: {e}", p.display()));
            assert_eq!((md.uid(), md.mode() & 0o7777), (0, 0o4755), "{} is a setuid-root file", p.display());
            planted.push(p);
        }
    }
    // A working plant: handed to another user as an open file (no path to walk), it runs as
    // root. Only the path stands between that user and euid 0.
    for p in [storage.join("upper/suid-euid"), vol.join("suid-euid")] {
        let script = format!(
            "exec 3<'{}'; exec setpriv --reuid={NOBODY} --regid={NOBODY} --clear-groups -- sh -c 'id -u; exec /proc/self/fd/3'",
            p.display()
        );
        let ran = berth_tests::run_with_timeout(Command::new("sh").args(["-c", &script]), Duration::from_secs(30));
        assert_eq!(String::from_utf8_lossy(&ran.stdout).trim(), format!("{NOBODY}\neuid=0"), "{}", output_text(&ran));
    }
    for p in &planted {
        let path = p.to_str().unwrap();
        let stat = as_user(NOBODY, None, &["stat", "-c", "%a", path]);
        assert!(!stat.status.success(), "another user reaches {path}: {}", output_text(&stat));
        assert!(output_text(&stat).contains("Permission denied"), "{path}: {}", output_text(&stat));
        // Run by a shell of that user (setpriv itself resolves its program before it drops
        // root, so it must not be the one to exec the plant).
        let run = as_user(NOBODY, None, &["sh", "-c", "exec \"$0\"", path]);
        assert!(!run.status.success() && !output_text(&run).contains("euid=0"), "{path} ran: {}", output_text(&run));
        assert!(output_text(&run).contains("Permission denied"), "{path}: {}", output_text(&run));
    }
}

/// An older Berth left every directory 0755 and every file 0644. The start that finds such a
/// data-root closes it at once (the roots) and narrows what is below it beside the API, while
/// its containers, restored live, never notice.
#[test]
fn an_older_data_roots_open_modes_are_closed_at_start_under_live_restore() {
    let mut d = TestDaemon::start(DaemonOpts::new("sec-host-upgrade").live_restore(true));
    d.busybox_image();
    let secret = format!("old-secret-{}", random_hex());
    let id = d.run_detached(&[
        "--name",
        "old",
        "-e",
        &format!("SECRET={secret}"),
        "-v",
        "oldvol:/vol",
        "busybox",
        "sh",
        "-c",
        "echo started; exec sleep 1000",
    ]);
    let pid = d.container_pid("old");
    d.kill9();
    assert!(d.wait_exit(Duration::from_secs(10)).is_some());
    let (data, exec) = (d.data_root.clone(), d.exec_root.clone());
    for root in [&data, &exec] {
        // What the container controls, mounts and network namespaces stay as they are.
        let widen = Command::new("find")
            .arg(root)
            .args([
                "-xdev", "(", "-name", "upper", "-o", "-name", "merged", "-o", "-name", "_data", "-o", "-name", "diff",
                "-o", "-name", "netns", ")", "-prune",
            ])
            .args([
                "-o", "-type", "d", "-exec", "chmod", "0755", "{}", "+", "-o", "-type", "f", "-exec", "chmod", "0644",
                "{}", "+",
            ])
            .output()
            .unwrap();
        assert!(widen.status.success(), "{}", output_text(&widen));
    }
    assert!(!readable_hits(NOBODY, &[&data, &exec], &secret).is_empty(), "the older modes expose the secret");
    d.restart();
    assert!(
        wait_until(Duration::from_secs(20), || d.log_text().contains("modes of an older data-root tightened")),
        "{}",
        d.log_tail(20)
    );
    assert_eq!((d.container_pid("old"), d.state("old").running), (pid, true), "restored live, the same process");
    let cdir = data.join("containers").join(&id);
    assert_modes(&[
        (&data, 0o710),
        (&exec, 0o700),
        (&exec.join("shims"), 0o700),
        (&data.join("containers"), 0o710),
        (&cdir, 0o710),
        (&cdir.join("container.json"), 0o600),
        (&cdir.join(format!("{id}-json.log")), 0o640),
        (&cdir.join("hosts"), 0o644),
        (&data.join("storage/overlay2").join(&id), 0o710),
        (&data.join("volumes"), 0o701),
        (&data.join("volumes/oldvol/volume.json"), 0o600),
        (&data.join("image"), 0o700),
    ]);
    for gid in [NOBODY, 0] {
        let hits = readable_hits(gid, &[&data, &exec], &secret);
        assert!(hits.is_empty(), "gid {gid} still reads the secret in:\n{hits}");
    }
    d.docker_ok(&["exec", "old", "true"]);
    assert!(d.docker_ok(&["logs", "old"]).contains("started"));
    // A second start finds nothing to narrow.
    d.kill9();
    assert!(d.wait_exit(Duration::from_secs(10)).is_some());
    d.restart();
    assert_eq!(d.log_text().matches("modes of an older data-root tightened").count(), 1);
}
