//! The fields of API 1.51's create and update bodies that Berth does not implement. Clients
//! send many of them on every request with a zero value (the docker CLI 28 sends `"BlkioWeight":
//! 0`, `"MemorySwappiness": -1`, `"VolumesFrom": null`, …; docker-py and docker-compose fewer):
//! the zero passes, anything else is a 400 naming the field, so that nothing a user asks for is
//! accepted and then dropped (invariant 10). Keys the API does not define are ignored, as dockerd
//! ignores them.

use crate::api::error::ApiError;
use berth_api as wire;
use serde::Serialize;

/// One field: its name as the message shows it, and what the client gave when it set it.
struct Field {
    name: String,
    given: Option<String>,
}

fn field<T: Serialize>(name: impl Into<String>, set: bool, value: &T) -> Field {
    let given = set.then(|| short(&serde_json::to_string(value).unwrap_or_default()));
    Field { name: name.into(), given }
}

fn short(s: &str) -> String {
    match s.char_indices().nth(80) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_string(),
    }
}

fn first_set(fields: impl IntoIterator<Item = Field>) -> Result<(), ApiError> {
    match fields.into_iter().find_map(|f| f.given.map(|g| (f.name, g))) {
        Some((name, given)) => Err(ApiError::bad_request(format!("{name} is not supported by Berth (given: {given})"))),
        None => Ok(()),
    }
}

fn some_nonempty<T>(v: &Option<Vec<T>>) -> bool {
    v.as_ref().is_some_and(|v| !v.is_empty())
}

fn config(c: &wire::ContainerConfig) -> Vec<Field> {
    vec![
        // Windows only.
        field("Config.ArgsEscaped", c.args_escaped == Some(true), &c.args_escaped),
        field("Config.NetworkDisabled", c.network_disabled == Some(true), &c.network_disabled),
        // Image-build metadata; a container never runs them.
        field("Config.OnBuild", some_nonempty(&c.on_build), &c.on_build),
        field("Config.Shell", some_nonempty(&c.shell), &c.shell),
    ]
}

/// The resource fields Berth does not apply, at create (`prefix` "HostConfig.") and at update
/// (no prefix: the update body is the resources themselves).
fn resources(prefix: &str, r: &wire::Resources) -> Vec<Field> {
    let name = |n: &str| format!("{prefix}{n}");
    vec![
        field(name("BlkioWeight"), r.blkio_weight != 0, &r.blkio_weight),
        field(name("BlkioWeightDevice"), some_nonempty(&r.blkio_weight_device), &r.blkio_weight_device),
        // The throttles are set at create (applied at each start); `update` does not change them.
        field(
            name("BlkioDeviceReadBps"),
            prefix.is_empty() && some_nonempty(&r.blkio_device_read_bps),
            &r.blkio_device_read_bps,
        ),
        field(
            name("BlkioDeviceWriteBps"),
            prefix.is_empty() && some_nonempty(&r.blkio_device_write_bps),
            &r.blkio_device_write_bps,
        ),
        field(
            name("BlkioDeviceReadIOps"),
            prefix.is_empty() && some_nonempty(&r.blkio_device_read_iops),
            &r.blkio_device_read_iops,
        ),
        field(
            name("BlkioDeviceWriteIOps"),
            prefix.is_empty() && some_nonempty(&r.blkio_device_write_iops),
            &r.blkio_device_write_iops,
        ),
        field(name("CpuRealtimePeriod"), r.cpu_realtime_period != 0, &r.cpu_realtime_period),
        field(name("CpuRealtimeRuntime"), r.cpu_realtime_runtime != 0, &r.cpu_realtime_runtime),
        // GPUs (`--gpus`): no device plugin.
        field(name("DeviceRequests"), some_nonempty(&r.device_requests), &r.device_requests),
        field(name("KernelMemory"), r.kernel_memory.unwrap_or(0) != 0, &r.kernel_memory),
        field(name("KernelMemoryTCP"), r.kernel_memory_tcp.unwrap_or(0) != 0, &r.kernel_memory_tcp),
        // -1 is "unset"; 0 is a real swappiness. Set at create (cgroup v1), not changed by update.
        field(
            name("MemorySwappiness"),
            prefix.is_empty() && r.memory_swappiness.is_some_and(|s| s != -1),
            &r.memory_swappiness,
        ),
        field(name("OomKillDisable"), r.oom_kill_disable == Some(true), &r.oom_kill_disable),
        // Windows only.
        field(name("CpuCount"), r.cpu_count != 0, &r.cpu_count),
        field(name("CpuPercent"), r.cpu_percent != 0, &r.cpu_percent),
        field(name("IOMaximumIOps"), r.io_maximum_iops != 0, &r.io_maximum_iops),
        field(name("IOMaximumBandwidth"), r.io_maximum_bandwidth != 0, &r.io_maximum_bandwidth),
    ]
}

fn host_config(h: &wire::HostConfig) -> Vec<Field> {
    let mut fields = vec![
        field("HostConfig.Cgroup", !h.cgroup.is_empty(), &h.cgroup),
        field("HostConfig.StorageOpt", h.storage_opt.as_ref().is_some_and(|o| !o.is_empty()), &h.storage_opt),
        field("HostConfig.Isolation", !matches!(h.isolation.as_str(), "" | "default"), &h.isolation),
        // API 1.40 only.
        field("HostConfig.Capabilities", some_nonempty(&h.capabilities), &h.capabilities),
    ];
    fields.extend(resources("HostConfig.", &h.resources));
    for (i, m) in h.mounts.iter().flatten().enumerate() {
        fields.extend(mount(&format!("HostConfig.Mounts[{i}]"), m));
    }
    fields
}

/// `--mount` options Berth does not implement (`Consistency` is ignored on Linux by Docker too).
fn mount(at: &str, m: &wire::Mount) -> Vec<Field> {
    let b = m.bind_options.clone().unwrap_or_default();
    let v = m.volume_options.clone().unwrap_or_default();
    let t = m.tmpfs_options.clone().unwrap_or_default();
    let driver = v.driver_config.clone().unwrap_or_default();
    vec![
        field(format!("{at}.BindOptions.NonRecursive"), b.non_recursive, &b.non_recursive),
        field(format!("{at}.BindOptions.CreateMountpoint"), b.create_mountpoint, &b.create_mountpoint),
        field(format!("{at}.BindOptions.ReadOnlyNonRecursive"), b.read_only_non_recursive, &true),
        field(format!("{at}.BindOptions.ReadOnlyForceRecursive"), b.read_only_force_recursive, &true),
        field(
            format!("{at}.VolumeOptions.DriverConfig"),
            !matches!(driver.name.as_str(), "" | "local") || driver.options.as_ref().is_some_and(|o| !o.is_empty()),
            &v.driver_config,
        ),
        field(format!("{at}.VolumeOptions.Subpath"), !v.subpath.is_empty(), &v.subpath),
        field(format!("{at}.ImageOptions"), m.image_options.is_some(), &m.image_options),
        field(format!("{at}.TmpfsOptions.Options"), some_nonempty(&t.options), &t.options),
    ]
}

/// What an endpoint request may carry beyond its aliases.
fn endpoint(net: &str, ep: &wire::EndpointSettings) -> Vec<Field> {
    let at = format!("NetworkingConfig.EndpointsConfig.{net}");
    // Options in Docker's own namespace mean something to dockerd's bridge driver (an interface
    // name, sysctls); Berth's bridge implements none of them. Others are opaque, kept and shown.
    let docker_opts: Vec<&String> =
        ep.driver_opts.iter().flatten().map(|(k, _)| k).filter(|k| k.starts_with("com.docker.network.")).collect();
    vec![
        field(format!("{at}.DriverOpts"), !docker_opts.is_empty(), &docker_opts),
        field(format!("{at}.GwPriority"), ep.gw_priority != 0, &ep.gw_priority),
    ]
}

/// The endpoint config of a create's `NetworkingConfig` or of a connect.
pub fn refuse_endpoint(network: &str, ep: &wire::EndpointSettings) -> Result<(), ApiError> {
    first_set(endpoint(network, ep))
}

/// `POST /networks/create`: one IPv4 subnet (with its gateway), and one IPv6, on a local bridge.
pub fn refuse_network(n: &wire::NetworkCreateRequest) -> Result<(), ApiError> {
    let ipam = n.ipam.clone().unwrap_or_default();
    let pools = ipam.config.clone().unwrap_or_default();
    let v6s = pools.iter().filter(|p| super::network::is_v6_pool(p)).count();
    let mut fields = vec![
        field("Scope", !matches!(n.scope.as_deref(), None | Some("" | "local")), &n.scope),
        field("Ingress", n.ingress == Some(true), &n.ingress),
        field("ConfigOnly", n.config_only == Some(true), &n.config_only),
        field("ConfigFrom", n.config_from.as_ref().is_some_and(|c| !c.network.is_empty()), &n.config_from),
        field("EnableIPv4", n.enable_ipv4 == Some(false), &n.enable_ipv4),
        field("IPAM.Driver", !matches!(ipam.driver.as_str(), "" | "default"), &ipam.driver),
        field("IPAM.Options", ipam.options.as_ref().is_some_and(|o| !o.is_empty()), &ipam.options),
        field("IPAM.Config", v6s > 1 || pools.len() - v6s > 1, &pools),
    ];
    // The bridge driver's options (`com.docker.network.bridge.name`, `…driver.mtu`, …), by key.
    for (k, v) in n.options.iter().flatten() {
        fields.push(field(format!("Options.{k}"), true, v));
    }
    first_set(fields)
}

pub fn refuse_create(
    c: &wire::ContainerConfig,
    h: &wire::HostConfig,
    n: &wire::NetworkingConfig,
) -> Result<(), ApiError> {
    let endpoints = n.endpoints_config.iter().flatten().flat_map(|(net, ep)| endpoint(net, ep));
    first_set(config(c).into_iter().chain(host_config(h)).chain(endpoints))
}

/// `POST /commit`'s body: what a create refuses, and what an image config cannot carry (dockerd
/// would store these in the image, where no container created from it reads them).
pub fn refuse_commit(c: &wire::ContainerConfig) -> Result<(), ApiError> {
    let inert = [
        field("Config.Hostname", !c.hostname.is_empty(), &c.hostname),
        field("Config.Domainname", !c.domainname.is_empty(), &c.domainname),
        field("Config.AttachStdin", c.attach_stdin, &c.attach_stdin),
        field("Config.AttachStdout", c.attach_stdout, &c.attach_stdout),
        field("Config.AttachStderr", c.attach_stderr, &c.attach_stderr),
        field("Config.Tty", c.tty, &c.tty),
        field("Config.OpenStdin", c.open_stdin, &c.open_stdin),
        field("Config.StdinOnce", c.stdin_once, &c.stdin_once),
        field("Config.Image", !c.image.is_empty(), &c.image),
        field("Config.StopTimeout", c.stop_timeout.is_some(), &c.stop_timeout),
        field("Config.MacAddress", c.mac_address.as_deref().is_some_and(|m| !m.is_empty()), &c.mac_address),
    ];
    first_set(config(c).into_iter().chain(inert))
}

/// `POST /containers/{id}/update`: the resources Berth cannot change on a container, besides
/// those it does not implement at all. Their names are the update body's (no section).
pub fn refuse_update(u: &wire::ContainerUpdateRequest) -> Result<(), ApiError> {
    let r = &u.resources;
    let not_updatable = [
        field("CgroupParent", !r.cgroup_parent.is_empty(), &r.cgroup_parent),
        field("CpusetCpus", !r.cpuset_cpus.is_empty(), &r.cpuset_cpus),
        field("CpusetMems", !r.cpuset_mems.is_empty(), &r.cpuset_mems),
        field("MemoryReservation", r.memory_reservation != 0, &r.memory_reservation),
        field("Devices", some_nonempty(&r.devices), &r.devices),
        field("DeviceCgroupRules", some_nonempty(&r.device_cgroup_rules), &r.device_cgroup_rules),
        field("Ulimits", some_nonempty(&r.ulimits), &r.ulimits),
    ];
    first_set(not_updatable.into_iter().chain(resources("", r)))
}

#[cfg(test)]
mod tests;
