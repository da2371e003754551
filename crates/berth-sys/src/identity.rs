//! Process identity: a pid is only meaningful together with the process start time (invariant 4).

/// A process as the kernel knows it at one moment: pid plus start time in clock ticks since boot
/// (field 22 of `/proc/<pid>/stat`). Two processes never share both within one boot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProcessIdentity {
    pub pid: i32,
    pub start_time: u64,
}

impl ProcessIdentity {
    /// Reads the identity of a live process.
    pub fn of(pid: i32) -> Option<Self> {
        process_start_time(pid).map(|start_time| ProcessIdentity { pid, start_time })
    }

    /// True when a process with this pid exists, is not a zombie, and started at the recorded time.
    pub fn is_alive(&self) -> bool {
        match read_stat(self.pid) {
            Some((state, st)) => st == self.start_time && state != 'Z' && state != 'X',
            None => false,
        }
    }
}

/// Start time of `pid` in clock ticks since boot, or None when no such process exists.
pub fn process_start_time(pid: i32) -> Option<u64> {
    read_stat(pid).map(|(_, st)| st)
}

/// Returns (state, starttime) from /proc/<pid>/stat. The comm field may contain spaces and
/// parentheses, so parsing starts after the last ')'.
fn read_stat(pid: i32) -> Option<(char, u64)> {
    if pid <= 0 {
        return None;
    }
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &s[s.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace();
    let state = fields.next()?.chars().next()?;
    // After ')' the fields are numbered from 3 (state); starttime is field 22 → index 19 after state.
    let st = fields.nth(18)?.parse().ok()?;
    Some((state, st))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_identity_is_alive_and_stable() {
        let me = ProcessIdentity::of(std::process::id() as i32).unwrap();
        assert!(me.is_alive());
        assert_eq!(ProcessIdentity::of(me.pid), Some(me));
        let wrong = ProcessIdentity { pid: me.pid, start_time: me.start_time + 1 };
        assert!(!wrong.is_alive());
    }

    #[test]
    fn missing_pid_is_not_alive() {
        assert!(ProcessIdentity::of(-5).is_none());
        assert!(!ProcessIdentity { pid: i32::MAX, start_time: 1 }.is_alive());
    }
}
