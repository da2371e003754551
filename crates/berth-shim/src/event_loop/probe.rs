//! The health probe inside the loop: started when due, killed past its timeout, judged when it
//! has ended and its output is drained, and watchers told of a changed status.

use super::{Monitor, Output};
use crate::exec::ExecSpec;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use std::time::Instant;

/// The probe's exec id (it has a directory of its own, never among the daemon's execs).
const PROBE_ID: &str = "health";

impl Monitor {
    /// Does what the health check needs now; returns when the loop must wake for it next.
    pub(super) fn tick_health(&mut self) -> Option<Instant> {
        let now = Instant::now();
        let h = self.core.health.as_mut()?;
        if h.release_held(now) == Some(true) {
            self.notify_health();
        }
        let h = self.core.health.as_mut()?;
        h.take_timeout(now);
        if h.timed_out() {
            // Our child, not yet reaped: its pid cannot have been reused.
            let running = self.core.execs.iter().find(|e| e.probe && e.reaped.is_none()).and_then(|e| e.pid);
            if let Some(pid) = running {
                let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
            }
        }
        if h.take_due(now) {
            if crate::health::frozen(self.core.init.pid) {
                h.skip();
            } else {
                self.start_probe();
            }
        }
        self.core.health.as_ref()?.deadline()
    }

    fn start_probe(&mut self) {
        let Some(process) = self.core.health.as_ref().map(|h| h.process().to_path_buf()) else { return };
        let spec = ExecSpec {
            id: PROBE_ID,
            process: &process,
            conn: 0,
            tty: false,
            stdin: false,
            probe: true,
            console_size: None,
        };
        match crate::exec::spawn(&self.core.cfg, &spec) {
            Ok((e, outputs)) => {
                for (fd, stream) in outputs {
                    if let Err(err) = crate::fds::set_nonblocking(&fd) {
                        crate::diag!("health probe output: {err}");
                    }
                    self.outputs.push(Output { fd, stream, exec: Some(PROBE_ID.to_string()) });
                }
                self.core.execs.push(e);
            }
            Err(err) => self.probe_ended(-1, Some(err.to_string())),
        }
    }

    /// The probe ended (`failed`: it never ran). After the container's own exit it is dropped.
    pub(super) fn probe_ended(&mut self, exit_code: i64, failed: Option<String>) {
        let stopped = self.core.reaped.is_some();
        let Some(h) = self.core.health.as_mut() else { return };
        if stopped {
            h.cancel();
            return;
        }
        if failed.is_none() && h.hold_if_killed(exit_code) {
            return;
        }
        h.finish(exit_code, failed);
        self.notify_health();
    }

    fn notify_health(&mut self) {
        let Some(h) = self.core.health.as_ref() else { return };
        for c in &mut self.conns {
            c.finish_watch_health(&h.record);
        }
    }
}
