//! What this process may do beyond a container's limits, asked of the kernel once per question.

/// Whether this process holds CAP_SYS_RESOURCE (capability 24 of the effective set): without it,
/// a hard rlimit above its own, an `oom_score_adj` below its own, and libcgroups' RLIMIT_MEMLOCK
/// raise for the v2 device filter all fail.
pub(crate) fn can_raise_limits() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines().find_map(|l| l.strip_prefix("CapEff:")).and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
        })
        .is_some_and(|caps| caps & (1 << 24) != 0)
}
