//! `berth-runtime`: Berth's built-in OCI runtime, a runc-compatible command line on youki's
//! libcontainer.
//!
//! libcontainer clones the container's processes from this one, so this binary must stay
//! single-threaded: no async runtime, no threads, one short-lived process per command (like runc).
#![deny(unsafe_code)]

mod cli;
mod commands;
mod logging;
mod spec_fixup;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
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
            let msg = format!("{err:#}");
            log.error(&msg);
            eprintln!("berth-runtime: {msg}");
            ExitCode::from(1)
        }
    }
}
