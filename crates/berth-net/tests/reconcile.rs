//! nft reconcile: idempotent, minimal, one table only. Each test in its own network namespace.

mod common;

use berth_net::nft::{self, Snapshot};
use berth_net::{Desired, DesiredEndpoint, DesiredNetwork, PortMapping};
use common::sh;
use std::collections::BTreeSet;

const T: &str = "berth_test";

fn desired() -> Desired {
    Desired {
        networks: vec![
            DesiredNetwork {
                name: "bridge".into(),
                bridge: "berth0".into(),
                subnet: "10.77.0.0/24".parse().unwrap(),
                internal: false,
                subnet6: None,
            },
            DesiredNetwork {
                name: "priv".into(),
                bridge: "berth1".into(),
                subnet: "10.78.0.0/24".parse().unwrap(),
                internal: true,
                subnet6: None,
            },
        ],
        endpoints: vec![
            DesiredEndpoint {
                container_id: "c1".into(),
                network: "bridge".into(),
                ip: "10.77.0.2".parse().unwrap(),
                ip6: None,
                ports: ["8081:80", "127.0.0.1:8082:80", "5353:53/udp"]
                    .iter()
                    .map(|p| PortMapping::parse(p).unwrap())
                    .collect(),
            },
            DesiredEndpoint {
                container_id: "c2".into(),
                network: "bridge".into(),
                ip: "10.77.0.3".parse().unwrap(),
                ip6: None,
                ports: vec![PortMapping::parse("9090:90").unwrap()],
            },
        ],
    }
}

fn snap() -> Snapshot {
    nft::snapshot(T).unwrap().expect("table exists")
}

fn handles(s: &Snapshot) -> BTreeSet<u64> {
    s.rules.iter().map(|r| r.1).collect()
}

fn handle_of(s: &Snapshot, comment: &str) -> u64 {
    s.rules.iter().find(|r| r.2 == comment).unwrap_or_else(|| panic!("no rule {comment}")).1
}

#[test]
fn reconcile_is_idempotent_and_fixes_only_the_difference() {
    if !common::in_own_netns("reconcile_is_idempotent_and_fixes_only_the_difference") {
        return;
    }
    sh("nft", &["add", "table", "ip", "someone_else"]);
    sh("nft", &["add", "chain", "ip", "someone_else", "c"]);
    sh("nft", &["add", "rule", "ip", "someone_else", "c", "counter"]);

    let d = desired();
    let r1 = nft::reconcile(T, &d).unwrap();
    assert!(r1.table_created && r1.rules_added > 0 && r1.elements_added == 4, "{r1:?}");
    let s1 = snap();
    assert_eq!(s1.maps["ports_any_tcp"].get("8081").map(String::as_str), Some("10.77.0.2 . 80"));
    assert_eq!(s1.maps["ports_ip_tcp"].get("127.0.0.1 . 8082").map(String::as_str), Some("10.77.0.2 . 80"));
    assert_eq!(s1.maps["ports_any_udp"].get("5353").map(String::as_str), Some("10.77.0.2 . 53"));
    assert!(s1.rules.iter().any(|r| r.2 == "berth:internal-out:berth1"));
    assert!(!s1.rules.iter().any(|r| r.2.starts_with("berth:masq:berth1")), "internal network masqueraded");

    let r2 = nft::reconcile(T, &d).unwrap();
    assert!(!r2.changed(), "second reconcile changed something: {r2:?}");
    assert_eq!(snap(), s1, "second reconcile touched the table");

    // Damage: one rule and one element deleted, one element changed, a stray rule, a duplicate
    // of a Berth rule, a stray element.
    let masq = handle_of(&s1, "berth:masq:berth0:10.77.0.0/24");
    sh("nft", &["delete", "rule", "ip", T, "postrouting", "handle", &masq.to_string()]);
    sh("nft", &["delete", "element", "ip", T, "ports_any_tcp", "{ 8081 }"]);
    sh("nft", &["delete", "element", "ip", T, "ports_any_tcp", "{ 9090 }"]);
    sh("nft", &["add", "element", "ip", T, "ports_any_tcp", "{ 9090 : 10.77.0.99 . 90, 9999 : 10.1.1.1 . 1 }"]);
    sh("nft", &["add", "rule", "ip", T, "forward", "iifname", "\"x\"", "accept"]);
    sh(
        "nft",
        &["add", "rule", "ip", T, "forward", "iifname", "\"berth0\"", "accept", "comment", "\"berth:fwd-out:berth0\""],
    );

    let r3 = nft::reconcile(T, &d).unwrap();
    assert!(!r3.table_created && !r3.table_rebuilt, "{r3:?}");
    assert_eq!((r3.rules_added, r3.rules_deleted), (1, 2), "{r3:?}");
    assert_eq!((r3.elements_added, r3.elements_deleted), (2, 2), "{r3:?}");
    let s3 = snap();
    assert_eq!(s3.maps, s1.maps);
    assert_eq!(s3.rules.len(), s1.rules.len());
    let mut untouched = handles(&s1);
    untouched.remove(&masq);
    assert!(untouched.is_subset(&handles(&s3)), "reconcile re-created rules it should have kept");
    assert!(!nft::reconcile(T, &d).unwrap().changed());

    // A container stops: only its elements go.
    let mut d2 = d.clone();
    d2.endpoints.retain(|e| e.container_id != "c2");
    let r4 = nft::reconcile(T, &d2).unwrap();
    assert_eq!((r4.rules_added, r4.rules_deleted, r4.elements_added, r4.elements_deleted), (0, 0, 0, 1), "{r4:?}");
    assert_eq!(handles(&snap()), handles(&s3));
    // A network goes: only its rules go.
    d2.networks.retain(|n| n.name != "priv");
    let r5 = nft::reconcile(T, &d2).unwrap();
    assert!(r5.rules_deleted > 0 && r5.rules_added == 0 && r5.elements_deleted == 0, "{r5:?}");
    assert!(!snap().rules.iter().any(|r| r.2.contains("berth1")));

    // Two containers claiming one host port: the first (by id) keeps it, the other is reported.
    let mut d3 = d.clone();
    d3.endpoints[1].ports.push(PortMapping::parse("8081:81").unwrap());
    assert_eq!(d.port_conflict(&PortMapping::parse("127.0.0.1:8081:1").unwrap()), Some("c1"));
    let r6 = nft::reconcile(T, &d3).unwrap();
    assert_eq!(r6.conflicts.len(), 1, "{r6:?}");
    assert_eq!(snap().maps["ports_any_tcp"]["8081"], "10.77.0.2 . 80");

    // Another table was never touched.
    let other = sh("nft", &["-j", "list", "table", "ip", "someone_else"]);
    assert!(other.contains("counter"), "{other}");

    nft::remove_table(T).unwrap();
    assert!(nft::snapshot(T).unwrap().is_none());
    sh("nft", &["list", "table", "ip", "someone_else"]);
}

#[test]
fn a_table_of_another_shape_is_replaced_atomically() {
    if !common::in_own_netns("a_table_of_another_shape_is_replaced_atomically") {
        return;
    }
    sh("nft", &["add", "table", "ip", T]);
    sh("nft", &["add", "chain", "ip", T, "prerouting", "{ type filter hook prerouting priority 0; }"]);
    sh("nft", &["add", "map", "ip", T, "ports_any_tcp", "{ type inet_service : ipv4_addr; }"]);
    sh("nft", &["add", "chain", "ip", T, "leftover"]);
    let r = nft::reconcile(T, &desired()).unwrap();
    assert!(r.table_rebuilt, "{r:?}");
    let r = nft::reconcile(T, &desired()).unwrap();
    assert!(!r.changed(), "{r:?}");
    let text = sh("nft", &["list", "table", "ip", T]);
    assert!(!text.contains("leftover") && text.contains("type nat hook prerouting"), "{text}");

    // Unknown chains and sets in an otherwise right table are removed without a rebuild.
    sh("nft", &["add", "chain", "ip", T, "leftover"]);
    sh("nft", &["add", "set", "ip", T, "junk", "{ type ipv4_addr; }"]);
    let r = nft::reconcile(T, &desired()).unwrap();
    assert!(!r.table_rebuilt && r.objects_deleted == 2, "{r:?}");
    let text = sh("nft", &["list", "table", "ip", T]);
    assert!(!text.contains("leftover") && !text.contains("junk"), "{text}");
    nft::remove_table(T).unwrap();
}
