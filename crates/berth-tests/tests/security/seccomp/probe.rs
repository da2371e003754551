//! The probe image and the helpers of the seccomp tests: run a container, read its
//! /proc/self/status, run the probe and collect each syscall's errno.

use berth_tests::{cache_dir, DaemonOpts, TestDaemon};
use std::collections::BTreeMap;
use std::path::PathBuf;

pub const IMAGE: &str = "sprobe";
const PROBE_SRC: &str = include_str!("probe.c");

/// The busybox rootfs plus `/probe` and a setuid-root copy `/suid-probe`, built once per
/// source version (file name carries its hash, written by rename so racing tests agree).
pub fn probe_tar() -> PathBuf {
    use sha2::Digest;
    let hash = hex::encode(&sha2::Sha256::digest(PROBE_SRC.as_bytes())[..8]);
    let tar = cache_dir().join(format!("seccomp-probe-{hash}.tar"));
    if tar.is_file() {
        return tar;
    }
    let tmp = cache_dir().join(format!("seccomp-probe-{hash}.{}", std::process::id()));
    let src = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/security/seccomp/probe.c");
    let out =
        std::process::Command::new("cc").args(["-static", "-O2", "-o"]).arg(&tmp).arg(src).output().expect("run gcc");
    assert!(out.status.success(), "cc -static failed (libc6-dev installed?): {}", String::from_utf8_lossy(&out.stderr));
    let probe = std::fs::read(&tmp).unwrap();
    std::fs::remove_file(&tmp).unwrap();
    let base = berth_tests::busybox_rootfs_tar().expect("busybox rootfs");
    let mut b = tar::Builder::new(Vec::new());
    let mut ar = tar::Archive::new(base.as_slice());
    for e in ar.entries().unwrap() {
        let e = e.unwrap();
        let h = e.header().clone();
        b.append(&h, e).unwrap();
    }
    for (name, mode) in [("probe", 0o755), ("suid-probe", 0o4755)] {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Regular);
        h.set_mode(mode);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(1_700_000_000);
        h.set_size(probe.len() as u64);
        b.append_data(&mut h, name, probe.as_slice()).unwrap();
    }
    std::fs::write(&tmp, b.into_inner().unwrap()).unwrap();
    std::fs::rename(&tmp, &tar).unwrap();
    tar
}

pub fn daemon(name: &str) -> TestDaemon {
    with_image(TestDaemon::start(DaemonOpts::new(name)))
}

pub fn with_image(d: TestDaemon) -> TestDaemon {
    d.import_image(&probe_tar(), IMAGE, &[]);
    d
}

/// `docker run --rm [opts] sprobe cmd…`, stdout.
pub fn run(d: &TestDaemon, opts: &[&str], cmd: &[&str]) -> String {
    let mut a = vec!["run", "--rm"];
    a.extend_from_slice(opts);
    a.push(IMAGE);
    a.extend_from_slice(cmd);
    d.docker_ok(&a)
}

pub fn parse_probe(out: &str) -> BTreeMap<String, String> {
    out.lines().filter_map(|l| l.split_once('=')).map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

/// The probe's result for each op: "0" or the errno.
pub fn probe(d: &TestDaemon, opts: &[&str], ops: &[&str]) -> BTreeMap<String, String> {
    let mut cmd = vec!["/probe"];
    cmd.extend_from_slice(ops);
    parse_probe(&run(d, opts, &cmd))
}

/// Fields of the container process's /proc/self/status.
pub fn status(d: &TestDaemon, opts: &[&str]) -> BTreeMap<String, String> {
    parse_status(&run(d, opts, &["cat", "/proc/self/status"]))
}

pub fn parse_status(out: &str) -> BTreeMap<String, String> {
    out.lines().filter_map(|l| l.split_once(':')).map(|(k, v)| (k.to_string(), v.trim().to_string())).collect()
}

pub fn assert_all(got: &BTreeMap<String, String>, ops: &[&str], want: &str, what: &str) {
    let wrong: Vec<String> = ops
        .iter()
        .filter(|o| got.get(**o).map(String::as_str) != Some(want))
        .map(|o| format!("{o}={:?}", got.get(*o)))
        .collect();
    assert!(wrong.is_empty(), "{what}: expected {want} from {wrong:?}; all results: {got:?}");
}

/// A profile file in the test's directory.
pub fn profile_file(d: &TestDaemon, name: &str, json: &str) -> String {
    let p = d.base.join(name);
    std::fs::write(&p, json).unwrap();
    p.display().to_string()
}

pub fn security_options(d: &TestDaemon) -> Vec<String> {
    serde_json::from_str(&d.docker_ok(&["info", "-f", "{{json .SecurityOptions}}"])).unwrap()
}
