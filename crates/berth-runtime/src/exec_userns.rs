//! `exec` into a container that has a user namespace of its own (`--userns-remap`).
//!
//! libcontainer 0.7.0's tenant builder joins every namespace of the container but the user one
//! (`NAMESPACE_TYPES` lacks it), so an exec'd process would run as the host's root inside the
//! container's other namespaces. berth-runtime joins it from the executor: libcontainer is
//! given the process as uid 0 with only CAP_SYS_ADMIN, CAP_SETUID and CAP_SETGID (what joining
//! and switching ids need, held in the host's namespace for libcontainer's own code only), and
//! the executor, the last step before `execve`, joins the container's user namespace (through
//! an fd opened by the runtime beforehand, on `/proc/<init>/ns/user`), takes the process's user,
//! groups and capability sets from the original process object, and hands over to the next
//! executor (the seccomp one, or the default). Joining a user namespace gives every capability
//! *in it*; the sets are cut to the process's before anything of the workload runs, and a
//! failure at any step fails the exec.

use anyhow::{Context, Result};
use caps::{CapSet, Capability, CapsHashSet};
use libcontainer::workload::default::DefaultExecutor;
use libcontainer::workload::{Executor, ExecutorError, ExecutorSetEnvsError, ExecutorValidationError};
use oci_spec::runtime::Spec;
use serde_json::Value;
use std::collections::HashMap;
use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;
use std::sync::Arc;

/// What libcontainer is told the process holds until the executor runs.
const BRIDGE_CAPS: [&str; 3] = ["CAP_SYS_ADMIN", "CAP_SETUID", "CAP_SETGID"];

#[derive(Clone)]
pub struct UsernsExecutor {
    userns: Arc<OwnedFd>,
    uid: u32,
    gid: u32,
    groups: Vec<u32>,
    sets: Vec<(CapSet, CapsHashSet)>,
    /// The process brought no HOME: libcontainer derived one from uid 0; the user's is due.
    home_of_user: bool,
    inner: Box<dyn Executor>,
}

/// Whether the container of `bundle` has a user namespace of its own.
fn has_userns(bundle: &Path) -> Result<bool> {
    let path = bundle.join("config.json");
    let spec: Value =
        serde_json::from_slice(&std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?)
            .with_context(|| format!("parsing {}", path.display()))?;
    Ok(spec
        .pointer("/linux/namespaces")
        .and_then(Value::as_array)
        .is_some_and(|v| v.iter().any(|n| n["type"] == "user")))
}

fn cap_set(process: &Value, name: &str) -> Result<CapsHashSet> {
    process
        .pointer(&format!("/capabilities/{name}"))
        .and_then(Value::as_array)
        .map(|v| v.as_slice())
        .unwrap_or_default()
        .iter()
        .map(|c| {
            let s = c.as_str().unwrap_or_default();
            s.parse::<Capability>().map_err(|_| anyhow::anyhow!("unknown capability {s:?} in the process"))
        })
        .collect()
}

/// When the container has its own user namespace: rewrites `process` for libcontainer (uid 0,
/// the bridge capabilities) and returns the executor that restores it inside the namespace,
/// wrapping `inner`. The caller writes `process` out when this returns `Some`.
pub fn prepare(
    bundle: &Path,
    init_pid: i32,
    process: &mut Value,
    inner: Box<dyn Executor>,
) -> Result<Option<UsernsExecutor>> {
    if !has_userns(bundle)? {
        return Ok(None);
    }
    let userns = std::fs::File::open(format!("/proc/{init_pid}/ns/user"))
        .with_context(|| format!("opening the user namespace of the container's init ({init_pid})"))?;
    let user = &process["user"];
    let id = |k: &str| user.get(k).and_then(Value::as_u64).unwrap_or(0) as u32;
    let (uid, gid) = (id("uid"), id("gid"));
    let groups = user
        .get("additionalGids")
        .and_then(Value::as_array)
        .map(|v| v.iter().filter_map(|g| g.as_u64().map(|g| g as u32)).collect())
        .unwrap_or_default();
    let mut sets = Vec::new();
    for (set, name) in [
        // Effective before permitted (it must stay a subset), ambient last.
        (CapSet::Bounding, "bounding"),
        (CapSet::Effective, "effective"),
        (CapSet::Permitted, "permitted"),
        (CapSet::Inheritable, "inheritable"),
        (CapSet::Ambient, "ambient"),
    ] {
        sets.push((set, cap_set(process, name)?));
    }
    let home_of_user = !process
        .pointer("/env")
        .and_then(Value::as_array)
        .is_some_and(|v| v.iter().any(|e| e.as_str().is_some_and(|e| e.starts_with("HOME=") && e.len() > 5)));
    process["user"] = serde_json::json!({"uid": 0, "gid": 0});
    let bridge: Vec<Value> = BRIDGE_CAPS.iter().map(|c| Value::from(*c)).collect();
    process["capabilities"] = serde_json::json!({
        "bounding": bridge, "effective": bridge, "permitted": bridge, "inheritable": [], "ambient": []
    });
    Ok(Some(UsernsExecutor { userns: Arc::new(userns.into()), uid, gid, groups, sets, home_of_user, inner }))
}

impl UsernsExecutor {
    fn enter(&self) -> std::result::Result<(), String> {
        use nix::unistd::{setgroups, setresgid, setresuid, Gid, Uid};
        nix::sched::setns(self.userns.as_fd(), nix::sched::CloneFlags::CLONE_NEWUSER)
            .map_err(|e| format!("joining the container's user namespace: {e}"))?;
        let groups: Vec<Gid> = self.groups.iter().map(|g| Gid::from_raw(*g)).collect();
        setgroups(&groups).map_err(|e| format!("setgroups: {e}"))?;
        nix::sys::prctl::set_keepcaps(true).map_err(|e| format!("keepcaps: {e}"))?;
        let (g, u) = (Gid::from_raw(self.gid), Uid::from_raw(self.uid));
        setresgid(g, g, g).map_err(|e| format!("setresgid {}: {e}", self.gid))?;
        setresuid(u, u, u).map_err(|e| format!("setresuid {}: {e}", self.uid))?;
        for (set, want) in &self.sets {
            if matches!(set, CapSet::Bounding) {
                for c in caps::all() {
                    if !want.contains(&c) && caps::has_cap(None, CapSet::Bounding, c).unwrap_or(false) {
                        caps::drop(None, CapSet::Bounding, c)
                            .map_err(|e| format!("dropping {c} from the bounding set: {e}"))?;
                    }
                }
            } else {
                caps::set(None, *set, want).map_err(|e| format!("setting the {set:?} capabilities: {e}"))?;
            }
        }
        nix::sys::prctl::set_keepcaps(false).map_err(|e| format!("keepcaps: {e}"))?;
        Ok(())
    }
}

impl Executor for UsernsExecutor {
    fn exec(&self, spec: &Spec) -> std::result::Result<(), ExecutorError> {
        self.enter().map_err(ExecutorError::Other)?;
        self.inner.exec(spec)
    }

    fn validate(&self, spec: &Spec) -> std::result::Result<(), ExecutorValidationError> {
        self.inner.validate(spec)
    }

    fn setup_envs(&self, mut envs: HashMap<String, String>) -> std::result::Result<(), ExecutorSetEnvsError> {
        if self.home_of_user {
            // Read from the container's /etc/passwd (this runs in its mount namespace), as
            // libcontainer does for the process's own uid.
            let home = nix::unistd::User::from_uid(nix::unistd::Uid::from_raw(self.uid))
                .ok()
                .flatten()
                .map(|u| u.dir.to_string_lossy().into_owned())
                .unwrap_or_else(|| "/".into());
            envs.insert("HOME".into(), home);
        }
        self.inner.setup_envs(envs)
    }
}

/// commands.rs's hook: the executor to use instead of `inner` (None: the default one) when the
/// container `c` has its own user namespace; `process` is then rewritten.
pub fn hook<E: Executor + Clone + 'static>(
    c: &libcontainer::container::Container,
    process: &mut Value,
    inner: Option<E>,
) -> Result<Option<UsernsExecutor>> {
    let Some(pid) = c.pid() else { return Ok(None) };
    let inner: Box<dyn Executor> = match inner {
        Some(e) => Box::new(e),
        None => Box::new(DefaultExecutor {}),
    };
    prepare(c.bundle(), pid.as_raw(), process, inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rewrites_the_process_only_for_a_container_with_its_own_user_namespace() {
        let d = tempfile::tempdir().unwrap();
        let spec = |nss: Value| serde_json::json!({"linux": {"namespaces": nss}}).to_string();
        std::fs::write(d.path().join("config.json"), spec(serde_json::json!([{"type": "mount"}]))).unwrap();
        let original = serde_json::json!({
            "user": {"uid": 1000, "gid": 1000, "additionalGids": [5]},
            "env": ["PATH=/bin"],
            "capabilities": {"bounding": ["CAP_CHOWN"], "effective": ["CAP_CHOWN"], "permitted": ["CAP_CHOWN"]}
        });
        let me = std::process::id() as i32;
        let mut p = original.clone();
        assert!(prepare(d.path(), me, &mut p, Box::new(DefaultExecutor {})).unwrap().is_none());
        assert_eq!(p, original, "untouched without a user namespace");
        std::fs::write(
            d.path().join("config.json"),
            spec(serde_json::json!([{"type": "user", "path": "/proc/self/ns/user"}])),
        )
        .unwrap();
        let e = prepare(d.path(), me, &mut p, Box::new(DefaultExecutor {})).unwrap().unwrap();
        assert_eq!((e.uid, e.gid, e.groups.clone(), e.home_of_user), (1000, 1000, vec![5], true));
        assert_eq!(p["user"], serde_json::json!({"uid": 0, "gid": 0}));
        assert_eq!(p["capabilities"]["bounding"], serde_json::json!(BRIDGE_CAPS));
        let bounding = &e.sets.iter().find(|(s, _)| matches!(s, CapSet::Bounding)).unwrap().1;
        assert!(bounding.contains(&Capability::CAP_CHOWN) && bounding.len() == 1);
    }
}
