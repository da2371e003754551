//! Test harness: every networking test runs in its own throw-away network namespace (its "host"),
//! so bridges, veths, sysctls and nft tables never touch the real host or another test.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

const INNER: &str = "BERTH_NET_TEST_INNER";

static SEQ: AtomicU32 = AtomicU32::new(0);

/// A name unique to this process: `<prefix><pid>x<n>` (≤ 15 bytes for interface names).
pub fn unique(prefix: &str) -> String {
    format!("{prefix}{}x{}", std::process::id() % 100_000, SEQ.fetch_add(1, Ordering::Relaxed))
}

pub fn sh(prog: &str, args: &[&str]) -> String {
    let out = Command::new(prog).args(args).output().unwrap_or_else(|e| panic!("{prog}: {e}"));
    assert!(out.status.success(), "{prog} {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A named network namespace (`ip netns add`), deleted on drop.
pub struct Netns {
    pub name: String,
}

impl Netns {
    pub fn new(prefix: &str) -> Netns {
        let name = unique(prefix);
        sh("ip", &["netns", "add", &name]);
        sh("ip", &["-n", &name, "link", "set", "lo", "up"]);
        Netns { name }
    }
    pub fn path(&self) -> std::path::PathBuf {
        format!("/run/netns/{}", self.name).into()
    }
    /// Runs a command inside the namespace, returning its output (not asserting success).
    pub fn exec(&self, args: &[&str]) -> std::process::Output {
        let mut full = vec!["netns", "exec", &self.name];
        full.extend_from_slice(args);
        Command::new("ip").args(&full).output().expect("ip netns exec")
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.name]).status();
    }
}

/// Runs the calling test's body in a fresh network namespace: returns `true` in the re-executed
/// child (run the body), `false` in the parent (which asserted the child passed).
pub fn in_own_netns(test_name: &str) -> bool {
    if std::env::var(INNER).as_deref() == Ok(test_name) {
        return true;
    }
    let ns = Netns::new("bnh");
    let exe = std::env::current_exe().unwrap();
    let out = Command::new("ip")
        .args(["netns", "exec", &ns.name])
        .arg(&exe)
        .args(["--exact", test_name, "--nocapture", "--include-ignored", "--test-threads=1"])
        .env(INNER, test_name)
        .output()
        .unwrap();
    let text = format!("{}\n{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    eprintln!("--- inner run of {test_name} ---\n{text}");
    assert!(out.status.success(), "inner test {test_name} failed");
    assert!(text.contains("1 passed"), "inner test {test_name} did not run");
    false
}

const SERVER: &str = r#"
import socket, sys
s = socket.socket(socket.AF_INET6 if ":" in sys.argv[1] else socket.AF_INET)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], int(sys.argv[2])))
s.listen(16)
print("ready", flush=True)
while True:
    c, a = s.accept()
    c.sendall(("hello from %s to %s" % (sys.argv[1], a[0])).encode())
    c.close()
"#;

const CLIENT: &str = r#"
import socket, sys
c = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=3)
print(c.recv(200).decode(), end="")
"#;

/// A TCP server in `ns` (or the current namespace) answering `hello from <bind> to <peer ip>`;
/// killed (by pid) on drop.
pub struct Server {
    child: Child,
}

impl Server {
    pub fn start(ns: Option<&Netns>, bind: &str, port: u16) -> Server {
        let mut cmd = match ns {
            Some(ns) => {
                let mut c = Command::new("ip");
                c.args(["netns", "exec", &ns.name, "python3"]);
                c
            }
            None => Command::new("python3"),
        };
        let mut child = cmd
            .args(["-c", SERVER, bind, &port.to_string()])
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.as_mut().unwrap()).read_line(&mut line).unwrap();
        assert_eq!(line.trim(), "ready", "server did not start");
        Server { child }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Connects from `ns` with a 3 s timeout; `Err(stderr)` when it fails.
pub fn client_in(ns: &Netns, host: &str, port: u16) -> Result<String, String> {
    let out = ns.exec(&["python3", "-c", CLIENT, host, &port.to_string()]);
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

/// Connects from the current namespace.
pub fn client_here(addr: &str) -> Result<String, String> {
    let a: SocketAddr = addr.parse().unwrap();
    let mut s = TcpStream::connect_timeout(&a, Duration::from_secs(3)).map_err(|e| e.to_string())?;
    s.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
    let mut buf = String::new();
    s.read_to_string(&mut buf).map_err(|e| e.to_string())?;
    Ok(buf)
}
