//! Registries: `docker pull`, `docker push` and `docker login` against any registry that speaks
//! the OCI distribution API, with the `oci-client` crate doing the protocol (manifests, indexes,
//! blobs, basic and bearer-token auth). Berth's part: which registries are plain HTTP, mirrors,
//! concurrency, progress as Docker reports it, and the rule that nothing reaches the image store
//! before its digest is verified.

#![deny(unsafe_code)]

mod pull;
mod push;

pub use pull::{check_platform, pull, Pulled};
pub use push::{push, Pushed};

use oci_client::client::{ClientConfig, ClientProtocol};
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, Reference};
use std::time::Duration;

/// A registry operation that failed; the message is what the user sees.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// invalid reference format: {0}
    #[error("invalid reference format: {0}")]
    Reference(String),
    /// The registry does not have it (404).
    #[error("{0}")]
    NotFound(String),
    /// Credentials missing or refused (401/403).
    #[error("{0}")]
    Unauthorized(String),
    /// A blob's content does not match its digest.
    #[error("{0}")]
    Digest(String),
    /// The image store refused something.
    #[error(transparent)]
    Image(#[from] berth_image::ImageError),
    #[error("{0}")]
    Other(String),
}

/// What kind of failure an oci-client error is, from its structure (status codes, the registry's
/// error codes) rather than its text: a URL may hold "404" in its port.
#[derive(Debug, PartialEq)]
enum Kind {
    NotFound,
    Unauthorized,
    Other,
}

fn kind_of_status(code: u16) -> Kind {
    match code {
        404 => Kind::NotFound,
        401 | 403 => Kind::Unauthorized,
        _ => Kind::Other,
    }
}

fn kind_of(e: &oci_client::errors::OciDistributionError) -> Kind {
    use oci_client::errors::{OciDistributionError as E, OciErrorCode as C};
    match e {
        E::ImageManifestNotFoundError(_) => Kind::NotFound,
        E::AuthenticationFailure(_) | E::UnauthorizedError { .. } => Kind::Unauthorized,
        E::ServerError { code, .. } => kind_of_status(*code),
        E::RequestError(r) => r.status().map_or(Kind::Other, |s| kind_of_status(s.as_u16())),
        E::RegistryError { envelope, .. } => {
            let codes: Vec<&C> = envelope.errors.iter().map(|x| &x.code).collect();
            if codes.iter().any(|c| matches!(c, C::Unauthorized | C::Denied)) {
                Kind::Unauthorized
            } else if codes
                .iter()
                .any(|c| matches!(c, C::ManifestUnknown | C::NameUnknown | C::BlobUnknown | C::NotFound))
            {
                Kind::NotFound
            } else {
                Kind::Other
            }
        }
        _ => Kind::Other,
    }
}

impl RegistryError {
    fn from_oci(what: &str, e: oci_client::errors::OciDistributionError) -> RegistryError {
        use oci_client::errors::OciDistributionError as E;
        let kind = kind_of(&e);
        let text = chain(&e);
        match (e, kind) {
            (E::DigestError(d), _) => RegistryError::Digest(format!("{what}: verification failed: {d}")),
            (E::AuthenticationFailure(m), _) => RegistryError::Unauthorized(format!("{what}: unauthorized: {m}")),
            (E::UnauthorizedError { url }, _) => {
                RegistryError::Unauthorized(format!("{what}: unauthorized: authentication required ({url})"))
            }
            (E::ImageManifestNotFoundError(m), _) => RegistryError::NotFound(format!("{what}: manifest unknown: {m}")),
            (_, Kind::NotFound) => RegistryError::NotFound(format!("{what}: not found: {text}")),
            (_, Kind::Unauthorized) => RegistryError::Unauthorized(format!("{what}: unauthorized: {text}")),
            (_, Kind::Other) => RegistryError::Other(format!("{what}: {text}")),
        }
    }
}

/// An error with its causes, as one line (a timeout is only named deep in the chain).
fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        let m = c.to_string();
        if !s.contains(&m) {
            s = format!("{s}: {m}");
        }
        cur = c.source();
    }
    s
}

/// The daemon's registry settings (daemon.json keys of the same names).
#[derive(Debug, Clone)]
pub struct Options {
    /// `host:port` reached over plain HTTP, besides loopback ones (`insecure-registries`).
    pub insecure: Vec<String>,
    /// Tried before Docker Hub for its images (`registry-mirrors`).
    pub mirrors: Vec<String>,
    pub max_downloads: usize,
    pub max_uploads: usize,
    /// A registry that sends nothing for this long fails the operation.
    pub read_timeout: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            insecure: Vec::new(),
            mirrors: Vec::new(),
            max_downloads: 3,
            max_uploads: 5,
            read_timeout: Duration::from_secs(30),
        }
    }
}

/// Docker's rule: loopback registries are always insecure (plain HTTP allowed).
fn is_loopback(registry: &str) -> bool {
    let host = registry.rsplit_once(':').map(|(h, _)| h).unwrap_or(registry);
    host == "localhost" || host.starts_with("127.") || host == "[::1]" || host == "::1"
}

impl Options {
    fn client(&self, registry: &str, platform: Option<(String, String)>) -> Client {
        let mut http: Vec<String> = self.insecure.clone();
        if is_loopback(registry) {
            http.push(registry.to_string());
        }
        let mut cfg = ClientConfig {
            protocol: ClientProtocol::HttpsExcept(http),
            max_concurrent_download: self.max_downloads,
            max_concurrent_upload: self.max_uploads,
            read_timeout: Some(self.read_timeout),
            connect_timeout: Some(Duration::from_secs(10)),
            ..Default::default()
        };
        // As dockerd (Go's ProxyFromEnvironment): the environment's proxies, never for loopback.
        // Naming them here also stops reqwest applying them on its own, without that exception.
        let env =
            |k: &str| std::env::var(k).or_else(|_| std::env::var(k.to_lowercase())).ok().filter(|v| !v.is_empty());
        cfg.https_proxy = env("HTTPS_PROXY");
        cfg.http_proxy = env("HTTP_PROXY");
        let mut no_proxy = env("NO_PROXY").unwrap_or_default();
        no_proxy.push_str(",localhost,127.0.0.0/8,::1");
        cfg.no_proxy = Some(no_proxy.trim_start_matches(',').to_string());
        if let Some((os, arch)) = platform {
            cfg.platform_resolver = Some(Box::new(move |entries: &[oci_client::manifest::ImageIndexEntry]| {
                entries
                    .iter()
                    .find(|e| {
                        e.platform
                            .as_ref()
                            .is_some_and(|p| p.os.to_string() == os && p.architecture.to_string() == arch)
                    })
                    .map(|e| e.digest.clone())
            }));
        }
        Client::new(cfg)
    }
}

/// `name[:tag|@digest]` as the registry knows it (`busybox` is `docker.io/library/busybox:latest`).
pub fn parse_reference(name: &str) -> Result<Reference, RegistryError> {
    name.parse::<Reference>().map_err(|e| RegistryError::Reference(format!("{name}: {e}")))
}

/// Credentials as the CLI sends them (`X-Registry-Auth`, the body of `POST /auth`).
#[derive(Debug, Clone, Default)]
pub struct Credentials {
    pub username: String,
    pub password: String,
    pub identity_token: String,
}

impl Credentials {
    fn auth(&self) -> RegistryAuth {
        if !self.identity_token.is_empty() {
            RegistryAuth::Bearer(self.identity_token.clone())
        } else if !self.username.is_empty() {
            RegistryAuth::Basic(self.username.clone(), self.password.clone())
        } else {
            RegistryAuth::Anonymous
        }
    }
}

/// What a pull or push reports as it goes, in Docker's vocabulary.
#[derive(Debug, Clone)]
pub enum Event {
    /// A line without a layer ("Pulling from library/busybox", "Digest: …", "Status: …").
    Status(String),
    /// `id` is the layer's short id; `current`/`total` in bytes when known.
    Layer { id: String, status: &'static str, current: u64, total: u64 },
}

/// `docker login`: the registry accepts these credentials.
pub async fn check_login(opts: &Options, server: &str, creds: &Credentials) -> Result<(), RegistryError> {
    let server = server.trim_start_matches("https://").trim_start_matches("http://").trim_end_matches('/');
    let server = if server.is_empty() || server.contains("index.docker.io") { "docker.io" } else { server };
    let probe = parse_reference(&format!("{server}/berth/login-check:latest"))?;
    let client = opts.client(server, None);
    let auth = creds.auth();
    let what = format!("login to {server}");
    client
        .auth(&probe, &auth, oci_client::RegistryOperation::Pull)
        .await
        .map_err(|e| RegistryError::from_oci(&what, e))?;
    // Basic auth is only checked by a request: a refused one is 401, an accepted one 404.
    match client.fetch_manifest_digest(&probe, &auth).await {
        Ok(_) => Ok(()),
        Err(e) => match RegistryError::from_oci(&what, e) {
            RegistryError::NotFound(_) => Ok(()),
            other => Err(other),
        },
    }
}

/// The short id Docker shows for a layer: 12 hex digits of its digest.
fn short(digest: &str) -> String {
    let hex = digest.split_once(':').map(|(_, h)| h).unwrap_or(digest);
    hex.chars().take(12).collect()
}

/// A private directory for blobs in transit, under the data-root, removed on drop (and swept at
/// the next start if the daemon dies first: it is a `.tmp-` name).
struct TempDir(std::path::PathBuf);

impl TempDir {
    fn new(store: &berth_image::ImageStore, what: &str) -> Result<TempDir, RegistryError> {
        let p = store.data_root().join("image").join(format!(".tmp-{what}-{:016x}", rand::random::<u64>()));
        std::fs::create_dir_all(&p).map_err(|e| RegistryError::Other(format!("creating {}: {e}", p.display())))?;
        Ok(TempDir(p))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn loopback_registries_are_insecure() {
        assert!(super::is_loopback("127.0.0.1:5000"));
        assert!(super::is_loopback("localhost:5000"));
        assert!(!super::is_loopback("registry.example.com"));
        assert_eq!(super::short("sha256:0123456789abcdef"), "0123456789ab");
    }

    #[test]
    fn errors_are_classified_by_status_and_code_not_by_text() {
        use super::RegistryError as R;
        use oci_client::errors::{OciDistributionError as E, OciEnvelope, OciError, OciErrorCode as C};
        let server = |code: u16| E::ServerError {
            code,
            url: "http://127.0.0.1:40404/v2/x/manifests/1".into(),
            message: "m".into(),
        };
        // CI saw a stall on port 40407 reported as "not found": the port held "404".
        assert!(matches!(R::from_oci("pull", server(500)), R::Other(m) if m.contains("code: 500")));
        assert!(matches!(R::from_oci("pull", server(404)), R::NotFound(_)));
        assert!(matches!(R::from_oci("pull", server(401)), R::Unauthorized(_)));
        let envelope = |code| E::RegistryError {
            envelope: OciEnvelope {
                errors: vec![OciError { code, message: "x".into(), detail: serde_json::Value::Null }],
            },
            url: "http://127.0.0.1:40404/v2/".into(),
        };
        assert!(matches!(R::from_oci("pull", envelope(C::ManifestUnknown)), R::NotFound(_)));
        assert!(matches!(R::from_oci("pull", envelope(C::Denied)), R::Unauthorized(_)));
        assert!(matches!(R::from_oci("pull", envelope(C::Unsupported)), R::Other(_)));
        let plain = E::GenericError(Some("not found at :40404".into()));
        assert!(matches!(R::from_oci("pull", plain), R::Other(_)));
    }
}
