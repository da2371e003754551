//! Docker's json-file log format, written by the monitor itself so that no byte depends on the
//! daemon being alive (invariant 2).
//!
//! One entry per line of output: `{"log":"<line incl. \n>","stream":"stdout","time":"<RFC3339>"}`.
//! A line longer than [`MAX_PARTIAL`] is cut into entries without the trailing `\n`, as Docker's
//! copier does; a trailing partial line is written when its stream reaches EOF.

use berth_proto::LogConfig;
use std::ffi::OsString;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// Docker's json-file mode: the root group may read a log, no one else (it holds what the
/// container prints).
const LOG_MODE: u32 = berth_proto::fsutil::modes::LOG_FILE;

/// Docker's copier buffer: a line without newline is flushed once it reaches this size.
pub const MAX_PARTIAL: usize = 16 * 1024;
/// Entries are batched and written with one write(2); above this the batch is written at once, which
/// bounds the monitor's memory whatever the container prints.
const BATCH_LIMIT: usize = 32 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    Stdout = 0,
    Stderr = 1,
}

impl Stream {
    fn name(self) -> &'static str {
        match self {
            Stream::Stdout => "stdout",
            Stream::Stderr => "stderr",
        }
    }
}

pub struct JsonLog {
    path: PathBuf,
    max_size: u64,
    max_file: u32,
    file: Option<File>,
    /// Bytes in the current file, including what has been written of this batch.
    size: u64,
    batch: Vec<u8>,
    partial: [Vec<u8>; 2],
}

impl JsonLog {
    pub fn open(cfg: &LogConfig) -> io::Result<Self> {
        let mut log = JsonLog {
            path: cfg.path.clone(),
            max_size: cfg.max_size,
            max_file: cfg.max_file.max(1),
            file: None,
            size: 0,
            batch: Vec::with_capacity(BATCH_LIMIT + 1024),
            partial: [Vec::new(), Vec::new()],
        };
        log.reopen()?;
        Ok(log)
    }

    /// Re-opens the file at the configured path (after someone else moved or removed it).
    pub fn reopen(&mut self) -> io::Result<()> {
        self.flush();
        if let Some(dir) = self.path.parent() {
            fs::create_dir_all(dir)?;
        }
        let f = OpenOptions::new().create(true).append(true).mode(LOG_MODE).open(&self.path)?;
        self.size = f.metadata()?.len();
        self.file = Some(f);
        Ok(())
    }

    /// Splits `data` into lines and queues one entry per line, all stamped `time`.
    pub fn feed(&mut self, stream: Stream, mut data: &[u8], time: &str) {
        let s = stream as usize;
        while let Some(i) = memchr::memchr(b'\n', data) {
            let (line, rest) = data.split_at(i + 1);
            if self.partial[s].is_empty() {
                self.entry(stream, line, time);
            } else {
                let mut p = std::mem::take(&mut self.partial[s]);
                p.extend_from_slice(line);
                self.entry(stream, &p, time);
                p.clear();
                self.partial[s] = p;
            }
            data = rest;
        }
        if data.is_empty() {
            return;
        }
        let mut p = std::mem::take(&mut self.partial[s]);
        p.extend_from_slice(data);
        let mut start = 0;
        while p.len() - start >= MAX_PARTIAL {
            self.entry(stream, &p[start..start + MAX_PARTIAL], time);
            start += MAX_PARTIAL;
        }
        p.drain(..start);
        if p.capacity() > 2 * MAX_PARTIAL {
            p.shrink_to(MAX_PARTIAL);
        }
        self.partial[s] = p;
    }

    /// The stream reached EOF: its unterminated last line becomes an entry of its own.
    pub fn end_stream(&mut self, stream: Stream, time: &str) {
        let p = std::mem::take(&mut self.partial[stream as usize]);
        if !p.is_empty() {
            self.entry(stream, &p, time);
        }
    }

    /// Writes the queued entries with one write(2). Never fsyncs: the data is in the page cache the
    /// moment write returns, which survives any process dying, the daemon included. A failed write
    /// drops the batch (and says so) rather than stalling the container behind a full disk.
    pub fn flush(&mut self) {
        if self.batch.is_empty() {
            return;
        }
        let res = match self.file.as_mut() {
            Some(f) => f.write_all(&self.batch),
            None => Err(io::Error::other("log file is not open")),
        };
        match res {
            Ok(()) => self.size += self.batch.len() as u64,
            Err(e) => crate::diag!("log {}: dropped {} bytes: {e}", self.path.display(), self.batch.len()),
        }
        self.batch.clear();
        if self.batch.capacity() > 4 * BATCH_LIMIT {
            self.batch.shrink_to(BATCH_LIMIT + 1024);
        }
    }

    fn entry(&mut self, stream: Stream, line: &[u8], time: &str) {
        // Docker checks the size before each write and rotates once the file has reached max-size.
        if self.max_size > 0 && self.size + self.batch.len() as u64 >= self.max_size {
            self.flush();
            if let Err(e) = self.rotate() {
                crate::diag!("log rotation of {} failed: {e}", self.path.display());
            }
        }
        self.batch.extend_from_slice(b"{\"log\":\"");
        escape_into(&mut self.batch, line);
        self.batch.extend_from_slice(b"\",\"stream\":\"");
        self.batch.extend_from_slice(stream.name().as_bytes());
        self.batch.extend_from_slice(b"\",\"time\":\"");
        self.batch.extend_from_slice(time.as_bytes());
        self.batch.extend_from_slice(b"\"}\n");
        if self.batch.len() >= BATCH_LIMIT {
            self.flush();
        }
    }

    /// Docker's json-file rotation: `path` → `path.1` → … → `path.<max_file-1>`; with max-file 1
    /// the file is truncated in place.
    fn rotate(&mut self) -> io::Result<()> {
        if self.max_file < 2 {
            if let Some(f) = &self.file {
                f.set_len(0)?;
            }
            self.size = 0;
            return Ok(());
        }
        for i in (1..self.max_file - 1).rev() {
            match fs::rename(rotated(&self.path, i), rotated(&self.path, i + 1)) {
                Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
                _ => {}
            }
        }
        fs::rename(&self.path, rotated(&self.path, 1))?;
        self.file = None;
        let f = OpenOptions::new().create(true).append(true).mode(LOG_MODE).open(&self.path)?;
        self.size = f.metadata()?.len();
        self.file = Some(f);
        Ok(())
    }
}

/// `<path>.<n>`
pub fn rotated(path: &Path, n: u32) -> PathBuf {
    let mut s = OsString::from(path.as_os_str());
    s.push(format!(".{n}"));
    PathBuf::from(s)
}

/// JSON string escaping as Go's encoding/json does it (Docker's readers expect nothing else):
/// invalid UTF-8 becomes U+FFFD, `<>&` and U+2028/2029 are \u-escaped.
fn escape_into(out: &mut Vec<u8>, bytes: &[u8]) {
    let s = String::from_utf8_lossy(bytes);
    let mut buf = [0u8; 4];
    for c in s.chars() {
        match c {
            '"' => out.extend_from_slice(b"\\\""),
            '\\' => out.extend_from_slice(b"\\\\"),
            '\n' => out.extend_from_slice(b"\\n"),
            '\r' => out.extend_from_slice(b"\\r"),
            '\t' => out.extend_from_slice(b"\\t"),
            c if (c as u32) < 0x20 || matches!(c, '<' | '>' | '&' | '\u{2028}' | '\u{2029}') => {
                out.extend_from_slice(format!("\\u{:04x}", c as u32).as_bytes())
            }
            c if c.is_ascii() => out.push(c as u8),
            c => out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct TmpDir(PathBuf);
    impl TmpDir {
        fn new(tag: &str) -> Self {
            let p = std::env::temp_dir().join(format!(
                "berth-shim-log-{tag}-{}-{:?}",
                std::process::id(),
                std::time::SystemTime::now()
            ));
            fs::create_dir_all(&p).unwrap();
            TmpDir(p)
        }
    }
    impl Drop for TmpDir {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    fn entries(path: &Path) -> Vec<serde_json::Value> {
        fs::read_to_string(path).unwrap_or_default().lines().map(|l| serde_json::from_str(l).unwrap()).collect()
    }

    fn cfg(dir: &Path, max_size: u64, max_file: u32) -> LogConfig {
        LogConfig { path: dir.join("c-json.log"), max_size, max_file }
    }

    #[test]
    fn lines_split_across_reads_and_partials() {
        let d = TmpDir::new("split");
        let c = cfg(&d.0, 0, 1);
        let mut log = JsonLog::open(&c).unwrap();
        log.feed(Stream::Stdout, b"hel", "T1");
        log.feed(Stream::Stderr, b"err <&>\n", "T2");
        log.feed(Stream::Stdout, b"lo\nworld\n\"q\"\tx\x01\xff", "T3");
        log.flush();
        log.end_stream(Stream::Stdout, "T4");
        log.flush();
        let e = entries(&c.path);
        let got: Vec<(&str, &str, &str)> = e
            .iter()
            .map(|v| (v["log"].as_str().unwrap(), v["stream"].as_str().unwrap(), v["time"].as_str().unwrap()))
            .collect();
        assert_eq!(
            got,
            vec![
                ("err <&>\n", "stderr", "T2"),
                ("hello\n", "stdout", "T3"),
                ("world\n", "stdout", "T3"),
                ("\"q\"\tx\u{1}\u{fffd}", "stdout", "T4"),
            ]
        );
        let raw = fs::read_to_string(&c.path).unwrap();
        assert!(raw.contains(r#""log":"err \u003c\u0026\u003e\n""#), "{raw}");
    }

    #[test]
    fn long_line_is_cut_at_16k() {
        let d = TmpDir::new("long");
        let c = cfg(&d.0, 0, 1);
        let mut log = JsonLog::open(&c).unwrap();
        let long = vec![b'a'; MAX_PARTIAL * 2 + 10];
        log.feed(Stream::Stdout, &long, "T");
        log.feed(Stream::Stdout, b"b\n", "T");
        log.flush();
        let e = entries(&c.path);
        let lens: Vec<usize> = e.iter().map(|v| v["log"].as_str().unwrap().len()).collect();
        assert_eq!(lens, vec![MAX_PARTIAL, MAX_PARTIAL, 12]);
        assert!(e[2]["log"].as_str().unwrap().ends_with("ab\n"));
    }

    #[test]
    fn rotation_keeps_max_file_files_in_order() {
        let d = TmpDir::new("rotate");
        let c = cfg(&d.0, 300, 3);
        let mut log = JsonLog::open(&c).unwrap();
        for i in 0..40 {
            log.feed(Stream::Stdout, format!("line {i:03}\n").as_bytes(), "2026-01-01T00:00:00.000000000Z");
        }
        log.flush();
        assert!(!rotated(&c.path, 3).exists(), "max_file=3 keeps only path, .1, .2");
        let (e2, e1, e0) = (entries(&rotated(&c.path, 2)), entries(&rotated(&c.path, 1)), entries(&c.path));
        for f in [&c.path, &rotated(&c.path, 1), &rotated(&c.path, 2)] {
            let len = fs::metadata(f).unwrap().len();
            // One entry may overshoot max-size, as in Docker (the check happens before each write).
            assert!(len < 300 + 100, "{} is {len} bytes", f.display());
        }
        let all: Vec<String> =
            e2.iter().chain(&e1).chain(&e0).map(|v| v["log"].as_str().unwrap().to_string()).collect();
        let n = all.len();
        let expect: Vec<String> = (40 - n..40).map(|i| format!("line {i:03}\n")).collect();
        assert_eq!(all, expect, "the newest entries survive, contiguous and in order");
        assert!(n < 40 && !e2.is_empty());
    }

    #[test]
    fn max_file_one_truncates_and_reopen_follows_the_path() {
        let d = TmpDir::new("trunc");
        let c = cfg(&d.0, 200, 1);
        let mut log = JsonLog::open(&c).unwrap();
        for i in 0..20 {
            log.feed(Stream::Stdout, format!("l{i}\n").as_bytes(), "T");
        }
        log.flush();
        assert!(!rotated(&c.path, 1).exists());
        assert!(fs::metadata(&c.path).unwrap().len() < 300);
        assert_eq!(entries(&c.path).last().unwrap()["log"], "l19\n");
        fs::rename(&c.path, d.0.join("moved")).unwrap();
        log.reopen().unwrap();
        log.feed(Stream::Stdout, b"after\n", "T");
        log.flush();
        assert_eq!(entries(&c.path).len(), 1);
    }
}
