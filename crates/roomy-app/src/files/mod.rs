//! Files: where uploads are assembled (on disk, [`spool`]; in an object
//! store, [`parts`]), who may write to one on this node ([`locks`]), how a
//! finished upload becomes a stored file, the background jobs that derive
//! thumbnails and covers and expire abandoned uploads ([`jobs`]), resumable
//! uploads ([`uploads`]) and the one-request upload and reading of stored
//! files ([`stored`]), as operations on [`App`].

pub mod jobs;
pub mod locks;
pub mod parts;
pub mod spool;
pub mod stored;
pub mod uploads;

use crate::App;
use roomy_blob::{Blob, BlobError, ObjectKey};
use roomy_core::{Config, FileId, UserId};
use roomy_media::{Ffmpeg, MediaError, MediaKind, Sniffed};
use roomy_store::{MediaClass, Missing, NewFile, Prepared, StoreError, StoredFile, Upload};
use sha2::{Digest, Sha256};
use std::{
    collections::HashMap,
    path::PathBuf,
    sync::{Arc, Mutex},
    time::Duration,
};
use tokio::sync::{Notify, Semaphore};

/// Object-key prefixes: one per kind of object the server writes.
pub const FILES_PREFIX: &str = "files";
/// Thumbnails of images.
pub const THUMBS_PREFIX: &str = "thumbs";
/// Cover frames of videos.
pub const COVERS_PREFIX: &str = "covers";

/// Running hashes kept in memory at most.
const MAX_RUNNING_HASHES: usize = 10_000;

/// The limits and places of file handling.
#[derive(Debug, Clone)]
pub struct FileSettings {
    /// Largest file, in bytes.
    pub max_upload_bytes: u64,
    /// Bytes each user may hold (files plus unfinished uploads).
    pub user_quota_bytes: u64,
    /// Bytes each guest may hold.
    pub guest_quota_bytes: u64,
    /// How long an upload lives after its last chunk.
    pub upload_expiry: time::Duration,
    /// Where uploads are assembled when files are stored on disk; with an
    /// object store, where temporary copies for ffmpeg and thumbnails go.
    pub upload_dir: PathBuf,
    /// The ffmpeg program.
    pub ffmpeg: PathBuf,
    /// Background job runners on this node.
    pub job_workers: usize,
}

impl FileSettings {
    /// The quota of `user`: guests get the small one.
    pub fn quota_of(&self, user: &roomy_store::User) -> i64 {
        let bytes = if user.role == roomy_core::Role::Guest {
            self.guest_quota_bytes
        } else {
            self.user_quota_bytes
        };
        i64::try_from(bytes).unwrap_or(i64::MAX)
    }
}

impl From<&Config> for FileSettings {
    fn from(c: &Config) -> FileSettings {
        FileSettings {
            max_upload_bytes: c.max_upload_bytes,
            user_quota_bytes: c.user_quota_bytes,
            guest_quota_bytes: c.guest_quota_bytes,
            upload_expiry: time::Duration::seconds(c.upload_expiry_secs as i64),
            upload_dir: c.effective_upload_dir(),
            ffmpeg: c.ffmpeg.clone(),
            job_workers: c.job_workers,
        }
    }
}

/// Where unfinished uploads keep their bytes, which follows from the storage.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UploadBytes {
    /// Disk storage: one file per upload in the upload folder, written in
    /// place. Several nodes need that folder shared.
    Spool,
    /// Object stores: one object per chunk in the blob storage, so any node
    /// continues any upload with no shared disk.
    Parts,
}

/// Everything file handlers and jobs share; cheap to clone.
#[derive(Clone)]
pub struct Files {
    /// Where stored files, thumbnails and covers live.
    pub blob: Blob,
    /// The upload folder (assembles uploads with [`UploadBytes::Spool`]).
    pub spool: spool::Spool,
    /// Where unfinished uploads keep their bytes.
    upload_bytes: UploadBytes,
    /// The limits and places of file handling.
    pub settings: Arc<FileSettings>,
    /// Takes video frames (covers), when the program is there.
    pub ffmpeg: Arc<Ffmpeg>,
    /// One writer per upload on this node.
    pub locks: Arc<locks::UploadLocks>,
    /// Running SHA-256 of uploads whose chunks came to this node, by the
    /// offset it covers: saves reading a finished upload back.
    hashes: Arc<Mutex<HashMap<FileId, (i64, Sha256)>>>,
    /// Wakes the job runners when a job was queued.
    pub jobs_wake: Arc<Notify>,
    /// Bounds the ffmpeg processes that on-demand frames start.
    pub frames: Arc<Semaphore>,
}

impl Files {
    /// File handling over `blob`, assembling uploads per `settings`.
    pub fn new(blob: Blob, settings: FileSettings) -> std::io::Result<Files> {
        let spool = spool::Spool::open(settings.upload_dir.clone())?;
        let ffmpeg = Ffmpeg::new(
            settings.ffmpeg.clone(),
            Duration::from_secs(20),
            32 * 1024 * 1024,
        );
        // Local disk can be shared as a folder; an object store is shared
        // by nature, and a node's own disk is not.
        let upload_bytes = match blob.backend() {
            "fs" => UploadBytes::Spool,
            _ => UploadBytes::Parts,
        };
        Ok(Files {
            blob,
            spool,
            upload_bytes,
            ffmpeg: Arc::new(ffmpeg),
            settings: Arc::new(settings),
            locks: Arc::default(),
            hashes: Arc::default(),
            jobs_wake: Arc::new(Notify::new()),
            frames: Arc::new(Semaphore::new(2)),
        })
    }

    /// Where unfinished uploads keep their bytes.
    pub fn upload_bytes(&self) -> UploadBytes {
        self.upload_bytes
    }

    /// Removes what is left of upload `id`'s bytes once its record is gone:
    /// its file in the upload folder, or every chunk object under its
    /// directory (those of writers that lost a race or died included).
    pub async fn discard_upload_bytes(&self, id: FileId) -> Result<(), BlobError> {
        self.keep_hash(id, None);
        match self.upload_bytes {
            UploadBytes::Spool => Ok(self.spool.remove(id).await?),
            UploadBytes::Parts => self.blob.delete_under(&parts::upload_dir(id)?).await,
        }
    }

    /// The running hash of upload `id` if it covers exactly `offset` bytes.
    pub fn running_hash(&self, id: FileId, offset: i64) -> Option<Sha256> {
        let hashes = self.hashes.lock().unwrap_or_else(|e| e.into_inner());
        hashes
            .get(&id)
            .filter(|(at, _)| *at == offset)
            .map(|(_, h)| h.clone())
    }

    /// Keeps upload `id`'s running hash (or forgets it: `None`).
    pub fn keep_hash(&self, id: FileId, hash: Option<(i64, Sha256)>) {
        let mut hashes = self.hashes.lock().unwrap_or_else(|e| e.into_inner());
        // Entries of uploads another node finished are never removed here:
        // past the cap, forget them all (a finish then reads its file back).
        if hash.is_some() && hashes.len() >= MAX_RUNNING_HASHES && !hashes.contains_key(&id) {
            hashes.clear();
        }
        match hash {
            Some(h) => hashes.insert(id, h),
            None => hashes.remove(&id),
        };
    }

    /// A file's bytes as a local path: the stored file itself on disk
    /// storage, else a temporary copy in the upload folder (kept while the
    /// second value lives).
    pub async fn local_copy(
        &self,
        key: &ObjectKey,
    ) -> Result<(PathBuf, Option<tempfile::NamedTempFile>), roomy_blob::BlobError> {
        match self.blob.local_path(key) {
            Some(path) => Ok((path, None)),
            None => {
                let tmp = self
                    .blob
                    .download_to_temp(key, &self.settings.upload_dir)
                    .await?;
                Ok((tmp.path().to_path_buf(), Some(tmp)))
            }
        }
    }
}

impl App {
    /// Turns complete upload `upload` into its file. Each step can be run
    /// again after a failure or a crash in the next. On disk: the file to
    /// be (key from the sniffed type, SHA-256) is recorded first; then the
    /// bytes move into storage (unless they did already). In an object
    /// store: the chunks are copied, in order, into the file's object
    /// (sniffed and hashed on the way), and then it is recorded (a loser of
    /// a race deletes its copy). Then the file row replaces the upload row
    /// and its thumbnail/cover job is queued, and chunks are deleted.
    pub async fn finish_upload(&self, upload: &Upload) -> Result<StoredFile, FileError> {
        let (files, store, clock) = (&self.files, &*self.store, &*self.clock);
        let id = upload.id;
        let prepared = match &upload.prepared {
            Some(p) => p.clone(),
            None if files.upload_bytes == UploadBytes::Parts => {
                let parts = store.upload_parts(id).await?;
                let prepared = parts::assemble(files, upload, &parts, clock.now()).await?;
                if !store.prepare_upload(id, &prepared).await? {
                    // Another request recorded its own copy first.
                    let ours = ObjectKey::parse(&prepared.key)?;
                    if let Err(e) = files.blob.delete(&ours).await {
                        tracing::warn!(key = %ours, error = %e, "cannot delete a losing finish's copy");
                    }
                    return Err(FileError::FinishRacing);
                }
                prepared
            }
            None => {
                let sha256 = match files.running_hash(id, upload.length) {
                    Some(h) => h,
                    None => files.spool.sha256(id).await?,
                };
                let head = files.spool.head(id, roomy_media::SNIFF_LEN).await?;
                let sniffed = roomy_media::sniff(&head);
                let key = ObjectKey::generate(FILES_PREFIX, clock.now(), sniffed.ext);
                let prepared = prepared(&key, &sniffed, sha256);
                if !store.prepare_upload(id, &prepared).await? {
                    return Err(FileError::FinishRacing);
                }
                prepared
            }
        };
        let key = ObjectKey::parse(&prepared.key)?;
        let spooled = files.spool.path(id);
        if files.upload_bytes == UploadBytes::Spool
            && tokio::fs::try_exists(&spooled).await.unwrap_or(false)
        {
            files.blob.ingest_file(&key, &spooled).await?;
        }
        files.keep_hash(id, None);
        let new = new_file(upload.owner, &upload.name, upload.length, prepared);
        let stored = match store.finish_upload(id, new, clock.now()).await {
            Ok(stored) => stored,
            // Another request (another node's, perhaps) finished it meanwhile.
            Err(StoreError::NotFound(Missing::Upload)) => store
                .file(id)
                .await?
                .filter(|f| f.owner == upload.owner)
                .ok_or(StoreError::NotFound(Missing::Upload))?,
            Err(e) => return Err(e.into()),
        };
        files.jobs_wake.notify_waiters();
        if files.upload_bytes == UploadBytes::Parts {
            // The file is whole without them; the upload's expiry job looks
            // again if this fails.
            if let Err(e) = files.discard_upload_bytes(id).await {
                tracing::warn!(upload = id.0, error = %e, "cannot delete a finished upload's chunks");
            }
        }
        Ok(stored)
    }
}

/// What bytes stored under `key` are, judged from the bytes.
pub(crate) fn prepared(key: &ObjectKey, sniffed: &Sniffed, sha256: Sha256) -> Prepared {
    Prepared {
        key: key.as_str().to_owned(),
        sha256: hex::encode(sha256.finalize()),
        mime: sniffed.mime.to_owned(),
        media: match sniffed.kind {
            MediaKind::Image => MediaClass::Image,
            MediaKind::Video => MediaClass::Video,
            MediaKind::Audio => MediaClass::Audio,
            MediaKind::Other => MediaClass::Other,
        },
    }
}

/// The record of `owner`'s file `name` of `size` bytes, as `prepared`.
pub(crate) fn new_file(owner: UserId, name: &str, size: i64, prepared: Prepared) -> NewFile {
    NewFile {
        owner,
        key: prepared.key,
        name: name.to_owned(),
        size,
        mime: prepared.mime,
        sha256: prepared.sha256,
        media: prepared.media,
    }
}

/// Why a file operation was refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    /// No such file, or the caller may not read it (the two look alike).
    #[error("no such file, or not shared with you")]
    NotFound,
    /// No such upload among the caller's (a stranger's looks the same).
    #[error("no such upload among yours")]
    UploadNotFound,
    /// The upload was abandoned too long and is being removed.
    #[error("this upload expired")]
    UploadExpired,
    /// The chunk does not start where the upload stands (the offset).
    #[error("the upload is at offset {0}")]
    OffsetMismatch(i64),
    /// The chunk is longer than the bytes the upload has left.
    #[error("this upload has {0} bytes left")]
    Overflow(i64),
    /// The chunk does not match its declared checksum; it was discarded.
    #[error("the chunk does not match its checksum")]
    ChecksumMismatch,
    /// A checksummed chunk was cut off, so it could not be checked; discarded.
    #[error("a checksummed chunk was cut off")]
    ChunkIncomplete,
    /// Another request is turning the same upload into its file.
    #[error("another request is finishing this upload")]
    FinishRacing,
    /// Another request moved the upload's offset while this chunk was written.
    #[error("another request moved this upload")]
    OffsetMoved,
    /// The user's files and uploads would exceed their quota (bytes).
    #[error("storage quota exceeded: {used} of {quota} bytes used")]
    QuotaExceeded {
        /// Bytes held already.
        used: i64,
        /// Bytes the user may hold.
        quota: i64,
    },
    /// The user has as many unfinished uploads as they may have.
    #[error("too many unfinished uploads (at most {0})")]
    TooManyUploads(i64),
    /// The file is over the size limit (bytes).
    #[error("files may be at most {0} bytes")]
    TooLarge(u64),
    /// The body carrying the file could not be read; the text says why.
    #[error("{0}")]
    Body(String),
    /// The image has no thumbnail (yet), or the file is no image.
    #[error("no thumbnail")]
    NoThumbnail,
    /// The video has no stored cover (yet).
    #[error("no cover")]
    NoCover,
    /// Frames are taken from videos only; the file's type is given.
    #[error("this file is {0}, not a video")]
    NotAVideo(String),
    /// A frame parameter is invalid.
    #[error("{field}: {reason}")]
    InvalidFrame {
        /// The parameter's name (`t`, `w`, `h`, `f`).
        field: &'static str,
        /// What is wrong with it, fit to show the client.
        reason: String,
    },
    /// The video has no frame at the requested time.
    #[error("the video has no frame there")]
    NoFrame,
    /// ffmpeg cannot read the video.
    #[error("ffmpeg cannot read this video")]
    UnreadableVideo,
    /// This server cannot take video frames (no ffmpeg).
    #[error("this server cannot take video frames")]
    FfmpegUnavailable,
    /// Every frame slot of this node stayed taken.
    #[error("too many frames are being taken")]
    FramesBusy,
    /// The database failed or refused.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// File storage failed.
    #[error("file storage")]
    Blob(#[from] BlobError),
    /// The upload folder failed.
    #[error("upload folder")]
    Spool(#[from] spool::SpoolError),
    /// Local file i/o failed.
    #[error("file i/o")]
    Io(#[from] std::io::Error),
    /// Taking a frame failed for a reason that is not the client's.
    #[error("media")]
    Media(#[source] MediaError),
    /// A task of the operation failed.
    #[error("task")]
    Task(#[from] tokio::task::JoinError),
}

impl From<MediaError> for FileError {
    fn from(e: MediaError) -> FileError {
        match e {
            MediaError::InvalidRequest { field, reason } => {
                FileError::InvalidFrame { field, reason }
            }
            MediaError::NoFrame => FileError::NoFrame,
            MediaError::FfmpegMissing => FileError::FfmpegUnavailable,
            MediaError::Unsupported(_) => FileError::UnreadableVideo,
            other => FileError::Media(other),
        }
    }
}

/// A store error, with the refusals of the file rules named as such.
fn refused(e: StoreError) -> FileError {
    match e {
        StoreError::QuotaExceeded { used, quota } => FileError::QuotaExceeded { used, quota },
        StoreError::TooManyUploads(max) => FileError::TooManyUploads(max),
        other => FileError::Store(other),
    }
}
