//! `HostConfig.SecurityOpt`, the daemon's `seccomp-profile` and `no-new-privileges` settings,
//! and the choice each container records at create (invariant 8).

use super::profile::{Profile, MAX_PROFILE_BYTES};
use crate::model::SeccompRecord;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// A `seccomp=` value.
#[derive(Debug, Clone, PartialEq)]
pub enum SeccompOpt {
    Unconfined,
    Builtin,
    /// The profile's JSON, as the docker CLI sends a `--security-opt seccomp=<file>`.
    Profile(String),
}

/// What `SecurityOpt` asks for. Options Berth cannot honour are refused by [`parse_security_opts`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SecurityOpts {
    pub seccomp: Option<SeccompOpt>,
    pub no_new_privileges: Option<bool>,
}

/// Go's `strconv.ParseBool`, which dockerd uses for these values.
fn go_bool(v: &str) -> Option<bool> {
    match v {
        "1" | "t" | "T" | "true" | "TRUE" | "True" => Some(true),
        "0" | "f" | "F" | "false" | "FALSE" | "False" => Some(false),
        _ => None,
    }
}

/// Parses `SecurityOpt` as dockerd does (`key=value`, the old `key:value`, bare
/// `no-new-privileges`), refusing by name what Berth does not do. `apparmor=unconfined` and
/// `label=disable` are accepted because they ask for what is already true: Berth applies
/// neither AppArmor profiles nor SELinux labels.
pub fn parse_security_opts(opts: &[String]) -> Result<SecurityOpts, String> {
    let mut out = SecurityOpts::default();
    for opt in opts {
        if opt == "no-new-privileges" {
            out.no_new_privileges = Some(true);
            continue;
        }
        if opt == "disable" {
            continue;
        }
        let split = if opt.contains('=') { opt.split_once('=') } else { opt.split_once(':') };
        let Some((key, value)) = split else {
            return Err(format!(
                "invalid --security-opt {opt:?}: expected key=value (seccomp=, no-new-privileges, apparmor=, label=)"
            ));
        };
        match key {
            "seccomp" => out.seccomp = Some(seccomp_value(value)?),
            "no-new-privileges" => {
                let v = go_bool(value)
                    .ok_or_else(|| format!("invalid --security-opt {opt:?}: no-new-privileges takes true or false"))?;
                out.no_new_privileges = Some(v);
            }
            "apparmor" if value == "unconfined" => {}
            "apparmor" => {
                return Err(format!(
                    "invalid --security-opt {opt:?}: Berth does not apply AppArmor profiles (only apparmor=unconfined is accepted)"
                ));
            }
            "label" if value == "disable" => {}
            "label" => {
                return Err(format!(
                    "invalid --security-opt {opt:?}: Berth does not apply SELinux labels (only label=disable is accepted)"
                ));
            }
            "systempaths" => {
                return Err(format!(
                    "invalid --security-opt {opt:?}: systempaths=unconfined is applied by the client, which sends empty HostConfig.MaskedPaths and ReadonlyPaths instead"
                ));
            }
            "writable-cgroups" => {
                return Err(format!("invalid --security-opt {opt:?}: writable cgroups are not supported by Berth"))
            }
            _ => return Err(format!("invalid --security-opt {opt:?}: unknown option {key:?}")),
        }
    }
    Ok(out)
}

fn seccomp_value(v: &str) -> Result<SeccompOpt, String> {
    match v {
        "unconfined" => Ok(SeccompOpt::Unconfined),
        "builtin" => Ok(SeccompOpt::Builtin),
        json if json.trim_start().starts_with('{') => {
            Profile::parse(json).map_err(|e| e.to_string())?;
            Ok(SeccompOpt::Profile(json.to_string()))
        }
        other => {
            let shown: String = other.chars().take(80).collect();
            Err(format!(
                "invalid seccomp profile {shown:?}: expected unconfined, builtin or the profile's JSON; the daemon does not read profile files named by clients (the docker CLI sends a file's content)"
            ))
        }
    }
}

/// The daemon's default (`seccomp-profile`): a profile file is read and checked when the
/// configuration is loaded or reloaded, never per container.
#[derive(Clone, PartialEq, Default)]
pub enum DaemonSeccomp {
    #[default]
    Builtin,
    Unconfined,
    File {
        path: PathBuf,
        json: Arc<str>,
    },
}

impl std::fmt::Debug for DaemonSeccomp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.name())
    }
}

impl DaemonSeccomp {
    /// Reads the `seccomp-profile` setting: `builtin`, `unconfined` or an absolute path.
    pub fn from_setting(value: &str) -> Result<DaemonSeccomp, String> {
        match value {
            "" | "builtin" => Ok(DaemonSeccomp::Builtin),
            "unconfined" => Ok(DaemonSeccomp::Unconfined),
            p if Path::new(p).is_absolute() => {
                let json =
                    read_limited(Path::new(p)).map_err(|e| format!("opening seccomp profile ({p}) failed: {e}"))?;
                Profile::parse(&json).map_err(|e| format!("{p}: {e}"))?;
                Ok(DaemonSeccomp::File { path: p.into(), json: json.into() })
            }
            other => Err(format!("{other:?} is neither builtin, unconfined nor an absolute path to a profile")),
        }
    }

    /// As `docker info` shows it: `builtin`, `unconfined` or the file's path.
    pub fn name(&self) -> String {
        match self {
            DaemonSeccomp::Builtin => "builtin".into(),
            DaemonSeccomp::Unconfined => "unconfined".into(),
            DaemonSeccomp::File { path, .. } => path.display().to_string(),
        }
    }
}

fn read_limited(path: &Path) -> std::io::Result<String> {
    use std::io::Read;
    let mut s = String::new();
    std::fs::File::open(path)?.take(MAX_PROFILE_BYTES as u64 + 1).read_to_string(&mut s)?;
    Ok(s)
}

/// What a new container gets. Docker's rule: `seccomp=unconfined` wins; a privileged
/// container runs without a filter unless one is given explicitly; then the container's own
/// option, then the daemon's default.
#[derive(Debug, Clone, PartialEq)]
pub enum Chosen {
    Builtin,
    Unconfined,
    Custom { json: String, origin: String },
}

pub fn choose(opts: &SecurityOpts, privileged: bool, daemon: &DaemonSeccomp) -> Chosen {
    match (&opts.seccomp, privileged, daemon) {
        (Some(SeccompOpt::Unconfined), _, _) => Chosen::Unconfined,
        (Some(SeccompOpt::Builtin), _, _) => Chosen::Builtin,
        (Some(SeccompOpt::Profile(json)), _, _) => Chosen::Custom { json: json.clone(), origin: "api".into() },
        (None, true, _) | (None, false, DaemonSeccomp::Unconfined) => Chosen::Unconfined,
        (None, false, DaemonSeccomp::Builtin) => Chosen::Builtin,
        (None, false, DaemonSeccomp::File { path, json }) => {
            Chosen::Custom { json: json.to_string(), origin: format!("daemon:{}", path.display()) }
        }
    }
}

impl Chosen {
    /// The record of this choice; a custom profile is written to `dir` first (before the
    /// record exists, so a crash leaves only a directory that create's rollback removes).
    pub fn record(self, dir: &Path) -> std::io::Result<SeccompRecord> {
        Ok(match self {
            Chosen::Builtin => SeccompRecord::Builtin,
            Chosen::Unconfined => SeccompRecord::Unconfined,
            Chosen::Custom { json, origin } => {
                let profile = dir.join(super::PROFILE_FILE);
                berth_proto::fsutil::write_atomic(&profile, json.as_bytes())?;
                SeccompRecord::Custom { profile, origin }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(v: &[&str]) -> Result<SecurityOpts, String> {
        parse_security_opts(&v.iter().map(|s| s.to_string()).collect::<Vec<_>>())
    }

    #[test]
    fn security_opt_forms() {
        let o = opts(&["no-new-privileges", "seccomp=unconfined"]).unwrap();
        assert_eq!(o, SecurityOpts { seccomp: Some(SeccompOpt::Unconfined), no_new_privileges: Some(true) });
        assert_eq!(opts(&["no-new-privileges=false"]).unwrap().no_new_privileges, Some(false));
        assert_eq!(opts(&["no-new-privileges:1"]).unwrap().no_new_privileges, Some(true));
        assert_eq!(opts(&["seccomp:builtin"]).unwrap().seccomp, Some(SeccompOpt::Builtin));
        let json = r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["mkdir"],"action":"SCMP_ACT_ERRNO"}]}"#;
        assert_eq!(opts(&[&format!("seccomp={json}")]).unwrap().seccomp, Some(SeccompOpt::Profile(json.into())));
        assert!(opts(&["apparmor=unconfined", "label=disable", "disable"]).is_ok());
        for (bad, why) in [
            ("no-new-privileges=maybe", "true or false"),
            ("seccomp=/etc/profile.json", "does not read profile files"),
            ("seccomp={\"defaultAction\":\"NOPE\"}", "defaultAction"),
            ("apparmor=docker-default", "AppArmor"),
            ("label=type:svirt_apache_t", "SELinux"),
            ("systempaths=unconfined", "MaskedPaths"),
            ("writable-cgroups=true", "writable cgroups"),
            ("mask=/proc/kcore", "unknown option \"mask\""),
            ("bogus", "expected key=value"),
        ] {
            let e = opts(&[bad]).unwrap_err();
            assert!(e.contains(why), "{bad}: {e}");
        }
    }

    #[test]
    fn docker_choice_rules() {
        let none = SecurityOpts::default();
        let file = DaemonSeccomp::File { path: "/p.json".into(), json: "{}".into() };
        assert_eq!(choose(&none, false, &DaemonSeccomp::Builtin), Chosen::Builtin);
        assert_eq!(choose(&none, true, &DaemonSeccomp::Builtin), Chosen::Unconfined);
        assert_eq!(choose(&none, false, &DaemonSeccomp::Unconfined), Chosen::Unconfined);
        assert_eq!(choose(&none, false, &file), Chosen::Custom { json: "{}".into(), origin: "daemon:/p.json".into() });
        assert_eq!(choose(&none, true, &file), Chosen::Unconfined);
        let given = SecurityOpts { seccomp: Some(SeccompOpt::Profile("{}".into())), ..Default::default() };
        assert_eq!(
            choose(&given, true, &DaemonSeccomp::Builtin),
            Chosen::Custom { json: "{}".into(), origin: "api".into() }
        );
        let builtin = SecurityOpts { seccomp: Some(SeccompOpt::Builtin), ..Default::default() };
        assert_eq!(choose(&builtin, false, &DaemonSeccomp::Unconfined), Chosen::Builtin);
    }
}
