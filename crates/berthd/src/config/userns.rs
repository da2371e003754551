//! `--userns-remap` / `"userns-remap"`: Docker's semantics. `default` is the user and group
//! `dockremap`, made (with a subordinate range of 65536 ids in /etc/subuid and /etc/subgid) when
//! missing; `user[:group]` names an existing user (name or uid) and group (default: the user's
//! name). Every line of /etc/subuid for the user and of /etc/subgid for the group is a range, in
//! file order, numbered from container id 0 (Docker's idtools).

use super::ConfigError;
use berth_proto::idmap::IdMaps;
use std::path::Path;

pub const KEY: &str = "userns-remap";
const DEFAULT_NAME: &str = "dockremap";
/// Docker's first subordinate id and range size for `dockremap`.
const FIRST_SUBID: u64 = 100_000;
const RANGE: u64 = 65_536;

#[derive(Debug, Clone, PartialEq)]
pub struct Remap {
    /// As given (`default`, `user`, `user:group`).
    pub setting: String,
    pub user: String,
    pub group: String,
    pub maps: IdMaps,
}

fn bad(msg: String) -> ConfigError {
    ConfigError::Invalid(format!("invalid value for {KEY}: {msg}"))
}

/// Resolves the setting against the host's users and subordinate id files.
pub fn resolve(setting: &str) -> Result<Remap, ConfigError> {
    resolve_in(setting, Path::new("/etc/subuid"), Path::new("/etc/subgid"))
}

fn resolve_in(setting: &str, subuid: &Path, subgid: &Path) -> Result<Remap, ConfigError> {
    let (user, group) = match setting.split_once(':') {
        _ if setting == "default" => {
            ensure_default(subuid, subgid)?;
            (DEFAULT_NAME.to_string(), DEFAULT_NAME.to_string())
        }
        Some((u, g)) => (user_name(u)?, group_name(g)?),
        None if setting.is_empty() => return Err(bad("empty (default, or user[:group])".into())),
        None => {
            let u = user_name(setting)?;
            (u.clone(), u)
        }
    };
    let uids = ranges(subuid, &user).map_err(|e| bad(format!("reading {}: {e}", subuid.display())))?;
    if uids.is_empty() {
        return Err(bad(format!("no subuid ranges found for user \"{user}\" in {}", subuid.display())));
    }
    let gids = ranges(subgid, &group).map_err(|e| bad(format!("reading {}: {e}", subgid.display())))?;
    if gids.is_empty() {
        return Err(bad(format!("no subgid ranges found for group \"{group}\" in {}", subgid.display())));
    }
    Ok(Remap { setting: setting.to_string(), user, group, maps: IdMaps::from_subordinate(&uids, &gids) })
}

fn user_name(u: &str) -> Result<String, ConfigError> {
    let found = match u.parse::<u32>() {
        Ok(uid) => nix::unistd::User::from_uid(uid.into()),
        Err(_) => nix::unistd::User::from_name(u),
    };
    match found {
        Ok(Some(user)) => Ok(user.name),
        Ok(None) => Err(bad(format!("no such user: \"{u}\""))),
        Err(e) => Err(bad(format!("looking up user \"{u}\": {e}"))),
    }
}

fn group_name(g: &str) -> Result<String, ConfigError> {
    let found = match g.parse::<u32>() {
        Ok(gid) => nix::unistd::Group::from_gid(gid.into()),
        Err(_) => nix::unistd::Group::from_name(g),
    };
    match found {
        Ok(Some(group)) => Ok(group.name),
        Ok(None) => Err(bad(format!("no such group: \"{g}\""))),
        Err(e) => Err(bad(format!("looking up group \"{g}\": {e}"))),
    }
}

/// The `name:start:count` lines of `file` for `name` (or its numeric id), in order.
fn ranges(file: &Path, name: &str) -> std::io::Result<Vec<(u32, u32)>> {
    let text = match std::fs::read_to_string(file) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(e),
    };
    let id = nix::unistd::User::from_name(name).ok().flatten().map(|u| u.uid.as_raw().to_string());
    let id = id.or_else(|| nix::unistd::Group::from_name(name).ok().flatten().map(|g| g.gid.as_raw().to_string()));
    Ok(text
        .lines()
        .filter_map(|l| {
            let mut f = l.trim().split(':');
            let (who, start, count) = (f.next()?, f.next()?, f.next()?);
            (who == name || Some(who) == id.as_deref()).then_some(())?;
            let (start, count) = (start.parse::<u32>().ok()?, count.parse::<u32>().ok()?);
            (count > 0).then_some((start, count))
        })
        .collect())
}

/// Makes the `dockremap` user and group (as Docker: `useradd --system`) and gives them a range
/// of 65536 subordinate ids after every range already given, when they have none.
fn ensure_default(subuid: &Path, subgid: &Path) -> Result<(), ConfigError> {
    // Two daemons started at once must not both add a range.
    let _ = std::fs::create_dir_all("/run/lock");
    let lock =
        std::fs::OpenOptions::new().create(true).truncate(false).write(true).open("/run/lock/berth-dockremap.lock");
    let _held = lock.ok().and_then(|f| nix::fcntl::Flock::lock(f, nix::fcntl::FlockArg::LockExclusive).ok());
    if nix::unistd::User::from_name(DEFAULT_NAME).ok().flatten().is_none() {
        let out = std::process::Command::new("useradd")
            .args(["--system", "--user-group", "--no-create-home", "--shell", "/bin/false", DEFAULT_NAME])
            .output()
            .map_err(|e| bad(format!("creating the user {DEFAULT_NAME} (useradd): {e}")))?;
        // Another daemon may have made it meanwhile (exit status 9: the name is taken).
        if !out.status.success() && nix::unistd::User::from_name(DEFAULT_NAME).ok().flatten().is_none() {
            return Err(bad(format!(
                "creating the user {DEFAULT_NAME}: useradd: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            )));
        }
    }
    for file in [subuid, subgid] {
        let have = ranges(file, DEFAULT_NAME).map_err(|e| bad(format!("reading {}: {e}", file.display())))?;
        if have.is_empty() {
            add_range(file)
                .map_err(|e| bad(format!("adding a range for {DEFAULT_NAME} to {}: {e}", file.display())))?;
        }
    }
    Ok(())
}

/// Appends `dockremap:<start>:65536`, `start` past every range in the file (and at least 100000).
fn add_range(file: &Path) -> std::io::Result<()> {
    use std::io::Write;
    let text = std::fs::read_to_string(file).unwrap_or_default();
    let end = text
        .lines()
        .filter_map(|l| {
            let mut f = l.trim().split(':').skip(1);
            Some(f.next()?.parse::<u64>().ok()? + f.next()?.parse::<u64>().ok()?)
        })
        .max()
        .unwrap_or(0);
    let start = end.max(FIRST_SUBID);
    let mut f = std::fs::OpenOptions::new().append(true).create(true).open(file)?;
    let sep = if text.is_empty() || text.ends_with('\n') { "" } else { "\n" };
    writeln!(f, "{sep}{DEFAULT_NAME}:{start}:{RANGE}")?;
    f.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_line_for_the_user_in_order() {
        let d = std::env::temp_dir().join(format!("berthd-subuid-{}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(d.join("subuid"), "root:500000:10\nother:1:2\nroot:100000:65536\n").unwrap();
        std::fs::write(d.join("subgid"), "root:200000:65536\n").unwrap();
        let r = resolve_in("root", &d.join("subuid"), &d.join("subgid")).unwrap();
        assert_eq!(r.maps.uid_map(), "0 500000 10\n10 100000 65536\n");
        assert_eq!(r.maps.root(), (500000, 200000));
        let e = resolve_in("root:daemon", &d.join("subuid"), &d.join("subgid")).unwrap_err().to_string();
        assert!(e.contains("userns-remap") && e.contains("subgid") && e.contains("daemon"), "{e}");
        let e = resolve_in("no-such-user-here", &d.join("subuid"), &d.join("subgid")).unwrap_err().to_string();
        assert!(e.contains("userns-remap") && e.contains("no such user"), "{e}");
        std::fs::remove_dir_all(&d).unwrap();
    }
}
