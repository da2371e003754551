//! The container's seccomp filter: compiled once per distinct filter, loaded by berth-runtime.
//!
//! libcontainer 0.7.0 would compile `linux.seccomp` with libseccomp in every container's init,
//! with the `SCMP_CMP_MASKED_EQ` operands reversed, and gives exec'd processes no filter at all.
//! berth-runtime compiles the filter itself (OCI operand order), keeps the program in a cache
//! under its root (`cache`), hides `linux.seccomp` from libcontainer, and loads the program from
//! an executor as the last step before `execve`, for the init and for every exec (`executor`).

pub mod cache;
pub mod compile;
pub mod executor;

use anyhow::{Context, Result};
use oci_spec::runtime::LinuxSeccomp;
use serde_json::Value;
use std::path::Path;

/// Set on a bundle's spec by berth-runtime releases that swapped the masked-comparison operands
/// in config.json for libcontainer. Such a bundle outlives the upgrade (a running container's
/// execs, a restart by the monitor); its operands are swapped back when read.
const SWAPPED: &str = "org.berth.runtime.seccomp-masked-eq";

/// A compiled filter and the `seccomp()` flags it asks for.
#[derive(Clone, Debug)]
pub struct Filter {
    pub program: Vec<u8>,
    pub flags: u32,
}

/// The filter of `spec` (an OCI spec as JSON), None when it has no `linux.seccomp`.
pub fn of_spec(root: &Path, spec: &Value) -> Result<Option<Filter>> {
    let Some(section) = spec.pointer("/linux/seccomp").filter(|v| !v.is_null()) else {
        return Ok(None);
    };
    let mut section = section.clone();
    if spec.pointer(&format!("/annotations/{SWAPPED}")).is_some() {
        unswap_masked_eq(&mut section);
    }
    let seccomp: LinuxSeccomp = serde_json::from_value(section).context("the container's linux.seccomp")?;
    let normalized = cache::normalize(&seccomp);
    let key = cache::key(&normalized)?;
    let (program, source) = cache::program(root, &normalized, &key)?;
    tracing::debug!("seccomp filter {key}: {source:?}");
    Ok(Some(Filter { program, flags: compile::kernel_flags(&seccomp) }))
}

/// Undoes an earlier release's swap: it had moved the mask to `valueTwo` and the datum to
/// `value` (an absent datum as 0).
fn unswap_masked_eq(section: &mut Value) {
    let args = section
        .get_mut("syscalls")
        .and_then(Value::as_array_mut)
        .into_iter()
        .flatten()
        .filter_map(|r| r.get_mut("args").and_then(Value::as_array_mut))
        .flatten();
    for arg in args.filter(|a| a.get("op").and_then(Value::as_str) == Some("SCMP_CMP_MASKED_EQ")) {
        let mask = arg.get("valueTwo").cloned().unwrap_or(Value::from(0));
        let datum = arg.get("value").cloned().unwrap_or(Value::from(0));
        arg["value"] = mask;
        arg["valueTwo"] = datum;
    }
}

#[cfg(test)]
mod tests;
