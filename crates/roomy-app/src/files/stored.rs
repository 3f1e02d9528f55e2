//! Stored files: the one-request upload for small files, and reading a
//! file, its thumbnail and video frames.
//!
//! A file is readable by its owner and by the members of a room where a
//! message carrying it was sent (and not revoked); leaving the room ends
//! that. Everyone else is told it does not exist, as for a missing file.

use super::{FILES_PREFIX, FileError, new_file, prepared, refused};
use crate::App;
use bytes::{Bytes, BytesMut};
use futures_util::{Stream, StreamExt, stream::BoxStream};
use roomy_blob::{BlobWriter, ObjectKey};
use roomy_core::{FileId, UserId};
use roomy_media::{FrameFormat, FrameRequest, SNIFF_LEN};
use roomy_store::{MediaClass, StoredFile, User};
use sha2::{Digest, Sha256};
use std::ops::Range;

/// How long an on-demand frame waits for one of the node's ffmpeg slots.
const FRAME_WAIT: std::time::Duration = std::time::Duration::from_secs(10);
/// Largest derived object (thumbnail, cover) read whole.
const MAX_DERIVED: u64 = 32 * 1024 * 1024;

/// A small derived image (thumbnail, cover, frame), whole.
#[derive(Debug)]
pub struct Derived {
    /// The image's bytes.
    pub bytes: Vec<u8>,
    /// Its content type.
    pub mime: String,
}

/// Which frame of a video to take, as the client asked (all `None`: the
/// stored cover).
#[derive(Debug, Default, Clone, Copy)]
pub struct FrameQuery<'a> {
    /// Time of the frame in milliseconds.
    pub t: Option<&'a str>,
    /// Width in pixels.
    pub w: Option<&'a str>,
    /// Height in pixels.
    pub h: Option<&'a str>,
    /// `png` or `jpg`.
    pub f: Option<&'a str>,
}

impl FrameQuery<'_> {
    /// Whether nothing was asked for (the stored cover is meant).
    fn is_empty(&self) -> bool {
        self.t.is_none() && self.w.is_none() && self.h.is_none() && self.f.is_none()
    }
}

impl App {
    /// Refuses, before a byte is stored, a file whose body is announced as
    /// `announced` bytes (of which up to `framing` are not the file's) when
    /// it is over the size limit or cannot fit in `user`'s quota.
    pub async fn admit_file(
        &self,
        user: &User,
        announced: u64,
        framing: u64,
    ) -> Result<(), FileError> {
        let settings = &self.files.settings;
        let max = settings.max_upload_bytes;
        if announced > max + framing {
            return Err(FileError::TooLarge(max));
        }
        let used = self.store.storage_used(user.id).await?;
        let quota = settings.quota_of(user);
        if used.saturating_add(announced.saturating_sub(framing) as i64) > quota {
            return Err(FileError::QuotaExceeded { used, quota });
        }
        Ok(())
    }

    /// Stores `user`'s file `name` (sanitised here) from `body`, streamed
    /// to storage and named by the type sniffed from its first bytes. A
    /// body that fails with a text ends as [`FileError::Body`].
    pub async fn store_file<S>(
        &self,
        user: &User,
        name: &str,
        body: S,
    ) -> Result<StoredFile, FileError>
    where
        S: Stream<Item = Result<Bytes, String>> + Unpin,
    {
        let files = &self.files;
        let max = files.settings.max_upload_bytes;
        let name = roomy_media::sanitize_filename(name);
        let mut body = body;
        // Sniff from the first bytes, then name the object by what it is.
        let mut head = BytesMut::new();
        let mut ended = false;
        while head.len() < SNIFF_LEN {
            match body.next().await.transpose().map_err(FileError::Body)? {
                Some(c) => head.extend_from_slice(&c),
                None => {
                    ended = true;
                    break;
                }
            }
        }
        let sniffed = roomy_media::sniff(&head);
        let key = ObjectKey::generate(FILES_PREFIX, self.clock.now(), sniffed.ext);
        let mut writer = files.blob.writer(&key).await?;
        let mut hasher = Sha256::new();
        let mut size = 0u64;
        let mut next = Some(head.freeze());
        loop {
            let chunk: Bytes = match next.take() {
                Some(c) => c,
                None if ended => break,
                None => match body.next().await {
                    Some(Ok(c)) => c,
                    None => break,
                    Some(Err(why)) => {
                        abort(writer).await;
                        return Err(FileError::Body(why));
                    }
                },
            };
            size += chunk.len() as u64;
            if size > max {
                abort(writer).await;
                return Err(FileError::TooLarge(max));
            }
            hasher.update(&chunk);
            if let Err(e) = writer.write(chunk).await {
                abort(writer).await;
                return Err(e.into());
            }
        }
        writer.close().await?;
        let new = new_file(
            user.id,
            &name,
            size as i64,
            prepared(&key, &sniffed, hasher),
        );
        let quota = files.settings.quota_of(user);
        let stored = match self.store.create_file(new, quota, self.clock.now()).await {
            Ok(f) => f,
            Err(e) => {
                let _ = files.blob.delete(&key).await;
                return Err(refused(e));
            }
        };
        files.jobs_wake.notify_waiters();
        Ok(stored)
    }

    /// File `id` as `user` may see it: the owner, or a member of a room
    /// where a message carrying it was sent and not revoked.
    pub async fn readable_file(&self, user: UserId, id: FileId) -> Result<StoredFile, FileError> {
        if !self.store.file_readable(id, user).await? {
            return Err(FileError::NotFound);
        }
        self.store.file(id).await?.ok_or(FileError::NotFound)
    }

    /// Bytes `range` (half-open, within the size) of `file`, as read through
    /// [`App::readable_file`], as a stream.
    pub async fn file_range(
        &self,
        file: &StoredFile,
        range: Range<u64>,
    ) -> Result<BoxStream<'static, std::io::Result<Bytes>>, FileError> {
        let key = ObjectKey::parse(&file.key)?;
        Ok(self.files.blob.read_range(&key, range).await?.boxed())
    }

    /// The thumbnail of image `id`, for `user` (who must be able to read it).
    pub async fn thumbnail(&self, user: UserId, id: FileId) -> Result<Derived, FileError> {
        let file = self.readable_file(user, id).await?;
        let Some((key, mime)) = &file.thumbnail else {
            return Err(FileError::NoThumbnail);
        };
        self.derived(key, mime).await
    }

    /// A frame of video `id`, for `user` (who must be able to read it):
    /// with an empty `frame` the stored cover, else a frame taken now, from
    /// the stored file only.
    pub async fn cover(
        &self,
        user: UserId,
        id: FileId,
        frame: FrameQuery<'_>,
    ) -> Result<Derived, FileError> {
        let file = self.readable_file(user, id).await?;
        if file.media != MediaClass::Video {
            return Err(FileError::NotAVideo(file.mime));
        }
        if frame.is_empty() {
            let Some((key, mime)) = &file.cover else {
                return Err(FileError::NoCover);
            };
            return self.derived(key, mime).await;
        }
        let req = FrameRequest::parse(frame.t, frame.w, frame.h, frame.f)?;
        let files = &self.files;
        if !files.ffmpeg.available().await {
            return Err(FileError::FfmpegUnavailable);
        }
        // The semaphore is never closed: failing to get a slot is being busy.
        let _permit = tokio::time::timeout(FRAME_WAIT, files.frames.acquire())
            .await
            .map_err(|_| FileError::FramesBusy)?
            .map_err(|_| FileError::FramesBusy)?;
        let key = ObjectKey::parse(&file.key)?;
        let (path, _tmp) = files.local_copy(&key).await?;
        let bytes = files.ffmpeg.frame(&path, &req).await?;
        let mime = match req.format {
            FrameFormat::Png => "image/png",
            FrameFormat::Jpg => "image/jpeg",
        };
        Ok(Derived {
            bytes,
            mime: mime.to_owned(),
        })
    }

    /// A small stored object (thumbnail, cover), whole.
    async fn derived(&self, key: &str, mime: &str) -> Result<Derived, FileError> {
        let key = ObjectKey::parse(key)?;
        let bytes = self.files.blob.read_all(&key, MAX_DERIVED).await?;
        Ok(Derived {
            bytes,
            mime: mime.to_owned(),
        })
    }
}

async fn abort(writer: BlobWriter) {
    if let Err(e) = writer.abort().await {
        tracing::warn!(error = %e, "could not remove a refused upload's bytes");
    }
}
