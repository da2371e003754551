//! Seccomp profiles in Docker's JSON format: the OCI `linux.seccomp` fields plus `archMap`
//! and per-rule `includes`/`excludes` conditions (capabilities, architectures, kernel version)
//! that are resolved for each container.
//!
//! Parsing is strict where Docker is lax: an unknown field (a typo such as `inlcudes` would
//! otherwise turn a conditional rule into an unconditional one), an unknown capability or
//! architecture name, an argument index beyond the sixth, `errnoRet` on an action that has no
//! errno, and `SCMP_ACT_NOTIFY` (Berth runs no seccomp agent) are all refused with the path of
//! the offending field.

use oci_spec::runtime::{Arch, LinuxSeccompAction, LinuxSeccompFilterFlag, LinuxSeccompOperator};
use serde::{Deserialize, Deserializer};

/// Profiles larger than this are refused: one is kept in every container's record.
pub const MAX_PROFILE_BYTES: usize = 1 << 20;

#[derive(Debug, thiserror::Error, PartialEq)]
#[error("invalid seccomp profile: {0}")]
pub struct ProfileError(pub String);

fn bad(msg: impl Into<String>) -> ProfileError {
    ProfileError(msg.into())
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Profile {
    #[serde(default)]
    pub default_action: Option<LinuxSeccompAction>,
    #[serde(default)]
    pub default_errno_ret: Option<u32>,
    #[serde(default, deserialize_with = "null_default")]
    pub architectures: Vec<Arch>,
    #[serde(default, deserialize_with = "null_default")]
    pub arch_map: Vec<ArchGroup>,
    #[serde(default, deserialize_with = "null_default")]
    pub flags: Vec<LinuxSeccompFilterFlag>,
    #[serde(default)]
    pub listener_path: Option<String>,
    #[serde(default)]
    pub listener_metadata: Option<String>,
    #[serde(default, deserialize_with = "null_default")]
    pub syscalls: Vec<Rule>,
}

/// One `archMap` entry: the native architecture and the ones its kernel also runs.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ArchGroup {
    pub architecture: Arch,
    #[serde(default, deserialize_with = "null_default")]
    pub sub_architectures: Vec<Arch>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Rule {
    #[serde(default, deserialize_with = "null_default")]
    pub names: Vec<String>,
    /// The single-name form of old profiles.
    #[serde(default)]
    pub name: Option<String>,
    pub action: LinuxSeccompAction,
    #[serde(default)]
    pub errno_ret: Option<u32>,
    #[serde(default, deserialize_with = "null_default")]
    pub args: Vec<Arg>,
    #[serde(default)]
    pub comment: Option<String>,
    #[serde(default)]
    pub includes: Option<Filter>,
    #[serde(default)]
    pub excludes: Option<Filter>,
}

#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Arg {
    pub index: u32,
    pub value: u64,
    #[serde(default)]
    pub value_two: Option<u64>,
    pub op: LinuxSeccompOperator,
}

/// A rule's condition: every listed capability (in the container's bounding set), one of the
/// listed architectures (the host's, by Go's names: `amd64`, `arm64`, `x32`...), and the kernel
/// at least this version.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Filter {
    #[serde(default, deserialize_with = "null_default")]
    pub caps: Vec<String>,
    #[serde(default, deserialize_with = "null_default")]
    pub arches: Vec<String>,
    #[serde(default)]
    pub min_kernel: Option<KernelVersion>,
}

/// `<kernel>.<major>`, as Docker compares them (later parts and suffixes are ignored).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct KernelVersion(pub u32, pub u32);

impl KernelVersion {
    /// The leading `a.b` of a release string such as `6.18.2-amd64` or `3.12-1-amd64`.
    pub fn of_release(release: &str) -> Option<KernelVersion> {
        let mut parts = release.split(|c: char| !c.is_ascii_digit());
        let a = parts.next()?.parse().ok()?;
        let b = parts.next()?.parse().ok()?;
        Some(KernelVersion(a, b))
    }
}

impl<'de> Deserialize<'de> for KernelVersion {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        let parsed = s.split_once('.').and_then(|(a, b)| Some(KernelVersion(a.parse().ok()?, b.parse().ok()?)));
        match parsed {
            Some(v) if v != KernelVersion(0, 0) => Ok(v),
            _ => Err(serde::de::Error::custom(format!(
                "invalid kernel version {s:?}, expected \"<kernel>.<major>\" such as \"4.8\""
            ))),
        }
    }
}

/// `null` reads as the empty list, as Go's decoder does (Docker's own profile has
/// `"subArchitectures": null`).
fn null_default<'de, D: Deserializer<'de>, T: Deserialize<'de> + Default>(d: D) -> Result<T, D::Error> {
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// Every capability Linux defines; a profile condition naming another one is a mistake.
pub const CAPABILITIES: &[&str] = &[
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_DAC_READ_SEARCH",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETPCAP",
    "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN",
    "CAP_NET_RAW",
    "CAP_IPC_LOCK",
    "CAP_IPC_OWNER",
    "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO",
    "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN",
    "CAP_SYS_BOOT",
    "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG",
    "CAP_MKNOD",
    "CAP_LEASE",
    "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN",
    "CAP_SYSLOG",
    "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND",
    "CAP_AUDIT_READ",
    "CAP_PERFMON",
    "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
];

/// Architecture names of `includes`/`excludes.arches` (libseccomp's, as Docker uses them).
pub const ARCH_NAMES: &[&str] = &[
    "x86",
    "amd64",
    "x32",
    "arm",
    "arm64",
    "loongarch64",
    "mips",
    "mips64",
    "mips64n32",
    "mipsel",
    "mipsel64",
    "mipsel64n32",
    "ppc",
    "ppc64",
    "ppc64le",
    "riscv64",
    "s390",
    "s390x",
];

impl Profile {
    /// Parses and checks a profile. Errors name the field (`syscalls[3].action: ...`).
    pub fn parse(json: &str) -> Result<Profile, ProfileError> {
        if json.len() > MAX_PROFILE_BYTES {
            return Err(bad(format!("the profile is {} bytes; at most {MAX_PROFILE_BYTES} are accepted", json.len())));
        }
        let de = &mut serde_json::Deserializer::from_str(json);
        let p: Profile = serde_path_to_error::deserialize(de).map_err(|e| {
            let path = e.path().to_string();
            if path == "." {
                bad(e.inner().to_string())
            } else {
                bad(format!("{path}: {}", e.inner()))
            }
        })?;
        p.check()?;
        Ok(p)
    }

    fn check(&self) -> Result<(), ProfileError> {
        let Some(default) = self.default_action else {
            return Err(bad("defaultAction is missing (to run without a filter, use seccomp=unconfined)"));
        };
        if default == LinuxSeccompAction::ScmpActNotify
            || self.listener_path.is_some()
            || self.listener_metadata.is_some()
        {
            return Err(bad("SCMP_ACT_NOTIFY and listenerPath need a seccomp agent, which Berth does not run"));
        }
        check_errno("defaultErrnoRet", default, self.default_errno_ret)?;
        if !self.architectures.is_empty() && !self.arch_map.is_empty() {
            return Err(bad(
                "both 'architectures' and 'archMap' are specified, use either 'architectures' or 'archMap'",
            ));
        }
        for (i, r) in self.syscalls.iter().enumerate() {
            r.check().map_err(|e| bad(format!("syscalls[{i}]: {}", e.0)))?;
        }
        Ok(())
    }
}

fn check_errno(field: &str, action: LinuxSeccompAction, errno: Option<u32>) -> Result<(), ProfileError> {
    use LinuxSeccompAction::{ScmpActErrno, ScmpActTrace};
    match errno {
        Some(_) if !matches!(action, ScmpActErrno | ScmpActTrace) => {
            Err(bad(format!("{field} only applies to SCMP_ACT_ERRNO and SCMP_ACT_TRACE, not {action}")))
        }
        Some(e) if e > 4095 => Err(bad(format!("{field}: {e} is not an errno (1-4095)"))),
        _ => Ok(()),
    }
}

impl Rule {
    /// `names`, or the old single `name`.
    pub fn syscall_names(&self) -> Vec<String> {
        match &self.name {
            Some(n) => vec![n.clone()],
            None => self.names.clone(),
        }
    }

    fn check(&self) -> Result<(), ProfileError> {
        if self.name.is_some() && !self.names.is_empty() {
            return Err(bad("both 'name' and 'names' are specified, use either 'name' or 'names'"));
        }
        let names = self.syscall_names();
        if names.is_empty() {
            return Err(bad("no syscall names"));
        }
        if let Some(n) = names
            .iter()
            .find(|n| n.is_empty() || !n.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'))
        {
            return Err(bad(format!("{n:?} is not a syscall name")));
        }
        if self.action == LinuxSeccompAction::ScmpActNotify {
            return Err(bad("SCMP_ACT_NOTIFY needs a seccomp agent, which Berth does not run"));
        }
        check_errno("errnoRet", self.action, self.errno_ret)?;
        for (j, a) in self.args.iter().enumerate() {
            if a.index > 5 {
                return Err(bad(format!("args[{j}].index: {} is not an argument index (0-5)", a.index)));
            }
        }
        for (which, f) in [("includes", &self.includes), ("excludes", &self.excludes)] {
            if let Some(f) = f {
                if let Some(c) = f.caps.iter().find(|c| !CAPABILITIES.contains(&c.as_str())) {
                    return Err(bad(format!(
                        "{which}.caps: unknown capability {c:?} (names are spelled CAP_SYS_ADMIN)"
                    )));
                }
                if let Some(a) = f.arches.iter().find(|a| !ARCH_NAMES.contains(&a.as_str())) {
                    return Err(bad(format!(
                        "{which}.arches: unknown architecture {a:?} (one of {})",
                        ARCH_NAMES.join(", ")
                    )));
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(json: &str) -> String {
        Profile::parse(json).unwrap_err().0
    }

    #[test]
    fn refuses_what_would_be_ignored_or_misread() {
        assert!(
            err(r#"{"defaultAction":"SCMP_ACT_BOGUS"}"#).starts_with("defaultAction: unknown variant `SCMP_ACT_BOGUS`")
        );
        assert!(err(r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["mkdir"],"action":"SCMP_ACT_ERRNO","inlcudes":{}}]}"#)
            .starts_with("syscalls[0].inlcudes: unknown field `inlcudes`"));
        assert!(err("{}").contains("defaultAction is missing"));
        assert!(err(r#"{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[{"names":["read"],"action":"SCMP_ACT_ALLOW","args":[{"index":6,"value":0,"op":"SCMP_CMP_EQ"}]}]}"#)
            .contains("args[0].index: 6"));
        assert!(err(r#"{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[{"names":["read"],"action":"SCMP_ACT_ALLOW","includes":{"caps":["SYS_ADMIN"]}}]}"#)
            .contains("unknown capability \"SYS_ADMIN\""));
        assert!(err(r#"{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[{"names":["read"],"action":"SCMP_ACT_ALLOW","errnoRet":1}]}"#)
            .contains("errnoRet only applies"));
        assert!(err(
            r#"{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[{"names":["read"],"action":"SCMP_ACT_NOTIFY"}]}"#
        )
        .contains("agent"));
        assert!(err(
            r#"{"defaultAction":"SCMP_ACT_ERRNO","architectures":["SCMP_ARCH_X86_64"],"archMap":[{"architecture":"SCMP_ARCH_X86_64"}]}"#
        )
        .contains("both 'architectures' and 'archMap'"));
        assert!(err(
            r#"{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[{"names":["read"],"action":"SCMP_ACT_ALLOW","includes":{"minKernel":"4"}}]}"#
        )
        .contains("invalid kernel version"));
        assert!(err("{\"defaultAction\":").contains("EOF"));
    }

    #[test]
    fn docker_forms_parse() {
        let p = Profile::parse(
            r#"{"defaultAction":"SCMP_ACT_ERRNO","defaultErrnoRet":1,"archMap":[{"architecture":"SCMP_ARCH_RISCV64","subArchitectures":null}],
            "syscalls":[{"name":"mkdir","action":"SCMP_ACT_ERRNO","errnoRet":122,"comment":"x","args":null,"includes":{"minKernel":"4.8"}}]}"#,
        )
        .unwrap();
        assert_eq!(p.syscalls[0].syscall_names(), vec!["mkdir"]);
        assert_eq!(p.syscalls[0].includes.as_ref().unwrap().min_kernel, Some(KernelVersion(4, 8)));
        assert_eq!(KernelVersion::of_release("6.18.2-amd64"), Some(KernelVersion(6, 18)));
        assert_eq!(KernelVersion::of_release("3.12-1-amd64"), Some(KernelVersion(3, 12)));
    }
}
