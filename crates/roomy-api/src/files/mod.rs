//! Files: where uploads are assembled ([`spool`]), who may write to one
//! ([`locks`]), how a finished upload becomes a stored file ([`Files::finish`]),
//! the background jobs that derive thumbnails and covers and expire
//! abandoned uploads ([`jobs`]), and download ranges ([`range`]).

pub mod jobs;
pub mod locks;
pub mod range;
pub mod spool;

use crate::error::ApiError;
use crate::error::ErrorCode;
use roomy_blob::{Blob, ObjectKey};
use roomy_core::{Clock, FileId, UserId};
use roomy_media::{Ffmpeg, MediaKind, Sniffed};
use roomy_store::{MediaClass, NewFile, Prepared, Store, StoredFile, Upload};
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
    /// Where uploads are assembled.
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

    /// The configuration's defaults, assembling uploads in `upload_dir`.
    pub fn defaults(upload_dir: PathBuf) -> FileSettings {
        let c = roomy_core::Config::default();
        FileSettings {
            max_upload_bytes: c.max_upload_bytes,
            user_quota_bytes: c.user_quota_bytes,
            guest_quota_bytes: c.guest_quota_bytes,
            upload_expiry: time::Duration::seconds(c.upload_expiry_secs as i64),
            upload_dir,
            ffmpeg: c.ffmpeg,
            job_workers: c.job_workers,
        }
    }
}

/// Everything file handlers and jobs share; cheap to clone.
#[derive(Clone)]
pub struct Files {
    /// Where stored files, thumbnails and covers live.
    pub blob: Blob,
    /// Where unfinished uploads are assembled.
    pub spool: spool::Spool,
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
        Ok(Files {
            blob,
            spool,
            ffmpeg: Arc::new(ffmpeg),
            settings: Arc::new(settings),
            locks: Arc::default(),
            hashes: Arc::default(),
            jobs_wake: Arc::new(Notify::new()),
            frames: Arc::new(Semaphore::new(2)),
        })
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

    /// Turns complete upload `upload` into its file. Each step can be run
    /// again after a failure or a crash in the next: the file to be (key
    /// from the sniffed type, SHA-256) is recorded first; then the bytes
    /// move into storage (unless they did already); then the file row
    /// replaces the upload row and its thumbnail/cover job is queued.
    pub async fn finish(
        &self,
        store: &dyn Store,
        clock: &dyn Clock,
        upload: &Upload,
    ) -> Result<StoredFile, ApiError> {
        let id = upload.id;
        let prepared = match &upload.prepared {
            Some(p) => p.clone(),
            None => {
                let sha256 = match self.running_hash(id, upload.length) {
                    Some(h) => h,
                    None => self.spool.sha256(id).await.map_err(ApiError::internal)?,
                };
                let head = self
                    .spool
                    .head(id, roomy_media::SNIFF_LEN)
                    .await
                    .map_err(ApiError::internal)?;
                let sniffed = roomy_media::sniff(&head);
                let key = ObjectKey::generate(FILES_PREFIX, clock.now(), sniffed.ext);
                let prepared = prepared(&key, &sniffed, sha256);
                if !store.prepare_upload(id, &prepared).await? {
                    return Err(ApiError::Conflict {
                        code: ErrorCode::UploadConflict,
                        message: "another request is finishing this upload".into(),
                        fields: roomy_core::FieldErrors::new(),
                    });
                }
                prepared
            }
        };
        let key = ObjectKey::parse(&prepared.key).map_err(ApiError::internal)?;
        let spooled = self.spool.path(id);
        if tokio::fs::try_exists(&spooled).await.unwrap_or(false) {
            self.blob
                .ingest_file(&key, &spooled)
                .await
                .map_err(ApiError::internal)?;
        }
        self.keep_hash(id, None);
        let new = new_file(upload.owner, &upload.name, upload.length, prepared);
        let stored = store.finish_upload(id, new, clock.now()).await?;
        self.jobs_wake.notify_waiters();
        Ok(stored)
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

/// What bytes stored under `key` are, judged from the bytes.
pub fn prepared(key: &ObjectKey, sniffed: &Sniffed, sha256: Sha256) -> Prepared {
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
pub fn new_file(owner: UserId, name: &str, size: i64, prepared: Prepared) -> NewFile {
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
