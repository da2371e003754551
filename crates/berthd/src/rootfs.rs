//! Paths inside a container's root filesystem, resolved the way the container will see them:
//! symlinks are followed *within* the rootfs and `..` never climbs above it, so a hostile image
//! cannot make the daemon create or touch anything outside.

use std::path::{Component, Path, PathBuf};

/// Resolves `inner` (absolute, as seen in the container) to a host path under `root`.
pub fn secure_join(root: &Path, inner: &str) -> std::io::Result<PathBuf> {
    let mut todo: Vec<String> = Path::new(inner)
        .components()
        .filter_map(|c| match c {
            Component::Normal(s) => Some(s.to_string_lossy().into_owned()),
            Component::ParentDir => Some("..".into()),
            _ => None,
        })
        .rev()
        .collect();
    let mut cur: Vec<String> = Vec::new();
    let mut hops = 0;
    while let Some(part) = todo.pop() {
        if part == ".." {
            cur.pop();
            continue;
        }
        let candidate = root.join(cur.iter().collect::<PathBuf>()).join(&part);
        match std::fs::symlink_metadata(&candidate) {
            Ok(m) if m.file_type().is_symlink() => {
                hops += 1;
                if hops > 40 {
                    return Err(std::io::Error::other(format!("too many symlinks resolving {inner}")));
                }
                let target = std::fs::read_link(&candidate)?;
                if target.is_absolute() {
                    cur.clear();
                }
                for c in target.components().rev() {
                    match c {
                        Component::Normal(s) => todo.push(s.to_string_lossy().into_owned()),
                        Component::ParentDir => todo.push("..".into()),
                        _ => {}
                    }
                }
            }
            _ => cur.push(part),
        }
    }
    Ok(root.join(cur.iter().collect::<PathBuf>()))
}

/// Creates the container's working directory if the image lacks it, owned by the container user
/// (as dockerd does before start).
pub fn ensure_workdir(root: &Path, cwd: &str, uid: u32, gid: u32) -> std::io::Result<()> {
    if cwd.is_empty() || cwd == "/" {
        return Ok(());
    }
    let p = secure_join(root, cwd)?;
    if p.is_dir() {
        return Ok(());
    }
    std::fs::create_dir_all(&p)?;
    std::os::unix::fs::chown(&p, Some(uid), Some(gid))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn symlinks_stay_inside() {
        let d = std::env::temp_dir().join(format!("berthd-rootfs-{}", std::process::id()));
        std::fs::create_dir_all(d.join("real")).unwrap();
        std::os::unix::fs::symlink("/etc", d.join("evil")).unwrap();
        std::os::unix::fs::symlink("../../..", d.join("up")).unwrap();
        std::os::unix::fs::symlink("real", d.join("rel")).unwrap();
        assert_eq!(secure_join(&d, "/evil/x").unwrap(), d.join("etc/x"));
        assert_eq!(secure_join(&d, "/up/tmp").unwrap(), d.join("tmp"));
        assert_eq!(secure_join(&d, "/rel/a/../b").unwrap(), d.join("real/b"));
        assert_eq!(secure_join(&d, "/../../x").unwrap(), d.join("x"));
        ensure_workdir(&d, "/evil/made", 0, 0).unwrap();
        assert!(d.join("etc/made").is_dir() && !Path::new("/etc/made").exists());
        std::fs::remove_dir_all(&d).unwrap();
    }
}
