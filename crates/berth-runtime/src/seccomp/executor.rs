//! Loads the container's compiled filter, as the last step inside the new process: after
//! libcontainer set no_new_privs (when asked) and dropped the capabilities, just before `execve`;
//! for the container's init and for every exec'd process (libcontainer 0.7.0 gives those none).
//!
//! Loading a filter needs no_new_privs or CAP_SYS_ADMIN. When the process has neither, it is
//! lent CAP_SYS_ADMIN in its effective and permitted sets (never in the bounding set, so the
//! program can never regain it) and gives it back right after the load; if that fails the
//! process fails, it never runs with the loan. The window is libcontainer's own code between its
//! capability drop and `execve`, where it held every capability a moment before.

use anyhow::{Context, Result};
use libcontainer::workload::default::DefaultExecutor;
use libcontainer::workload::{Executor, ExecutorError, ExecutorSetEnvsError, ExecutorValidationError};
use oci_spec::runtime::Spec;
use serde_json::Value;
use std::collections::HashMap;
use std::path::Path;

use super::Filter;

const SYS_ADMIN: &str = "CAP_SYS_ADMIN";

#[derive(Clone)]
pub struct SeccompExecutor {
    filter: Filter,
    lent_sys_admin: bool,
}

/// The executor for an exec into the container of `bundle`, or None when the container runs
/// without a filter. Adds the CAP_SYS_ADMIN loan to `process` (an OCI process object) when
/// needed; the caller writes it out when this returns `Some` with `lends()`.
pub fn for_exec(root: &Path, bundle: &Path, process: &mut Value) -> Result<Option<SeccompExecutor>> {
    let path = bundle.join("config.json");
    let spec: Value =
        serde_json::from_slice(&std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?)
            .with_context(|| format!("parsing {}", path.display()))?;
    let Some(filter) = super::of_spec(root, &spec)? else {
        return Ok(None);
    };
    Ok(Some(SeccompExecutor { filter, lent_sys_admin: lend_if_needed(process) }))
}

/// The executor for a container's init, or None when the container runs without a filter.
/// Takes `linux.seccomp` out of `spec` (what libcontainer will read, so that it does not compile
/// and load the filter too) and adds the CAP_SYS_ADMIN loan to its process when needed.
pub fn for_init(root: &Path, spec: &mut Value) -> Result<Option<SeccompExecutor>> {
    let Some(filter) = super::of_spec(root, spec)? else {
        return Ok(None);
    };
    if let Some(linux) = spec.get_mut("linux").and_then(Value::as_object_mut) {
        linux.remove("seccomp");
    }
    let lent_sys_admin = match spec.get_mut("process") {
        Some(p) => lend_if_needed(p),
        None => false,
    };
    Ok(Some(SeccompExecutor { filter, lent_sys_admin }))
}

/// Adds CAP_SYS_ADMIN to the effective and permitted sets of `process` when it has neither it
/// nor no_new_privs; true when it did.
fn lend_if_needed(process: &mut Value) -> bool {
    let nnp = process.get("noNewPrivileges").and_then(Value::as_bool).unwrap_or(false);
    let has = |set: &str| {
        process
            .pointer(&format!("/capabilities/{set}"))
            .and_then(Value::as_array)
            .is_some_and(|c| c.iter().any(|x| x == SYS_ADMIN))
    };
    let holds_it = has("effective") && has("permitted");
    let lent_sys_admin = !(nnp || holds_it);
    if lent_sys_admin {
        for set in ["effective", "permitted"] {
            let caps = &mut process["capabilities"][set];
            match caps.as_array_mut() {
                Some(list) if !list.iter().any(|x| x == SYS_ADMIN) => list.push(SYS_ADMIN.into()),
                Some(_) => {}
                None => *caps = Value::from(vec![SYS_ADMIN]),
            }
        }
    }
    lent_sys_admin
}

impl SeccompExecutor {
    /// True when the process object was changed (and must be written out).
    pub fn lends(&self) -> bool {
        self.lent_sys_admin
    }

    fn give_back(&self) -> std::result::Result<(), String> {
        use caps::{CapSet, Capability};
        for set in [CapSet::Effective, CapSet::Permitted] {
            caps::drop(None, set, Capability::CAP_SYS_ADMIN)
                .map_err(|e| format!("dropping the lent CAP_SYS_ADMIN: {e}"))?;
            if caps::has_cap(None, set, Capability::CAP_SYS_ADMIN).unwrap_or(true) {
                return Err("the lent CAP_SYS_ADMIN is still held".into());
            }
        }
        Ok(())
    }
}

impl Executor for SeccompExecutor {
    fn exec(&self, spec: &Spec) -> std::result::Result<(), ExecutorError> {
        berth_sys::seccomp::set_mode_filter(&self.filter.program, self.filter.flags)
            .map_err(|e| ExecutorError::Other(format!("loading the container's seccomp filter: {e}")))?;
        if self.lent_sys_admin {
            // Under the filter now: capget/capset must be allowed by it, or the exec fails here.
            self.give_back().map_err(ExecutorError::Other)?;
        }
        DefaultExecutor {}.exec(spec)
    }

    fn validate(&self, spec: &Spec) -> std::result::Result<(), ExecutorValidationError> {
        DefaultExecutor {}.validate(spec)
    }

    fn setup_envs(&self, envs: HashMap<String, String>) -> std::result::Result<(), ExecutorSetEnvsError> {
        DefaultExecutor {}.setup_envs(envs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bundle(seccomp: Value) -> std::path::PathBuf {
        let d = std::env::temp_dir().join(format!("berth-exec-seccomp-{}-{}", std::process::id(), rand_suffix()));
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(d.join("config.json"), serde_json::json!({"linux": {"seccomp": seccomp}}).to_string()).unwrap();
        d
    }

    fn rand_suffix() -> u128 {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos()
    }

    #[test]
    fn lends_sys_admin_only_when_needed() {
        let b = bundle(
            serde_json::json!({"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ALLOW"}]}),
        );
        let mut p = serde_json::json!({"capabilities": {"bounding": ["CAP_CHOWN"], "effective": ["CAP_CHOWN"], "permitted": ["CAP_CHOWN"]}});
        let root = tempfile::tempdir().unwrap();
        let prepare = |b: &std::path::Path, p: &mut Value| for_exec(root.path(), b, p);
        let e = prepare(&b, &mut p).unwrap().unwrap();
        assert!(e.lends());
        assert_eq!(p["capabilities"]["effective"], serde_json::json!(["CAP_CHOWN", "CAP_SYS_ADMIN"]));
        assert_eq!(p["capabilities"]["bounding"], serde_json::json!(["CAP_CHOWN"]), "never in the bounding set");
        let mut nnp = serde_json::json!({"noNewPrivileges": true, "capabilities": {"effective": [], "permitted": []}});
        assert!(!prepare(&b, &mut nnp).unwrap().unwrap().lends());
        assert_eq!(nnp["capabilities"]["effective"], serde_json::json!([]));
        std::fs::remove_dir_all(&b).unwrap();
        let unconfined = bundle(Value::Null);
        assert!(prepare(&unconfined, &mut p).unwrap().is_none());
        std::fs::remove_dir_all(&unconfined).unwrap();
    }
}
