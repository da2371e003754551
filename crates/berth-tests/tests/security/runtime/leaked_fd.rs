//! Issue 13, point 1: CVE-2024-21626. A runtime that leaks a descriptor of a host directory into
//! the container lets `-w /proc/self/fd/N` start the process with its working directory on the
//! host, from where `../..` reaches the host's root. Probed with a marker file on the host: no
//! working directory given to run or exec may lead to it, and the container's processes hold no
//! descriptor beyond their stdio.

use super::{daemon, Dir};
use berth_tests::DaemonOpts;

/// Reads the marker through `../` from the working directory (a host directory would reach the
/// host's root and so `<marker>`); prints the cwd for the message.
fn probe(marker: &str) -> String {
    format!("readlink /proc/self/cwd; cat {}{marker} 2>/dev/null || true", "../".repeat(12))
}

#[test]
fn cve_2024_21626_workdir_through_a_leaked_fd_stays_in_the_container() {
    let dir = Dir::new("cve-2024-21626");
    let token = format!("host-secret-{}", std::process::id());
    let marker = dir.0.join("marker");
    std::fs::write(&marker, &token).unwrap();
    let rel = marker.display().to_string().trim_start_matches('/').to_string();
    let d = daemon(DaemonOpts::new("rt-cve21626"));
    d.run_detached(&["--name", "fdc", "busybox", "sleep", "1000"]);
    for n in 3..=12 {
        let w = format!("/proc/self/fd/{n}");
        for argv in [vec!["run", "--rm", "-w", &w, "busybox", "sh", "-c"], vec!["exec", "-w", &w, "fdc", "sh", "-c"]] {
            let mut a = argv.clone();
            let script = probe(&rel);
            a.push(&script);
            let o = d.docker(&a);
            let text = format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
            assert!(!text.contains(&token), "{argv:?} -w {w} reached the host: {text}");
        }
    }
    // The container's processes hold nothing but their stdio (the shell's own, via $$). No
    // pipeline: while `ls` of `ls | tr` runs, the shell itself still holds the pipe's read end
    // (fd 3) until it forks `tr`, which is what this test once saw now and then. `; true` keeps
    // the shell from exec'ing `ls` in its place.
    let fds = |args: &[&str]| {
        let mut a = args.to_vec();
        a.extend(["sh", "-c", "ls /proc/$$/fd; true"]);
        d.docker_ok(&a).split_whitespace().collect::<Vec<_>>().join(" ")
    };
    assert_eq!(fds(&["run", "--rm", "busybox"]), "0 1 2", "docker run");
    assert_eq!(fds(&["exec", "fdc"]), "0 1 2", "docker exec");
    let init = d.docker_ok(&["exec", "fdc", "ls", "/proc/1/fd"]);
    assert_eq!(init.split_whitespace().collect::<Vec<_>>(), ["0", "1", "2"], "the init");
    d.docker_ok(&["rm", "-f", "fdc"]);
}
