//! The OCI runtime command line, as runc spells it.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Parser, Debug)]
#[command(name = "berth-runtime", version, about = "Berth's built-in OCI runtime (runc-compatible CLI)")]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalOpts,
    #[command(subcommand)]
    pub command: Command,
}

/// Global flags; `global = true` lets them appear before or after the subcommand, as runc accepts.
#[derive(Args, Debug, Clone)]
pub struct GlobalOpts {
    /// Directory holding the containers' state.
    #[arg(long, global = true, default_value = "/run/berth-runtime")]
    pub root: PathBuf,
    /// Log file (runc: errors and warnings are also written here).
    #[arg(long, global = true)]
    pub log: Option<PathBuf>,
    #[arg(long = "log-format", global = true, value_enum, default_value = "text")]
    pub log_format: LogFormat,
    #[arg(long, global = true)]
    pub debug: bool,
    /// Manage cgroups through systemd instead of cgroupfs.
    #[arg(long = "systemd-cgroup", global = true)]
    pub systemd_cgroup: bool,
}

#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Create a container; its init waits for `start`.
    Create {
        #[arg(long, short = 'b', default_value = ".")]
        bundle: PathBuf,
        #[arg(long = "pid-file")]
        pid_file: Option<PathBuf>,
        #[arg(long = "console-socket")]
        console_socket: Option<PathBuf>,
        #[arg(long = "no-pivot")]
        no_pivot: bool,
        /// Accepted for runc compatibility; stdio is always inherited.
        #[arg(long = "no-new-keyring")]
        no_new_keyring: bool,
        #[arg(long = "preserve-fds", default_value_t = 0)]
        preserve_fds: i32,
        id: String,
    },
    /// Run the user process of a created container.
    Start { id: String },
    /// Print the OCI state JSON.
    State { id: String },
    /// Send a signal to the container's init (or all its processes with --all).
    Kill {
        #[arg(long, short = 'a')]
        all: bool,
        id: String,
        #[arg(default_value = "SIGTERM")]
        signal: String,
    },
    /// Delete a stopped container (or any container with --force).
    Delete {
        #[arg(long, short = 'f')]
        force: bool,
        id: String,
    },
    /// Run an extra process in a running container.
    Exec {
        #[arg(long, short = 'p')]
        process: PathBuf,
        #[arg(long = "pid-file")]
        pid_file: Option<PathBuf>,
        #[arg(long, short = 'd')]
        detach: bool,
        #[arg(long = "console-socket")]
        console_socket: Option<PathBuf>,
        /// Accepted for runc compatibility: the terminal setting comes from the process file.
        #[arg(long, short = 't')]
        tty: bool,
        id: String,
    },
    /// Freeze every process of the container.
    Pause { id: String },
    /// Thaw a paused container.
    Resume { id: String },
    /// List the container's processes (host pids).
    Ps {
        #[arg(long, short = 'f', default_value = "table")]
        format: String,
        id: String,
    },
    /// Change the container's cgroup limits from a linux resources JSON file ("-" for stdin).
    Update {
        #[arg(long, short = 'r')]
        resources: PathBuf,
        id: String,
    },
}
