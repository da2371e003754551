//! The default bridge's settings, with dockerd's flags and daemon.json keys: `bridge`, `bip`,
//! `fixed-cidr`, `default-address-pools`, its IPv6 (`ipv6`, `fixed-cidr-v6`), and the host's
//! part (`iptables`, `ip-forward`). All need a restart: the bridge and its rules are made at start.

use super::{ConfigError, DEFAULT_BIP, DEFAULT_BRIDGE};
use serde::Deserialize;

/// daemon.json keys of this file.
pub const KEYS: &[&str] =
    &["bridge", "bip", "fixed-cidr", "ipv6", "fixed-cidr-v6", "iptables", "ip-forward", "default-address-pools"];

#[derive(Debug, Clone, Default, clap::Args)]
pub struct BridgeFlags {
    /// Attach containers to a network bridge (default berth0)
    #[arg(short = 'b', long = "bridge", value_name = "NAME")]
    pub bridge: Option<String>,
    /// Specify default-bridge IPv4 network (gateway address/prefix)
    #[arg(long = "bip", value_name = "CIDR")]
    pub bip: Option<String>,
    /// IPv4 subnet for fixed IPs (a sub-range of --bip)
    #[arg(long = "fixed-cidr", value_name = "CIDR")]
    pub fixed_cidr: Option<String>,
    /// Enable IPv6 on the default bridge (needs --fixed-cidr-v6)
    #[arg(long = "ipv6", num_args = 0..=1, default_missing_value = "true", value_name = "BOOL")]
    pub ipv6: Option<bool>,
    /// IPv6 subnet of the default bridge
    #[arg(long = "fixed-cidr-v6", value_name = "CIDR")]
    pub fixed_cidr_v6: Option<String>,
    /// Enable addition of nftables rules (Docker's --iptables)
    #[arg(long = "iptables", num_args = 0..=1, default_missing_value = "true", value_name = "BOOL")]
    pub iptables: Option<bool>,
    /// Enable IP forwarding
    #[arg(long = "ip-forward", num_args = 0..=1, default_missing_value = "true", value_name = "BOOL")]
    pub ip_forward: Option<bool>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct BridgeFile {
    pub bridge: Option<String>,
    pub bip: Option<String>,
    pub fixed_cidr: Option<String>,
    pub ipv6: Option<bool>,
    pub fixed_cidr_v6: Option<String>,
    pub iptables: Option<bool>,
    pub ip_forward: Option<bool>,
    pub default_address_pools: Option<Vec<AddressPool>>,
}

/// In force.
pub struct BridgeSettings {
    pub bridge: String,
    pub bip: String,
    pub fixed_cidr: Option<String>,
    pub ipv6: bool,
    pub fixed_cidr_v6: Option<berth_net::Ipv6Net>,
    pub iptables: bool,
    pub ip_forward: bool,
    pub default_address_pools: Vec<AddressPool>,
}

pub fn conflicts(f: &BridgeFlags, file: &BridgeFile, out: &mut Vec<String>) {
    let mut check = |key: &str, a: Option<String>, b: Option<String>| {
        if let (Some(a), Some(b)) = (a, b) {
            out.push(format!("{key}: (from flag: {a}, from file: {b})"));
        }
    };
    let b = |v: Option<bool>| v.map(|b| b.to_string());
    check("bridge", f.bridge.clone(), file.bridge.clone());
    check("bip", f.bip.clone(), file.bip.clone());
    check("fixed-cidr", f.fixed_cidr.clone(), file.fixed_cidr.clone());
    check("ipv6", b(f.ipv6), b(file.ipv6));
    check("fixed-cidr-v6", f.fixed_cidr_v6.clone(), file.fixed_cidr_v6.clone());
    check("iptables", b(f.iptables), b(file.iptables));
    check("ip-forward", b(f.ip_forward), b(file.ip_forward));
}

pub fn merge(flags: &BridgeFlags, file: &BridgeFile) -> Result<BridgeSettings, ConfigError> {
    let bridge = flags.bridge.clone().or(file.bridge.clone()).unwrap_or_else(|| DEFAULT_BRIDGE.into());
    if bridge.is_empty()
        || bridge.len() > 15
        || !bridge.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return Err(ConfigError::Invalid(format!(
            "invalid bridge name \"{bridge}\": 1 to 15 letters, digits, '-' or '_'"
        )));
    }
    let default_address_pools = file.default_address_pools.clone().unwrap_or_default();
    for p in &default_address_pools {
        address_pool_subnets(p).map(|_| ())?;
    }
    // As in Docker: without --bip the default bridge takes the first subnet of the first pool.
    let pool_bip = default_address_pools.first().and_then(|p| {
        let first = address_pool_subnets(p).ok()?.next()?;
        Some(format!("{}/{}", first.hosts().next()?, first.prefix_len()))
    });
    let bip = flags.bip.clone().or(file.bip.clone()).or(pool_bip).unwrap_or_else(|| DEFAULT_BIP.into());
    if parse_cidr(&bip).is_none_or(|(_, l)| !(8..=30).contains(&l)) {
        return Err(ConfigError::Invalid(format!(
            "invalid value for bip: \"{bip}\" (expected an address/prefix such as {DEFAULT_BIP})"
        )));
    }
    let fixed_cidr = flags.fixed_cidr.clone().or(file.fixed_cidr.clone());
    if let Some(f) = &fixed_cidr {
        if parse_cidr(f).is_none() {
            return Err(ConfigError::Invalid(format!("invalid value for fixed-cidr: \"{f}\"")));
        }
    }
    let ipv6 = flags.ipv6.or(file.ipv6).unwrap_or(false);
    let fixed_cidr_v6 = bridge_v6(ipv6, flags.fixed_cidr_v6.as_deref().or(file.fixed_cidr_v6.as_deref()))?;
    Ok(BridgeSettings {
        bridge,
        bip,
        fixed_cidr,
        ipv6,
        fixed_cidr_v6,
        iptables: flags.iptables.or(file.iptables).unwrap_or(true),
        ip_forward: flags.ip_forward.or(file.ip_forward).unwrap_or(true),
        default_address_pools,
    })
}

/// One entry of `default-address-pools`.
#[derive(Debug, Clone, Deserialize, serde::Serialize, PartialEq)]
pub struct AddressPool {
    pub base: String,
    pub size: u8,
}

/// The subnets of a `default-address-pools` entry, in order (`{"base": "10.10.0.0/16", "size": 24}`).
pub fn address_pool_subnets(p: &AddressPool) -> Result<impl Iterator<Item = berth_net::Ipv4Net>, ConfigError> {
    let bad = |why: &str| {
        ConfigError::Invalid(format!(
            "invalid default-address-pools entry {{\"base\": \"{}\", \"size\": {}}}: {why}",
            p.base, p.size
        ))
    };
    let base: berth_net::Ipv4Net =
        p.base.parse().map_err(|_| bad("base is not an IPv4 subnet such as 10.10.0.0/16"))?;
    if p.size < base.prefix_len() || p.size > 30 {
        return Err(bad(&format!("size must be between the base's prefix length ({}) and 30", base.prefix_len())));
    }
    base.trunc().subnets(p.size).map_err(|_| bad("size"))
}

/// Parses `a.b.c.d/len` into (address, prefix length).
pub fn parse_cidr(s: &str) -> Option<(std::net::Ipv4Addr, u8)> {
    let (a, l) = s.split_once('/')?;
    let l: u8 = l.parse().ok()?;
    (l <= 32).then_some(())?;
    Some((a.parse().ok()?, l))
}

/// `ipv6` and `fixed-cidr-v6`: the default bridge's IPv6 subnet, `None` without IPv6. As dockerd
/// 20.10, IPv6 on the default bridge needs its subnet given: the bridge's addresses must stay
/// the same across restarts, and an IPv6 prefix is the host owner's to choose.
pub fn bridge_v6(ipv6: bool, fixed_cidr_v6: Option<&str>) -> Result<Option<berth_net::Ipv6Net>, ConfigError> {
    let subnet = match fixed_cidr_v6 {
        Some(s) => Some(s.parse::<berth_net::Ipv6Net>().map_err(|_| {
            ConfigError::Invalid(format!(
                "invalid value for fixed-cidr-v6: \"{s}\" (an IPv6 subnet such as fd00:b::/64)"
            ))
        })?),
        None => None,
    };
    match (ipv6, subnet) {
        (true, None) => Err(ConfigError::Invalid(
            "ipv6 is enabled for the default bridge, but fixed-cidr-v6 does not give it a subnet".into(),
        )),
        (true, Some(s)) if s.prefix_len() > 126 => {
            Err(ConfigError::Invalid(format!("invalid value for fixed-cidr-v6: \"{s}\" is too small")))
        }
        (true, Some(s)) => Ok(Some(s.trunc())),
        (false, Some(_)) => Err(ConfigError::Invalid("fixed-cidr-v6 is set but ipv6 is not enabled".into())),
        (false, None) => Ok(None),
    }
}
