//! Engine events: a broadcast for `GET /events` subscribers, and a journal on disk so that
//! `--since` reaches back across daemon restarts (events that happened during an outage are
//! emitted on restore with their true times).

use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, VecDeque};
use std::io::Write;
use std::path::PathBuf;
use std::sync::Mutex;
use tokio::sync::broadcast;

/// Docker's event message (`/events` stream object), with the legacy top-level fields.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Event {
    #[serde(rename = "Type")]
    pub kind: String,
    #[serde(rename = "Action")]
    pub action: String,
    #[serde(rename = "Actor")]
    pub actor: Actor,
    pub scope: String,
    pub time: i64,
    #[serde(rename = "timeNano")]
    pub time_nano: i64,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub status: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub from: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct Actor {
    #[serde(rename = "ID")]
    pub id: String,
    #[serde(rename = "Attributes")]
    pub attributes: BTreeMap<String, String>,
}

const KEEP: usize = 2048;

pub struct Events {
    tx: broadcast::Sender<Event>,
    recent: Mutex<VecDeque<Event>>,
    journal: Option<PathBuf>,
}

impl Events {
    /// Opens the journal and keeps its newest entries for `--since` queries.
    pub fn open(journal: Option<PathBuf>) -> Events {
        let mut recent = VecDeque::new();
        if let Some(p) = &journal {
            if let Ok(text) = std::fs::read_to_string(p) {
                for l in text.lines() {
                    if let Ok(e) = serde_json::from_str::<Event>(l) {
                        recent.push_back(e);
                        if recent.len() > KEEP {
                            recent.pop_front();
                        }
                    }
                }
                // Keep the journal short: rewrite it with what we keep.
                if text.lines().count() > KEEP * 2 {
                    let body: String =
                        recent.iter().map(|e| serde_json::to_string(e).unwrap_or_default() + "\n").collect();
                    let _ = berth_proto::fsutil::write_atomic(p, body.as_bytes());
                }
            }
        }
        Events { tx: broadcast::channel(1024).0, recent: Mutex::new(recent), journal }
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.tx.subscribe()
    }

    pub fn history(&self) -> Vec<Event> {
        self.recent.lock().expect("events lock").iter().cloned().collect()
    }

    /// Whether an event of this kind, action and actor at exactly this time is in the history, or
    /// too old for a full history to tell (then it was seen: the history keeps the newest).
    pub fn seen(&self, kind: &str, action: &str, id: &str, time_nano: i64) -> bool {
        let r = self.recent.lock().expect("events lock");
        if r.len() >= KEEP && r.front().is_some_and(|e| time_nano < e.time_nano) {
            return true;
        }
        r.iter().any(|e| e.time_nano == time_nano && e.kind == kind && e.action == action && e.actor.id == id)
    }

    /// Emits an event that happens now.
    pub fn emit(&self, kind: &str, action: &str, id: &str, attributes: BTreeMap<String, String>) {
        let now = chrono::Utc::now().timestamp_nanos_opt().unwrap_or(0);
        self.emit_at(kind, action, id, attributes, now);
    }

    /// Emits an event with its true time (for exits observed only after an outage).
    pub fn emit_at(&self, kind: &str, action: &str, id: &str, attributes: BTreeMap<String, String>, time_nano: i64) {
        let legacy = kind == "container" || kind == "image";
        let ev = Event {
            kind: kind.into(),
            action: action.into(),
            status: legacy.then(|| action.to_string()),
            id: legacy.then(|| id.to_string()),
            from: if kind == "container" { attributes.get("image").cloned() } else { None },
            actor: Actor { id: id.into(), attributes },
            scope: "local".into(),
            time: time_nano / 1_000_000_000,
            time_nano,
        };
        tracing::debug!(kind, action, id, "event");
        if let Some(p) = &self.journal {
            use std::os::unix::fs::OpenOptionsExt;
            let journal =
                std::fs::OpenOptions::new().create(true).append(true).mode(berth_proto::fsutil::PRIVATE_FILE).open(p);
            if let Ok(mut f) = journal {
                let _ = f.write_all((serde_json::to_string(&ev).unwrap_or_default() + "\n").as_bytes());
            }
        }
        {
            let mut r = self.recent.lock().expect("events lock");
            // Late events (true time in the past) are kept in time order.
            let pos = r.iter().rposition(|e| e.time_nano <= time_nano).map(|p| p + 1).unwrap_or(0);
            r.insert(pos, ev.clone());
            if r.len() > KEEP {
                r.pop_front();
            }
        }
        let _ = self.tx.send(ev);
    }
}

/// `filters` of `GET /events`: type, event/action, container, image, label, daemon.
pub fn matches(ev: &Event, filters: &BTreeMap<String, Vec<String>>) -> bool {
    filters.iter().all(|(k, vals)| {
        // Every label asked for must be on the actor (dockerd's MatchKVList); other keys match
        // when any of their values does.
        if k == "label" {
            return crate::engine::filters::labels_match(|k| ev.actor.attributes.get(k).map(String::as_str), vals);
        }
        vals.is_empty()
            || vals.iter().any(|v| match k.as_str() {
                "type" => &ev.kind == v,
                "event" | "action" => &ev.action == v || ev.action.split(':').next() == Some(v.as_str()),
                "container" => {
                    ev.kind == "container"
                        && (ev.actor.id.starts_with(v.as_str()) || ev.actor.attributes.get("name") == Some(v))
                }
                "image" => ev.actor.attributes.get("image") == Some(v) || (ev.kind == "image" && &ev.actor.id == v),
                "daemon" => ev.kind == "daemon",
                "scope" => &ev.scope == v,
                _ => true,
            })
    })
}
