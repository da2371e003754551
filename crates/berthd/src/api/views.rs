//! Containers as Docker clients see them: the `inspect` and `ps` objects, built from the record
//! (`crate::model`) into berth-api's types field by field.

use crate::engine::daemon::Daemon;
use crate::model::{self, Container, NetEndpoint, Status, ZERO_TIME};
use berth_api as wire;
use std::collections::BTreeMap;

/// `Up 5 minutes`, `Up 1 second (health: starting)`, `Exited (3) 2 seconds ago`, as `docker ps`
/// shows in STATUS; `health` is the check's status when the container has one.
pub fn status_text(c: &Container, health: Option<&str>) -> String {
    let ago = |t: &str| {
        chrono::DateTime::parse_from_rfc3339(t)
            .map(|t| human(chrono::Utc::now().signed_duration_since(t).num_seconds()))
            .unwrap_or_default()
    };
    match c.state.seen() {
        Status::Created | Status::Starting => "Created".into(),
        Status::Running => match health {
            Some("starting") => format!("Up {} (health: starting)", ago(&c.state.started_at)),
            Some(h) => format!("Up {} ({h})", ago(&c.state.started_at)),
            None => format!("Up {}", ago(&c.state.started_at)),
        },
        Status::Restoring => format!("Up {} (restoring)", ago(&c.state.started_at)),
        Status::Orphaned => format!("Up {} (orphaned: {})", ago(&c.state.started_at), c.state.reason),
        Status::Paused => format!("Up {} (Paused)", ago(&c.state.started_at)),
        Status::Restarting => format!("Restarting ({}) {} ago", c.state.exit_code, ago(&c.state.finished_at)),
        Status::Removing => "Removal In Progress".into(),
        Status::Dead => "Dead".into(),
        Status::Exited if c.state.finished_at == ZERO_TIME => {
            format!("Exited ({})", c.state.exit_code)
        }
        Status::Exited => format!("Exited ({}) {} ago", c.state.exit_code, ago(&c.state.finished_at)),
    }
}

fn human(secs: i64) -> String {
    let s = secs.max(0);
    match s {
        0 => "Less than a second".into(),
        1 => "1 second".into(),
        2..=59 => format!("{s} seconds"),
        60..=119 => "About a minute".into(),
        120..=3599 => format!("{} minutes", s / 60),
        3600..=7199 => "About an hour".into(),
        7200..=172_799 => format!("{} hours", s / 3600),
        _ => format!("{} days", s / 86_400),
    }
}

/// `NetworkSettings.Ports`: `{"80/tcp": [{"HostIp": "0.0.0.0", "HostPort": "8080"}]}`, with
/// `null` for exposed but unpublished ports.
fn ports_map(c: &Container) -> wire::PortMap {
    let mut m = wire::PortMap::new();
    for k in c.config.exposed_ports.iter().flat_map(|p| p.keys()) {
        m.insert(if k.contains('/') { k.clone() } else { format!("{k}/tcp") }, None);
    }
    let live = c.state.status.is_live();
    for p in c.endpoint.iter().flat_map(|e| e.ports.iter()) {
        let key = format!("{}/{}", p.container_port, p.proto.as_str());
        let bindings = m.entry(key).or_default();
        if !live || p.host_port == 0 {
            continue;
        }
        for ip in host_ips(c, p) {
            bindings
                .get_or_insert_with(Vec::new)
                .push(wire::PortBinding { host_ip: ip, host_port: p.host_port.to_string() });
        }
    }
    m
}

/// Where a published port answers, as dockerd lists it: an unbound port on `0.0.0.0`, and on
/// `::` too when the container has an IPv6 address to forward to.
fn host_ips(c: &Container, p: &berth_net::PortMapping) -> Vec<String> {
    match p.host_ip {
        Some(ip) => vec![ip.to_string()],
        None if c.endpoint.as_ref().is_some_and(|e| e.v6.is_some()) => vec!["0.0.0.0".into(), "::".into()],
        None => vec!["0.0.0.0".into()],
    }
}

/// `ps`'s PORTS column: `0.0.0.0:8080->80/tcp`. A port without a host side has neither `IP` nor
/// `PublicPort`, as Docker lists it.
pub fn ports_list(c: &Container) -> Vec<wire::Port> {
    if !c.state.status.is_live() {
        return Vec::new();
    }
    c.endpoint
        .iter()
        .flat_map(|e| e.ports.iter())
        .flat_map(|p| {
            let published = p.host_port != 0;
            let ips = if published { host_ips(c, p) } else { vec![String::new()] };
            ips.into_iter().map(move |ip| wire::Port {
                ip,
                private_port: p.container_port,
                public_port: published.then_some(p.host_port),
                type_: p.proto.as_str().into(),
            })
        })
        .collect()
}

/// One entry of `NetworkSettings.Networks`; `None` for the `host` and `none` pseudo-networks.
fn endpoint_settings(c: &Container, ep: Option<&NetEndpoint>, net_name: &str) -> wire::EndpointSettings {
    let live = c.state.status.is_live();
    let v6 = v6_of(ep, live);
    let (ip, gw, len, mac) = match (ep, live) {
        (Some(ep), true) => (ep.ip.to_string(), ep.gateway.to_string(), ep.subnet.prefix_len(), ep.mac.clone()),
        (Some(ep), false) => (String::new(), String::new(), 0, ep.requested_mac.clone().unwrap_or_default()),
        _ => (String::new(), String::new(), 0, String::new()),
    };
    wire::EndpointSettings {
        aliases: ep.filter(|ep| !ep.aliases.is_empty()).map(|ep| ep.aliases.clone()),
        dns_names: ep.filter(|ep| ep.network != "bridge").map(|ep| dns_names(c, ep)),
        ipam_config: ep
            .filter(|ep| ep.requested_ipv4.is_some() || requested_v6(ep).is_some() || !ep.link_local.is_empty())
            .map(|ep| wire::EndpointIpamConfig {
                ipv4_address: ep.requested_ipv4.map(|a| a.to_string()),
                ipv6_address: requested_v6(ep).map(|a| a.to_string()),
                link_local_ips: (!ep.link_local.is_empty())
                    .then(|| ep.link_local.iter().map(|a| a.to_string()).collect()),
            }),
        driver_opts: ep.filter(|ep| !ep.driver_opts.is_empty()).map(|ep| ep.driver_opts.clone()),
        links: ep.filter(|ep| !ep.links.is_empty()).map(|ep| ep.links.clone()),
        mac_address: mac,
        network_id: ep.map(|ep| ep.network.clone()).unwrap_or_else(|| net_name.to_string()),
        endpoint_id: if live && ep.is_some() { c.id.clone() } else { String::new() },
        gateway: gw,
        ip_address: ip,
        ip_prefix_len: len.into(),
        global_ipv6_address: v6.0,
        global_ipv6_prefix_len: v6.1,
        ipv6_gateway: v6.2,
        ..Default::default()
    }
}

fn requested_v6(ep: &NetEndpoint) -> Option<std::net::Ipv6Addr> {
    ep.v6.as_ref().and_then(|v| v.requested)
}

/// (address, prefix length, gateway) of the endpoint's IPv6 half while it runs, as dockerd
/// shows them (empty strings and 0 otherwise).
fn v6_of(ep: Option<&NetEndpoint>, live: bool) -> (String, i64, String) {
    match ep.and_then(|ep| ep.v6.as_ref()).filter(|_| live) {
        Some(v) => (v.ip.to_string(), v.subnet.prefix_len().into(), v.gateway.to_string()),
        None => (String::new(), 0, String::new()),
    }
}

/// The names a container answers to on a user-defined network, in dockerd's order: its name,
/// its aliases, its short id (the names its peers' /etc/hosts carry), then its hostname.
fn dns_names(c: &Container, ep: &NetEndpoint) -> Vec<String> {
    let mut names = crate::engine::network::names_on(c, ep);
    names.extend(c.config.hostname.clone().filter(|h| !h.is_empty()));
    let mut seen = std::collections::BTreeSet::new();
    names.retain(|n| seen.insert(n.clone()));
    names
}

/// API < 1.45: the short id is also one of the aliases on each user-defined network (those
/// with `DNSNames`).
pub fn short_id_among_aliases(out: &mut wire::ContainerInspect) {
    let short = out.id.chars().take(12).collect::<String>();
    for ep in out.network_settings.networks.values_mut() {
        if ep.dns_names.is_some() {
            let aliases = ep.aliases.get_or_insert_with(Vec::new);
            if !aliases.contains(&short) {
                aliases.push(short.clone());
            }
        }
    }
}

fn networks(c: &Container) -> BTreeMap<String, wire::EndpointSettings> {
    let mode = &c.options.network_mode;
    let net_name = if mode.starts_with("container:") { "" } else { mode.as_str() };
    let mut networks: BTreeMap<_, _> =
        c.endpoints().map(|ep| (ep.network.clone(), endpoint_settings(c, Some(ep), net_name))).collect();
    if networks.is_empty() && (net_name == "host" || net_name == "none") {
        networks.insert(net_name.to_string(), endpoint_settings(c, None, net_name));
    }
    networks
}

fn network_settings(c: &Container) -> wire::NetworkSettings {
    let live = c.state.status.is_live();
    let (ip, gw, len, mac) = match (&c.endpoint, live) {
        (Some(ep), true) => (ep.ip.to_string(), ep.gateway.to_string(), ep.subnet.prefix_len(), ep.mac.clone()),
        _ => (String::new(), String::new(), 0, String::new()),
    };
    let sandbox = if c.endpoint.is_some() && live { format!("/proc/{}/ns/net", c.state.pid) } else { String::new() };
    let v6 = v6_of(c.endpoint.as_ref(), live);
    wire::NetworkSettings {
        global_ipv6_address: v6.0,
        global_ipv6_prefix_len: v6.1,
        ipv6_gateway: v6.2,
        sandbox_key: sandbox,
        ports: ports_map(c),
        gateway: gw,
        ip_address: ip,
        ip_prefix_len: len.into(),
        mac_address: mac,
        networks: networks(c),
        ..Default::default()
    }
}

/// Docker's `Mounts` entry for a mount resolved at create.
fn mount_point(m: &model::MountPoint) -> wire::MountPoint {
    let volume = m.name.is_some();
    wire::MountPoint {
        r#type: m.kind.clone(),
        name: m.name.clone().unwrap_or_default(),
        // A tmpfs has no source on the host.
        source: if m.kind == "tmpfs" { String::new() } else { m.source.display().to_string() },
        destination: m.destination.clone(),
        driver: if volume { "local".into() } else { String::new() },
        mode: m.mode.clone(),
        rw: m.rw,
        propagation: m.propagation.clone(),
    }
}

fn mounts(c: &Container) -> Vec<wire::MountPoint> {
    if !c.mounts.is_empty() {
        return c.mounts.iter().map(mount_point).collect();
    }
    // Records from before mounts were resolved at create: their binds, as given.
    c.host_config
        .binds
        .iter()
        .flatten()
        .map(|b| {
            let p: Vec<&str> = b.split(':').collect();
            let mode = p.get(2).copied().unwrap_or("");
            wire::MountPoint {
                r#type: "bind".into(),
                source: p[0].into(),
                destination: p.get(1).copied().unwrap_or("").into(),
                mode: mode.into(),
                rw: !mode.split(',').any(|x| x == "ro"),
                propagation: "rprivate".into(),
                ..Default::default()
            }
        })
        .collect()
}

/// The record's `Config` as inspect shows it: every field Docker always sends, unset ones as
/// their zero value.
pub fn container_config(c: &model::ContainerConfig) -> wire::ContainerConfig {
    wire::ContainerConfig {
        hostname: c.hostname.clone().unwrap_or_default(),
        domainname: c.domainname.clone().unwrap_or_default(),
        user: c.user.clone().unwrap_or_default(),
        attach_stdin: c.attach_stdin,
        attach_stdout: c.attach_stdout,
        attach_stderr: c.attach_stderr,
        exposed_ports: c.exposed_ports.clone(),
        tty: c.tty.unwrap_or(false),
        open_stdin: c.open_stdin.unwrap_or(false),
        stdin_once: c.stdin_once.unwrap_or(false),
        env: c.env.clone(),
        cmd: c.cmd.clone(),
        image: c.image.clone().unwrap_or_default(),
        volumes: c.volumes.clone(),
        working_dir: c.working_dir.clone().unwrap_or_default(),
        entrypoint: c.entrypoint.clone(),
        labels: c.labels.clone(),
        stop_signal: c.stop_signal.clone(),
        stop_timeout: c.stop_timeout,
        healthcheck: c.healthcheck.as_ref().map(|h| wire::HealthConfig {
            test: h.test.clone(),
            interval: h.interval,
            timeout: h.timeout,
            start_period: h.start_period,
            start_interval: h.start_interval,
            retries: h.retries,
        }),
        ..Default::default()
    }
}

/// A `--mount` as the record keeps it. Its options are stored as the client sent them (untyped
/// JSON, read field by field by the engine); options not of API 1.51's shape are left out here.
fn mount_request(m: &model::MountRequest) -> wire::Mount {
    fn opts<T: serde::de::DeserializeOwned>(v: &Option<serde_json::Value>) -> Option<T> {
        v.clone().and_then(|v| serde_json::from_value(v).ok())
    }
    wire::Mount {
        target: m.target.clone(),
        source: m.source.clone(),
        r#type: m.r#type.clone(),
        read_only: m.read_only,
        bind_options: opts(&m.bind_options),
        volume_options: opts(&m.volume_options),
        tmpfs_options: opts(&m.tmpfs_options),
        ..Default::default()
    }
}

/// `HostConfig.PortBindings` as the record keeps it: the client's JSON, which the engine reads
/// untyped (`engine::network::port_mappings`); read the same way here, strings or nothing.
fn port_bindings(v: &serde_json::Value) -> Option<wire::PortMap> {
    let text = |b: &serde_json::Value, k: &str| b[k].as_str().unwrap_or("").to_string();
    let m = v.as_object()?;
    Some(
        m.iter()
            .map(|(port, list)| {
                let list = list.as_array().map(|l| {
                    l.iter()
                        .map(|b| wire::PortBinding { host_ip: text(b, "HostIp"), host_port: text(b, "HostPort") })
                        .collect()
                });
                (port.clone(), list)
            })
            .collect(),
    )
}

/// The record's host config as inspect shows it, with what the container was created under
/// (network mode, runtime) from its options. Docker sends every field; unset ones go out as their
/// zero value, and an unset restart policy as "no", as dockerd normalizes it at create.
pub fn host_config(c: &Container) -> wire::HostConfig {
    let h = &c.host_config;
    let restart = h.restart_policy.clone().unwrap_or_default();
    let log = h.log_config.clone().unwrap_or_default();
    wire::HostConfig {
        binds: h.binds.clone(),
        isolation: h.isolation.clone().unwrap_or_default(),
        volume_driver: h.volume_driver.clone().unwrap_or_default(),
        log_config: wire::LogConfig { type_: log.type_.unwrap_or_default(), config: log.config.unwrap_or_default() },
        network_mode: c.options.network_mode.clone(),
        port_bindings: h.port_bindings.as_ref().and_then(port_bindings),
        restart_policy: wire::RestartPolicy {
            name: restart.name.filter(|n| !n.is_empty()).unwrap_or_else(|| "no".into()),
            maximum_retry_count: restart.maximum_retry_count.unwrap_or(0),
        },
        auto_remove: h.auto_remove.unwrap_or(false),
        // Go's `[2]uint`: `[0, 0]` when the client sent none.
        console_size: Some(h.console_size.clone().unwrap_or_else(|| vec![0, 0])),
        annotations: h.annotations.clone(),
        cap_add: h.cap_add.clone(),
        cap_drop: h.cap_drop.clone(),
        cgroupns_mode: h.cgroupns_mode.clone().unwrap_or_default(),
        dns: h.dns.clone(),
        dns_options: h.dns_options.clone(),
        dns_search: h.dns_search.clone(),
        extra_hosts: h.extra_hosts.clone(),
        links: crate::engine::links::inspect_form(c),
        volumes_from: h.volumes_from.clone(),
        group_add: h.group_add.clone(),
        ipc_mode: h.ipc_mode.clone().unwrap_or_default(),
        oom_score_adj: h.oom_score_adj.unwrap_or(0),
        pid_mode: h.pid_mode.clone().unwrap_or_default(),
        privileged: h.privileged.unwrap_or(false),
        publish_all_ports: h.publish_all_ports.unwrap_or(false),
        readonly_rootfs: h.readonly_rootfs.unwrap_or(false),
        security_opt: h.security_opt.clone(),
        tmpfs: h.tmpfs.clone(),
        uts_mode: h.uts_mode.clone().unwrap_or_default(),
        userns_mode: h.userns_mode.clone().unwrap_or_default(),
        shm_size: h.shm_size.unwrap_or(0),
        sysctls: h.sysctls.clone(),
        runtime: c.options.runtime.clone(),
        resources: wire::Resources {
            cpu_shares: h.cpu_shares.unwrap_or(0),
            memory: h.memory.unwrap_or(0),
            nano_cpus: h.nano_cpus.unwrap_or(0),
            cgroup_parent: h.cgroup_parent.clone().unwrap_or_default(),
            cpu_period: h.cpu_period.unwrap_or(0),
            cpu_quota: h.cpu_quota.unwrap_or(0),
            cpuset_cpus: h.cpuset_cpus.clone().unwrap_or_default(),
            cpuset_mems: h.cpuset_mems.clone().unwrap_or_default(),
            devices: h.devices.as_ref().map(|ds| {
                ds.iter()
                    .map(|d| wire::DeviceMapping {
                        path_on_host: d.path_on_host.clone(),
                        path_in_container: d.path_in_container.clone(),
                        cgroup_permissions: d.cgroup_permissions.clone(),
                    })
                    .collect()
            }),
            device_cgroup_rules: h.device_cgroup_rules.clone(),
            memory_reservation: h.memory_reservation.unwrap_or(0),
            memory_swap: h.memory_swap.unwrap_or(0),
            memory_swappiness: h.memory_swappiness,
            blkio_device_read_bps: throttles(&h.blkio_device_read_bps),
            blkio_device_write_bps: throttles(&h.blkio_device_write_bps),
            blkio_device_read_iops: throttles(&h.blkio_device_read_iops),
            blkio_device_write_iops: throttles(&h.blkio_device_write_iops),
            pids_limit: h.pids_limit,
            ulimits: h.ulimits.as_ref().map(|us| {
                us.iter().map(|u| wire::Ulimit { name: u.name.clone(), soft: u.soft, hard: u.hard }).collect()
            }),
            ..Default::default()
        },
        mounts: h.mounts.as_ref().map(|ms| ms.iter().map(mount_request).collect()),
        masked_paths: h.masked_paths.clone(),
        readonly_paths: h.readonly_paths.clone(),
        init: h.init,
        ..Default::default()
    }
}

fn state(c: &Container, health: Option<berth_proto::HealthRecord>) -> wire::ContainerState {
    let st = &c.state;
    wire::ContainerState {
        status: st.seen().docker().into(),
        // Restarting counts as running, as with dockerd's SetRestarting.
        running: st.status.is_live() || st.seen() == Status::Restarting,
        paused: st.status == Status::Paused,
        restarting: st.seen() == Status::Restarting,
        oom_killed: st.oom_killed,
        dead: st.status == Status::Dead,
        pid: if st.status.is_live() && st.status != Status::Restarting { st.pid.into() } else { 0 },
        exit_code: st.exit_code.into(),
        error: st.error.clone(),
        started_at: st.started_at.clone(),
        finished_at: st.finished_at.clone(),
        health: health.map(|h| wire::Health {
            status: h.status,
            failing_streak: h.failing_streak.into(),
            log: Some(
                h.log
                    .into_iter()
                    .map(|r| wire::HealthcheckResult {
                        start: r.start,
                        end: r.end,
                        exit_code: r.exit_code,
                        output: r.output,
                    })
                    .collect(),
            ),
        }),
        berth: Some(wire::BerthState {
            status: format!("{:?}", st.status).to_lowercase(),
            reason: st.reason.clone(),
            monitor: wire::BerthMonitor {
                binary: c.options.shim_binary.display().to_string(),
                version: c.options.shim_version.clone(),
                protocol: c.options.protocol,
            },
        }),
    }
}

pub fn inspect(d: &Daemon, c: &Container) -> wire::ContainerInspect {
    let rootfs = d.driver(&c.options.storage_driver).map(|dr| dr.rootfs_path(&c.id)).ok();
    wire::ContainerInspect {
        id: c.id.clone(),
        created: c.created.clone(),
        path: c.path.clone(),
        args: c.args.clone(),
        state: state(c, crate::engine::health::record(d, c)),
        image: c.image_id.clone(),
        resolv_conf_path: c.resolv_conf_path.display().to_string(),
        hostname_path: c.hostname_path.display().to_string(),
        hosts_path: c.hosts_path.display().to_string(),
        log_path: c.log_path.display().to_string(),
        name: format!("/{}", c.name),
        restart_count: c.restart_count.into(),
        driver: c.options.storage_driver.clone(),
        platform: "linux".into(),
        host_config: host_config(c),
        graph_driver: wire::GraphDriverData {
            name: c.options.storage_driver.clone(),
            data: Some(rootfs.map(|r| ("MergedDir".to_string(), r.display().to_string())).into_iter().collect()),
        },
        mounts: mounts(c),
        config: container_config(&c.config),
        network_settings: network_settings(c),
        ..Default::default()
    }
}

/// One `ps` entry; `sizes` (`SizeRw`, `SizeRootFs`) when the caller asked for them.
pub fn summary(c: &Container, sizes: Option<(i64, i64)>, health: Option<&str>) -> wire::ContainerSummary {
    let mut command = c.path.clone();
    for a in &c.args {
        command.push(' ');
        command.push_str(a);
    }
    let created = chrono::DateTime::parse_from_rfc3339(&c.created).map(|t| t.timestamp()).unwrap_or(0);
    wire::ContainerSummary {
        id: c.id.clone(),
        names: vec![format!("/{}", c.name)],
        image: c.config.image.clone().unwrap_or_default(),
        image_id: c.image_id.clone(),
        command,
        created,
        ports: ports_list(c),
        size_rw: sizes.map(|s| s.0),
        size_root_fs: sizes.map(|s| s.1),
        labels: c.config.labels.clone().unwrap_or_default(),
        state: c.state.seen().docker().into(),
        status: status_text(c, health),
        host_config: wire::SummaryHostConfig { network_mode: c.options.network_mode.clone(), annotations: None },
        network_settings: wire::SummaryNetworkSettings { networks: networks(c) },
        mounts: mounts(c),
        ..Default::default()
    }
}

/// Docker answers `[]` for no throttles.
fn throttles(v: &Option<Vec<model::ThrottleDevice>>) -> Option<Vec<wire::ThrottleDevice>> {
    Some(v.iter().flatten().map(|t| wire::ThrottleDevice { path: t.path.clone(), rate: t.rate }).collect())
}
