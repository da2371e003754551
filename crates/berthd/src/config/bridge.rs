//! The default bridge's settings: `bip`, `fixed-cidr`, `default-address-pools`, and its IPv6
//! (`ipv6`, `fixed-cidr-v6`).

use super::ConfigError;
use serde::Deserialize;

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
