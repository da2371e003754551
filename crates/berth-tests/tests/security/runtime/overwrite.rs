//! Issue 13, point 1: CVE-2019-5736, reproduced against a copy of the runtime the daemon is told
//! to use. The image's entrypoint is `#!/proc/self/exe`, so the kernel runs the runtime binary
//! itself in the container, with the image's loader, libc and `/etc/ld.so.preload`: the preloaded
//! `evil.c` runs inside that process and tries to write the binary through `/proc/self/exe`
//! (directly, and through an O_PATH handle reopened once the runtime's image is gone), while a
//! second process of the container (`probe watch`) tries `/proc/<pid>/exe`. Through `docker run`
//! and `docker exec`. Nothing may write, and the copy's bytes must not change.
//!
//! `BERTH_SEC_BIN_DIR=<dir>` takes berthd, berth-shim and berth-runtime from `<dir>`: pointed at
//! a build without the defence, the test fails (the copy is overwritten).

use super::Dir;
use berth_tests::{cache_dir, wait_until, workspace_bin, DaemonOpts, TestDaemon};
use sha2::Digest;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

const EVIL: &str = include_str!("evil.c");
const PROBE: &str = include_str!("probe.c");
const IMAGE: &str = "cve-2019-5736";

fn bin(name: &str) -> PathBuf {
    match std::env::var_os("BERTH_SEC_BIN_DIR") {
        Some(d) => Path::new(&d).join(name),
        None => workspace_bin(name),
    }
}

fn gcc(args: &[&str], src: &str, out: &Path) {
    let o = Command::new("cc").args(args).arg("-o").arg(out).arg(src).output().expect("run gcc");
    assert!(o.status.success(), "cc {args:?} {src} failed: {}", String::from_utf8_lossy(&o.stderr));
}

/// The runtime's loader and libraries, at the paths `ldd` names (the image ships its own copies,
/// as the exploit's image does).
fn loader_and_libs(runtime: &Path) -> Vec<(String, Vec<u8>)> {
    let out = Command::new("ldd").arg(runtime).output().expect("run ldd");
    let text = String::from_utf8_lossy(&out.stdout);
    let mut files = vec![];
    for l in text.lines() {
        let path = match l.split_once("=>") {
            Some((_, rest)) => rest.split_whitespace().next(),
            None => l.split_whitespace().next().filter(|p| p.starts_with('/')),
        };
        if let Some(p) = path.filter(|p| p.starts_with('/')) {
            files.push((p.trim_start_matches('/').to_string(), std::fs::read(p).unwrap()));
        }
    }
    assert!(files.iter().any(|(p, _)| p.contains("ld-linux")), "no loader in {text}");
    files
}

fn image_tar(runtime: &Path) -> PathBuf {
    let hash = hex::encode(&sha2::Sha256::digest([EVIL, PROBE].concat().as_bytes())[..8]);
    let tar = cache_dir().join(format!("cve-2019-5736-{hash}-{}.tar", std::process::id()));
    let src = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/security/runtime");
    let (probe, evil) = (tar.with_extension("probe"), tar.with_extension("so"));
    gcc(&["-static", "-O2"], &format!("{src}/probe.c"), &probe);
    gcc(&["-shared", "-fPIC", "-O2"], &format!("{src}/evil.c"), &evil);
    let base = berth_tests::busybox_rootfs_tar().expect("busybox rootfs");
    let mut b = tar::Builder::new(Vec::new());
    for e in tar::Archive::new(base.as_slice()).entries().unwrap() {
        let e = e.unwrap();
        let h = e.header().clone();
        b.append(&h, e).unwrap();
    }
    let mut dirs = std::collections::BTreeSet::new();
    let mut files: Vec<(String, Vec<u8>, u32)> =
        loader_and_libs(runtime).into_iter().map(|(p, d)| (p, d, 0o755)).collect();
    files.push(("probe".into(), std::fs::read(&probe).unwrap(), 0o755));
    files.push(("evil.so".into(), std::fs::read(&evil).unwrap(), 0o755));
    files.push(("etc/ld.so.preload".into(), b"/evil.so\n".to_vec(), 0o644));
    files.push(("entry".into(), b"#!/proc/self/exe\n".to_vec(), 0o755));
    files.push(("out/.keep".into(), vec![], 0o644));
    for (p, _, _) in &files {
        let mut d = Path::new(p).parent();
        while let Some(x) = d.filter(|x| !x.as_os_str().is_empty()) {
            dirs.insert(x.to_path_buf());
            d = x.parent();
        }
    }
    for d in dirs {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Directory);
        h.set_mode(0o755);
        h.set_mtime(1_700_000_000);
        h.set_uid(0);
        h.set_gid(0);
        h.set_size(0);
        b.append_data(&mut h, format!("{}/", d.display()), &[][..]).unwrap();
    }
    for (p, data, mode) in files {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Regular);
        h.set_mode(mode);
        h.set_mtime(1_700_000_000);
        h.set_uid(0);
        h.set_gid(0);
        h.set_size(data.len() as u64);
        b.append_data(&mut h, &p, data.as_slice()).unwrap();
    }
    std::fs::write(&tar, b.into_inner().unwrap()).unwrap();
    let _ = std::fs::remove_file(probe);
    let _ = std::fs::remove_file(evil);
    tar
}

fn sha256(p: &Path) -> String {
    hex::encode(sha2::Sha256::digest(std::fs::read(p).unwrap()))
}

fn log(out: &Path, tag: &str) -> String {
    std::fs::read_to_string(out.join(format!("{tag}.log"))).unwrap_or_default()
}

fn assert_contained(out: &Path, tag: &str, copy: &Path) {
    let text = log(out, tag);
    assert!(!text.contains("write:ok"), "{tag}: the container wrote to the runtime:\n{text}");
    let exe = text
        .lines()
        .find_map(|l| l.strip_prefix("exe="))
        .unwrap_or_else(|| panic!("{tag}: the payload never ran inside the runtime:\n{text}"));
    assert!(
        exe.starts_with("/memfd:") && !exe.contains(&copy.display().to_string()),
        "{tag}: /proc/self/exe of the runtime in the container is {exe:?}, not a sealed copy"
    );
    for want in ["self_rdwr=", "self_wronly=", "reopen="] {
        assert!(text.contains(want), "{tag}: no {want} attempt:\n{text}");
    }
}

#[test]
fn cve_2019_5736_cannot_overwrite_the_runtime() {
    let dir = Dir::new("cve-2019-5736");
    let out = dir.0.join("out");
    std::fs::create_dir(&out).unwrap();
    let copy = dir.0.join("berth-runtime");
    std::fs::copy(bin("berth-runtime"), &copy).unwrap();
    let before = sha256(&copy);
    // A second copy registered as another runtime: the daemon hands monitors no sealed copy
    // for it, so berth-runtime has to seal itself (the fallback).
    let other = dir.0.join("other").join("berth-runtime");
    std::fs::create_dir(other.parent().unwrap()).unwrap();
    std::fs::copy(bin("berth-runtime"), &other).unwrap();
    let mut opts = DaemonOpts::new("rt-cve5736")
        .env("BERTH_RUNTIME", copy.to_str().unwrap())
        .config(format!(r#"{{"runtimes": {{"selfsealed": {{"path": "{}"}}}}}}"#, other.display()));
    if std::env::var_os("BERTH_SEC_BIN_DIR").is_some() {
        opts.daemon_binary = Some(bin("berthd"));
        opts = opts.env("BERTH_SHIM", bin("berth-shim").to_str().unwrap());
    }
    let d = TestDaemon::start(opts);
    let tar = image_tar(&copy);
    d.import_image(&tar, IMAGE, &[r#"ENTRYPOINT ["/entry"]"#]);
    let _ = std::fs::remove_file(&tar);
    let vol = format!("{}:/out", out.display());

    // docker run: the container's first process is the runtime itself.
    let o = d.docker_timeout(&["run", "--rm", "-e", "TAG=run", "-v", &vol, IMAGE], Duration::from_secs(60));
    assert!(log(&out, "run").contains("done=1"), "run: the payload did not finish ({o:?}):\n{}", log(&out, "run"));
    assert_eq!(sha256(&copy), before, "docker run changed the runtime binary:\n{}", log(&out, "run"));
    assert_contained(&out, "run", &copy);

    // The same from a host file: berth-runtime seals itself before entering the container.
    d.docker_timeout(
        &["run", "--rm", "--runtime", "selfsealed", "-e", "TAG=fallback", "-v", &vol, IMAGE],
        Duration::from_secs(60),
    );
    assert!(
        log(&out, "fallback").contains("done=1"),
        "fallback: the payload did not finish:\n{}",
        log(&out, "fallback")
    );
    assert_eq!(sha256(&other), before, "the self-sealing runtime was changed");
    assert_contained(&out, "fallback", &other);

    // docker exec, with a second process of the container watching for the runtime.
    d.run_detached(&["--name", "watcher", "-e", "TAG=watch", "-v", &vol, "--entrypoint", "/probe", IMAGE, "watch"]);
    d.docker_timeout(&["exec", "-e", "TAG=exec", "watcher", "/entry"], Duration::from_secs(60));
    assert!(
        wait_until(Duration::from_secs(10), || log(&out, "exec").contains("done=1")),
        "exec: the payload did not finish:\n{}",
        log(&out, "exec")
    );
    assert_contained(&out, "exec", &copy);
    std::fs::write(out.join("stop"), b"").unwrap();
    assert!(
        wait_until(Duration::from_secs(15), || log(&out, "watch").contains("watch_done=")),
        "the watcher did not finish:\n{}",
        log(&out, "watch")
    );
    let watch = log(&out, "watch");
    eprintln!("watcher:\n{watch}");
    assert!(!watch.contains("write:ok"), "the watcher wrote to the runtime:\n{watch}");
    assert!(!watch.contains(&copy.display().to_string()), "the watcher saw the host's runtime file:\n{watch}");
    d.docker_ok(&["rm", "-f", "watcher"]);
    assert_eq!(sha256(&copy), before, "docker exec changed the runtime binary");
}
