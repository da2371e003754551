//! Capabilities as Docker computes them (moby `oci/caps`): its default set, `--cap-add` and
//! `--cap-drop` with the `ALL` keyword, names in any case with or without `CAP_`, and
//! `--privileged`. "All" is every capability this daemon holds itself: a container can never be
//! given one the runtime does not have.

use std::collections::HashSet;

/// Docker's default set.
pub const DEFAULT: &[&str] = &[
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_MKNOD",
    "CAP_NET_RAW",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_KILL",
    "CAP_AUDIT_WRITE",
];

const ALL: &str = "ALL";

/// Every capability this process has in its effective set, by name, in number order (read once:
/// a daemon's capabilities do not change while it runs).
pub fn available() -> Vec<String> {
    static AVAILABLE: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();
    AVAILABLE
        .get_or_init(|| {
            let have = caps::read(None, caps::CapSet::Effective).unwrap_or_default();
            let mut v: Vec<caps::Capability> = have.into_iter().collect();
            v.sort_by_key(|c| c.index());
            v.into_iter().map(|c| c.to_string()).collect()
        })
        .clone()
}

/// Upper-cases and prefixes `CAP_`; `ALL` stays itself. A name neither the kernel headers know
/// nor this daemon holds is refused with Docker's messages.
pub fn normalize(list: &[String]) -> Result<Vec<String>, String> {
    let known: HashSet<String> = caps::all().into_iter().map(|c| c.to_string()).collect();
    let have: HashSet<String> = available().into_iter().collect();
    let mut out = Vec::with_capacity(list.len());
    for c in list {
        let mut c = c.trim().to_ascii_uppercase();
        if c == ALL {
            out.push(c);
            continue;
        }
        if !c.starts_with("CAP_") {
            c = format!("CAP_{c}");
        }
        if !known.contains(&c) {
            return Err(format!("unknown capability: {c:?}"));
        }
        if !have.contains(&c) {
            return Err(format!(
                "capability not supported by your kernel or not available in the current environment: {c:?}"
            ));
        }
        out.push(c);
    }
    Ok(out)
}

/// The container's capability set. `ALL` in the additions wins over everything but the named
/// drops; `ALL` in the drops keeps only the named additions; otherwise the default set minus the
/// drops plus the additions (moby's `TweakCapabilities`).
pub fn effective(add: &[String], drop: &[String], privileged: bool) -> Result<Vec<String>, String> {
    if privileged {
        return Ok(available());
    }
    let add = normalize(add)?;
    let drop = normalize(drop)?;
    let mut out: Vec<String> = if add.iter().any(|c| c == ALL) {
        available().into_iter().filter(|c| !drop.contains(c)).collect()
    } else if drop.iter().any(|c| c == ALL) {
        add
    } else {
        DEFAULT.iter().map(|c| c.to_string()).filter(|c| !drop.contains(c)).chain(add).collect()
    };
    let mut seen = HashSet::new();
    out.retain(|c| seen.insert(c.clone()));
    Ok(out)
}
