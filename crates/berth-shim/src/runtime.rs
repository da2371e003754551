//! Driving the OCI runtime through its command-line contract.

use crate::error::ShimError;
use berth_proto::RuntimeSpec;
use std::fs::File;
use std::path::Path;
use std::process::{Child, Command, Stdio};

/// The environment variable naming the daemon's sealed copy of the built-in runtime, a descriptor
/// this monitor inherits (and its successors after a restart by the monitor, which inherit both).
pub const SEALED_FD_ENV: &str = "BERTH_RUNTIME_FD";

/// Runs the runtime from the daemon's sealed copy when we were given one (CVE-2019-5736: the
/// runtime enters the container's namespaces, where `/proc/<pid>/exe` must not reach a host
/// file). Returns the descriptor to keep open. The copy outlives the daemon that made it, so a
/// live-restored container keeps the runtime it was created with until its monitor ends.
pub fn use_sealed_copy(spec: &mut RuntimeSpec) -> Option<i32> {
    let fd = std::env::var(SEALED_FD_ENV).ok()?.parse::<i32>().ok()?;
    if fd <= 2 || !berth_sys::sealed::raw_fd_is_sealed(fd) {
        return None;
    }
    spec.path = format!("/proc/self/fd/{fd}").into();
    Some(fd)
}

pub struct Runtime<'a> {
    pub spec: &'a RuntimeSpec,
    pub id: &'a str,
}

impl Runtime<'_> {
    fn command(&self, sub: &str, rest: &[&str]) -> Command {
        let mut c = Command::new(&self.spec.path);
        c.args(self.spec.command_args(sub, rest));
        c.stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::piped());
        // The monitor blocks the signals it reads from its signalfd; the runtime, and through it the
        // container, must not inherit that mask.
        berth_sys::spawn::reset_signals_on_exec(&mut c);
        c
    }

    /// Starts `create`; the caller waits for it (it may first have to serve the console socket).
    /// The init inherits the three stdio handles given here.
    pub fn spawn_create(
        &self,
        bundle: &Path,
        pid_file: &Path,
        console_socket: Option<&Path>,
        stdio: [Stdio; 3],
    ) -> std::io::Result<Child> {
        let bundle = bundle.to_string_lossy();
        let pid_file = pid_file.to_string_lossy();
        let console = console_socket.map(|p| p.to_string_lossy().into_owned());
        let mut rest = vec!["--bundle", &bundle, "--pid-file", &pid_file];
        if let Some(c) = &console {
            rest.extend(["--console-socket", c.as_str()]);
        }
        rest.push(self.id);
        let mut c = self.command("create", &rest);
        let [i, o, e] = stdio;
        c.stdin(i).stdout(o).stderr(e);
        c.spawn()
    }

    /// Runs a subcommand to completion; Err carries the runtime's own error message.
    pub fn run(&self, sub: &str, rest: &[&str]) -> Result<(), ShimError> {
        let mut args = rest.to_vec();
        args.push(self.id);
        match self.command(sub, &args).output() {
            Ok(out) if out.status.success() => Ok(()),
            Ok(out) => Err(error_message(&out.stderr).map(ShimError::Runtime).unwrap_or_else(|| {
                ShimError::RuntimeStatus { runtime: self.spec.name.clone(), verb: sub.into(), status: out.status }
            })),
            Err(source) => Err(ShimError::RuntimeSpawn { path: self.spec.path.clone(), source }),
        }
    }

    pub fn start(&self) -> Result<(), ShimError> {
        self.run("start", &[])
    }

    pub fn delete(&self, force: bool) -> Result<(), ShimError> {
        self.run("delete", if force { &["--force"] } else { &[] })
    }

    /// Starts `exec -d --process <file> --pid-file <file> <id>` without waiting; the exec'd process
    /// inherits `stdout`/`stderr` and, once the runtime has exited, is our child (subreaper).
    /// The runtime's own errors go to `err_log` (its `--log`), not into the exec's output.
    pub fn spawn_exec(
        &self,
        process: &Path,
        pid_file: &Path,
        err_log: &Path,
        console_socket: Option<&Path>,
        stdio: [Stdio; 3],
    ) -> std::io::Result<Child> {
        let mut c = Command::new(&self.spec.path);
        // This exec's errors get a log of their own: drop the monitor-wide --log for it.
        let mut args = Vec::new();
        let mut it = self.spec.args.iter();
        while let Some(a) = it.next() {
            if a == "--log" || a == "--log-format" {
                it.next();
            } else {
                args.push(a.clone());
            }
        }
        args.extend(["--log".into(), err_log.display().to_string(), "--log-format".into(), "json".into()]);
        args.extend(["exec".into(), "-d".into(), "--process".into(), process.display().to_string()]);
        if let Some(sock) = console_socket {
            args.extend(["--console-socket".into(), sock.display().to_string()]);
        }
        args.extend(["--pid-file".into(), pid_file.display().to_string(), self.id.to_string()]);
        c.args(args);
        let [i, o, e] = stdio;
        c.stdin(i).stdout(o).stderr(e);
        berth_sys::spawn::reset_signals_on_exec(&mut c);
        c.spawn()
    }

    /// Starts `kill --all <id> <signal>` without waiting: the event loop reaps it, so a slow or
    /// wedged runtime never stalls the draining of the container's output.
    pub fn spawn_kill_all(&self, signal: i32, stderr: File) -> std::io::Result<Child> {
        let sig = signal.to_string();
        let mut c = self.command("kill", &["--all", self.id, &sig]);
        c.stderr(stderr);
        c.spawn()
    }
}

/// The runtime's error as a user should see it: runc logs `level=error msg="..."` lines (text log
/// format); other runtimes print plain text. Returns None when nothing was printed.
pub fn error_message(stderr: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(stderr);
    let mut plain = None;
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
        if let Some(msg) = logfmt_error(line).or_else(|| json_error(line)) {
            return Some(msg);
        }
        plain = Some(line.to_string());
    }
    plain
}

/// Extracts `msg` from a JSON log line (`--log-format json`) at level error/fatal.
fn json_error(line: &str) -> Option<String> {
    let v: serde_json::Value = serde_json::from_str(line).ok()?;
    matches!(v.get("level")?.as_str()?, "error" | "fatal").then(|| v.get("msg")?.as_str().map(String::from))?
}

/// Extracts `msg` from a logrus text line at level error/fatal.
fn logfmt_error(line: &str) -> Option<String> {
    if !(line.contains("level=error") || line.contains("level=fatal")) {
        return None;
    }
    let start = line.find("msg=")? + 4;
    let rest = &line[start..];
    if let Some(q) = rest.strip_prefix('"') {
        // A Go-quoted string: read up to the closing unescaped quote, undoing \" and \\.
        let mut out = String::new();
        let mut chars = q.chars();
        while let Some(c) = chars.next() {
            match c {
                '"' => return Some(out),
                '\\' => match chars.next() {
                    Some('n') => out.push('\n'),
                    Some('t') => out.push('\t'),
                    Some(o) => out.push(o),
                    None => break,
                },
                c => out.push(c),
            }
        }
        Some(out)
    } else {
        Some(rest.split_whitespace().next().unwrap_or("").to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runc_style_and_plain_errors() {
        let runc = br#"time="2026-11-22T23:00:00Z" level=warning msg="x"
time="2026-11-22T23:00:00Z" level=error msg="runc create failed: unable to start container process: exec: \"nope\": executable file not found in $PATH"
"#;
        assert_eq!(
            error_message(runc).unwrap(),
            r#"runc create failed: unable to start container process: exec: "nope": executable file not found in $PATH"#
        );
        assert_eq!(error_message(b"first\nboom: no such thing\n\n").unwrap(), "boom: no such thing");
        assert_eq!(error_message(b"  \n"), None);
    }
}
