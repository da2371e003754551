//! `--sysctl`: only keys that live in a namespace the container has of its own, as runc and
//! youki check them (the docker CLI checks the same list): a sysctl outside a namespace would
//! change the host for everyone.

/// The namespaces a container has of its own.
#[derive(Debug, Clone, Copy)]
pub struct OwnNamespaces {
    pub ipc: bool,
    pub net: bool,
    pub uts: bool,
    pub user: bool,
}

const IPC: &[&str] = &[
    "kernel.msgmax",
    "kernel.msgmnb",
    "kernel.msgmni",
    "kernel.sem",
    "kernel.shmall",
    "kernel.shmmax",
    "kernel.shmmni",
    "kernel.shm_rmid_forced",
];

/// A key is dot-separated words (letters, digits, `_`, `-`): no `/`, no `..`, nothing that could
/// make the runtime's /proc/sys path leave /proc/sys.
fn well_formed(key: &str) -> bool {
    !key.is_empty()
        && key
            .split('.')
            .all(|w| !w.is_empty() && w.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-'))
}

pub fn check(key: &str, value: &str, own: OwnNamespaces) -> Result<(), String> {
    if !well_formed(key) {
        return Err(format!("invalid sysctl {key:?}: expected dot-separated names such as net.ipv4.ip_forward"));
    }
    if value.contains(['\n', '\0']) {
        return Err(format!("invalid value for sysctl {key}: it must be one line"));
    }
    if IPC.contains(&key) || key.starts_with("fs.mqueue.") {
        return match own.ipc {
            true => Ok(()),
            false => Err(format!("sysctl {key:?} is not allowed in the host's IPC namespace")),
        };
    }
    if key.starts_with("net.") {
        return match own.net {
            true => Ok(()),
            false => Err(format!("sysctl {key:?} is not allowed in the host's network namespace")),
        };
    }
    if own.uts && key == "kernel.domainname" {
        return Ok(());
    }
    if key == "kernel.hostname" {
        return Err("sysctl \"kernel.hostname\" is not allowed: use the hostname option (--hostname)".into());
    }
    if own.user && key.starts_with("user.") {
        return Ok(());
    }
    Err(format!(
        "sysctl {key:?} is not allowed: it is not in a namespace of the container's own (allowed: {}, fs.mqueue.*, net.* with a network namespace of its own, kernel.domainname with its own UTS namespace)",
        IPC.join(", ")
    ))
}
