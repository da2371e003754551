//! `docker push`: each layer's original tarball (replayed byte for byte from the store) gzip'd
//! into a private file while its digest is computed, uploaded unless the registry has it, then
//! the config and a Docker schema2 manifest.

use crate::{short, Credentials, Event, Options, RegistryError, TempDir};
use berth_image::ImageStore;
use futures_util::StreamExt;
use serde_json::json;
use sha2::{Digest, Sha256};
use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;

const MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
const CONFIG: &str = "application/vnd.docker.container.image.v1+json";
const LAYER: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";

/// What a push did.
#[derive(Debug, Clone)]
pub struct Pushed {
    pub tag: String,
    pub digest: String,
    pub size: usize,
}

struct Blob {
    path: PathBuf,
    digest: String,
    size: u64,
    diff_id: String,
}

/// Hashes and counts what is written through it.
struct Hashing<W> {
    inner: W,
    hash: Sha256,
    size: u64,
}

impl<W: Write> Write for Hashing<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hash.update(&buf[..n]);
        self.size += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

fn compress(store: &ImageStore, chain: &str, diff_id: &str, to: PathBuf) -> Result<Blob, RegistryError> {
    let (_, write) = store.layer_tarball(chain)?;
    let file =
        std::fs::File::create(&to).map_err(|e| RegistryError::Other(format!("creating {}: {e}", to.display())))?;
    let mut hashed = Hashing { inner: std::io::BufWriter::new(file), hash: Sha256::new(), size: 0 };
    {
        let mut gz = flate2::write::GzEncoder::new(&mut hashed, flate2::Compression::fast());
        write(&mut gz)?;
        gz.finish().map_err(|e| RegistryError::Other(format!("compressing layer {diff_id}: {e}")))?;
    }
    hashed.flush().map_err(|e| RegistryError::Other(format!("writing {}: {e}", to.display())))?;
    let digest = format!("sha256:{}", hex::encode(hashed.hash.finalize()));
    Ok(Blob { path: to, digest, size: hashed.size, diff_id: diff_id.to_string() })
}

pub async fn push(
    store: Arc<ImageStore>,
    opts: &Options,
    name: &str,
    creds: &Credentials,
    ev: &(dyn Fn(Event) + Send + Sync),
) -> Result<Pushed, RegistryError> {
    let info = store.resolve(name)?;
    let reference = crate::parse_reference(name)?;
    let tag = reference.tag().unwrap_or("latest").to_string();
    let client = opts.client(reference.registry(), None);
    let auth = creds.auth();
    ev(Event::Status(format!("The push refers to repository [{}/{}]", reference.registry(), reference.repository())));
    client
        .auth(&reference, &auth, oci_client::RegistryOperation::Push)
        .await
        .map_err(|e| RegistryError::from_oci(&format!("pushing {name}"), e))?;
    let layers: Vec<(String, String)> =
        info.chain_ids.iter().cloned().zip(info.config.rootfs.diff_ids.iter().cloned()).collect();
    for (_, d) in layers.iter().rev() {
        ev(Event::Layer { id: short(d), status: "Preparing", current: 0, total: 0 });
    }
    let tmp = TempDir::new(&store, "push")?;
    let uploads = futures_util::stream::iter(layers.clone().into_iter().enumerate().map(|(i, (chain, diff_id))| {
        let (store, to) = (store.clone(), tmp.0.join(i.to_string()));
        let (client, reference) = (&client, &reference);
        async move {
            let id = short(&diff_id);
            let blob = tokio::task::spawn_blocking(move || compress(&store, &chain, &diff_id, to))
                .await
                .map_err(|e| RegistryError::Other(e.to_string()))??;
            if client.blob_exists(reference, &blob.digest).await.unwrap_or(false) {
                ev(Event::Layer { id, status: "Layer already exists", current: 0, total: 0 });
                return Ok(blob);
            }
            let file = tokio::fs::File::open(&blob.path)
                .await
                .map_err(|e| RegistryError::Other(format!("opening {}: {e}", blob.path.display())))?;
            let total = blob.size;
            let mut sent = 0u64;
            let id2 = id.clone();
            let stream = tokio_util::io::ReaderStream::with_capacity(file, 1 << 20).map(move |chunk| {
                if let Ok(c) = &chunk {
                    sent += c.len() as u64;
                    ev(Event::Layer { id: id2.clone(), status: "Pushing", current: sent, total });
                }
                chunk.map_err(oci_client::errors::OciDistributionError::IoError)
            });
            // The stream borrows `ev` only for the length of this future.
            let stream: std::pin::Pin<Box<dyn futures_util::Stream<Item = _> + Send + '_>> = Box::pin(stream);
            push_stream(client, reference, stream, &blob.digest, total).await?;
            ev(Event::Layer { id, status: "Pushed", current: 0, total: 0 });
            Ok::<Blob, RegistryError>(blob)
        }
    }))
    .buffered(opts.max_uploads.max(1))
    .collect::<Vec<_>>()
    .await;
    let blobs = uploads.into_iter().collect::<Result<Vec<Blob>, _>>()?;
    let config = store.config_bytes(&info.id)?;
    client
        .push_blob(&reference, config.clone(), &info.id)
        .await
        .map_err(|e| RegistryError::from_oci("pushing the image config", e))?;
    let manifest = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": MANIFEST,
        "config": {"mediaType": CONFIG, "size": config.len(), "digest": info.id},
        "layers": blobs.iter().map(|b| json!({"mediaType": LAYER, "size": b.size, "digest": b.digest})).collect::<Vec<_>>(),
    }))
    .map_err(|e| RegistryError::Other(e.to_string()))?;
    tracing::debug!(layers = ?blobs.iter().map(|b| &b.diff_id).collect::<Vec<_>>(), "pushing the manifest");
    let digest = format!("sha256:{}", hex::encode(Sha256::digest(&manifest)));
    let size = manifest.len();
    client
        .push_manifest_raw(&reference, manifest, http::HeaderValue::from_static(MANIFEST))
        .await
        .map_err(|e| RegistryError::from_oci("pushing the manifest", e))?;
    // As dockerd: the pushed manifest's digest becomes one of the image's RepoDigests.
    if let Err(e) =
        store.add_repo_digest(&info.id, &format!("{}/{}", reference.registry(), reference.repository()), &digest)
    {
        tracing::warn!(error = %e, "recording the pushed digest");
    }
    ev(Event::Status(format!("{tag}: digest: {digest} size: {size}")));
    Ok(Pushed { tag, digest, size })
}

/// The client wants a `'static` stream; ours borrows the progress callback, so the bytes go
/// through a channel read by a stream that owns nothing borrowed.
async fn push_stream(
    client: &oci_client::Client,
    reference: &oci_client::Reference,
    mut stream: std::pin::Pin<
        Box<
            dyn futures_util::Stream<Item = Result<bytes::Bytes, oci_client::errors::OciDistributionError>> + Send + '_,
        >,
    >,
    digest: &str,
    size: u64,
) -> Result<(), RegistryError> {
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<bytes::Bytes, oci_client::errors::OciDistributionError>>(4);
    let owned = tokio_stream_from(rx);
    let feed = async move {
        while let Some(item) = stream.next().await {
            if tx.send(item).await.is_err() {
                break;
            }
        }
    };
    let upload = client.push_blob_stream(reference, owned, digest, Some(size));
    let ((), res) = tokio::join!(feed, upload);
    res.map(|_| ()).map_err(|e| RegistryError::from_oci(&format!("pushing layer {digest}"), e))
}

fn tokio_stream_from<T: Send + 'static>(
    mut rx: tokio::sync::mpsc::Receiver<T>,
) -> impl futures_util::Stream<Item = T> + Send + 'static {
    futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx))
}
