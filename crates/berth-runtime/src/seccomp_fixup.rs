//! libcontainer 0.7.0 hands `SCMP_CMP_MASKED_EQ` to libseccomp with the operands reversed: it
//! uses `valueTwo` as the mask and `value` as the datum, where runc, the OCI profiles written
//! for it and Docker's default profile mean `value` as the mask and `valueTwo` as the datum.
//! libseccomp masks the datum too, so Docker's clone rule `(flags & CLONE_NEW*) == 0` became
//! `(flags & 0) == 0` and clone(CLONE_NEWUSER) passed the filter. Swapping the two in the spec
//! before libcontainer reads it restores the meaning.
//!
//! Remove this together with the libcontainer upgrade that fixes the order, or when
//! berth-runtime compiles filters itself with the runc order.

use serde_json::Value;

/// Set on a spec once its operands are swapped: the monitor creates a restarted container
/// again from the same bundle, and a second swap would undo the first.
const SWAPPED: &str = "org.berth.runtime.seccomp-masked-eq";

/// Swaps `value` and `valueTwo` of every masked comparison in `linux.seccomp`, once per spec;
/// true when something changed.
pub fn swap_masked_eq_operands(spec: &mut Value) -> bool {
    if spec.pointer(&format!("/annotations/{SWAPPED}")).is_some() {
        return false;
    }
    let Some(rules) = spec
        .pointer_mut("/linux/seccomp/syscalls")
        .and_then(Value::as_array_mut)
    else {
        return false;
    };
    let mut changed = false;
    let args = rules
        .iter_mut()
        .filter_map(|r| r.get_mut("args").and_then(Value::as_array_mut))
        .flatten();
    for arg in args.filter(|a| a.get("op").and_then(Value::as_str) == Some("SCMP_CMP_MASKED_EQ")) {
        let mask = arg.get("value").cloned().unwrap_or(Value::from(0));
        let datum = arg.get("valueTwo").cloned().unwrap_or(Value::from(0));
        arg["value"] = datum;
        arg["valueTwo"] = mask;
        changed = true;
    }
    if changed {
        match spec.get_mut("annotations").and_then(Value::as_object_mut) {
            Some(a) => drop(a.insert(SWAPPED.into(), "libcontainer-0.7.0".into())),
            None => spec["annotations"] = serde_json::json!({ SWAPPED: "libcontainer-0.7.0" }),
        }
    }
    changed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masked_operands_are_swapped_and_others_kept() {
        let mut spec = serde_json::json!({"linux": {"seccomp": {"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [
            {"names": ["clone"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 0, "value": 2114060288u64, "op": "SCMP_CMP_MASKED_EQ"}]},
            {"names": ["socket"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 0, "value": 40, "op": "SCMP_CMP_NE"}]},
            {"names": ["read"], "action": "SCMP_ACT_ALLOW"}
        ]}}});
        assert!(swap_masked_eq_operands(&mut spec));
        assert!(
            !swap_masked_eq_operands(&mut spec),
            "a second pass (same bundle) changes nothing"
        );
        let rules = &spec["linux"]["seccomp"]["syscalls"];
        assert_eq!(
            rules[0]["args"][0],
            serde_json::json!({"index": 0, "value": 0, "valueTwo": 2114060288u64, "op": "SCMP_CMP_MASKED_EQ"})
        );
        assert_eq!(
            rules[1]["args"][0],
            serde_json::json!({"index": 0, "value": 40, "op": "SCMP_CMP_NE"})
        );
        assert!(!swap_masked_eq_operands(
            &mut serde_json::json!({"linux": {}})
        ));
    }
}
