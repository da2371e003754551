//! Layer extraction: metadata kept, whiteouts converted, and hostile archives never escape.

mod common;

use berth_image::extract_layer;
use common::{gzip, Tar, TempDir};
use sha2::Digest;
use std::fs;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use tar::EntryType as T;

/// A victim directory beside the extraction target that hostile archives aim at.
struct Setup {
    _tmp: TempDir,
    dest: std::path::PathBuf,
    victim: std::path::PathBuf,
}

fn setup(tag: &str) -> Setup {
    let tmp = TempDir::new(tag);
    let dest = tmp.path().join("layer/diff");
    let victim = tmp.path().join("victim");
    fs::create_dir_all(&dest).unwrap();
    fs::create_dir_all(&victim).unwrap();
    fs::write(victim.join("passwd"), b"original").unwrap();
    Setup { _tmp: tmp, dest, victim }
}

fn assert_victim_untouched(s: &Setup) {
    assert_eq!(fs::read(s.victim.join("passwd")).unwrap(), b"original");
    let names: Vec<_> = fs::read_dir(&s.victim).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(names, vec![std::ffi::OsString::from("passwd")], "nothing new beside the victim file");
    // Nothing appeared beside the layer dir either.
    let parent: Vec<_> =
        fs::read_dir(s.dest.parent().unwrap().parent().unwrap()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(parent.len(), 2, "only layer/ and victim/ in the temp dir: {parent:?}");
}

#[test]
fn keeps_content_owner_mode_mtime_xattrs_and_devices() {
    let s = setup("meta");
    let mut t = Tar::default();
    t.dir("etc/").file("etc/hello", b"hi\n").symlink("etc/link", "hello").hardlink("etc/hard", "etc/hello");
    t.file_with_meta("etc/owned", b"x", 1234, 5678, 0o4750, 1_500_000_000);
    t.device("dev/null", T::Char, 1, 3).device("dev/fifo", T::Fifo, 0, 0);
    t.raw(T::Directory, "./", "", 0o755, b"");
    let data = t.finish();
    let stats = extract_layer(gzip(&data).as_slice(), &s.dest).unwrap();
    let want = format!("sha256:{}", hex::encode(sha2::Sha256::digest(&data)));
    assert_eq!(stats.diff_id, want, "diff id is the sha256 of the uncompressed stream");
    assert_eq!(stats.size, 4, "regular file bytes");

    assert_eq!(fs::read(s.dest.join("etc/hello")).unwrap(), b"hi\n");
    assert_eq!(fs::read_link(s.dest.join("etc/link")).unwrap().to_str(), Some("hello"));
    assert_eq!(
        fs::metadata(s.dest.join("etc/hard")).unwrap().ino(),
        fs::metadata(s.dest.join("etc/hello")).unwrap().ino()
    );
    let md = fs::metadata(s.dest.join("etc/owned")).unwrap();
    assert_eq!((md.uid(), md.gid(), md.mode() & 0o7777, md.mtime()), (1234, 5678, 0o4750, 1_500_000_000));
    assert_eq!(xattr::get(s.dest.join("etc/owned"), "user.berth").unwrap().as_deref(), Some(b"hello".as_slice()));
    let null = fs::metadata(s.dest.join("dev/null")).unwrap();
    assert!(null.file_type().is_char_device());
    assert_eq!(null.rdev(), nix::sys::stat::makedev(1, 3));
    assert!(fs::metadata(s.dest.join("dev/fifo")).unwrap().file_type().is_fifo());
    assert_eq!(fs::metadata(s.dest.join("etc")).unwrap().mtime(), 1_600_000_000, "dir mtimes set after children");
}

#[test]
fn oci_whiteouts_become_overlay_whiteouts() {
    let s = setup("wh");
    let mut t = Tar::default();
    t.dir("a/").file("a/.wh..wh..opq", b"").file("a/new", b"n").file(".wh.gone", b"").file("b/.wh.x", b"");
    t.file(".wh..wh.plnk", b"");
    extract_layer(t.finish().as_slice(), &s.dest).unwrap();
    assert_eq!(xattr::get(s.dest.join("a"), "trusted.overlay.opaque").unwrap().as_deref(), Some(b"y".as_slice()));
    assert!(!s.dest.join("a/.wh..wh..opq").exists());
    for wh in ["gone", "b/x"] {
        let md = fs::symlink_metadata(s.dest.join(wh)).unwrap();
        assert!(md.file_type().is_char_device(), "{wh} is a whiteout");
        assert_eq!(md.rdev(), 0);
    }
    assert!(!s.dest.join(".wh..wh.plnk").exists() && !s.dest.join(".wh.gone").exists());
}

#[test]
fn absolute_paths_are_made_relative() {
    let s = setup("abs");
    let mut t = Tar::default();
    t.file("/etc/abs", b"inside");
    extract_layer(t.finish().as_slice(), &s.dest).unwrap();
    assert_eq!(fs::read(s.dest.join("etc/abs")).unwrap(), b"inside");
}

fn hostile(tag: &str, build: impl FnOnce(&mut Tar, &Setup)) {
    let s = setup(tag);
    let mut t = Tar::default();
    build(&mut t, &s);
    let err = extract_layer(t.finish().as_slice(), &s.dest).unwrap_err();
    assert!(err.is_invalid_input(), "{tag}: {err}");
    assert_victim_untouched(&s);
}

#[test]
fn rejects_dot_dot() {
    hostile("dotdot", |t, _| {
        t.file("../../victim/passwd", b"pwned");
    });
    hostile("dotdot2", |t, _| {
        t.dir("a/").file("a/../../../victim/new", b"pwned");
    });
}

#[test]
fn rejects_symlink_escape() {
    hostile("symesc", |t, _| {
        t.symlink("up", "../../victim");
    });
}

#[test]
fn rejects_hardlink_escape() {
    hostile("hardesc", |t, _| {
        t.hardlink("pw", "../../victim/passwd");
    });
    // An absolute hard link target is inside the layer, where it does not exist: no host file.
    let s = setup("hardabs");
    let mut t = Tar::default();
    t.hardlink("pw", &format!("{}/passwd", s.victim.display()));
    assert!(extract_layer(t.finish().as_slice(), &s.dest).unwrap_err().is_invalid_input());
    assert_victim_untouched(&s);
    assert!(!s.dest.join("pw").exists());
}

#[test]
fn rejects_writes_through_symlinks() {
    hostile("through-abs", |t, s| {
        t.symlink("a", &s.victim.display().to_string()).file("a/passwd", b"pwned");
    });
    hostile("through-rel", |t, _| {
        t.symlink("a", "b/..").dir("b/").file("a/x", b"pwned");
    });
    hostile("through-dir", |t, s| {
        t.symlink("etc", &s.victim.display().to_string()).dir("etc/sub/").file("etc/sub/f", b"pwned");
    });
    hostile("through-hardlink", |t, s| {
        t.symlink("a", &s.victim.display().to_string()).hardlink("x", "a/passwd");
    });
    hostile("through-whiteout", |t, s| {
        t.symlink("a", &s.victim.display().to_string()).file("a/.wh.passwd", b"");
    });
}

#[test]
fn replacing_a_symlink_by_a_file_does_not_follow_it() {
    let s = setup("replace");
    let mut t = Tar::default();
    t.symlink("pw", &format!("{}/passwd", s.victim.display())).file("pw", b"own");
    extract_layer(t.finish().as_slice(), &s.dest).unwrap();
    assert_eq!(fs::read(s.dest.join("pw")).unwrap(), b"own");
    assert_victim_untouched(&s);
}

#[test]
fn garbage_is_invalid_input() {
    let s = setup("garbage");
    let err = extract_layer(&b"this is not a tar archive at all, not even close"[..], &s.dest).unwrap_err();
    assert!(err.is_invalid_input(), "{err}");
    let err = extract_layer(&[0xfd, b'7', b'z', b'X', b'Z', 0, 1, 2][..], &s.dest).unwrap_err();
    assert!(err.to_string().contains("xz"), "{err}");
}
