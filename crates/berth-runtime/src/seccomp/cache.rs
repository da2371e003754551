//! Compiled filters kept on the host, one file per distinct filter: `<root>/@seccomp/<key>.bpf`.
//!
//! Every container of a daemon gets the same resolved default profile, and libseccomp takes
//! milliseconds to build its program from the rules; the program read back costs microseconds.
//! The key is the sha256 of the filter in canonical form (plus this compiler's and libseccomp's
//! versions, which shape the program). A file holds the program and a sha256 over the key and
//! the program, so a truncated, corrupted or misnamed file (another filter's program under this
//! filter's name) is recompiled, never loaded. So is one not owned by this user or writable by
//! others: whoever can write it chooses what every new container may call.

use anyhow::{bail, Context, Result};
use oci_spec::runtime::{LinuxSeccomp, LinuxSeccompArgBuilder, LinuxSeccompOperator};
use sha2::{Digest, Sha256};
use std::io::{Read, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use berth_sys::seccomp::{INSN_LEN, MAX_INSNS};

/// Bump when the compile changes the program for the same filter.
const SCHEME: &str = "berth-runtime seccomp bpf v1";
const TRAILER: usize = 32;

/// How a program was obtained (for the log and the tests).
#[derive(Debug, PartialEq, Eq)]
pub enum Source {
    Cached,
    Compiled,
}

/// The filter with its operands in one spelling: a masked comparison always has its datum
/// (absent means 0), the others never use `valueTwo`. Equal filters get equal keys.
pub fn normalize(seccomp: &LinuxSeccomp) -> LinuxSeccomp {
    let mut s = seccomp.clone();
    if let Some(rules) = s.syscalls().clone() {
        let rules = rules
            .into_iter()
            .map(|mut r| {
                if let Some(args) = r.args().clone() {
                    let args = args.into_iter().map(|a| {
                        let b = LinuxSeccompArgBuilder::default().index(a.index()).value(a.value()).op(a.op());
                        match a.op() {
                            LinuxSeccompOperator::ScmpCmpMaskedEq => b.value_two(a.value_two().unwrap_or(0)),
                            _ => b,
                        }
                        .build()
                        .expect("every field of a seccomp argument is set")
                    });
                    let args = args.collect();
                    r.set_args(Some(args));
                }
                r
            })
            .collect();
        s.set_syscalls(Some(rules));
    }
    s
}

/// The cache key of a normalized filter.
pub fn key(normalized: &LinuxSeccomp) -> Result<String> {
    let lib =
        libseccomp::ScmpVersion::current().map(|v| format!("{}.{}.{}", v.major, v.minor, v.micro)).unwrap_or_default();
    let mut h = Sha256::new();
    h.update(format!("{SCHEME}\nlibseccomp {lib}\n"));
    h.update(serde_json::to_vec(normalized).context("serializing the seccomp filter")?);
    Ok(hex(&h.finalize()))
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn trailer(key: &str, program: &[u8]) -> [u8; TRAILER] {
    let mut h = Sha256::new();
    h.update(key.as_bytes());
    h.update(program);
    h.finalize().into()
}

/// `@` is no character of a container id, so no container's directory can take this name.
pub fn dir(root: &Path) -> PathBuf {
    root.join("@seccomp")
}

pub fn path(root: &Path, key: &str) -> PathBuf {
    dir(root).join(format!("{key}.bpf"))
}

/// The program of `normalized` (keyed `key`), from the cache or compiled into it.
pub fn program(root: &Path, normalized: &LinuxSeccomp, key: &str) -> Result<(Vec<u8>, Source)> {
    let dir = dir(root);
    ensure_dir(&dir)?;
    let file = path(root, key);
    match read(&file, key) {
        Ok(Some(p)) => return Ok((p, Source::Cached)),
        Ok(None) => {}
        Err(why) => tracing::warn!("seccomp cache {}: {why}; compiling again", file.display()),
    }
    let tmp = dir.join(format!(".{key}.{}.tmp", std::process::id()));
    let _ = std::fs::remove_file(&tmp);
    let written = (|| -> Result<Vec<u8>> {
        let mut f = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW)
            .open(&tmp)
            .with_context(|| format!("creating {}", tmp.display()))?;
        let program = super::compile::compile(normalized, &mut f)?;
        check_len(program.len())?;
        f.write_all(&trailer(key, &program))?;
        f.set_permissions(std::fs::Permissions::from_mode(0o600))?;
        std::fs::rename(&tmp, &file).with_context(|| format!("replacing {}", file.display()))?;
        Ok(program)
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    Ok((written?, Source::Compiled))
}

fn ensure_dir(dir: &Path) -> Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    match std::fs::DirBuilder::new().mode(0o700).create(dir) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(e).with_context(|| format!("creating {}", dir.display())),
    }
    let m = std::fs::symlink_metadata(dir).with_context(|| format!("{}", dir.display()))?;
    if !m.is_dir() || m.uid() != nix::unistd::geteuid().as_raw() || m.mode() & 0o022 != 0 {
        bail!("{} must be a directory owned by this user and writable by no one else", dir.display());
    }
    Ok(())
}

fn check_len(program: usize) -> Result<()> {
    let insns = program / INSN_LEN;
    if !program.is_multiple_of(INSN_LEN) || insns == 0 || insns > MAX_INSNS {
        bail!("a program of {program} bytes is no BPF program the kernel takes");
    }
    Ok(())
}

/// The cached program, None when there is none; an error says why a file is not trusted.
fn read(file: &Path, key: &str) -> Result<Option<Vec<u8>>> {
    let mut f =
        match std::fs::OpenOptions::new().read(true).custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK).open(file) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => bail!("cannot open it: {e}"),
        };
    let m = f.metadata()?;
    if !m.is_file() {
        bail!("not a regular file");
    }
    if m.uid() != nix::unistd::geteuid().as_raw() {
        bail!("owned by uid {}, not by this user", m.uid());
    }
    if m.mode() & 0o022 != 0 {
        bail!("mode {:o} lets others write it", m.mode() & 0o7777);
    }
    let len = m.len() as usize;
    if len < TRAILER {
        bail!("{len} bytes, too short");
    }
    check_len(len - TRAILER)?;
    let mut data = Vec::with_capacity(len);
    f.read_to_end(&mut data)?;
    if data.len() != len {
        bail!("changed while read");
    }
    let sum = data.split_off(len - TRAILER);
    if sum != trailer(key, &data) {
        bail!("its checksum does not match (corrupted, or another filter's program)");
    }
    Ok(Some(data))
}
