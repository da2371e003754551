//! `layer_from_container` and `create_child` on both drivers: the layer a container's changes
//! make, stacked again, shows what the container saw; parents are recorded and pruned.

mod common;

use berth_image::{driver, ChildImage, History, ImageConfig, ImageStore, RootFs, StorageDriver, EMPTY_LAYER_DIFF_ID};
use common::{no_users, Tar, TempDir};
use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

struct Ctr<'a>(&'a dyn StorageDriver, &'static str);
impl Drop for Ctr<'_> {
    fn drop(&mut self) {
        let _ = self.0.remove(self.1);
    }
}

/// Every path under `root` with its type, mode, owner, content or target, and user xattr.
fn view(root: &Path) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, String>) {
        for e in fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            let md = fs::symlink_metadata(&p).unwrap();
            let what = if md.is_dir() {
                "dir".to_string()
            } else if md.file_type().is_symlink() {
                format!("-> {}", fs::read_link(&p).unwrap().display())
            } else {
                format!("{:?} links={}", fs::read_to_string(&p).unwrap_or_default(), md.nlink())
            };
            let x = xattr::get(&p, "user.berth").ok().flatten().map(|v| String::from_utf8_lossy(&v).into_owned());
            let rel = p.strip_prefix(root).unwrap().display().to_string();
            out.insert(rel, format!("{what} {:o} {}:{} {x:?}", md.mode() & 0o7777, md.uid(), md.gid()));
            if md.is_dir() {
                walk(root, &p, out);
            }
        }
    }
    walk(root, root, &mut out);
    out
}

fn base_image(store: &ImageStore) -> (String, PathBuf) {
    let mut t = Tar::default();
    t.dir("etc/").file("etc/keep", b"k").file("gone", b"g").dir("opq/").file("opq/old", b"o");
    t.dir("dir/").file("dir/a", b"a").file("dir/b", b"b").dir("proc/");
    let l = store.add_layer(&t.finish()[..], None).unwrap();
    let config = ImageConfig {
        architecture: "amd64".into(),
        os: "linux".into(),
        rootfs: RootFs { kind: "layers".into(), diff_ids: vec![l.diff_id.clone()] },
        history: vec![History { created_by: Some("base".into()), ..Default::default() }],
        ..Default::default()
    };
    let id = store.create_image(config, Some("base")).unwrap();
    (id, l.diff_dir)
}

/// What a container does to its rootfs: a deletion, a directory replaced (opaque), a new file
/// with an xattr and a second name, an owner/mode change, and the daemon's mount points.
fn change(root: &Path) {
    fs::remove_file(root.join("gone")).unwrap();
    fs::remove_dir_all(root.join("opq")).unwrap();
    fs::create_dir(root.join("opq")).unwrap();
    fs::write(root.join("opq/new"), b"n").unwrap();
    fs::write(root.join("dir/new"), b"hello").unwrap();
    xattr::set(root.join("dir/new"), "user.berth", b"x1").unwrap();
    fs::hard_link(root.join("dir/new"), root.join("dir/link")).unwrap();
    std::os::unix::fs::chown(root.join("dir/a"), Some(1000), Some(1001)).unwrap();
    fs::set_permissions(root.join("dir/b"), fs::Permissions::from_mode(0o600)).unwrap();
    std::os::unix::fs::symlink("/etc/keep", root.join("sym")).unwrap();
    // What the runtime makes for the daemon's bind mounts: never part of a commit.
    fs::write(root.join("etc/hosts"), b"").unwrap();
    fs::create_dir_all(root.join("dev/pts")).unwrap();
}

fn names_in(store: &ImageStore, chain: &str) -> Vec<String> {
    let (_, write) = store.layer_tarball(chain).unwrap();
    let mut tarball = Vec::new();
    write(&mut tarball).unwrap();
    let mut ar = tar::Archive::new(&tarball[..]);
    ar.entries().unwrap().map(|e| e.unwrap().path().unwrap().display().to_string()).collect()
}

/// A store with the base image and a driver: (dir, store, base id, driver, base's layers).
fn setup(tag: &str, driver_name: &str) -> (TempDir, ImageStore, String, Box<dyn StorageDriver>, Vec<PathBuf>) {
    let tmp = TempDir::new(&format!("{tag}-{driver_name}"));
    let store = ImageStore::open(tmp.path()).unwrap();
    let (base, _) = base_image(&store);
    let d = driver(driver_name, tmp.path()).unwrap();
    let layers = store.layer_dirs(&base).unwrap();
    (tmp, store, base, d, layers)
}

fn commit_roundtrip(driver_name: &str) {
    let (_tmp, store, base, d, layers) = setup("commit", driver_name);
    let _c = Ctr(d.as_ref(), "c1");
    d.create("c1", &layers).unwrap();
    let root = d.mount("c1").unwrap();
    change(&root);
    let mut want = view(&root);
    want.remove("etc/hosts");
    want.remove("dev");
    want.remove("dev/pts");
    d.unmount("c1").unwrap();

    let top = store.resolve(&base).unwrap().chain_ids.last().cloned();
    let layer = store.layer_from_container(d.as_ref(), "c1", &layers, top.as_deref()).unwrap();
    assert_eq!(layer.chain_id, berth_image::chain_id(top.as_deref(), &layer.diff_id));
    let names = names_in(&store, &layer.chain_id);
    assert!(names.contains(&".wh.gone".to_string()), "{names:?}");
    assert!(!names.iter().any(|n| n.starts_with("etc/hosts") || n.starts_with("dev")), "{names:?}");
    if driver_name == "overlay2" {
        // overlayfs marks the recreated directory opaque; the marker follows the directory.
        let at = names.iter().position(|n| n.trim_end_matches('/') == "opq").unwrap();
        assert_eq!(names[at + 1], "opq/.wh..wh..opq", "{names:?}");
    } else {
        assert!(names.contains(&"opq/.wh.old".to_string()), "{names:?}");
    }
    // In path order of what they stand for: a whiteout where its path was, a marker after its
    // directory.
    let key = |n: &String| -> (PathBuf, u8) {
        let p = Path::new(n.trim_end_matches('/'));
        let base = p.file_name().unwrap().to_string_lossy();
        match base.strip_prefix(".wh.") {
            Some(".wh..opq") => (p.parent().unwrap().to_path_buf(), 1),
            Some(gone) => (p.with_file_name(gone), 0),
            None => (p.to_path_buf(), 0),
        }
    };
    let mut sorted = names.clone();
    sorted.sort_by_key(key);
    assert_eq!(names, sorted, "entries in path order");

    let child = store
        .create_child(
            Some(&base),
            ChildImage {
                layer: Some(layer.clone()),
                created_by: "touch things".into(),
                comment: Some("a message".into()),
                author: Some("me".into()),
                container: Some("c1".into()),
                ..Default::default()
            },
        )
        .unwrap();
    let info = store.resolve(&child).unwrap();
    assert_eq!(info.config.rootfs.diff_ids.last(), Some(&layer.diff_id));
    assert_eq!(info.config.rootfs.diff_ids.len(), 2);
    let h = info.config.history.last().unwrap();
    assert_eq!(
        (h.created_by.as_deref(), h.comment.as_deref(), h.empty_layer),
        (Some("touch things"), Some("a message"), false)
    );
    assert_eq!(info.config.container.as_deref(), Some("c1"));
    assert_eq!(store.parent(&child), Some(base.clone()));

    // The new image's layers, stacked for another container, show what c1 saw.
    let _c2 = Ctr(d.as_ref(), "c2");
    d.create("c2", &store.layer_dirs(&child).unwrap()).unwrap();
    let root2 = d.mount("c2").unwrap();
    assert_eq!(view(&root2), want);
    d.unmount("c2").unwrap();

    // Saved and loaded, the committed image keeps its id.
    let mut archive = Vec::new();
    store.save(std::slice::from_ref(&child), &mut archive).unwrap();
    drop(_c2);
    let other = TempDir::new(&format!("commit-load-{driver_name}"));
    let store2 = ImageStore::open(other.path()).unwrap();
    let loaded = store2.load(&archive[..], &mut |_| {}).unwrap();
    assert!(loaded.iter().any(|(id, _)| *id == child), "{loaded:?}");
}

#[test]
fn overlay2_layer_from_container_reproduces_the_container() {
    commit_roundtrip("overlay2");
}

#[test]
fn vfs_layer_from_container_reproduces_the_container() {
    commit_roundtrip("vfs");
}

fn unchanged(driver_name: &str) {
    let (_tmp, store, base, d, layers) = setup("empty", driver_name);
    let _c = Ctr(d.as_ref(), "c1");
    d.create("c1", &layers).unwrap();
    let top = store.resolve(&base).unwrap().chain_ids.last().cloned();
    let layer = store.layer_from_container(d.as_ref(), "c1", &layers, top.as_deref()).unwrap();
    assert_eq!(layer.diff_id, EMPTY_LAYER_DIFF_ID);
    let child =
        store.create_child(Some(&base), ChildImage { layer: Some(layer.clone()), ..Default::default() }).unwrap();
    let info = store.resolve(&child).unwrap();
    // As Docker's NewChildImage: no layer added, the history row says so.
    assert_eq!(info.config.rootfs.diff_ids.len(), 1);
    assert!(info.config.history.last().unwrap().empty_layer);
    assert!(!store.has_layer(&layer.chain_id), "the empty layer no image uses is gone");
}

#[test]
fn overlay2_unchanged_container_gives_the_empty_layer() {
    unchanged("overlay2");
}

#[test]
fn vfs_unchanged_container_gives_the_empty_layer() {
    unchanged("vfs");
}

#[test]
fn parents_survive_a_reopen_block_removal_and_are_pruned() {
    let tmp = TempDir::new("parents");
    let store = ImageStore::open(tmp.path()).unwrap();
    let (base, _) = base_image(&store);
    let mid = store.create_child(Some(&base), ChildImage { created_by: "mid".into(), ..Default::default() }).unwrap();
    let top =
        store.create_child(Some(&mid), ChildImage { reference: Some("top:1".into()), ..Default::default() }).unwrap();
    drop(store);
    let store = ImageStore::open(tmp.path()).unwrap();
    assert_eq!(store.parent(&top), Some(mid.clone()));
    assert_eq!(store.parent(&mid), Some(base.clone()));
    assert_eq!(store.parent(&base), None);
    assert_eq!(store.children(&mid), vec![top.clone()]);
    let err = store.remove(&mid, true, &no_users).unwrap_err().to_string();
    assert!(err.contains("(cannot be forced) - image has dependent child images"), "{err}");
    // History rows carry the ids of the chain, top first.
    let ids: Vec<String> = store.history("top:1").unwrap().into_iter().map(|h| h.id).collect();
    assert_eq!(ids, vec![top.clone(), mid.clone(), base.clone()]);

    // Without prune the untagged parent stays; with it, it goes (the tagged base stays).
    let kept = store.remove_with("top:1", false, false, &no_users).unwrap();
    assert!(kept.contains(&berth_image::DeleteItem::Deleted(top.clone())), "{kept:?}");
    assert!(store.resolve(&mid).is_ok());
    let pruned = store.remove(&mid, false, &no_users).unwrap();
    assert_eq!(pruned, vec![berth_image::DeleteItem::Deleted(mid.clone())]);
    assert!(store.resolve(&base).is_ok(), "tagged: kept");
    assert!(fs::read_dir(tmp.path().join("image/parent")).unwrap().next().is_none(), "records removed");

    let a = store.create_child(Some(&base), ChildImage::default()).unwrap();
    let b = store.create_child(Some(&a), ChildImage::default()).unwrap();
    store.remove("base", false, &no_users).unwrap(); // untag only: it has a child
    let all = store.remove(&b, false, &no_users).unwrap();
    let deleted: Vec<_> = all
        .iter()
        .filter_map(|i| if let berth_image::DeleteItem::Deleted(x) = i { Some(x.clone()) } else { None })
        .collect();
    assert_eq!(deleted[..3], [b, a, base.clone()], "{all:?}");
    assert!(store.resolve(&base).is_err());
}
