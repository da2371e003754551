//! Records written by the format before this one must read, and lose nothing when written back.
//! The fixtures are `container.json` files written by berthd at e7c6cb1 (a bridged container with
//! a published port, a named volume, a bind, a tmpfs, a restart policy, limits and security
//! options; and a created `--network none` one).

use super::Container;
use serde_json::Value;

fn read_back(fixture: &str) -> (Container, Value, Value) {
    let given: Value = serde_json::from_str(fixture).unwrap();
    let c: Container = serde_json::from_str(fixture).expect("the current format reads");
    let written = serde_json::to_value(&c).unwrap();
    (c, given, written)
}

/// Everything the old record held is written back unchanged; only the version is added.
fn assert_nothing_lost(given: &Value, written: &Value) {
    let mut w = written.clone();
    assert_eq!(w["record_version"], 1, "records before the field are version 1");
    w.as_object_mut().unwrap().remove("record_version");
    assert_eq!(&w, given, "a field of the old record was dropped or changed");
}

#[test]
fn a_bridged_container_with_mounts_and_a_policy_reads() {
    let (c, given, written) = read_back(include_str!("fixtures/fixture-web.json"));
    assert_nothing_lost(&given, &written);
    assert_eq!(c.name, "fixture-web");
    let ep = c.endpoint.as_ref().expect("the bridge endpoint");
    assert_eq!(ep.ports.len(), 1);
    assert_eq!(ep.ports[0].host_port, 18080);
    assert_eq!(c.mounts.len(), 3, "volume, bind and tmpfs: {:?}", c.mounts);
    assert!(c.mounts.iter().any(|m| m.kind == "volume" && m.name.as_deref() == Some("fixvol")));
    let rp = c.host_config.restart_policy.as_ref().unwrap();
    assert_eq!((rp.name.as_deref(), rp.maximum_retry_count), (Some("on-failure"), Some(3)));
    assert_eq!(c.host_config.memory, Some(64 << 20));
    assert!(c.options.no_new_privileges);
    assert_eq!(c.state.status, super::Status::Running);
}

#[test]
fn a_created_container_without_network_reads() {
    let (c, given, written) = read_back(include_str!("fixtures/fixture-plain.json"));
    assert_nothing_lost(&given, &written);
    assert!(c.endpoint.is_none());
    assert_eq!(c.state.status, super::Status::Created);
}

#[test]
fn a_record_missing_a_required_field_is_an_error() {
    let mut v: Value = serde_json::from_str(include_str!("fixtures/fixture-plain.json")).unwrap();
    v.as_object_mut().unwrap().remove("options");
    assert!(serde_json::from_value::<Container>(v).is_err());
}
