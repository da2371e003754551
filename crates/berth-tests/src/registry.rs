//! A real registry for pull and push tests: Debian's `docker-registry` (distribution 2.8) on
//! 127.0.0.1 with its own port, storage directory and config, optionally with htpasswd auth.
//! Dropping it kills the process (by its pid) and removes the directory.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

pub struct Registry {
    pub addr: String,
    pub dir: PathBuf,
    child: Child,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("a free port")
}

/// GET `path` on `addr`; the status code (0 when nothing answers).
pub fn http_status(addr: &str, path: &str) -> u16 {
    let Ok(mut s) = TcpStream::connect_timeout(&addr.parse().expect("addr"), Duration::from_secs(2)) else { return 0 };
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    let _ = write!(s, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n");
    let mut buf = [0u8; 64];
    let n = s.read(&mut buf).unwrap_or(0);
    String::from_utf8_lossy(&buf[..n]).split_whitespace().nth(1).and_then(|c| c.parse().ok()).unwrap_or(0)
}

impl Registry {
    /// Starts one; with `user`, only `user`/`password` may use it (htpasswd, bcrypt).
    pub fn start(tag: &str, user: Option<(&str, &str)>) -> Registry {
        let bin = std::env::var("BERTH_REGISTRY_BIN").unwrap_or_else(|_| "/usr/bin/docker-registry".into());
        assert!(std::path::Path::new(&bin).exists(), "{bin} is missing: apt-get install docker-registry");
        let dir = std::env::temp_dir().join(format!("berth-registry-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("storage")).unwrap();
        let addr = format!("127.0.0.1:{}", free_port());
        let mut auth = String::new();
        if let Some((u, p)) = user {
            let out = Command::new("htpasswd").args(["-Bbn", u, p]).output().expect("htpasswd (apache2-utils)");
            assert!(out.status.success(), "htpasswd failed");
            std::fs::write(dir.join("htpasswd"), &out.stdout).unwrap();
            auth = format!("auth:\n  htpasswd:\n    realm: berth-test\n    path: {}\n", dir.join("htpasswd").display());
        }
        let config = format!(
            "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: {addr}\n{auth}",
            dir.join("storage").display()
        );
        std::fs::write(dir.join("config.yml"), config).unwrap();
        let log = std::fs::File::create(dir.join("registry.log")).unwrap();
        let child = Command::new(bin)
            .arg("serve")
            .arg(dir.join("config.yml"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("start docker-registry");
        let r = Registry { addr, dir, child };
        assert!(crate::wait_until(Duration::from_secs(10), || http_status(&r.addr, "/v2/") != 0), "the registry did not answer");
        r
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

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
