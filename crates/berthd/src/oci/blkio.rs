//! Block-I/O throttles (`--device-read-bps`, `--device-write-bps`, `--device-read-iops`,
//! `--device-write-iops`): the OCI `blockIO` throttle lists, which the runtime writes to
//! `blkio.throttle.*` on cgroup v1 and to `io.max` on v2. A throttle names a device by path; the
//! kernel wants its major:minor, resolved at each start (as dockerd does), so a disk renumbered
//! by a reboot is still the one the user named.

use oci_spec::runtime::{LinuxBlockIo, LinuxBlockIoBuilder, LinuxThrottleDevice, LinuxThrottleDeviceBuilder};
use std::os::unix::fs::FileTypeExt;
use std::os::unix::fs::MetadataExt;

/// The four throttle lists, as (device path, rate) pairs.
#[derive(Debug, Clone, Default)]
pub struct Throttles {
    pub read_bps: Vec<(String, u64)>,
    pub write_bps: Vec<(String, u64)>,
    pub read_iops: Vec<(String, u64)>,
    pub write_iops: Vec<(String, u64)>,
}

impl Throttles {
    fn is_empty(&self) -> bool {
        self.read_bps.is_empty() && self.write_bps.is_empty() && self.read_iops.is_empty() && self.write_iops.is_empty()
    }
}

/// major:minor of a block device. `field` names the setting in the error.
pub fn device_numbers(field: &str, path: &str) -> Result<(i64, i64), String> {
    let meta = std::fs::metadata(path).map_err(|e| format!("{field}: {path}: {e}"))?;
    if !meta.file_type().is_block_device() {
        return Err(format!("{field}: {path} is not a block device"));
    }
    let rdev = meta.rdev();
    Ok((nix::sys::stat::major(rdev) as i64, nix::sys::stat::minor(rdev) as i64))
}

fn throttle_list(field: &str, list: &[(String, u64)]) -> Result<Vec<LinuxThrottleDevice>, String> {
    list.iter()
        .map(|(path, rate)| {
            let (major, minor) = device_numbers(field, path)?;
            LinuxThrottleDeviceBuilder::default()
                .major(major)
                .minor(minor)
                .rate(*rate)
                .build()
                .map_err(|e| format!("{field}: {e}"))
        })
        .collect()
}

/// The spec's `blockIO`, or None without throttles.
pub fn block_io(t: &Throttles) -> Result<Option<LinuxBlockIo>, String> {
    if t.is_empty() {
        return Ok(None);
    }
    let b = LinuxBlockIoBuilder::default()
        .throttle_read_bps_device(throttle_list("BlkioDeviceReadBps", &t.read_bps)?)
        .throttle_write_bps_device(throttle_list("BlkioDeviceWriteBps", &t.write_bps)?)
        .throttle_read_iops_device(throttle_list("BlkioDeviceReadIOps", &t.read_iops)?)
        .throttle_write_iops_device(throttle_list("BlkioDeviceWriteIOps", &t.write_iops)?);
    b.build().map(Some).map_err(|e| format!("blockIO: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_throttle_needs_a_block_device() {
        assert!(device_numbers("BlkioDeviceReadBps", "/dev/null").unwrap_err().contains("not a block device"));
        assert!(device_numbers("BlkioDeviceReadBps", "/nonexistent-dev").unwrap_err().contains("/nonexistent-dev"));
        assert_eq!(block_io(&Throttles::default()).unwrap(), None);
    }
}
