use berth_net::{Error, Ipam, Ipv4Net};
use std::net::Ipv4Addr;

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
    assert!(matches!(ipam.allocate("c", None), Err(Error::PoolExhausted(_))));
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
    assert!(!Ipam::file_path(dir.path(), "r").exists());
}
