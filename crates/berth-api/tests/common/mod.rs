//! Helpers shared by the round-trip tests: parse JSON written from the swagger's documented
//! shapes, serialize it back, and compare as `serde_json::Value`.

#![allow(dead_code)]

use serde::{de::DeserializeOwned, Serialize};
use serde_json::Value;

/// Parses `json` as `T`, serializes it again and asserts that nothing was lost, renamed or
/// added. Returns the parsed value for further checks.
#[track_caller]
pub fn roundtrip<T: DeserializeOwned + Serialize>(json: Value) -> T {
    let parsed: T = serde_json::from_value(json.clone()).unwrap_or_else(|e| panic!("parse failed: {e}\n{json:#}"));
    let back = serde_json::to_value(&parsed).unwrap();
    assert_same(&back, &json);
    parsed
}

/// Asserts `got == want`, naming the JSON pointers where they differ.
#[track_caller]
pub fn assert_same(got: &Value, want: &Value) {
    let mut diffs = Vec::new();
    diff("", got, want, &mut diffs);
    assert!(diffs.is_empty(), "round trip changed the JSON:\n{}", diffs.join("\n"));
}

fn diff(path: &str, got: &Value, want: &Value, out: &mut Vec<String>) {
    match (got, want) {
        (Value::Object(g), Value::Object(w)) => {
            for (k, wv) in w {
                match g.get(k) {
                    Some(gv) => diff(&format!("{path}/{k}"), gv, wv, out),
                    None => out.push(format!("{path}/{k}: dropped (was {wv})")),
                }
            }
            for (k, gv) in g {
                if !w.contains_key(k) {
                    out.push(format!("{path}/{k}: added ({gv})"));
                }
            }
        }
        (Value::Array(g), Value::Array(w)) if g.len() == w.len() => {
            for (i, (gv, wv)) in g.iter().zip(w).enumerate() {
                diff(&format!("{path}/{i}"), gv, wv, out);
            }
        }
        _ if got != want => out.push(format!("{path}: {want} became {got}")),
        _ => {}
    }
}

/// Like [`roundtrip`], but compares with `expected` (the input after Go's `omitempty` and
/// `null` normalisation).
#[track_caller]
pub fn roundtrip_to<T: DeserializeOwned + Serialize>(json: Value, expected: Value) -> T {
    let parsed: T = serde_json::from_value(json.clone()).unwrap_or_else(|e| panic!("parse failed: {e}\n{json:#}"));
    assert_same(&serde_json::to_value(&parsed).unwrap(), &expected);
    parsed
}

/// Asserts that `json` does not parse as `T`.
#[track_caller]
pub fn rejects<T: DeserializeOwned + std::fmt::Debug>(json: Value) {
    let r = serde_json::from_value::<T>(json.clone());
    assert!(r.is_err(), "{json} parsed as {r:?}");
}

/// `obj` with `key` set to `value` at the JSON pointer `path` ("" for the top).
pub fn with(mut obj: Value, path: &str, key: &str, value: Value) -> Value {
    obj.pointer_mut(path).and_then(Value::as_object_mut).expect("object at path").insert(key.to_string(), value);
    obj
}
