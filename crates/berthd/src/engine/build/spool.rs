//! The received (decompressed) context tar, kept for the time of one build: in anonymous memory
//! while the daemon's budget allows, in a file of the context's private directory past it. A
//! warm build reads back only its Dockerfile, so a context that never reaches a disk costs one
//! copy instead of a write through the filesystem, and nothing to unlink afterwards.
//!
//! Memory comes in blocks mapped on their own, never from the allocator's heap: they go back to
//! the kernel when the build ends, so a 50 MB context does not leave the daemon 50 MB bigger.

use memmap2::{MmapMut, MmapOptions};
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::unix::fs::FileExt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};

const BLOCK: usize = 8 << 20;

/// Context bytes all builds together may hold in memory; the rest of a context goes to its file.
/// Anonymous memory is not reclaimable as the page cache is: the bound keeps a big context, or
/// many builds at once, from costing the host more than a file would.
const BUDGET: u64 = 128 << 20;

static IN_MEMORY: AtomicU64 = AtomicU64::new(0);

fn reserve() -> bool {
    IN_MEMORY
        .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| (n + BLOCK as u64 <= BUDGET).then_some(n + BLOCK as u64))
        .is_ok()
}

pub(super) struct Spool {
    blocks: Vec<MmapMut>,
    /// Bytes in `blocks`: the stream's first bytes. Everything after them is in `file`.
    in_memory: u64,
    file: Option<File>,
    path: PathBuf,
    len: u64,
    /// This spool's own bound, below the daemon's (tests).
    max_blocks: usize,
}

impl Drop for Spool {
    fn drop(&mut self) {
        IN_MEMORY.fetch_sub(self.blocks.len() as u64 * BLOCK as u64, Ordering::AcqRel);
    }
}

impl Spool {
    /// A spool whose overflow, if any, goes to `path`.
    pub(super) fn new(path: PathBuf) -> Spool {
        Spool { blocks: Vec::new(), in_memory: 0, file: None, path, len: 0, max_blocks: usize::MAX }
    }

    pub(super) fn len(&self) -> u64 {
        self.len
    }

    /// Room at the end of the memory blocks, mapping a new one if the budget has it; `None` once
    /// the stream has gone to the file (it never comes back: offsets past memory are file offsets).
    fn memory_room(&mut self) -> Option<&mut [u8]> {
        if self.file.is_some() {
            return None;
        }
        let used = (self.in_memory % BLOCK as u64) as usize;
        if used == 0 && self.in_memory == self.blocks.len() as u64 * BLOCK as u64 {
            if self.blocks.len() >= self.max_blocks || !reserve() {
                return None;
            }
            match MmapOptions::new().len(BLOCK).map_anon() {
                Ok(m) => {
                    // Fewer faults for a big context; a refusal (THP off) changes nothing.
                    let _ = m.advise(memmap2::Advice::HugePage);
                    self.blocks.push(m);
                }
                Err(_) => {
                    IN_MEMORY.fetch_sub(BLOCK as u64, Ordering::AcqRel);
                    return None;
                }
            }
        }
        let last = self.blocks.last_mut()?;
        Some(&mut last[used..])
    }

    fn append(&mut self, mut data: &[u8]) -> io::Result<()> {
        self.len += data.len() as u64;
        while !data.is_empty() {
            match self.memory_room() {
                Some(room) => {
                    let n = room.len().min(data.len());
                    room[..n].copy_from_slice(&data[..n]);
                    self.in_memory += n as u64;
                    data = &data[n..];
                }
                None => {
                    if self.file.is_none() {
                        let f = std::fs::OpenOptions::new().read(true).write(true).create_new(true).open(&self.path)?;
                        self.file = Some(f);
                    }
                    return self.file.as_mut().expect("just made").write_all(data);
                }
            }
        }
        Ok(())
    }

    /// The bytes from `offset` on.
    pub(super) fn reader_at(&self, offset: u64) -> SpoolReader<'_> {
        SpoolReader { spool: self, pos: offset }
    }
}

impl Write for Spool {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.append(buf)?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

pub(super) struct SpoolReader<'a> {
    spool: &'a Spool,
    pos: u64,
}

impl Read for SpoolReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let s = self.spool;
        if self.pos >= s.len || buf.is_empty() {
            return Ok(0);
        }
        let n = if self.pos < s.in_memory {
            let (b, off) = ((self.pos / BLOCK as u64) as usize, (self.pos % BLOCK as u64) as usize);
            let avail = (BLOCK - off).min((s.in_memory - self.pos) as usize);
            let n = avail.min(buf.len());
            buf[..n].copy_from_slice(&s.blocks[b][off..off + n]);
            n
        } else {
            let f = s.file.as_ref().ok_or_else(|| io::Error::other("the build context spool lost its file"))?;
            f.read_at(buf, self.pos - s.in_memory)?
        };
        self.pos += n as u64;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pattern(n: usize) -> Vec<u8> {
        (0..n).map(|i| (i.wrapping_mul(2654435761) >> 13) as u8).collect()
    }

    #[test]
    fn reads_back_what_was_written_across_blocks_and_into_the_file() {
        let dir = std::env::temp_dir().join(format!("berth-spool-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let data = pattern(BLOCK * 2 + 12345);
        let mut s = Spool::new(dir.join("a.tar"));
        for piece in data.chunks(777_777) {
            s.write_all(piece).unwrap();
        }
        assert_eq!(s.len(), data.len() as u64);
        let mut back = Vec::new();
        s.reader_at(0).read_to_end(&mut back).unwrap();
        assert!(back == data, "all of it, in order");
        let mut mid = vec![0; 100];
        s.reader_at(BLOCK as u64 - 50).read_exact(&mut mid).unwrap();
        assert_eq!(mid, data[BLOCK - 50..BLOCK + 50], "a read across a block edge");

        // Past the memory it may have, a spool goes on in its file, and stays there.
        let mut s = Spool::new(dir.join("b.tar"));
        s.max_blocks = 1;
        for piece in data.chunks(1 << 20) {
            s.write_all(piece).unwrap();
        }
        assert_eq!((s.blocks.len(), s.in_memory), (1, BLOCK as u64));
        assert_eq!(std::fs::metadata(dir.join("b.tar")).unwrap().len(), (data.len() - BLOCK) as u64);
        let mut back = Vec::new();
        s.reader_at(5).read_to_end(&mut back).unwrap();
        assert!(back == data[5..], "memory then file, in order");
        let mut edge = vec![0; 64];
        s.reader_at(BLOCK as u64 - 32).read_exact(&mut edge).unwrap();
        assert_eq!(edge, data[BLOCK - 32..BLOCK + 32]);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
