//! Reading container logs. The monitor is the only writer (Docker's json-file format, rotated as
//! `<file>`, `<file>.1`, …); the daemon only reads, so it can never block or lose a container's output.

use serde::Deserialize;
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Seek, SeekFrom};
use std::path::{Path, PathBuf};

/// One json-file record.
#[derive(Debug, Clone, Deserialize)]
pub struct LogLine {
    pub log: String,
    pub stream: String,
    pub time: String,
}

impl LogLine {
    pub fn time_nanos(&self) -> i64 {
        chrono::DateTime::parse_from_rfc3339(&self.time).map(|t| t.timestamp_nanos_opt().unwrap_or(0)).unwrap_or(0)
    }
}

/// Parses Docker's size strings (`10m`, `1g`, `512k`, plain bytes).
pub fn parse_size(s: &str) -> Option<u64> {
    let s = s.trim().to_ascii_lowercase();
    let (num, mult) = match s.trim_end_matches('b').chars().last()? {
        'k' => (&s[..s.trim_end_matches('b').len() - 1], 1024u64),
        'm' => (&s[..s.trim_end_matches('b').len() - 1], 1024 * 1024),
        'g' => (&s[..s.trim_end_matches('b').len() - 1], 1024 * 1024 * 1024),
        _ => (s.trim_end_matches('b'), 1),
    };
    let v: f64 = num.trim().parse().ok()?;
    (v >= 0.0).then_some((v * mult as f64) as u64)
}

/// Checks `log-opts` keys the json-file driver knows, with Docker's messages.
pub fn validate_log_opts(opts: &BTreeMap<String, String>) -> Result<(), String> {
    for (k, v) in opts {
        match k.as_str() {
            "max-size" => {
                parse_size(v).ok_or_else(|| format!("invalid value for log-opt max-size: {v}"))?;
            }
            "max-file" => {
                let n: u32 = v.parse().map_err(|_| format!("invalid value for log-opt max-file: {v}"))?;
                if n < 1 {
                    return Err("max-file cannot be less than 1".into());
                }
                // Without max-size nothing rotates and max-file has nothing to count, as on
                // dockerd, which accepts it so.
            }
            // Berth's monitor never blocks the container on its log (invariant): `non-blocking`
            // is what it does; `blocking`, dockerd's default, is accepted as the name of the
            // default, which here does not block either.
            "mode" => {
                if v != "blocking" && v != "non-blocking" {
                    return Err(format!("invalid value for log-opt mode: {v}"));
                }
            }
            "max-buffer-size" => {
                parse_size(v).ok_or_else(|| format!("invalid value for log-opt max-buffer-size: {v}"))?;
            }
            "labels" | "labels-regex" | "env" | "env-regex" | "tag" | "compress" => {
                return Err(format!("log-opt {k} is not supported by Berth"));
            }
            other => return Err(format!("unknown log opt '{other}' for json-file log driver")),
        }
    }
    Ok(())
}

/// Files of one container's log, oldest first.
pub fn log_files(path: &Path) -> Vec<PathBuf> {
    let mut rotated: Vec<(u32, PathBuf)> = Vec::new();
    for n in 1..1000u32 {
        let p = PathBuf::from(format!("{}.{n}", path.display()));
        if !p.exists() {
            break;
        }
        rotated.push((n, p));
    }
    rotated.sort_by_key(|r| std::cmp::Reverse(r.0));
    let mut v: Vec<PathBuf> = rotated.into_iter().map(|(_, p)| p).collect();
    if path.exists() {
        v.push(path.to_path_buf());
    }
    v
}

/// Which lines a `logs` request wants.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub stdout: bool,
    pub stderr: bool,
    pub since_nanos: Option<i64>,
    pub until_nanos: Option<i64>,
    /// Only the last N lines (`tail`), None = all.
    pub tail: Option<usize>,
}

impl Filter {
    pub fn wants(&self, l: &LogLine) -> bool {
        let stream_ok = (l.stream == "stdout" && self.stdout) || (l.stream == "stderr" && self.stderr);
        if !stream_ok {
            return false;
        }
        if self.since_nanos.is_none() && self.until_nanos.is_none() {
            return true;
        }
        let t = l.time_nanos();
        self.since_nanos.is_none_or(|s| t >= s) && self.until_nanos.is_none_or(|u| t <= u)
    }
}

/// Reads every stored line matching `f`; returns them with the position reached in the current file
/// (for `follow` to continue from).
pub fn read_all(path: &Path, f: &Filter) -> std::io::Result<(Vec<LogLine>, u64)> {
    if let Some(n) = f.tail {
        // `--tail N` of a long log: read the current file backwards instead of parsing it all.
        if let Some(found) = tail_of_current(path, f, n)? {
            return Ok(found);
        }
    }
    let mut out = Vec::new();
    let mut pos = 0;
    let files = log_files(path);
    for file in &files {
        let fh = std::fs::File::open(file)?;
        let mut r = BufReader::new(fh);
        let mut line = String::new();
        let mut read = 0u64;
        loop {
            line.clear();
            let n = r.read_line(&mut line)?;
            if n == 0 || !line.ends_with('\n') {
                break;
            }
            read += n as u64;
            if let Ok(l) = serde_json::from_str::<LogLine>(&line) {
                if f.wants(&l) {
                    out.push(l);
                }
            }
        }
        if file == path {
            pos = read;
        }
    }
    if let Some(n) = f.tail {
        if out.len() > n {
            out.drain(..out.len() - n);
        }
    }
    Ok((out, pos))
}

/// The last `n` lines matching `f` in the current file alone, read from its end, with the end of
/// its last complete line; None when the file holds fewer (older files must be read too).
fn tail_of_current(path: &Path, f: &Filter, n: usize) -> std::io::Result<Option<(Vec<LogLine>, u64)>> {
    use std::io::Read;
    const CHUNK: u64 = 64 * 1024;
    let mut fh = match std::fs::File::open(path) {
        Ok(fh) => fh,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let len = fh.metadata()?.len();
    let mut start = len;
    let mut tail: Vec<u8> = Vec::new();
    let mut end_of_complete: Option<u64> = None;
    let mut found: Vec<LogLine> = Vec::new();
    while start > 0 && found.len() < n {
        let from = start.saturating_sub(CHUNK);
        let mut chunk = vec![0u8; (start - from) as usize];
        fh.seek(SeekFrom::Start(from))?;
        fh.read_exact(&mut chunk)?;
        chunk.extend_from_slice(&tail);
        start = from;
        // Everything after the first newline of the chunk is made of whole lines (unless the chunk
        // starts the file, where the first line is whole too).
        let cut =
            if from == 0 { 0 } else { chunk.iter().position(|&b| b == b'\n').map(|i| i + 1).unwrap_or(chunk.len()) };
        let whole = &chunk[cut..];
        let last_nl = whole.iter().rposition(|&b| b == b'\n');
        if end_of_complete.is_none() {
            if let Some(i) = last_nl {
                end_of_complete = Some(start + cut as u64 + i as u64 + 1);
            }
        }
        found.clear();
        if let Some(i) = last_nl {
            for raw in whole[..=i].split(|&b| b == b'\n').rev() {
                if let Ok(l) = serde_json::from_slice::<LogLine>(raw) {
                    if f.wants(&l) {
                        found.push(l);
                        if found.len() == n {
                            break;
                        }
                    }
                }
            }
        }
        tail = chunk;
        if from == 0 || tail.len() > 4 << 20 {
            // Few lines match (a stream filter): the plain forward read is as good.
            break;
        }
    }
    if found.len() < n {
        return Ok(None);
    }
    found.reverse();
    Ok(Some((found, end_of_complete.unwrap_or(0))))
}

/// Follows the current log file from `pos`: returns complete new lines and the new position. When
/// the file was rotated (shorter than `pos`, or a different inode), reading restarts at 0.
pub struct Follower {
    path: PathBuf,
    pos: u64,
    ino: u64,
}

impl Follower {
    pub fn new(path: &Path, pos: u64) -> Self {
        use std::os::unix::fs::MetadataExt;
        let ino = std::fs::metadata(path).map(|m| m.ino()).unwrap_or(0);
        Follower { path: path.to_path_buf(), pos, ino }
    }

    pub fn poll(&mut self, f: &Filter) -> std::io::Result<Vec<LogLine>> {
        use std::os::unix::fs::MetadataExt;
        let meta = match std::fs::metadata(&self.path) {
            Ok(m) => m,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(vec![]),
            Err(e) => return Err(e),
        };
        let mut out = Vec::new();
        if meta.ino() != self.ino {
            // Rotated: finish the renamed file first, then start the new one from its beginning.
            let old = PathBuf::from(format!("{}.1", self.path.display()));
            if let Ok(m) = std::fs::metadata(&old) {
                if m.ino() == self.ino {
                    out.extend(read_from(&old, &mut self.pos, f)?);
                }
            }
            self.ino = meta.ino();
            self.pos = 0;
        } else if meta.len() < self.pos {
            self.pos = 0;
        }
        out.extend(read_from(&self.path, &mut self.pos, f)?);
        Ok(out)
    }
}

fn read_from(path: &Path, pos: &mut u64, f: &Filter) -> std::io::Result<Vec<LogLine>> {
    let mut fh = std::fs::File::open(path)?;
    fh.seek(SeekFrom::Start(*pos))?;
    let mut r = BufReader::new(fh);
    let mut out = Vec::new();
    let mut line = String::new();
    loop {
        line.clear();
        let n = r.read_line(&mut line)?;
        if n == 0 || !line.ends_with('\n') {
            break;
        }
        *pos += n as u64;
        if let Ok(l) = serde_json::from_str::<LogLine>(&line) {
            if f.wants(&l) {
                out.push(l);
            }
        }
    }
    Ok(out)
}

/// Docker's stream multiplexing: 1 byte stream (1 stdout, 2 stderr), 3 zero bytes, u32 BE length.
pub fn frame(stream: &str, payload: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(8 + payload.len());
    v.push(if stream == "stderr" { 2 } else { 1 });
    v.extend_from_slice(&[0, 0, 0]);
    v.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    v.extend_from_slice(payload);
    v
}

/// Parses `since`/`until` as Docker accepts them: unix seconds with optional fraction, or RFC 3339.
pub fn parse_time(s: &str) -> Option<i64> {
    if s.is_empty() || s == "0" {
        return None;
    }
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(s) {
        return t.timestamp_nanos_opt();
    }
    let (secs, frac) = s.split_once('.').unwrap_or((s, "0"));
    let secs: i64 = secs.parse().ok()?;
    let frac = format!("{:0<9}", &frac[..frac.len().min(9)]);
    Some(secs * 1_000_000_000 + frac.parse::<i64>().ok()?)
}

/// A log line as a client reads it: raw on a terminal, else a multiplexed frame.
pub fn encode(l: &LogLine, tty: bool, timestamps: bool) -> Vec<u8> {
    let payload = if timestamps { format!("{} {}", l.time, l.log).into_bytes() } else { l.log.clone().into_bytes() };
    if tty {
        payload
    } else {
        frame(&l.stream, &payload)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("10m"), Some(10 * 1024 * 1024));
        assert_eq!(parse_size("512k"), Some(512 * 1024));
        assert_eq!(parse_size("100"), Some(100));
        assert_eq!(parse_size("x"), None);
    }

    #[test]
    fn log_opts_validation() {
        let mut m = BTreeMap::new();
        m.insert("max-file".to_string(), "3".to_string());
        assert!(validate_log_opts(&m).is_ok(), "max-file alone rotates nothing, as on dockerd");
        m.insert("max-size".to_string(), "1m".to_string());
        assert!(validate_log_opts(&m).is_ok());
        m.insert("mode".to_string(), "sometimes".to_string());
        assert!(validate_log_opts(&m).unwrap_err().contains("mode"));
        m.insert("mode".to_string(), "non-blocking".to_string());
        assert!(validate_log_opts(&m).is_ok());
        let mut labels = m.clone();
        labels.insert("labels".to_string(), "a".to_string());
        assert!(validate_log_opts(&labels).unwrap_err().contains("labels is not supported by Berth"));
        m.insert("bogus".to_string(), "1".to_string());
        assert!(validate_log_opts(&m).unwrap_err().contains("bogus"));
    }

    #[test]
    fn frames_and_times() {
        assert_eq!(frame("stderr", b"hi"), vec![2, 0, 0, 0, 0, 0, 0, 2, b'h', b'i']);
        assert_eq!(parse_time("10.5"), Some(10_500_000_000));
        assert_eq!(parse_time("1970-01-01T00:00:01Z"), Some(1_000_000_000));
    }

    #[test]
    fn read_tail_and_follow() {
        let d = std::env::temp_dir().join(format!("berthd-logs-{}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        let p = d.join("c-json.log");
        let line =
            |i: u32| format!("{{\"log\":\"{i}\\n\",\"stream\":\"stdout\",\"time\":\"2026-01-01T00:00:0{i}Z\"}}\n");
        std::fs::write(format!("{}.1", p.display()), line(1)).unwrap();
        std::fs::write(&p, line(2) + &line(3) + "{\"partial").unwrap();
        let f = Filter { stdout: true, stderr: true, ..Default::default() };
        let (all, pos) = read_all(&p, &f).unwrap();
        assert_eq!(all.iter().map(|l| l.log.as_str()).collect::<Vec<_>>(), vec!["1\n", "2\n", "3\n"]);
        let (tail, _) = read_all(&p, &Filter { tail: Some(1), ..f.clone() }).unwrap();
        assert_eq!(tail.len(), 1);
        let mut fol = Follower::new(&p, pos);
        assert!(fol.poll(&f).unwrap().is_empty());
        std::fs::write(&p, line(2) + &line(3) + &line(4)).unwrap();
        assert_eq!(fol.poll(&f).unwrap()[0].log, "4\n");
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn tail_from_the_end_matches_a_full_read() {
        let dir = std::env::temp_dir().join(format!("berthd-tail-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("c-json.log");
        let mut text = String::new();
        for i in 0..20_000 {
            let stream = if i % 3 == 0 { "stderr" } else { "stdout" };
            text.push_str(&format!(
                "{{\"log\":\"line {i}\\n\",\"stream\":\"{stream}\",\"time\":\"2026-01-01T00:00:00.{i:09}Z\"}}\n"
            ));
        }
        text.push_str("{\"log\":\"partial");
        std::fs::write(&p, &text).unwrap();
        for (tail, stdout, stderr) in [(5, true, true), (1, true, false), (700, false, true), (50_000, true, true)] {
            let f = Filter { stdout, stderr, tail: Some(tail), ..Default::default() };
            let fast = read_all(&p, &f).unwrap();
            let all = Filter { stdout, stderr, ..Default::default() };
            let (mut slow, pos) = read_all(&p, &all).unwrap();
            if slow.len() > tail {
                slow.drain(..slow.len() - tail);
            }
            assert_eq!(
                fast.0.iter().map(|l| &l.log).collect::<Vec<_>>(),
                slow.iter().map(|l| &l.log).collect::<Vec<_>>(),
                "tail {tail}"
            );
            assert_eq!(fast.1, pos, "follow position, tail {tail}");
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}
