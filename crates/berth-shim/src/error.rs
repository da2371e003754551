//! The monitor's one error type. Its texts are what the daemon and `docker` print (some are matched
//! by the daemon and by tests), so each variant keeps the wording the monitor always used; the
//! monitor protocol carries them as strings, converted only where a `Response` or `StartReport` is
//! built.

use crate::exit::WaitOutcome;
use berth_proto::WireError;
use nix::errno::Errno;
use std::io;
use std::path::PathBuf;
use std::process::ExitStatus;

#[derive(Debug, thiserror::Error)]
pub enum ShimError {
    // The configuration the daemon wrote.
    #[error("{}: no such file", .0.display())]
    ConfigMissing(PathBuf),
    #[error("reading {}: {source}", path.display())]
    ConfigRead { path: PathBuf, source: io::Error },

    // Becoming a monitor.
    #[error("fork: {0}")]
    Fork(io::Error),
    #[error("the monitor exited before reporting its {0}")]
    NoReport(String),
    #[error("setsid: {0}")]
    Setsid(Errno),
    #[error("subreaper: {0}")]
    Subreaper(io::Error),
    #[error("shim.log: {0}")]
    DiagLog(io::Error),
    #[error("dup2: {0}")]
    Dup2(Errno),
    #[error("sigprocmask: {0}")]
    Sigprocmask(Errno),
    #[error("signalfd: {0}")]
    Signalfd(Errno),
    /// A directory or file the monitor needs, named by its path.
    #[error("{}: {source}", path.display())]
    Path { path: PathBuf, source: io::Error },
    #[error(transparent)]
    Io(#[from] io::Error),

    // Container stdio and the console.
    #[error("pipe: {0}")]
    Pipe(Errno),
    #[error("pty: {0}")]
    Pty(Errno),
    #[error("dup: {0}")]
    Dup(io::Error),
    #[error("console socket: {0}")]
    Console(io::Error),
    #[error("console socket accept: {0}")]
    ConsoleAccept(io::Error),
    #[error("runtime create exited ({0}) without sending the console")]
    ConsoleNotSent(ExitStatus),
    #[error("runtime create did not send the console within 60 s")]
    ConsoleTimeout,

    // The OCI runtime.
    /// The runtime's own message (create, start, exec, delete, kill), passed on verbatim.
    #[error("{0}")]
    Runtime(String),
    #[error("cannot run {}: {source}", path.display())]
    RuntimeSpawn { path: PathBuf, source: io::Error },
    #[error("{runtime} {verb} failed: {status}")]
    RuntimeStatus { runtime: String, verb: String, status: ExitStatus },
    #[error("waiting for {runtime} create: {source}")]
    RuntimeWait { runtime: String, source: io::Error },
    #[error("{runtime} create wrote no pid to {}", path.display())]
    NoPid { runtime: String, path: PathBuf },
    #[error("container init {0} vanished")]
    InitVanished(i32),
    #[error("cannot run {runtime} kill: {source}")]
    KillSpawn { runtime: String, source: io::Error },
    #[error("{runtime} kill --all failed: {outcome:?}")]
    KillAll { runtime: String, outcome: WaitOutcome },
    #[error("exec failed: {0:?}")]
    Exec(WaitOutcome),

    // The daemon's start gate.
    /// The daemon's reason for refusing the start, verbatim.
    #[error("{0}")]
    GateRefused(String),
    #[error("the daemon did not finish preparing the container within 30 s")]
    GateTimeout,
    #[error("{0}")]
    Dns(#[from] crate::dns::DnsError),

    // Logs and state records.
    #[error("log file {}: {source}", path.display())]
    Log { path: PathBuf, source: io::Error },
    #[error("exec output: {0}")]
    ExecLog(io::Error),
    #[error("reopening {}: {source}", path.display())]
    LogReopen { path: PathBuf, source: io::Error },
    #[error("removing the previous exit record: {0}")]
    PreviousExitRecord(io::Error),
    #[error("writing the monitor record: {0}")]
    MonitorRecord(io::Error),
    #[error("control socket {}: {source}", path.display())]
    ControlSocket { path: PathBuf, source: io::Error },
    #[error("no report: {0:?}")]
    RelaunchReport(String),

    // Requests on the control socket.
    #[error(transparent)]
    Protocol(#[from] WireError),
    #[error("the first request on a connection must be hello")]
    NoHello,
    #[error("container is not running")]
    Stopped,
    #[error("container {0} is not running")]
    NotRunning(String),
    #[error("container process {0} is not running")]
    InitNotRunning(i32),
    #[error("container process {0} ended during the adoption")]
    InitEnded(i32),
    #[error("kill {pid} with signal {signal}: {source}")]
    Kill { pid: i32, signal: i32, source: io::Error },
    #[error("resize: {0}")]
    Resize(io::Error),
    #[error("no terminal to resize")]
    NoTerminal,
    #[error("invalid exec id {0:?}")]
    InvalidExecId(String),
    #[error("exec {0} already exists")]
    ExecExists(String),
    #[error("exec {0} is not running")]
    ExecNotRunning(String),
    #[error("no such exec: {0}")]
    NoSuchExec(String),
    #[error("this container has no health check")]
    NoHealthcheck,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The daemon shows these texts and matches some of them ("is not running", the runtime's own
    /// message for an exec's 126/127): the variants must render exactly what the monitor always sent.
    #[test]
    fn texts_are_the_ones_sent_before() {
        let cases: [(ShimError, &str); 8] = [
            (ShimError::Stopped, "container is not running"),
            (ShimError::NotRunning("abc".into()), "container abc is not running"),
            (ShimError::ExecNotRunning("e1".into()), "exec e1 is not running"),
            (ShimError::NoSuchExec("e1".into()), "no such exec: e1"),
            (ShimError::InvalidExecId("../x".into()), r#"invalid exec id "../x""#),
            (
                ShimError::Runtime("exec: \"nope\": executable file not found".into()),
                "exec: \"nope\": executable file not found",
            ),
            (ShimError::Exec(WaitOutcome::Exited(1)), "exec failed: Exited(1)"),
            (ShimError::RelaunchReport("".into()), r#"no report: """#),
        ];
        for (e, text) in cases {
            assert_eq!(e.to_string(), text);
        }
        let io = || io::Error::from_raw_os_error(2);
        let kill = ShimError::Kill { pid: 7, signal: 9, source: io() };
        assert_eq!(kill.to_string(), format!("kill 7 with signal 9: {}", io()));
        let spawn = ShimError::RuntimeSpawn { path: "/bin/rt".into(), source: io() };
        assert_eq!(spawn.to_string(), format!("cannot run /bin/rt: {}", io()));
        assert_eq!(ShimError::Pipe(Errno::EMFILE).to_string(), format!("pipe: {}", Errno::EMFILE));
        assert_eq!(ShimError::from(io()).to_string(), io().to_string());
    }
}
