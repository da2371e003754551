//! The engine: containers, exec, networks and volumes as plain Rust calls that know nothing of
//! HTTP. Each call takes typed arguments and returns [`EngineError`]; `api/` translates requests
//! into these calls and their errors into Docker's status codes.

pub mod addresses;
pub mod adopt;
pub mod build;
pub mod commit;
pub mod daemon;
pub mod dns;
pub mod error;
pub mod events;
pub mod exec;
pub mod filters;
pub mod health;
pub mod incarnations;
pub mod lifecycle;
pub mod links;
pub mod netconnect;
pub mod network;
pub mod networks;
pub mod plugins;
pub mod ports;
pub mod restore;
pub mod shutdown;
pub mod store;
pub mod sweep;
pub mod top;
pub mod usernets;
pub mod userns;
pub mod volumes;
pub mod watcher;
pub use error::EngineError;
