//! File, upload and job rows and SQL, shared verbatim by both backends.

use roomy_core::{FileId, UserId, clock::from_millis};
use roomy_store::{Job, JobKind, MediaClass, Prepared, StoreError, StoredFile, Upload};

/// Columns for [`FileRow`] from `files f`.
pub const FILE_COLUMNS: &str = "f.id, f.owner_id, f.storage_key, f.name, f.size, f.mime, \
     f.sha256, f.media, f.created_at, f.thumb_key, f.thumb_mime, f.cover_key, f.cover_mime";

/// Columns for [`UploadRow`] from `uploads`.
pub const UPLOAD_COLUMNS: &str = "id, owner_id, length, upload_offset, name, created_at, \
     expires_at, storage_key, sha256, mime, media";

/// Bytes user $1 holds in files and reserves in uploads.
/// (PostgreSQL sums BIGINTs as NUMERIC: the cast keeps one type for both.)
pub const STORAGE_USED: &str = "SELECT CAST(\
     (SELECT COALESCE(SUM(size), 0) FROM files WHERE owner_id = $1) + \
     (SELECT COALESCE(SUM(length), 0) FROM uploads WHERE owner_id = $1) AS BIGINT)";

/// Hands out the next file id.
pub const NEXT_FILE_ID: &str =
    "UPDATE counters SET value = value + 1 WHERE name = 'file_id' RETURNING value";

/// Schedules job kind $1 on subject $2 at $3.
/// Moves upload $3's offset from $4 to $1 (and its expiry to $2): the
/// compare-and-set that lets one writer of a chunk win.
pub const ADVANCE_UPLOAD: &str = "UPDATE uploads SET upload_offset = $1, expires_at = $2 \
     WHERE id = $3 AND upload_offset = $4";

pub const ENQUEUE_JOB: &str = "INSERT INTO jobs (kind, subject, run_at) VALUES ($1, $2, $3)";

/// Whether user $2 may read file $1: the owner, or a member of a room where
/// a message that is not revoked carries it.
pub const FILE_READABLE: &str = "SELECT EXISTS (SELECT 1 FROM files WHERE id = $1 AND owner_id = $2) \
     OR EXISTS (SELECT 1 FROM messages m \
         JOIN room_members rm ON rm.room_id = m.room_id AND rm.user_id = $2 \
         WHERE m.file_id = $1 AND m.revoked_at IS NULL)";

/// A `files` row.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct FileRow {
    pub id: i64,
    pub owner_id: i64,
    pub storage_key: String,
    pub name: String,
    pub size: i64,
    pub mime: String,
    pub sha256: String,
    pub media: String,
    pub created_at: i64,
    pub thumb_key: Option<String>,
    pub thumb_mime: Option<String>,
    pub cover_key: Option<String>,
    pub cover_mime: Option<String>,
}

impl FileRow {
    /// The domain file.
    pub fn into_file(self) -> Result<StoredFile, StoreError> {
        let media = MediaClass::parse(&self.media)
            .ok_or_else(|| StoreError::Corrupt(format!("unknown media class {:?}", self.media)))?;
        Ok(StoredFile {
            id: FileId(self.id),
            owner: UserId(self.owner_id),
            key: self.storage_key,
            name: self.name,
            size: self.size,
            mime: self.mime,
            sha256: self.sha256,
            media,
            created_at: from_millis(self.created_at),
            thumbnail: self.thumb_key.zip(self.thumb_mime),
            cover: self.cover_key.zip(self.cover_mime),
        })
    }
}

/// An `uploads` row.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct UploadRow {
    pub id: i64,
    pub owner_id: i64,
    pub length: i64,
    pub upload_offset: i64,
    pub name: String,
    pub created_at: i64,
    pub expires_at: i64,
    pub storage_key: Option<String>,
    pub sha256: Option<String>,
    pub mime: Option<String>,
    pub media: Option<String>,
}

impl UploadRow {
    /// The domain upload.
    pub fn into_upload(self) -> Result<Upload, StoreError> {
        let prepared = match (self.storage_key, self.sha256, self.mime, self.media) {
            (Some(key), Some(sha256), Some(mime), Some(media)) => Some(Prepared {
                key,
                sha256,
                mime,
                media: MediaClass::parse(&media)
                    .ok_or_else(|| StoreError::Corrupt(format!("unknown media class {media:?}")))?,
            }),
            _ => None,
        };
        Ok(Upload {
            id: FileId(self.id),
            owner: UserId(self.owner_id),
            length: self.length,
            offset: self.upload_offset,
            name: self.name,
            created_at: from_millis(self.created_at),
            expires_at: from_millis(self.expires_at),
            prepared,
        })
    }
}

/// A claimed `jobs` row.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct JobRow {
    pub id: i64,
    pub kind: String,
    pub subject: i64,
    pub attempts: i64,
}

impl JobRow {
    /// The domain job.
    pub fn into_job(self) -> Result<Job, StoreError> {
        let kind = JobKind::parse(&self.kind)
            .ok_or_else(|| StoreError::Corrupt(format!("unknown job kind {:?}", self.kind)))?;
        Ok(Job {
            id: self.id,
            kind,
            subject: self.subject,
            attempts: self.attempts,
        })
    }
}
