//! The harness tested on its own, with a stand-in daemon: what the drop guard removes and what it
//! must leave alone.

use crate::{wait_until, DaemonOpts, TestDaemon};
use std::process::{Command, Stdio};
use std::time::Duration;

/// A stand-in berthd: answers every request with 200 OK on the `-H` socket, writes the pid file.
const FAKE: &str = r#"#!/usr/bin/env python3
import sys, socket, os
if "--help" in sys.argv:
    print("usage: fake berthd"); sys.exit(0)
a = sys.argv[1:]
path = a[a.index("-H") + 1][len("unix://"):]
open(a[a.index("--pidfile") + 1], "w").write(str(os.getpid()))
if os.path.exists(path):
    os.unlink(path)
s = socket.socket(socket.AF_UNIX); s.bind(path); s.listen(8)
print("fake up", flush=True)
while True:
    c, _ = s.accept(); c.recv(65536)
    c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nOK"); c.close()
"#;

fn fake_opts(dir: &std::path::Path) -> DaemonOpts {
    let bin = dir.join("fake-berthd");
    std::fs::write(&bin, FAKE).unwrap();
    Command::new("chmod").arg("755").arg(&bin).status().unwrap();
    let mut o = DaemonOpts::new("selftest");
    o.daemon_binary = Some(bin);
    o
}

#[test]
fn drop_guard_kills_ours_unmounts_and_removes_base_but_spares_others() {
    let scratch = std::env::temp_dir().join(format!("bt-selftest-{}", std::process::id()));
    std::fs::create_dir_all(&scratch).unwrap();
    let mut d = TestDaemon::start(fake_opts(&scratch));
    let base = d.base.clone();
    assert!(base.starts_with("/tmp") && !base.starts_with("/run/berth"));
    assert_eq!(d.api_get("/_ping").text(), "OK");

    d.kill9();
    assert!(d.wait_exit(Duration::from_secs(5)).is_some());
    assert!(!d.ping());
    d.restart();
    assert!(d.last_ready.is_some());
    assert!(d.log_text().matches("fake up").count() == 2, "log keeps both starts: {}", d.log_text());

    // A process of the test (names the base dir), one that is not, and a mount under the base.
    let quiet = |c: &mut Command| c.stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
    let mut ours = quiet(Command::new("python3").args(["-c", "import time; time.sleep(300)"]).arg(&base));
    let mut other = quiet(Command::new("sleep").arg("300"));
    let mnt = base.join("lib/some/mount");
    std::fs::create_dir_all(&mnt).unwrap();
    assert!(Command::new("mount").args(["-t", "tmpfs", "selftest"]).arg(&mnt).status().unwrap().success());
    std::fs::write(mnt.join("f"), "x").unwrap();
    // The guard finds the test's processes by their command line: make sure ours shows it.
    let proc_of = |pid: u32, f: &str| std::fs::read(format!("/proc/{pid}/{f}")).unwrap_or_default();
    let base_bytes = base.to_string_lossy().into_owned().into_bytes();
    assert!(
        wait_until(Duration::from_secs(5), || proc_of(ours.id(), "cmdline")
            .windows(base_bytes.len())
            .any(|w| w == base_bytes)),
        "our process never showed the base dir in its command line"
    );

    drop(d);
    assert!(!base.exists(), "base dir left behind");
    let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(!info.contains(&*base.to_string_lossy()), "mount left behind");
    assert!(
        wait_until(Duration::from_secs(3), || ours.try_wait().unwrap().is_some()),
        "our process survived: cmdline {:?}, stat {:?}",
        String::from_utf8_lossy(&proc_of(ours.id(), "cmdline")),
        String::from_utf8_lossy(&proc_of(ours.id(), "stat"))
    );
    assert!(other.try_wait().unwrap().is_none(), "the guard killed a process that was not the test's");
    other.kill().unwrap();
    other.wait().unwrap();
    std::fs::remove_dir_all(&scratch).unwrap();
}

#[test]
fn refusing_daemon_is_reported_with_its_exit() {
    let scratch = std::env::temp_dir().join(format!("bt-selftest-refuse-{}", std::process::id()));
    std::fs::create_dir_all(&scratch).unwrap();
    let bin = scratch.join("refuse");
    std::fs::write(&bin, "#!/bin/sh\necho 'no such directive: bogus' >&2\nexit 1\n").unwrap();
    Command::new("chmod").arg("755").arg(&bin).status().unwrap();
    let mut o = DaemonOpts::new("selftest-refuse");
    o.daemon_binary = Some(bin);
    let mut d = TestDaemon::spawn(o);
    let st = d.wait_exit(Duration::from_secs(5)).expect("exits");
    assert_eq!(st.code(), Some(1));
    assert!(d.log_text().contains("no such directive: bogus"));
    assert!(d.wait_ready(Duration::from_secs(1)).is_err());
    drop(d);
    std::fs::remove_dir_all(&scratch).unwrap();
}
