//! Messages on the monitor's control socket and their framing (one JSON object per line).

use crate::{ExitRecord, HealthRecord, InitStatus};
use serde::{Deserialize, Serialize};
use std::io::{BufRead, Write};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Request {
    /// Must be the first message on every connection.
    Hello { min: u32, max: u32, client: String },
    /// Current status, pid and (after exit) the exit record.
    State,
    /// Signal the container init (`all`: every process in the container's cgroup).
    Kill {
        signal: i32,
        #[serde(default)]
        all: bool,
    },
    /// Blocks until the container has exited, then answers [`Response::Exited`].
    Wait,
    /// Change the pty size (terminal containers; the exec `exec`'s terminal when given).
    Resize {
        rows: u16,
        cols: u16,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        exec: Option<String>,
    },
    /// Re-open the log file (after the daemon rotated or removed it).
    ReopenLog,
    /// Run another process in the container (capability `exec`): `process` is an OCI process
    /// JSON file; its output goes, json-file formatted, to `<state_dir>/execs/<id>/output.log`
    /// and its exit record to `<state_dir>/execs/<id>/exit.json`. Answered once it runs.
    /// `tty`: the process gets a terminal (its `process.terminal` is true) whose master the
    /// monitor holds; `stdin`: a stdin pipe the monitor holds (capability `attach`).
    Exec {
        id: String,
        process: std::path::PathBuf,
        #[serde(default)]
        tty: bool,
        #[serde(default)]
        stdin: bool,
        /// The terminal's size (rows, columns) when `tty`, set before the process runs on.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        console_size: Option<(u16, u16)>,
    },
    /// Blocks until the exec `id` has exited and its output is on disk; answers `Exited`.
    WaitExec { id: String },
    /// Capability `attach`: after the `Ok` answer the connection carries raw bytes. From the
    /// monitor: the container's output — as written for a terminal, else Docker's multiplexed
    /// frames (8-byte header: stream 1|2, three zeros, big-endian length). To the monitor, when
    /// `stdin`: bytes for the container's terminal or stdin; end of stream closes stdin (`-i`
    /// without `-t`). `replay`: first send the output written since the start, for a client that
    /// attached before the container started (`docker run -it`); the monitor keeps it until the
    /// first attach (bounded). The monitor closes the connection once the container has exited.
    Attach {
        #[serde(default)]
        stdin: bool,
        #[serde(default)]
        replay: bool,
    },
    /// [`Request::Attach`] for the exec `id`: its output since it started, then live; the
    /// monitor closes the connection once the exec has ended and its output is sent.
    AttachExec {
        id: String,
        #[serde(default)]
        stdin: bool,
    },
    /// Capability `health`: answers [`Response::Health`] once the record's `seq` is above
    /// `after` (at once when it already is); the connection is closed when the container exits.
    WatchHealth { after: u64 },
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "reply", rename_all = "snake_case")]
pub enum Response {
    Hello {
        version: u32,
        capabilities: Vec<String>,
        shim_version: String,
        pid: i32,
    },
    State {
        status: InitStatus,
        pid: i32,
        start_time: u64,
        #[serde(default)]
        exit: Option<ExitRecord>,
    },
    Ok,
    Exited(ExitRecord),
    /// An exec is running with this pid.
    ExecStarted {
        pid: i32,
    },
    Error {
        message: String,
    },
    Health(HealthRecord),
}

/// Framing errors on the control socket.
#[derive(Debug, thiserror::Error)]
pub enum WireError {
    /// I/O error on the monitor socket: {0}
    #[error("monitor socket: {0}")]
    Io(#[from] std::io::Error),
    /// The peer sent something that is not a message of this protocol.
    #[error("malformed monitor message: {0}")]
    Malformed(#[from] serde_json::Error),
    /// The peer closed the connection.
    #[error("monitor closed the connection")]
    Closed,
    /// No protocol version is spoken by both ends.
    #[error("monitor protocol {theirs} not supported: this side speaks {min}–{max}")]
    Version { theirs: String, min: u32, max: u32 },
}

/// Writes one message as a JSON line.
pub fn write_msg<W: Write, T: Serialize>(w: &mut W, msg: &T) -> Result<(), WireError> {
    let mut buf = serde_json::to_vec(msg)?;
    buf.push(b'\n');
    w.write_all(&buf)?;
    w.flush()?;
    Ok(())
}

/// Reads one JSON line; `Err(Closed)` on EOF.
pub fn read_msg<R: BufRead, T: for<'de> Deserialize<'de>>(r: &mut R) -> Result<T, WireError> {
    let mut line = String::new();
    if r.read_line(&mut line)? == 0 {
        return Err(WireError::Closed);
    }
    Ok(serde_json::from_str(line.trim_end())?)
}

/// Picks the version both ends speak: the highest in the overlap of the two ranges.
pub fn negotiate(their_min: u32, their_max: u32, our_min: u32, our_max: u32) -> Option<u32> {
    let hi = their_max.min(our_max);
    let lo = their_min.max(our_min);
    (lo <= hi).then_some(hi)
}

/// Encodes a message as a line (for async writers).
pub fn encode<T: Serialize>(msg: &T) -> Vec<u8> {
    let mut buf = serde_json::to_vec(msg).expect("protocol types always serialize");
    buf.push(b'\n');
    buf
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roundtrip_and_tags() {
        let req = Request::Kill { signal: 15, all: false };
        let line = String::from_utf8(encode(&req)).unwrap();
        assert_eq!(line, "{\"op\":\"kill\",\"signal\":15,\"all\":false}\n");
        let back: Request = read_msg(&mut line.as_bytes()).unwrap();
        assert_eq!(back, req);
        let ex = Response::Exited(ExitRecord {
            exit_code: 3,
            signal: None,
            finished_at: "2026-01-01T00:00:00.000000001Z".into(),
            pid: 42,
            oom_killed: false,
            unknown: false,
        });
        let mut out = Vec::new();
        write_msg(&mut out, &ex).unwrap();
        let back: Response = read_msg(&mut out.as_slice()).unwrap();
        assert_eq!(back, ex);
    }

    #[test]
    fn closed_and_malformed() {
        assert!(matches!(read_msg::<_, Request>(&mut &b""[..]), Err(WireError::Closed)));
        assert!(matches!(read_msg::<_, Request>(&mut &b"{\"op\":\"nope\"}\n"[..]), Err(WireError::Malformed(_))));
    }

    #[test]
    fn negotiation_picks_highest_common() {
        assert_eq!(negotiate(1, 3, 1, 2), Some(2));
        assert_eq!(negotiate(3, 7, 1, 2), None);
        assert_eq!(negotiate(1, 1, 1, 1), Some(1));
    }
}
