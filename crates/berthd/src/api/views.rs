//! Containers as Docker clients see them: `inspect` and `ps` objects.

use crate::engine::daemon::Daemon;
use crate::model::{Container, Status, ZERO_TIME};
use serde_json::{json, Value};

/// `Up 5 minutes`, `Exited (3) 2 seconds ago`, as `docker ps` shows in STATUS.
pub fn status_text(c: &Container) -> String {
    let ago = |t: &str| {
        chrono::DateTime::parse_from_rfc3339(t)
            .map(|t| human(chrono::Utc::now().signed_duration_since(t).num_seconds()))
            .unwrap_or_default()
    };
    match c.state.seen() {
        Status::Created | Status::Starting => "Created".into(),
        Status::Running => format!("Up {}", ago(&c.state.started_at)),
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
fn ports_map(c: &Container) -> Value {
    let mut m = serde_json::Map::new();
    for k in c.config.exposed_ports.clone().unwrap_or_default().keys() {
        m.insert(if k.contains('/') { k.clone() } else { format!("{k}/tcp") }, Value::Null);
    }
    let live = c.state.status.is_live();
    for p in c.endpoint.iter().flat_map(|e| e.ports.iter()) {
        let key = format!("{}/{}", p.container_port, p.proto.as_str());
        if !live || p.host_port == 0 {
            m.entry(key).or_insert(Value::Null);
            continue;
        }
        let b = json!({"HostIp": p.host_ip.map(|i| i.to_string()).unwrap_or_else(|| "0.0.0.0".into()), "HostPort": p.host_port.to_string()});
        match m.get_mut(&key) {
            Some(Value::Array(a)) => a.push(b),
            _ => {
                m.insert(key, json!([b]));
            }
        }
    }
    Value::Object(m)
}

/// `ps`'s PORTS column: `0.0.0.0:8080->80/tcp`.
pub fn ports_list(c: &Container) -> Value {
    let mut v = Vec::new();
    if c.state.status.is_live() {
        for p in c.endpoint.iter().flat_map(|e| e.ports.iter()) {
            v.push(json!({"IP": p.host_ip.map(|i| i.to_string()).unwrap_or_else(|| "0.0.0.0".into()),
                          "PrivatePort": p.container_port, "PublicPort": p.host_port, "Type": p.proto.as_str()}));
        }
    }
    Value::Array(v)
}

fn network_settings(c: &Container) -> Value {
    let mode = &c.options.network_mode;
    let net_name = if mode.starts_with("container:") { "".to_string() } else { mode.clone() };
    let live = c.state.status.is_live();
    let (ip, gw, len, mac) = match (&c.endpoint, live) {
        (Some(ep), true) => (ep.ip.to_string(), ep.gateway.to_string(), ep.subnet.prefix_len(), ep.mac.clone()),
        _ => (String::new(), String::new(), 0, String::new()),
    };
    let mut networks = serde_json::Map::new();
    let entry = |ep: Option<&crate::model::NetEndpoint>| {
        let (ip, gw, len, mac) = match (ep, live) {
            (Some(ep), true) => (ep.ip.to_string(), ep.gateway.to_string(), ep.subnet.prefix_len(), ep.mac.clone()),
            _ => (String::new(), String::new(), 0, String::new()),
        };
        let aliases = ep.filter(|ep| !ep.aliases.is_empty()).map(|ep| json!(ep.aliases));
        json!({"IPAMConfig": null, "Links": null, "Aliases": aliases, "MacAddress": mac,
               "NetworkID": ep.map(|ep| ep.network.clone()).unwrap_or_else(|| net_name.clone()),
               "EndpointID": if live && ep.is_some() { c.id.clone() } else { String::new() },
               "Gateway": gw, "IPAddress": ip, "IPPrefixLen": len, "IPv6Gateway": "", "GlobalIPv6Address": "",
               "GlobalIPv6PrefixLen": 0, "DriverOpts": null, "DNSNames": null})
    };
    for ep in c.endpoints() {
        networks.insert(ep.network.clone(), entry(Some(ep)));
    }
    if networks.is_empty() && (net_name == "host" || net_name == "none") {
        networks.insert(net_name.clone(), entry(None));
    }
    let sandbox = if c.endpoint.is_some() && live { format!("/proc/{}/ns/net", c.state.pid) } else { String::new() };
    json!({"Bridge": "", "SandboxID": "", "SandboxKey": sandbox, "Ports": ports_map(c), "HairpinMode": false,
           "LinkLocalIPv6Address": "", "LinkLocalIPv6PrefixLen": 0, "SecondaryIPAddresses": null,
           "SecondaryIPv6Addresses": null, "EndpointID": "", "Gateway": gw, "GlobalIPv6Address": "",
           "GlobalIPv6PrefixLen": 0, "IPAddress": ip, "IPPrefixLen": len, "IPv6Gateway": "", "MacAddress": mac,
           "Networks": networks})
}

fn mounts(c: &Container) -> Value {
    if !c.mounts.is_empty() {
        return Value::Array(c.mounts.iter().map(crate::engine::lifecycle::mounts::to_json).collect());
    }
    let v: Vec<Value> = c
        .host_config
        .binds
        .iter()
        .flatten()
        .map(|b| {
            let p: Vec<&str> = b.split(':').collect();
            let rw = !p.get(2).is_some_and(|o| o.split(',').any(|x| x == "ro"));
            json!({"Type": "bind", "Source": p[0], "Destination": p.get(1).copied().unwrap_or(""), "Mode": p.get(2).copied().unwrap_or(""), "RW": rw, "Propagation": "rprivate"})
        })
        .collect();
    Value::Array(v)
}

pub fn inspect(d: &Daemon, c: &Container) -> Value {
    let st = &c.state;
    let rootfs = d.driver(&c.options.storage_driver).map(|dr| dr.rootfs_path(&c.id)).ok();
    let mut host_config = serde_json::to_value(&c.host_config).unwrap_or(json!({}));
    if let Some(h) = host_config.as_object_mut() {
        h.insert("NetworkMode".into(), json!(c.options.network_mode));
        h.entry("CgroupParent").or_insert(json!(""));
        h.insert("Runtime".into(), json!(c.options.runtime));
    }
    json!({
        "Id": c.id,
        "Created": c.created,
        "Path": c.path,
        "Args": c.args,
        "State": {
            "Status": st.seen().docker(),
            // Restarting counts as running, as with dockerd's SetRestarting.
            "Running": st.status.is_live() || st.seen() == Status::Restarting,
            "Paused": st.status == Status::Paused,
            "Restarting": st.seen() == Status::Restarting,
            "OOMKilled": st.oom_killed,
            "Dead": st.status == Status::Dead,
            "Pid": if st.status.is_live() && st.status != Status::Restarting { st.pid } else { 0 },
            "ExitCode": st.exit_code,
            "Error": st.error,
            "StartedAt": st.started_at,
            "FinishedAt": st.finished_at,
            // Berth's own: why a container is orphaned or restoring, and the monitor it runs under.
            "Berth": {"Status": format!("{:?}", st.status).to_lowercase(), "Reason": st.reason,
                      "Monitor": {"Binary": c.options.shim_binary, "Version": c.options.shim_version, "Protocol": c.options.protocol}},
        },
        "Image": c.image_id,
        "ResolvConfPath": c.resolv_conf_path,
        "HostnamePath": c.hostname_path,
        "HostsPath": c.hosts_path,
        "LogPath": c.log_path,
        "Name": format!("/{}", c.name),
        "RestartCount": c.restart_count,
        "Driver": c.options.storage_driver,
        "Platform": "linux",
        "MountLabel": "",
        "ProcessLabel": "",
        "AppArmorProfile": "",
        "ExecIDs": null,
        "HostConfig": host_config,
        "GraphDriver": {"Name": c.options.storage_driver, "Data": {"MergedDir": rootfs}},
        "Mounts": mounts(c),
        "Config": c.config,
        "NetworkSettings": network_settings(c),
    })
}

pub fn summary(c: &Container, size: bool) -> Value {
    let mut command = c.path.clone();
    for a in &c.args {
        command.push(' ');
        command.push_str(a);
    }
    let created = chrono::DateTime::parse_from_rfc3339(&c.created).map(|t| t.timestamp()).unwrap_or(0);
    let mut v = json!({
        "Id": c.id,
        "Names": [format!("/{}", c.name)],
        "Image": c.config.image.clone().unwrap_or_default(),
        "ImageID": c.image_id,
        "Command": command,
        "Created": created,
        "Ports": ports_list(c),
        "Labels": c.config.labels.clone().unwrap_or_default(),
        "State": c.state.seen().docker(),
        "Status": status_text(c),
        "HostConfig": {"NetworkMode": c.options.network_mode},
        "NetworkSettings": {"Networks": network_settings(c)["Networks"].clone()},
        "Mounts": mounts(c),
    });
    if size {
        v["SizeRw"] = json!(0);
        v["SizeRootFs"] = json!(0);
    }
    v
}
