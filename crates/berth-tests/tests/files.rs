//! A container's files through the docker CLI (issue 3): `cp` both ways, running and stopped,
//! into volumes, and safe against symlinks the container plants; `export`; `diff` on overlay2
//! and vfs.

use berth_tests::{DaemonOpts, TestDaemon};
use std::fs;

fn tar_names(tar: &[u8]) -> Vec<String> {
    let mut ar = tar::Archive::new(tar);
    ar.entries().unwrap().map(|e| e.unwrap().path().unwrap().display().to_string()).collect()
}

#[test]
fn cp_both_ways_and_never_through_a_planted_symlink() {
    let mut d = TestDaemon::start(DaemonOpts::new("files-cp"));
    d.busybox_image();
    let host = d.base.join("hostside");
    fs::create_dir_all(&host).unwrap();
    fs::write(host.join("SECRET"), "host secret").unwrap();
    // The container points symlinks at the host directory's path: inside its root that path
    // does not exist, and it must stay that way for every copy.
    let plant = format!(
        "mkdir -p /data/sub && echo hi > /data/sub/f && ln -sfn {h} /data/out && ln -sfn / /data/up && exec sleep 1000",
        h = host.display()
    );
    d.run_detached(&["--name", "cpc", "-v", "cpvol:/vol", "busybox", "sh", "-c", &plant]);
    std::thread::sleep(std::time::Duration::from_millis(400));
    let out = d.base.join("out");
    fs::create_dir_all(&out).unwrap();
    // Out: a file, then a whole directory.
    d.docker_ok(&["cp", "cpc:/data/sub/f", out.join("f").to_str().unwrap()]);
    assert_eq!(fs::read_to_string(out.join("f")).unwrap(), "hi\n");
    d.docker_ok(&["cp", "cpc:/data", out.to_str().unwrap()]);
    assert_eq!(fs::read_to_string(out.join("data/sub/f")).unwrap(), "hi\n");
    assert_eq!(fs::read_link(out.join("data/out")).unwrap(), host, "a symlink is copied as a link");
    // Out through planted links: the container's root, never the host's.
    let (code, err) = d.docker_err(&["cp", "cpc:/data/out/SECRET", out.join("leak").to_str().unwrap()]);
    assert_eq!(code, Some(1));
    assert!(err.contains("Could not find the file"), "{err}");
    assert!(!out.join("leak").exists());
    d.docker_ok(&["cp", "cpc:/data/up/etc/hostname", out.join("hn").to_str().unwrap()]);
    assert_eq!(fs::read_to_string(out.join("hn")).unwrap().trim(), d.docker_ok(&["exec", "cpc", "hostname"]));
    // In: a file, and into a directory reached through a planted link.
    fs::write(out.join("in.txt"), "from the host").unwrap();
    d.docker_ok(&["cp", out.join("in.txt").to_str().unwrap(), "cpc:/data/sub/"]);
    assert_eq!(d.docker_ok(&["exec", "cpc", "cat", "/data/sub/in.txt"]), "from the host");
    assert_eq!(
        d.docker_ok(&["exec", "cpc", "stat", "-c", "%u:%g", "/data/sub/in.txt"]),
        "0:0",
        "owned by the container's root"
    );
    let _ = d.docker(&["cp", out.join("in.txt").to_str().unwrap(), "cpc:/data/out/"]);
    assert_eq!(fs::read_dir(&host).unwrap().count(), 1, "nothing written into the host directory");
    assert_eq!(fs::read_to_string(host.join("SECRET")).unwrap(), "host secret");
    // Into a volume of the running container, then of the stopped one.
    d.docker_ok(&["cp", out.join("in.txt").to_str().unwrap(), "cpc:/vol/a.txt"]);
    d.docker_ok(&["stop", "-t", "0", "cpc"]);
    d.docker_ok(&["cp", out.join("in.txt").to_str().unwrap(), "cpc:/vol/b.txt"]);
    d.docker_ok(&["cp", "cpc:/data/sub/in.txt", out.join("stopped.txt").to_str().unwrap()]);
    assert_eq!(fs::read_to_string(out.join("stopped.txt")).unwrap(), "from the host");
    d.docker_ok(&["start", "cpc"]);
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert_eq!(d.docker_ok(&["exec", "cpc", "ls", "/vol"]), "a.txt\nb.txt");
    let (_, err) = d.docker_err(&["cp", "nosuch:/x", out.to_str().unwrap()]);
    assert!(err.contains("No such container: nosuch"), "{err}");
    d.docker_ok(&["rm", "-f", "-v", "cpc"]);
    d.docker_ok(&["volume", "rm", "cpvol"]);
}

#[test]
fn export_writes_the_whole_filesystem() {
    let mut d = TestDaemon::start(DaemonOpts::new("files-export"));
    d.busybox_image();
    d.docker_ok(&["run", "--name", "ex", "busybox", "sh", "-c", "mkdir /made && echo x > /made/here"]);
    let tarfile = d.base.join("ex.tar");
    d.docker_ok(&["export", "-o", tarfile.to_str().unwrap(), "ex"]);
    let names = tar_names(&fs::read(&tarfile).unwrap());
    assert!(names.iter().any(|n| n == "made/here"), "{names:?}");
    assert!(names.iter().any(|n| n == "bin/busybox"), "{names:?}");
    // The container is stopped: its rootfs was mounted for the export only.
    let merged =
        d.data_root.join("storage/overlay2").join(d.docker_ok(&["inspect", "-f", "{{.Id}}", "ex"])).join("merged");
    assert!(!berth_tests::is_mountpoint(&merged), "unmounted again");
    // An export imports as an image that runs.
    d.docker_ok(&["import", tarfile.to_str().unwrap(), "exported:1"]);
    assert_eq!(d.docker_ok(&["run", "--rm", "exported:1", "cat", "/made/here"]), "x");
    d.docker_ok(&["rm", "ex"]);
}

fn diff_case(driver: &str) {
    let mut d = TestDaemon::start(DaemonOpts::new(&format!("files-diff-{driver}")).storage_driver(driver));
    d.busybox_image();
    d.run_detached(&["--name", "df", "busybox", "sleep", "1000"]);
    d.docker_ok(&[
        "exec",
        "df",
        "sh",
        "-c",
        "mkdir -p /new/dir && echo a > /new/dir/f && echo more >> /etc/passwd && rm /bin/cat",
    ]);
    let out = d.docker_ok(&["diff", "df"]);
    let want = ["C /bin", "D /bin/cat", "C /etc", "C /etc/passwd", "A /new", "A /new/dir", "A /new/dir/f"];
    for w in want {
        assert!(out.lines().any(|l| l == w), "{driver}: {w} missing in:\n{out}");
    }
    assert!(
        !out.contains("/etc/hosts") && !out.contains("/etc/resolv.conf"),
        "the daemon's own files are not changes: {out}"
    );
    d.docker_ok(&["stop", "-t", "0", "df"]);
    assert_eq!(d.docker_ok(&["diff", "df"]), out, "{driver}: the same when stopped");
    d.docker_ok(&["rm", "df"]);
}

#[test]
fn diff_on_overlay2() {
    diff_case("overlay2");
}

#[test]
fn diff_on_vfs() {
    diff_case("vfs");
}
