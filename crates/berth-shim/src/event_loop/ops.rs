//! What the monitor does for control requests (the `Ops` the connections call into).

use super::{Core, Output, PendingKill};
use crate::control::{error, Ops};
use crate::error::ShimError;
use crate::runtime::Runtime;
use berth_proto::{caps, fsutil, paths, ExitRecord, InitStatus, Response};
use nix::fcntl::{fcntl, FcntlArg, OFlag};
use std::fs;
use std::os::fd::{AsFd, AsRawFd};

impl Ops for Core {
    fn capabilities(&self) -> Vec<String> {
        let mut v = vec![
            caps::STATE,
            caps::KILL,
            caps::WAIT,
            caps::LOG_ROTATE,
            caps::EXEC,
            caps::RESTART_POLICY,
            caps::ATTACH,
            caps::HEALTH,
            caps::DNS,
        ];
        if self.pty.is_some() {
            v.push(caps::RESIZE);
        }
        v.into_iter().map(String::from).collect()
    }

    fn state(&self) -> Response {
        Response::State {
            status: if self.exit.is_some() { InitStatus::Exited } else { InitStatus::Running },
            pid: self.init.pid,
            start_time: self.init.start_time,
            exit: self.exit.clone(),
        }
    }

    fn kill(&mut self, conn: u64, signal: i32, all: bool) -> Option<Response> {
        if all {
            if self.reaped.is_some() {
                return Some(error(ShimError::Stopped));
            }
            self.kill_seq += 1;
            let err_file = self.cfg.state_dir.join(format!(".kill-{}.err", self.kill_seq));
            let rt = Runtime { spec: &self.cfg.runtime, id: &self.cfg.id };
            let spawned = fs::File::create(&err_file).and_then(|f| rt.spawn_kill_all(signal, f));
            return match spawned {
                Ok(child) => {
                    self.kills.push(PendingKill { pid: child.id() as i32, conn, err_file });
                    None
                }
                Err(source) => Some(error(ShimError::KillSpawn { runtime: self.cfg.runtime.name.clone(), source })),
            };
        }
        if self.reaped.is_some() {
            return Some(error(ShimError::Stopped));
        }
        if self.adopted {
            // Not our child: its pid could be reused once it ends, so the identity is checked.
            return Some(match berth_sys::kill_verified(&self.init, signal) {
                Ok(()) => Response::Ok,
                Err(source) => error(ShimError::Kill { pid: self.init.pid, signal, source }),
            });
        }
        // The init is our child and not yet reaped, so its pid cannot have been reused: signal it
        // directly (through a pidfd, which also carries real-time signals nix has no name for).
        let r = berth_sys::pidfd_open(self.init.pid).and_then(|fd| berth_sys::pidfd_send_signal(&fd, signal));
        Some(match r {
            Ok(()) => Response::Ok,
            Err(source) => error(ShimError::Kill { pid: self.init.pid, signal, source }),
        })
    }

    fn wait(&mut self) -> Option<Response> {
        self.exit.clone().map(Response::Exited)
    }

    fn resize(&mut self, rows: u16, cols: u16, exec: Option<&str>) -> Response {
        let pty = match exec {
            Some(id) => self.execs.iter().find(|e| e.id == id).and_then(|e| e.pty.as_ref()),
            None => self.pty.as_ref(),
        };
        match pty {
            Some(fd) => match berth_sys::set_winsize(fd.as_fd(), rows, cols) {
                Ok(()) => Response::Ok,
                Err(e) => error(ShimError::Resize(e)),
            },
            None => error(ShimError::NoTerminal),
        }
    }

    fn exec(&mut self, spec: &crate::exec::ExecSpec) -> Option<Response> {
        if self.reaped.is_some() {
            return Some(error(ShimError::NotRunning(self.cfg.id.clone())));
        }
        if self.execs.iter().any(|e| e.id == spec.id) {
            return Some(error(ShimError::ExecExists(spec.id.into())));
        }
        match crate::exec::spawn(&self.cfg, spec) {
            Ok((e, outputs)) => {
                for (fd, stream) in outputs {
                    if let Err(err) = fcntl(fd.as_raw_fd(), FcntlArg::F_SETFL(OFlag::O_NONBLOCK)) {
                        crate::diag!("exec output: {err}");
                    }
                    self.new_outputs.push(Output { fd, stream, exec: Some(spec.id.to_string()) });
                }
                self.execs.push(e);
                None
            }
            Err(e) => Some(error(e)),
        }
    }

    fn wait_exec(&mut self, id: &str) -> Option<Response> {
        match self.execs.iter().find(|e| e.id == id) {
            Some(e) => e.exit.clone().map(Response::Exited),
            None => {
                // Finished before this monitor's restart of the loop, or never ours: the record says.
                let dir = self.cfg.state_dir.join(paths::EXECS).join(id);
                match fsutil::read_json::<ExitRecord>(&dir.join(paths::EXIT_RECORD)) {
                    Ok(Some(r)) => Some(Response::Exited(r)),
                    _ => Some(error(ShimError::NoSuchExec(id.into()))),
                }
            }
        }
    }

    fn attach(&mut self, exec: Option<&str>, _stdin: bool, replay: bool) -> Result<Vec<u8>, ShimError> {
        match exec {
            None if self.exit.is_some() => Err(ShimError::NotRunning(self.cfg.id.clone())),
            None => Ok(self.io.attach(replay)),
            Some(id) => match self.execs.iter_mut().find(|e| e.id == id) {
                Some(e) if e.exit.is_none() => Ok(e.io.attach(replay)),
                _ => Err(ShimError::ExecNotRunning(id.into())),
            },
        }
    }

    fn stdin(&mut self, exec: Option<&str>, data: &[u8]) {
        match exec {
            None => self.io.write(data),
            Some(id) => {
                if let Some(e) = self.execs.iter_mut().find(|e| e.id == id) {
                    e.io.write(data);
                }
            }
        }
    }

    fn stdin_eof(&mut self, exec: Option<&str>) {
        match exec {
            None => self.io.end(),
            Some(id) => {
                if let Some(e) = self.execs.iter_mut().find(|e| e.id == id) {
                    e.io.end();
                }
            }
        }
    }

    fn watch_health(&mut self, after: u64) -> Option<Response> {
        match &self.health {
            None => Some(error(ShimError::NoHealthcheck)),
            Some(h) if h.record.seq > after => Some(Response::Health(h.record.clone())),
            Some(_) => None,
        }
    }

    fn reopen_log(&mut self) -> Response {
        match self.log.reopen() {
            Ok(()) => Response::Ok,
            Err(source) => error(ShimError::LogReopen { path: self.cfg.log.path.clone(), source }),
        }
    }
}
