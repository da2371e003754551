//! Running `ip` / `nft` / `nsenter` and keeping their stderr for errors.

use crate::{io_err, Error, Result};
use std::io::Write;
use std::process::{Command, Stdio};

fn describe(prog: &str, args: &[&str]) -> String {
    let mut s = prog.to_string();
    for a in args {
        s.push(' ');
        s.push_str(a);
    }
    s
}

/// Runs `prog args…` with `stdin` fed in; returns stdout on success.
pub(crate) fn run_with_stdin(prog: &str, args: &[&str], stdin: Option<&str>) -> Result<String> {
    let what = describe(prog, args);
    tracing::debug!(cmd = %what, "net command");
    let mut command = Command::new(prog);
    berth_sys::spawn::die_with_parent(&mut command);
    let mut child = command
        .args(args)
        .stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(io_err(format!("spawning `{what}`")))?;
    if let Some(input) = stdin {
        // Dropping the handle closes the pipe so the tool sees EOF.
        let mut pipe = child.stdin.take().expect("stdin is piped");
        pipe.write_all(input.as_bytes()).map_err(io_err(format!("writing to `{what}`")))?;
    }
    let out = child.wait_with_output().map_err(io_err(format!("waiting for `{what}`")))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        let mut stderr = String::from_utf8_lossy(&out.stderr).trim().to_string();
        if stderr.is_empty() {
            stderr = format!("exit status {}", out.status);
        }
        if let Some(input) = stdin {
            tracing::debug!(cmd = %what, input, "failed batch");
        }
        Err(Error::Command { cmd: what, stderr })
    }
}

pub(crate) fn run(prog: &str, args: &[&str]) -> Result<String> {
    run_with_stdin(prog, args, None)
}

/// `ip args…`
pub(crate) fn ip(args: &[&str]) -> Result<String> {
    run("ip", args)
}

/// True when a failed command reported that the object does not exist.
pub(crate) fn is_not_found(e: &Error) -> bool {
    match e {
        Error::Command { stderr, .. } => {
            stderr.contains("Cannot find device")
                || stderr.contains("does not exist")
                || stderr.contains("No such file or directory")
                || stderr.contains("not found")
        }
        _ => false,
    }
}
