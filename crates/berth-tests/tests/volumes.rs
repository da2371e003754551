//! Volumes and mounts (issue 3): named volumes (`volume create/ls/inspect/rm/prune`), `-v`
//! binds and volumes, anonymous volumes (`-v /path`, `rm -v`), `--mount` bind/volume/tmpfs,
//! `--tmpfs`, `--read-only`; a new volume gets the image's content; volumes outlive containers and
//! daemon crashes; a volume in use is never removed.

use berth_tests::converge::assert_converged;
use berth_tests::{DaemonOpts, TestDaemon};
use std::time::Duration;

struct Dir(std::path::PathBuf);
impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn named_volumes_outlive_containers_and_crashes() {
    let mut d = TestDaemon::start(DaemonOpts::new("vol-named").live_restore(true));
    d.busybox_image();
    assert_eq!(d.docker_ok(&["volume", "create", "--label", "k=v", "data"]), "data");
    let mp = d.docker_ok(&["volume", "inspect", "-f", "{{.Mountpoint}} {{.Driver}} {{.Labels.k}}", "data"]);
    assert!(mp.ends_with("/data/_data local v") && mp.starts_with(&d.data_root.display().to_string()), "{mp}");
    d.docker_ok(&["run", "--name", "writer", "-v", "data:/data", "busybox", "sh", "-c", "echo hi > /data/f"]);
    d.docker_ok(&["run", "-d", "--name", "reader", "-v", "data:/data:ro", "busybox", "sleep", "1000"]);
    assert_eq!(d.docker_ok(&["exec", "reader", "cat", "/data/f"]), "hi");
    assert!(d.docker(&["exec", "reader", "touch", "/data/g"]).status.code() != Some(0), ":ro is read-only");
    let mounts = d.docker_ok(&[
        "inspect",
        "-f",
        "{{range .Mounts}}{{.Type}} {{.Name}} {{.Destination}} {{.RW}} {{.Driver}}{{end}}",
        "reader",
    ]);
    assert_eq!(mounts, "volume data /data false local");
    let (code, err) = d.docker_err(&["volume", "rm", "data"]);
    assert_eq!(code, Some(1));
    assert!(err.contains("volume is in use"), "{err}");
    d.kill9();
    d.wait_exit(Duration::from_secs(5));
    d.restart();
    assert_eq!(d.docker_ok(&["exec", "reader", "cat", "/data/f"]), "hi", "mounted through the crash");
    d.docker_ok(&["rm", "-f", "reader", "writer"]);
    assert_eq!(
        d.docker_ok(&["run", "--rm", "-v", "data:/data", "busybox", "cat", "/data/f"]),
        "hi",
        "outlives its containers"
    );
    assert!(d.docker_ok(&["volume", "ls", "-q"]).lines().any(|l| l == "data"));
    assert!(d.docker_ok(&["volume", "ls", "-q", "--filter", "label=k=v"]).lines().any(|l| l == "data"));
    d.docker_ok(&["volume", "rm", "data"]);
    let (_, err) = d.docker_err(&["volume", "inspect", "data"]);
    assert!(err.contains("no such volume"), "{err}");
    assert_converged(&d, &[]);
}

#[test]
fn anonymous_volumes_copy_up_and_rm_v() {
    let mut d = TestDaemon::start(DaemonOpts::new("vol-anon"));
    d.busybox_image();
    // A new volume over a path the image fills gets the image's files.
    let passwd = d.docker_ok(&["run", "--rm", "-v", "etcvol:/etc", "busybox", "cat", "/etc/passwd"]);
    assert!(passwd.contains("root:"), "{passwd}");
    d.docker_ok(&["run", "--name", "anon", "-v", "/scratch", "busybox", "sh", "-c", "echo x > /scratch/y"]);
    let name = d.docker_ok(&["inspect", "-f", "{{range .Mounts}}{{.Name}}{{end}}", "anon"]);
    assert_eq!(name.len(), 64, "an anonymous volume: {name}");
    assert!(d.docker_ok(&["volume", "ls", "-q"]).contains(&name));
    d.docker_ok(&["rm", "-v", "anon"]);
    assert!(!d.docker_ok(&["volume", "ls", "-q"]).contains(&name), "rm -v removes it");
    d.docker_ok(&["run", "--rm", "-v", "/scratch2", "busybox", "true"]);
    assert_eq!(d.docker_ok(&["volume", "ls", "-q"]), "etcvol", "--rm removes anonymous volumes, keeps named ones");
    // prune: anonymous unused ones by default, named ones with -a.
    d.docker_ok(&["create", "--name", "keep", "-v", "/kept", "busybox", "true"]);
    d.docker_ok(&["volume", "create", "spare"]);
    d.docker_ok(&["run", "--name", "gone", "-v", "/gone", "busybox", "true"]);
    d.docker_ok(&["rm", "gone"]);
    let before = d.docker_ok(&["volume", "ls", "-q"]).lines().count();
    d.docker_ok(&["volume", "prune", "-f"]);
    let after: Vec<String> = d.docker_ok(&["volume", "ls", "-q"]).lines().map(String::from).collect();
    assert_eq!(after.len(), before - 1, "only the unused anonymous volume went: {after:?}");
    assert!(after.contains(&"spare".to_string()) && after.contains(&"etcvol".to_string()));
    d.docker_ok(&["volume", "prune", "-af"]);
    let left: Vec<String> = d.docker_ok(&["volume", "ls", "-q"]).lines().map(String::from).collect();
    assert_eq!(left.len(), 1, "only the volume of `keep` (in use) is left: {left:?}");
    d.docker_ok(&["rm", "-v", "keep"]);
    assert_eq!(d.docker_ok(&["volume", "ls", "-q"]), "");
}

#[test]
fn binds_mounts_tmpfs_and_read_only() {
    let mut d = TestDaemon::start(DaemonOpts::new("vol-mounts"));
    d.busybox_image();
    let host = Dir(d.base.join("hostdir"));
    std::fs::create_dir_all(&host.0).unwrap();
    std::fs::write(host.0.join("in"), "from-host\n").unwrap();
    let h = host.0.display().to_string();
    assert_eq!(
        d.docker_ok(&["run", "--rm", "-v", &format!("{h}:/h"), "busybox", "sh", "-c", "cat /h/in; echo back > /h/out"]),
        "from-host"
    );
    assert_eq!(std::fs::read_to_string(host.0.join("out")).unwrap(), "back\n");
    // -v creates a missing host directory; --mount refuses it, in Docker's words.
    let missing = d.base.join("made-by-v");
    d.docker_ok(&["run", "--rm", "-v", &format!("{}:/m", missing.display()), "busybox", "true"]);
    assert!(missing.is_dir());
    let (code, err) =
        d.docker_err(&["run", "--rm", "--mount", "type=bind,source=/nonexistent-berth,target=/x", "busybox", "true"]);
    assert_eq!(code, Some(125));
    assert!(
        err.contains("invalid mount config for type \"bind\": bind source path does not exist: /nonexistent-berth"),
        "{err}"
    );
    let ro = format!("type=bind,source={h},target=/h,readonly");
    assert!(
        d.docker(&["run", "--rm", "--mount", &ro, "busybox", "touch", "/h/x"]).status.code() != Some(0),
        "readonly bind"
    );
    let out = d.docker_ok(&[
        "run",
        "--rm",
        "--mount",
        "type=volume,source=mvol,target=/v",
        "--mount",
        "type=tmpfs,target=/t,tmpfs-size=1048576",
        "busybox",
        "sh",
        "-c",
        "echo ok > /v/f && cat /v/f && grep ' /t ' /proc/mounts",
    ]);
    assert!(out.starts_with("ok\ntmpfs /t tmpfs") && out.contains("size=1024k"), "{out}");
    let out = d.docker_ok(&[
        "run",
        "--rm",
        "--read-only",
        "--tmpfs",
        "/tmp:size=2m",
        "busybox",
        "sh",
        "-c",
        "touch /tmp/ok && echo tmp-ok; touch /nope 2>&1 || echo ro-ok",
    ]);
    assert!(out.contains("tmp-ok") && out.contains("ro-ok"), "{out}");
    let (code, err) = d.docker_err(&["run", "--rm", "-v", "va:/same", "-v", "vb:/same", "busybox", "true"]);
    assert_eq!(code, Some(125));
    assert!(err.contains("Duplicate mount point: /same"), "{err}");
    assert_eq!(d.docker_ok(&["volume", "ls", "-q"]), "mvol", "a refused create leaves no volume behind");
    // docker-py
    let py = d.docker_py("v = c.volumes.create('pyvol', labels={'a': 'b'})\nprint(v.name, c.volumes.get('pyvol').attrs['Labels'])\nprint(sorted(x.name for x in c.volumes.list()))\nv.remove()\nprint(sorted(x.name for x in c.volumes.list()))");
    assert!(py.contains("pyvol {'a': 'b'}") && py.contains("['mvol', 'pyvol']") && py.contains("['mvol']"), "{py}");
    assert_converged(&d, &[]);
}

/// `--volumes-from`: the other container's volumes and binds at the same places, read-only with
/// `:ro`, the container's own mounts winning; tmpfs stays with its owner; a missing source is a 400.
#[test]
fn volumes_from_takes_the_other_containers_mounts() {
    let mut d = TestDaemon::start(DaemonOpts::new("volumes-from"));
    d.busybox_image();
    let host = std::env::temp_dir().join(format!("berth-vfrom-{}", std::process::id()));
    std::fs::create_dir_all(&host).unwrap();
    std::fs::write(host.join("h"), "from-host\n").unwrap();
    let bind = format!("{}:/h", host.display());
    d.docker_ok(&[
        "run",
        "--name",
        "src",
        "-v",
        "data:/data",
        "-v",
        &bind,
        "--tmpfs",
        "/t",
        "busybox",
        "sh",
        "-c",
        "echo kept > /data/f",
    ]);
    let out = d.docker_ok(&[
        "run",
        "--rm",
        "--volumes-from",
        "src",
        "busybox",
        "sh",
        "-c",
        "cat /data/f /h/h; echo more >> /data/f; mountpoint -q /t || echo no-tmpfs",
    ]);
    assert_eq!(out.lines().collect::<Vec<_>>(), ["kept", "from-host", "no-tmpfs"], "{out}");
    let ro = d.docker(&["run", "--rm", "--volumes-from", "src:ro", "busybox", "sh", "-c", "echo x >> /data/f"]);
    assert!(!ro.status.success(), "ro is read-only");
    d.docker_ok(&["create", "--name", "mine", "--volumes-from", "src", "-v", "other:/data", "busybox", "true"]);
    let v = d.inspect("mine");
    assert_eq!(v["HostConfig"]["VolumesFrom"], serde_json::json!(["src"]));
    let mounts = v["Mounts"].as_array().unwrap();
    let at = |dst: &str| mounts.iter().find(|m| m["Destination"] == dst).cloned().unwrap_or_default();
    assert_eq!(at("/data")["Name"], "other", "the container's own mount wins: {mounts:?}");
    assert_eq!(at("/h")["Source"], host.display().to_string());
    let (_, err) = d.docker_err(&["create", "--volumes-from", "nosuch", "busybox", "true"]);
    assert!(err.contains("--volumes-from nosuch") && !err.contains("Unable to find image"), "{err}");
    let (_, err) = d.docker_err(&["create", "--volumes-from", "src:bogus", "busybox", "true"]);
    assert!(err.contains("invalid mode"), "{err}");
    let _ = std::fs::remove_dir_all(&host);
}
