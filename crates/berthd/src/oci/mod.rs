//! The OCI runtime spec of a container: Docker's defaults (capabilities, masked paths, mounts,
//! device cgroup, sysctls) applied to what the user asked for, as oci-spec's typed structs. The
//! daemon writes it; the runtime, run by the monitor, reads it. The daemon itself never creates
//! a namespace or forks a container.

use oci_spec::runtime::{
    Capability, LinuxBuilder, LinuxCapabilities, LinuxCapabilitiesBuilder, LinuxCpuBuilder, LinuxDevice,
    LinuxDeviceCgroup, LinuxMemoryBuilder, LinuxNamespace, LinuxNamespaceBuilder, LinuxNamespaceType, LinuxPidsBuilder,
    LinuxResourcesBuilder, Mount, PosixRlimit, ProcessBuilder, RootBuilder, Spec, SpecBuilder, UserBuilder,
};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::PathBuf;

pub mod blkio;
pub mod caps;
pub mod defaults;
pub mod devices;
pub mod init;
pub mod sysctl;
pub mod ulimits;
mod user;
pub use user::{group_add, resolve_user};

/// A namespace choice.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum Ns {
    /// A new one of the container's own.
    #[default]
    New,
    /// The host's.
    Host,
    /// Join an existing one: a /proc/<pid>/ns/<type> or namespace file path.
    Join(PathBuf),
}

/// Network namespace choice: `New` is `none` (only `lo`), `Join` the bridge's namespace file
/// or `container:<id>`.
pub type NetNs = Ns;

/// `--ipc`.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub enum Ipc {
    /// A namespace of its own with a private /dev/shm (`private`).
    #[default]
    Private,
    /// A namespace of its own and no /dev/shm at all (`none`).
    None,
    /// The host's namespace and /dev/shm (`host`).
    Host,
}

#[derive(Debug, Clone, Default)]
pub struct Resources {
    pub memory: i64,
    pub memory_swap: i64,
    pub memory_reservation: i64,
    pub memory_swappiness: Option<u64>,
    pub nano_cpus: i64,
    pub cpu_shares: i64,
    pub cpu_quota: i64,
    pub cpu_period: i64,
    pub pids_limit: i64,
    pub cpuset_cpus: String,
    pub cpuset_mems: String,
    pub throttles: blkio::Throttles,
}

#[derive(Debug, Clone)]
pub struct MountSpec {
    pub destination: String,
    pub source: String,
    pub kind: String,
    pub options: Vec<String>,
}

/// Everything the spec is made of, resolved (users, devices and the init looked up on the host
/// and in the image) and validated at create.
#[derive(Debug, Clone, Default)]
pub struct SpecInput {
    pub args: Vec<String>,
    pub env: Vec<String>,
    pub cwd: String,
    pub uid: u32,
    pub gid: u32,
    pub additional_gids: Vec<u32>,
    pub hostname: String,
    pub domainname: String,
    pub tty: bool,
    pub rootfs: PathBuf,
    pub readonly_rootfs: bool,
    pub net: NetNs,
    /// The network namespace is the container's own (bridge, user network, none), not the
    /// host's or another container's: Docker's network sysctls go there.
    pub net_own: bool,
    pub pid: Ns,
    pub ipc: Ipc,
    pub uts_host: bool,
    pub cgroupns_private: bool,
    pub resources: Resources,
    pub mounts: Vec<MountSpec>,
    pub privileged: bool,
    pub cap_add: Vec<String>,
    pub cap_drop: Vec<String>,
    /// Nodes to make in the container's /dev (`--device`; the host's for `--privileged`).
    pub devices: Vec<LinuxDevice>,
    /// Device cgroup rules after Docker's defaults (`--device`, `--device-cgroup-rule`).
    pub device_rules: Vec<LinuxDeviceCgroup>,
    /// `HostConfig.MaskedPaths`/`ReadonlyPaths`: replace Docker's lists when given.
    pub masked_paths: Option<Vec<String>>,
    pub readonly_paths: Option<Vec<String>>,
    pub sysctls: BTreeMap<String, String>,
    pub rlimits: Vec<PosixRlimit>,
    pub oom_score_adj: i64,
    /// /dev/shm size in bytes; 0 is Docker's 64 MiB.
    pub shm_size: i64,
    /// The host file bind-mounted at /sbin/docker-init and run as PID 1 (`--init`).
    pub init: Option<PathBuf>,
    pub annotations: BTreeMap<String, String>,
    /// As recorded at create (invariant 8).
    pub cgroups_path: String,
}

type Result<T> = std::result::Result<T, String>;

fn oci_err(e: oci_spec::OciSpecError) -> String {
    format!("building the runtime spec: {e}")
}

fn capabilities(input: &SpecInput) -> Result<LinuxCapabilities> {
    capability_set(&caps::effective(&input.cap_add, &input.cap_drop, input.privileged)?)
}

/// A process's capabilities: `names` bounding, effective and permitted.
pub fn capability_set(names: &[String]) -> Result<LinuxCapabilities> {
    let set: HashSet<Capability> = names
        .iter()
        .map(|n| {
            serde_json::from_value(serde_json::Value::String(n.clone()))
                .map_err(|_| format!("unknown capability: {n:?}"))
        })
        .collect::<Result<_>>()?;
    // No inheritable or ambient capabilities (CVE-2022-24769): a process that is not root keeps
    // none of the others across execve.
    LinuxCapabilitiesBuilder::default()
        .bounding(set.clone())
        .effective(set.clone())
        .permitted(set)
        .inheritable(HashSet::new())
        .ambient(HashSet::new())
        .build()
        .map_err(oci_err)
}

fn namespace(typ: LinuxNamespaceType, path: Option<&PathBuf>) -> LinuxNamespace {
    let mut b = LinuxNamespaceBuilder::default().typ(typ);
    if let Some(p) = path {
        b = b.path(p.clone());
    }
    b.build().expect("every field of a namespace is set")
}

fn namespaces(input: &SpecInput) -> Vec<LinuxNamespace> {
    use LinuxNamespaceType as T;
    let mut v = vec![namespace(T::Mount, None)];
    for (typ, choice) in [(T::Network, &input.net), (T::Pid, &input.pid)] {
        match choice {
            Ns::New => v.push(namespace(typ, None)),
            Ns::Host => {}
            Ns::Join(p) => v.push(namespace(typ, Some(p))),
        }
    }
    if input.ipc != Ipc::Host {
        v.push(namespace(T::Ipc, None));
    }
    if !input.uts_host {
        v.push(namespace(T::Uts, None));
    }
    if input.cgroupns_private {
        v.push(namespace(T::Cgroup, None));
    }
    v
}

/// Docker's mounts, minus those a user mount replaces (and everything under /dev when the user
/// mounts /dev itself), then the user's, then the init.
fn mounts(input: &SpecInput) -> Vec<Mount> {
    let shm = match input.ipc {
        Ipc::None => None,
        Ipc::Host => Some(None),
        Ipc::Private => Some(Some(if input.shm_size > 0 { input.shm_size } else { defaults::SHM_SIZE })),
    };
    let kernel = defaults::KernelMounts { host_net: input.net == Ns::Host, privileged: input.privileged, shm };
    let user_dest: HashSet<&str> = input.mounts.iter().map(|m| m.destination.as_str()).collect();
    let user_dev = user_dest.contains("/dev");
    let mut v: Vec<Mount> = defaults::mounts(&kernel)
        .into_iter()
        .filter(|m| {
            let d = m.destination().to_string_lossy();
            let replaced = user_dest.contains(d.as_ref()) || (user_dev && d.starts_with("/dev/"));
            !replaced
        })
        .collect();
    for m in &input.mounts {
        let opts: Vec<&str> = m.options.iter().map(String::as_str).collect();
        v.push(defaults::mount(&m.destination, &m.kind, &m.source, &opts));
    }
    if let Some(init) = &input.init {
        v.push(defaults::mount(
            init::IN_CONTAINER,
            "bind",
            &init.to_string_lossy(),
            &["bind", "ro", "nosuid", "nodev"],
        ));
    }
    v
}

fn resources(input: &SpecInput) -> Result<oci_spec::runtime::LinuxResources> {
    let r = &input.resources;
    let mut devices = if input.privileged { devices::allow_all() } else { devices::default_rules() };
    if !input.privileged {
        devices.extend(input.device_rules.iter().cloned());
    }
    let mut b = LinuxResourcesBuilder::default().devices(devices);
    if r.memory > 0 || r.memory_reservation > 0 || r.memory_swappiness.is_some() {
        let mut m = LinuxMemoryBuilder::default();
        if r.memory > 0 {
            m = m.limit(r.memory);
            if r.memory_swap != 0 {
                m = m.swap(r.memory_swap);
            }
        }
        if r.memory_reservation > 0 {
            m = m.reservation(r.memory_reservation);
        }
        if let Some(s) = r.memory_swappiness {
            m = m.swappiness(s);
        }
        b = b.memory(m.build().map_err(oci_err)?);
    }
    let mut cpu = LinuxCpuBuilder::default();
    let mut any_cpu = false;
    if r.nano_cpus > 0 {
        let period = 100_000u64;
        cpu = cpu.period(period).quota(r.nano_cpus * period as i64 / 1_000_000_000);
        any_cpu = true;
    } else if r.cpu_quota > 0 {
        cpu = cpu.quota(r.cpu_quota).period(if r.cpu_period > 0 { r.cpu_period as u64 } else { 100_000 });
        any_cpu = true;
    }
    if r.cpu_shares > 0 {
        cpu = cpu.shares(r.cpu_shares as u64);
        any_cpu = true;
    }
    if !r.cpuset_cpus.is_empty() {
        cpu = cpu.cpus(r.cpuset_cpus.clone());
        any_cpu = true;
    }
    if !r.cpuset_mems.is_empty() {
        cpu = cpu.mems(r.cpuset_mems.clone());
        any_cpu = true;
    }
    if any_cpu {
        b = b.cpu(cpu.build().map_err(oci_err)?);
    }
    if r.pids_limit > 0 {
        b = b.pids(LinuxPidsBuilder::default().limit(r.pids_limit).build().map_err(oci_err)?);
    }
    if let Some(io) = blkio::block_io(&r.throttles)? {
        b = b.block_io(io);
    }
    b.build().map_err(oci_err)
}

fn sysctls(input: &SpecInput) -> HashMap<String, String> {
    let mut v: HashMap<String, String> = HashMap::new();
    if input.net_own {
        v.extend(defaults::net_sysctls().into_iter().map(|(k, x)| (k.to_string(), x.to_string())));
    }
    v.extend(input.sysctls.iter().map(|(k, x)| (k.clone(), x.clone())));
    v
}

fn process(input: &SpecInput) -> Result<oci_spec::runtime::Process> {
    let user = UserBuilder::default()
        .uid(input.uid)
        .gid(input.gid)
        .additional_gids(input.additional_gids.clone())
        .build()
        .map_err(oci_err)?;
    let args = match &input.init {
        Some(_) => {
            [init::IN_CONTAINER.to_string(), "--".into()].into_iter().chain(input.args.iter().cloned()).collect()
        }
        None => input.args.clone(),
    };
    ProcessBuilder::default()
        .terminal(input.tty)
        .user(user)
        .args(args)
        .env(input.env.clone())
        .cwd(if input.cwd.is_empty() { "/" } else { &input.cwd })
        .capabilities(capabilities(input)?)
        .rlimits(input.rlimits.clone())
        .oom_score_adj(input.oom_score_adj as i32)
        .build()
        .map_err(oci_err)
}

/// Builds config.json.
pub fn spec(input: &SpecInput) -> Result<Spec> {
    let (masked, readonly) = match input.privileged {
        true => (vec![], vec![]),
        false => (defaults::masked(), defaults::READONLY.iter().map(|s| s.to_string()).collect()),
    };
    let linux = LinuxBuilder::default()
        .cgroups_path(PathBuf::from(&input.cgroups_path))
        .resources(resources(input)?)
        .namespaces(namespaces(input))
        .devices(devices::dedup(input.devices.clone()))
        .masked_paths(input.masked_paths.clone().unwrap_or(masked))
        .readonly_paths(input.readonly_paths.clone().unwrap_or(readonly))
        .sysctl(sysctls(input))
        .build()
        .map_err(oci_err)?;
    let root =
        RootBuilder::default().path(input.rootfs.clone()).readonly(input.readonly_rootfs).build().map_err(oci_err)?;
    let mut b = SpecBuilder::default()
        .version("1.0.2")
        .process(process(input)?)
        .root(root)
        .mounts(mounts(input))
        .annotations(input.annotations.clone().into_iter().collect::<HashMap<_, _>>())
        .linux(linux);
    // With the host's UTS namespace the container has no name of its own to set.
    if !input.uts_host {
        b = b.hostname(input.hostname.clone());
        if !input.domainname.is_empty() {
            b = b.domainname(input.domainname.clone());
        }
    }
    let mut spec = b.build().map_err(oci_err)?;
    if input.uts_host {
        // oci-spec's default spec names its container "youki".
        spec.set_hostname(None);
    }
    Ok(spec)
}

#[cfg(test)]
mod tests;
