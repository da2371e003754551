//! `berth-shim --config <state_dir>/shim.json`: the per-container monitor.
//!
//! The process started by the daemon is the launcher: it forks the monitor, which detaches, creates
//! and starts the container through the OCI runtime, and reports back; the launcher prints that
//! report as one JSON line on stdout and exits (0 started, 1 failed). The monitor then owns the
//! container's stdio, writes its json-file log and exit record, and serves the control socket.
#![deny(unsafe_code)]

mod adopt;
mod attach;
mod cgroup;
mod control;
mod dns;
mod error;
mod event_loop;
mod exec;
mod exit;
mod fds;
mod health;
mod launch;
mod log;
mod runtime;
mod selfrestart;
mod timefmt;

/// Diagnostics on the monitor's stderr (`<state_dir>/shim.log` once detached). Plain eprintln
/// rather than a tracing subscriber: the monitor's memory budget is ~1.5 MiB.
#[macro_export]
macro_rules! diag {
    ($($arg:tt)*) => {
        eprintln!("{} berth-shim[{}]: {}", $crate::timefmt::now(), std::process::id(), format_args!($($arg)*))
    };
}

const USAGE: &str = "usage: berth-shim --config <state_dir>/shim.json\n       berth-shim --adopt <pid>:<start_time> --config <state_dir>/shim.json\n       berth-shim --version";

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let config = match args.as_slice() {
        [flag, path] if flag == "--config" => path.clone(),
        [flag] if flag.starts_with("--config=") => flag["--config=".len()..].to_string(),
        [adopt, who, flag, path] if adopt == "--adopt" && flag == "--config" => {
            let Some(init) = adopt::parse_identity(who) else {
                eprintln!("{USAGE}");
                std::process::exit(2);
            };
            std::process::exit(adopt::run(std::path::Path::new(path), init));
        }
        [flag] if flag == "--version" || flag == "-V" => {
            println!(
                "berth-shim {} (protocol {}-{})",
                env!("CARGO_PKG_VERSION"),
                berth_proto::MIN_PROTOCOL,
                berth_proto::PROTOCOL
            );
            return;
        }
        _ => {
            eprintln!("{USAGE}");
            std::process::exit(2);
        }
    };
    std::process::exit(launch::run(std::path::Path::new(&config)));
}
