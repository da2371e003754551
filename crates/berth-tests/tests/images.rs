//! Images: `docker import` with Dockerfile changes, listing, tags, removal and inspect.

use berth_tests::{busybox_tar_path, DaemonOpts, TestDaemon};
use serde_json::json;

#[test]
fn import_with_changes_sets_the_image_config() {
    let mut d = TestDaemon::start(DaemonOpts::new("img-import"));
    let bb = d.busybox_image();
    assert!(bb.starts_with("sha256:") && bb.len() == 71, "import prints the image id: {bb}");
    let tar = busybox_tar_path();
    let id = d.import_image(&tar, "cmdimg:v1", &[r#"CMD ["echo","from-cmd"]"#, "ENV A=1 B=2", "WORKDIR /srv"]);
    assert!(id.starts_with("sha256:"), "{id}");
    assert_eq!(d.docker_ok(&["run", "--rm", "cmdimg:v1"]), "from-cmd");
    assert_eq!(d.docker_ok(&["run", "--rm", "cmdimg:v1", "sh", "-c", "echo $A $B; pwd"]), "1 2\n/srv");

    let v = d.inspect("cmdimg:v1");
    assert_eq!(v["Id"], id.as_str());
    assert_eq!(v["RepoTags"], json!(["cmdimg:v1"]));
    assert_eq!(v["Config"]["Cmd"], json!(["echo", "from-cmd"]));
    let env: Vec<&str> = v["Config"]["Env"].as_array().unwrap().iter().filter_map(|e| e.as_str()).collect();
    assert!(env.contains(&"A=1") && env.contains(&"B=2"), "Env {env:?}");
    assert_eq!(v["Config"]["WorkingDir"], "/srv");
    assert_eq!(v["Os"], "linux");
    assert_eq!(v["Architecture"], "amd64");
    assert_eq!(v["RootFS"]["Type"], "layers");
    assert_eq!(v["RootFS"]["Layers"].as_array().map(Vec::len), Some(1));
    assert!(v["Size"].as_i64().unwrap_or(0) > 500_000, "Size {}", v["Size"]);
    // Same tarball, same layer: the diff id does not depend on the changes.
    assert_eq!(v["RootFS"]["Layers"], d.inspect("busybox")["RootFS"]["Layers"]);

    d.import_image(&tar, "epimg", &[r#"ENTRYPOINT ["echo","ep"]"#]);
    assert_eq!(d.docker_ok(&["run", "--rm", "epimg", "x", "y"]), "ep x y");
    assert_eq!(d.docker_ok(&["run", "--rm", "--entrypoint", "echo", "epimg", "over"]), "over");
}

#[test]
fn images_tag_rmi_and_inspect() {
    let mut d = TestDaemon::start(DaemonOpts::new("img-tags"));
    let bb = d.busybox_image();
    let listed = d.docker_ok(&["images", "--format", "{{.Repository}}:{{.Tag}}"]);
    assert!(listed.lines().any(|l| l == "busybox:latest"), "{listed}");
    d.docker_ok(&["tag", "busybox:latest", "mybox:1"]);
    assert_eq!(d.docker_ok(&["image", "inspect", "-f", "{{.Id}}", "mybox:1"]), bb);
    let tags = d.inspect("busybox")["RepoTags"].clone();
    let mut tags: Vec<String> = serde_json::from_value(tags).unwrap();
    tags.sort();
    assert_eq!(tags, ["busybox:latest", "mybox:1"]);
    assert_eq!(d.docker_ok(&["images", "-q", "--no-trunc", "mybox"]), bb);

    let out = d.docker_ok(&["rmi", "mybox:1"]);
    assert!(out.contains("Untagged: mybox:1"), "{out}");
    assert!(!out.contains("Deleted"), "another tag still holds the image: {out}");
    assert_eq!(d.docker_ok(&["image", "inspect", "-f", "{{.Id}}", "busybox"]), bb);

    let (code, err) = d.docker_err(&["image", "inspect", "nope:1"]);
    assert_eq!(code, Some(1));
    assert!(err.contains("No such image: nope:1"), "{err}");

    // An image a container uses cannot be removed without force.
    d.docker_ok(&["create", "--name", "user", "busybox", "true"]);
    let (_, err) = d.docker_err(&["rmi", "busybox"]);
    assert!(err.to_lowercase().contains("conflict"), "{err}");
    d.docker_ok(&["rm", "user"]);
    let out = d.docker_ok(&["rmi", "busybox"]);
    assert!(out.contains("Untagged: busybox:latest") && out.contains(&format!("Deleted: {bb}")), "{out}");
    assert_eq!(d.docker_ok(&["images", "-q"]), "");
}
