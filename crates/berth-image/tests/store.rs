//! The image store: import, resolve, tag, rmi semantics, persistence.

mod common;

use berth_image::{ContainerUse, DeleteItem, ImageStore, ImportOptions};
use common::{busybox_tar, gzip, no_users, Tar, TempDir};
use std::fs;

fn import(store: &ImageStore, tar: &[u8], reference: Option<&str>) -> String {
    store.import(tar, ImportOptions { reference: reference.map(String::from), ..Default::default() }).unwrap()
}

fn small_tar(marker: &str) -> Vec<u8> {
    let mut t = Tar::default();
    t.dir("etc/").file("etc/marker", marker.as_bytes()).symlink("etc/alias", "marker").dir("usr/bin/");
    t.finish()
}

#[test]
fn import_busybox_and_resolve_every_way() {
    let tmp = TempDir::new("import");
    let store = ImageStore::open(tmp.path()).unwrap();
    let tar = busybox_tar();
    let id = store
        .import(
            gzip(&tar).as_slice(),
            ImportOptions {
                reference: Some("busybox".into()),
                changes: vec!["CMD [\"sh\"]".into(), "ENV PATH=/bin".into()],
                message: None,
            },
        )
        .unwrap();
    assert!(id.starts_with("sha256:") && id.len() == 71);
    let hex = &id[7..];
    // The id is the sha256 of the stored config blob.
    let blob = fs::read(tmp.path().join("image/blobs/sha256").join(hex)).unwrap();
    assert_eq!(berth_image::sha256_digest(&blob), id);

    for r in ["busybox", "busybox:latest", "docker.io/library/busybox:latest", id.as_str(), hex, &hex[..12], &hex[..1]]
    {
        assert_eq!(store.resolve(r).unwrap().id, id, "resolving {r}");
    }
    let info = store.resolve("busybox").unwrap();
    assert_eq!(info.repo_tags, vec!["busybox:latest"]);
    assert_eq!(info.config.config.cmd.as_deref(), Some(&["sh".to_string()][..]));
    assert_eq!(info.config.os, "linux");
    assert_eq!(info.config.comment.as_deref(), Some("Imported from -"));
    assert_eq!(info.config.rootfs.diff_ids.len(), 1);
    assert!(info.size > 1_000_000, "busybox binary counted: {}", info.size);
    assert!(info.created_unix() > 1_700_000_000);

    let dirs = store.layer_dirs("busybox").unwrap();
    assert_eq!(dirs.len(), 1);
    assert!(dirs[0].starts_with(tmp.path().join("storage/layers")));
    assert!(dirs[0].join("bin/busybox").is_file());
    assert_eq!(fs::read_link(dirs[0].join("bin/sh")).unwrap().to_str(), Some("busybox"));
    let md = fs::metadata(dirs[0].join("tmp")).unwrap();
    assert_eq!(std::os::unix::fs::PermissionsExt::mode(&md.permissions()) & 0o7777, 0o1777);
    assert!(fs::read_to_string(dirs[0].join("etc/passwd")).unwrap().contains("nobody:x:65534:65534"));

    for missing in ["nope", "nope:1", "sha256:0000000000000000000000000000000000000000000000000000000000000000"] {
        let err = store.resolve(missing).unwrap_err();
        assert!(err.is_not_found(), "{missing}: {err}");
    }
    assert_eq!(store.resolve("nope").unwrap_err().to_string(), "No such image: nope:latest");
    assert!(store.resolve("Bad:Ref").unwrap_err().is_invalid_input());

    // Reopening finds everything again.
    drop(store);
    let store = ImageStore::open(tmp.path()).unwrap();
    assert_eq!(store.resolve("busybox").unwrap(), info);
    assert_eq!(store.list().len(), 1);
}

#[test]
fn same_content_shares_the_layer_and_prefixes_can_be_ambiguous() {
    let tmp = TempDir::new("share");
    let store = ImageStore::open(tmp.path()).unwrap();
    let tar = small_tar("one");
    let mut ids = Vec::new();
    for i in 0..20 {
        ids.push(import(&store, &tar, Some(&format!("img{i}"))));
    }
    let layers: Vec<_> = fs::read_dir(tmp.path().join("storage/layers")).unwrap().collect();
    assert_eq!(layers.len(), 1, "one layer for identical content");
    assert_eq!(store.layer_dirs("img0").unwrap(), store.layer_dirs("img19").unwrap());
    // 20 ids over 16 first hex digits: some one-digit prefix is shared by two.
    let hexes: Vec<char> = ids.iter().map(|i| i.chars().nth(7).unwrap()).collect();
    let dup = hexes.iter().find(|c| hexes.iter().filter(|d| d == c).count() > 1).unwrap();
    let err = store.resolve(&dup.to_string()).unwrap_err();
    assert!(err.is_not_found(), "ambiguous prefix: {err}");
}

#[test]
fn tag_list_and_remove_like_docker() {
    let tmp = TempDir::new("rmi");
    let store = ImageStore::open(tmp.path()).unwrap();
    let id = import(&store, &small_tar("a"), Some("app:v1"));
    store.tag("app:v1", "app:v2").unwrap();
    store.tag(&id, "other").unwrap();
    assert!(store.tag("missing", "x").unwrap_err().is_not_found());
    assert!(store.tag("app:v1", "UPPER").unwrap_err().is_invalid_input());
    assert_eq!(store.resolve("other").unwrap().repo_tags, vec!["app:v1", "app:v2", "other:latest"]);

    // By id with several tags: Docker's soft conflict unless forced.
    let err = store.remove(&id[7..19], false, &no_users).unwrap_err();
    assert!(err.is_conflict());
    assert_eq!(
        err.to_string(),
        format!(
            "conflict: unable to delete {} (must be forced) - image is referenced in multiple repositories",
            &id[7..19]
        )
    );

    // By tag: untag only while other tags remain.
    assert_eq!(store.remove("app:v2", false, &no_users).unwrap(), vec![DeleteItem::Untagged("app:v2".into())]);
    assert_eq!(store.remove("other", false, &no_users).unwrap(), vec![DeleteItem::Untagged("other:latest".into())]);

    // A stopped container using it: removing the last tag needs force.
    let stopped = |_: &str| vec![ContainerUse { id: "c".repeat(64), running: false }];
    let err = store.remove("app:v1", false, &stopped).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "conflict: unable to remove repository reference \"app:v1\" (must force) - container cccccccccccc is using its referenced image {}",
            &id[7..19]
        )
    );
    let chain = store.resolve(&id).unwrap().chain_ids[0].clone();
    let err = store.remove(&id, false, &stopped).unwrap_err();
    assert!(err.to_string().ends_with("image is being used by stopped container cccccccccccc"), "{err}");
    let running = |_: &str| vec![ContainerUse { id: "d".repeat(64), running: true }];
    let err = store.remove(&id, true, &running).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "conflict: unable to delete {} (cannot be forced) - image is being used by running container dddddddddddd",
            &id[7..19]
        )
    );
    // Forced by name with a running container: untagged only, image stays.
    assert_eq!(store.remove("app:v1", true, &running).unwrap(), vec![DeleteItem::Untagged("app:v1".into())]);
    assert!(store.resolve(&id).unwrap().repo_tags.is_empty());

    // Last: by id, nobody using it: image and layer deleted.
    let items = store.remove(&id, false, &no_users).unwrap();
    assert_eq!(items, vec![DeleteItem::Deleted(id.clone()), DeleteItem::Deleted(chain.clone())]);
    assert!(store.resolve(&id).unwrap_err().is_not_found());
    assert!(!tmp.path().join("storage/layers").join(&chain[7..]).exists());
    assert!(!tmp.path().join("image/blobs/sha256").join(&id[7..]).exists());
    assert!(store.remove(&id, false, &no_users).unwrap_err().is_not_found());
    assert!(store.list().is_empty());
}

#[test]
fn removing_one_tag_by_name_deletes_the_image_and_keeps_shared_layers() {
    let tmp = TempDir::new("rmi2");
    let store = ImageStore::open(tmp.path()).unwrap();
    let tar = small_tar("shared");
    let a = import(&store, &tar, Some("a"));
    let b = import(&store, &tar, Some("b"));
    assert_ne!(a, b, "created times differ");
    let items = store.remove("a", false, &no_users).unwrap();
    assert_eq!(items, vec![DeleteItem::Untagged("a:latest".into()), DeleteItem::Deleted(a.clone())]);
    assert!(store.layer_dirs("b").unwrap()[0].join("etc/marker").is_file(), "layer still used by b");
    let items = store.remove("b", false, &no_users).unwrap();
    assert_eq!(items.len(), 3, "untag, image, layer: {items:?}");
    // The repositories file is Docker's shape.
    let repos: serde_json::Value =
        serde_json::from_slice(&fs::read(tmp.path().join("image/repositories.json")).unwrap()).unwrap();
    assert_eq!(repos, serde_json::json!({"Repositories": {}}));
}

#[test]
fn invalid_change_fails_before_reading_anything() {
    let tmp = TempDir::new("badchange");
    let store = ImageStore::open(tmp.path()).unwrap();
    let err = store
        .import(&small_tar("x")[..], ImportOptions { changes: vec!["RUN rm -rf /".into()], ..Default::default() })
        .unwrap_err();
    assert!(err.is_invalid_input());
    assert_eq!(err.to_string(), "RUN is not a valid change command");
    assert!(store.list().is_empty());
    assert_eq!(fs::read_dir(tmp.path().join("storage/layers")).unwrap().count(), 0);
}

#[test]
fn failed_import_leaves_no_layer() {
    let tmp = TempDir::new("failimport");
    let store = ImageStore::open(tmp.path()).unwrap();
    let mut t = Tar::default();
    t.file("ok", b"1").file("../escape", b"2");
    assert!(store.import(&t.finish()[..], ImportOptions::default()).unwrap_err().is_invalid_input());
    assert_eq!(fs::read_dir(tmp.path().join("storage/layers")).unwrap().count(), 0, "temp dir cleaned up");
}

#[test]
fn concurrent_imports_from_threads() {
    let tmp = TempDir::new("threads");
    let store = std::sync::Arc::new(ImageStore::open(tmp.path()).unwrap());
    let handles: Vec<_> = (0..4)
        .map(|i| {
            let store = store.clone();
            std::thread::spawn(move || {
                let tar = small_tar(if i % 2 == 0 { "even" } else { "odd" });
                import(&store, &tar, Some(&format!("t{i}")))
            })
        })
        .collect();
    let ids: Vec<String> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    for (i, id) in ids.iter().enumerate() {
        assert_eq!(&store.resolve(&format!("t{i}")).unwrap().id, id);
    }
    assert_eq!(fs::read_dir(tmp.path().join("storage/layers")).unwrap().count(), 2);
}
