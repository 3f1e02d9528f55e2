//! Files: where uploads are assembled ([`spool`]), who may write to one
//! ([`locks`]), how a finished upload becomes a stored file ([`Files::finish`]),
//! the background jobs that derive thumbnails and covers and expire
//! abandoned uploads ([`jobs`]), and download ranges ([`range`]).

pub mod jobs;
pub mod locks;
pub mod range;
pub mod spool;

use crate::error::ApiError;
use roomy_blob::{Blob, ObjectKey};
use roomy_core::{Clock, FileId, UserId};
use roomy_media::{Ffmpeg, MediaKind, Sniffed};
use roomy_store::{MediaClass, NewFile, Store, StoredFile, Upload};
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

/// The limits and places of file handling.
#[derive(Debug, Clone)]
pub struct FileSettings {
    /// Largest file, in bytes.
    pub max_upload_bytes: u64,
    /// Bytes each user may hold (files plus unfinished uploads).
    pub user_quota_bytes: u64,
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
    /// The configuration's defaults, assembling uploads in `upload_dir`.
    pub fn defaults(upload_dir: PathBuf) -> FileSettings {
        let c = roomy_core::Config::default();
        FileSettings {
            max_upload_bytes: c.max_upload_bytes,
            user_quota_bytes: c.user_quota_bytes,
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
    pub blob: Blob,
    pub spool: spool::Spool,
    pub settings: Arc<FileSettings>,
    pub ffmpeg: Arc<Ffmpeg>,
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
        match hash {
            Some(h) => hashes.insert(id, h),
            None => hashes.remove(&id),
        };
    }

    /// Turns complete upload `upload` into its file: judges the content
    /// from its bytes, moves them into storage under a fresh key, records
    /// the file and wakes the job runners.
    pub async fn finish(
        &self,
        store: &dyn Store,
        clock: &dyn Clock,
        upload: &Upload,
    ) -> Result<StoredFile, ApiError> {
        let id = upload.id;
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
        let now = clock.now();
        let key = ObjectKey::generate(FILES_PREFIX, now, sniffed.ext);
        self.blob
            .ingest_file(&key, &self.spool.path(id))
            .await
            .map_err(ApiError::internal)?;
        self.keep_hash(id, None);
        let new = new_file(
            upload.owner,
            &key,
            &upload.name,
            upload.length,
            &sniffed,
            sha256,
        );
        let stored = match store.finish_upload(id, new, now).await {
            Ok(stored) => stored,
            Err(e) => {
                // Nothing refers to the bytes: do not keep them.
                let _ = self.blob.delete(&key).await;
                return Err(e.into());
            }
        };
        self.jobs_wake.notify_waiters();
        Ok(stored)
    }
}

/// The record of bytes stored under `key`.
pub fn new_file(
    owner: UserId,
    key: &ObjectKey,
    name: &str,
    size: i64,
    sniffed: &Sniffed,
    sha256: Sha256,
) -> NewFile {
    NewFile {
        owner,
        key: key.as_str().to_owned(),
        name: name.to_owned(),
        size,
        mime: sniffed.mime.to_owned(),
        sha256: hex(&sha256.finalize()),
        media: match sniffed.kind {
            MediaKind::Image => MediaClass::Image,
            MediaKind::Video => MediaClass::Video,
            MediaKind::Audio => MediaClass::Audio,
            MediaKind::Other => MediaClass::Other,
        },
    }
}

/// Lower-case hex.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
