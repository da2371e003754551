//! `GET /events` messages.

use crate::serde_util::nullable;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct EventActor {
    #[serde(rename = "ID")]
    pub id: String,
    /// `null` from Go when empty.
    #[serde(rename = "Attributes", deserialize_with = "nullable")]
    pub attributes: BTreeMap<String, String>,
}

/// One event; `status`, `id` and `from` are the pre-1.22 fields docker still sends for
/// container and image events.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct EventMessage {
    #[serde(rename = "status", skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    #[serde(rename = "id", skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(rename = "from", skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    /// container, image, network, volume, daemon, …
    #[serde(rename = "Type")]
    pub type_: String,
    #[serde(rename = "Action")]
    pub action: String,
    #[serde(rename = "Actor")]
    pub actor: EventActor,
    /// "local" or "swarm".
    #[serde(rename = "scope", skip_serializing_if = "String::is_empty")]
    pub scope: String,
    /// Unix seconds.
    #[serde(rename = "time")]
    pub time: i64,
    /// Unix nanoseconds.
    #[serde(rename = "timeNano")]
    pub time_nano: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_names() {
        let e = EventMessage {
            status: Some("start".into()),
            id: Some("abc".into()),
            from: Some("busybox".into()),
            type_: "container".into(),
            action: "start".into(),
            actor: EventActor { id: "abc".into(), attributes: [("name".to_string(), "t".to_string())].into() },
            scope: "local".into(),
            time: 1,
            time_nano: 1_000_000_000,
        };
        let v = serde_json::to_value(&e).unwrap();
        assert_eq!(v["Actor"]["ID"], "abc");
        assert_eq!(v["timeNano"], 1_000_000_000i64);
        assert_eq!(v["scope"], "local");
        assert_eq!(serde_json::from_value::<EventMessage>(v).unwrap(), e);
    }
}
