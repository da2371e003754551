//! The server side of the remote API's mutual TLS: the daemon's certificate and key, and the CA
//! a client's certificate must chain to (rustls' `WebPkiClientVerifier`: a client without a
//! certificate, or with one another CA signed, fails the handshake).

use crate::config::tls::TlsFiles;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use std::path::Path;
use std::sync::Arc;

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A file could not be read or holds nothing usable; `key` is the flag/daemon.json key.
    #[error("--{key} (\"{key}\" in daemon.json) {}: {msg}", path.display())]
    File { key: &'static str, path: std::path::PathBuf, msg: String },
    /// The key is not the certificate's, or rustls refuses the pair.
    #[error("--tlscert {} and --tlskey {}: {msg}", cert.display(), key.display())]
    Pair { cert: std::path::PathBuf, key: std::path::PathBuf, msg: String },
}

fn read(key: &'static str, path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|e| TlsError::File { key, path: path.into(), msg: e.to_string() })
}

fn certs(key: &'static str, path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let bad = |msg: String| TlsError::File { key, path: path.into(), msg };
    let certs = CertificateDer::pem_slice_iter(&read(key, path)?)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| bad(format!("not a PEM certificate file: {e}")))?;
    if certs.is_empty() {
        return Err(bad("no PEM certificate (BEGIN CERTIFICATE) in it".into()));
    }
    Ok(certs)
}

/// Reads the three files; every failure names the file and its key.
pub fn server_config(files: &TlsFiles) -> Result<Arc<rustls::ServerConfig>, TlsError> {
    // The provider is named rather than taken from the process default: another crate of the
    // build enabling a second one would make the default ambiguous.
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    for ca in certs("tlscacert", &files.cacert)? {
        roots.add(ca).map_err(|e| TlsError::File {
            key: "tlscacert",
            path: files.cacert.clone(),
            msg: format!("not a usable CA certificate: {e}"),
        })?;
    }
    let chain = certs("tlscert", &files.cert)?;
    let key = PrivateKeyDer::from_pem_slice(&read("tlskey", &files.key)?).map_err(|e| TlsError::File {
        key: "tlskey",
        path: files.key.clone(),
        msg: format!("no PEM private key in it: {e}"),
    })?;
    let pair = |msg: String| TlsError::Pair { cert: files.cert.clone(), key: files.key.clone(), msg };
    let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .build()
        .map_err(|e| TlsError::File { key: "tlscacert", path: files.cacert.clone(), msg: e.to_string() })?;
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| pair(e.to_string()))?
        .with_client_cert_verifier(verifier)
        .with_single_cert(chain, key)
        .map_err(|e| pair(e.to_string()))?;
    Ok(Arc::new(config))
}
