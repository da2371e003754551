//! The compile's semantics checked by running its BPF program on syscall data (a small classic
//! BPF interpreter, as the kernel runs a seccomp program), and the cache's trust rules.

use super::*;
use serde_json::json;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::PathBuf;

const AUDIT_ARCH_X86_64: u32 = 0xc000_003e;
const RET_ALLOW: u32 = 0x7fff_0000;
const RET_ERRNO: u32 = 0x0005_0000;
const EPERM: u32 = 1;
const SYS_READ: u32 = 0;
const SYS_GETPID: u32 = 39;
const SYS_CLONE: u32 = 56;
const CLONE_NEWUSER: u64 = 0x1000_0000;
const CLONE_NEWNS: u64 = 0x0002_0000;
const SIGCHLD: u64 = 17;

/// Runs a seccomp program on `struct seccomp_data {nr, arch, ip, args[6]}`.
fn run(program: &[u8], nr: u32, args: [u64; 6]) -> u32 {
    let mut data = Vec::with_capacity(64);
    data.extend_from_slice(&nr.to_ne_bytes());
    data.extend_from_slice(&AUDIT_ARCH_X86_64.to_ne_bytes());
    data.extend_from_slice(&0u64.to_ne_bytes());
    for a in args {
        data.extend_from_slice(&a.to_ne_bytes());
    }
    let word = |off: u32| u32::from_ne_bytes(data[off as usize..off as usize + 4].try_into().unwrap());
    let insns: Vec<(u16, u8, u8, u32)> = program
        .chunks(8)
        .map(|c| (u16::from_ne_bytes([c[0], c[1]]), c[2], c[3], u32::from_ne_bytes([c[4], c[5], c[6], c[7]])))
        .collect();
    let (mut a, mut x, mut mem, mut pc) = (0u32, 0u32, [0u32; 16], 0usize);
    loop {
        let (code, jt, jf, k) = insns[pc];
        pc += 1;
        let src = if code & 0x08 != 0 { x } else { k };
        match code & 0x07 {
            0x00 => match code & 0xe0 {
                0x20 => a = word(k),
                0x00 => a = k,
                0x60 => a = mem[k as usize],
                m => panic!("ld mode {m:#x}"),
            },
            0x01 => match code & 0xe0 {
                0x20 => x = word(k),
                0x00 => x = k,
                0x60 => x = mem[k as usize],
                m => panic!("ldx mode {m:#x}"),
            },
            0x02 => mem[k as usize] = a,
            0x03 => mem[k as usize] = x,
            0x04 => match code & 0xf0 {
                0x00 => a = a.wrapping_add(src),
                0x10 => a = a.wrapping_sub(src),
                0x40 => a |= src,
                0x50 => a &= src,
                0x60 => a <<= src,
                0x70 => a >>= src,
                0xa0 => a ^= src,
                op => panic!("alu op {op:#x}"),
            },
            0x05 => {
                let taken = match code & 0xf0 {
                    0x00 => {
                        pc += k as usize;
                        continue;
                    }
                    0x10 => a == src,
                    0x20 => a > src,
                    0x30 => a >= src,
                    0x40 => a & src != 0,
                    op => panic!("jmp op {op:#x}"),
                };
                pc += if taken { jt } else { jf } as usize;
            }
            0x06 => return if code & 0x10 != 0 { a } else { k },
            0x07 => {
                if code & 0xf8 == 0x80 {
                    a = x
                } else {
                    x = a
                }
            }
            _ => unreachable!(),
        }
    }
}

/// Docker's clone rule (profile default_linux.go): allowed unless a namespace flag is set.
fn docker_clone_rule() -> Value {
    json!({"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 1,
    "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
    "syscalls": [
        {"names": ["read"], "action": "SCMP_ACT_ALLOW"},
        {"names": ["clone"], "action": "SCMP_ACT_ALLOW",
         "args": [{"index": 0, "value": 2114060288u64, "valueTwo": 0, "op": "SCMP_CMP_MASKED_EQ"}]}
    ]})
}

fn root() -> tempfile::TempDir {
    tempfile::Builder::new().prefix("berth-sc-cache-").tempdir().unwrap()
}

fn filter(root: &Path, spec: &Value) -> Filter {
    of_spec(root, spec).unwrap().expect("a filter")
}

fn key_of(section: Value) -> String {
    cache::key(&cache::normalize(&serde_json::from_value(section).unwrap())).unwrap()
}

#[cfg(target_arch = "x86_64")]
#[test]
fn masked_eq_has_the_oci_meaning_value_is_the_mask() {
    let r = root();
    let f = filter(r.path(), &json!({"linux": {"seccomp": docker_clone_rule()}}));
    let clone = |flags| run(&f.program, SYS_CLONE, [flags, 0, 0, 0, 0, 0]);
    assert_eq!(clone(SIGCHLD), RET_ALLOW, "a plain fork-like clone");
    assert_eq!(clone(CLONE_NEWUSER | SIGCHLD), RET_ERRNO | EPERM, "CLONE_NEWUSER");
    assert_eq!(clone(CLONE_NEWNS), RET_ERRNO | EPERM, "CLONE_NEWNS");
    assert_eq!(run(&f.program, SYS_READ, [0; 6]), RET_ALLOW);
    assert_eq!(run(&f.program, SYS_GETPID, [0; 6]), RET_ERRNO | EPERM, "not listed");
    assert_eq!(f.flags, 0);
    // The reversed (libcontainer) reading would be (flags & 0) == 0x7E020000: clone refused.
    // A datum: (arg & 0xff) == 0x11 lets exactly those through.
    let mut p = docker_clone_rule();
    p["syscalls"][1]["args"][0] = json!({"index": 0, "value": 255, "valueTwo": 17, "op": "SCMP_CMP_MASKED_EQ"});
    let f = filter(r.path(), &json!({"linux": {"seccomp": p}}));
    assert_eq!(run(&f.program, SYS_CLONE, [0x1011, 0, 0, 0, 0, 0]), RET_ALLOW);
    assert_eq!(run(&f.program, SYS_CLONE, [0x12, 0, 0, 0, 0, 0]), RET_ERRNO | EPERM);
}

#[cfg(target_arch = "x86_64")]
#[test]
fn a_bundle_swapped_by_an_earlier_release_compiles_to_the_same_program() {
    let r = root();
    let oci = json!({"linux": {"seccomp": docker_clone_rule()}});
    // What the earlier berth-runtime left in config.json (its unit test's expectation).
    let mut swapped = docker_clone_rule();
    swapped["syscalls"][1]["args"][0] =
        json!({"index": 0, "value": 0, "valueTwo": 2114060288u64, "op": "SCMP_CMP_MASKED_EQ"});
    let old = json!({"annotations": {SWAPPED: "libcontainer-0.7.0"}, "linux": {"seccomp": swapped}});
    let (a, b) = (filter(r.path(), &oci), filter(r.path(), &old));
    assert_eq!(a.program, b.program);
    assert_eq!(run(&b.program, SYS_CLONE, [CLONE_NEWUSER, 0, 0, 0, 0, 0]), RET_ERRNO | EPERM);
    assert_eq!(std::fs::read_dir(cache::dir(r.path())).unwrap().count(), 1, "one filter, one file");
    // An absent datum is 0; valueTwo means nothing to other comparisons.
    let mut no_datum = docker_clone_rule();
    no_datum["syscalls"][1]["args"][0].as_object_mut().unwrap().remove("valueTwo");
    assert_eq!(key_of(no_datum), key_of(docker_clone_rule()));
    let mut other = docker_clone_rule();
    other["syscalls"][1]["args"][0]["value"] = json!(0x7E000000u64);
    assert_ne!(key_of(other), key_of(docker_clone_rule()));
}

#[test]
fn flags_and_refusals() {
    let mut p = docker_clone_rule();
    p["flags"] = json!(["SECCOMP_FILTER_FLAG_TSYNC", "SECCOMP_FILTER_FLAG_SPEC_ALLOW", "SECCOMP_FILTER_FLAG_LOG"]);
    let s: LinuxSeccomp = serde_json::from_value(p).unwrap();
    assert_eq!(compile::kernel_flags(&s), 0b111);
    let r = root();
    let mut notify = docker_clone_rule();
    notify["syscalls"][0]["action"] = json!("SCMP_ACT_NOTIFY");
    let err = of_spec(r.path(), &json!({"linux": {"seccomp": notify}})).unwrap_err();
    assert!(format!("{err:#}").contains("SCMP_ACT_NOTIFY"), "{err:#}");
    assert!(of_spec(r.path(), &json!({"linux": {"seccomp": null}})).unwrap().is_none());
    assert!(of_spec(r.path(), &json!({"linux": {}})).unwrap().is_none());
}

fn cache_file(root: &Path) -> PathBuf {
    let key = key_of(docker_clone_rule());
    cache::path(root, &key)
}

#[test]
fn the_cache_is_reused_and_distrusted_when_it_should_be() {
    let r = root();
    let spec = json!({"linux": {"seccomp": docker_clone_rule()}});
    let section: LinuxSeccomp = serde_json::from_value(docker_clone_rule()).unwrap();
    let n = cache::normalize(&section);
    let key = cache::key(&n).unwrap();
    let (first, src) = cache::program(r.path(), &n, &key).unwrap();
    assert_eq!(src, cache::Source::Compiled);
    let file = cache_file(r.path());
    let m = std::fs::metadata(&file).unwrap();
    assert_eq!(m.mode() & 0o777, 0o600);
    assert_eq!(std::fs::metadata(cache::dir(r.path())).unwrap().mode() & 0o777, 0o700);
    assert_eq!(m.len() as usize, first.len() + 32);
    let (again, src) = cache::program(r.path(), &n, &key).unwrap();
    assert_eq!((again.as_slice(), src), (first.as_slice(), cache::Source::Cached));
    assert_eq!(std::fs::metadata(&file).unwrap().ino(), m.ino(), "not rewritten");
    assert_eq!(filter(r.path(), &spec).program, first);

    let recompiled = |what: &str| {
        let (p, src) = cache::program(r.path(), &n, &key).unwrap();
        assert_eq!((p.as_slice(), src), (first.as_slice(), cache::Source::Compiled), "{what}");
        let m = std::fs::metadata(&file).unwrap();
        assert_eq!((m.mode() & 0o777, m.uid()), (0o600, 0), "{what}: replaced");
    };
    // Same length, one instruction changed: an "allow everything" return in its place.
    let mut bytes = std::fs::read(&file).unwrap();
    bytes[0..8].copy_from_slice(&[0x06, 0, 0, 0, 0x00, 0x00, 0xff, 0x7f]);
    std::fs::write(&file, &bytes).unwrap();
    recompiled("tampered");
    let bytes = std::fs::read(&file).unwrap();
    std::fs::write(&file, &bytes[..bytes.len() - 3]).unwrap();
    recompiled("truncated");
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o622)).unwrap();
    recompiled("writable by others");
    std::os::unix::fs::chown(&file, Some(65534), None).unwrap();
    recompiled("owned by another user");
    // Another filter's valid file under this filter's name.
    let mut other = docker_clone_rule();
    other["defaultAction"] = json!("SCMP_ACT_ALLOW");
    let o = filter(r.path(), &json!({"linux": {"seccomp": other.clone()}}));
    assert_ne!(o.program, first);
    std::fs::copy(cache::path(r.path(), &key_of(other)), &file).unwrap();
    recompiled("another filter's file");
}

/// Not a check: the per-create/exec cost of the filter, before and after the cache
/// (`BERTH_SECCOMP_SPEC=<config.json> cargo test --release -p berth-runtime -- --ignored
/// --nocapture cost`). Each load runs on a thread of its own, so the test process stays free.
#[test]
#[ignore]
fn cost_of_compiling_and_loading() {
    let path = std::env::var("BERTH_SECCOMP_SPEC").expect("BERTH_SECCOMP_SPEC=<config.json>");
    let spec: Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    let section: LinuxSeccomp = serde_json::from_value(spec["linux"]["seccomp"].clone()).unwrap();
    let r = root();
    let n = 50;
    let median = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let time = |f: &(dyn Fn() + Sync)| {
        median(
            (0..n)
                .map(|_| {
                    std::thread::scope(|s| {
                        s.spawn(|| {
                            let t = std::time::Instant::now();
                            f();
                            t.elapsed().as_secs_f64() * 1000.0
                        })
                        .join()
                        .unwrap()
                    })
                })
                .collect(),
        )
    };
    let lib = time(&|| {
        libcontainer::seccomp::initialize_seccomp(&section).unwrap();
    });
    let mut scratch = tempfile::tempfile().unwrap();
    let compile_only = median(
        (0..n)
            .map(|_| {
                let t = std::time::Instant::now();
                compile::compile(&cache::normalize(&section), &mut scratch).unwrap();
                t.elapsed().as_secs_f64() * 1000.0
            })
            .collect(),
    );
    filter(r.path(), &spec);
    let cached = time(&|| {
        let f = filter(r.path(), &spec);
        berth_sys::seccomp::set_mode_filter(&f.program, f.flags).unwrap();
    });
    let f = filter(r.path(), &spec);
    let resolve_only = time(&|| drop(filter(r.path(), &spec)));
    let load_only = time(&|| berth_sys::seccomp::set_mode_filter(&f.program, f.flags).unwrap());
    eprintln!(
        "seccomp: {} instructions; libcontainer (libseccomp rules + load) {lib:.2} ms, \
         libseccomp rules + export_bpf {compile_only:.2} ms, cache read + key + load {cached:.3} ms \
         (of which key + read {resolve_only:.3} ms, load {load_only:.3} ms; medians of {n})",
        f.program.len() / 8
    );
}
