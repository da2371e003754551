use berth_net::{Error, Ipam, Ipv4Net, Ipv6Net};
use std::net::{Ipv4Addr, Ipv6Addr};

fn net(s: &str) -> Ipv4Net {
    s.parse().unwrap()
}

#[test]
fn allocations_persist_and_never_collide() {
    let dir = tempfile::tempdir().unwrap();
    let ipam = Ipam::open(dir.path(), "front", net("10.88.0.0/24"), None, None).unwrap();
    assert_eq!(ipam.gateway(), Ipv4Addr::new(10, 88, 0, 1));
    assert_eq!(ipam.gateway_cidr(), net("10.88.0.1/24"));
    let a = ipam.allocate("aaaa", None).unwrap();
    let b = ipam.allocate("bbbb", None).unwrap();
    assert_eq!(a, Ipv4Addr::new(10, 88, 0, 2));
    assert_eq!(b, Ipv4Addr::new(10, 88, 0, 3));
    assert_eq!(ipam.allocate("aaaa", None).unwrap(), a, "idempotent");
    let c = ipam.allocate("cccc", Some(Ipv4Addr::new(10, 88, 0, 50))).unwrap();
    assert_eq!(c, Ipv4Addr::new(10, 88, 0, 50));
    match ipam.allocate("dddd", Some(c)) {
        Err(Error::AddressInUse { owner, .. }) => assert_eq!(owner, "cccc"),
        other => panic!("{other:?}"),
    }
    for bad in [Ipv4Addr::new(10, 88, 0, 1), Ipv4Addr::new(10, 88, 0, 255), Ipv4Addr::new(10, 89, 0, 5)] {
        assert!(matches!(ipam.allocate("dddd", Some(bad)), Err(Error::BadAddress { .. })), "{bad}");
    }
    drop(ipam);

    // A restarted daemon sees the same allocations and keeps handing out distinct addresses.
    let ipam = Ipam::open(dir.path(), "front", net("10.88.0.0/24"), None, None).unwrap();
    assert_eq!(ipam.lookup("aaaa"), Some(a));
    assert_eq!(ipam.lookup("cccc"), Some(c));
    let d = ipam.allocate("dddd", None).unwrap();
    assert_eq!(d, Ipv4Addr::new(10, 88, 0, 4));
    assert_eq!(ipam.release("aaaa").unwrap(), Some(a));
    assert_eq!(ipam.release("aaaa").unwrap(), None);
    assert_eq!(ipam.lookup("aaaa"), None);
    drop(ipam);

    let ipam = Ipam::open(dir.path(), "front", net("10.88.0.0/24"), None, None).unwrap();
    assert_eq!(ipam.lookup("aaaa"), None, "release persisted");
    assert_eq!(ipam.allocate("eeee", None).unwrap(), a, "freed address is reused");
    let all = ipam.allocations();
    let mut addrs: Vec<_> = all.values().collect();
    addrs.sort();
    addrs.dedup();
    assert_eq!(addrs.len(), all.len(), "no address twice: {all:?}");

    // Another subnet under the same name is refused, not silently merged.
    assert!(matches!(
        Ipam::open(dir.path(), "front", net("10.99.0.0/24"), None, None),
        Err(Error::SubnetMismatch { .. })
    ));
}

#[test]
fn fixed_cidr_exhaustion_and_reconcile() {
    let dir = tempfile::tempdir().unwrap();
    // 10.66.0.8/30 holds .8-.11; hosts() skips .8 and .11, leaving .9 and .10.
    let ipam = Ipam::open(dir.path(), "r", net("10.66.0.0/16"), None, Some(net("10.66.0.8/30"))).unwrap();
    let a = ipam.allocate("a", None).unwrap();
    let b = ipam.allocate("b", None).unwrap();
    assert_eq!((a, b), (Ipv4Addr::new(10, 66, 0, 9), Ipv4Addr::new(10, 66, 0, 10)));
    assert!(matches!(ipam.allocate("c", None), Err(Error::PoolExhausted { .. })));
    // --ip outside the range but inside the subnet is allowed, as Docker does.
    assert_eq!(ipam.allocate("c", Some(Ipv4Addr::new(10, 66, 3, 3))).unwrap(), Ipv4Addr::new(10, 66, 3, 3));

    let freed = ipam.reconcile(&["b"]).unwrap();
    assert_eq!(freed, vec!["a".to_string(), "c".to_string()]);
    assert_eq!(ipam.allocations().len(), 1);
    drop(ipam);
    let ipam = Ipam::open(dir.path(), "r", net("10.66.0.0/16"), None, Some(net("10.66.0.8/30"))).unwrap();
    assert_eq!(ipam.allocate("d", None).unwrap(), a);
    assert!(ipam.reconcile(&["b", "d"]).unwrap().is_empty());
    ipam.destroy().unwrap();
    assert!(!Ipam::<Ipv4Net>::file_path(dir.path(), "r").exists());
}

#[test]
fn ipv6_pools_live_beside_ipv4_ones_and_allocate_from_their_range() {
    let dir = tempfile::tempdir().unwrap();
    let v6 = |s: &str| s.parse::<Ipv6Net>().unwrap();
    let a6 = |s: &str| s.parse::<Ipv6Addr>().unwrap();
    let four = Ipam::open(dir.path(), "front", net("10.88.0.0/24"), None, None).unwrap();
    four.allocate("aaaa", None).unwrap();
    // docker-py's network: a /64 with the gateway at ::ffff and a /96 range.
    let six =
        Ipam::open(dir.path(), "front", v6("2001:389::/64"), Some(a6("2001:389::ffff")), Some(v6("2001:389::/96")))
            .unwrap();
    assert_eq!(six.gateway_cidr(), v6("2001:389::ffff/64"));
    assert_eq!(six.allocate("aaaa", None).unwrap(), a6("2001:389::1"));
    assert_eq!(six.allocate("bbbb", Some(a6("2001:389::f00d"))).unwrap(), a6("2001:389::f00d"));
    assert!(matches!(six.allocate("cccc", Some(a6("2001:389::f00d"))), Err(Error::AddressInUse { .. })));
    for bad in ["2001:389::", "2001:389::ffff", "2001:38a::1"] {
        assert!(matches!(six.allocate("cccc", Some(a6(bad))), Err(Error::BadAddress { .. })), "{bad}");
    }
    // Without a gateway the first address is the gateway, never handed out.
    let auto = Ipam::open(dir.path(), "auto", v6("fd00:1:2:3::/64"), None, None).unwrap();
    assert_eq!(auto.gateway(), a6("fd00:1:2:3::1"));
    assert_eq!(auto.allocate("x", None).unwrap(), a6("fd00:1:2:3::2"));
    drop((four, six, auto));

    // Separate files: the IPv4 pools an older release reads are untouched, and each family
    // lists only its own.
    assert!(Ipam::<Ipv6Net>::file_path(dir.path(), "front").exists());
    let fours = Ipam::<Ipv4Net>::open_all(dir.path()).unwrap();
    assert_eq!(fours.iter().map(|(k, _)| k.as_str()).collect::<Vec<_>>(), vec!["front"]);
    let mut sixes: Vec<String> = Ipam::<Ipv6Net>::open_all(dir.path()).unwrap().into_iter().map(|(k, _)| k).collect();
    sixes.sort();
    assert_eq!(sixes, vec!["auto", "front"]);
    let six = Ipam::open(dir.path(), "front", v6("2001:389::/64"), None, None).unwrap();
    assert_eq!(six.lookup("bbbb"), Some(a6("2001:389::f00d")));
    assert!(matches!(
        Ipam::open(dir.path(), "front", v6("2001:390::/64"), None, None),
        Err(Error::SubnetMismatch { .. })
    ));
}
