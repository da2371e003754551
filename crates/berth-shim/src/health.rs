//! The container's health check, run by its monitor: Docker's probe loop (daemon/health.go) in a
//! process that outlives the daemon. Each probe is an exec of the check's command; its result is
//! judged as Docker judges it and written to `health.json` in the container's directory at once,
//! so `inspect` and a daemon that returns after an outage see every probe made meanwhile.

use berth_proto::{fsutil, paths, HealthRecord, HealthResult, HealthSpec, HealthTransition, ShimConfig};
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// Docker keeps this much of a probe's output, and marks a cut with "...".
const MAX_OUTPUT: usize = 4096;
/// Docker keeps the last five probes in `State.Health.Log`.
const MAX_LOG: usize = 5;
/// Status changes kept for a daemon to replay as events after an outage.
const MAX_TRANSITIONS: usize = 16;

pub struct Health {
    spec: HealthSpec,
    path: PathBuf,
    pub record: HealthRecord,
    /// When the container started (this monitor's incarnation): the start period counts from here.
    started: Instant,
    /// When the next probe is due; None while one runs.
    next: Option<Instant>,
    probe: Option<Probe>,
    /// A probe killed by a signal nobody here sent, judged only if the container outlives it a
    /// moment: a container being stopped takes its probe down first (its PID namespace goes
    /// before its init is reaped), and Docker drops the probe of a stopping container.
    held: Option<(i64, Instant)>,
}

/// How long a probe killed from outside waits for the container's own exit before it counts.
const HOLD: Duration = Duration::from_millis(200);

struct Probe {
    start: String,
    began: Instant,
    output: Vec<u8>,
    truncated: bool,
    timed_out: bool,
}

impl Health {
    /// The check of a container that has just started: `starting`, its failing streak reset, the
    /// log of earlier runs kept (as Docker keeps it across restarts).
    pub fn new(cfg: &ShimConfig) -> Option<Health> {
        let spec = cfg.health.clone()?;
        let path = cfg.container_dir.join(paths::HEALTH);
        let mut record: HealthRecord = fsutil::read_json(&path).ok().flatten().unwrap_or_default();
        record.status = "starting".into();
        record.failing_streak = 0;
        record.seq = 0;
        let mut h = Health { spec, path, record, started: Instant::now(), next: None, probe: None, held: None };
        h.next = Some(h.started + h.interval());
        h.save();
        Some(h)
    }

    fn ns(v: u64) -> Duration {
        Duration::from_nanos(v)
    }

    /// Docker's choice of the wait before the next probe: the start interval while the container
    /// is still starting within its start period, never past the end of that period.
    fn interval(&self) -> Duration {
        let (every, period) = (Self::ns(self.spec.interval_ns), Self::ns(self.spec.start_period_ns));
        let elapsed = self.started.elapsed();
        if elapsed >= period {
            return every;
        }
        let left = period - elapsed;
        if left < every {
            return left;
        }
        if self.record.status == "starting" {
            Self::ns(self.spec.start_interval_ns)
        } else {
            every
        }
    }

    /// When the loop must wake for the check: the next probe, or the running one's timeout.
    pub fn deadline(&self) -> Option<Instant> {
        if let Some((_, until)) = self.held {
            return Some(until);
        }
        match &self.probe {
            Some(p) if !p.timed_out => Some(p.began + Self::ns(self.spec.timeout_ns)),
            Some(_) => None,
            None => self.next,
        }
    }

    /// A probe is due: it is marked running from now.
    pub fn take_due(&mut self, now: Instant) -> bool {
        if self.probe.is_some() || self.next.is_none_or(|n| n > now) {
            return false;
        }
        self.next = None;
        let p =
            Probe { start: crate::timefmt::now(), began: now, output: Vec::new(), truncated: false, timed_out: false };
        self.probe = Some(p);
        true
    }

    pub fn process(&self) -> &std::path::Path {
        &self.spec.process
    }

    /// The running probe was judged timed out and must be killed.
    pub fn timed_out(&self) -> bool {
        self.probe.as_ref().is_some_and(|p| p.timed_out)
    }

    /// The container stopped while a probe ran: its result is dropped, as Docker drops it.
    pub fn cancel(&mut self) {
        self.probe = None;
        self.held = None;
        self.next = None;
    }

    /// The probe died of SIGKILL (`exit_code` 137) that its timeout did not send: wait [`HOLD`]
    /// for the container's own exit before judging it. True when held.
    pub fn hold_if_killed(&mut self, exit_code: i64) -> bool {
        let killed_from_outside = exit_code == 137 && self.probe.as_ref().is_some_and(|p| !p.timed_out);
        if killed_from_outside {
            self.held = Some((exit_code, Instant::now() + HOLD));
        }
        killed_from_outside
    }

    /// A held probe whose wait is over: judged now (the container still runs). True on a change.
    pub fn release_held(&mut self, now: Instant) -> Option<bool> {
        let (code, until) = self.held?;
        if now < until {
            return None;
        }
        self.held = None;
        Some(self.finish(code, None))
    }

    /// The container is paused: no probe now (Docker stops checking while paused); ask again later.
    pub fn skip(&mut self) {
        self.probe = None;
        self.next = Some(Instant::now() + self.interval());
    }

    /// The running probe passed its timeout (once): the caller kills it.
    pub fn take_timeout(&mut self, now: Instant) -> bool {
        let timeout = Self::ns(self.spec.timeout_ns);
        match &mut self.probe {
            Some(p) if !p.timed_out && now >= p.began + timeout => {
                p.timed_out = true;
                true
            }
            _ => false,
        }
    }

    pub fn capture(&mut self, data: &[u8]) {
        if let Some(p) = &mut self.probe {
            let keep = MAX_OUTPUT.saturating_sub(p.output.len()).min(data.len());
            p.output.extend_from_slice(&data[..keep]);
            p.truncated |= keep < data.len();
        }
    }

    /// The probe ended with `exit_code`, or could not run (`failed`: the runtime's message).
    /// Judges it, writes the record, and returns true when the status changed (watchers are told
    /// of every probe all the same).
    pub fn finish(&mut self, exit_code: i64, failed: Option<String>) -> bool {
        let Some(p) = self.probe.take() else { return false };
        let mut out = String::from_utf8_lossy(&p.output).into_owned();
        if p.truncated {
            out.push_str("...");
        }
        let (exit_code, output) = if p.timed_out {
            let limit = go_duration(Self::ns(self.spec.timeout_ns));
            let msg = match out.is_empty() {
                true => format!("Health check exceeded timeout ({limit})"),
                false => format!("Health check exceeded timeout ({limit}): {out}"),
            };
            (-1, msg)
        } else if let Some(msg) = failed {
            (-1, msg)
        } else {
            (exit_code, out)
        };
        let end = crate::timefmt::now();
        let result = HealthResult { start: p.start, end: end.clone(), exit_code, output };
        let changed = self.judge(result, p.began);
        if changed {
            let status = self.record.status.clone();
            push_bounded(&mut self.record.transitions, HealthTransition { status, time: end }, MAX_TRANSITIONS);
        }
        // Every probe is news to a watcher: the daemon reports each as an exec, as dockerd does.
        self.record.seq += 1;
        self.save();
        self.next = Some(Instant::now() + self.interval());
        changed
    }

    /// Docker's handleProbeResult: a pass clears the streak; a failure within the start period,
    /// before any pass, does not count; `retries` counted failures make the container unhealthy.
    fn judge(&mut self, result: HealthResult, began: Instant) -> bool {
        let old = self.record.status.clone();
        let passed = result.exit_code == 0;
        push_bounded(&mut self.record.log, result, MAX_LOG);
        if passed {
            self.record.failing_streak = 0;
            self.record.status = "healthy".into();
        } else {
            let in_start_period = self.record.status == "starting"
                && began.duration_since(self.started) < Self::ns(self.spec.start_period_ns);
            if !in_start_period {
                self.record.failing_streak += 1;
                if self.record.failing_streak >= self.spec.retries.max(1) {
                    self.record.status = "unhealthy".into();
                }
            }
        }
        old != self.record.status
    }

    fn save(&self) {
        if let Err(e) = fsutil::write_json_atomic(&self.path, &self.record) {
            crate::diag!("writing the health record: {e}");
        }
    }
}

fn push_bounded<T>(v: &mut Vec<T>, item: T, max: usize) {
    v.push(item);
    if v.len() > max {
        v.drain(..v.len() - max);
    }
}

/// Go's `time.Duration` text, as Docker prints the timeout: "30s", "1m0s", "1.5s", "500ms".
pub fn go_duration(d: Duration) -> String {
    let ns = d.as_nanos();
    if ns == 0 {
        return "0s".into();
    }
    if ns < 1_000_000_000 {
        let (unit, div) = match ns {
            n if n < 1_000 => return format!("{n}ns"),
            n if n < 1_000_000 => ("µs", 1_000u128),
            _ => ("ms", 1_000_000u128),
        };
        return format!("{}{unit}", trim_fraction(ns, div));
    }
    let secs_total = ns / 1_000_000_000;
    let (h, m) = (secs_total / 3600, (secs_total / 60) % 60);
    let secs = trim_fraction(ns % 60_000_000_000, 1_000_000_000);
    match (h, m) {
        (0, 0) => format!("{secs}s"),
        (0, m) => format!("{m}m{secs}s"),
        (h, m) => format!("{h}h{m}m{secs}s"),
    }
}

/// `n / div` with its fraction, trailing zeros dropped ("1.5", "2").
fn trim_fraction(n: u128, div: u128) -> String {
    let (whole, frac) = (n / div, n % div);
    if frac == 0 {
        return whole.to_string();
    }
    let width = div.to_string().len() - 1;
    let f = format!("{frac:0width$}");
    format!("{whole}.{}", f.trim_end_matches('0'))
}

/// Whether the container's init is frozen (`docker pause`), from its freezer cgroup.
pub fn frozen(pid: i32) -> bool {
    let Ok(text) = std::fs::read_to_string(format!("/proc/{pid}/cgroup")) else { return false };
    let root = std::path::Path::new("/sys/fs/cgroup");
    for line in text.lines() {
        let mut f = line.splitn(3, ':');
        let (Some(_), Some(ctrls), Some(path)) = (f.next(), f.next(), f.next()) else { continue };
        let rel = path.trim_start_matches('/');
        if ctrls.split(',').any(|c| c == "freezer") {
            let state = std::fs::read_to_string(root.join("freezer").join(rel).join("freezer.state"));
            return state.is_ok_and(|s| s.trim() != "THAWED");
        }
        if ctrls.is_empty() {
            if let Ok(s) = std::fs::read_to_string(root.join(rel).join("cgroup.freeze")) {
                return s.trim() == "1";
            }
        }
    }
    false
}

#[cfg(test)]
mod tests;
