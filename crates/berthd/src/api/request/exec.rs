//! `POST /containers/{id}/exec`: berth-api's body into the engine's `ExecConfig`.

use crate::api::error::ApiError;
use crate::engine::exec::ExecConfig;
use berth_api as wire;

/// The engine's exec config, or the 400 message for detach keys that do not parse. `Detach`
/// belongs to the start call.
pub fn config(b: wire::ExecConfig) -> Result<ExecConfig, ApiError> {
    let keys = (!b.detach_keys.is_empty()).then_some(b.detach_keys.as_str());
    let detach_keys = crate::api::attach::parse_detach_keys(keys).map_err(ApiError::bad_request)?;
    Ok(ExecConfig {
        attach_stdin: b.attach_stdin,
        attach_stdout: b.attach_stdout,
        attach_stderr: b.attach_stderr,
        tty: b.tty,
        env: b.env.unwrap_or_default(),
        cmd: b.cmd.unwrap_or_default(),
        privileged: b.privileged,
        user: super::text(b.user),
        working_dir: super::text(b.working_dir),
        detach_keys,
        detach_keys_spec: b.detach_keys,
        console_size: b.console_size,
    })
}
