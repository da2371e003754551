//! Berth's container networking, kept in the kernel (invariant 7).
//!
//! Everything a running container's networking needs lives in the kernel (bridge, veth pair,
//! addresses, routes, nftables rules in Berth's own table) or in files inside the container
//! (`/etc/hosts`), never in a daemon process: killing the daemon leaves published ports answering
//! and names resolving. Restore calls [`nft::reconcile`], which fixes only the difference between
//! the kernel and the desired state, in one atomic `nft -f -` transaction.
//!
//! The kernel is driven through the `ip` (iproute2) and `nft` (nftables) command-line tools: their
//! JSON output (`-j`) is stable, `nft -f -` gives atomic batches for free, and no netlink
//! dependency (or `unsafe` setns) is needed. Every call blocks: the daemon runs them on
//! `spawn_blocking`.

//! # What the daemon calls, and when
//!
//! - network create (and daemon start, for the default `bridge`): [`Ipam::open`] (kept for the
//!   network's lifetime), [`Bridge::ensure`]`(bridge, ipam.gateway_cidr())`, then
//!   [`nft::reconcile`] with the network added to [`Desired`].
//! - container create: [`Ipam::allocate`]`(id, --ip)`; for every `-p`, host port 0 →
//!   [`pick_free_port`], then [`Desired::port_conflict`] (another container) and
//!   [`check_port_free`] (another program) — both give Docker's "port is already allocated";
//!   write `/etc/hosts` with [`write_hosts`].
//! - container start, once the init pid is known and before the process runs user code (or right
//!   after `start` returns): [`attach`]`(NetnsRef::Pid(pid), bridge, id, ip/prefix, gateway)`,
//!   then [`nft::reconcile`] with the endpoint (and its ports) added; rewrite the `/etc/hosts` of
//!   every running container on the same user network ([`write_hosts`] keeps the inode).
//! - container stop/exit: [`detach`]`(id)` (the veth also dies with the namespace), then
//!   [`nft::reconcile`] without the endpoint. The address stays allocated until `rm`.
//! - container rm: [`Ipam::release`]`(id)`.
//! - network rm: reconcile without it, [`Bridge::remove`], [`Ipam::destroy`].
//! - restore (daemon start): for each network `Ipam::open` + `Bridge::ensure`;
//!   [`Ipam::reconcile`]`(ids of containers that still exist)`; for each running container
//!   `attach` (idempotent: an intact endpoint is left alone), then ONE [`nft::reconcile`] with
//!   the whole desired state. Nothing is flushed: a port that answered while the daemon was down
//!   keeps answering through the restore.
//! - daemon shutdown: nothing (rules and endpoints stay for live restore). Uninstall/tests:
//!   [`nft::remove_table`].

#![deny(unsafe_code)]

pub mod bridge;
mod cmd;
pub mod endpoint;
pub mod hosts;
pub mod ipam;
mod mac;
pub mod nft;
mod nft_state;
pub mod ports;
pub mod routes;

pub use bridge::{enable_ip6_forward, enable_ip_forward, Bridge};
pub use endpoint::{attach, attach_iface, detach, detach_iface, host_veth_name, Endpoint, Iface, NetnsRef};
pub use hosts::{write_hosts, HostsEntry};
pub use ipam::{Family, Ipam};
pub use mac::{mac_for_ip, parse_mac};
pub use nft::{reconcile, remove_table, Desired, DesiredEndpoint, DesiredNetwork, ReconcileReport};
pub use ports::{check_port_free, pick_free_port, PortMapping, Proto};

pub use ipnet::{IpNet, Ipv4Net, Ipv6Net};

use std::io;

/// Errors of the networking layer.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A command (`ip`, `nft`, `nsenter`) failed; its stderr is kept.
    #[error("`{cmd}` failed: {stderr}")]
    Command { cmd: String, stderr: String },
    /// An I/O error, with what was being done.
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: io::Error,
    },
    /// Every address of the pool is taken.
    #[error("no available {family} address in {pool}")]
    PoolExhausted { family: &'static str, pool: String },
    /// The requested address belongs to another container.
    #[error("address {addr} is already in use by container {owner}")]
    AddressInUse { addr: std::net::IpAddr, owner: String },
    /// The requested address cannot be handed out on this network.
    #[error("invalid address {addr} for network {subnet}: {why}")]
    BadAddress { addr: std::net::IpAddr, subnet: String, why: &'static str },
    /// The IPAM file on disk describes another subnet than the one asked for.
    #[error("IPAM state {path} is for subnet {on_disk}, not {wanted}")]
    SubnetMismatch { path: String, on_disk: String, wanted: String },
    /// Docker's message for a host port someone else already holds.
    #[error("Bind for {ip}:{port} failed: port is already allocated")]
    PortAllocated { ip: std::net::IpAddr, port: u16 },
    /// An argument that cannot be turned into kernel state (bad name, bad port spec).
    #[error("invalid argument: {0}")]
    Invalid(String),
    /// `nft -j` printed something this crate does not understand.
    #[error("unexpected nft output: {0}")]
    NftParse(String),
}

pub type Result<T> = std::result::Result<T, Error>;

pub(crate) fn io_err(context: impl Into<String>) -> impl FnOnce(io::Error) -> Error {
    let context = context.into();
    move |source| Error::Io { context, source }
}
