//! Named points where a debug (test) build can be made to die as if by `kill -9`, so tests can
//! prove that every operation converges after a crash at that point: it is finished or rolled
//! back at the next start, and nothing leaks.
//!
//! `BERTH_CRASH_AT=<name>` in the environment arms one point; reaching it raises SIGKILL on the
//! whole process. Release builds compile the hook to nothing: users cannot trip it.

/// Every point, for tests to iterate over; each name says the operation and the step just done.
pub const POINTS: &[&str] = &[
    "create.after-storage",
    "create.after-record",
    "start.after-prepare",
    "start.before-gate",
    "start.after-launch",
    "stop.after-signal",
    "exit.before-auto-remove",
    "rm.after-storage",
    "import.after-layer",
    "restore.midway",
    "pull.after-download",
    "pull.after-layer",
    "build.after-layer",
    "build.after-run",
    "commit.after-layer",
    "commit.after-parent",
    "commit.before-image",
    "commit.after-image",
];

/// Dies here with SIGKILL when `BERTH_CRASH_AT` names this point (debug builds only).
#[cfg(debug_assertions)]
pub fn hit(name: &'static str) {
    static ARMED: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();
    let armed = ARMED.get_or_init(|| std::env::var("BERTH_CRASH_AT").ok());
    if armed.as_deref() == Some(name) {
        debug_assert!(POINTS.contains(&name), "unlisted crash point {name}");
        eprintln!("berth crash point {name}: raising SIGKILL");
        let _ = nix::sys::signal::raise(nix::sys::signal::Signal::SIGKILL);
    }
}

#[cfg(not(debug_assertions))]
#[inline(always)]
pub fn hit(_name: &'static str) {}
