//! Resumable uploads. An upload is a row in the database (length, durable
//! offset, expiry) and its bytes: with disk storage a file in the upload
//! folder named by its id, where a chunk is written in place at its offset
//! and synced before the offset moves (any node sharing the database and
//! the folder continues the upload); with an object store one object per
//! chunk, published before the offset moves and recorded with it ([`parts`]:
//! any node sharing the database and the bucket continues the upload). An
//! upload belongs to its creator: anyone else is told it does not exist, as
//! for a missing one.

use super::{
    FileError, UploadBytes,
    locks::UploadGuard,
    parts, refused,
    spool::{BodyEnd, Checksum},
};
use crate::App;
use bytes::Bytes;
use futures_util::Stream;
use roomy_core::{FileId, UserId};
use roomy_store::{NewUpload, StoredFile, Upload, User};
use sha2::Sha256;
use std::time::Duration;

/// A chunk whose next bytes do not arrive for this long counts as cut.
const IDLE: Duration = Duration::from_secs(60);
/// Unfinished uploads one user may have at a time.
const MAX_OPEN_UPLOADS: i64 = 100;

/// Where an upload stands after an operation.
#[derive(Debug)]
pub enum UploadStanding {
    /// Complete: the file, with the upload's id.
    Finished(StoredFile),
    /// Still receiving chunks.
    Live(Upload),
}

/// One chunk of an upload, as a client sent it.
pub struct Chunk<S> {
    /// Where the client says the chunk starts.
    pub offset: i64,
    /// The chunk's length, when the client announced it.
    pub announced: Option<i64>,
    /// The checksum the client declared for the chunk.
    pub checksum: Option<Checksum>,
    /// The chunk's bytes as they arrive.
    pub body: S,
}

/// The caller's upload, with its lock held (taken over from any request
/// still writing to it).
enum Held {
    Finished(StoredFile),
    Live(UploadGuard, Upload),
}

impl App {
    /// Refuses an upload longer than files may be.
    pub fn check_upload_length(&self, length: u64) -> Result<(), FileError> {
        let max = self.files.settings.max_upload_bytes;
        if length > max {
            return Err(FileError::TooLarge(max));
        }
        Ok(())
    }

    /// Starts `user`'s upload of `length` bytes named `name` (sanitised
    /// here), reserving the bytes in the user's quota. An empty upload is a
    /// file at once.
    pub async fn create_upload(
        &self,
        user: &User,
        length: u64,
        name: &str,
    ) -> Result<Upload, FileError> {
        self.check_upload_length(length)?;
        let files = &self.files;
        let now = self.clock.now();
        let upload = self
            .store
            .create_upload(
                NewUpload {
                    owner: user.id,
                    length: length as i64,
                    name: roomy_media::sanitize_filename(name),
                    expires_at: now + files.settings.upload_expiry,
                },
                files.settings.quota_of(user),
                MAX_OPEN_UPLOADS,
                now,
            )
            .await
            .map_err(refused)?;
        if files.upload_bytes() == UploadBytes::Spool {
            files.spool.create(upload.id).await?;
        }
        if length == 0 {
            // Nothing to send: the file exists at once.
            self.finish_upload(&upload).await?;
        }
        Ok(upload)
    }

    /// Where `user`'s upload `id` stands; `Live` offsets count only bytes
    /// made durable. A client asks after a cut connection: a request still
    /// writing (its connection not yet seen dead) first stops and records
    /// what it has, so the offset answered is where to resume. A complete
    /// upload whose finish failed is finished now.
    pub async fn upload_standing(
        &self,
        user: UserId,
        id: FileId,
    ) -> Result<UploadStanding, FileError> {
        match self.take_over(user, id).await? {
            Held::Finished(file) => Ok(UploadStanding::Finished(file)),
            Held::Live(guard, upload) if upload.offset == upload.length => Ok(
                UploadStanding::Finished(self.finish_held(guard, upload).await?),
            ),
            Held::Live(_, upload) => Ok(UploadStanding::Live(upload)),
        }
    }

    /// Appends `chunk` to `user`'s upload `id` at its offset. The bytes are
    /// synced and then the offset moves; a chunk with a wrong checksum is
    /// discarded and the offset stays, as it does for a chunk longer than
    /// what is left. A cut body keeps what arrived, unless the chunk carried
    /// a checksum (it cannot be checked). The last chunk makes the file; a
    /// repeat of it (its answer was lost) answers the file.
    pub async fn write_chunk<S, E>(
        &self,
        user: UserId,
        id: FileId,
        chunk: Chunk<S>,
    ) -> Result<UploadStanding, FileError>
    where
        S: Stream<Item = Result<Bytes, E>> + Unpin,
    {
        let (guard, upload) = match self.take_over(user, id).await? {
            Held::Finished(file) if chunk.offset == file.size => {
                return Ok(UploadStanding::Finished(file));
            }
            Held::Finished(file) => return Err(FileError::OffsetMismatch(file.size)),
            Held::Live(guard, upload) => (guard, upload),
        };
        if chunk.offset != upload.offset {
            return Err(FileError::OffsetMismatch(upload.offset));
        }
        let files = &self.files;
        let room = upload.length - upload.offset;
        if room == 0 {
            // Complete, but its finish failed before: finish it now.
            return Ok(UploadStanding::Finished(
                self.finish_held(guard, upload).await?,
            ));
        }
        if chunk.announced.is_some_and(|len| len > room) {
            return Err(FileError::Overflow(room));
        }
        match files.upload_bytes() {
            UploadBytes::Spool => self.write_spooled(guard, upload, chunk).await,
            UploadBytes::Parts => self.write_part(guard, upload, chunk).await,
        }
    }

    /// [`App::write_chunk`] into the upload's file in the upload folder.
    async fn write_spooled<S, E>(
        &self,
        guard: UploadGuard,
        upload: Upload,
        chunk: Chunk<S>,
    ) -> Result<UploadStanding, FileError>
    where
        S: Stream<Item = Result<Bytes, E>> + Unpin,
    {
        let files = &self.files;
        let room = upload.length - upload.offset;
        let running = files
            .running_hash(upload.id, upload.offset)
            .or_else(|| (upload.offset == 0).then(Sha256::default));
        let declared = chunk.checksum.is_some();
        let written = files
            .spool
            .write_chunk(
                upload.id,
                upload.offset as u64,
                room as u64,
                chunk.body,
                chunk.checksum,
                running,
                &guard.stop,
                IDLE,
            )
            .await?;
        if let Some(refusal) = refusal(written.end, declared, written.checksum_ok, room) {
            return Err(refusal);
        }
        let new_offset = upload.offset + written.bytes as i64;
        let expires_at = self.clock.now() + files.settings.upload_expiry;
        if written.bytes > 0
            && !self
                .store
                .advance_upload(upload.id, upload.offset, new_offset, expires_at)
                .await?
        {
            files.keep_hash(upload.id, None);
            return Err(FileError::OffsetMoved);
        }
        files.keep_hash(upload.id, written.sha256.map(|h| (new_offset, h)));
        self.advanced(guard, upload, new_offset, expires_at).await
    }

    /// [`App::write_chunk`] as an object of its own, published whole and
    /// then recorded with the offset's compare-and-set; a loser of that
    /// race deletes its object.
    async fn write_part<S, E>(
        &self,
        guard: UploadGuard,
        upload: Upload,
        chunk: Chunk<S>,
    ) -> Result<UploadStanding, FileError>
    where
        S: Stream<Item = Result<Bytes, E>> + Unpin,
    {
        let files = &self.files;
        let room = upload.length - upload.offset;
        let key = parts::part_key(upload.id, upload.offset)?;
        let declared = chunk.checksum.is_some();
        let part = parts::write_part(
            &files.blob,
            &key,
            room as u64,
            chunk.body,
            chunk.checksum.as_ref(),
            &guard.stop,
            IDLE,
        )
        .await?;
        if let Some(refusal) = refusal(part.end, declared, part.checksum_ok, room) {
            parts::discard(part.writer).await;
            return Err(refusal);
        }
        if part.bytes == 0 {
            parts::discard(part.writer).await;
            drop(guard);
            return Ok(UploadStanding::Live(upload));
        }
        part.writer.close().await?;
        let new_offset = upload.offset + part.bytes as i64;
        let expires_at = self.clock.now() + files.settings.upload_expiry;
        // An error here may hide a commit: the object stays for the
        // upload's expiry to judge. A refusal is certain: it is ours to delete.
        if !self
            .store
            .advance_upload_part(
                upload.id,
                upload.offset,
                new_offset,
                key.as_str(),
                expires_at,
            )
            .await?
        {
            if let Err(e) = files.blob.delete(&key).await {
                tracing::warn!(key = %key, error = %e, "cannot delete a chunk that lost the race");
            }
            return Err(FileError::OffsetMoved);
        }
        self.advanced(guard, upload, new_offset, expires_at).await
    }

    /// The upload after a chunk moved its offset to `offset`: finished
    /// when that is its end, else live until `expires_at`.
    async fn advanced(
        &self,
        guard: UploadGuard,
        upload: Upload,
        offset: i64,
        expires_at: time::OffsetDateTime,
    ) -> Result<UploadStanding, FileError> {
        let upload = Upload {
            offset,
            expires_at,
            ..upload
        };
        if offset == upload.length {
            return Ok(UploadStanding::Finished(
                self.finish_held(guard, upload).await?,
            ));
        }
        drop(guard);
        Ok(UploadStanding::Live(upload))
    }

    /// Removes `user`'s unfinished upload `id` and its bytes, releasing its
    /// quota; an expired one goes too, a finished one is a file now.
    pub async fn terminate_upload(&self, user: UserId, id: FileId) -> Result<(), FileError> {
        let (guard, upload) = match self.take_over(user, id).await {
            Ok(Held::Live(guard, upload)) => (guard, upload),
            Ok(Held::Finished(_)) => return Err(FileError::UploadNotFound),
            Err(FileError::UploadExpired) => {
                let guard = self.files.locks.acquire(id).await;
                let upload = self
                    .store
                    .upload(id)
                    .await?
                    .ok_or(FileError::UploadNotFound)?;
                (guard, upload)
            }
            Err(e) => return Err(e),
        };
        if !self.store.delete_upload(upload.id).await? {
            return Err(FileError::UploadNotFound);
        }
        if let Some(p) = &upload.prepared
            && let Ok(key) = roomy_blob::ObjectKey::parse(&p.key)
        {
            // A finish that failed after moving the bytes: they go too.
            self.files.blob.delete(&key).await?;
        }
        self.files.discard_upload_bytes(upload.id).await?;
        drop(guard);
        Ok(())
    }

    /// `user`'s upload `id`, holding its lock. Ownership is checked before
    /// the lock, so nobody else can interrupt an upload.
    async fn take_over(&self, user: UserId, id: FileId) -> Result<Held, FileError> {
        let mine = |u: &Upload| u.owner == user;
        let finished = |f: &StoredFile| f.owner == user;
        if self.store.file(id).await?.filter(finished).is_none()
            && self.store.upload(id).await?.filter(mine).is_none()
        {
            return Err(FileError::UploadNotFound);
        }
        let guard = self.files.locks.acquire(id).await;
        if let Some(file) = self.store.file(id).await?.filter(finished) {
            return Ok(Held::Finished(file));
        }
        let upload = self
            .store
            .upload(id)
            .await?
            .filter(mine)
            .ok_or(FileError::UploadNotFound)?;
        if upload.expires_at <= self.clock.now() {
            return Err(FileError::UploadExpired);
        }
        Ok(Held::Live(guard, upload))
    }

    /// Finishes a complete upload in a task of its own, which holds the
    /// lock: a client that goes away mid-way does not cut the finish short.
    async fn finish_held(
        &self,
        guard: UploadGuard,
        upload: Upload,
    ) -> Result<StoredFile, FileError> {
        let app = self.clone();
        tokio::spawn(async move {
            let file = app.finish_upload(&upload).await;
            drop(guard);
            file
        })
        .await?
    }
}

/// Why a chunk whose body ended as `end` does not count, if it does not:
/// it overflowed, or it declared a checksum (`declared`) and was cut off or
/// did not match it.
fn refusal(end: BodyEnd, declared: bool, checksum_ok: bool, room: i64) -> Option<FileError> {
    match end {
        BodyEnd::Overflow => Some(FileError::Overflow(room)),
        BodyEnd::Cut if declared => Some(FileError::ChunkIncomplete),
        BodyEnd::Complete if !checksum_ok => Some(FileError::ChecksumMismatch),
        _ => None,
    }
}
