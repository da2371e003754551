//! cgroup v1 read-only inside the container, as the spec asks.
//!
//! On a v1 (or hybrid) host libcontainer 0.7.0 builds `/sys/fs/cgroup` as a tmpfs with each
//! hierarchy bind-mounted read-write under it, whatever the `cgroup` mount's options say: a
//! container could raise its own memory limit, and reached the host's `name=systemd` root with
//! its `release_agent`. runc honours `ro` there (Docker asks for it unless `--privileged`).
//! Listing the tmpfs and every hierarchy under it in `linux.readonlyPaths` gets the same result
//! from libcontainer itself: after the mounts it binds each path onto itself and remounts that
//! read-only (nosuid, nodev, noexec), the tmpfs first, then the hierarchies over it.

use anyhow::{bail, Result};
use libcgroups::common::CgroupSetup;
use nix::sys::resource::{getrlimit, Resource};
use serde_json::Value;

/// What libcgroups 0.7.0 sets RLIMIT_MEMLOCK to (soft and hard) before it loads the v2 device
/// program; it fails the container when it cannot.
const BPF_MEMLOCK: u64 = 128 << 20;

/// On a cgroup v2 host the device rules are a BPF program, which libcgroups loads only after
/// setting RLIMIT_MEMLOCK to 128 MiB: without CAP_SYS_RESOURCE that needs a hard limit already
/// that high. Fails closed (no container without its device filter) with the remedy, instead of
/// libcontainer's bare "Failed to increase rlimit".
pub fn check_v2_device_filter() -> Result<()> {
    if !matches!(libcgroups::common::get_cgroup_setup(), Ok(CgroupSetup::Unified)) {
        return Ok(());
    }
    let Ok((_, hard)) = getrlimit(Resource::RLIMIT_MEMLOCK) else {
        return Ok(());
    };
    if hard >= BPF_MEMLOCK || crate::privilege::can_raise_limits() {
        return Ok(());
    }
    bail!(
        "cannot load the container's cgroup v2 device filter: it needs RLIMIT_MEMLOCK of {} MiB \
         and the hard limit is {} KiB without CAP_SYS_RESOURCE; start berthd with a higher \
         memlock limit (LimitMEMLOCK=128M, ulimit -l 131072) or with CAP_SYS_RESOURCE",
        BPF_MEMLOCK >> 20,
        hard >> 10
    )
}

/// Adds the read-only paths when the spec's cgroup mount is `ro` on a v1 host; true when the
/// spec changed. Paths already listed are kept, so a re-create from the same bundle (a restart
/// by the monitor) changes nothing.
pub fn readonly_v1_hierarchies(spec: &mut Value) -> bool {
    let Some(dest) = ro_cgroup_mount(spec) else {
        return false;
    };
    if !matches!(libcgroups::common::get_cgroup_setup(), Ok(CgroupSetup::Legacy | CgroupSetup::Hybrid)) {
        return false;
    }
    let hierarchies = match libcgroups::v1::util::list_subsystem_mount_points() {
        Ok(h) => h,
        Err(e) => {
            tracing::warn!("listing the cgroup v1 hierarchies: {e}; /sys/fs/cgroup stays as mounted");
            return false;
        }
    };
    // The same hierarchies libcontainer mounts: those under the default root, by their name.
    let mut wanted = vec![dest.clone()];
    wanted.extend(
        hierarchies
            .iter()
            .filter(|p| p.starts_with(libcgroups::common::DEFAULT_CGROUP_ROOT))
            .filter_map(|p| p.file_name()?.to_str())
            .map(|name| format!("{}/{name}", dest.trim_end_matches('/'))),
    );
    let linux = &mut spec["linux"];
    if !linux.is_object() {
        *linux = Value::Object(Default::default());
    }
    let list = &mut linux["readonlyPaths"];
    if !list.is_array() {
        *list = Value::Array(vec![]);
    }
    let list = list.as_array_mut().expect("made an array above");
    let mut changed = false;
    for p in wanted {
        if !list.iter().any(|x| x.as_str() == Some(p.as_str())) {
            list.push(p.into());
            changed = true;
        }
    }
    changed
}

/// The destination of the spec's `cgroup` mount when its options say `ro`.
fn ro_cgroup_mount(spec: &Value) -> Option<String> {
    spec.get("mounts")?
        .as_array()?
        .iter()
        .find(|m| m.get("type").and_then(Value::as_str) == Some("cgroup"))
        .filter(|m| m.get("options").and_then(Value::as_array).is_some_and(|o| o.iter().any(|x| x == "ro")))
        .and_then(|m| m.get("destination")?.as_str().map(String::from))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_ro_cgroup_mount_is_made_read_only_and_only_once() {
        let mount = |opts: &[&str]| {
            serde_json::json!({"mounts": [{"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup", "options": opts}],
                               "linux": {"readonlyPaths": ["/proc/bus"]}})
        };
        let mut rw = mount(&["rw", "nosuid"]);
        assert!(!readonly_v1_hierarchies(&mut rw));
        let mut ro = mount(&["ro", "nosuid"]);
        let v1 = matches!(libcgroups::common::get_cgroup_setup(), Ok(CgroupSetup::Legacy | CgroupSetup::Hybrid));
        assert_eq!(readonly_v1_hierarchies(&mut ro), v1);
        if v1 {
            let list: Vec<&str> =
                ro["linux"]["readonlyPaths"].as_array().unwrap().iter().filter_map(Value::as_str).collect();
            assert_eq!(list[..2], ["/proc/bus", "/sys/fs/cgroup"], "the tmpfs before the hierarchies");
            assert!(list.contains(&"/sys/fs/cgroup/memory"), "{list:?}");
            assert!(!readonly_v1_hierarchies(&mut ro), "a second pass changes nothing");
        }
    }
}
