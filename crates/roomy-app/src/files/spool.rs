//! The upload folder, where unfinished uploads live when files are stored
//! on disk (with an object store they are chunk objects: see [`super::parts`]):
//! each unfinished upload is one file, named by the
//! upload's id (never by anything a client sent), and each chunk is written
//! in place at its offset. Nothing is ever merged or copied: a finished
//! upload's file is handed to the blob storage as it is.
//!
//! A chunk's frames are gathered into blocks of [`BLOCK`] bytes; each block
//! is written and hashed on a blocking thread while the next one arrives.
//! No thread waits for a slow client, and a chunk costs two blocks of
//! memory whatever its size.

use bytes::{Bytes, BytesMut};
use futures_util::{Stream, StreamExt};
use roomy_core::FileId;
use sha1::Sha1;
use sha2::{Digest, Sha256};
use std::{
    io::Read,
    os::unix::fs::FileExt,
    path::{Path, PathBuf},
    sync::Arc,
    time::Duration,
};
use tokio_util::sync::CancellationToken;

/// Bytes gathered before a write.
const BLOCK: usize = 256 * 1024;

/// The folder of unfinished uploads.
#[derive(Debug, Clone)]
pub struct Spool {
    dir: PathBuf,
}

/// A chunk's checksum as the client declared it (`Upload-Checksum`).
#[derive(Debug, Clone)]
pub enum Checksum {
    /// SHA-1 digest (what most tus clients send).
    Sha1(Vec<u8>),
    /// SHA-256 digest.
    Sha256(Vec<u8>),
}

/// Hashes a chunk with the algorithm of the checksum its client declared.
pub(crate) enum ChunkHasher {
    Sha1(Sha1),
    Sha256(Sha256),
}

impl ChunkHasher {
    /// A hasher for `checksum`'s algorithm.
    pub(crate) fn for_checksum(checksum: &Checksum) -> ChunkHasher {
        match checksum {
            Checksum::Sha1(_) => ChunkHasher::Sha1(Sha1::new()),
            Checksum::Sha256(_) => ChunkHasher::Sha256(Sha256::new()),
        }
    }

    /// Hashes the next bytes of the chunk.
    pub(crate) fn update(&mut self, bytes: &[u8]) {
        match self {
            ChunkHasher::Sha1(h) => h.update(bytes),
            ChunkHasher::Sha256(h) => h.update(bytes),
        }
    }
}

/// Whether the chunk hashed by `hasher` matches `checksum` (true when none
/// was declared).
pub(crate) fn checksum_matches(checksum: Option<&Checksum>, hasher: Option<ChunkHasher>) -> bool {
    match (checksum, hasher) {
        (None, _) => true,
        (Some(Checksum::Sha1(want)), Some(ChunkHasher::Sha1(h))) => *want == h.finalize().to_vec(),
        (Some(Checksum::Sha256(want)), Some(ChunkHasher::Sha256(h))) => {
            *want == h.finalize().to_vec()
        }
        _ => false,
    }
}

/// Where a chunk's writing stands; moved to the blocking thread for each
/// block and back.
struct WriteState {
    file: Arc<std::fs::File>,
    pos: u64,
    chunk: Option<ChunkHasher>,
    whole: Option<Sha256>,
}

impl WriteState {
    /// Writes and hashes `block` at the position on a blocking thread.
    fn write(self, block: Bytes) -> tokio::task::JoinHandle<std::io::Result<WriteState>> {
        let mut state = self;
        tokio::task::spawn_blocking(move || {
            state.file.write_all_at(&block, state.pos)?;
            state.pos += block.len() as u64;
            if let Some(h) = &mut state.chunk {
                h.update(&block);
            }
            if let Some(h) = &mut state.whole {
                h.update(&block);
            }
            Ok(state)
        })
    }

    /// A placeholder while the real state is on the blocking thread.
    fn detached(&self) -> WriteState {
        WriteState {
            file: self.file.clone(),
            pos: self.pos,
            chunk: None,
            whole: None,
        }
    }
}

/// How the body of a chunk ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyEnd {
    /// Read to its end.
    Complete,
    /// The connection failed, went silent, or a newer request took over.
    Cut,
    /// More bytes than the upload has left.
    Overflow,
}

/// What a chunk did to the upload's file.
pub struct Written {
    /// Bytes written (and synced) from the offset on.
    pub bytes: u64,
    /// How the body ended.
    pub end: BodyEnd,
    /// Whether the declared checksum matched the bytes written (true when
    /// none was declared); meaningful only for a complete body.
    pub checksum_ok: bool,
    /// The whole file's hasher, advanced by this chunk (when one was given).
    pub sha256: Option<Sha256>,
}

/// Why a chunk could not be written at all.
#[derive(Debug, thiserror::Error)]
pub enum SpoolError {
    /// Reading or writing the upload's file failed.
    #[error("upload file i/o")]
    Io(#[from] std::io::Error),
    /// The blocking thread that writes blocks failed.
    #[error("the writing thread failed")]
    Thread,
}

impl Spool {
    /// The folder `dir`, created if missing.
    pub fn open(dir: PathBuf) -> std::io::Result<Spool> {
        std::fs::create_dir_all(&dir)?;
        Ok(Spool { dir })
    }

    /// Where upload `id`'s bytes are.
    pub fn path(&self, id: FileId) -> PathBuf {
        self.dir.join(format!("{}.part", id.0))
    }

    /// Creates upload `id`'s (empty) file.
    pub async fn create(&self, id: FileId) -> std::io::Result<()> {
        let file = tokio::fs::File::create(self.path(id)).await?;
        file.sync_all().await
    }

    /// Removes upload `id`'s file; a missing one is fine.
    pub async fn remove(&self, id: FileId) -> std::io::Result<()> {
        match tokio::fs::remove_file(self.path(id)).await {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }

    /// Writes `body` into upload `id`'s file from `offset`, at most `room`
    /// bytes, syncing before it returns. A frame that does not arrive within
    /// `idle`, or `stop` firing, ends the body as [`BodyEnd::Cut`].
    #[allow(clippy::too_many_arguments)]
    pub async fn write_chunk<S, E>(
        &self,
        id: FileId,
        offset: u64,
        room: u64,
        body: S,
        checksum: Option<Checksum>,
        sha256: Option<Sha256>,
        stop: &CancellationToken,
        idle: Duration,
    ) -> Result<Written, SpoolError>
    where
        S: Stream<Item = Result<Bytes, E>> + Unpin,
    {
        let path = self.path(id);
        let file =
            tokio::task::spawn_blocking(move || std::fs::OpenOptions::new().write(true).open(path))
                .await
                .map_err(|_| SpoolError::Thread)??;
        let mut state = WriteState {
            file: Arc::new(file),
            pos: offset,
            chunk: checksum.as_ref().map(ChunkHasher::for_checksum),
            whole: sha256,
        };
        let mut in_flight: Option<tokio::task::JoinHandle<std::io::Result<WriteState>>> = None;
        let mut block = BytesMut::with_capacity(BLOCK);
        let mut received = 0u64;
        let mut body = body;
        let end = loop {
            let next = tokio::select! {
                _ = stop.cancelled() => break BodyEnd::Cut,
                next = tokio::time::timeout(idle, body.next()) => next,
            };
            let frame = match next {
                Ok(Some(Ok(frame))) => frame,
                Ok(None) => break BodyEnd::Complete,
                Ok(Some(Err(_))) | Err(_) => break BodyEnd::Cut,
            };
            received += frame.len() as u64;
            if received > room {
                break BodyEnd::Overflow;
            }
            block.extend_from_slice(&frame);
            if block.len() >= BLOCK {
                if let Some(prev) = in_flight.take() {
                    state = prev.await.map_err(|_| SpoolError::Thread)??;
                }
                let placeholder = state.detached();
                in_flight = Some(state.write(block.split().freeze()));
                state = placeholder;
                // One allocation per block, not a doubling series of them.
                block.reserve(BLOCK);
            }
        };
        if let Some(prev) = in_flight.take() {
            state = prev.await.map_err(|_| SpoolError::Thread)??;
        }
        if !block.is_empty() && end != BodyEnd::Overflow {
            state = state
                .write(block.split().freeze())
                .await
                .map_err(|_| SpoolError::Thread)??;
        }
        let file = state.file.clone();
        tokio::task::spawn_blocking(move || file.sync_data())
            .await
            .map_err(|_| SpoolError::Thread)??;
        let checksum_ok = checksum_matches(checksum.as_ref(), state.chunk);
        Ok(Written {
            bytes: state.pos - offset,
            end,
            checksum_ok,
            sha256: state.whole,
        })
    }

    /// The first `n` bytes of upload `id` (for sniffing).
    pub async fn head(&self, id: FileId, n: usize) -> std::io::Result<Vec<u8>> {
        let path = self.path(id);
        tokio::task::spawn_blocking(move || {
            let mut buf = Vec::with_capacity(n);
            std::fs::File::open(path)?
                .take(n as u64)
                .read_to_end(&mut buf)?;
            Ok(buf)
        })
        .await
        .map_err(std::io::Error::other)?
    }

    /// SHA-256 of upload `id`'s whole file, read back (when no node kept
    /// the running hash: a restart, or chunks sent to several nodes).
    pub async fn sha256(&self, id: FileId) -> std::io::Result<Sha256> {
        let path = self.path(id);
        tokio::task::spawn_blocking(move || hash_file(&path))
            .await
            .map_err(std::io::Error::other)?
    }
}

fn hash_file(path: &Path) -> std::io::Result<Sha256> {
    let mut file = std::fs::File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            return Ok(hasher);
        }
        hasher.update(&buf[..n]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::stream;

    fn body(parts: &[&'static [u8]]) -> impl Stream<Item = Result<Bytes, std::io::Error>> + Unpin {
        stream::iter(
            parts
                .iter()
                .map(|p| Ok(Bytes::from_static(p)))
                .collect::<Vec<_>>(),
        )
    }

    #[tokio::test]
    async fn chunks_land_at_their_offsets_and_checksums_are_checked() {
        let dir = tempfile::tempdir().expect("tempdir");
        let spool = Spool::open(dir.path().to_path_buf()).expect("spool");
        let id = FileId(7);
        spool.create(id).await.expect("create");
        let stop = CancellationToken::new();
        let idle = Duration::from_secs(5);
        let sha1 = |b: &[u8]| Sha1::digest(b).to_vec();
        let w = spool
            .write_chunk(
                id,
                0,
                10,
                body(&[b"hello"]),
                Some(Checksum::Sha1(sha1(b"hello"))),
                Some(Sha256::new()),
                &stop,
                idle,
            )
            .await
            .expect("writes");
        assert_eq!(
            (w.bytes, w.end, w.checksum_ok),
            (5, BodyEnd::Complete, true)
        );
        let bad = spool
            .write_chunk(
                id,
                5,
                5,
                body(&[b"wor", b"ld"]),
                Some(Checksum::Sha1(sha1(b"other"))),
                None,
                &stop,
                idle,
            )
            .await
            .expect("writes");
        assert!(!bad.checksum_ok);
        let over = spool
            .write_chunk(id, 5, 5, body(&[b"world!!"]), None, None, &stop, idle)
            .await
            .expect("writes");
        assert_eq!(over.end, BodyEnd::Overflow);
        let rest = spool
            .write_chunk(
                id,
                5,
                5,
                body(&[b"wor", b"ld"]),
                None,
                w.sha256,
                &stop,
                idle,
            )
            .await
            .expect("writes");
        assert_eq!((rest.bytes, rest.end), (5, BodyEnd::Complete));
        assert_eq!(std::fs::read(spool.path(id)).expect("reads"), b"helloworld");
        let whole = rest.sha256.expect("hash").finalize();
        assert_eq!(whole, spool.sha256(id).await.expect("hash").finalize());
        spool.remove(id).await.expect("removes");
        spool.remove(id).await.expect("removing twice is fine");
    }
}
