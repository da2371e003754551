//! Not checks: what the sealed runtime costs, for the report
//! (`cargo nextest run -p berth-tests --test security --run-ignored only cost --no-capture`).
//! `BERTH_COST_BIN_DIR=<dir>` measures the binaries of `<dir>` (e.g. target/release);
//! `BERTH_BASE_BIN_DIR=<dir>` adds `run --rm` under a build without sealing for comparison.

use super::daemon;
use berth_tests::{workspace_bin, DaemonOpts};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

fn bin(dir: Option<&Path>, name: &str) -> PathBuf {
    dir.map(|d| d.join(name)).unwrap_or_else(|| workspace_bin(name))
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn ms(f: impl Fn()) -> f64 {
    let t = Instant::now();
    f();
    t.elapsed().as_secs_f64() * 1000.0
}

/// One runtime invocation that fails right after the sealing step (no such bundle).
fn invoke(exe: &str, root: &Path, sub: &[&str], keep: Option<i32>) {
    let mut c = Command::new(exe);
    c.arg("--root").arg(root).args(sub);
    c.stdout(Stdio::null()).stderr(Stdio::null());
    if let Some(fd) = keep {
        berth_sys::sealed::inherit_fd(&mut c, fd);
        c.env("BERTH_RUNTIME_FD", fd.to_string());
    }
    let _ = c.status().unwrap();
}

#[test]
#[ignore]
fn cost_of_the_sealed_runtime() {
    let dir = std::env::var_os("BERTH_COST_BIN_DIR").map(PathBuf::from);
    let runtime = bin(dir.as_deref(), "berth-runtime");
    let size = std::fs::metadata(&runtime).unwrap().len();
    let root = std::env::temp_dir().join(format!("berth-cost-root-{}", std::process::id()));
    let host = runtime.to_str().unwrap().to_string();
    let create = ["create", "--bundle", "/nonexistent-bundle", "cost"];
    let t = Instant::now();
    let sealed = berth_sys::sealed::sealed_copy(&runtime, "berth-runtime").unwrap();
    let copy_ms = t.elapsed().as_secs_f64() * 1000.0;
    let fd = sealed.as_raw_fd();
    let memfd = format!("/proc/self/fd/{fd}");
    let n = 20;
    let plain: Vec<f64> = (0..n).map(|_| ms(|| invoke(&host, &root, &["state", "cost"], None))).collect();
    let fallback: Vec<f64> = (0..n).map(|_| ms(|| invoke(&host, &root, &create, None))).collect();
    let from_fd: Vec<f64> = (0..n).map(|_| ms(|| invoke(&memfd, &root, &create, Some(fd)))).collect();
    eprintln!(
        "berth-runtime {:.1} MB: one sealed copy {copy_ms:.1} ms (the daemon, once); per invocation (medians of {n}): \
         unsealed command {:.1} ms, create from a host file (seals itself) {:.1} ms, create from the daemon's copy {:.1} ms",
        size as f64 / 1e6,
        median(plain),
        median(fallback),
        median(from_fd)
    );
    let _ = std::fs::remove_dir_all(&root);
    let run_rm = |bins: Option<&Path>, name: &str| {
        let mut opts = DaemonOpts::new(name);
        if let Some(b) = bins {
            opts.daemon_binary = Some(b.join("berthd"));
            opts = opts
                .env("BERTH_RUNTIME", b.join("berth-runtime").to_str().unwrap())
                .env("BERTH_SHIM", b.join("berth-shim").to_str().unwrap());
        }
        let d = daemon(opts);
        d.docker_ok(&["run", "--rm", "busybox", "true"]);
        median(
            (0..n)
                .map(|_| {
                    ms(|| {
                        d.docker_ok(&["run", "--rm", "busybox", "true"]);
                    })
                })
                .collect(),
        )
    };
    eprintln!("run --rm true: {:.1} ms (median of {n})", run_rm(dir.as_deref(), "rt-cost"));
    if let Some(base) = std::env::var_os("BERTH_BASE_BIN_DIR") {
        eprintln!(
            "run --rm true, base build without sealing: {:.1} ms (median of {n})",
            run_rm(Some(Path::new(&base)), "rt-cost-base")
        );
    }
}
