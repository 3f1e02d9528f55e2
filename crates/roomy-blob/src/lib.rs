//! File storage behind one boundary, [`Blob`]: a local directory, an S3
//! bucket or an OSS bucket, through OpenDAL.
//!
//! Objects are immutable and named by [`ObjectKey`]s the server generates
//! (`files/20261121/1763720000000_a1b2c3d4e5f6.mp4`), never by anything a
//! client sent; the database stores the key and reads it back with
//! [`ObjectKey::parse`]. Writes are all-or-nothing: an object appears only
//! when its [`BlobWriter`] is closed (or [`Blob::ingest_file`] returns), and
//! on the fs backend it is fsynced by then, so a message referring to it
//! can be acknowledged as durable.

mod config;
mod error;
mod key;
mod local;
mod writer;

#[cfg(test)]
mod contract;

pub use config::BlobConfig;
pub use error::BlobError;
pub use key::ObjectKey;
pub use writer::BlobWriter;

use bytes::{Bytes, BytesMut};
use futures_util::{Stream, StreamExt, future::Either, stream};
use opendal::Operator;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Multipart part size for object stores: S3 wants at least 5 MiB per part;
/// 8 MiB keeps a 10,000-part upload able to hold 78 GiB.
const PART_SIZE: usize = 8 * 1024 * 1024;

/// Parts uploaded at once. With the part being filled and the one OpenDAL
/// holds back (a single part goes out as a plain PUT), memory per upload
/// stays under `(PART_CONCURRENCY + 2) × PART_SIZE`, 32 MiB.
const PART_CONCURRENCY: usize = 2;

/// How much of a local file is read at a time when streaming it to an object store.
const READ_CHUNK: usize = 1024 * 1024;

/// How long connecting to an object store may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Storage for files: cheap to clone, shareable across tasks.
#[derive(Clone)]
pub struct Blob {
    op: Operator,
    backend: Backend,
}

/// What the operator talks to, and what that means for durability and local access.
#[derive(Clone)]
enum Backend {
    /// A local directory: its absolute root.
    Fs(Arc<Path>),
    S3,
    Oss,
}

impl std::fmt::Debug for Blob {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Blob")
            .field("backend", &self.backend())
            .finish_non_exhaustive()
    }
}

impl Blob {
    /// Opens the storage `config` names; the fs backend creates its root directory.
    ///
    /// Object stores are not contacted here: a wrong bucket or key shows up
    /// at the first operation.
    pub fn open(config: &BlobConfig) -> Result<Blob, BlobError> {
        let invalid = |e: opendal::Error| BlobError::Config(e.to_string());
        match config {
            BlobConfig::Fs { root } => {
                if root.as_os_str().is_empty() {
                    return Err(BlobError::Config("fs: root is empty".into()));
                }
                let root = local::prepare_root(root)?;
                let builder = opendal::services::Fs::default()
                    .root(&root.to_string_lossy())
                    // Writes go to a temp file renamed into place on close:
                    // a failed or aborted write leaves nothing under its key.
                    .atomic_write_dir(&root.join(local::PARTIAL_DIR).to_string_lossy());
                Ok(Blob {
                    op: Operator::new(builder).map_err(invalid)?,
                    backend: Backend::Fs(root.into()),
                })
            }
            BlobConfig::S3 {
                endpoint,
                bucket,
                region,
                access_key_id,
                secret_access_key,
            } => {
                require("s3", "bucket", bucket)?;
                require("s3", "region", region)?;
                require("s3", "access_key_id", access_key_id)?;
                require("s3", "secret_access_key", secret_access_key)?;
                let mut builder = opendal::services::S3::default()
                    .bucket(bucket)
                    .region(region)
                    .access_key_id(access_key_id)
                    .secret_access_key(secret_access_key)
                    // Only the configured keys: never the environment,
                    // ~/.aws or the EC2 metadata service.
                    .disable_config_load()
                    .disable_ec2_metadata();
                if let Some(endpoint) = endpoint.as_deref().filter(|e| !e.is_empty()) {
                    builder = builder.endpoint(endpoint);
                }
                Ok(Blob {
                    op: with_http_client(Operator::new(builder).map_err(invalid)?)?,
                    backend: Backend::S3,
                })
            }
            BlobConfig::Oss {
                endpoint,
                bucket,
                access_key_id,
                access_key_secret,
            } => {
                require("oss", "endpoint", endpoint)?;
                require("oss", "bucket", bucket)?;
                require("oss", "access_key_id", access_key_id)?;
                require("oss", "access_key_secret", access_key_secret)?;
                let builder = opendal::services::Oss::default()
                    .endpoint(endpoint)
                    .bucket(bucket)
                    .access_key_id(access_key_id)
                    .access_key_secret(access_key_secret);
                Ok(Blob {
                    op: with_http_client(Operator::new(builder).map_err(invalid)?)?,
                    backend: Backend::Oss,
                })
            }
        }
    }

    /// Short name for logs and metrics: `"fs"`, `"s3"` or `"oss"`.
    pub fn backend(&self) -> &'static str {
        match self.backend {
            Backend::Fs(_) => "fs",
            Backend::S3 => "s3",
            Backend::Oss => "oss",
        }
    }

    /// Streams bytes into a new object; used by simple uploads and thumbnails.
    ///
    /// The object appears only when the writer is closed; an aborted or
    /// dropped writer leaves nothing under `key`.
    pub async fn writer(&self, key: &ObjectKey) -> Result<BlobWriter, BlobError> {
        let inner = self.raw_writer(key).await?;
        Ok(BlobWriter::new(inner, self.fs_target(key)))
    }

    /// An OpenDAL writer for `key`, with multipart settings on object stores.
    async fn raw_writer(&self, key: &ObjectKey) -> Result<opendal::Writer, BlobError> {
        let writer = self.op.writer_with(key.as_str());
        let writer = match self.backend {
            // The fs writer writes straight to its file: buffering would only cost memory.
            Backend::Fs(_) => writer.await?,
            Backend::S3 | Backend::Oss => {
                writer.chunk(PART_SIZE).concurrent(PART_CONCURRENCY).await?
            }
        };
        Ok(writer)
    }

    /// With the fs backend: the root and where `key`'s file lives.
    fn fs_target(&self, key: &ObjectKey) -> Option<(Arc<Path>, PathBuf)> {
        match &self.backend {
            Backend::Fs(root) => Some((root.clone(), root.join(key.as_str()))),
            Backend::S3 | Backend::Oss => None,
        }
    }

    /// Moves a finished local file (an upload assembled on local disk) into
    /// storage under `key`; once this returns, `local` is gone and the
    /// object is durable.
    ///
    /// fs: a rename (no copy) when `local` is on the root's file system, a
    /// copy otherwise. Object stores: a multipart upload streamed from the
    /// file in 8 MiB parts, two at a time, so memory stays bounded whatever
    /// the size; then `local` is removed. On failure `local` is left in
    /// place for the caller to retry or remove.
    pub async fn ingest_file(&self, key: &ObjectKey, local: &Path) -> Result<(), BlobError> {
        if let Some((root, target)) = self.fs_target(key) {
            let local = local.to_path_buf();
            return blocking(move || local::move_in(&root, &local, &target)).await;
        }
        let mut file = tokio::fs::File::open(local).await?;
        let mut writer = self.raw_writer(key).await?;
        let sent = match upload(&mut file, &mut writer).await {
            Ok(()) => writer.close().await.map(drop).map_err(BlobError::from),
            Err(e) => Err(e),
        };
        if let Err(e) = sent {
            // Best effort: an abandoned multipart upload costs storage until it is aborted.
            let _ = writer.abort().await;
            return Err(e);
        }
        drop(file);
        tokio::fs::remove_file(local).await?;
        Ok(())
    }

    /// Reads bytes `range` (half-open, already validated against the
    /// object's size) as a stream, for an HTTP body.
    ///
    /// A missing object is reported here, as [`BlobError::NotFound`], not
    /// in the middle of the stream.
    pub async fn read_range(
        &self,
        key: &ObjectKey,
        range: Range<u64>,
    ) -> Result<impl Stream<Item = std::io::Result<Bytes>> + Send + Unpin + 'static, BlobError>
    {
        if range.start >= range.end {
            // An empty range is not a valid HTTP range request to a store.
            self.size(key).await?;
            return Ok(Either::Left(stream::empty()));
        }
        Ok(Either::Right(self.open_stream(key, range).await?))
    }

    /// A byte stream of `range` of `key`, with the read already started so
    /// a missing object fails here.
    async fn open_stream(
        &self,
        key: &ObjectKey,
        range: impl Into<opendal::BytesRange>,
    ) -> Result<opendal::FuturesBytesStream, BlobError> {
        let mut stream = self
            .op
            .reader(key.as_str())
            .await?
            .into_bytes_stream(range)
            .await?;
        match stream.metadata().await {
            Ok(_) => Ok(stream),
            // The fs backend opens its file lazily and reports nothing on
            // open; a stat (a local call) tells a missing file instead.
            Err(e) if e.kind() == opendal::ErrorKind::Unsupported => {
                self.op.stat(key.as_str()).await?;
                Ok(stream)
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Reads a whole small object (a thumbnail); refuses, with
    /// [`BlobError::TooLarge`], one larger than `max` bytes.
    pub async fn read_all(&self, key: &ObjectKey, max: u64) -> Result<Vec<u8>, BlobError> {
        if self.size(key).await? > max {
            return Err(BlobError::TooLarge);
        }
        let data = self.op.read(key.as_str()).await?.to_vec();
        // Objects never change under a key, but the bound must hold whatever happens.
        if data.len() as u64 > max {
            return Err(BlobError::TooLarge);
        }
        Ok(data)
    }

    /// A local path other programs can read the object at (fs backend),
    /// or `None` (object stores: use [`Blob::download_to_temp`]).
    pub fn local_path(&self, key: &ObjectKey) -> Option<PathBuf> {
        self.fs_target(key).map(|(_, path)| path)
    }

    /// Copies an object into a new temp file in `dir` (for ffmpeg or image
    /// decoding when the store is remote); the file is deleted when the
    /// handle is dropped. It keeps the key's extension, for tools that look at it.
    pub async fn download_to_temp(
        &self,
        key: &ObjectKey,
        dir: &Path,
    ) -> Result<tempfile::NamedTempFile, BlobError> {
        let mut stream = self.open_stream(key, ..).await?;
        let suffix = extension(key).map(|e| format!(".{e}")).unwrap_or_default();
        let dir = dir.to_path_buf();
        let temp = blocking(move || {
            tempfile::Builder::new()
                .prefix("roomy-blob-")
                .suffix(&suffix)
                .tempfile_in(dir)
        })
        .await?;
        let mut file = tokio::fs::File::from_std(temp.as_file().try_clone()?);
        while let Some(chunk) = stream.next().await {
            file.write_all(&chunk?).await?;
        }
        // tokio's File finishes writes in the background: wait for them.
        file.flush().await?;
        Ok(temp)
    }

    /// The object's size in bytes; [`BlobError::NotFound`] when it does not exist.
    pub async fn size(&self, key: &ObjectKey) -> Result<u64, BlobError> {
        Ok(self.op.stat(key.as_str()).await?.content_length())
    }

    /// The keys of the objects under `dir` (those whose key starts with
    /// `dir/`), in no particular order; none when there are none.
    pub async fn list_under(&self, dir: &ObjectKey) -> Result<Vec<ObjectKey>, BlobError> {
        Ok(self
            .paths_under(dir)
            .await?
            .iter()
            // Only what this server wrote can be named; anything else
            // (written by hand into the bucket) is not reported.
            .filter_map(|path| ObjectKey::parse(path).ok())
            .collect())
    }

    /// Deletes every object under `dir` (whose key starts with `dir/`);
    /// nothing there is fine. An object written under `dir` while this runs
    /// may survive it.
    pub async fn delete_under(&self, dir: &ObjectKey) -> Result<(), BlobError> {
        if let Backend::Fs(root) = &self.backend {
            let path = root.join(dir.as_str());
            return blocking(move || match std::fs::remove_dir_all(&path) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
                _ => Ok(()),
            })
            .await;
        }
        let paths = self.paths_under(dir).await?;
        if paths.is_empty() {
            return Ok(());
        }
        // One batch request per thousand keys on S3 and OSS.
        Ok(self.op.delete_iter(paths).await?)
    }

    /// The paths of the files under `dir/`, as the backend names them.
    async fn paths_under(&self, dir: &ObjectKey) -> Result<Vec<String>, BlobError> {
        // The slash makes it a directory: `uploads/1` must not take `uploads/10`.
        let entries = match self
            .op
            .list_with(&format!("{}/", dir.as_str()))
            .recursive(true)
            .await
        {
            Ok(entries) => entries,
            // The fs backend reports a missing directory; object stores list nothing.
            Err(e) if e.kind() == opendal::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(e.into()),
        };
        Ok(entries
            .into_iter()
            .filter(|e| e.metadata().mode() == opendal::EntryMode::FILE)
            .map(|e| e.path().to_owned())
            .collect())
    }

    /// Deletes the object; deleting a missing object succeeds.
    pub async fn delete(&self, key: &ObjectKey) -> Result<(), BlobError> {
        match self.op.delete(key.as_str()).await {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == opendal::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(e.into()),
        }
    }
}

/// Fails with a configuration error when a required setting is empty.
fn require(backend: &str, name: &str, value: &str) -> Result<(), BlobError> {
    if value.trim().is_empty() {
        return Err(BlobError::Config(format!("{backend}: {name} is empty")));
    }
    Ok(())
}

/// Gives an object store's operator an HTTP client of its own (reqwest, rustls).
///
/// OpenDAL's default client is one process-wide pool: its connections belong
/// to the runtime that opened them and fail once that runtime is gone (every
/// `#[tokio::test]` has its own). Only connecting is timed out: a read
/// timeout would also fire while a slow HTTP client holds back a download
/// stream, which is backpressure, not a dead store.
fn with_http_client(op: Operator) -> Result<Operator, BlobError> {
    let client = reqwest_opendal::Client::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .build()
        .map_err(|e| BlobError::Config(format!("http client: {e}")))?;
    let transport = opendal::HttpTransporter::new(
        opendal_http_transport_reqwest::ReqwestTransport::new(client),
    );
    Ok(op.with_context(opendal::OperationContext::from_parts(
        transport,
        opendal::Executor::new(),
    )))
}

/// Streams `file` into `writer`, a chunk at a time.
async fn upload(file: &mut tokio::fs::File, writer: &mut opendal::Writer) -> Result<(), BlobError> {
    loop {
        let mut buf = BytesMut::with_capacity(READ_CHUNK);
        while buf.len() < READ_CHUNK {
            if file.read_buf(&mut buf).await? == 0 {
                break;
            }
        }
        if buf.is_empty() {
            return Ok(());
        }
        writer.write(buf.freeze()).await?;
    }
}

/// The extension of the key's last segment, if any.
fn extension(key: &ObjectKey) -> Option<&str> {
    let name = key.as_str().rsplit('/').next()?;
    name.rsplit_once('.').map(|(_, ext)| ext)
}

/// Runs blocking file work on the blocking pool.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> std::io::Result<T> + Send + 'static,
) -> Result<T, BlobError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| BlobError::Io(std::io::Error::other(e)))?
        .map_err(BlobError::Io)
}
