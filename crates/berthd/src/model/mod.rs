//! The persisted records: what `container.json` holds. They import nothing above them (no
//! engine, no HTTP); the engine changes them, the API shows them. A change to a record is a
//! change of the on-disk format: a field added must read records that lack it (`serde(default)`),
//! and `tests.rs` reads a record written by the current format.

pub mod config;
pub mod container;
pub mod endpoint;
pub mod mount;
pub mod plugin;
pub mod seccomp;
#[cfg(test)]
mod tests;

pub use config::*;
pub use container::*;
pub use endpoint::{Endpoint6, NetEndpoint};
pub use mount::MountPoint;
pub use plugin::PluginRecord;
pub use seccomp::SeccompRecord;
