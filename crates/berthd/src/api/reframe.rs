//! Reshapes an output stream between Docker's two forms: raw bytes (a terminal) and the
//! multiplexed frames (8-byte header: stream, 0, 0, 0, big-endian length). The monitor sends an
//! exec's output in the form its *create* call chose (a terminal or not); dockerd frames what it
//! sends by the `Tty` of the *start* call, so a client may ask for either form of either.

/// What to do to the monitor's bytes on the way to the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reframe {
    /// Already in the form the client asked for.
    Keep,
    /// Raw terminal bytes to a client that reads frames: all of it is stdout.
    Frame,
    /// Frames to a client that reads raw bytes: the payloads, in order.
    Unframe,
    /// Frames, of the streams the client attached to only (`stdout`/`stderr` of an attach).
    Select { stdout: bool, stderr: bool },
    /// Nothing: the client attached to no output stream (`stdin=1` alone, as docker-compose's
    /// dockerpty does, one socket per stream).
    Drop,
}

impl Reframe {
    /// From whether the monitor sends raw bytes and whether the client wants them.
    pub fn between(monitor_raw: bool, client_raw: bool) -> Reframe {
        match (monitor_raw, client_raw) {
            (true, false) => Reframe::Frame,
            (false, true) => Reframe::Unframe,
            _ => Reframe::Keep,
        }
    }
}

/// Turns frames back into their payloads across reads that split headers and payloads anywhere.
#[derive(Debug, Default)]
pub struct Unframer {
    header: Vec<u8>,
    left: usize,
    /// [`Self::select`]: whether the frame being read is passed on.
    keeping: bool,
}

impl Unframer {
    /// Passes on, whole, the frames whose stream (1 stdout, 2 stderr) `keep` says.
    pub fn select(&mut self, mut input: &[u8], keep: impl Fn(u8) -> bool, out: &mut Vec<u8>) {
        while !input.is_empty() {
            if self.left > 0 {
                let n = self.left.min(input.len());
                if self.keeping {
                    out.extend_from_slice(&input[..n]);
                }
                self.left -= n;
                input = &input[n..];
                continue;
            }
            let n = (8 - self.header.len()).min(input.len());
            self.header.extend_from_slice(&input[..n]);
            input = &input[n..];
            if self.header.len() == 8 {
                self.left =
                    u32::from_be_bytes([self.header[4], self.header[5], self.header[6], self.header[7]]) as usize;
                self.keeping = keep(self.header[0]);
                if self.keeping {
                    out.extend_from_slice(&self.header);
                }
                self.header.clear();
            }
        }
    }

    pub fn feed(&mut self, mut input: &[u8], out: &mut Vec<u8>) {
        while !input.is_empty() {
            if self.left > 0 {
                let n = self.left.min(input.len());
                out.extend_from_slice(&input[..n]);
                self.left -= n;
                input = &input[n..];
                continue;
            }
            let need = 8 - self.header.len();
            let n = need.min(input.len());
            self.header.extend_from_slice(&input[..n]);
            input = &input[n..];
            if self.header.len() == 8 {
                self.left =
                    u32::from_be_bytes([self.header[4], self.header[5], self.header[6], self.header[7]]) as usize;
                self.header.clear();
            }
        }
    }
}

/// Applies `how` to one chunk read from the monitor.
pub fn apply(how: Reframe, unframer: &mut Unframer, chunk: &[u8]) -> Vec<u8> {
    match how {
        Reframe::Keep => chunk.to_vec(),
        Reframe::Frame => crate::logs::frame("stdout", chunk),
        Reframe::Unframe => {
            let mut out = Vec::with_capacity(chunk.len());
            unframer.feed(chunk, &mut out);
            out
        }
        Reframe::Select { stdout, stderr } => {
            let mut out = Vec::with_capacity(chunk.len());
            unframer.select(chunk, |s| (s == 1 && stdout) || (s == 2 && stderr), &mut out);
            out
        }
        Reframe::Drop => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_split_anywhere_come_back_whole() {
        let mut wire = crate::logs::frame("stdout", b"hello out\n");
        wire.extend(crate::logs::frame("stderr", b"hello err\n"));
        for cut in 0..wire.len() {
            let mut u = Unframer::default();
            let mut out = Vec::new();
            u.feed(&wire[..cut], &mut out);
            u.feed(&wire[cut..], &mut out);
            assert_eq!(out, b"hello out\nhello err\n", "cut at {cut}");
        }
    }

    #[test]
    fn only_the_streams_attached_to_pass_split_anywhere() {
        let mut wire = crate::logs::frame("stdout", b"out\n");
        wire.extend(crate::logs::frame("stderr", b"err\n"));
        wire.extend(crate::logs::frame("stdout", b"out2\n"));
        for cut in 0..wire.len() {
            let mut u = Unframer::default();
            let how = Reframe::Select { stdout: false, stderr: true };
            let mut out = apply(how, &mut u, &wire[..cut]);
            out.extend(apply(how, &mut u, &wire[cut..]));
            assert_eq!(out, crate::logs::frame("stderr", b"err\n"), "cut at {cut}");
        }
        assert!(apply(Reframe::Drop, &mut Unframer::default(), &wire).is_empty());
    }

    #[test]
    fn raw_bytes_become_one_stdout_frame() {
        let mut u = Unframer::default();
        assert_eq!(apply(Reframe::Frame, &mut u, b"hi\r\n"), [1, 0, 0, 0, 0, 0, 0, 4, b'h', b'i', b'\r', b'\n']);
        assert_eq!(apply(Reframe::Keep, &mut u, b"hi"), b"hi");
        assert_eq!(Reframe::between(true, true), Reframe::Keep);
        assert_eq!(Reframe::between(false, false), Reframe::Keep);
    }
}
