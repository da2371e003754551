//! `POST /containers/create`: berth-api's body into the engine's `CreateSpec`.

use super::{flag, number, text, unsupported};
use crate::api::error::ApiError;
use crate::engine::lifecycle::create::CreateSpec;
use crate::model;
use berth_api as wire;

/// The engine's create call, or the 400 message naming the first field Berth does not implement.
pub fn spec(req: wire::ContainerCreateRequest, name: Option<String>) -> Result<CreateSpec, ApiError> {
    let top_runtime = req.runtime.clone().filter(|r| !r.is_empty());
    let (config, mut host, net) = req.split();
    // docker-py's top-level `Runtime` is what its caller asked for: taken as HostConfig's rather
    // than dropped (dockerd drops it, which only looks right there because runc is its default).
    if let Some(r) = top_runtime {
        match Some(host.runtime.as_str()).filter(|h| !h.is_empty()) {
            None => host.runtime = r,
            Some(h) if h == r => {}
            Some(h) => {
                return Err(ApiError::bad_request(format!(
                    "Runtime {r:?} and HostConfig.Runtime {h:?} differ: give one"
                )))
            }
        }
    }
    unsupported::refuse_create(&config, &host, &net)?;
    let endpoints = net
        .endpoints_config
        .unwrap_or_default()
        .into_iter()
        .map(|(network, ep)| Ok((network, super::network::endpoint_request(ep)?)))
        .collect::<Result<_, ApiError>>()?;
    // Deprecated since API 1.44 for the endpoint's own; still sent by older clients.
    let mac_address = super::network::mac(config.mac_address.as_deref().unwrap_or(""))?;
    Ok(CreateSpec { name, config: container_config(config), host: host_config(host), endpoints, mac_address })
}

pub(super) fn container_config(c: wire::ContainerConfig) -> model::ContainerConfig {
    model::ContainerConfig {
        hostname: text(c.hostname),
        domainname: text(c.domainname),
        user: text(c.user),
        attach_stdin: c.attach_stdin,
        attach_stdout: c.attach_stdout,
        attach_stderr: c.attach_stderr,
        exposed_ports: c.exposed_ports,
        tty: flag(c.tty),
        open_stdin: flag(c.open_stdin),
        stdin_once: flag(c.stdin_once),
        env: c.env,
        cmd: c.cmd,
        entrypoint: c.entrypoint,
        image: text(c.image),
        volumes: c.volumes,
        working_dir: text(c.working_dir),
        labels: c.labels,
        stop_signal: c.stop_signal.and_then(text),
        stop_timeout: c.stop_timeout,
        healthcheck: c.healthcheck.map(|h| model::HealthConfig {
            test: h.test,
            interval: h.interval,
            timeout: h.timeout,
            start_period: h.start_period,
            start_interval: h.start_interval,
            retries: h.retries,
        }),
    }
}

/// The policy as the record keeps it; "" and 0 are "unset", which the engine reads as "no".
pub(super) fn restart_policy(p: wire::RestartPolicy) -> Option<model::RestartPolicy> {
    let p = model::RestartPolicy { name: text(p.name), maximum_retry_count: number(p.maximum_retry_count) };
    (p != model::RestartPolicy::default()).then_some(p)
}

fn log_config(l: wire::LogConfig) -> Option<model::LogConfig> {
    let l = model::LogConfig { type_: text(l.type_), config: (!l.config.is_empty()).then_some(l.config) };
    (l != model::LogConfig::default()).then_some(l)
}

/// A `--mount`. The record keeps its options as JSON of Docker's shape (the engine reads them
/// field by field), written from the typed options so only their known fields are kept.
fn mount(m: wire::Mount) -> model::MountRequest {
    fn json<T: serde::Serialize>(v: Option<T>) -> Option<serde_json::Value> {
        v.and_then(|v| serde_json::to_value(v).ok())
    }
    model::MountRequest {
        r#type: m.r#type,
        source: m.source,
        target: m.target,
        read_only: m.read_only,
        volume_options: json(m.volume_options),
        tmpfs_options: json(m.tmpfs_options),
        bind_options: json(m.bind_options),
    }
}

fn host_config(h: wire::HostConfig) -> model::HostConfig {
    let r = h.resources;
    model::HostConfig {
        binds: h.binds,
        isolation: text(h.isolation),
        volume_driver: text(h.volume_driver),
        mounts: h.mounts.map(|ms| ms.into_iter().map(mount).collect()),
        tmpfs: h.tmpfs,
        log_config: log_config(h.log_config),
        network_mode: text(h.network_mode),
        port_bindings: h.port_bindings.and_then(|p| serde_json::to_value(p).ok()),
        publish_all_ports: flag(h.publish_all_ports),
        restart_policy: restart_policy(h.restart_policy),
        auto_remove: flag(h.auto_remove),
        cap_add: h.cap_add,
        cap_drop: h.cap_drop,
        dns: h.dns,
        extra_hosts: h.extra_hosts,
        links: h.links.filter(|l| !l.is_empty()),
        volumes_from: h.volumes_from.filter(|v| !v.is_empty()),
        privileged: flag(h.privileged),
        security_opt: h.security_opt,
        readonly_rootfs: flag(h.readonly_rootfs),
        runtime: text(h.runtime),
        init: h.init,
        cgroup_parent: text(r.cgroup_parent),
        memory: number(r.memory),
        memory_swap: number(r.memory_swap),
        memory_reservation: number(r.memory_reservation),
        // -1 is the API's "unset"; 0 is a real swappiness.
        memory_swappiness: r.memory_swappiness.filter(|s| *s != -1),
        blkio_device_read_bps: throttles(r.blkio_device_read_bps),
        blkio_device_write_bps: throttles(r.blkio_device_write_bps),
        blkio_device_read_iops: throttles(r.blkio_device_read_iops),
        blkio_device_write_iops: throttles(r.blkio_device_write_iops),
        nano_cpus: number(r.nano_cpus),
        cpu_shares: number(r.cpu_shares),
        cpu_period: number(r.cpu_period),
        cpu_quota: number(r.cpu_quota),
        cpuset_cpus: text(r.cpuset_cpus),
        pids_limit: r.pids_limit,
        cpuset_mems: text(r.cpuset_mems),
        oom_score_adj: number(h.oom_score_adj),
        shm_size: number(h.shm_size),
        dns_options: h.dns_options,
        dns_search: h.dns_search,
        annotations: h.annotations,
        console_size: h.console_size,
        ulimits: r
            .ulimits
            .map(|us| us.into_iter().map(|u| model::Ulimit { name: u.name, soft: u.soft, hard: u.hard }).collect()),
        devices: r.devices.map(|ds| {
            ds.into_iter()
                .map(|d| model::DeviceMapping {
                    path_on_host: d.path_on_host,
                    path_in_container: d.path_in_container,
                    cgroup_permissions: d.cgroup_permissions,
                })
                .collect()
        }),
        device_cgroup_rules: r.device_cgroup_rules,
        group_add: h.group_add,
        pid_mode: text(h.pid_mode),
        uts_mode: text(h.uts_mode),
        ipc_mode: text(h.ipc_mode),
        cgroupns_mode: text(h.cgroupns_mode),
        userns_mode: text(h.userns_mode),
        sysctls: h.sysctls,
        masked_paths: h.masked_paths,
        readonly_paths: h.readonly_paths,
    }
}

#[cfg(test)]
mod tests;

/// An empty list is what clients send for "none".
fn throttles(v: Option<Vec<wire::ThrottleDevice>>) -> Option<Vec<model::ThrottleDevice>> {
    let v = v.filter(|v| !v.is_empty())?;
    Some(v.into_iter().map(|t| model::ThrottleDevice { path: t.path, rate: t.rate }).collect())
}
