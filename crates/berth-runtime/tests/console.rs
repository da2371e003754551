//! --console-socket: the pty master is sent over the socket, as runc does.

mod common;

use std::io::IoSliceMut;
use std::os::fd::RawFd;
use std::os::unix::net::UnixListener;
use std::time::Duration;

use common::*;
use nix::sys::socket::{recvmsg, ControlMessageOwned, MsgFlags};

const T: Duration = Duration::from_secs(10);

#[test]
fn terminal_master_is_sent_over_console_socket() {
    become_subreaper();
    let c = TestContainer::new("if [ -t 1 ]; then echo tty-yes; else echo tty-no; fi; sleep 1000");
    let mut cfg: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(c.bundle.join("config.json")).unwrap()).unwrap();
    cfg["process"]["terminal"] = true.into();
    c.write_config(&cfg);
    let sock = c.dir.path().join("console.sock");
    let listener = UnixListener::bind(&sock).unwrap();
    let receiver = std::thread::spawn(move || {
        use std::os::fd::AsRawFd;
        let (conn, _) = listener.accept().unwrap();
        let mut buf = [0u8; 4096];
        let mut iov = [IoSliceMut::new(&mut buf)];
        let mut space = nix::cmsg_space!([std::os::fd::RawFd; 1]);
        let msg = recvmsg::<()>(conn.as_raw_fd(), &mut iov, Some(&mut space), MsgFlags::empty()).unwrap();
        for cm in msg.cmsgs().unwrap() {
            if let ControlMessageOwned::ScmRights(fds) = cm {
                return fds.first().copied();
            }
        }
        None
    });
    let st = c
        .cmd()
        .args(["create", "--bundle", c.bundle.to_str().unwrap(), "--pid-file", c.pid_file.to_str().unwrap()])
        .args(["--console-socket", sock.to_str().unwrap(), &c.id])
        .stdin(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(st.success());
    // Kept as a raw fd: re-opening a pty master by path would open a new /dev/ptmx.
    let master: RawFd = receiver.join().unwrap().expect("no pty master received");
    c.run_ok(&["start", &c.id]);
    let mut got = Vec::new();
    let t0 = std::time::Instant::now();
    let mut buf = [0u8; 256];
    while !String::from_utf8_lossy(&got).contains("tty-") {
        assert!(t0.elapsed() < T, "no output on the pty");
        let n = nix::unistd::read(master, &mut buf).unwrap();
        got.extend_from_slice(&buf[..n]);
    }
    assert!(String::from_utf8_lossy(&got).contains("tty-yes"), "{:?}", String::from_utf8_lossy(&got));
    let pid = c.init_pid().unwrap();
    c.run_ok(&["kill", &c.id, "KILL"]);
    reap(pid, T);
    c.run_ok(&["delete", &c.id]);
    let _ = nix::unistd::close(master);
}
