//! Where the binaries under test live.

use std::path::{Path, PathBuf};

/// Directory holding `berthd`, `berth`, `berth-shim`, `berth-runtime`: `$BERTH_BIN_DIR`, else the
/// cargo profile directory the test executable was built into (`target/debug/deps/..`).
pub fn bin_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("BERTH_BIN_DIR") {
        return PathBuf::from(d);
    }
    let exe = std::env::current_exe().expect("current_exe");
    // The first ancestor holding berthd wins; nextest and cargo test both run from target/<profile>/deps.
    for dir in exe.ancestors().skip(1) {
        if dir.join("berthd").is_file() {
            return dir.to_path_buf();
        }
    }
    let parent = exe.parent().expect("test exe has a parent");
    if parent.file_name().is_some_and(|n| n == "deps") {
        parent.parent().unwrap_or(parent).to_path_buf()
    } else {
        parent.to_path_buf()
    }
}

/// Path of one binary of the workspace; panics with a hint when it was not built.
pub fn workspace_bin(name: &str) -> PathBuf {
    let p = bin_dir().join(name);
    assert!(p.is_file(), "{} not found: run `cargo build --workspace` first (or set BERTH_BIN_DIR)", p.display());
    p
}

/// Our CLI, `berth`.
pub fn berth_bin() -> PathBuf {
    workspace_bin("berth")
}

/// The real docker CLI: `$BERTH_DOCKER`, else /usr/local/bin/docker, else `docker` from PATH.
pub fn docker_bin() -> PathBuf {
    if let Some(d) = std::env::var_os("BERTH_DOCKER") {
        return PathBuf::from(d);
    }
    let p = Path::new("/usr/local/bin/docker");
    if p.is_file() {
        p.to_path_buf()
    } else {
        PathBuf::from("docker")
    }
}

/// A directory shared by all tests of one build for cached artefacts (the busybox rootfs tar).
pub fn cache_dir() -> PathBuf {
    let d = bin_dir().join("berth-test-cache");
    std::fs::create_dir_all(&d).expect("create test cache dir");
    d
}
