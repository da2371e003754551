//! Reading one table's current state out of `nft -j list table`.

use crate::cmd::run;
use crate::{Error, Result};
use serde_json::Value;
use std::collections::BTreeMap;

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ChainInfo {
    pub kind: Option<String>,
    pub hook: Option<String>,
    pub prio: Option<i64>,
    pub policy: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct MapInfo {
    /// `"ipv4_addr . inet_service"` style, concatenations joined with " . ".
    pub key_type: String,
    /// `None` for a plain set.
    pub value_type: Option<String>,
    /// canonical key → canonical value (empty for sets).
    pub elems: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RuleInfo {
    pub chain: String,
    pub handle: u64,
    pub comment: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct TableState {
    pub chains: BTreeMap<String, ChainInfo>,
    pub maps: BTreeMap<String, MapInfo>,
    pub rules: Vec<RuleInfo>,
}

/// The table's state (`family` `ip` or `ip6`), `None` when it does not exist.
pub(crate) fn read_table(table: &str, family: &str) -> Result<Option<TableState>> {
    let out = match run("nft", &["-j", "list", "table", family, table]) {
        Ok(o) => o,
        Err(Error::Command { stderr, .. }) if stderr.contains("No such file or directory") => return Ok(None),
        Err(e) => return Err(e),
    };
    parse(&out).map(Some)
}

fn bad(what: impl Into<String>) -> Error {
    Error::NftParse(what.into())
}

pub(crate) fn parse(json: &str) -> Result<TableState> {
    let v: Value = serde_json::from_str(json).map_err(|e| bad(e.to_string()))?;
    let items = v.get("nftables").and_then(Value::as_array).ok_or_else(|| bad("no `nftables` array"))?;
    let mut st = TableState::default();
    for item in items {
        let Some((kind, body)) = item.as_object().and_then(|o| o.iter().next()) else {
            continue;
        };
        match kind.as_str() {
            "chain" => {
                let name = str_field(body, "name")?;
                st.chains.insert(
                    name,
                    ChainInfo {
                        kind: body.get("type").and_then(Value::as_str).map(str::to_string),
                        hook: body.get("hook").and_then(Value::as_str).map(str::to_string),
                        prio: body.get("prio").and_then(Value::as_i64),
                        policy: body.get("policy").and_then(Value::as_str).map(str::to_string),
                    },
                );
            }
            "set" | "map" => {
                let name = str_field(body, "name")?;
                let key_type = type_str(body.get("type").ok_or_else(|| bad("set without type"))?)?;
                let value_type = body.get("map").map(type_str).transpose()?;
                let mut elems = BTreeMap::new();
                for e in body.get("elem").and_then(Value::as_array).into_iter().flatten() {
                    match e.as_array() {
                        Some(kv) if kv.len() == 2 => {
                            elems.insert(canonical(&kv[0])?, canonical(&kv[1])?);
                        }
                        _ => {
                            elems.insert(canonical(e)?, String::new());
                        }
                    }
                }
                st.maps.insert(name, MapInfo { key_type, value_type, elems });
            }
            "rule" => st.rules.push(RuleInfo {
                chain: str_field(body, "chain")?,
                handle: body.get("handle").and_then(Value::as_u64).ok_or_else(|| bad("rule without handle"))?,
                comment: body.get("comment").and_then(Value::as_str).map(str::to_string),
            }),
            _ => {}
        }
    }
    Ok(st)
}

fn str_field(body: &Value, f: &str) -> Result<String> {
    body.get(f).and_then(Value::as_str).map(str::to_string).ok_or_else(|| bad(format!("no `{f}` in {body}")))
}

fn type_str(v: &Value) -> Result<String> {
    match v {
        Value::String(s) => Ok(s.clone()),
        Value::Array(a) => {
            let parts: Result<Vec<String>> = a.iter().map(type_str).collect();
            Ok(parts?.join(" . "))
        }
        other => Err(bad(format!("set type {other}"))),
    }
}

/// One element key or value as Berth writes it in a batch: `8080`, `127.0.0.1 . 8080`.
fn canonical(v: &Value) -> Result<String> {
    match v {
        Value::Number(n) => Ok(n.to_string()),
        Value::String(s) => Ok(s.clone()),
        Value::Object(o) => {
            if let Some(parts) = o.get("concat").and_then(Value::as_array) {
                let parts: Result<Vec<String>> = parts.iter().map(canonical).collect();
                Ok(parts?.join(" . "))
            } else if let Some(inner) = o.get("elem").and_then(|e| e.get("val")) {
                // An element with options (timeout, comment) wraps its key.
                canonical(inner)
            } else if let Some(p) = o.get("prefix") {
                Ok(format!("{}/{}", canonical(&p["addr"])?, canonical(&p["len"])?))
            } else {
                Err(bad(format!("element {v}")))
            }
        }
        other => Err(bad(format!("element {other}"))),
    }
}
