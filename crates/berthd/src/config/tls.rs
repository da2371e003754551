//! The remote API's TLS settings, with dockerd's flags and daemon.json keys: `tls`,
//! `tlsverify`, `tlscacert`, `tlscert`, `tlskey`.
//!
//! Berth is stricter than dockerd: a `tcp://` host is served only with mutual TLS
//! (`tlsverify`: a client must present a certificate the CA signed), because whoever reaches the
//! API drives the engine as root. dockerd's `--tls` alone (server TLS, any client) is refused,
//! as a plain `tcp://` host is. The three files are named explicitly: dockerd's defaults
//! (`~/.docker/*.pem` of the user running it) are not looked up. They are read once at start; a
//! SIGHUP does not reload them (a change is reported as needing a restart).

use super::ConfigError;
use serde::Deserialize;
use std::path::PathBuf;

/// daemon.json keys of this file.
pub const KEYS: &[&str] = &["tls", "tlsverify", "tlscacert", "tlscert", "tlskey"];

#[derive(Debug, Clone, Default, clap::Args)]
pub struct TlsFlags {
    /// Use TLS; Berth needs --tlsverify with it (clients must present a certificate)
    #[arg(long = "tls", num_args = 0..=1, default_missing_value = "true", value_name = "BOOL")]
    pub tls: Option<bool>,
    /// Serve tcp:// hosts over mutual TLS: clients must present a certificate --tlscacert signed
    #[arg(long = "tlsverify", num_args = 0..=1, default_missing_value = "true", value_name = "BOOL")]
    pub tlsverify: Option<bool>,
    /// CA certificate(s) that sign the clients' certificates (PEM)
    #[arg(long = "tlscacert", value_name = "FILE")]
    pub tlscacert: Option<PathBuf>,
    /// The daemon's TLS certificate chain (PEM)
    #[arg(long = "tlscert", value_name = "FILE")]
    pub tlscert: Option<PathBuf>,
    /// The daemon's TLS private key (PEM)
    #[arg(long = "tlskey", value_name = "FILE")]
    pub tlskey: Option<PathBuf>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct TlsFile {
    pub tls: Option<bool>,
    pub tlsverify: Option<bool>,
    pub tlscacert: Option<PathBuf>,
    pub tlscert: Option<PathBuf>,
    pub tlskey: Option<PathBuf>,
}

/// In force: the files of mutual TLS, for the `tcp://` hosts.
#[derive(Debug, Clone, PartialEq)]
pub struct TlsFiles {
    pub cacert: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
}

pub fn conflicts(f: &TlsFlags, file: &TlsFile, out: &mut Vec<String>) {
    let mut check = |key: &str, a: Option<String>, b: Option<String>| {
        if let (Some(a), Some(b)) = (a, b) {
            out.push(format!("{key}: (from flag: {a}, from file: {b})"));
        }
    };
    let s = |p: &Option<PathBuf>| p.as_ref().map(|p| p.display().to_string());
    check("tls", f.tls.map(|b| b.to_string()), file.tls.map(|b| b.to_string()));
    check("tlsverify", f.tlsverify.map(|b| b.to_string()), file.tlsverify.map(|b| b.to_string()));
    check("tlscacert", s(&f.tlscacert), s(&file.tlscacert));
    check("tlscert", s(&f.tlscert), s(&file.tlscert));
    check("tlskey", s(&f.tlskey), s(&file.tlskey));
}

/// The TLS files when `tlsverify` is on; refuses `tls` without it, and `tlsverify` with a file
/// missing. `tcp_hosts` are the TCP hosts asked for: without `tlsverify` there may be none.
pub fn merge(f: &TlsFlags, file: &TlsFile, tcp_hosts: &[&str]) -> Result<Option<TlsFiles>, ConfigError> {
    let tls = f.tls.or(file.tls).unwrap_or(false);
    let verify = f.tlsverify.or(file.tlsverify).unwrap_or(false);
    if tls && !verify {
        return Err(ConfigError::Invalid(
            "--tls (\"tls\" in daemon.json) without --tlsverify: Berth serves TLS only with client certificates (mutual TLS); add --tlsverify and --tlscacert".into(),
        ));
    }
    if !verify {
        if let Some(h) = tcp_hosts.first() {
            return Err(ConfigError::Invalid(format!(
                "host '{h}': a tcp:// host is served only over mutual TLS, whoever reaches it driving the engine as root: add --tlsverify with --tlscacert, --tlscert and --tlskey (\"tlsverify\", \"tlscacert\", \"tlscert\", \"tlskey\" in daemon.json)"
            )));
        }
        return Ok(None);
    }
    let need = |flag: &Option<PathBuf>, from_file: &Option<PathBuf>, key: &str, what: &str| {
        flag.clone().or(from_file.clone()).ok_or_else(|| {
            ConfigError::Invalid(format!("--tlsverify needs --{key} (\"{key}\" in daemon.json): {what}"))
        })
    };
    Ok(Some(TlsFiles {
        cacert: need(&f.tlscacert, &file.tlscacert, "tlscacert", "the CA certificate that signs the clients'")?,
        cert: need(&f.tlscert, &file.tlscert, "tlscert", "the daemon's certificate")?,
        key: need(&f.tlskey, &file.tlskey, "tlskey", "the daemon's private key")?,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tcp_needs_tlsverify_and_tls_alone_is_refused() {
        let none = TlsFile::default();
        let err = |f: &TlsFlags, h: &[&str]| merge(f, &none, h).unwrap_err().to_string();
        assert!(err(&TlsFlags::default(), &["tcp://127.0.0.1:2376"]).contains("--tlsverify"));
        assert!(err(&TlsFlags { tls: Some(true), ..Default::default() }, &[]).contains("--tls "));
        let partial = TlsFlags { tlsverify: Some(true), tlscacert: Some("/ca".into()), ..Default::default() };
        assert!(err(&partial, &[]).contains("--tlscert"));
        assert_eq!(merge(&TlsFlags::default(), &none, &[]).unwrap(), None);
        let file = TlsFile {
            tlsverify: Some(true),
            tlscacert: Some("/ca".into()),
            tlscert: Some("/c".into()),
            tlskey: Some("/k".into()),
            ..Default::default()
        };
        let got = merge(&TlsFlags::default(), &file, &["tcp://127.0.0.1:1"]).unwrap().unwrap();
        assert_eq!(got.key, PathBuf::from("/k"));
    }
}
