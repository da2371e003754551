//! Exec types.

use crate::serde_util::{nullable, str_slice};
use serde::{Deserialize, Serialize};

/// Body of `POST /containers/{id}/exec`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ExecConfig {
    #[serde(deserialize_with = "nullable")]
    pub user: String,
    #[serde(deserialize_with = "nullable")]
    pub privileged: bool,
    #[serde(deserialize_with = "nullable")]
    pub tty: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub console_size: Option<Vec<u64>>,
    #[serde(deserialize_with = "nullable")]
    pub attach_stdin: bool,
    #[serde(deserialize_with = "nullable")]
    pub attach_stderr: bool,
    #[serde(deserialize_with = "nullable")]
    pub attach_stdout: bool,
    #[serde(deserialize_with = "nullable")]
    pub detach: bool,
    /// docker-py spells it `detachKeys` (dockerd's JSON decoding ignores case).
    #[serde(deserialize_with = "nullable", alias = "detachKeys")]
    pub detach_keys: String,
    pub env: Option<Vec<String>>,
    #[serde(deserialize_with = "nullable")]
    pub working_dir: String,
    #[serde(deserialize_with = "str_slice")]
    pub cmd: Option<Vec<String>>,
}

/// Body of `POST /exec/{id}/start`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ExecStartConfig {
    #[serde(deserialize_with = "nullable")]
    pub detach: bool,
    #[serde(deserialize_with = "nullable")]
    pub tty: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub console_size: Option<Vec<u64>>,
}

/// `ProcessConfig` of exec inspect (lowercase keys, as Docker sends them).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ExecProcessConfig {
    pub privileged: bool,
    pub user: String,
    pub tty: bool,
    pub entrypoint: String,
    #[serde(deserialize_with = "nullable")]
    pub arguments: Vec<String>,
}

/// Answer of `GET /exec/{id}/json`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ExecInspect {
    #[serde(rename = "CanRemove")]
    pub can_remove: bool,
    #[serde(rename = "DetachKeys")]
    pub detach_keys: String,
    #[serde(rename = "ID")]
    pub id: String,
    #[serde(rename = "Running")]
    pub running: bool,
    /// `null` until the process exits.
    #[serde(rename = "ExitCode")]
    pub exit_code: Option<i64>,
    #[serde(rename = "ProcessConfig")]
    pub process_config: ExecProcessConfig,
    #[serde(rename = "OpenStdin")]
    pub open_stdin: bool,
    #[serde(rename = "OpenStderr")]
    pub open_stderr: bool,
    #[serde(rename = "OpenStdout")]
    pub open_stdout: bool,
    #[serde(rename = "ContainerID")]
    pub container_id: String,
    #[serde(rename = "Pid")]
    pub pid: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exec_bodies() {
        // docker CLI 28 `docker exec -e A=1 c sh -c 'echo hi'`
        let c: ExecConfig = serde_json::from_str(
            r#"{"User":"","Privileged":false,"Tty":false,"ConsoleSize":[0,0],
            "AttachStdin":false,"AttachStderr":true,"AttachStdout":true,"Detach":false,"DetachKeys":"",
            "Env":["A=1"],"WorkingDir":"","Cmd":["sh","-c","echo hi"]}"#,
        )
        .unwrap();
        assert_eq!(c.cmd.as_deref().unwrap(), ["sh", "-c", "echo hi"]);
        // docker-py sends null for unset strings.
        let c: ExecConfig = serde_json::from_str(
            r#"{"AttachStdin":false,"AttachStdout":true,"AttachStderr":true,"Tty":false,
            "Privileged":false,"User":"","Cmd":"echo hi","Env":null,"WorkingDir":null}"#,
        )
        .unwrap();
        assert_eq!(c.cmd.as_deref().unwrap(), ["echo hi"]);
        assert!(serde_json::from_str::<ExecConfig>(r#"{"Cmd":["x"],"Tty":"no"}"#).is_err());
        let s: ExecStartConfig = serde_json::from_str(r#"{"Detach":false,"Tty":false,"ConsoleSize":null}"#).unwrap();
        assert!(!s.detach);
        let i = ExecInspect { id: "e".into(), exit_code: None, ..Default::default() };
        let v = serde_json::to_value(&i).unwrap();
        assert!(v["ExitCode"].is_null());
        assert_eq!(v["ProcessConfig"]["arguments"], serde_json::json!([]));
    }
}
