//! Storage drivers on real mounts: overlay2 and vfs over the shared layers.

mod common;

use berth_image::{driver, ContainerUse, ImageConfig, ImageStore, ImportOptions, RootFs, StorageDriver};
use common::{busybox_tar, no_users, Tar, TempDir};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Removes the container's storage on drop, on failure too.
struct Ctr<'a>(&'a dyn StorageDriver, &'static str);
impl Drop for Ctr<'_> {
    fn drop(&mut self) {
        let _ = self.0.remove(self.1);
    }
}

fn tree(root: &Path) -> Vec<String> {
    let mut out = Vec::new();
    fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) {
        let mut es: Vec<_> = fs::read_dir(dir).unwrap().map(|e| e.unwrap()).collect();
        es.sort_by_key(|e| e.file_name());
        for e in es {
            let p = e.path();
            out.push(p.strip_prefix(root).unwrap().display().to_string());
            if e.file_type().unwrap().is_dir() {
                walk(root, &p, out);
            }
        }
    }
    walk(root, root, &mut out);
    out
}

fn chroot_sh(rootfs: &Path, script: &str) -> String {
    let out = Command::new("chroot").arg(rootfs).args(["/bin/sh", "-c", script]).output().unwrap();
    assert!(out.status.success(), "chroot sh failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn overlay2_containers_share_the_layer_and_write_to_upper() {
    let tmp = TempDir::new("ovl");
    let store = ImageStore::open(tmp.path()).unwrap();
    store
        .import(&busybox_tar()[..], ImportOptions { reference: Some("busybox".into()), ..Default::default() })
        .unwrap();
    let layers = store.layer_dirs("busybox").unwrap();
    let before = tree(&layers[0]);
    let d = driver("overlay2", tmp.path()).unwrap();
    assert_eq!(d.name(), "overlay2");
    let c1 = Ctr(d.as_ref(), "c1");
    let c2 = Ctr(d.as_ref(), "c2");
    d.create("c1", &layers).unwrap();
    d.create("c2", &layers).unwrap();
    assert!(d.create("c1", &layers).unwrap_err().is_conflict());
    assert!(d.exists("c1") && !d.exists("c3"));

    let r1 = d.mount("c1").unwrap();
    assert_eq!(d.mount("c1").unwrap(), r1, "mount is idempotent");
    let r2 = d.mount("c2").unwrap();
    assert_eq!(r1, d.rootfs_path("c1"));
    assert_eq!(chroot_sh(&r1, "echo hello > /root/f; rm /bin/ls; echo ok"), "ok\n");
    let upper = tmp.path().join("storage/overlay2/c1/upper");
    assert_eq!(fs::read_to_string(upper.join("root/f")).unwrap(), "hello\n");
    assert_eq!(tree(&layers[0]), before, "the shared layer is untouched");
    assert!(layers[0].join("bin/ls").exists());
    assert!(!r2.join("root/f").exists() && r2.join("bin/ls").exists(), "c2 does not see c1's changes");
    assert_eq!(chroot_sh(&r2, "cat /etc/passwd | head -1"), "root:x:0:0:root:/root:/bin/sh\n");

    d.unmount("c1").unwrap();
    d.unmount("c1").unwrap();
    assert!(!r1.join("bin").exists(), "unmounted");
    assert_eq!(
        fs::read_to_string(d.mount("c1").unwrap().join("root/f")).unwrap(),
        "hello\n",
        "upper survives a remount"
    );

    // rmi -f while containers still stack on the layer: the layer stays.
    let stopped = |_: &str| vec![ContainerUse { id: "c1".into(), running: false }];
    store.remove("busybox", true, &stopped).unwrap();
    assert!(layers[0].join("bin/busybox").exists(), "layer kept for the containers");

    d.remove("c1").unwrap();
    d.remove("c1").unwrap();
    assert!(!tmp.path().join("storage/overlay2/c1").exists());
    assert!(!d.exists("c1"));
    drop(c2);
    drop(c1);
    // Nothing uses it now: the next open sweeps the orphan layer.
    drop(store);
    ImageStore::open(tmp.path()).unwrap();
    assert!(!layers[0].exists(), "orphan layer swept at open");
}

fn two_layer_image(tmp: &TempDir) -> (ImageStore, Vec<PathBuf>) {
    let store = ImageStore::open(tmp.path()).unwrap();
    let mut t = Tar::default();
    t.dir("a/").file("a/x", b"x").file("a/y", b"y").dir("b/").file("b/keep", b"k").file("c", b"c");
    t.dir("d/").file("d/inner", b"i").file("e", b"old");
    let l1 = store.add_layer(&t.finish()[..], None).unwrap();
    let mut t = Tar::default();
    t.dir("a/").file("a/.wh..wh..opq", b"").file("a/z", b"z").file(".wh.c", b"").file(".wh.d", b"");
    t.file("e", b"new");
    let l2 = store.add_layer(&t.finish()[..], Some(&l1.chain_id)).unwrap();
    assert_eq!(l2.parent.as_deref(), Some(l1.chain_id.as_str()));
    assert_eq!(l2.chain_id, berth_image::chain_id(Some(&l1.chain_id), &l2.diff_id));
    let config = ImageConfig {
        architecture: "amd64".into(),
        os: "linux".into(),
        rootfs: RootFs { kind: "layers".into(), diff_ids: vec![l1.diff_id.clone(), l2.diff_id.clone()] },
        ..Default::default()
    };
    store.create_image(config, Some("two")).unwrap();
    let dirs = store.layer_dirs("two").unwrap();
    assert_eq!(dirs, vec![l1.diff_dir, l2.diff_dir], "lowest first");
    (store, dirs)
}

fn check_view(root: &Path) {
    assert_eq!(tree(root), ["a", "a/z", "b", "b/keep", "e"], "whiteouts and the opaque dir applied");
    assert_eq!(fs::read(root.join("e")).unwrap(), b"new");
}

#[test]
fn overlay2_applies_whiteouts_of_upper_layers() {
    let tmp = TempDir::new("ovl2");
    let (_store, dirs) = two_layer_image(&tmp);
    let d = driver("overlay2", tmp.path()).unwrap();
    let _c = Ctr(d.as_ref(), "w");
    d.create("w", &dirs).unwrap();
    check_view(&d.mount("w").unwrap());
}

#[test]
fn vfs_copies_layers_and_interprets_whiteouts() {
    let tmp = TempDir::new("vfs");
    let (store, dirs) = two_layer_image(&tmp);
    let d = driver("vfs", tmp.path()).unwrap();
    assert_eq!(d.name(), "vfs");
    let _c = Ctr(d.as_ref(), "v");
    d.create("v", &dirs).unwrap();
    let root = d.mount("v").unwrap();
    assert_eq!(root, tmp.path().join("storage/vfs/v/rootfs"));
    check_view(&root);
    assert_eq!(xattr::get(root.join("a"), "trusted.overlay.opaque").unwrap(), None, "no overlay metadata copied");
    fs::write(root.join("b/keep"), b"changed").unwrap();
    assert_eq!(fs::read(dirs[0].join("b/keep")).unwrap(), b"k", "a copy: the layer is untouched");

    // A runnable busybox copy.
    store.import(&busybox_tar()[..], ImportOptions { reference: Some("bb".into()), ..Default::default() }).unwrap();
    let _c2 = Ctr(d.as_ref(), "bb");
    d.create("bb", &store.layer_dirs("bb").unwrap()).unwrap();
    assert_eq!(chroot_sh(&d.mount("bb").unwrap(), "id -u; ls -ld /tmp | cut -c1-10"), "0\ndrwxrwxrwt\n");
    d.unmount("bb").unwrap();
    d.remove("v").unwrap();
    assert!(!d.exists("v") && !tmp.path().join("storage/vfs/v").exists());
    let _ = store.remove("bb", true, &no_users);
}

#[test]
fn ten_layers_mount() {
    let tmp = TempDir::new("ten");
    let store = ImageStore::open(tmp.path()).unwrap();
    let mut parent: Option<String> = None;
    let mut diff_ids = Vec::new();
    for i in 0..10 {
        let mut t = Tar::default();
        t.file(&format!("f{i}"), format!("{i}").as_bytes());
        let l = store.add_layer(&t.finish()[..], parent.as_deref()).unwrap();
        diff_ids.push(l.diff_id.clone());
        parent = Some(l.chain_id);
    }
    let config =
        ImageConfig { os: "linux".into(), rootfs: RootFs { kind: "layers".into(), diff_ids }, ..Default::default() };
    store.create_image(config, Some("ten")).unwrap();
    let d = driver("overlay2", tmp.path()).unwrap();
    let _c = Ctr(d.as_ref(), "t");
    d.create("t", &store.layer_dirs("ten").unwrap()).unwrap();
    let root = d.mount("t").unwrap();
    for i in 0..10 {
        assert_eq!(fs::read_to_string(root.join(format!("f{i}"))).unwrap(), i.to_string());
    }
}

#[test]
fn unknown_driver_and_bad_ids() {
    let tmp = TempDir::new("unknown");
    let err = driver("aufs", tmp.path()).err().unwrap();
    assert!(err.to_string().contains("aufs"), "{err}");
    let d = driver("vfs", tmp.path()).unwrap();
    assert!(d.create("../x", &[]).unwrap_err().is_invalid_input());
    assert!(d.mount("nope").unwrap_err().is_not_found());
    let o = driver("overlay2", tmp.path()).unwrap();
    assert!(o.mount("nope").unwrap_err().is_not_found());
    o.unmount("nope").unwrap();
    o.remove("nope").unwrap();
}

/// The super options of the mount at `target`, from mountinfo.
fn super_options(target: &Path) -> Option<String> {
    let target = fs::canonicalize(target).unwrap();
    let info = fs::read_to_string("/proc/self/mountinfo").unwrap();
    info.lines().find_map(|l| {
        let f: Vec<&str> = l.split(' ').collect();
        (Path::new(f[4]) == target).then(|| f.last().unwrap().to_string())
    })
}

#[test]
fn overlay2_ephemeral_storage_is_mounted_volatile_and_mounts_again() {
    let tmp = TempDir::new("ovl-eph");
    let store = ImageStore::open(tmp.path()).unwrap();
    store
        .import(&busybox_tar()[..], ImportOptions { reference: Some("busybox".into()), ..Default::default() })
        .unwrap();
    let layers = store.layer_dirs("busybox").unwrap();
    let d = driver("overlay2", tmp.path()).unwrap();
    let _e = Ctr(d.as_ref(), "eph");
    let _k = Ctr(d.as_ref(), "kept");
    d.create_with("eph", &layers, &berth_image::CreateOpts { ephemeral: true, ..Default::default() }).unwrap();
    d.create("kept", &layers).unwrap();
    let kept = d.mount("kept").unwrap();
    assert!(!super_options(&kept).unwrap().contains("volatile"), "only ephemeral storage skips the sync");
    // Twice: overlayfs refuses a second volatile mount over the same work dir unless the driver
    // clears what the first one left.
    for round in 0..2 {
        let root = d.mount("eph").unwrap();
        let opts = super_options(&root).unwrap();
        assert!(opts.contains("volatile"), "round {round}: {opts}");
        fs::write(root.join("written"), round.to_string()).unwrap();
        d.unmount("eph").unwrap();
        assert!(super_options(&root).is_none());
    }
    assert_eq!(fs::read_to_string(d.rootfs_path("eph").parent().unwrap().join("upper/written")).unwrap(), "1");
}
