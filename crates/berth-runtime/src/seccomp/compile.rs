//! An OCI `linux.seccomp` section compiled to a classic BPF program by libseccomp.
//!
//! The operands of `SCMP_CMP_MASKED_EQ` follow the OCI meaning (runc's, and that of Docker's
//! profiles): `value` is the mask, `valueTwo` the datum. libcontainer 0.7.0 reverses them, which
//! turned Docker's clone rule `(flags & 0x7E020000) == 0` into `(flags & 0) == 0`.

use anyhow::{anyhow, bail, Result};
use libseccomp::{ScmpAction, ScmpArch, ScmpArgCompare, ScmpCompareOp, ScmpFilterContext, ScmpSyscall};
use oci_spec::runtime::{Arch, LinuxSeccomp, LinuxSeccompAction, LinuxSeccompFilterFlag, LinuxSeccompOperator};
use std::io::{Read, Seek};

fn scmp<T>(what: impl FnOnce() -> String, r: Result<T, libseccomp::error::SeccompError>) -> Result<T> {
    r.map_err(|e| anyhow!("seccomp: {}: {e}", what()))
}

/// The kernel's `SECCOMP_FILTER_FLAG_*` for the profile's `flags`. WAIT_KILLABLE_RECV only
/// qualifies a notify listener, which is refused, so it asks for nothing (as in libseccomp).
pub fn kernel_flags(seccomp: &LinuxSeccomp) -> u32 {
    use berth_sys::seccomp::flags;
    seccomp
        .flags()
        .iter()
        .flatten()
        .map(|f| match f {
            LinuxSeccompFilterFlag::SeccompFilterFlagTsync => flags::TSYNC,
            LinuxSeccompFilterFlag::SeccompFilterFlagLog => flags::LOG,
            LinuxSeccompFilterFlag::SeccompFilterFlagSpecAllow => flags::SPEC_ALLOW,
            LinuxSeccompFilterFlag::SeccompFilterFlagWaitKillableRecv => 0,
        })
        .fold(0, |a, b| a | b)
}

fn action(a: LinuxSeccompAction, errno: Option<u32>) -> Result<ScmpAction> {
    let errno = errno.unwrap_or(libc::EPERM as u32);
    Ok(match a {
        LinuxSeccompAction::ScmpActKill | LinuxSeccompAction::ScmpActKillThread => ScmpAction::KillThread,
        LinuxSeccompAction::ScmpActKillProcess => ScmpAction::KillProcess,
        LinuxSeccompAction::ScmpActTrap => ScmpAction::Trap,
        LinuxSeccompAction::ScmpActErrno => ScmpAction::Errno(
            i32::try_from(errno).map_err(|_| anyhow!("seccomp: errno {errno} does not fit the action"))?,
        ),
        LinuxSeccompAction::ScmpActTrace => ScmpAction::Trace(
            u16::try_from(errno).map_err(|_| anyhow!("seccomp: errno {errno} does not fit the action"))?,
        ),
        LinuxSeccompAction::ScmpActAllow => ScmpAction::Allow,
        LinuxSeccompAction::ScmpActLog => ScmpAction::Log,
        LinuxSeccompAction::ScmpActNotify => {
            bail!("seccomp: SCMP_ACT_NOTIFY is not supported by berth-runtime")
        }
    })
}

fn arch(a: Arch) -> ScmpArch {
    match a {
        Arch::ScmpArchNative => ScmpArch::Native,
        Arch::ScmpArchX86 => ScmpArch::X86,
        Arch::ScmpArchX86_64 => ScmpArch::X8664,
        Arch::ScmpArchX32 => ScmpArch::X32,
        Arch::ScmpArchArm => ScmpArch::Arm,
        Arch::ScmpArchAarch64 => ScmpArch::Aarch64,
        Arch::ScmpArchMips => ScmpArch::Mips,
        Arch::ScmpArchMips64 => ScmpArch::Mips64,
        Arch::ScmpArchMips64n32 => ScmpArch::Mips64N32,
        Arch::ScmpArchMipsel => ScmpArch::Mipsel,
        Arch::ScmpArchMipsel64 => ScmpArch::Mipsel64,
        Arch::ScmpArchMipsel64n32 => ScmpArch::Mipsel64N32,
        Arch::ScmpArchPpc => ScmpArch::Ppc,
        Arch::ScmpArchPpc64 => ScmpArch::Ppc64,
        Arch::ScmpArchPpc64le => ScmpArch::Ppc64Le,
        Arch::ScmpArchS390 => ScmpArch::S390,
        Arch::ScmpArchS390x => ScmpArch::S390X,
        Arch::ScmpArchRiscv64 => ScmpArch::Riscv64,
        Arch::ScmpArchParisc => ScmpArch::Parisc,
        Arch::ScmpArchParisc64 => ScmpArch::Parisc64,
        Arch::ScmpArchLoongarch64 => ScmpArch::Loongarch64,
        Arch::ScmpArchM68k => ScmpArch::M68k,
        Arch::ScmpArchSh => ScmpArch::Sh,
        Arch::ScmpArchSheb => ScmpArch::Sheb,
    }
}

/// One libseccomp comparison, OCI operand order.
pub fn comparison(index: u32, op: LinuxSeccompOperator, value: u64, value_two: Option<u64>) -> ScmpArgCompare {
    let op_datum = |op| ScmpArgCompare::new(index, op, value);
    match op {
        LinuxSeccompOperator::ScmpCmpNe => op_datum(ScmpCompareOp::NotEqual),
        LinuxSeccompOperator::ScmpCmpLt => op_datum(ScmpCompareOp::Less),
        LinuxSeccompOperator::ScmpCmpLe => op_datum(ScmpCompareOp::LessOrEqual),
        LinuxSeccompOperator::ScmpCmpEq => op_datum(ScmpCompareOp::Equal),
        LinuxSeccompOperator::ScmpCmpGe => op_datum(ScmpCompareOp::GreaterEqual),
        LinuxSeccompOperator::ScmpCmpGt => op_datum(ScmpCompareOp::Greater),
        LinuxSeccompOperator::ScmpCmpMaskedEq => {
            ScmpArgCompare::new(index, ScmpCompareOp::MaskedEqual(value), value_two.unwrap_or(0))
        }
    }
}

/// The filter's rules in a libseccomp context (not loaded).
pub fn context(seccomp: &LinuxSeccomp) -> Result<ScmpFilterContext> {
    if seccomp.listener_path().is_some() {
        bail!("seccomp: listenerPath (SCMP_ACT_NOTIFY) is not supported by berth-runtime");
    }
    let default = action(seccomp.default_action(), seccomp.default_errno_ret())?;
    let mut ctx = scmp(|| "default action".into(), ScmpFilterContext::new(default))?;
    for &a in seccomp.architectures().iter().flatten() {
        scmp(|| format!("architecture {a:?}"), ctx.add_arch(arch(a)))?;
    }
    for rule in seccomp.syscalls().iter().flatten() {
        let act = action(rule.action(), rule.errno_ret())?;
        // libseccomp refuses a rule whose action is the default; it would change nothing.
        if act == default {
            continue;
        }
        let cmps: Vec<ScmpArgCompare> = rule
            .args()
            .iter()
            .flatten()
            .map(|a| comparison(a.index() as u32, a.op(), a.value(), a.value_two()))
            .collect();
        let mut indexes: Vec<usize> = rule.args().iter().flatten().map(|a| a.index()).collect();
        indexes.sort_unstable();
        let repeated = indexes.windows(2).any(|w| w[0] == w[1]);
        for name in rule.names() {
            // A name this libseccomp does not know is a syscall this kernel cannot have either.
            let Ok(sc) = ScmpSyscall::from_name(name) else {
                tracing::debug!("seccomp: unknown syscall {name:?} skipped");
                continue;
            };
            let what = || format!("rule for {name}");
            if cmps.is_empty() {
                scmp(what, ctx.add_rule(act, sc))?;
            } else if repeated {
                // libseccomp compares each argument once per rule: runc adds one rule per
                // comparison then, and so does this.
                for c in &cmps {
                    scmp(what, ctx.add_rule_conditional(act, sc, std::slice::from_ref(c)))?;
                }
            } else {
                scmp(what, ctx.add_rule_conditional(act, sc, &cmps))?;
            }
        }
    }
    Ok(ctx)
}

/// The filter as the BPF program the kernel takes (`struct sock_filter` array).
pub fn compile(seccomp: &LinuxSeccomp, scratch: &mut std::fs::File) -> Result<Vec<u8>> {
    let ctx = context(seccomp)?;
    scratch.set_len(0)?;
    scratch.rewind()?;
    scmp(|| "exporting BPF".into(), ctx.export_bpf(&*scratch))?;
    scratch.rewind()?;
    let mut program = Vec::new();
    scratch.read_to_end(&mut program)?;
    Ok(program)
}
