//! `POST /containers/create`'s body. A field of the wrong type is a 400. Fields the config types
//! do not name are kept aside (`other`) and checked against the fields of API 1.51 Berth does not
//! implement (`unsupported.rs`): one of those set to anything but its default is a 400 naming it
//! (invariant 10); keys the API does not define are ignored, as dockerd ignores them.

use crate::engine::lifecycle::create::CreateSpec;
use crate::model::{ContainerConfig, HostConfig};
use serde::Deserialize;

mod unsupported;
pub use unsupported::refuse_unsupported;

/// `POST /containers/create` body: the container config with `HostConfig` and
/// `NetworkingConfig` beside its fields.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ContainerCreateRequest {
    #[serde(flatten)]
    pub config: ContainerConfig,
    #[serde(rename = "HostConfig", default)]
    pub host_config: Option<HostConfig>,
    /// Accepted (user-defined networks are not built yet) so that clients sending it are served.
    #[serde(rename = "NetworkingConfig", default)]
    pub networking_config: Option<serde_json::Value>,
}

impl ContainerCreateRequest {
    pub fn split(self) -> (ContainerConfig, HostConfig) {
        (self.config, self.host_config.unwrap_or_default())
    }

    /// The engine's create call: a field Berth does not implement is refused here (a 400 naming
    /// it), before the engine sees the request.
    pub fn into_spec(self, name: Option<String>) -> Result<CreateSpec, String> {
        let aliases = self
            .networking_config
            .as_ref()
            .and_then(|v| v["EndpointsConfig"].as_object())
            .map(|eps| {
                eps.iter()
                    .map(|(net, ep)| {
                        let names = ep["Aliases"].as_array().into_iter().flatten();
                        (net.clone(), names.filter_map(|a| a.as_str().map(String::from)).collect())
                    })
                    .collect()
            })
            .unwrap_or_default();
        let (config, host) = self.split();
        refuse_unsupported(&config.other, &host.other)?;
        Ok(CreateSpec { name, config, host, aliases })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_cli_body_parses_and_bad_types_fail() {
        let body = r#"{"Hostname":"","User":"","AttachStdout":true,"Tty":false,"Env":["A=1"],"Cmd":["sh","-c","exit 3"],
            "Image":"busybox","Labels":{"a":"b"},"StopTimeout":5,
            "HostConfig":{"Binds":null,"NetworkMode":"default","RestartPolicy":{"Name":"no","MaximumRetryCount":0},
            "AutoRemove":true,"Memory":67108864,"NanoCpus":500000000,"PidsLimit":50,"Unknown":1},
            "NetworkingConfig":{"EndpointsConfig":{}}}"#;
        let r: ContainerCreateRequest = serde_json::from_str(body).unwrap();
        let (c, h) = r.split();
        assert_eq!(c.cmd.unwrap(), vec!["sh", "-c", "exit 3"]);
        assert_eq!(h.memory, Some(67108864));
        assert_eq!(h.auto_remove, Some(true));
        assert!(
            serde_json::from_str::<ContainerCreateRequest>(r#"{"Image":"x","HostConfig":{"Memory":"lots"}}"#).is_err()
        );
    }
}
