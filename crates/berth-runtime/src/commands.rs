//! One function per OCI runtime command, each a thin wrapper over libcontainer.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context, Result};
use libcgroups::common::{CgroupConfig, CgroupManager, ControllerOpt};
use libcontainer::container::builder::ContainerBuilder;
use libcontainer::container::{Container, ContainerStatus};
use libcontainer::signal::Signal;
use libcontainer::syscall::syscall::SyscallType;
use nix::sys::signal::Signal as NixSignal;
use nix::sys::wait::{waitpid, WaitStatus};
use oci_spec::runtime::LinuxResources;
use serde::Serialize;

use crate::clean_signals::CleanSignals;
use crate::cli::{Command, GlobalOpts};
use crate::exec_userns;
use crate::seccomp::executor::{self as seccomp_executor, SeccompExecutor};
use crate::spec_fixup;

/// Runs one command; the returned code is this process's exit status.
pub fn run(g: &GlobalOpts, cmd: Command) -> Result<u8> {
    match cmd {
        Command::Create { bundle, pid_file, console_socket, no_pivot, no_new_keyring: _, preserve_fds, id } => {
            create(g, &id, &bundle, pid_file, console_socket, no_pivot, preserve_fds)?
        }
        Command::Start { id } => load(g, &id)?.start().context("start")?,
        Command::State { id } => state(g, &id)?,
        Command::Kill { all, id, signal } => kill(g, &id, &signal, all)?,
        Command::Delete { force, id } => delete(g, &id, force)?,
        Command::Exec { process, pid_file, detach, console_socket, tty: _, id } => {
            return exec(g, &id, &process, pid_file, detach, console_socket);
        }
        Command::Pause { id } => load(g, &id)?.pause().context("pause")?,
        Command::Resume { id } => load(g, &id)?.resume().context("resume")?,
        Command::Ps { format, id } => ps(g, &id, &format)?,
        Command::Update { resources, id } => update(g, &id, &resources)?,
    }
    Ok(0)
}

fn root_dir(g: &GlobalOpts) -> Result<PathBuf> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&g.root)
        .with_context(|| format!("creating root {}", g.root.display()))?;
    std::fs::canonicalize(&g.root).with_context(|| format!("resolving root {}", g.root.display()))
}

fn container_dir(g: &GlobalOpts, id: &str) -> Result<PathBuf> {
    if id.is_empty() || id.contains('/') || id == "." || id == ".." {
        bail!("invalid container id {id:?}");
    }
    Ok(root_dir(g)?.join(id))
}

fn load(g: &GlobalOpts, id: &str) -> Result<Container> {
    let dir = container_dir(g, id)?;
    if !dir.join("state.json").exists() {
        bail!("container {id} does not exist");
    }
    let mut c = Container::load(dir).with_context(|| format!("loading container {id}"))?;
    c.refresh_status().with_context(|| format!("refreshing status of {id}"))?;
    Ok(c)
}

fn absolute(p: &Path) -> Result<PathBuf> {
    Ok(if p.is_absolute() { p.to_path_buf() } else { std::env::current_dir()?.join(p) })
}

fn create(
    g: &GlobalOpts,
    id: &str,
    bundle: &Path,
    pid_file: Option<PathBuf>,
    console_socket: Option<PathBuf>,
    no_pivot: bool,
    preserve_fds: i32,
) -> Result<()> {
    let root = root_dir(g)?;
    container_dir(g, id)?;
    let bundle = std::fs::canonicalize(bundle).with_context(|| format!("bundle {}", bundle.display()))?;
    let mut spec = spec_fixup::fixup_bundle(&bundle)?;
    let seccomp = seccomp_executor::for_init(&root, &mut spec)?;
    // With a filter, libcontainer reads a copy of the spec without it (and with the CAP_SYS_ADMIN
    // loan): the bundle's config.json stays the daemon's (exec and a restart read it again).
    let view = match &seccomp {
        Some(_) => Some(write_view(&root, id, &bundle, &mut spec)?),
        None => None,
    };
    let pid_file = pid_file.map(|p| absolute(&p)).transpose()?;
    let console_socket = console_socket.map(|p| absolute(&p)).transpose()?;
    let executor = CleanSignals::wrap(seccomp.map(|s| Box::new(s) as Box<_>));
    // No with_stdin/stdout/stderr: the init inherits this process's stdio, so the monitor's pipes
    // become the container's. Detached: this process exits while the init waits for `start`.
    let built = (|| {
        ContainerBuilder::new(id.to_string(), SyscallType::default())
            .with_executor(executor)
            .with_root_path(root.clone())?
            .with_pid_file(pid_file)?
            .with_console_socket(console_socket)
            .with_preserved_fds(preserve_fds)
            .validate_id()?
            .as_init(view.as_deref().unwrap_or(&bundle))
            .with_systemd(g.systemd_cgroup)
            .with_detach(true)
            .with_no_pivot(no_pivot)
            .build()
    })();
    let built = built.with_context(|| format!("creating container {id}"));
    if let Some(view) = &view {
        let restored = built.and_then(|mut c| {
            // The state names the real bundle: `state`, exec and a restart read config.json there.
            c.state.bundle = bundle.clone();
            c.save().context("saving the container's state")
        });
        let _ = std::fs::remove_dir_all(view);
        restored?;
    } else {
        built?;
    }
    Ok(())
}

/// Writes what libcontainer reads for a filtered container's create: `spec` (already without
/// `linux.seccomp`) with an absolute `root.path`, in a directory of its own under the root.
fn write_view(root: &Path, id: &str, bundle: &Path, spec: &mut serde_json::Value) -> Result<PathBuf> {
    use std::os::unix::fs::DirBuilderExt;
    // `@` is no character of a container id: no container's directory can take this name.
    let dir = root.join("@create").join(id);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::DirBuilder::new()
        .mode(0o700)
        .recursive(true)
        .create(&dir)
        .with_context(|| format!("creating {}", dir.display()))?;
    if let Some(p) = spec.pointer("/root/path").and_then(|p| p.as_str()) {
        let p = bundle.join(p);
        spec["root"]["path"] = p.to_string_lossy().into_owned().into();
    }
    spec_fixup::write_private(&dir.join("config.json"), &serde_json::to_vec(spec)?)
        .with_context(|| format!("writing {}/config.json", dir.display()))?;
    Ok(dir)
}

/// The OCI state, with runc's extra fields.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct OciState {
    oci_version: String,
    id: String,
    pid: i32,
    status: &'static str,
    bundle: PathBuf,
    rootfs: PathBuf,
    #[serde(skip_serializing_if = "Option::is_none")]
    created: Option<String>,
    owner: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    annotations: Option<HashMap<String, String>>,
}

fn status_name(s: ContainerStatus) -> &'static str {
    match s {
        ContainerStatus::Creating => "creating",
        ContainerStatus::Created => "created",
        ContainerStatus::Running => "running",
        ContainerStatus::Stopped => "stopped",
        ContainerStatus::Paused => "paused",
    }
}

fn state(g: &GlobalOpts, id: &str) -> Result<()> {
    let c = load(g, id)?;
    let status = c.status();
    let rootfs = root_path_of(c.bundle()).unwrap_or_default();
    let st = OciState {
        oci_version: "1.0.2".to_string(),
        id: c.id().to_string(),
        // runc reports 0 once the init is gone, so a stale pid is never acted upon.
        pid: if status == ContainerStatus::Stopped { 0 } else { c.pid().map(|p| p.as_raw()).unwrap_or(0) },
        status: status_name(status),
        bundle: c.bundle().clone(),
        rootfs,
        created: c.created().map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)),
        owner: String::new(),
        annotations: c.state.annotations.clone(),
    };
    println!("{}", serde_json::to_string_pretty(&st)?);
    Ok(())
}

fn root_path_of(bundle: &Path) -> Option<PathBuf> {
    let spec: serde_json::Value = serde_json::from_slice(&std::fs::read(bundle.join("config.json")).ok()?).ok()?;
    let p = PathBuf::from(spec.get("root")?.get("path")?.as_str()?);
    Some(if p.is_absolute() { p } else { bundle.join(p) })
}

/// Accepts "15", "TERM", "SIGTERM" (any case), like runc.
fn parse_signal(s: &str) -> Result<NixSignal> {
    let sig = if let Ok(n) = s.parse::<i32>() {
        NixSignal::try_from(n).map_err(|_| anyhow!("invalid signal {s:?}"))?
    } else {
        let up = s.to_ascii_uppercase();
        let name = if up.starts_with("SIG") { up } else { format!("SIG{up}") };
        name.parse::<NixSignal>().map_err(|_| anyhow!("invalid signal {s:?}"))?
    };
    Ok(sig)
}

fn kill(g: &GlobalOpts, id: &str, signal: &str, all: bool) -> Result<()> {
    let sig = parse_signal(signal)?;
    let mut c = load(g, id)?;
    let before = c.status();
    c.kill(Signal::from(sig), all).with_context(|| format!("killing {id}"))?;
    // libcontainer marks the container stopped after any signal. A created or paused container
    // that got a non-fatal signal is still waiting for start/resume: keep saying so. (Once the
    // init is really gone, refresh_status reports stopped anyway.)
    if matches!(before, ContainerStatus::Created | ContainerStatus::Paused) && sig != NixSignal::SIGKILL {
        c.set_status(before).save().context("saving state")?;
    }
    Ok(())
}

fn delete(g: &GlobalOpts, id: &str, force: bool) -> Result<()> {
    let dir = container_dir(g, id)?;
    if !dir.join("state.json").exists() {
        // Like runc: a create that died early can leave a directory without state; --force
        // cleans it up and succeeds, so a retrying monitor converges.
        if force {
            if dir.exists() {
                std::fs::remove_dir_all(&dir).with_context(|| format!("removing {}", dir.display()))?;
            }
            return Ok(());
        }
        bail!("container {id} does not exist");
    }
    let mut c = load(g, id)?;
    c.delete(force).with_context(|| format!("deleting {id}"))?;
    Ok(())
}

fn exec(
    g: &GlobalOpts,
    id: &str,
    process: &Path,
    pid_file: Option<PathBuf>,
    detach: bool,
    console_socket: Option<PathBuf>,
) -> Result<u8> {
    let root = root_dir(g)?;
    let dir = container_dir(g, id)?;
    if !dir.join("state.json").exists() {
        bail!("container {id} does not exist");
    }
    let text = std::fs::read(process).with_context(|| format!("reading {}", process.display()))?;
    let mut proc_json: serde_json::Value =
        serde_json::from_slice(&text).with_context(|| format!("parsing {}", process.display()))?;
    // A clamped copy lives in the container's own directory, which delete removes.
    let tmp = dir.join(format!("exec-process-{}.json", std::process::id()));
    // Issue 13 (seccomp): libcontainer gives exec'd processes no filter; this executor does.
    let seccomp = seccomp_executor::for_exec(&root, load(g, id)?.bundle(), &mut proc_json)?;
    let lends = seccomp.as_ref().is_some_and(|s| s.lends());
    // Issue 13 (userns): libcontainer's exec does not join the user namespace; this executor does.
    let userns = exec_userns::hook(&load(g, id)?, &mut proc_json, seccomp.clone())?;
    let process_path = if spec_fixup::clamp_process(&mut proc_json) | lends | userns.is_some() {
        spec_fixup::write_private(&tmp, &serde_json::to_vec(&proc_json)?)?;
        tmp.clone()
    } else {
        absolute(process)?
    };
    let pid_file = pid_file.map(|p| absolute(&p)).transpose()?;
    let console_socket = console_socket.map(|p| absolute(&p)).transpose()?;
    // Innermost first: the user namespace is joined (lending and taking back what joining needs),
    // then the filter is loaded, then execve. The signal reset runs before both; neither of them
    // ignores or blocks a signal.
    let inner: Option<Box<dyn libcontainer::workload::Executor>> = match userns {
        Some(u) => Some(Box::new(u)),
        None => seccomp.map(|s: SeccompExecutor| Box::new(s) as Box<_>),
    };
    let built = ContainerBuilder::new(id.to_string(), SyscallType::default())
        .with_executor(CleanSignals::wrap(inner))
        .with_root_path(root)?
        .with_pid_file(pid_file)?
        .with_console_socket(console_socket)
        .validate_id()?
        .as_tenant()
        .with_detach(detach)
        .with_process(Some(process_path))
        .build();
    let _ = std::fs::remove_file(&tmp);
    let pid = built.with_context(|| format!("exec in {id}"))?;
    if detach {
        return Ok(0);
    }
    // Not detached: the process is our child; report its status as runc does.
    loop {
        match waitpid(pid, None) {
            Ok(WaitStatus::Exited(_, code)) => return Ok(code as u8),
            Ok(WaitStatus::Signaled(_, sig, _)) => return Ok(128u8.wrapping_add(sig as u8)),
            Ok(_) => continue,
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => return Err(e).context("waiting for exec process"),
        }
    }
}

fn cgroup_manager(c: &Container) -> Result<libcgroups::common::AnyCgroupManager> {
    let cfg = c.spec().context("reading saved container config")?;
    libcgroups::common::create_cgroup_manager(CgroupConfig {
        cgroup_path: cfg.cgroup_path,
        systemd_cgroup: c.systemd(),
        container_name: c.id().to_string(),
    })
    .context("opening container cgroup")
}

fn ps(g: &GlobalOpts, id: &str, format: &str) -> Result<()> {
    let c = load(g, id)?;
    let mut pids: Vec<i32> =
        cgroup_manager(&c)?.get_all_pids().context("listing pids")?.into_iter().map(|p| p.as_raw()).collect();
    pids.sort_unstable();
    match format {
        "json" => println!("{}", serde_json::to_string(&pids)?),
        "table" => {
            println!("PID");
            for p in pids {
                println!("{p}");
            }
        }
        other => bail!("unknown ps format {other:?} (table or json)"),
    }
    Ok(())
}

fn update(g: &GlobalOpts, id: &str, resources: &Path) -> Result<()> {
    let text = if resources == Path::new("-") {
        let mut s = Vec::new();
        std::io::Read::read_to_end(&mut std::io::stdin(), &mut s)?;
        s
    } else {
        std::fs::read(resources).with_context(|| format!("reading {}", resources.display()))?
    };
    let res: LinuxResources = serde_json::from_slice(&text).context("parsing linux resources")?;
    let c = load(g, id)?;
    cgroup_manager(&c)?
        .apply(&ControllerOpt { resources: &res, disable_oom_killer: false, oom_score_adj: None, freezer_state: None })
        .context("applying resources")?;
    Ok(())
}
