//! `--ulimit` and daemon.json `default-ulimits`, Docker's names and forms.
//!
//! Raising a hard limit above the one the runtime inherits needs CAP_SYS_RESOURCE. Where the
//! daemon lacks it (it is missing on some hosts, e.g. inside another container), a limit it cannot
//! grant is refused with a 400 at create (and a daemon.json default at start-up), naming the limit
//! and the ceiling, rather than handed to the runtime, which could only clamp it with a warning
//! nobody sees.

use crate::model::Ulimit;
use nix::sys::resource::{getrlimit, Resource};
use oci_spec::runtime::{PosixRlimit, PosixRlimitBuilder, PosixRlimitType};
use std::str::FromStr;

/// Docker's ulimit names (go-units).
const NAMES: &[(&str, Resource)] = &[
    ("core", Resource::RLIMIT_CORE),
    ("cpu", Resource::RLIMIT_CPU),
    ("data", Resource::RLIMIT_DATA),
    ("fsize", Resource::RLIMIT_FSIZE),
    ("locks", Resource::RLIMIT_LOCKS),
    ("memlock", Resource::RLIMIT_MEMLOCK),
    ("msgqueue", Resource::RLIMIT_MSGQUEUE),
    ("nice", Resource::RLIMIT_NICE),
    ("nofile", Resource::RLIMIT_NOFILE),
    ("nproc", Resource::RLIMIT_NPROC),
    ("rss", Resource::RLIMIT_RSS),
    ("rtprio", Resource::RLIMIT_RTPRIO),
    ("rttime", Resource::RLIMIT_RTTIME),
    ("sigpending", Resource::RLIMIT_SIGPENDING),
    ("stack", Resource::RLIMIT_STACK),
];

/// -1 is unlimited (RLIM_INFINITY).
fn value(v: i64) -> u64 {
    if v < 0 {
        u64::MAX
    } else {
        v as u64
    }
}

fn show(v: u64) -> String {
    if v == u64::MAX {
        "unlimited".into()
    } else {
        v.to_string()
    }
}

fn can_raise() -> bool {
    caps::has_cap(None, caps::CapSet::Effective, caps::Capability::CAP_SYS_RESOURCE).unwrap_or(false)
}

/// Checks one limit: a known name, -1 or non-negative values, soft ≤ hard, and a hard limit this
/// daemon can grant.
pub fn check(u: &Ulimit) -> Result<(), String> {
    let Some((_, res)) = NAMES.iter().find(|(n, _)| *n == u.name) else {
        let names: Vec<&str> = NAMES.iter().map(|(n, _)| *n).collect();
        return Err(format!("invalid ulimit type: {} (known: {})", u.name, names.join(", ")));
    };
    if u.soft < -1 || u.hard < -1 {
        return Err(format!("invalid ulimit {}: limits are -1 (unlimited) or positive", u.name));
    }
    let (soft, hard) = (value(u.soft), value(u.hard));
    if soft > hard {
        return Err(format!(
            "ulimit soft limit must be less than or equal to hard limit: {} > {} ({})",
            show(soft),
            show(hard),
            u.name
        ));
    }
    let (_, ceiling) = getrlimit(*res).map_err(|e| format!("reading this daemon's {} limit: {e}", u.name))?;
    if hard > ceiling && !can_raise() {
        return Err(format!(
            "ulimit {}: hard limit {} is above this daemon's {}, and raising it needs CAP_SYS_RESOURCE, which berthd does not have",
            u.name,
            show(hard),
            show(ceiling)
        ));
    }
    Ok(())
}

/// The container's limits: its own, then the daemon's defaults for names it did not set.
pub fn merged(own: &[Ulimit], defaults: &[Ulimit]) -> Vec<Ulimit> {
    let mut v = own.to_vec();
    for d in defaults {
        if !v.iter().any(|u| u.name == d.name) {
            v.push(d.clone());
        }
    }
    v
}

pub fn to_rlimits(limits: &[Ulimit]) -> Result<Vec<PosixRlimit>, String> {
    limits
        .iter()
        .map(|u| {
            let typ = PosixRlimitType::from_str(&format!("RLIMIT_{}", u.name.to_ascii_uppercase()))
                .map_err(|_| format!("invalid ulimit type: {}", u.name))?;
            PosixRlimitBuilder::default()
                .typ(typ)
                .soft(value(u.soft))
                .hard(value(u.hard))
                .build()
                .map_err(|e| e.to_string())
        })
        .collect()
}
