//! `/etc/hosts` for containers on a user network: peers resolve each other by name from a static
//! file inside the container, which keeps working while the daemon is down (as does the embedded
//! DNS its monitor serves from the names the daemon writes beside it).

use crate::{io_err, Result};
use std::fs::OpenOptions;
use std::io::Write;
use std::net::IpAddr;
use std::path::Path;

/// One line: an address and its names (first the primary name, then aliases).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostsEntry {
    pub ip: IpAddr,
    pub names: Vec<String>,
}

impl HostsEntry {
    pub fn new(ip: impl Into<IpAddr>, names: impl IntoIterator<Item = impl Into<String>>) -> Self {
        HostsEntry { ip: ip.into(), names: names.into_iter().map(Into::into).collect() }
    }
}

/// Renders Docker's layout: loopback lines, `extra` (`--add-host`), the container itself, then its
/// peers. Names with whitespace or '#' are dropped (they would corrupt the file).
pub fn render_hosts(own: &HostsEntry, peers: &[HostsEntry], extra: &[HostsEntry]) -> String {
    let mut s = String::from(
        "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::0\tip6-localnet\n\
         ff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n",
    );
    for e in extra.iter().chain(std::iter::once(own)).chain(peers) {
        let names: Vec<&str> = e
            .names
            .iter()
            .map(String::as_str)
            .filter(|n| !n.is_empty() && !n.contains(|c: char| c.is_whitespace() || c == '#'))
            .collect();
        if !names.is_empty() {
            s.push_str(&format!("{}\t{}\n", e.ip, names.join(" ")));
        }
    }
    s
}

/// Writes the hosts file. An existing file is rewritten in place, not renamed over: it is
/// bind-mounted into the running container, which would keep seeing the old inode.
pub fn write_hosts(path: &Path, own: &HostsEntry, peers: &[HostsEntry], extra: &[HostsEntry]) -> Result<()> {
    let data = render_hosts(own, peers, extra);
    if path.exists() {
        let mut f = OpenOptions::new()
            .write(true)
            .truncate(true)
            .open(path)
            .map_err(io_err(format!("opening {}", path.display())))?;
        f.write_all(data.as_bytes()).map_err(io_err(format!("writing {}", path.display())))?;
        f.sync_all().map_err(io_err(format!("syncing {}", path.display())))?;
        Ok(())
    } else {
        // Readable by every user inside the container, as Docker's.
        berth_proto::fsutil::write_atomic_mode(path, data.as_bytes(), 0o644)
            .map_err(io_err(format!("writing {}", path.display())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;
    use std::os::unix::fs::MetadataExt;

    #[test]
    fn peers_and_inode_kept() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("hosts");
        let own = HostsEntry::new(Ipv4Addr::new(10, 77, 0, 2), ["web", "abc123", "www"]);
        write_hosts(&p, &own, &[], &[]).unwrap();
        let ino = std::fs::metadata(&p).unwrap().ino();
        let peer = HostsEntry::new(Ipv4Addr::new(10, 77, 0, 3), ["db", "bad name", "pg"]);
        let extra = HostsEntry::new(Ipv4Addr::new(192, 0, 2, 9), ["gw.example"]);
        write_hosts(&p, &own, &[peer], &[extra]).unwrap();
        assert_eq!(std::fs::metadata(&p).unwrap().ino(), ino, "must rewrite in place");
        let text = std::fs::read_to_string(&p).unwrap();
        assert!(text.starts_with("127.0.0.1\tlocalhost\n"));
        assert!(text.contains("\n10.77.0.2\tweb abc123 www\n"));
        assert!(text.ends_with("\n192.0.2.9\tgw.example\n10.77.0.2\tweb abc123 www\n10.77.0.3\tdb pg\n"), "{text}");
    }
}
