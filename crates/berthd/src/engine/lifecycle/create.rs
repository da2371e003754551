//! `POST /containers/create`: validates like dockerd, merges the image's config, prepares the
//! container's filesystem, and records the options it is created under (invariant 8).

use crate::engine::daemon::Daemon;
use crate::engine::dns::Resolver;
use crate::engine::store;
use crate::engine::EngineError;
use crate::model::{CState, Container, CreateOptions};
use crate::model::{ContainerConfig, HostConfig};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

/// Docker refuses memory limits below 6 MiB.
const MIN_MEMORY: i64 = 6 * 1024 * 1024;

/// What `docker create` asks for, as the API parsed it.
pub struct CreateSpec {
    pub name: Option<String>,
    pub config: ContainerConfig,
    pub host: HostConfig,
    /// `NetworkingConfig.EndpointsConfig`, by the network's name as the client gave it.
    pub endpoints: BTreeMap<String, crate::engine::network::EndpointRequest>,
    /// `Config.MacAddress`: the MAC on the network of `NetworkMode`.
    pub mac_address: Option<String>,
}

pub async fn create(d: &Arc<Daemon>, spec: CreateSpec) -> Result<(String, Vec<String>), EngineError> {
    let CreateSpec { name, mut config, mut host, endpoints, mac_address } = spec;
    let name = match name.filter(|n| !n.is_empty()) {
        Some(n) => {
            let n = n.strip_prefix('/').unwrap_or(&n).to_string();
            if !store::valid_name(&n) {
                return Err(EngineError::invalid(format!(
                    "Invalid container name ({n}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"
                )));
            }
            n
        }
        None => store::generate_name(&d.store),
    };
    if let Some(other) = d.store.name_in_use(&name) {
        return Err(name_conflict(&name, &other));
    }
    validate_host_config(&host)?;
    let security = crate::seccomp::parse_security_opts(host.security_opt.as_deref().unwrap_or_default())
        .map_err(EngineError::invalid)?;
    validate_labels(config.labels.as_ref())?;
    let image_ref = config.image.clone().unwrap_or_default();
    if image_ref.is_empty() {
        return Err(EngineError::invalid("config cannot be empty in order to create a container"));
    }
    let images = d.images.clone();
    let r = image_ref.clone();
    let image = tokio::task::spawn_blocking(move || images.resolve(&r)).await?.map_err(EngineError::from)?;
    crate::engine::health::validate(config.healthcheck.as_ref())?;
    merge_image_config(&mut config, &image.config);
    let (path, args) = command(&config)?;
    let cfg = d.config();
    let runtime_defaulted = host.runtime.as_deref().is_none_or(str::is_empty);
    let runtime = host.runtime.clone().filter(|r| !r.is_empty()).unwrap_or(cfg.default_runtime.clone());
    let (runtime_path, runtime_args) = d
        .runtime(&runtime)
        .ok_or_else(|| EngineError::invalid(format!("unknown or invalid runtime name: {runtime}")))?;
    let cgroup_parent = match host.cgroup_parent.as_deref().filter(|p| !p.is_empty()) {
        Some(p) => crate::cgroups::normalize_parent(p).map_err(EngineError::invalid)?,
        None => cfg.cgroup_parent.clone(),
    };
    let network_mode = network_mode(d, &host)?;
    let (mut primary, extra_networks) = super::endpoints::plan(d, &network_mode, endpoints)?;
    match (&primary.mac, mac_address) {
        (_, None) => {}
        (None, Some(m)) => primary.mac = Some(m),
        (Some(a), Some(b)) if *a == b => {}
        (Some(a), Some(b)) => {
            return Err(EngineError::invalid(format!(
                "conflicting MAC addresses: Config.MacAddress {b} and the endpoint's {a}"
            )))
        }
    }
    if primary.mac.is_some()
        && (network_mode == "host" || network_mode == "none" || network_mode.starts_with("container:"))
    {
        return Err(EngineError::invalid(format!(
            "conflicting options: mac-address and the network mode {network_mode}"
        )));
    }
    super::validate::security_options(d, &config, &mut host, &network_mode)?;
    crate::engine::links::check_create(d, host.links.as_deref(), &network_mode)?;
    let seccomp_choice = crate::seccomp::choose(&security, host.privileged.unwrap_or(false), &cfg.seccomp_profile);
    let no_new_privileges = security.no_new_privileges.unwrap_or(cfg.no_new_privileges);
    let (log_max_size, log_max_file) = log_options(&cfg, &host)?;
    // Inspect shows the log driver in force, defaults filled in, as dockerd does.
    let mut lc = host.log_config.clone().unwrap_or_default();
    if lc.type_.as_deref().unwrap_or("").is_empty() {
        lc.type_ = Some(cfg.log_driver.clone());
        let mut opts = cfg.log_opts.clone();
        opts.extend(lc.config.clone().unwrap_or_default());
        lc.config = Some(opts);
    }
    host.log_config = Some(lc);
    if host.network_mode.as_deref().unwrap_or("").is_empty() {
        host.network_mode = Some("bridge".into());
    }
    let id = store::new_id();
    let dir = d.store.dir_of(&id);
    let driver = d.driver(&cfg.storage_driver).map_err(|e| EngineError::internal(e.to_string()))?;
    let layers = d.images.layer_dirs(&image.id).map_err(EngineError::from)?;
    let cid = id.clone();
    let userns = crate::engine::userns::for_new_container(&cfg, host.userns_mode.as_deref().unwrap_or(""));
    let opts = berth_image::CreateOpts { ephemeral: host.auto_remove.unwrap_or(false), idmap: userns.clone() };
    tokio::task::spawn_blocking(move || driver.create_with(&cid, &layers, &opts))
        .await?
        .map_err(|e| EngineError::internal(format!("creating the container's filesystem: {e}")))?;
    // The address is reserved now (so it is never handed out twice); ports are bound at start.
    let user_net = d.net.user.get(&network_mode);
    crate::engine::links::only_on_user_networks(user_net.is_some(), &primary.links)?;
    let endpoint = if network_mode == "bridge" || user_net.is_some() {
        let (d2, id2) = (d.clone(), id.clone());
        let alloc = move || match user_net {
            Some(n) => d2.net.allocate_on(&id2, &n, primary),
            None => d2.net.allocate(&d2, &id2, primary),
        };
        match tokio::task::spawn_blocking(alloc).await? {
            Ok(ep) => Some(ep),
            Err(e) => {
                d.net.settled(&id);
                let driver = d.driver(&cfg.storage_driver).map_err(|e| EngineError::internal(e.to_string()))?;
                let cid = id.clone();
                let _ = tokio::task::spawn_blocking(move || driver.remove(&cid)).await;
                return Err(EngineError::internal(format!("allocating a network address: {e}")));
            }
        }
    } else {
        None
    };
    // Docker's 0710: its records are 0600, its log 0640, its /etc files 0644 (bind-mounted for
    // the container's users).
    berth_proto::fsutil::create_dir_mode(&dir, berth_proto::fsutil::modes::CONTAINER_DIR)?;
    // With the host's network a container also takes the host's name, as in Docker.
    let default_hostname = if network_mode == "host" || host.uts_mode.as_deref() == Some("host") {
        nix::unistd::gethostname().map(|h| h.to_string_lossy().into_owned()).unwrap_or_else(|_| id[..12].to_string())
    } else {
        id[..12].to_string()
    };
    let hostname = config.hostname.clone().filter(|h| !h.is_empty()).unwrap_or(default_hostname);
    config.hostname = Some(hostname.clone());
    let extra = match parse_extra_hosts(&host, endpoint.as_ref().map(|e| e.gateway)) {
        Ok(x) => x,
        Err(err) => {
            undo_prepared(d, &id, endpoint.as_ref(), &cfg.storage_driver).await;
            return Err(err);
        }
    };
    let dns = Resolver::of(&host);
    let written = write_etc_files(&dir, &hostname, &network_mode, endpoint.as_ref().map(|e| e.ip), &extra, &dns)
        .and_then(|()| userns.as_ref().map_or(Ok(()), |m| crate::engine::userns::chown_etc_files(&dir, m)));
    if let Err(err) = written {
        undo_prepared(d, &id, endpoint.as_ref(), &cfg.storage_driver).await;
        return Err(err.into());
    }
    let seccomp = match seccomp_choice.record(&dir) {
        Ok(r) => r,
        Err(err) => {
            undo_prepared(d, &id, endpoint.as_ref(), &cfg.storage_driver).await;
            return Err(EngineError::internal(format!("recording the container's seccomp profile: {err}")));
        }
    };
    let mounts = match super::mounts::resolve(d, &config, &host) {
        Ok((mounts, _)) => mounts,
        Err(err) => {
            undo_prepared(d, &id, endpoint.as_ref(), &cfg.storage_driver).await;
            return Err(err);
        }
    };
    let c = Container {
        record_version: crate::model::RECORD_VERSION,
        name: name.clone(),
        created: store::now_rfc3339(),
        path,
        args,
        image_id: image.id.to_string(),
        state: CState::default(),
        restart_count: 0,
        options: CreateOptions {
            storage_driver: cfg.storage_driver.clone(),
            runtime,
            runtime_path,
            runtime_args,
            shim_binary: d.shim_binary.clone(),
            shim_version: env!("CARGO_PKG_VERSION").into(),
            protocol: berth_proto::PROTOCOL,
            network_mode,
            log_max_size,
            log_max_file,
            cgroups_path: crate::cgroups::container_path(&cgroup_parent, &id),
            runtime_defaulted,
            seccomp,
            no_new_privileges,
            userns,
        },
        log_path: dir.join(format!("{id}-json.log")),
        hostname_path: dir.join("hostname"),
        hosts_path: dir.join("hosts"),
        resolv_conf_path: dir.join("resolv.conf"),
        id: id.clone(),
        config,
        host_config: host,
        endpoint,
        extra_endpoints: vec![],
        mounts,
    };
    if let Err(e) = crate::engine::network::port_mappings(&c) {
        rollback(d, &c).await;
        return Err(EngineError::invalid(e.to_string()));
    }
    berth_proto::crashpoint::hit("create.after-storage");
    let inserted = d.store.insert(c.clone());
    d.net.settled(&id);
    match inserted {
        Ok(_) => {}
        Err((other, err)) => {
            rollback(d, &c).await;
            if err.kind() == std::io::ErrorKind::AlreadyExists {
                let _ = std::fs::remove_dir_all(&dir);
                return Err(name_conflict(&name, &other));
            }
            return Err(err.into());
        }
    }
    berth_proto::crashpoint::hit("create.after-record");
    d.events.emit("container", "create", &id, super::attrs(&c));
    let warnings = match d.store.get(&id) {
        Ok(e) if !extra_networks.is_empty() => super::endpoints::join(d, &e, extra_networks).await,
        _ => vec![],
    };
    Ok((id, warnings))
}

/// Undoes a create that failed before its container was assembled: the reserved address, the
/// storage and the container's directory.
async fn undo_prepared(d: &Arc<Daemon>, id: &str, endpoint: Option<&crate::model::NetEndpoint>, driver: &str) {
    if let Some(ep) = endpoint {
        d.net.release(id, ep);
    }
    if let Ok(driver) = d.driver(driver) {
        let cid = id.to_string();
        let _ = tokio::task::spawn_blocking(move || driver.remove(&cid)).await;
    }
    let _ = std::fs::remove_dir_all(d.store.dir_of(id));
}

/// Undoes what create did before the record existed: storage, the reserved address, the
/// container's directory (its /etc files) and the anonymous volumes made for it.
async fn rollback(d: &Arc<Daemon>, c: &Container) {
    let _ = std::fs::remove_dir_all(d.store.dir_of(&c.id));
    super::remove_anonymous_volumes(d, c);
    if let Ok(driver) = d.driver(&c.options.storage_driver) {
        let cid = c.id.clone();
        let _ = tokio::task::spawn_blocking(move || driver.remove(&cid)).await;
    }
    for ep in c.endpoints() {
        d.net.release(&c.id, ep);
    }
}

/// `NetworkingConfig.EndpointsConfig.<network>.Aliases` (`--network-alias`).
fn name_conflict(name: &str, other: &str) -> EngineError {
    EngineError::conflict(format!(
        "Conflict. The container name \"/{name}\" is already in use by container \"{other}\". You have to remove (or rename) that container to be able to reuse that name."
    ))
}

/// Labels are metadata shown by every `ps` and `inspect`: one larger than this is refused.
const MAX_LABEL: usize = 64 * 1024;

fn validate_labels(labels: Option<&BTreeMap<String, String>>) -> Result<(), EngineError> {
    for (k, v) in labels.into_iter().flatten() {
        if k.is_empty() {
            return Err(EngineError::invalid("invalid label: the key must not be empty"));
        }
        if k.len() + v.len() > MAX_LABEL {
            return Err(EngineError::invalid(format!(
                "invalid label {}: a label (key and value) may be at most 64 KiB, this one is {} bytes",
                &k[..k.len().min(64)],
                k.len() + v.len()
            )));
        }
    }
    Ok(())
}

pub(crate) fn validate_host_config(h: &HostConfig) -> Result<(), EngineError> {
    let mem = h.memory.unwrap_or(0);
    if mem < 0 {
        return Err(EngineError::invalid("invalid memory limit: must be a positive value"));
    }
    if mem > 0 && mem < MIN_MEMORY {
        return Err(EngineError::invalid("Minimum memory limit allowed is 6MB"));
    }
    if h.nano_cpus.unwrap_or(0) < 0 {
        return Err(EngineError::invalid("invalid CPU value: must be a positive value"));
    }
    if h.nano_cpus.unwrap_or(0) > 0 && h.cpu_quota.unwrap_or(0) > 0 {
        return Err(EngineError::invalid("Conflicting options: Nano CPUs and CPU Period cannot both be set"));
    }
    let ncpu = std::thread::available_parallelism().map(|n| n.get() as i64).unwrap_or(1);
    if h.nano_cpus.unwrap_or(0) > ncpu * 1_000_000_000 {
        return Err(EngineError::invalid(format!(
            "Range of CPUs is from 0.01 to {ncpu}.00, as there are only {ncpu} CPUs available"
        )));
    }
    if h.pids_limit.unwrap_or(0) < -1 {
        return Err(EngineError::invalid("invalid pids limit: must be -1, 0 or positive"));
    }
    if let Some(p) = &h.restart_policy {
        let name = p.name.as_deref().unwrap_or("");
        match name {
            "" | "no" | "always" | "unless-stopped" => {
                if p.maximum_retry_count.unwrap_or(0) != 0 {
                    return Err(EngineError::invalid(
                        "invalid restart policy: maximum retry count can only be used with 'on-failure'".to_string(),
                    ));
                }
            }
            "on-failure" => {
                if p.maximum_retry_count.unwrap_or(0) < 0 {
                    return Err(EngineError::invalid("invalid restart policy: maximum retry count cannot be negative"));
                }
            }
            other => {
                return Err(EngineError::invalid(format!(
                    "invalid restart policy: unknown policy '{other}'; use one of 'no', 'always', 'on-failure', or 'unless-stopped'"
                )))
            }
        }
        if h.auto_remove.unwrap_or(false) && !matches!(name, "" | "no") {
            return Err(EngineError::invalid("can't create 'AutoRemove' container with restart policy"));
        }
    }
    Ok(())
}

/// Docker stores the image's defaults in the container's config (inspect shows them merged).
fn merge_image_config(c: &mut ContainerConfig, img: &berth_image::ImageConfig) {
    let ic = &img.config;
    let mut env: Vec<String> = ic.env.clone().unwrap_or_default();
    for kv in c.env.clone().unwrap_or_default() {
        let key = kv.split('=').next().unwrap_or("").to_string();
        env.retain(|e| e.split('=').next() != Some(key.as_str()));
        env.push(kv);
    }
    if !env.iter().any(|e| e.starts_with("PATH=")) {
        env.insert(0, "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into());
    }
    c.env = Some(env);
    let entry_given = c.entrypoint.as_ref().is_some_and(|e| !e.is_empty() || c.cmd.is_none());
    if c.entrypoint.is_none() {
        c.entrypoint = ic.entrypoint.clone();
    }
    // An entrypoint given on the command line discards the image's CMD, as Docker does.
    if c.cmd.as_ref().is_none_or(|v| v.is_empty()) && !entry_given {
        c.cmd = ic.cmd.clone();
    }
    if c.working_dir.as_deref().unwrap_or("").is_empty() && !ic.working_dir.is_empty() {
        c.working_dir = Some(ic.working_dir.clone());
    }
    if c.user.as_deref().unwrap_or("").is_empty() && !ic.user.is_empty() {
        c.user = Some(ic.user.clone());
    }
    if c.stop_signal.is_none() {
        c.stop_signal = ic.stop_signal.clone();
    }
    crate::engine::health::merge(&mut c.healthcheck, ic.healthcheck.as_ref());
    let mut labels = ic.labels.clone().unwrap_or_default();
    labels.extend(c.labels.clone().unwrap_or_default());
    c.labels = Some(labels.into_iter().collect());
    // The image's VOLUMEs join the container's own (`-v /path`): an anonymous volume each.
    if let Some(img_vols) = ic.volumes.as_ref().filter(|v| !v.is_empty()) {
        let vols = c.volumes.get_or_insert_with(Default::default);
        for k in img_vols.keys() {
            vols.entry(k.clone()).or_insert_with(|| serde_json::json!({}));
        }
    }
    // The image's EXPOSE joins the container's own `--expose` (what `-P` publishes).
    if let Some(img_ports) = ic.exposed_ports.as_ref().filter(|p| !p.is_empty()) {
        let ports = c.exposed_ports.get_or_insert_with(Default::default);
        for k in img_ports.keys() {
            ports.entry(k.clone()).or_insert_with(|| serde_json::json!({}));
        }
    }
}

fn command(c: &ContainerConfig) -> Result<(String, Vec<String>), EngineError> {
    let mut all: Vec<String> = c.entrypoint.clone().unwrap_or_default();
    all.extend(c.cmd.clone().unwrap_or_default());
    if all.is_empty() {
        return Err(EngineError::invalid("No command specified"));
    }
    let path = all.remove(0);
    Ok((path, all))
}

fn network_mode(d: &Daemon, h: &HostConfig) -> Result<String, EngineError> {
    let m = h.network_mode.clone().unwrap_or_default();
    match m.as_str() {
        "" | "default" | "bridge" => Ok("bridge".into()),
        "none" | "host" => Ok(m),
        other if other.starts_with("container:") => {
            let target = d.store.get(&other["container:".len()..])?;
            let t = target.snapshot();
            if t.state.status != crate::model::Status::Running {
                return Err(EngineError::conflict(format!("cannot join network of a non running container: {}", t.id)));
            }
            Ok(format!("container:{}", t.id))
        }
        other => match d.net.user.get(other) {
            Some(n) => Ok(n.name),
            None => Err(EngineError::not_found(format!("network {other} not found"))),
        },
    }
}

fn log_options(cfg: &crate::config::Config, h: &HostConfig) -> Result<(u64, u32), EngineError> {
    let mut opts = cfg.log_opts.clone();
    if let Some(lc) = &h.log_config {
        let t = lc.type_.clone().unwrap_or_default();
        match t.as_str() {
            "" | "json-file" => {}
            // Output goes nowhere (the monitor writes it to /dev/null); dockerd checks no
            // options for this driver.
            "none" => return Ok((0, 1)),
            "local" | "syslog" | "journald" | "gelf" | "fluentd" | "awslogs" | "splunk" | "etwlogs" | "gcplogs"
            | "logentries" => {
                return Err(EngineError::invalid(format!(
                    "log driver \"{t}\" is not supported by Berth: it writes json-file logs, or none"
                )))
            }
            _ => return Err(EngineError::invalid(format!("logger: no log driver named '{t}' is registered"))),
        }
        for (k, v) in lc.config.clone().unwrap_or_default() {
            opts.insert(k, v);
        }
    }
    crate::logs::validate_log_opts(&opts).map_err(EngineError::invalid)?;
    let size = opts.get("max-size").and_then(|s| crate::logs::parse_size(s)).unwrap_or(0);
    let files = opts.get("max-file").and_then(|s| s.parse().ok()).unwrap_or(1);
    Ok((size, files))
}

/// /etc/hostname, /etc/hosts and /etc/resolv.conf the container gets bind-mounted.
/// `--add-host name:ip` (Docker also accepts `name=ip`); `host-gateway` is the bridge gateway.
fn parse_extra_hosts(
    h: &HostConfig,
    gateway: Option<std::net::Ipv4Addr>,
) -> Result<Vec<(String, String)>, EngineError> {
    let mut out = Vec::new();
    for e in h.extra_hosts.iter().flatten() {
        let (name, ip) = e
            .split_once(':')
            .or_else(|| e.split_once('='))
            .ok_or_else(|| EngineError::invalid(format!("invalid IP address in add-host: \"{e}\"")))?;
        let ip = if ip == "host-gateway" {
            gateway
                .map(|g| g.to_string())
                .ok_or_else(|| EngineError::invalid("host-gateway needs the bridge network"))?
        } else {
            ip.parse::<std::net::IpAddr>()
                .map_err(|_| EngineError::invalid(format!("invalid IP address in add-host: \"{ip}\"")))?;
            ip.to_string()
        };
        out.push((name.to_string(), ip));
    }
    Ok(out)
}

fn write_etc_files(
    dir: &Path,
    hostname: &str,
    net: &str,
    ip: Option<std::net::Ipv4Addr>,
    extra: &[(String, String)],
    dns: &Resolver,
) -> std::io::Result<()> {
    std::fs::write(dir.join("hostname"), format!("{hostname}\n"))?;
    let mut hosts = String::from("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n");
    for (name, addr) in extra {
        hosts.push_str(&format!("{addr}\t{name}\n"));
    }
    match ip {
        Some(ip) => hosts.push_str(&format!("{ip}\t{hostname}\n")),
        None if net != "host" => hosts.push_str(&format!("127.0.1.1\t{hostname}\n")),
        None => {}
    }
    std::fs::write(dir.join("hosts"), hosts)?;
    std::fs::write(
        dir.join("resolv.conf"),
        crate::engine::dns::resolv_conf(&crate::engine::dns::host_resolv_conf(), net, dns),
    )?;
    Ok(())
}
