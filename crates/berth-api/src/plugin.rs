//! Managed plugins (`/plugins`): Go's `types.Plugin`. A plugin's `config.json` is read with
//! Go's case-insensitive field matching (plugin authors write `entrypoint`, `interface`, …), so
//! each field also takes its lower-case name.

use serde::{Deserialize, Serialize};

/// `GET /plugins/{name}/json` and the items of `GET /plugins`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Plugin {
    pub id: String,
    pub name: String,
    pub enabled: bool,
    pub settings: PluginSettings,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub plugin_reference: String,
    pub config: PluginConfig,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct PluginSettings {
    pub mounts: Vec<serde_json::Value>,
    pub env: Vec<String>,
    pub args: Vec<String>,
    pub devices: Vec<serde_json::Value>,
}

/// The plugin's `config.json`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct PluginConfig {
    #[serde(alias = "dockerVersion", alias = "dockerversion")]
    pub docker_version: String,
    #[serde(alias = "description")]
    pub description: String,
    #[serde(alias = "documentation")]
    pub documentation: String,
    #[serde(alias = "interface")]
    pub interface: PluginInterface,
    #[serde(alias = "entrypoint")]
    pub entrypoint: Option<Vec<String>>,
    #[serde(alias = "workdir", alias = "workDir")]
    pub work_dir: String,
    #[serde(alias = "user")]
    pub user: PluginUser,
    #[serde(alias = "network")]
    pub network: PluginNetwork,
    #[serde(alias = "linux")]
    pub linux: PluginLinux,
    #[serde(alias = "propagatedMount", alias = "propagatedmount")]
    pub propagated_mount: String,
    #[serde(alias = "ipcHost", alias = "ipchost")]
    pub ipc_host: bool,
    #[serde(alias = "pidHost", alias = "pidhost")]
    pub pid_host: bool,
    #[serde(alias = "mounts")]
    pub mounts: Option<Vec<serde_json::Value>>,
    #[serde(alias = "env")]
    pub env: Option<Vec<PluginEnv>>,
    #[serde(alias = "args")]
    pub args: PluginArgs,
    #[serde(rename = "rootfs", skip_serializing_if = "Option::is_none")]
    pub rootfs: Option<PluginRootfs>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct PluginInterface {
    #[serde(alias = "types")]
    pub types: Option<Vec<String>>,
    #[serde(alias = "socket")]
    pub socket: String,
    #[serde(alias = "protocolScheme", alias = "protocolscheme")]
    pub protocol_scheme: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct PluginUser {
    #[serde(rename = "UID", alias = "uid", skip_serializing_if = "Option::is_none")]
    pub uid: Option<u32>,
    #[serde(rename = "GID", alias = "gid", skip_serializing_if = "Option::is_none")]
    pub gid: Option<u32>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct PluginNetwork {
    #[serde(alias = "type")]
    pub r#type: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct PluginLinux {
    #[serde(alias = "capabilities")]
    pub capabilities: Option<Vec<String>>,
    #[serde(alias = "allowAllDevices", alias = "allowalldevices")]
    pub allow_all_devices: bool,
    #[serde(alias = "devices")]
    pub devices: Option<Vec<serde_json::Value>>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct PluginEnv {
    #[serde(alias = "name")]
    pub name: String,
    #[serde(alias = "description")]
    pub description: String,
    #[serde(alias = "settable")]
    pub settable: Option<Vec<String>>,
    #[serde(alias = "value")]
    pub value: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct PluginArgs {
    #[serde(alias = "name")]
    pub name: String,
    #[serde(alias = "description")]
    pub description: String,
    #[serde(alias = "settable")]
    pub settable: Option<Vec<String>>,
    #[serde(alias = "value")]
    pub value: Option<Vec<String>>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct PluginRootfs {
    #[serde(rename = "type")]
    pub kind: String,
    pub diff_ids: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_config_json_as_plugin_authors_write_it() {
        let c: PluginConfig = serde_json::from_str(
            r#"{"description": "d", "entrypoint": ["/dummy"], "network": {"type": "host"},
                "interface": {"types": ["docker.volumedriver/1.0"], "socket": "dummy.sock"},
                "env": [{"name": "DEBUG", "settable": ["value"], "value": "0"}]}"#,
        )
        .unwrap();
        assert_eq!(c.entrypoint, Some(vec!["/dummy".to_string()]));
        assert_eq!(c.network.r#type, "host");
        assert_eq!(c.interface.socket, "dummy.sock");
        assert_eq!(c.env.as_ref().unwrap()[0].value.as_deref(), Some("0"));
        let v = serde_json::to_value(&c).unwrap();
        assert_eq!(v["Entrypoint"], serde_json::json!(["/dummy"]));
        assert_eq!(v["Interface"]["Types"], serde_json::json!(["docker.volumedriver/1.0"]));
    }
}
