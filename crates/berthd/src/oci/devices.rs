//! Device nodes and the device cgroup, as Docker sets them: deny by default with Docker's allow
//! list, `--device` (a node made in the container plus its cgroup rule), `--device-cgroup-rule`,
//! and every host device for `--privileged`. The runtime appends its own built-in rules after
//! these (libcgroups, as runc: `c *:* m`, `b *:* m`, /dev/null, zero, full, tty, random,
//! urandom, console, ptmx, pts, net/tun), which is Docker's effective list too.

use crate::model::DeviceMapping;
use oci_spec::runtime::{
    LinuxDevice, LinuxDeviceBuilder, LinuxDeviceCgroup, LinuxDeviceCgroupBuilder, LinuxDeviceType,
};
use std::path::{Component, Path, PathBuf};

fn rule(allow: bool, typ: LinuxDeviceType, major: Option<i64>, minor: Option<i64>, access: &str) -> LinuxDeviceCgroup {
    let mut b = LinuxDeviceCgroupBuilder::default().allow(allow).typ(typ).access(access);
    if let Some(m) = major {
        b = b.major(m);
    }
    if let Some(m) = minor {
        b = b.minor(m);
    }
    b.build().expect("every field of a device rule is set")
}

/// Docker's list (moby `oci/defaults.go`): deny all, allow zero, null, urandom, random, tty,
/// console, and deny fuse explicitly.
pub fn default_rules() -> Vec<LinuxDeviceCgroup> {
    use LinuxDeviceType::{A, C};
    let mut v = vec![rule(false, A, None, None, "rwm")];
    for (major, minor) in [(1, 5), (1, 3), (1, 9), (1, 8), (5, 0), (5, 1)] {
        v.push(rule(true, C, Some(major), Some(minor), "rwm"));
    }
    v.push(rule(false, C, Some(10), Some(229), "rwm"));
    v
}

/// The one rule of `--privileged`: every device.
pub fn allow_all() -> Vec<LinuxDeviceCgroup> {
    vec![rule(true, LinuxDeviceType::A, None, None, "rwm")]
}

/// `r`, `w`, `m` each at most once (`--device`'s third field).
pub fn valid_permissions(p: &str) -> bool {
    !p.is_empty() && p.len() <= 3 && p.chars().all(|c| "rwm".contains(c)) && {
        let mut seen = [false; 3];
        p.chars().all(|c| {
            let i = "rwm".find(c).unwrap_or(0);
            !std::mem::replace(&mut seen[i], true)
        })
    }
}

/// `--device-cgroup-rule`: `<a|b|c> <major|*>:<minor|*> <rwm>`.
pub fn parse_rule(text: &str) -> Result<LinuxDeviceCgroup, String> {
    let bad = || format!("invalid device cgroup rule format: '{text}'");
    let mut parts = text.split(' ');
    let (Some(typ), Some(nums), Some(access), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
        return Err(bad());
    };
    let typ = match typ {
        "a" => LinuxDeviceType::A,
        "b" => LinuxDeviceType::B,
        "c" => LinuxDeviceType::C,
        _ => return Err(bad()),
    };
    let num = |s: &str| -> Result<Option<i64>, String> {
        match s {
            "*" => Ok(None),
            _ if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) => s.parse().map(Some).map_err(|_| bad()),
            _ => Err(bad()),
        }
    };
    let (major, minor) = nums.split_once(':').ok_or_else(bad)?;
    if !valid_permissions(access) {
        return Err(bad());
    }
    Ok(rule(true, typ, num(major)?, num(minor)?, access))
}

/// The container path of a `--device`: absolute, without `.`/`..`, under /dev (the runtime makes
/// nodes only there, on the container's own /dev tmpfs, so an image's symlinks never steer it).
fn container_path(p: &str) -> Result<PathBuf, String> {
    let path = Path::new(p);
    let plain = path.is_absolute() && path.components().all(|c| matches!(c, Component::RootDir | Component::Normal(_)));
    if !plain || !path.starts_with("/dev") || path == Path::new("/dev") {
        return Err(format!(
            "invalid device path in container {p:?}: an absolute path under /dev, without '.' or '..'"
        ));
    }
    Ok(path.to_path_buf())
}

/// Checks a `--device` at create: the host path is a device or a directory of devices now, the
/// container path is acceptable, the permissions are `rwm` letters. Defaults filled in as
/// Docker stores them.
pub fn check_mapping(m: &mut DeviceMapping) -> Result<(), String> {
    if m.path_in_container.is_empty() {
        m.path_in_container = m.path_on_host.clone();
    }
    if m.cgroup_permissions.is_empty() {
        m.cgroup_permissions = "rwm".into();
    }
    if !valid_permissions(&m.cgroup_permissions) {
        return Err(format!(
            "invalid device mode {:?} for {}: r, w and m each at most once",
            m.cgroup_permissions, m.path_on_host
        ));
    }
    if !Path::new(&m.path_on_host).is_absolute() {
        return Err(format!("invalid device path on host {:?}: must be absolute", m.path_on_host));
    }
    container_path(&m.path_in_container)?;
    from_mapping(m).map(|_| ())
}

fn device_of(path: &Path) -> std::io::Result<Option<LinuxDevice>> {
    use nix::sys::stat::{lstat, major, minor, SFlag};
    let st = lstat(path).map_err(std::io::Error::from)?;
    let typ = match SFlag::from_bits_truncate(st.st_mode & SFlag::S_IFMT.bits()) {
        SFlag::S_IFCHR => LinuxDeviceType::C,
        SFlag::S_IFBLK => LinuxDeviceType::B,
        _ => return Ok(None),
    };
    let dev = LinuxDeviceBuilder::default()
        .path(path)
        .typ(typ)
        .major(major(st.st_rdev) as i64)
        .minor(minor(st.st_rdev) as i64)
        .file_mode(st.st_mode & 0o7777)
        .uid(st.st_uid)
        .gid(st.st_gid)
        .build()
        .expect("every field of a device is set");
    Ok(Some(dev))
}

fn cgroup_rule(d: &LinuxDevice, access: &str) -> LinuxDeviceCgroup {
    rule(true, d.typ(), Some(d.major()), Some(d.minor()), access)
}

/// The nodes and rules of one `--device`, read from the host now (numbers can change across
/// reboots, so this runs at every start): a device, or every device under a directory.
pub fn from_mapping(m: &DeviceMapping) -> Result<(Vec<LinuxDevice>, Vec<LinuxDeviceCgroup>), String> {
    let host = Path::new(&m.path_on_host);
    let resolved = std::fs::canonicalize(host).unwrap_or_else(|_| host.to_path_buf());
    let inside = container_path(&m.path_in_container)?;
    let err = |e: &dyn std::fmt::Display| {
        format!("error gathering device information while adding custom device {:?}: {e}", m.path_on_host)
    };
    let found: Vec<(PathBuf, LinuxDevice)> = match device_of(&resolved).map_err(|e| err(&e))? {
        Some(d) => vec![(inside, d)],
        None if resolved.is_dir() => {
            let mut v = Vec::new();
            walk(&resolved, &mut |p, d| {
                let rel = p.strip_prefix(&resolved).unwrap_or(p);
                v.push((inside.join(rel), d));
            });
            v
        }
        None => return Err(err(&"not a device node")),
    };
    if found.is_empty() {
        return Err(err(&"no device nodes in the directory"));
    }
    let mut devices = Vec::new();
    let mut rules = Vec::new();
    for (path, mut d) in found {
        rules.push(cgroup_rule(&d, &m.cgroup_permissions));
        d.set_path(path);
        devices.push(d);
    }
    Ok((devices, rules))
}

/// Every device node under `dir`, symlinks not followed.
fn walk(dir: &Path, out: &mut dyn FnMut(&Path, LinuxDevice)) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        match e.file_type() {
            Ok(t) if t.is_dir() => walk(&p, out),
            Ok(_) => {
                if let Ok(Some(d)) = device_of(&p) {
                    out(&p, d);
                }
            }
            Err(_) => {}
        }
    }
}

/// `--privileged`: the host's /dev as Docker copies it (containerd's `HostDevices`): char and
/// block nodes, not the console, nor what lives under pts, shm, fd, mqueue and the
/// lxc/lxd/udev private directories.
pub fn host_devices() -> Vec<LinuxDevice> {
    fn visit(dir: &Path, out: &mut Vec<LinuxDevice>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for e in entries.flatten() {
            let name = e.file_name();
            let name = name.to_string_lossy();
            match e.file_type() {
                Ok(t) if t.is_dir() => {
                    if !matches!(name.as_ref(), "pts" | "shm" | "fd" | "mqueue" | ".lxc" | ".lxd-mounts" | ".udev") {
                        visit(&e.path(), out);
                    }
                }
                Ok(_) if name == "console" => {}
                Ok(_) => {
                    if let Ok(Some(d)) = device_of(&e.path()) {
                        out.push(d);
                    }
                }
                Err(_) => {}
            }
        }
    }
    let mut v = Vec::new();
    visit(Path::new("/dev"), &mut v);
    v.sort_by(|a, b| a.path().cmp(b.path()));
    v
}

/// One node per container path, the last one given winning (the runtime fails on a duplicate).
pub fn dedup(devices: Vec<LinuxDevice>) -> Vec<LinuxDevice> {
    let mut out: Vec<LinuxDevice> = Vec::with_capacity(devices.len());
    for d in devices {
        out.retain(|o| o.path() != d.path());
        out.push(d);
    }
    out
}
