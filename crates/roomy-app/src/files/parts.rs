//! Unfinished uploads kept in the blob storage, when that is an object
//! store (S3, OSS): any node continues any upload, with no shared disk.
//!
//! Each accepted chunk (a PATCH body, whatever its size) is an object of
//! its own, `uploads/<upload id>/<offset>_<random>`, written whole before it
//! counts. The database records it in the transaction that moves the
//! upload's offset past it, so that compare-and-set is the commit point: a
//! chunk whose writer lost a race (on another node) is named nowhere, and
//! its writer deletes it; if the writer died first, the upload's expiry
//! deletes everything under the upload's directory. The random part keeps
//! two writers at one offset from ever writing the same object.
//!
//! Finishing streams the recorded chunks, in order, into the file's object
//! through a [`BlobWriter`], hashing and sniffing on the way, and then the
//! chunks are deleted. Design: `docs/design/files.md`, "Uploads across nodes".

use super::{FILES_PREFIX, FileError, Files, prepared, spool};
use bytes::{Bytes, BytesMut};
use futures_util::{Stream, StreamExt};
use roomy_blob::{Blob, BlobError, BlobWriter, ObjectKey};
use roomy_core::FileId;
use roomy_media::SNIFF_LEN;
use roomy_store::{Prepared, StoreError, Upload, UploadPart};
use sha2::{Digest, Sha256};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Object-key prefix of unfinished uploads' chunks.
pub const UPLOADS_PREFIX: &str = "uploads";

/// The directory key holding upload `id`'s chunks.
pub fn upload_dir(id: FileId) -> Result<ObjectKey, BlobError> {
    ObjectKey::parse(&format!("{UPLOADS_PREFIX}/{}", id.0))
}

/// A new key for a chunk of upload `id` starting at `offset`.
pub fn part_key(id: FileId, offset: i64) -> Result<ObjectKey, BlobError> {
    // Random, so a writer that lost the race at this offset deletes only
    // its own object, never the winner's.
    let random = rand::random::<u64>() & 0xffff_ffff_ffff;
    ObjectKey::parse(&format!("{UPLOADS_PREFIX}/{}/{offset}_{random:012x}", id.0))
}

/// A chunk's bytes in their object, not yet published.
pub struct PartWrite {
    /// Bytes received (all in the writer when the body did not overflow).
    pub bytes: u64,
    /// How the body ended.
    pub end: spool::BodyEnd,
    /// Whether the declared checksum matched (true when none was declared);
    /// meaningful only for a complete body.
    pub checksum_ok: bool,
    /// The object being written: `close` publishes the chunk, `abort`
    /// leaves nothing.
    pub writer: BlobWriter,
}

/// Streams `body` into a new object `key`, at most `room` bytes, checking
/// it against `checksum` on the way. A frame that does not arrive within
/// `idle`, or `stop` firing, ends the body as [`spool::BodyEnd::Cut`].
/// Memory is what the [`BlobWriter`] buffers (a few multipart parts).
pub async fn write_part<S, E>(
    blob: &Blob,
    key: &ObjectKey,
    room: u64,
    body: S,
    checksum: Option<&spool::Checksum>,
    stop: &CancellationToken,
    idle: Duration,
) -> Result<PartWrite, FileError>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
{
    let mut writer = blob.writer(key).await?;
    let mut hasher = checksum.map(spool::ChunkHasher::for_checksum);
    let mut bytes = 0u64;
    let mut body = body;
    let end = loop {
        let next = tokio::select! {
            _ = stop.cancelled() => break spool::BodyEnd::Cut,
            next = tokio::time::timeout(idle, body.next()) => next,
        };
        let frame = match next {
            Ok(Some(Ok(frame))) => frame,
            Ok(None) => break spool::BodyEnd::Complete,
            Ok(Some(Err(_))) | Err(_) => break spool::BodyEnd::Cut,
        };
        if bytes + frame.len() as u64 > room {
            break spool::BodyEnd::Overflow;
        }
        bytes += frame.len() as u64;
        if let Some(h) = &mut hasher {
            h.update(&frame);
        }
        if let Err(e) = writer.write(frame).await {
            discard(writer).await;
            return Err(e.into());
        }
    };
    Ok(PartWrite {
        bytes,
        end,
        checksum_ok: spool::checksum_matches(checksum, hasher),
        writer,
    })
}

/// Abandons a chunk's object; a failure only leaves it to the upload's expiry.
pub async fn discard(writer: BlobWriter) {
    if let Err(e) = writer.abort().await {
        tracing::warn!(error = %e, "could not abandon an upload chunk's object");
    }
}

/// Streams `upload`'s recorded chunks `parts`, in order, into a new object
/// under `files/`, named by the type sniffed from the first bytes, with
/// their SHA-256 computed on the way; what the file will be. The object is
/// recorded nowhere yet: the caller records it, or deletes it.
pub(super) async fn assemble(
    files: &Files,
    upload: &Upload,
    parts: &[UploadPart],
    now: time::OffsetDateTime,
) -> Result<Prepared, FileError> {
    let mut at = 0;
    for part in parts {
        if part.start != at || part.end <= part.start {
            break;
        }
        at = part.end;
    }
    if at != upload.length {
        return Err(FileError::Store(StoreError::Corrupt(format!(
            "upload {}: its recorded chunks do not cover its {} bytes",
            upload.id, upload.length
        ))));
    }
    let blob = &files.blob;
    let keys = parts
        .iter()
        .map(|p| Ok((ObjectKey::parse(&p.key)?, (p.end - p.start) as u64)))
        .collect::<Result<Vec<_>, BlobError>>()?;
    let sniffed = roomy_media::sniff(&head(blob, &keys).await?);
    let key = ObjectKey::generate(FILES_PREFIX, now, sniffed.ext);
    let mut writer = blob.writer(&key).await?;
    let mut hasher = Sha256::new();
    for (part, len) in &keys {
        if let Err(e) = copy(blob, part, *len, &mut writer, &mut hasher).await {
            discard(writer).await;
            return Err(e);
        }
    }
    writer.close().await?;
    Ok(prepared(&key, &sniffed, hasher))
}

/// The first bytes of the chunks, enough to sniff the type.
async fn head(blob: &Blob, parts: &[(ObjectKey, u64)]) -> Result<Bytes, FileError> {
    let mut head = BytesMut::new();
    for (part, len) in parts {
        let want = (SNIFF_LEN - head.len()) as u64;
        if want == 0 {
            break;
        }
        let mut stream = blob.read_range(part, 0..want.min(*len)).await?;
        while let Some(bytes) = stream.next().await {
            head.extend_from_slice(&bytes?);
        }
    }
    Ok(head.freeze())
}

/// Appends chunk object `part` of `len` bytes to `writer` and `hasher`.
async fn copy(
    blob: &Blob,
    part: &ObjectKey,
    len: u64,
    writer: &mut BlobWriter,
    hasher: &mut Sha256,
) -> Result<(), FileError> {
    let mut stream = blob.read_range(part, 0..len).await?;
    let mut copied = 0u64;
    while let Some(bytes) = stream.next().await {
        let bytes = bytes?;
        copied += bytes.len() as u64;
        hasher.update(&bytes);
        writer.write(bytes).await?;
    }
    if copied != len {
        return Err(FileError::Store(StoreError::Corrupt(format!(
            "upload chunk {part}: {copied} bytes stored, {len} recorded"
        ))));
    }
    Ok(())
}
