//! Degrade gracefully where this host lacks privileges the spec assumes.
//!
//! Without CAP_SYS_RESOURCE, raising an rlimit's hard limit or lowering oom_score_adj fails, and
//! libcontainer would then fail the whole container. A container that runs with the host's
//! ceiling is more useful than none, so such settings are clamped (with a warning) before
//! libcontainer reads the spec. The bundle's config.json is rewritten only when something changed;
//! it is edited as JSON so fields this code does not know survive untouched.

use std::path::Path;

use anyhow::{Context, Result};
use nix::sys::resource::{getrlimit, Resource};
use serde_json::Value;

fn resource(name: &str) -> Option<Resource> {
    Some(match name {
        "RLIMIT_CPU" => Resource::RLIMIT_CPU,
        "RLIMIT_FSIZE" => Resource::RLIMIT_FSIZE,
        "RLIMIT_DATA" => Resource::RLIMIT_DATA,
        "RLIMIT_STACK" => Resource::RLIMIT_STACK,
        "RLIMIT_CORE" => Resource::RLIMIT_CORE,
        "RLIMIT_RSS" => Resource::RLIMIT_RSS,
        "RLIMIT_NPROC" => Resource::RLIMIT_NPROC,
        "RLIMIT_NOFILE" => Resource::RLIMIT_NOFILE,
        "RLIMIT_MEMLOCK" => Resource::RLIMIT_MEMLOCK,
        "RLIMIT_AS" => Resource::RLIMIT_AS,
        "RLIMIT_LOCKS" => Resource::RLIMIT_LOCKS,
        "RLIMIT_SIGPENDING" => Resource::RLIMIT_SIGPENDING,
        "RLIMIT_MSGQUEUE" => Resource::RLIMIT_MSGQUEUE,
        "RLIMIT_NICE" => Resource::RLIMIT_NICE,
        "RLIMIT_RTPRIO" => Resource::RLIMIT_RTPRIO,
        "RLIMIT_RTTIME" => Resource::RLIMIT_RTTIME,
        _ => return None,
    })
}

/// Clamps one process object (`process` of config.json or an exec process.json) in place.
/// Returns true when something was changed.
pub fn clamp_process(process: &mut Value) -> bool {
    let mut changed = false;
    if let Some(rlimits) = process.get_mut("rlimits").and_then(Value::as_array_mut) {
        for rl in rlimits.iter_mut() {
            let Some(res) = rl.get("type").and_then(Value::as_str).and_then(resource) else {
                continue;
            };
            let Ok((_, cur_hard)) = getrlimit(res) else {
                continue;
            };
            let hard = rl.get("hard").and_then(Value::as_u64).unwrap_or(0);
            let soft = rl.get("soft").and_then(Value::as_u64).unwrap_or(0);
            if hard > cur_hard && !crate::privilege::can_raise_limits() {
                tracing::warn!(
                    "cannot raise {:?} hard limit to {hard} without CAP_SYS_RESOURCE; using {cur_hard}",
                    res
                );
                rl["hard"] = cur_hard.into();
                rl["soft"] = soft.min(cur_hard).into();
                changed = true;
            }
        }
    }
    if let Some(want) = process.get("oomScoreAdj").and_then(Value::as_i64) {
        let current = std::fs::read_to_string("/proc/self/oom_score_adj")
            .ok()
            .and_then(|s| s.trim().parse::<i64>().ok())
            .unwrap_or(0);
        // Lowering needs CAP_SYS_RESOURCE; probing on ourselves is harmless because libcontainer
        // writes the same value into this very process right after.
        if want < current && std::fs::write("/proc/self/oom_score_adj", want.to_string()).is_err() {
            tracing::warn!("cannot set oom_score_adj to {want} (needs CAP_SYS_RESOURCE); keeping {current}");
            process["oomScoreAdj"] = current.into();
            changed = true;
        }
    }
    changed
}

/// Clamps the bundle's config.json in place when needed; returns the spec.
pub fn fixup_bundle(bundle: &Path) -> Result<Value> {
    crate::cgroup_fixup::check_v2_device_filter()?;
    let path = bundle.join("config.json");
    let text = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
    let mut spec: Value = serde_json::from_slice(&text).with_context(|| format!("parsing {}", path.display()))?;
    let mut changed = match spec.get_mut("process") {
        Some(p) => clamp_process(p),
        None => false,
    };
    // Issue 13: libcontainer mounts the v1 hierarchies read-write despite `ro`.
    changed |= crate::cgroup_fixup::readonly_v1_hierarchies(&mut spec);
    if changed {
        let tmp = bundle.join(".config.json.berth-runtime.tmp");
        write_private(&tmp, &serde_json::to_vec_pretty(&spec)?)
            .with_context(|| format!("writing {}", tmp.display()))?;
        std::fs::rename(&tmp, &path).with_context(|| format!("replacing {}", path.display()))?;
    }
    Ok(spec)
}

/// Writes `data` to a new or truncated `path` at 0600. The bundle's `config.json` and an exec's
/// process file carry the container's environment (`-e` secrets): the daemon writes them 0600,
/// and a rewrite here must not leave them readable by every user of the host.
pub(crate) fn write_private(path: &Path, data: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let mut f = std::fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(path)?;
    // A file left by an earlier run keeps the mode it was made with.
    f.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    f.write_all(data)
}
