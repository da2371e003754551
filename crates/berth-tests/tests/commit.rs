//! `docker commit` through the real docker CLI (issue 16 point 6): changes, message and author,
//! the parent chain as inspect, history, `images [-a]`, `rmi` (cascade, `--no-prune`, the child
//! conflict) and save/load show it, and a running container paused for the time of a commit.

use berth_tests::{DaemonOpts, TestDaemon};
use serde_json::json;

/// Now, as `docker events --since/--until` takes it (seconds with nanoseconds).
fn now() -> String {
    let t = chrono::Utc::now();
    format!("{}.{:09}", t.timestamp(), t.timestamp_subsec_nanos())
}

/// The pause, unpause and commit events of container `rr` between `since` and `until`.
fn commit_events(d: &TestDaemon, since: &str, until: &str) -> Vec<String> {
    let out = d.docker_ok(&[
        "events",
        "--since",
        since,
        "--until",
        until,
        "--filter",
        "container=rr",
        "--format",
        "{{.Action}}",
    ]);
    out.lines().filter(|a| ["pause", "unpause", "commit"].contains(a)).map(String::from).collect()
}

fn ids(out: &str) -> Vec<String> {
    let mut v: Vec<String> = out.lines().map(|l| l.trim().to_string()).filter(|l| !l.is_empty()).collect();
    v.sort();
    v
}

#[test]
fn commit_records_changes_and_parents_as_dockerd() {
    let mut d = TestDaemon::start(DaemonOpts::new("commit-parents"));
    let bb = d.busybox_image();
    d.docker_ok(&["run", "--name", "c1", "busybox", "sh", "-c", "echo hi > /hello; rm /bin/ls"]);
    let c1 = d.inspect("c1")["Id"].as_str().unwrap().to_string();
    let mid = d.docker_ok(&[
        "commit",
        "-c",
        r#"CMD ["cat", "/hello"]"#,
        "-c",
        "EXPOSE 80",
        "-m",
        "first",
        "-a",
        "Me <me@example.com>",
        "c1",
        "mid:1",
    ]);
    assert!(mid.starts_with("sha256:") && mid.len() == 71, "commit prints the id: {mid}");
    assert_eq!(d.docker_ok(&["run", "--rm", "mid:1"]), "hi");
    assert_eq!(d.docker_ok(&["run", "--rm", "mid:1", "sh", "-c", "test -e /bin/ls || echo gone"]), "gone");
    let v = d.inspect("mid:1");
    assert_eq!(v["Id"], mid.as_str());
    assert_eq!(v["Parent"], bb.as_str());
    assert_eq!(v["Comment"], "first");
    assert_eq!(v["Author"], "Me <me@example.com>");
    assert_eq!(v["Config"]["Cmd"], json!(["cat", "/hello"]));
    assert_eq!(v["Config"]["ExposedPorts"], json!({"80/tcp": {}}));
    assert_eq!(v["RootFS"]["Layers"].as_array().map(Vec::len), Some(2));
    assert_eq!(d.inspect("busybox")["Parent"], "", "an imported image has no parent");
    // The history line is the container's command; the rows carry the chain's ids.
    let hist = d.docker_ok(&["history", "--no-trunc", "--format", "{{.ID}}|{{.CreatedBy}}|{{.Comment}}", "mid:1"]);
    let rows: Vec<&str> = hist.lines().collect();
    assert_eq!(rows[0], format!("{mid}|sh -c echo hi > /hello; rm /bin/ls|first"), "{hist}");
    assert!(rows[1].starts_with(&format!("{bb}|")), "{hist}");
    let _ = c1;

    // A child of the committed image; then the committed image loses its tag.
    d.docker_ok(&["run", "--name", "c2", "mid:1", "sh", "-c", "echo two > /two"]);
    let top = d.docker_ok(&["commit", "c2"]);
    d.docker_ok(&["rm", "c2"]);
    let untag = d.docker_ok(&["rmi", "mid:1"]);
    assert_eq!(untag, "Untagged: mid:1", "only untagged: it has a child");
    // Without -a the untagged parent is an intermediate image, hidden; dangling is the top.
    let listed = ids(&d.docker_ok(&["images", "-q", "--no-trunc"]));
    assert!(listed.contains(&top) && listed.contains(&bb) && !listed.contains(&mid), "{listed:?}");
    let all = ids(&d.docker_ok(&["images", "-a", "-q", "--no-trunc"]));
    assert!(all.contains(&mid), "{all:?}");
    assert_eq!(ids(&d.docker_ok(&["images", "-q", "--no-trunc", "-f", "dangling=true"])), vec![top.clone()]);
    let rows = d.docker_ok(&["history", "-q", "--no-trunc", &top]);
    assert_eq!(rows.lines().collect::<Vec<_>>(), [top.as_str(), mid.as_str(), bb.as_str()]);

    // An image with children cannot go, forced or not.
    for args in [vec!["rmi", mid.as_str()], vec!["rmi", "-f", mid.as_str()]] {
        let (code, err) = d.docker_err(&args);
        assert_eq!(code, Some(1));
        assert!(
            err.contains(&format!(
                "unable to delete {} (cannot be forced) - image has dependent child images",
                &mid[7..19]
            )),
            "{err}"
        );
    }

    // Saved, removed and loaded back: the same id.
    let archive = d.data_root.join("top.tar");
    d.docker_ok(&["tag", &top, "top:1"]);
    d.docker_ok(&["save", "-o", archive.to_str().unwrap(), "top:1"]);
    d.docker_ok(&["rm", "c1"]);
    // --no-prune keeps the untagged parent.
    let out = d.docker_ok(&["rmi", "--no-prune", "top:1"]);
    assert!(out.contains(&format!("Deleted: {top}")) && !out.contains(&mid), "{out}");
    assert!(ids(&d.docker_ok(&["images", "-a", "-q", "--no-trunc"])).contains(&mid));
    let loaded = d.docker_ok(&["load", "-i", archive.to_str().unwrap()]);
    assert!(loaded.contains("top:1"), "{loaded}");
    assert_eq!(d.inspect("top:1")["Id"], top.as_str(), "a loaded image keeps its id");
    assert_eq!(d.inspect("top:1")["Parent"], "", "a loaded image has no recorded parent");

    // A cascade: removing a child takes its untagged parent along, not the tagged busybox.
    d.docker_ok(&["run", "--name", "c3", &mid, "touch", "/three"]);
    let third = d.docker_ok(&["commit", "c3", "third"]);
    d.docker_ok(&["rm", "c3"]);
    let out = d.docker_ok(&["rmi", "third"]);
    assert!(out.contains(&format!("Deleted: {third}")) && out.contains(&format!("Deleted: {mid}")), "{out}");
    assert!(!out.contains(&format!("Deleted: {bb}")), "{out}");
    assert_eq!(d.inspect("busybox")["Id"], bb.as_str());
}

#[test]
fn a_running_container_is_paused_during_its_commit() {
    let mut d = TestDaemon::start(DaemonOpts::new("commit-running"));
    d.busybox_image();
    d.run_detached(&[
        "--name",
        "rr",
        "-v",
        "/data",
        "busybox",
        "sh",
        "-c",
        "echo v > /data/f; echo l > /l; sleep 1000",
    ]);
    berth_tests::wait_until(std::time::Duration::from_secs(5), || {
        d.docker(&["exec", "rr", "cat", "/l"]).status.success()
    });
    let since = now();
    let img = d.docker_ok(&["commit", "rr", "running:1"]);
    let until = now();
    assert_eq!(d.inspect("rr")["State"]["Status"], "running", "running again after the commit");
    assert_eq!(commit_events(&d, &since, &until), ["pause", "unpause", "commit"]);
    // The container's own layer only: a volume's content is never in the image.
    let out = d.docker_ok(&["run", "--rm", "--entrypoint", "sh", &img, "-c", "cat /l; ls -A /data | wc -l"]);
    assert_eq!(out, "l\n0");

    // --pause=false: no pause around it.
    let since = now();
    d.docker_ok(&["commit", "--pause=false", "rr", "running:2"]);
    assert_eq!(commit_events(&d, &since, &now()), ["commit"]);

    // dockerd's answers for what it refuses.
    let (code, err) = d.docker_err(&["commit", "nosuch"]);
    assert!(code == Some(1) && err.contains("No such container: nosuch"), "{err}");
    let (code, err) = d.docker_err(&["commit", "-c", "RUN true", "rr"]);
    assert!(code == Some(1) && err.contains("RUN is not a valid change command"), "{err}");
    let r = d.api_post("/commit?container=rr&squash=1", "{}");
    assert_eq!(r.status, 400, "{}", r.text());
    assert!(r.text().contains("squash"), "{}", r.text());
}
