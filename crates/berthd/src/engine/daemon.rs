//! The daemon's shared state and the pieces every API handler reaches for.

use crate::config::Config;
use crate::engine::events::Events;
use crate::engine::store::Store;
use crate::engine::EngineError;
use berth_image::{ImageStore, StorageDriver};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};

pub struct Daemon {
    pub config: RwLock<Config>,
    pub store: Store,
    pub images: Arc<ImageStore>,
    drivers: Mutex<HashMap<String, Arc<dyn StorageDriver>>>,
    pub events: Events,
    pub shim_binary: PathBuf,
    pub builtin_runtime: PathBuf,
    pub shutting_down: AtomicBool,
    pub id: String,
    /// Exec instances (`docker exec`), by id; kept for inspection after they end.
    pub execs: Mutex<HashMap<String, crate::engine::exec::ExecInfo>>,
    pub net: crate::engine::network::Network,
    /// When this daemon came up: files older than this that no record claims were left by a
    /// previous daemon's interrupted operation; newer ones may belong to one in flight.
    pub booted: std::time::SystemTime,
    pub volumes: crate::engine::volumes::Volumes,
}

/// Finds a sibling binary of berthd (installed side by side), or one named by an environment
/// variable (tests and packagers).
pub fn sibling_binary(name: &str, env: &str) -> PathBuf {
    if let Some(p) = std::env::var_os(env) {
        return PathBuf::from(p);
    }
    if let Ok(exe) = std::env::current_exe() {
        if let Some(dir) = exe.parent() {
            let p = dir.join(name);
            if p.exists() {
                return p;
            }
        }
    }
    PathBuf::from(name)
}

/// Finds a program in PATH or the usual sbin directories.
pub fn find_program(name: &str) -> Option<PathBuf> {
    let path = std::env::var("PATH").unwrap_or_default();
    let found = path
        .split(':')
        .chain(["/usr/local/sbin", "/usr/sbin", "/sbin", "/usr/local/bin", "/usr/bin", "/bin"])
        .map(|d| Path::new(d).join(name))
        .find(|p| p.is_file());
    found
}

impl Daemon {
    pub fn new(config: Config) -> Result<Daemon, EngineError> {
        let booted = std::time::SystemTime::now();
        let data_root = config.data_root.clone();
        let exec_root = config.exec_root.clone();
        std::fs::create_dir_all(&data_root)?;
        std::fs::create_dir_all(config.exec_root.join("shims"))?;
        // What must be read before the API can answer (a record per container, the image
        // configs, the events journal), side by side: the API's first answer waits for all three.
        let (store, images, events) = std::thread::scope(|s| {
            let images = s.spawn(|| ImageStore::open(&data_root));
            let events = s.spawn(|| Events::open(Some(data_root.join("events.jsonl"))));
            let store = Store::load(&data_root);
            let images = images.join().map_err(|_| EngineError::internal("opening the image store panicked"))?;
            let events = events.join().map_err(|_| EngineError::internal("reading the events journal panicked"))?;
            Ok::<_, EngineError>((store?, Arc::new(images?), events))
        })?;
        let id_file = data_root.join("engine-id");
        let id = match std::fs::read_to_string(&id_file) {
            Ok(s) if !s.trim().is_empty() => s.trim().to_string(),
            _ => {
                let id = crate::engine::store::new_id()[..32].to_uppercase();
                berth_proto::fsutil::write_atomic(&id_file, id.as_bytes())?;
                id
            }
        };
        let d = Daemon {
            config: RwLock::new(config),
            store,
            images,
            drivers: Mutex::new(HashMap::new()),
            events,
            shim_binary: sibling_binary("berth-shim", "BERTH_SHIM"),
            builtin_runtime: sibling_binary("berth-runtime", "BERTH_RUNTIME"),
            shutting_down: AtomicBool::new(false),
            id,
            execs: Mutex::new(HashMap::new()),
            net: crate::engine::network::Network::new(&data_root, &exec_root),
            booted,
            volumes: crate::engine::volumes::Volumes::new(&data_root),
        };
        crate::sealed_runtime::init(&d.builtin_runtime);
        d.volumes.sweep();
        // The default driver must work before we accept containers on it.
        let def = d.config().storage_driver.clone();
        d.driver(&def)?;
        Ok(d)
    }

    pub fn config(&self) -> Config {
        self.config.read().expect("config lock").clone()
    }

    /// The storage driver a container was created under (kept per container, invariant 8).
    pub fn driver(&self, name: &str) -> Result<Arc<dyn StorageDriver>, berth_image::ImageError> {
        let mut m = self.drivers.lock().expect("drivers lock");
        if let Some(d) = m.get(name) {
            return Ok(d.clone());
        }
        let d: Arc<dyn StorageDriver> = Arc::from(berth_image::driver(name, &self.config().data_root)?);
        m.insert(name.to_string(), d.clone());
        Ok(d)
    }

    /// Runtimes by name: the built-in one, runc when installed, and the configured ones.
    pub fn runtimes(&self) -> Vec<(String, PathBuf, Vec<String>)> {
        let cfg = self.config();
        let mut v = vec![("berth".to_string(), self.builtin_runtime.clone(), vec![])];
        if !cfg.runtimes.contains_key("runc") {
            if let Some(p) = find_program("runc") {
                v.push(("runc".into(), p, vec![]));
            }
        }
        for (n, r) in &cfg.runtimes {
            v.retain(|(name, _, _)| name != n);
            v.push((n.clone(), r.path.clone(), r.runtime_args.clone()));
        }
        v
    }

    pub fn runtime(&self, name: &str) -> Option<(PathBuf, Vec<String>)> {
        self.runtimes().into_iter().find(|(n, _, _)| n == name).map(|(_, p, a)| (p, a))
    }

    /// How pulls and pushes reach registries, from daemon.json.
    pub fn registry_options(&self) -> berth_registry::Options {
        let c = self.config();
        let secs = std::env::var("BERTH_REGISTRY_TIMEOUT_SECS").ok().and_then(|v| v.parse().ok()).unwrap_or(30);
        berth_registry::Options {
            insecure: c.insecure_registries.clone(),
            mirrors: c.registry_mirrors.clone(),
            max_downloads: c.max_concurrent_downloads,
            max_uploads: c.max_concurrent_uploads,
            read_timeout: std::time::Duration::from_secs(secs),
        }
    }

    pub fn is_shutting_down(&self) -> bool {
        self.shutting_down.load(Ordering::SeqCst)
    }
}
