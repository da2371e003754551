//! A build killed at any step leaves, after the restart, no step container, no scratch
//! storage or context, no half-made image or layer, and a cache that still serves the steps
//! that finished (issue 16 point 4).

use berth_tests::{DaemonOpts, TestDaemon};
use std::fs;
use std::path::Path;
use std::time::{Duration, Instant};

fn context(d: &TestDaemon, dockerfile: &str) -> std::path::PathBuf {
    let dir = d.base.join("ctx");
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    fs::write(dir.join("Dockerfile"), dockerfile).unwrap();
    fs::write(dir.join("f.txt"), "f\n").unwrap();
    dir
}

fn spawn_build(d: &TestDaemon, dir: &Path, tag: &str) -> std::process::Child {
    let mut cmd = d.docker_cmd(&["build", "-t", tag, &dir.display().to_string()]);
    cmd.env("DOCKER_BUILDKIT", "0").stdout(std::process::Stdio::null()).stderr(std::process::Stdio::null());
    cmd.spawn().unwrap()
}

fn build_text(d: &TestDaemon, dir: &Path, tag: &str) -> String {
    let mut cmd = d.docker_cmd(&["build", "-t", tag, &dir.display().to_string()]);
    cmd.env("DOCKER_BUILDKIT", "0");
    let o = berth_tests::run_with_timeout(&mut cmd, Duration::from_secs(120));
    let t = berth_tests::output_text(&o);
    assert!(o.status.success(), "{t}\n{}", d.log_tail(30));
    t
}

/// Nothing of an interrupted build is left once the restore is done.
fn assert_clean(d: &TestDaemon) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let ps = d.docker_ok(&["ps", "-aq", "--filter", "label=berth.build"]);
        if ps.is_empty() {
            break;
        }
        assert!(Instant::now() < deadline, "build containers left: {ps}");
        std::thread::sleep(Duration::from_millis(100));
    }
    // The restore sweeps them once it has settled the containers.
    let tmp = d.data_root.join("builder/tmp");
    loop {
        let left: Vec<_> = fs::read_dir(&tmp).map(|r| r.flatten().map(|e| e.file_name()).collect()).unwrap_or_default();
        if left.is_empty() {
            break;
        }
        assert!(Instant::now() < deadline, "contexts or scratch roots left: {left:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
    for drv in ["overlay2", "vfs"] {
        let scratch: Vec<String> = fs::read_dir(d.data_root.join("storage").join(drv))
            .map(|r| r.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect())
            .unwrap_or_default();
        assert!(!scratch.iter().any(|n| n.starts_with("build-")), "scratch storage left: {scratch:?}");
    }
    // Every layer on disk belongs to an image: an unreferenced one would be a half-made step.
    let layers: Vec<String> = fs::read_dir(d.data_root.join("storage/layers"))
        .map(|r| r.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect())
        .unwrap_or_default();
    let mut referenced = std::collections::HashSet::new();
    for id in d.docker_ok(&["images", "-aq", "--no-trunc"]).lines() {
        let img = d.inspect(id);
        let diffs: Vec<String> = serde_json::from_value(img["RootFS"]["Layers"].clone()).unwrap_or_default();
        let mut chain = String::new();
        for diff in diffs {
            chain = if chain.is_empty() {
                diff
            } else {
                berth_tests::archive::digest(format!("{chain} {diff}").as_bytes())
            };
            referenced.insert(chain.trim_start_matches("sha256:").to_string());
        }
    }
    for l in &layers {
        assert!(l.starts_with('.') || referenced.contains(l), "layer {l} belongs to no image");
    }
}

#[test]
fn kill_9_during_a_run_step() {
    let mut d = TestDaemon::start(DaemonOpts::new("bcrash-run").live_restore(true));
    d.busybox_image();
    let dir = context(&d, "FROM busybox\nRUN echo a > /a\nCOPY f.txt /f.txt\nRUN sleep 60\n");
    let mut cli = spawn_build(&d, &dir, "never");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        // One listing: an earlier step's container may be gone by the time it is inspected.
        let cmds = d.docker_ok(&["ps", "--no-trunc", "--filter", "label=berth.build", "--format", "{{.Command}}"]);
        let running_sleep = cmds.contains("sleep 60");
        if running_sleep {
            break;
        }
        assert!(Instant::now() < deadline, "the sleep step never started\n{}", d.log_tail(30));
        std::thread::sleep(Duration::from_millis(50));
    }
    d.kill9();
    d.wait_exit(Duration::from_secs(10));
    let _ = cli.wait();
    d.restart();
    assert_clean(&d);
    assert!(!d.docker(&["image", "inspect", "never"]).status.success());
    // The finished steps are cached; the rest builds now.
    fs::write(dir.join("Dockerfile"), "FROM busybox\nRUN echo a > /a\nCOPY f.txt /f.txt\nRUN true\n").unwrap();
    let out = build_text(&d, &dir, "now");
    assert_eq!(out.matches("Using cache").count(), 2, "{out}");
    assert_eq!(d.docker_ok(&["run", "--rm", "now", "cat", "/a", "/f.txt"]), "a\nf");
}

/// The named points: a COPY's layer published but no image yet, a RUN's container exited but
/// not committed.
#[test]
fn crash_points_inside_a_build_converge() {
    for point in ["build.after-layer", "build.after-run"] {
        let mut d = TestDaemon::start(DaemonOpts::new("bcrash-points").live_restore(true));
        d.busybox_image();
        let dir = context(&d, "FROM busybox\nCOPY f.txt /f.txt\nRUN echo r > /r\n");
        d.term();
        d.wait_exit(Duration::from_secs(10));
        d.opts.env = vec![("BERTH_CRASH_AT".into(), point.into())];
        d.restart();
        let mut cmd = d.docker_cmd(&["build", "-t", "x", &dir.display().to_string()]);
        cmd.env("DOCKER_BUILDKIT", "0");
        let o = berth_tests::run_with_timeout(&mut cmd, Duration::from_secs(60));
        assert!(!o.status.success(), "{point}: the build should have lost its daemon");
        let st = d.wait_exit(Duration::from_secs(10)).expect("died at the point");
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(st.signal(), Some(9), "{point}");
        assert!(d.log_text().contains(&format!("crash point {point}")));
        d.opts.env.clear();
        d.restart();
        assert_clean(&d);
        build_text(&d, &dir, "x");
        assert_eq!(d.docker_ok(&["run", "--rm", "x", "cat", "/f.txt", "/r"]), "f\nr", "{point}");
    }
}
