//! A small blocking HTTP/1.1 client over the daemon's unix socket: plain requests, streamed
//! (chunked) responses for `logs -f`, and hijacked connections for attach.

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream;

pub struct Client {
    pub socket: String,
}

pub struct Response {
    pub status: u16,
    reader: BufReader<UnixStream>,
    chunked: bool,
    remaining: Option<u64>,
    chunk_left: u64,
    done: bool,
}

/// A daemon error in Docker's shape, or a transport failure.
#[derive(Debug)]
pub struct ApiError {
    pub status: u16,
    pub message: String,
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.message)
    }
}
impl std::error::Error for ApiError {}

fn enc(s: &str) -> String {
    let mut o = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            o.push(b as char);
        } else {
            o.push_str(&format!("%{b:02X}"));
        }
    }
    o
}

/// Builds a query string from pairs, percent-encoded.
pub fn query(pairs: &[(&str, String)]) -> String {
    let q: Vec<String> = pairs.iter().map(|(k, v)| format!("{}={}", enc(k), enc(v))).collect();
    if q.is_empty() {
        String::new()
    } else {
        format!("?{}", q.join("&"))
    }
}

impl Client {
    fn connect(&self) -> Result<UnixStream, ApiError> {
        UnixStream::connect(&self.socket).map_err(|e| ApiError {
            status: 0,
            message: format!(
                "Cannot connect to the Berth daemon at unix://{}. Is the daemon running? ({e})",
                self.socket
            ),
        })
    }

    /// Sends a request; returns the response with its body unread.
    pub fn send(&self, method: &str, path: &str, body: Option<&[u8]>, upgrade: bool) -> Result<Response, ApiError> {
        self.send_with(method, path, body, upgrade, &[])
    }

    /// [`Client::send`] with extra request headers (`X-Registry-Auth`).
    pub fn send_with(
        &self,
        method: &str,
        path: &str,
        body: Option<&[u8]>,
        upgrade: bool,
        extra: &[(&str, String)],
    ) -> Result<Response, ApiError> {
        let mut s = self.connect()?;
        let mut head = format!(
            "{method} /v{}{path} HTTP/1.1\r\nHost: berth\r\nUser-Agent: berth-cli/{}\r\n",
            berth_api::API_VERSION,
            env!("CARGO_PKG_VERSION")
        );
        for (k, v) in extra {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
        if upgrade {
            head.push_str("Connection: Upgrade\r\nUpgrade: tcp\r\n");
        } else {
            head.push_str("Connection: close\r\n");
        }
        if let Some(b) = body {
            head.push_str(&format!("Content-Type: application/json\r\nContent-Length: {}\r\n", b.len()));
        } else if method == "POST" {
            head.push_str("Content-Length: 0\r\n");
        }
        head.push_str("\r\n");
        let io = |e: std::io::Error| ApiError { status: 0, message: format!("talking to the daemon: {e}") };
        s.write_all(head.as_bytes()).map_err(io)?;
        if let Some(b) = body {
            s.write_all(b).map_err(io)?;
        }
        let mut r = BufReader::new(s);
        let mut line = String::new();
        r.read_line(&mut line).map_err(io)?;
        let status: u16 = line.split_whitespace().nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
        let mut headers = Vec::new();
        loop {
            line.clear();
            r.read_line(&mut line).map_err(io)?;
            let l = line.trim_end();
            if l.is_empty() {
                break;
            }
            if let Some((k, v)) = l.split_once(':') {
                headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
            }
        }
        let get = |k: &str| headers.iter().find(|(h, _)| h == k).map(|(_, v)| v.clone());
        let chunked = get("transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked"));
        let remaining = if status == 101 { None } else { get("content-length").and_then(|v| v.parse().ok()) };
        Ok(Response { status, reader: r, chunked, remaining, chunk_left: 0, done: false })
    }

    /// A request whose whole body is wanted; non-2xx statuses become errors with the daemon's message.
    pub fn call(&self, method: &str, path: &str, body: Option<&serde_json::Value>) -> Result<(u16, Vec<u8>), ApiError> {
        let b = body.map(|v| serde_json::to_vec(v).expect("json"));
        let mut r = self.send(method, path, b.as_deref(), false)?;
        let mut out = Vec::new();
        r.read_to_end(&mut out).map_err(|e| ApiError { status: 0, message: e.to_string() })?;
        if r.status >= 400 {
            let message = serde_json::from_slice::<serde_json::Value>(&out)
                .ok()
                .and_then(|v| v["message"].as_str().map(String::from))
                .unwrap_or_else(|| String::from_utf8_lossy(&out).trim().to_string());
            return Err(ApiError { status: r.status, message });
        }
        Ok((r.status, out))
    }

    pub fn json(
        &self,
        method: &str,
        path: &str,
        body: Option<&serde_json::Value>,
    ) -> Result<serde_json::Value, ApiError> {
        let (_, b) = self.call(method, path, body)?;
        if b.is_empty() {
            return Ok(serde_json::Value::Null);
        }
        serde_json::from_slice(&b)
            .map_err(|e| ApiError { status: 0, message: format!("bad answer from the daemon: {e}") })
    }
}

impl Response {
    /// The connection itself, to write to a hijacked (attach) stream.
    pub fn socket(&self) -> std::io::Result<UnixStream> {
        self.reader.get_ref().try_clone()
    }

    /// Turns an error status into the daemon's message.
    pub fn check(mut self) -> Result<Self, ApiError> {
        if self.status >= 400 {
            let mut out = Vec::new();
            let _ = self.read_to_end(&mut out);
            let message = serde_json::from_slice::<serde_json::Value>(&out)
                .ok()
                .and_then(|v| v["message"].as_str().map(String::from))
                .unwrap_or_else(|| String::from_utf8_lossy(&out).trim().to_string());
            return Err(ApiError { status: self.status, message });
        }
        Ok(self)
    }
}

impl Read for Response {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.done {
            return Ok(0);
        }
        if self.chunked {
            if self.chunk_left == 0 {
                let mut line = String::new();
                self.reader.read_line(&mut line)?;
                if line.trim().is_empty() {
                    line.clear();
                    self.reader.read_line(&mut line)?;
                }
                let size = u64::from_str_radix(line.trim().split(';').next().unwrap_or("0"), 16).unwrap_or(0);
                if size == 0 {
                    self.done = true;
                    return Ok(0);
                }
                self.chunk_left = size;
            }
            let want = self.chunk_left.min(buf.len() as u64) as usize;
            let n = self.reader.read(&mut buf[..want])?;
            if n == 0 {
                self.done = true;
            }
            self.chunk_left -= n as u64;
            return Ok(n);
        }
        match self.remaining {
            Some(0) => {
                self.done = true;
                Ok(0)
            }
            Some(left) => {
                let want = left.min(buf.len() as u64) as usize;
                let n = self.reader.read(&mut buf[..want])?;
                if n == 0 {
                    self.done = true;
                }
                self.remaining = Some(left - n as u64);
                Ok(n)
            }
            None => self.reader.read(buf),
        }
    }
}

/// Reads Docker's multiplexed stream (8-byte headers) or a raw stream, writing each frame to the
/// right output as it arrives.
pub fn copy_stream(r: &mut impl Read, raw: bool, out: &mut impl Write, err: &mut impl Write) -> std::io::Result<()> {
    if raw {
        let mut buf = [0u8; 32 * 1024];
        loop {
            let n = r.read(&mut buf)?;
            if n == 0 {
                return Ok(());
            }
            out.write_all(&buf[..n])?;
            out.flush()?;
        }
    }
    let mut hdr = [0u8; 8];
    loop {
        if !read_exact_or_eof(r, &mut hdr)? {
            return Ok(());
        }
        let len = u32::from_be_bytes([hdr[4], hdr[5], hdr[6], hdr[7]]) as usize;
        let mut payload = vec![0u8; len];
        if !read_exact_or_eof(r, &mut payload)? {
            return Ok(());
        }
        if hdr[0] == 2 {
            err.write_all(&payload)?;
            err.flush()?;
        } else {
            out.write_all(&payload)?;
            out.flush()?;
        }
    }
}

fn read_exact_or_eof(r: &mut impl Read, buf: &mut [u8]) -> std::io::Result<bool> {
    let mut got = 0;
    while got < buf.len() {
        let n = r.read(&mut buf[got..])?;
        if n == 0 {
            return Ok(false);
        }
        got += n;
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    #[test]
    fn demux_frames() {
        let mut data = vec![1, 0, 0, 0, 0, 0, 0, 3];
        data.extend_from_slice(b"out");
        data.extend_from_slice(&[2, 0, 0, 0, 0, 0, 0, 3]);
        data.extend_from_slice(b"err");
        let (mut o, mut e) = (Vec::new(), Vec::new());
        super::copy_stream(&mut data.as_slice(), false, &mut o, &mut e).unwrap();
        assert_eq!((o.as_slice(), e.as_slice()), (&b"out"[..], &b"err"[..]));
        assert_eq!(super::query(&[("a", "x y".into()), ("f", "{\"k\":1}".into())]), "?a=x%20y&f=%7B%22k%22%3A1%7D");
    }
}
