//! From a profile to the OCI `linux.seccomp` of one container, as Docker's daemon does it:
//! the architectures of the host's `archMap` entry, and only the rules whose `includes` hold
//! and whose `excludes` do not, for the container's bounding capabilities and the host's
//! architecture and kernel.

use super::profile::{Filter, KernelVersion, Profile, Rule};
use oci_spec::runtime::{
    Arch, LinuxSeccomp, LinuxSeccompArgBuilder, LinuxSeccompBuilder, LinuxSyscall, LinuxSyscallBuilder,
};
use std::sync::OnceLock;

/// What a profile's conditions are evaluated against on this host.
#[derive(Debug, Clone)]
pub struct Host {
    /// libseccomp's name of the architecture (`amd64`, `arm64`...), as conditions spell it.
    pub native: &'static str,
    /// The seccomp architecture whose `archMap` entry applies.
    pub arch: Option<Arch>,
    /// None when the release could not be read: a `minKernel` condition is then an error.
    pub kernel: Option<KernelVersion>,
}

impl Host {
    /// This host, read once per daemon.
    pub fn current() -> &'static Host {
        static HOST: OnceLock<Host> = OnceLock::new();
        HOST.get_or_init(|| {
            let (native, arch) = native_arch();
            let release =
                nix::sys::utsname::uname().map(|u| u.release().to_string_lossy().into_owned()).unwrap_or_default();
            Host { native, arch, kernel: KernelVersion::of_release(&release) }
        })
    }
}

fn native_arch() -> (&'static str, Option<Arch>) {
    match std::env::consts::ARCH {
        "x86_64" => ("amd64", Some(Arch::ScmpArchX86_64)),
        "x86" => ("x86", Some(Arch::ScmpArchX86)),
        "aarch64" => ("arm64", Some(Arch::ScmpArchAarch64)),
        "arm" => ("arm", Some(Arch::ScmpArchArm)),
        "riscv64" => ("riscv64", Some(Arch::ScmpArchRiscv64)),
        "s390x" => ("s390x", Some(Arch::ScmpArchS390x)),
        "loongarch64" => ("loongarch64", Some(Arch::ScmpArchLoongarch64)),
        "powerpc64" if cfg!(target_endian = "little") => ("ppc64le", Some(Arch::ScmpArchPpc64le)),
        "powerpc64" => ("ppc64", Some(Arch::ScmpArchPpc64)),
        other => (other, None),
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    #[error("seccomp profile: a rule depends on the kernel version, which could not be read from uname")]
    KernelUnknown,
    #[error("seccomp profile: {0}")]
    Build(#[from] oci_spec::OciSpecError),
}

impl Profile {
    /// The OCI section for a container with `bounding` capabilities on `host`.
    pub fn resolve(&self, host: &Host, bounding: &[String]) -> Result<LinuxSeccomp, ResolveError> {
        let mut arches = self.architectures.clone();
        if let Some(g) = host.arch.and_then(|a| self.arch_map.iter().find(|g| g.architecture == a)) {
            arches.push(g.architecture);
            arches.extend(g.sub_architectures.iter().copied());
        }
        let mut syscalls = Vec::with_capacity(self.syscalls.len());
        for rule in &self.syscalls {
            if applies(rule, host, bounding)? {
                syscalls.push(oci_rule(rule)?);
            }
        }
        let mut b =
            LinuxSeccompBuilder::default().default_action(self.default_action.unwrap_or_default()).syscalls(syscalls);
        if let Some(e) = self.default_errno_ret {
            b = b.default_errno_ret(e);
        }
        if !arches.is_empty() {
            b = b.architectures(arches);
        }
        if !self.flags.is_empty() {
            b = b.flags(self.flags.clone());
        }
        Ok(b.build()?)
    }
}

fn applies(rule: &Rule, host: &Host, bounding: &[String]) -> Result<bool, ResolveError> {
    let kernel_at_least = |min: KernelVersion| host.kernel.map(|k| k >= min).ok_or(ResolveError::KernelUnknown);
    if let Some(Filter { caps, arches, min_kernel }) = &rule.excludes {
        if arches.iter().any(|a| a == host.native) || caps.iter().any(|c| bounding.contains(c)) {
            return Ok(false);
        }
        if let Some(min) = min_kernel {
            if kernel_at_least(*min)? {
                return Ok(false);
            }
        }
    }
    if let Some(Filter { caps, arches, min_kernel }) = &rule.includes {
        if !arches.is_empty() && !arches.iter().any(|a| a == host.native) {
            return Ok(false);
        }
        if !caps.iter().all(|c| bounding.contains(c)) {
            return Ok(false);
        }
        if let Some(min) = min_kernel {
            if !kernel_at_least(*min)? {
                return Ok(false);
            }
        }
    }
    Ok(true)
}

fn oci_rule(rule: &Rule) -> Result<LinuxSyscall, oci_spec::OciSpecError> {
    let mut b = LinuxSyscallBuilder::default().names(rule.syscall_names()).action(rule.action);
    if let Some(e) = rule.errno_ret {
        b = b.errno_ret(e);
    }
    if !rule.args.is_empty() {
        let args = rule
            .args
            .iter()
            .map(|a| {
                let mut ab = LinuxSeccompArgBuilder::default().index(a.index as usize).value(a.value).op(a.op);
                if let Some(v2) = a.value_two {
                    ab = ab.value_two(v2);
                }
                ab.build()
            })
            .collect::<Result<Vec<_>, _>>()?;
        b = b.args(args);
    }
    b.build()
}
