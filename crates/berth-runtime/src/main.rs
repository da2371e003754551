//! `berth-runtime`: Berth's built-in OCI runtime, a runc-compatible command line on youki's
//! libcontainer.
//!
//! libcontainer clones the container's processes from this one, so this binary must stay
//! single-threaded: no async runtime, no threads, one short-lived process per command (like runc).
#![deny(unsafe_code)]

mod cgroup_fixup;
mod clean_signals;
mod cli;
mod commands;
mod exec_userns;
mod logging;
mod privilege;
mod sealed;
mod seccomp;
mod spec_fixup;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    if let Err(err) = sealed::ensure(&cli.command) {
        eprintln!("berth-runtime: {err:#}");
        return ExitCode::from(1);
    }
    let log = match logging::init(&cli.global) {
        Ok(log) => log,
        Err(err) => {
            eprintln!("berth-runtime: cannot open log: {err:#}");
            return ExitCode::from(1);
        }
    };
    match commands::run(&cli.global, cli.command) {
        Ok(code) => ExitCode::from(code),
        Err(err) => {
            let msg = runc_wording(&format!("{err:#}"));
            log.error(&msg);
            eprintln!("berth-runtime: {msg}");
            ExitCode::from(1)
        }
    }
}

/// libcontainer words a failed exec its own way; the docker CLI picks exit codes 127/126 from
/// runc's words ("executable file not found", "no such file or directory", "permission denied"),
/// so the cause is restated in runc's terms after libcontainer's message.
fn runc_wording(msg: &str) -> String {
    let quoted = |m: &str| m.split('\'').nth(1).map(String::from);
    if let Some(i) = msg.find("not found in $PATH") {
        if let Some(exe) = quoted(&msg[msg[..i].rfind("executable").unwrap_or(0)..]) {
            return format!("{msg}: exec: \"{exe}\": executable file not found in $PATH");
        }
    }
    if msg.contains("does not have correct permissions") {
        if let Some(exe) = quoted(&msg[msg.rfind("executable").unwrap_or(0)..]) {
            return format!("{msg}: exec: \"{exe}\": permission denied");
        }
    }
    if msg.contains("failed to unix syscall") && msg.contains("chdir") {
        return format!("{msg}: chdir: no such file or directory");
    }
    msg.to_string()
}

#[cfg(test)]
mod tests {
    #[test]
    fn runc_words_for_exec_failures() {
        let m = super::runc_wording("error in executing process : executable '/nope' not found in $PATH");
        assert!(m.ends_with("exec: \"/nope\": executable file not found in $PATH"), "{m}");
        let m =
            super::runc_wording("executable '/etc/passwd' at path '\"/etc/passwd\"' does not have correct permissions");
        assert!(m.ends_with("exec: \"/etc/passwd\": permission denied"), "{m}");
        assert_eq!(super::runc_wording("other"), "other");
    }
}
