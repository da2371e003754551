//! Engine-core points beyond the container verbs: the vfs driver, hostile tarballs, API version
//! prefixes, json-file rotation, and the options each container records.

use berth_tests::{wait_until, DaemonOpts, TestDaemon};
use std::time::Duration;

#[test]
fn vfs_driver_runs_containers_and_keeps_layers_apart() {
    let mut d = TestDaemon::start(DaemonOpts::new("eng-vfs").storage_driver("vfs"));
    d.busybox_image();
    assert_eq!(d.docker_ok(&["info", "-f", "{{.Driver}}"]), "vfs");
    d.docker_ok(&["run", "--name", "w1", "busybox", "sh", "-c", "echo one > /tmp/f"]);
    assert_eq!(d.docker_ok(&["run", "--rm", "busybox", "sh", "-c", "cat /tmp/f 2>/dev/null || echo absent"]), "absent");
    assert_eq!(d.inspect("w1")["Driver"], "vfs");
    let rootfs = d.data_root.join("storage/vfs");
    assert!(rootfs.is_dir(), "vfs keeps container copies under {}", rootfs.display());
    d.docker_ok(&["rm", "w1"]);
}

/// A tarball whose entries climb out of the target is refused with a clear error, and nothing is
/// written outside the layer.
#[test]
fn hostile_tarball_is_refused_and_writes_nothing_outside() {
    let d = TestDaemon::start(DaemonOpts::new("eng-hostile"));
    let victim = d.base.join("victim");
    std::fs::create_dir_all(&victim).unwrap();
    let tar_path = d.base.join("evil.tar");
    {
        let f = std::fs::File::create(&tar_path).unwrap();
        let mut b = tar::Builder::new(f);
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Symlink);
        h.set_size(0);
        h.set_mode(0o777);
        b.append_link(&mut h, "escape", &victim).unwrap();
        let body = b"pwned";
        let mut h = tar::Header::new_gnu();
        h.set_size(body.len() as u64);
        h.set_mode(0o644);
        // Written through the symlink, this would land in the victim directory.
        b.append_data(&mut h, "escape/owned", &body[..]).unwrap();
        b.finish().unwrap();
    }
    let (code, err) = d.docker_err(&["import", tar_path.to_str().unwrap(), "evil:1"]);
    assert_ne!(code, Some(0));
    assert!(!err.trim().is_empty(), "a clear error: {err}");
    assert!(!victim.join("owned").exists(), "the import wrote outside its layer");
    assert!(!d.docker(&["image", "inspect", "evil:1"]).status.success(), "no image is left behind");
}

#[test]
fn api_version_prefixes_and_negotiation() {
    let d = TestDaemon::start(DaemonOpts::new("eng-api"));
    let ping = d.api_get("/_ping");
    assert_eq!(ping.status, 200);
    assert_eq!(ping.header("api-version"), Some("1.51"));
    assert_eq!(ping.text(), "OK");
    for v in ["1.24", "1.41", "1.51"] {
        let r = d.api_get(&format!("/v{v}/version"));
        assert_eq!(r.status, 200, "/v{v}/version: {}", r.text());
        assert_eq!(r.json()["ApiVersion"], "1.51");
    }
    let r = d.api_get("/v1.99/version");
    assert_eq!(r.status, 400);
    assert!(r.json()["message"].as_str().unwrap().contains("client version 1.99 is too new"), "{}", r.text());
    let r = d.api_get("/v1.12/info");
    assert_eq!(r.status, 400);
    assert!(r.json()["message"].as_str().unwrap().contains("is too old"), "{}", r.text());
    let r = d.api_get("/v1.51/no/such/path");
    assert_eq!(r.status, 404);
    // The docker CLI negotiates down to what the daemon speaks.
    assert_eq!(d.docker_ok(&["version", "-f", "{{.Server.APIVersion}}"]), "1.51");
}

#[test]
fn log_opts_rotate_the_json_file() {
    let mut d = TestDaemon::start(DaemonOpts::new("eng-logrot"));
    d.busybox_image();
    let id = d.docker_ok(&[
        "run",
        "-d",
        "--log-opt",
        "max-size=10k",
        "--log-opt",
        "max-file=3",
        "busybox",
        "sh",
        "-c",
        "i=0; while [ $i -lt 3000 ]; do echo line-$i; i=$((i+1)); done",
    ]);
    d.docker_ok(&["wait", &id]);
    let dir = d.data_root.join("containers").join(&id);
    let log = dir.join(format!("{id}-json.log"));
    assert!(wait_until(Duration::from_secs(5), || log.exists()));
    assert!(std::fs::metadata(&log).unwrap().len() <= 12 * 1024, "current file stays near max-size");
    assert!(dir.join(format!("{id}-json.log.1")).exists(), "rotated file .1");
    assert!(!dir.join(format!("{id}-json.log.3")).exists(), "max-file=3 keeps three files");
    // `logs` reads across the rotated files, in order, ending with the last line.
    let out = d.docker_ok(&["logs", &id]);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(*lines.last().unwrap(), "line-2999");
    let nums: Vec<u32> = lines.iter().map(|l| l.trim_start_matches("line-").parse().unwrap()).collect();
    assert!(nums.windows(2).all(|w| w[1] == w[0] + 1), "contiguous across rotated files");
    // Invalid options are refused with Docker's words (max-file alone is taken, as dockerd
    // takes it: nothing rotates without max-size).
    let (code, err) = d.docker_err(&["run", "--log-opt", "max-file=0", "busybox", "true"]);
    assert_eq!(code, Some(125));
    assert!(err.contains("max-file cannot be less than 1"), "{err}");
}

/// Invariant 8: a container records the options it was created under, and a daemon restarted with
/// another default storage driver still lists and runs it.
#[test]
fn containers_keep_their_storage_driver_across_a_default_change() {
    let mut d = TestDaemon::start(DaemonOpts::new("eng-driver").live_restore(true));
    d.busybox_image();
    d.run_detached(&["--name", "on-overlay", "busybox", "sleep", "1000"]);
    let pid = d.container_pid("on-overlay");
    d.kill9();
    d.wait_exit(Duration::from_secs(5));
    d.opts.storage_driver = Some("vfs".into());
    d.restart();
    assert_eq!(d.docker_ok(&["info", "-f", "{{.Driver}}"]), "vfs");
    assert_eq!(d.container_pid("on-overlay"), pid, "restored, same pid");
    assert_eq!(d.inspect("on-overlay")["Driver"], "overlay2");
    d.run_detached(&["--name", "on-vfs", "busybox", "sleep", "1000"]);
    assert_eq!(d.inspect("on-vfs")["Driver"], "vfs");
    d.docker_ok(&["stop", "-t", "1", "on-overlay"]);
    d.docker_ok(&["start", "on-overlay"]);
    assert!(d.state("on-overlay").running);
    d.docker_ok(&["rm", "-f", "on-overlay", "on-vfs"]);
}

/// The `none` log driver keeps nothing (and `docker logs` says so, as on dockerd); a driver
/// Berth lacks is refused by name, one nobody has with dockerd's words; `--isolation default`
/// is shown back by inspect.
#[test]
fn log_driver_none_keeps_nothing_and_other_drivers_are_refused() {
    let mut d = TestDaemon::start(DaemonOpts::new("eng-lognone"));
    d.busybox_image();
    let o = d.docker(&["run", "--name", "quiet", "--log-driver", "none", "busybox", "echo", "not-kept"]);
    assert!(o.status.success(), "{}", berth_tests::output_text(&o));
    let log = d.inspect("quiet")["LogPath"].as_str().unwrap_or_default().to_string();
    let kept = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(!kept.contains("not-kept"), "the none driver kept the output in {log}: {kept}");
    let (code, err) = d.docker_err(&["logs", "quiet"]);
    assert_eq!(code, Some(1));
    assert!(err.contains("configured logging driver does not support reading"), "{err}");
    assert_eq!(d.inspect("quiet")["HostConfig"]["LogConfig"]["Type"], "none");
    d.docker_ok(&["rm", "quiet"]);
    let (_, err) = d.docker_err(&["run", "--rm", "--log-driver", "asdf", "busybox", "true"]);
    assert!(err.contains("logger: no log driver named 'asdf' is registered"), "{err}");
    let (_, err) = d.docker_err(&["run", "--rm", "--log-driver", "syslog", "busybox", "true"]);
    assert!(err.contains("log driver \"syslog\" is not supported by Berth"), "{err}");
    let (_, err) = d.docker_err(&["run", "--rm", "--log-opt", "labels=a", "busybox", "true"]);
    assert!(err.contains("log-opt labels is not supported by Berth"), "{err}");
    let id = d.docker_ok(&["create", "--isolation", "default", "--log-opt", "max-file=4", "busybox", "true"]);
    let v = d.inspect(&id);
    assert_eq!(v["HostConfig"]["Isolation"], "default");
    assert_eq!(v["HostConfig"]["LogConfig"]["Config"]["max-file"], "4");
    d.docker_ok(&["rm", &id]);
}
