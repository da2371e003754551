//! The containers in memory: each record (`model::Container`) behind a lock, persisted as one
//! crash-consistent JSON file per container in the data-root, with a name index.

use crate::model::{Container, Status};
use berth_proto::fsutil;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use tokio::sync::watch;

/// A container in memory: its record, a lock serializing lifecycle operations, and a change
/// counter that `wait` and `logs -f` watch.
pub struct Entry {
    pub rec: Mutex<Container>,
    pub op: Arc<tokio::sync::Mutex<()>>,
    pub changed: watch::Sender<u64>,
    pub dir: PathBuf,
}

impl Entry {
    pub fn snapshot(&self) -> Container {
        self.rec.lock().expect("container lock").clone()
    }

    /// Changes the record, persists it, and wakes watchers.
    pub fn update<R>(&self, f: impl FnOnce(&mut Container) -> R) -> std::io::Result<R> {
        let (r, snap) = {
            let mut c = self.rec.lock().expect("container lock");
            let r = f(&mut c);
            (r, c.clone())
        };
        fsutil::write_json_atomic(&self.dir.join("container.json"), &snap)?;
        self.changed.send_modify(|n| *n += 1);
        Ok(r)
    }

    /// Changes the in-memory record only: for transitions whose persisted form does not change
    /// (restoring → running), so a restore of N containers costs no N fsyncs.
    pub fn set_mem(&self, f: impl FnOnce(&mut Container)) {
        f(&mut self.rec.lock().expect("container lock"));
        self.changed.send_modify(|n| *n += 1);
    }

    pub fn status(&self) -> Status {
        self.rec.lock().expect("container lock").state.status
    }
}

#[derive(Debug, thiserror::Error)]
pub enum LookupError {
    #[error("No such container: {0}")]
    NotFound(String),
    #[error("Multiple IDs found with provided prefix: {0}")]
    Ambiguous(String),
}

/// All containers, by id, with a name index.
pub struct Store {
    root: PathBuf,
    by_id: RwLock<HashMap<String, Arc<Entry>>>,
}

impl Store {
    /// Loads every container record under `<data-root>/containers`. Unreadable records are skipped
    /// with a log line, never deleted: the user may repair them.
    pub fn load(data_root: &Path) -> std::io::Result<Store> {
        let root = data_root.join("containers");
        fsutil::create_dir_mode(&root, fsutil::modes::CONTAINER_DIR)?;
        let mut dirs = Vec::new();
        for ent in std::fs::read_dir(&root)? {
            let ent = ent?;
            // Dot-directories are forgotten containers and temporaries, not containers.
            if !ent.file_name().to_string_lossy().starts_with('.') {
                dirs.push(ent.path());
            }
        }
        // The API answers only once every record is read (a request may name any container):
        // with 1000 containers that is 1000 files read and parsed, split over the cores.
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).min(8);
        let chunk = dirs.len().div_ceil(threads).max(64);
        let map = std::thread::scope(|s| {
            let parts: Vec<_> = dirs.chunks(chunk).map(|part| s.spawn(move || read_records(part))).collect();
            parts
                .into_iter()
                .flat_map(|h| h.join().expect("reading container records panicked"))
                .collect::<HashMap<_, _>>()
        });
        Ok(Store { root, by_id: RwLock::new(map) })
    }

    pub fn dir_of(&self, id: &str) -> PathBuf {
        self.root.join(id)
    }

    /// Adds a new container, refusing a name in use (Docker's 409 wording is built by the caller).
    pub fn insert(&self, c: Container) -> Result<Arc<Entry>, (String, std::io::Error)> {
        let mut map = self.by_id.write().expect("store lock");
        if let Some(other) = map.values().find(|e| e.rec.lock().expect("lock").name == c.name) {
            let other_id = other.rec.lock().expect("lock").id.clone();
            return Err((other_id, std::io::Error::from(std::io::ErrorKind::AlreadyExists)));
        }
        let dir = self.root.join(&c.id);
        fsutil::create_dir_mode(&dir, fsutil::modes::CONTAINER_DIR).map_err(|e| (String::new(), e))?;
        fsutil::write_json_atomic(&dir.join("container.json"), &c).map_err(|e| (String::new(), e))?;
        let e = Arc::new(new_entry(c.clone(), dir));
        map.insert(c.id, e.clone());
        Ok(e)
    }

    /// Gives container `id` the name `new` in memory, unless another container has it (Err: its id).
    /// The caller persists the record.
    pub fn rename(&self, id: &str, new: &str) -> Result<(), String> {
        let map = self.by_id.write().expect("store lock");
        if let Some(other) = map.values().map(|e| e.rec.lock().expect("lock")).find(|c| c.name == new && c.id != id) {
            return Err(other.id.clone());
        }
        if let Some(e) = map.get(id) {
            e.rec.lock().expect("lock").name = new.to_string();
        }
        Ok(())
    }

    pub fn remove(&self, id: &str) {
        self.by_id.write().expect("store lock").remove(id);
    }

    pub fn len(&self) -> usize {
        self.by_id.read().expect("store lock").len()
    }

    pub fn all(&self) -> Vec<Arc<Entry>> {
        self.by_id.read().expect("store lock").values().cloned().collect()
    }

    pub fn name_in_use(&self, name: &str) -> Option<String> {
        self.by_id
            .read()
            .expect("store lock")
            .values()
            .map(|e| e.rec.lock().expect("lock"))
            .find(|c| c.name == name)
            .map(|c| c.id.clone())
    }

    /// Docker's lookup order: full id, exact name, unique id prefix.
    pub fn get(&self, key: &str) -> Result<Arc<Entry>, LookupError> {
        let map = self.by_id.read().expect("store lock");
        if let Some(e) = map.get(key) {
            return Ok(e.clone());
        }
        let name = key.strip_prefix('/').unwrap_or(key);
        if let Some(e) = map.values().find(|e| e.rec.lock().expect("lock").name == name) {
            return Ok(e.clone());
        }
        if key.is_empty() || !key.chars().all(|c| c.is_ascii_hexdigit()) {
            return Err(LookupError::NotFound(key.to_string()));
        }
        let mut hits = map.iter().filter(|(id, _)| id.starts_with(key));
        match (hits.next(), hits.next()) {
            (Some((_, e)), None) => Ok(e.clone()),
            (Some(_), Some(_)) => Err(LookupError::Ambiguous(key.to_string())),
            _ => Err(LookupError::NotFound(key.to_string())),
        }
    }
}

fn read_records(dirs: &[PathBuf]) -> Vec<(String, Arc<Entry>)> {
    let mut out = Vec::with_capacity(dirs.len());
    for dir in dirs {
        match fsutil::read_json::<Container>(&dir.join("container.json")) {
            Ok(Some(c)) => out.push((c.id.clone(), Arc::new(new_entry(c, dir.clone())))),
            Ok(None) => {
                tracing::warn!(dir = %dir.display(), "container directory without a record; left alone")
            }
            Err(e) => {
                tracing::error!(dir = %dir.display(), error = %e, "unreadable container record; left alone")
            }
        }
    }
    out
}

fn new_entry(c: Container, dir: PathBuf) -> Entry {
    Entry { rec: Mutex::new(c), op: Arc::new(tokio::sync::Mutex::new(())), changed: watch::channel(0).0, dir }
}

/// A new random 64-hex container id.
pub fn new_id() -> String {
    use rand::RngCore;
    let mut b = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut b);
    hex::encode(b)
}

/// RFC 3339 with nanoseconds, UTC, as Docker prints times.
pub fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
}

/// Docker's name rule: `[a-zA-Z0-9][a-zA-Z0-9_.-]+`.
pub fn valid_name(n: &str) -> bool {
    let mut ch = n.chars();
    matches!(ch.next(), Some(c) if c.is_ascii_alphanumeric())
        && n.len() >= 2
        && n.len() <= 255
        && ch.all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
}

/// Docker-style generated names: adjective_surname.
pub fn generate_name(store: &Store) -> String {
    use rand::seq::SliceRandom;
    const LEFT: &[&str] = &[
        "brave", "calm", "eager", "fond", "gentle", "happy", "keen", "lucid", "merry", "nifty", "quirky", "serene",
        "tender", "vivid", "witty", "zealous",
    ];
    const RIGHT: &[&str] = &[
        "hopper", "lovelace", "turing", "curie", "noether", "ritchie", "thompson", "torvalds", "goldberg", "hamilton",
        "knuth", "liskov", "meitner", "shannon", "wozniak", "yonath",
    ];
    let mut rng = rand::thread_rng();
    loop {
        let n = format!("{}_{}", LEFT.choose(&mut rng).expect("nonempty"), RIGHT.choose(&mut rng).expect("nonempty"));
        let n = if store.name_in_use(&n).is_some() { format!("{n}{}", rand::random::<u16>() % 100) } else { n };
        if store.name_in_use(&n).is_none() {
            return n;
        }
    }
}
