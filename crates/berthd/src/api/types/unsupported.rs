//! The fields of API 1.51's `Config` and `HostConfig` (moby `api/swagger.yaml`, with the
//! `Resources` fields flattened into `HostConfig`, plus a few older ones clients still send) that
//! Berth does not implement. Clients send many of them on every create with a default value (the
//! docker CLI 28 sends `"BlkioWeight": 0`, `"MemorySwappiness": -1`, `"VolumesFrom": null`, …;
//! docker-py and docker-compose send fewer): a default passes, anything else is a 400 naming the
//! field, so that nothing a user asks for is accepted and then dropped (invariant 10).

use serde_json::Value;
use std::collections::BTreeMap;

/// What a client sends for a field it does not set.
#[derive(Clone, Copy)]
enum Unset {
    /// null, false, 0, "", [], {} (or an array of such: `[0, 0]`).
    Zero,
    /// Zero, or this string (`"Isolation": "default"`, `"VolumeDriver": "local"`).
    OrStr(&'static str),
    /// null or this number only (`"MemorySwappiness": -1`; 0 is a real swappiness).
    NullOr(i64),
    /// Zero, or `{"Test": ["NONE"]}` (`--no-healthcheck`: no health check, which is what Berth runs).
    NoHealthcheck,
}

const CONFIG: &[(&str, Unset)] = &[
    ("Healthcheck", Unset::NoHealthcheck),
    // Windows only.
    ("ArgsEscaped", Unset::Zero),
    ("NetworkDisabled", Unset::Zero),
    ("MacAddress", Unset::Zero),
    // Image-build metadata; a container never runs them.
    ("OnBuild", Unset::Zero),
    ("Shell", Unset::Zero),
];

const HOST_CONFIG: &[(&str, Unset)] = &[
    ("VolumeDriver", Unset::OrStr("local")),
    ("VolumesFrom", Unset::Zero),
    ("Links", Unset::Zero),
    ("Cgroup", Unset::Zero),
    ("StorageOpt", Unset::Zero),
    ("Isolation", Unset::OrStr("default")),
    ("BlkioWeight", Unset::Zero),
    ("BlkioWeightDevice", Unset::Zero),
    ("BlkioDeviceReadBps", Unset::Zero),
    ("BlkioDeviceWriteBps", Unset::Zero),
    ("BlkioDeviceReadIOps", Unset::Zero),
    ("BlkioDeviceWriteIOps", Unset::Zero),
    ("CpuRealtimePeriod", Unset::Zero),
    ("CpuRealtimeRuntime", Unset::Zero),
    // GPUs (`--gpus`): no device plugin.
    ("DeviceRequests", Unset::Zero),
    ("KernelMemory", Unset::Zero),
    ("KernelMemoryTCP", Unset::Zero),
    ("MemorySwappiness", Unset::NullOr(-1)),
    ("OomKillDisable", Unset::Zero),
    // Windows only.
    ("CpuCount", Unset::Zero),
    ("CpuPercent", Unset::Zero),
    ("IOMaximumIOps", Unset::Zero),
    ("IOMaximumBandwidth", Unset::Zero),
    // API 1.40 only.
    ("Capabilities", Unset::Zero),
    // Until the seccomp work gives it a typed field (which then takes it out of `other`).
    ("SecurityOpt", Unset::Zero),
];

fn zero(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Bool(b) => !b,
        Value::Number(n) => n.as_f64() == Some(0.0),
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.iter().all(zero),
        Value::Object(o) => o.is_empty(),
    }
}

fn unset(how: Unset, v: &Value) -> bool {
    match how {
        Unset::Zero => zero(v),
        Unset::OrStr(s) => zero(v) || v.as_str() == Some(s),
        Unset::NullOr(n) => v.is_null() || v.as_i64() == Some(n),
        Unset::NoHealthcheck => zero(v) || v["Test"].as_array().is_some_and(|t| t.len() == 1 && t[0] == "NONE"),
    }
}

/// The first field of `config` (the create body's own fields) or `host_config` that Berth does not
/// implement and the client set, as the message of a 400.
pub fn refuse_unsupported(
    config: &BTreeMap<String, Value>,
    host_config: &BTreeMap<String, Value>,
) -> Result<(), String> {
    let sections = [("Config", CONFIG, config), ("HostConfig", HOST_CONFIG, host_config)];
    for (section, table, given) in sections {
        for (name, how) in table {
            match given.get(*name) {
                Some(v) if !unset(*how, v) => {
                    return Err(format!("{section}.{name} is not supported by Berth (given: {})", short(v)));
                }
                _ => {}
            }
        }
    }
    Ok(())
}

fn short(v: &Value) -> String {
    let s = v.to_string();
    match s.char_indices().nth(80) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn map(v: Value) -> BTreeMap<String, Value> {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn defaults_pass_and_values_are_refused_by_name() {
        let cli = map(json!({"VolumeDriver": "", "VolumesFrom": null, "ConsoleSize": [0, 0], "BlkioWeight": 0,
            "BlkioWeightDevice": [], "MemorySwappiness": -1, "OomKillDisable": false, "Isolation": "", "Links": null}));
        assert!(refuse_unsupported(&map(json!({"OnBuild": null})), &cli).is_ok());
        assert!(refuse_unsupported(
            &map(json!({"Healthcheck": {"Test": ["NONE"]}})),
            &map(json!({"Isolation": "default"}))
        )
        .is_ok());
        let e = refuse_unsupported(&BTreeMap::new(), &map(json!({"KernelMemoryTCP": 1024}))).unwrap_err();
        assert!(e.starts_with("HostConfig.KernelMemoryTCP is not supported by Berth"), "{e}");
        let e = refuse_unsupported(&BTreeMap::new(), &map(json!({"MemorySwappiness": 0}))).unwrap_err();
        assert!(e.contains("HostConfig.MemorySwappiness"), "{e}");
        let e = refuse_unsupported(&map(json!({"MacAddress": "02:42:ac:11:00:02"})), &BTreeMap::new()).unwrap_err();
        assert!(e.contains("Config.MacAddress"), "{e}");
        let e =
            refuse_unsupported(&map(json!({"Healthcheck": {"Test": ["CMD", "true"]}})), &BTreeMap::new()).unwrap_err();
        assert!(e.contains("Config.Healthcheck"), "{e}");
    }
}
