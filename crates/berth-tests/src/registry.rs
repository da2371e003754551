//! A real registry for pull and push tests: Debian's `docker-registry` (distribution 2.8) on
//! 127.0.0.1 with its own port, storage directory and config, optionally with htpasswd auth or
//! with bearer-token auth from a token server of the test's own (`token_server.py`).
//! Dropping it kills the processes (by their pids) and removes the directory.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

pub struct Registry {
    pub addr: String,
    pub dir: PathBuf,
    child: Child,
    token_server: Option<Child>,
}

/// Who may use a test registry.
pub enum Auth<'a> {
    Open,
    /// Basic auth against an htpasswd file (bcrypt).
    Htpasswd(&'a str, &'a str),
    /// Bearer tokens from a token server that takes these Basic credentials.
    Token(&'a str, &'a str),
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("a free port")
}

/// GET `path` on `addr`; the status code (0 when nothing answers).
pub fn http_status(addr: &str, path: &str) -> u16 {
    head(addr, path).split_whitespace().nth(1).and_then(|c| c.parse().ok()).unwrap_or(0)
}

/// The start of the answer to GET `path` on `addr` (empty when nothing answers).
fn head(addr: &str, path: &str) -> String {
    let Ok(mut s) = TcpStream::connect_timeout(&addr.parse().expect("addr"), Duration::from_secs(2)) else {
        return String::new();
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    let _ = write!(s, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n");
    let mut buf = [0u8; 1024];
    let n = s.read(&mut buf).unwrap_or(0);
    String::from_utf8_lossy(&buf[..n]).into_owned()
}

/// True when what answers on `addr` is a registry, not some other test's server on that port.
fn is_registry(addr: &str) -> bool {
    head(addr, "/v2/").to_ascii_lowercase().contains("docker-distribution-api-version")
}

impl Registry {
    /// Starts one; with `user`, only `user`/`password` may use it (htpasswd, bcrypt).
    pub fn start(tag: &str, user: Option<(&str, &str)>) -> Registry {
        match user {
            Some((u, p)) => Self::start_with(tag, Auth::Htpasswd(u, p)),
            None => Self::start_with(tag, Auth::Open),
        }
    }

    pub fn start_with(tag: &str, auth: Auth) -> Registry {
        let bin = std::env::var("BERTH_REGISTRY_BIN").unwrap_or_else(|_| "/usr/bin/docker-registry".into());
        assert!(std::path::Path::new(&bin).exists(), "{bin} is missing: apt-get install docker-registry");
        let dir = std::env::temp_dir().join(format!("berth-registry-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("storage")).unwrap();
        // The token server first: it holds its port while the registry's is chosen, so the two
        // cannot be handed the same free port (they once were, and the push reached the token
        // server).
        let mut token_server = None;
        let auth = match auth {
            Auth::Open => String::new(),
            Auth::Htpasswd(u, p) => {
                let out = Command::new("htpasswd").args(["-Bbn", u, p]).output().expect("htpasswd (apache2-utils)");
                assert!(out.status.success(), "htpasswd failed");
                std::fs::write(dir.join("htpasswd"), &out.stdout).unwrap();
                format!("auth:\n  htpasswd:\n    realm: berth-test\n    path: {}\n", dir.join("htpasswd").display())
            }
            Auth::Token(u, p) => {
                let (child, realm) = start_token_server(&dir, u, p);
                token_server = Some(child);
                format!(
                    "auth:\n  token:\n    realm: {realm}\n    service: berth-test-registry\n    issuer: berth-test-issuer\n    rootcertbundle: {}\n",
                    dir.join("token-cert.pem").display()
                )
            }
        };
        // A free port can still be taken by another test between choosing and binding it: the
        // registry then exits, and it is started again on another.
        for _ in 0..5 {
            let addr = format!("127.0.0.1:{}", free_port());
            let mut child = spawn_registry(&bin, &dir, &addr, &auth);
            let answered = crate::wait_until(Duration::from_secs(10), || {
                is_registry(&addr) || matches!(child.try_wait(), Ok(Some(_)))
            });
            if answered && matches!(child.try_wait(), Ok(None)) {
                return Registry { addr, dir, child, token_server };
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        if let Some(mut t) = token_server {
            let _ = t.kill();
            let _ = t.wait();
        }
        panic!("the registry did not start: {}", std::fs::read_to_string(dir.join("registry.log")).unwrap_or_default());
    }

    /// What the token server was asked, one JSON object a line (empty without one).
    pub fn token_requests(&self) -> Vec<serde_json::Value> {
        std::fs::read_to_string(self.dir.join("token-requests.log"))
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }

    /// The files holding a repository's blobs' data.
    pub fn blob_files(&self) -> Vec<PathBuf> {
        let root = self.dir.join("storage/docker/registry/v2/blobs/sha256");
        let mut out = Vec::new();
        for a in std::fs::read_dir(&root).into_iter().flatten().flatten() {
            for b in std::fs::read_dir(a.path()).into_iter().flatten().flatten() {
                out.push(b.path().join("data"));
            }
        }
        out
    }
}

fn spawn_registry(bin: &str, dir: &std::path::Path, addr: &str, auth: &str) -> Child {
    let config = format!(
        "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: {addr}\n{auth}",
        dir.join("storage").display()
    );
    std::fs::write(dir.join("config.yml"), config).unwrap();
    let log = std::fs::File::create(dir.join("registry.log")).unwrap();
    Command::new(bin)
        .arg("serve")
        .arg(dir.join("config.yml"))
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .expect("start docker-registry")
}

/// A key and self-signed certificate (the registry's `rootcertbundle`), and the token server
/// signing with them; its child and its realm URL.
fn start_token_server(dir: &std::path::Path, user: &str, password: &str) -> (Child, String) {
    let (key, cert, der) = (dir.join("token-key.pem"), dir.join("token-cert.pem"), dir.join("token-pub.der"));
    let ok = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=berth-test-token",
            "-keyout",
        ])
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .stderr(Stdio::null())
        .status()
        .expect("openssl");
    assert!(ok.success(), "openssl req failed");
    let pubkey =
        Command::new("openssl").args(["x509", "-pubkey", "-noout", "-in"]).arg(&cert).output().expect("openssl x509");
    std::fs::write(dir.join("token-pub.pem"), &pubkey.stdout).unwrap();
    let ok = Command::new("openssl")
        .args(["pkey", "-pubin", "-outform", "DER", "-in"])
        .arg(dir.join("token-pub.pem"))
        .arg("-out")
        .arg(&der)
        .status()
        .unwrap();
    assert!(ok.success(), "openssl pkey failed");
    let script = dir.join("token_server.py");
    std::fs::write(&script, include_str!("token_server.py")).unwrap();
    let port = free_port();
    let mut child = Command::new("python3")
        .arg(&script)
        .arg(port.to_string())
        .arg(&key)
        .arg(&der)
        .args([user, password, "berth-test-issuer"])
        .arg(dir.join("token-requests.log"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(dir.join("token-server.err")).unwrap())
        .spawn()
        .expect("start the token server");
    let addr = format!("127.0.0.1:{port}");
    if !crate::wait_until(Duration::from_secs(10), || http_status(&addr, "/health") != 0) {
        let _ = child.kill();
        let _ = child.wait();
        panic!(
            "the token server did not answer: {}",
            std::fs::read_to_string(dir.join("token-server.err")).unwrap_or_default()
        );
    }
    (child, format!("http://{addr}/token"))
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if let Some(t) = self.token_server.as_mut() {
            let _ = t.kill();
            let _ = t.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
