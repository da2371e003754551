//! `berth`: Docker's verbs against berthd's Docker Engine API.
#![deny(unsafe_code)]

mod containers;
mod http;
mod images;
mod registry;
mod run;
mod table;
mod template;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "berth", version, about = "Berth: containers that outlive their daemon (Docker's verbs)")]
struct Cli {
    /// Daemon socket (unix:///path); defaults to $BERTH_HOST, $DOCKER_HOST, then /run/berth/berth.sock
    #[arg(short = 'H', long = "host", global = true)]
    host: Option<String>,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Show the Berth version information
    Version,
    /// Display system-wide information
    Info(containers::FormatArgs),
    /// Import a rootfs tarball (file or -) as an image
    Import(images::ImportArgs),
    /// List images
    Images(images::ImagesArgs),
    /// Remove one or more images
    Rmi(images::RmiArgs),
    /// Download an image from a registry, with a progress bar per layer
    Pull(registry::PullArgs),
    /// Upload an image to a registry, with a progress bar per layer
    Push(registry::PushArgs),
    /// Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE
    Tag { source: String, target: String },
    /// Image commands
    #[command(subcommand)]
    Image(ImageCmd),
    /// Create and run a new container from an image
    Run(run::RunArgs),
    /// Create a new container
    Create(run::RunArgs),
    /// Start one or more stopped containers
    Start(containers::StartArgs),
    /// List containers
    Ps(containers::PsArgs),
    /// Return low-level information on containers or images
    Inspect(containers::InspectArgs),
    /// Fetch the logs of a container
    Logs(containers::LogsArgs),
    /// Stop one or more running containers
    Stop(containers::StopArgs),
    /// Kill one or more running containers
    Kill(containers::KillArgs),
    /// Remove one or more containers
    Rm(containers::RmArgs),
    /// Block until containers stop, then print their exit codes
    Wait {
        #[arg(required = true)]
        containers: Vec<String>,
    },
    /// Restart one or more containers
    Restart(containers::StopArgs),
    /// Execute a command in a running container
    Exec(containers::ExecArgs),
    /// Container commands (Berth's own: adopt, forget)
    #[command(subcommand)]
    Container(ContainerCmd),
}

#[derive(Subcommand)]
enum ImageCmd {
    /// Display detailed information on one or more images
    Inspect(containers::InspectArgs),
    /// List images
    Ls(images::ImagesArgs),
    /// Remove one or more images
    Rm(images::RmiArgs),
}

#[derive(Subcommand)]
enum ContainerCmd {
    /// Start a new monitor for an orphaned container (its process keeps running)
    Adopt { container: String },
    /// Drop a container from Berth without touching its process
    Forget { container: String },
    /// List containers
    Ls(containers::PsArgs),
    /// Display detailed information on one or more containers
    Inspect(containers::InspectArgs),
}

fn socket(host: Option<String>) -> String {
    let h = host
        .or_else(|| std::env::var("BERTH_HOST").ok())
        .or_else(|| std::env::var("DOCKER_HOST").ok())
        .unwrap_or_else(|| "unix:///run/berth/berth.sock".into());
    h.strip_prefix("unix://").unwrap_or(&h).to_string()
}

fn main() {
    let cli = Cli::parse();
    let c = http::Client { socket: socket(cli.host) };
    let code = match run(&c, cli.cmd) {
        Ok(code) => code,
        Err(e) if e.status == 0 => {
            eprintln!("{e}");
            1
        }
        Err(e) => {
            eprintln!("Error response from daemon: {e}");
            1
        }
    };
    std::process::exit(code);
}

/// Runs one verb; Ok(exit code).
fn run(c: &http::Client, cmd: Cmd) -> Result<i32, http::ApiError> {
    match cmd {
        Cmd::Version => containers::version(c),
        Cmd::Info(a) => containers::info(c, a),
        Cmd::Import(a) => images::import(c, a),
        Cmd::Images(a) | Cmd::Image(ImageCmd::Ls(a)) => images::list(c, a),
        Cmd::Rmi(a) | Cmd::Image(ImageCmd::Rm(a)) => images::rmi(c, a),
        Cmd::Pull(a) => registry::pull(c, a),
        Cmd::Push(a) => registry::push(c, a),
        Cmd::Tag { source, target } => images::tag(c, &source, &target),
        Cmd::Image(ImageCmd::Inspect(a)) => containers::inspect(c, a, Some("image")),
        Cmd::Run(a) => run::run(c, a, true),
        Cmd::Create(a) => run::run(c, a, false),
        Cmd::Start(a) => containers::start(c, a),
        Cmd::Ps(a) | Cmd::Container(ContainerCmd::Ls(a)) => containers::ps(c, a),
        Cmd::Inspect(a) => containers::inspect(c, a, None),
        Cmd::Container(ContainerCmd::Inspect(a)) => containers::inspect(c, a, Some("container")),
        Cmd::Logs(a) => containers::logs(c, a),
        Cmd::Stop(a) => containers::each(c, &a.containers.clone(), |id| containers::stop(c, id, &a, "stop")),
        Cmd::Restart(a) => containers::each(c, &a.containers.clone(), |id| containers::stop(c, id, &a, "restart")),
        Cmd::Kill(a) => containers::each(c, &a.containers.clone(), |id| containers::kill(c, id, &a)),
        Cmd::Rm(a) => containers::each(c, &a.containers.clone(), |id| containers::rm(c, id, &a)),
        Cmd::Wait { containers } => containers::each(c, &containers, |id| containers::wait(c, id)),
        Cmd::Exec(a) => containers::exec(c, a),
        Cmd::Container(ContainerCmd::Adopt { container }) => containers::berth_verb(c, &container, "adopt"),
        Cmd::Container(ContainerCmd::Forget { container }) => containers::berth_verb(c, &container, "forget"),
    }
}
