//! Talking to per-container monitors: launching one (the only process the daemon ever spawns for a
//! container; it detaches at once) and the async client of its control protocol.

use berth_proto::{
    encode, negotiate, protocol_range, ExitRecord, Request, Response, ShimConfig, Side, StartReport, WireError,
};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::UnixStream;

#[derive(Debug, thiserror::Error)]
pub enum MonitorError {
    /// the monitor could not be started: {0}
    #[error("cannot start the container monitor: {0}")]
    Spawn(String),
    /// the runtime refused the container
    #[error("{0}")]
    StartFailed(String),
    #[error(transparent)]
    Wire(#[from] WireError),
    #[error("monitor did not answer in time")]
    Timeout,
    #[error("monitor answered: {0}")]
    Refused(String),
    #[error("monitor sent an unexpected reply: {0:?}")]
    Unexpected(Box<Response>),
}

/// Starts a monitor for `cfg` (already written to `<state_dir>/shim.json`) and waits for its report.
/// The launcher process exits right after printing the report; the monitor it leaves behind is not
/// our child, so the daemon can die without it noticing.
pub async fn launch(shim_binary: &Path, cfg: &ShimConfig) -> Result<StartReport, MonitorError> {
    launch_with(shim_binary, cfg, &[]).await
}

/// [`launch`] with arguments before `--config` (`--adopt <pid>:<start time>`).
pub async fn launch_with(
    shim_binary: &Path,
    cfg: &ShimConfig,
    pre_args: &[String],
) -> Result<StartReport, MonitorError> {
    let cfg_path = cfg.state_dir.join(berth_proto::paths::CONFIG);
    let stderr_path = cfg.state_dir.join("shim.stderr");
    let stderr = std::fs::OpenOptions::new()
        .create(true)
        .mode(berth_proto::fsutil::PRIVATE_FILE)
        .append(true)
        .open(&stderr_path)
        .map_err(|e| MonitorError::Spawn(format!("{}: {e}", stderr_path.display())))?;
    let mut cmd = tokio::process::Command::new(shim_binary);
    crate::sealed_runtime::attach(cmd.as_std_mut(), &cfg.runtime.path);

    let mut child = cmd
        .args(pre_args)
        .arg("--config")
        .arg(&cfg_path)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(stderr)
        .kill_on_drop(false)
        .spawn()
        .map_err(|e| MonitorError::Spawn(format!("{}: {e}", shim_binary.display())))?;
    let mut out = String::new();
    let mut stdout = child.stdout.take().expect("stdout is piped");
    let read = tokio::time::timeout(Duration::from_secs(60), stdout.read_to_string(&mut out)).await;
    let status = child.wait().await.map_err(|e| MonitorError::Spawn(e.to_string()))?;
    if read.is_err() {
        return Err(MonitorError::Spawn("monitor launcher did not report within 60 s".into()));
    }
    let line = out.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("");
    match serde_json::from_str::<StartReport>(line) {
        Ok(StartReport::Failed { message }) => Err(MonitorError::StartFailed(message)),
        Ok(r) => Ok(r),
        Err(_) => {
            let diag = std::fs::read_to_string(&stderr_path).unwrap_or_default();
            Err(MonitorError::Spawn(format!(
                "launcher exited with {status} without a report: {}",
                diag.lines().last().unwrap_or("").trim()
            )))
        }
    }
}

/// One control connection, after a successful handshake.
pub struct MonitorConn {
    reader: BufReader<tokio::net::unix::OwnedReadHalf>,
    writer: tokio::net::unix::OwnedWriteHalf,
    pub version: u32,
    pub capabilities: Vec<String>,
    pub shim_version: String,
}

impl MonitorConn {
    /// Connects and negotiates a protocol version, within `timeout`.
    pub async fn connect(socket: &Path, timeout: Duration) -> Result<MonitorConn, MonitorError> {
        tokio::time::timeout(timeout, Self::connect_inner(socket)).await.map_err(|_| MonitorError::Timeout)?
    }

    async fn connect_inner(socket: &Path) -> Result<MonitorConn, MonitorError> {
        let (_dir, short) = berth_proto::fsutil::socket_path(socket).map_err(WireError::from)?;
        let s = UnixStream::connect(&short).await.map_err(WireError::from)?;
        let (r, w) = s.into_split();
        let mut c = MonitorConn {
            reader: BufReader::new(r),
            writer: w,
            version: 0,
            capabilities: vec![],
            shim_version: String::new(),
        };
        let (min, max) = protocol_range(Side::Daemon);
        let hello = Request::Hello { min, max, client: format!("berthd {}", env!("CARGO_PKG_VERSION")) };
        match c.call(&hello).await? {
            Response::Hello { version, capabilities, shim_version, .. } => {
                if negotiate(version, version, min, max).is_none() {
                    return Err(WireError::Version { theirs: version.to_string(), min, max }.into());
                }
                c.version = version;
                c.capabilities = capabilities;
                c.shim_version = shim_version;
                Ok(c)
            }
            Response::Error { message } => Err(MonitorError::Refused(message)),
            other => Err(MonitorError::Unexpected(Box::new(other))),
        }
    }

    /// Turns the connection into an attach (capability `attach`): the raw output stream to read
    /// (bytes after the answer line stay in the buffer) and the writer for the container's input.
    pub async fn attach(
        self,
        stdin: bool,
        replay: bool,
    ) -> Result<(BufReader<tokio::net::unix::OwnedReadHalf>, tokio::net::unix::OwnedWriteHalf), MonitorError> {
        self.attach_to(Request::Attach { stdin, replay }).await
    }

    /// [`MonitorConn::attach`] to the exec `id`.
    pub async fn attach_exec(
        self,
        id: &str,
        stdin: bool,
    ) -> Result<(BufReader<tokio::net::unix::OwnedReadHalf>, tokio::net::unix::OwnedWriteHalf), MonitorError> {
        self.attach_to(Request::AttachExec { id: id.to_string(), stdin }).await
    }

    async fn attach_to(
        mut self,
        req: Request,
    ) -> Result<(BufReader<tokio::net::unix::OwnedReadHalf>, tokio::net::unix::OwnedWriteHalf), MonitorError> {
        if !self.capabilities.iter().any(|c| c == berth_proto::caps::ATTACH) {
            return Err(MonitorError::Refused(format!("monitor {} cannot attach", self.shim_version)));
        }
        match self.call(&req).await? {
            Response::Ok => Ok((self.reader, self.writer)),
            Response::Error { message } => Err(MonitorError::Refused(message)),
            other => Err(MonitorError::Unexpected(Box::new(other))),
        }
    }

    pub async fn call(&mut self, req: &Request) -> Result<Response, MonitorError> {
        self.writer.write_all(&encode(req)).await.map_err(WireError::from)?;
        let mut line = String::new();
        if self.reader.read_line(&mut line).await.map_err(WireError::from)? == 0 {
            return Err(WireError::Closed.into());
        }
        Ok(serde_json::from_str(line.trim_end()).map_err(WireError::from)?)
    }

    /// Sends a signal to the container init.
    pub async fn kill(&mut self, signal: i32, all: bool) -> Result<(), MonitorError> {
        match self.call(&Request::Kill { signal, all }).await? {
            Response::Ok => Ok(()),
            Response::Error { message } => Err(MonitorError::Refused(message)),
            other => Err(MonitorError::Unexpected(Box::new(other))),
        }
    }

    /// Waits until the container exits.
    pub async fn wait(&mut self) -> Result<ExitRecord, MonitorError> {
        match self.call(&Request::Wait).await? {
            Response::Exited(r) => Ok(r),
            Response::Error { message } => Err(MonitorError::Refused(message)),
            other => Err(MonitorError::Unexpected(Box::new(other))),
        }
    }
}

/// One-shot: connect, send a signal, hang up.
pub async fn signal(socket: &Path, sig: i32) -> Result<(), MonitorError> {
    let mut c = MonitorConn::connect(socket, Duration::from_secs(5)).await?;
    c.kill(sig, false).await
}

/// One-shot: the terminal size of the container, or of its exec `exec`.
pub async fn resize(socket: &Path, rows: u16, cols: u16, exec: Option<String>) -> Result<(), MonitorError> {
    let mut c = MonitorConn::connect(socket, Duration::from_secs(5)).await?;
    match c.call(&Request::Resize { rows, cols, exec }).await? {
        Response::Ok => Ok(()),
        Response::Error { message } => Err(MonitorError::Refused(message)),
        other => Err(MonitorError::Unexpected(Box::new(other))),
    }
}

/// Paths of one container's monitor.
#[derive(Debug, Clone)]
pub struct MonitorPaths {
    pub state_dir: PathBuf,
}

impl MonitorPaths {
    pub fn new(exec_root: &Path, id: &str) -> Self {
        MonitorPaths { state_dir: exec_root.join("shims").join(id) }
    }
    pub fn socket(&self) -> PathBuf {
        self.state_dir.join(berth_proto::paths::SOCKET)
    }
    pub fn record(&self) -> PathBuf {
        self.state_dir.join(berth_proto::paths::MONITOR_RECORD)
    }
}
