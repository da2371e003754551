//! `docker pull`: manifest (the host's platform, or `--platform`, picked from an index), config,
//! then the missing layers downloaded concurrently into a private directory, each verified
//! against its digest as it arrives, then extracted in order and checked against the config's
//! diff ids; only then is the image created. A pull that dies half-way leaves temporary files
//! only (swept at the next start), never a visible half-written layer or image.

use crate::{chain, short, Credentials, Event, Options, RegistryError, TempDir};
use berth_image::{chain_id, ImageStore};
use futures_util::StreamExt;
use oci_client::manifest::OciDescriptor;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use tokio::io::AsyncWrite;

/// What a pull did.
#[derive(Debug, Clone)]
pub struct Pulled {
    pub id: String,
    /// The familiar name the image is tagged with (none when pulled by digest).
    pub tag: Option<String>,
    /// The digest of the manifest (or index) the reference named.
    pub digest: String,
    /// False when every layer and the image were already there.
    pub downloaded: bool,
}

/// Counts the bytes of a download and reports them about every 512 KiB.
struct Counted<'a, W> {
    inner: W,
    done: u64,
    reported: u64,
    total: u64,
    id: String,
    ev: &'a (dyn Fn(Event) + Send + Sync),
}

impl<W: AsyncWrite + Unpin> AsyncWrite for Counted<'_, W> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        let res = Pin::new(&mut self.inner).poll_write(cx, buf);
        if let Poll::Ready(Ok(n)) = res {
            self.done += n as u64;
            if self.done - self.reported >= 512 * 1024 || self.done == self.total {
                self.reported = self.done;
                (self.ev)(Event::Layer {
                    id: self.id.clone(),
                    status: "Downloading",
                    current: self.done,
                    total: self.total,
                });
            }
        }
        res
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

const KNOWN_OS: &[&str] = &[
    "aix",
    "android",
    "darwin",
    "dragonfly",
    "freebsd",
    "illumos",
    "ios",
    "js",
    "linux",
    "netbsd",
    "openbsd",
    "plan9",
    "solaris",
    "wasip1",
    "windows",
];
const KNOWN_ARCH: &[&str] = &[
    "386", "amd64", "arm", "arm64", "loong64", "mips", "mipsle", "mips64", "mips64le", "ppc64", "ppc64le", "riscv64",
    "s390x", "wasm", "x86_64", "aarch64", "i386", "armhf", "armel",
];

/// Checks a `platform` parameter before anything is asked of a registry (`os[/arch[/variant]]`
/// with an operating system and architecture Go knows), with dockerd's words when it is not.
pub fn check_platform(p: &str) -> Result<(), String> {
    let parts: Vec<&str> = p.split('/').collect();
    let known = match parts[..] {
        [os] => KNOWN_OS.contains(&os.to_ascii_lowercase().as_str()),
        [os, arch] | [os, arch, _] => {
            KNOWN_OS.contains(&os.to_ascii_lowercase().as_str())
                && KNOWN_ARCH.contains(&arch.to_ascii_lowercase().as_str())
        }
        _ => false,
    };
    match known {
        true => Ok(()),
        false => Err(format!("invalid platform {p:?}: unknown operating system or architecture: invalid argument")),
    }
}

/// Parses `os/arch` (`linux/arm64`).
fn platform(p: Option<&str>) -> Result<Option<(String, String)>, RegistryError> {
    let Some(p) = p.filter(|p| !p.is_empty()) else {
        return Ok(None);
    };
    match p.split('/').collect::<Vec<_>>()[..] {
        [os, arch] | [os, arch, _] => Ok(Some((os.to_string(), arch.to_string()))),
        _ => Err(RegistryError::Reference(format!("invalid platform {p:?}: expected os/arch such as linux/arm64"))),
    }
}

/// The registries to try for `reference`: mirrors first for Docker Hub images.
fn candidates(opts: &Options, reference: &oci_client::Reference) -> Vec<oci_client::Reference> {
    let mut out = Vec::new();
    if reference.registry() == "docker.io" || reference.registry() == "index.docker.io" {
        for m in &opts.mirrors {
            let host = m.trim_start_matches("https://").trim_start_matches("http://").trim_end_matches('/');
            let name = match (reference.tag(), reference.digest()) {
                (_, Some(d)) => format!("{host}/{}@{d}", reference.repository()),
                (t, None) => format!("{host}/{}:{}", reference.repository(), t.unwrap_or("latest")),
            };
            if let Ok(r) = crate::parse_reference(&name) {
                out.push(r);
            }
        }
    }
    out.push(reference.clone());
    out
}

/// The familiar `name:tag` to tag the image with (none for a digest reference).
fn familiar(name: &str, reference: &oci_client::Reference) -> Option<String> {
    if reference.digest().is_some() {
        return None;
    }
    berth_image::normalize_reference(name).ok()
}

pub async fn pull(
    store: Arc<ImageStore>,
    opts: &Options,
    name: &str,
    platform_arg: Option<&str>,
    creds: &Credentials,
    ev: &(dyn Fn(Event) + Send + Sync),
) -> Result<Pulled, RegistryError> {
    let reference = crate::parse_reference(name)?;
    let plat = platform(platform_arg)?;
    let auth = creds.auth();
    ev(Event::Status(format!("Pulling from {}", reference.repository())));
    let mut last_err = None;
    let mut found = None;
    for r in candidates(opts, &reference) {
        let client = opts.client(r.registry(), plat.clone());
        match client.pull_image_manifest_and_list_digest(&r, &auth).await {
            Ok((manifest, digest, list)) => {
                found = Some((client, r, manifest, list.unwrap_or(digest)));
                break;
            }
            Err(e) => last_err = Some(RegistryError::from_oci(&format!("pulling {name}"), e)),
        }
    }
    let Some((client, source, manifest, digest)) = found else {
        return Err(last_err.unwrap_or_else(|| RegistryError::Other(format!("pulling {name}: no registry to ask"))));
    };
    let mut config = Vec::new();
    client
        .pull_blob(&source, &manifest.config, &mut config)
        .await
        .map_err(|e| RegistryError::from_oci("image config", e))?;
    let parsed: serde_json::Value =
        serde_json::from_slice(&config).map_err(|e| RegistryError::Other(format!("invalid image config: {e}")))?;
    let diff_ids: Vec<String> = parsed["rootfs"]["diff_ids"]
        .as_array()
        .map(|a| a.iter().filter_map(|v| v.as_str().map(String::from)).collect())
        .unwrap_or_default();
    if diff_ids.len() != manifest.layers.len() {
        return Err(RegistryError::Other(format!(
            "image config names {} layers, the manifest {}",
            diff_ids.len(),
            manifest.layers.len()
        )));
    }
    let tag = familiar(name, &reference);
    let mut chains = Vec::new();
    let mut parent: Option<String> = None;
    for d in &diff_ids {
        let c = chain_id(parent.as_deref(), d);
        parent = Some(c.clone());
        chains.push(c);
    }
    let missing: Vec<usize> = (0..chains.len()).filter(|i| !store.has_layer(&chains[*i])).collect();
    for (i, l) in manifest.layers.iter().enumerate() {
        let status = if missing.contains(&i) { "Pulling fs layer" } else { "Already exists" };
        ev(Event::Layer { id: short(&l.digest), status, current: 0, total: 0 });
    }
    let tmp = TempDir::new(&store, "pull")?;
    // Downloads run `max_downloads` at a time and come out in layer order; each layer is
    // extracted as soon as it and those below it are in, while the next ones still download.
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Result<usize, RegistryError>>();
    let downloader = async {
        let mut done = futures_util::stream::iter(missing.clone().into_iter().map(|i| {
            let (client, source, tmp, layer) = (&client, &source, &tmp, &manifest.layers[i]);
            async move { download(client, source, layer, tmp.0.join(i.to_string()), ev).await.map(|_| i) }
        }))
        .buffered(opts.max_downloads.max(1));
        while let Some(r) = done.next().await {
            let failed = r.is_err();
            if tx.send(r).is_err() || failed {
                break;
            }
        }
    };
    let extractor = async {
        for _ in 0..missing.len() {
            let i = rx.recv().await.ok_or_else(|| RegistryError::Other("the download stopped".into()))??;
            berth_proto::crashpoint::hit("pull.after-download");
            extract(
                &store,
                &tmp,
                &manifest.layers[i],
                &diff_ids[i],
                if i == 0 { None } else { Some(chains[i - 1].clone()) },
                i,
                ev,
            )
            .await?;
        }
        Ok::<(), RegistryError>(())
    };
    let ((), extracted) = tokio::join!(downloader, extractor);
    extracted?;
    // One sync for all the layers, before the image refers to them (see add_layer_unsynced).
    let st = store.clone();
    tokio::task::spawn_blocking(move || st.sync()).await.map_err(|e| RegistryError::Other(e.to_string()))??;
    let image_id = format!("sha256:{}", hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&config)));
    let repo = format!("{}/{}", reference.registry(), reference.repository());
    let named = tag.clone().unwrap_or_else(|| format!("{repo}@{digest}"));
    let had = store.resolve(&named).is_ok_and(|i| i.id == image_id);
    let id = store.create_image_from_bytes(&config, &tag.clone().into_iter().collect::<Vec<_>>())?;
    // The digest the reference resolved to (the index's, for a multi-platform image), as
    // dockerd records it: `docker run name@digest` and `images --digests` use it.
    let repo_digest = store.add_repo_digest(&id, &repo, &digest)?;
    ev(Event::Status(format!("Digest: {digest}")));
    let shown = tag.clone().unwrap_or(repo_digest);
    let downloaded = !missing.is_empty() || !had;
    ev(Event::Status(if downloaded {
        format!("Status: Downloaded newer image for {shown}")
    } else {
        format!("Status: Image is up to date for {shown}")
    }));
    Ok(Pulled { id, tag, digest, downloaded })
}

/// Layer `i` (downloaded to `<tmp>/<i>`) into the store on top of `parent`, checked against the
/// config's diff id.
async fn extract(
    store: &Arc<ImageStore>,
    tmp: &TempDir,
    layer: &OciDescriptor,
    want: &str,
    parent: Option<String>,
    i: usize,
    ev: &(dyn Fn(Event) + Send + Sync),
) -> Result<(), RegistryError> {
    let id = short(&layer.digest);
    ev(Event::Layer { id: id.clone(), status: "Extracting", current: 0, total: layer.size.max(0) as u64 });
    let (file, st) = (tmp.0.join(i.to_string()), store.clone());
    let info = tokio::task::spawn_blocking(move || {
        let f = std::fs::File::open(&file)
            .map_err(|e| berth_image::ImageError::Other(format!("opening {}: {e}", file.display())))?;
        let info = st.add_layer_unsynced(f, parent.as_deref());
        let _ = std::fs::remove_file(&file);
        info
    })
    .await
    .map_err(|e| RegistryError::Other(e.to_string()))??;
    if info.diff_id != want {
        return Err(RegistryError::Digest(format!(
            "layer {}: its content hashes to {}, the image config says {want}",
            layer.digest, info.diff_id
        )));
    }
    ev(Event::Layer { id, status: "Pull complete", current: 0, total: 0 });
    berth_proto::crashpoint::hit("pull.after-layer");
    Ok(())
}

/// One blob into `to`, its digest checked by the client as the bytes arrive.
async fn download(
    client: &oci_client::Client,
    source: &oci_client::Reference,
    layer: &OciDescriptor,
    to: PathBuf,
    ev: &(dyn Fn(Event) + Send + Sync),
) -> Result<(), RegistryError> {
    let id = short(&layer.digest);
    let file = tokio::fs::File::create(&to)
        .await
        .map_err(|e| RegistryError::Other(format!("creating {}: {e}", to.display())))?;
    let mut out = Counted { inner: file, done: 0, reported: 0, total: layer.size.max(0) as u64, id: id.clone(), ev };
    ev(Event::Layer { id: id.clone(), status: "Downloading", current: 0, total: layer.size.max(0) as u64 });
    client.pull_blob(source, layer, &mut out).await.map_err(|e| match e {
        oci_client::errors::OciDistributionError::DigestError(d) => {
            RegistryError::Digest(format!("filesystem layer verification failed for digest {}: {d}", layer.digest))
        }
        other => RegistryError::Other(format!("downloading layer {}: {}", layer.digest, chain(&other))),
    })?;
    ev(Event::Layer { id: id.clone(), status: "Verifying Checksum", current: 0, total: 0 });
    ev(Event::Layer { id, status: "Download complete", current: 0, total: 0 });
    Ok(())
}

#[cfg(test)]
mod platform_tests {
    use super::*;

    #[test]
    fn platforms_go_knows() {
        for ok in ["linux", "linux/amd64", "linux/arm64/v8", "windows/amd64", "LINUX/ARM"] {
            assert!(check_platform(ok).is_ok(), "{ok}");
        }
        for bad in ["foobar", "linux/foobar", "a/b/c/d", ""] {
            assert!(check_platform(bad).unwrap_err().contains("unknown operating system or architecture"), "{bad}");
        }
    }
}
