//! The compiled filter is cached by berth-runtime, one file per distinct filter under its root
//! (`<exec-root>/runtime/berth/@seccomp/<sha256>.bpf`), and a cache file that is not trustworthy
//! is never loaded: probed from inside the containers that would have got it.

use super::probe::*;
use super::DENY_MKDIR;
use berth_tests::{DaemonOpts, TestDaemon};
use sha2::{Digest, Sha256};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::PathBuf;

/// One classic BPF instruction: `ret SECCOMP_RET_ALLOW`, a program that allows everything.
const ALLOW_ALL: [u8; 8] = [0x06, 0, 0, 0, 0x00, 0x00, 0xff, 0x7f];

fn cache_files(d: &TestDaemon) -> Vec<PathBuf> {
    let dir = d.exec_root.join("runtime/berth/@seccomp");
    let mut v: Vec<PathBuf> =
        std::fs::read_dir(&dir).map(|r| r.flatten().map(|e| e.path()).collect()).unwrap_or_default();
    v.sort();
    v
}

fn filtered(d: &TestDaemon, what: &str) {
    let got = probe(d, &[], &["keyctl", "clone_newuser", "clone_plain"]);
    assert_eq!(
        got,
        parse_probe("keyctl=1\nclone_newuser=1\nclone_plain=0"),
        "{what}: the default profile must be in effect"
    );
}

#[test]
fn one_cache_file_per_filter_reused_by_later_containers_and_execs() {
    let d = daemon("sc-cache");
    let st = status(&d, &[]);
    assert_eq!(
        (st["Seccomp"].as_str(), st["Seccomp_filters"].as_str()),
        ("2", "1"),
        "one filter: libcontainer must not load its own as well: {st:?}"
    );
    let caps = |set: &str| u64::from_str_radix(&st[set], 16).unwrap();
    assert_eq!(
        (caps("CapEff") >> 21 & 1, caps("CapPrm") >> 21 & 1),
        (0, 0),
        "the CAP_SYS_ADMIN lent for the load is given back: {st:?}"
    );
    let files = cache_files(&d);
    assert_eq!(files.len(), 1, "{files:?}");
    let m = std::fs::metadata(&files[0]).unwrap();
    assert_eq!((m.mode() & 0o777, m.uid()), (0o600, 0));
    let name = files[0].file_name().unwrap().to_string_lossy().into_owned();
    assert!(name.len() == 64 + 4 && name.ends_with(".bpf"), "{name}");

    filtered(&d, "a second container");
    d.run_detached(&["--name", "c2", IMAGE, "sleep", "1000"]);
    let st = parse_status(&d.docker_ok(&["exec", "c2", "cat", "/proc/self/status"]));
    assert_eq!((st["Seccomp"].as_str(), st["Seccomp_filters"].as_str()), ("2", "1"), "exec: {st:?}");
    assert_eq!(cache_files(&d), files, "the same filter, the same file");
    let again = std::fs::metadata(&files[0]).unwrap();
    assert_eq!(
        (again.ino(), again.mtime(), again.mtime_nsec()),
        (m.ino(), m.mtime(), m.mtime_nsec()),
        "later creates and execs read the file, they do not write it"
    );
    // Another filter, another file; the first stays.
    let p = profile_file(&d, "deny-mkdir.json", DENY_MKDIR);
    let got = probe(&d, &["--security-opt", &format!("seccomp={p}")], &["mkdir"]);
    assert_eq!(got["mkdir"], "1");
    let now = cache_files(&d);
    assert_eq!(now.len(), 2, "{now:?}");
    assert!(now.contains(&files[0]));
    // Unconfined containers need no file.
    run(&d, &["--security-opt", "seccomp=unconfined"], &["true"]);
    assert_eq!(cache_files(&d).len(), 2);
}

/// The file berth-runtime would accept for `program`: the program and a sha256 over the key
/// (the file's name) and the program.
fn forged(file: &std::path::Path, program: &[u8]) -> Vec<u8> {
    let key = file.file_stem().unwrap().to_string_lossy().into_owned();
    let mut h = Sha256::new();
    h.update(key.as_bytes());
    h.update(program);
    let mut v = program.to_vec();
    v.extend_from_slice(&h.finalize());
    v
}

#[test]
fn a_tampered_or_foreign_cache_file_is_recompiled_not_loaded() {
    let d = daemon("sc-cache-bad");
    filtered(&d, "first container");
    let file = cache_files(&d).pop().expect("a cache file");
    let good = std::fs::read(&file).unwrap();
    d.run_detached(&["--name", "ex", IMAGE, "sleep", "1000"]);
    let replaced = |what: &str| {
        let m = std::fs::metadata(&file).unwrap();
        assert_eq!((m.mode() & 0o777, m.uid()), (0o600, 0), "{what}");
        assert_eq!(std::fs::read(&file).unwrap(), good, "{what}: compiled again");
    };
    let exec_filtered = |what: &str| {
        let got = parse_probe(&d.docker_ok(&["exec", "ex", "/probe", "keyctl", "clone_newuser"]));
        assert_eq!(got, parse_probe("keyctl=1\nclone_newuser=1"), "exec, {what}");
    };
    type Spoil<'a> = Box<dyn Fn() + 'a>;
    let cases: [(&str, Spoil); 4] = [
        (
            "same length, an allow-all instruction in front, checksum left",
            Box::new(|| {
                let mut b = good.clone();
                b[..8].copy_from_slice(&ALLOW_ALL);
                std::fs::write(&file, b).unwrap();
            }),
        ),
        ("an allow-all program of another length", Box::new(|| std::fs::write(&file, ALLOW_ALL).unwrap())),
        (
            "a well-formed allow-all file owned by another user",
            Box::new(|| {
                std::fs::write(&file, forged(&file, &ALLOW_ALL)).unwrap();
                std::os::unix::fs::chown(&file, Some(65534), Some(65534)).unwrap();
            }),
        ),
        (
            "a well-formed allow-all file writable by others",
            Box::new(|| {
                std::fs::write(&file, forged(&file, &ALLOW_ALL)).unwrap();
                std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o666)).unwrap();
            }),
        ),
    ];
    for (what, spoil) in &cases {
        spoil();
        filtered(&d, what);
        replaced(what);
        spoil();
        exec_filtered(what);
        replaced(what);
    }
}

/// Not a check: the filter's cost per `run --rm` and per `exec`, for the report
/// (`-- --ignored --nocapture cost`; BERTH_COST_BIN_DIR=target/release for release binaries,
/// BERTH_COST_RUNTIME for another berth-runtime binary, BERTH_SECCOMP_SPEC_OUT to keep the
/// resolved spec).
#[test]
#[ignore]
fn cost_of_the_filter_per_run_and_exec() {
    let mut opts = DaemonOpts::new("sc-cost2");
    if let Some(dir) = std::env::var_os("BERTH_COST_BIN_DIR").map(PathBuf::from) {
        opts.daemon_binary = Some(dir.join("berthd"));
        opts = opts.env("BERTH_RUNTIME", dir.join("berth-runtime").to_str().unwrap());
        opts = opts.env("BERTH_SHIM", dir.join("berth-shim").to_str().unwrap());
    }
    if let Some(rt) = std::env::var_os("BERTH_COST_RUNTIME") {
        opts = opts.env("BERTH_RUNTIME", rt.to_str().unwrap());
    }
    let d = with_image(TestDaemon::start(opts));
    let id = d.run_detached(&["--name", "cf", IMAGE, "sleep", "1000"]);
    // The resolved spec, for berth-runtime's own measurement (seccomp::tests).
    if let Some(out) = std::env::var_os("BERTH_SECCOMP_SPEC_OUT") {
        let spec = d.exec_root.join("shims").join(&id).join("config.json");
        std::fs::copy(spec, out).unwrap();
    }
    let unconfined = ["--name", "cu", "--security-opt", "seccomp=unconfined"];
    d.run_detached(&[&unconfined[..], &[IMAGE, "sleep", "1000"]].concat());
    let ms = |f: &dyn Fn()| {
        let t = std::time::Instant::now();
        f();
        t.elapsed().as_secs_f64() * 1000.0
    };
    let median = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let n = 20;
    let mut r = [vec![], vec![], vec![], vec![]];
    for _ in 0..n {
        r[0].push(ms(&|| drop(run(&d, &[], &["true"]))));
        r[1].push(ms(&|| drop(run(&d, &["--security-opt", "seccomp=unconfined"], &["true"]))));
        r[2].push(ms(&|| drop(d.docker_ok(&["exec", "cf", "true"]))));
        r[3].push(ms(&|| drop(d.docker_ok(&["exec", "cu", "true"]))));
    }
    let [a, b, c, e] = r.map(median);
    eprintln!(
        "run --rm: builtin {a:.1} ms, unconfined {b:.1} ms; exec: filtered {c:.1} ms, \
         unconfined {e:.1} ms (medians of {n})"
    );
}
