//! Docker's `--user` forms resolved against the image's own /etc/passwd and /etc/group.

use std::path::Path;

/// Resolves Docker's `--user` forms (`uid`, `uid:gid`, `name`, `name:group`) against the image's
/// /etc/passwd and /etc/group. Returns (uid, gid, supplementary gids); as in Docker the
/// supplementary groups start with the primary one, then the user's groups in /etc/group.
pub fn resolve_user(rootfs: &Path, user: &str) -> Result<(u32, u32, Vec<u32>), String> {
    let passwd = std::fs::read_to_string(rootfs.join("etc/passwd")).unwrap_or_default();
    let group = std::fs::read_to_string(rootfs.join("etc/group")).unwrap_or_default();
    let (u, g) = match user.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (user, None),
    };
    let u = if u.is_empty() { "0" } else { u };
    let entry =
        passwd.lines().map(|l| l.split(':').collect::<Vec<_>>()).find(|f| f.len() >= 4 && (f[0] == u || f[2] == u));
    let (uid, mut gid, name) = match (u.parse::<u32>(), entry) {
        (_, Some(f)) => (f[2].parse().unwrap_or(0), f[3].parse().unwrap_or(0), Some(f[0].to_string())),
        // A uid the image does not list runs with group 0, as in Docker.
        (Ok(n), None) => (n, 0, None),
        (Err(_), None) => return Err(format!("unable to find user {u}: no matching entries in passwd file")),
    };
    if let Some(g) = g {
        gid = match g.parse::<u32>() {
            Ok(n) => n,
            Err(_) => group
                .lines()
                .map(|l| l.split(':').collect::<Vec<_>>())
                .find(|f| f.len() >= 3 && f[0] == g)
                .and_then(|f| f[2].parse().ok())
                .ok_or_else(|| format!("unable to find group {g}: no matching entries in group file"))?,
        };
    }
    let extra = match name {
        Some(n) => group
            .lines()
            .map(|l| l.split(':').collect::<Vec<_>>())
            .filter(|f| f.len() >= 4 && f[3].split(',').any(|m| m == n))
            .filter_map(|f| f[2].parse().ok())
            .filter(|g| *g != gid)
            .collect(),
        None => vec![],
    };
    Ok((uid, gid, std::iter::once(gid).chain(extra).collect()))
}

/// `--group-add`: each entry a group name or number of the image's /etc/group, or a number it
/// does not list (Docker's `GetAdditionalGroupsPath`).
pub fn group_add(rootfs: &Path, groups: &[String]) -> Result<Vec<u32>, String> {
    let text = std::fs::read_to_string(rootfs.join("etc/group")).unwrap_or_default();
    let entries: Vec<Vec<&str>> =
        text.lines().map(|l| l.split(':').collect::<Vec<_>>()).filter(|f| f.len() >= 3).collect();
    groups
        .iter()
        .map(|g| {
            if let Some(f) = entries.iter().find(|f| f[0] == g || f[2] == g) {
                return f[2]
                    .parse::<u32>()
                    .map_err(|_| format!("invalid gid {:?} of group {} in the image's /etc/group", f[2], f[0]));
            }
            match g.parse::<i64>() {
                Ok(n) if (0..=i64::from(i32::MAX)).contains(&n) => Ok(n as u32),
                Ok(_) => Err(format!("Invalid GID {g}: out of range 0 to 2147483647")),
                Err(_) => Err(format!("Unable to find group {g}: no matching entries in group file")),
            }
        })
        .collect()
}
