//! Files and attachments on the wire.

use roomy_core::FileId;
use roomy_store::{FileRef, StoredFile};
use serde::Serialize;
use time::OffsetDateTime;
use utoipa::ToSchema;

/// Where a file's bytes are downloaded.
pub fn file_url(id: FileId) -> String {
    format!("/api/v1/files/{id}")
}

fn thumbnail_url(id: FileId) -> String {
    format!("/api/v1/files/{id}/thumbnail")
}

fn cover_url(id: FileId) -> String {
    format!("/api/v1/files/{id}/cover")
}

/// A stored file.
#[derive(Debug, Clone, Serialize, ToSchema, ts_rs::TS)]
pub struct FileView {
    pub id: FileId,
    /// Sanitised name given at upload.
    pub name: String,
    pub size: i64,
    /// Content type sniffed from the bytes.
    pub mime: String,
    /// SHA-256 of the bytes, hex.
    pub sha256: String,
    /// Download (HTTP Range supported).
    pub url: String,
    /// Images, once the thumbnail is made.
    pub thumbnail_url: Option<String>,
    /// Videos, once the cover frame is made.
    pub cover_url: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    #[ts(type = "string")]
    pub created_at: OffsetDateTime,
}

impl From<StoredFile> for FileView {
    fn from(f: StoredFile) -> Self {
        FileView {
            id: f.id,
            url: file_url(f.id),
            thumbnail_url: f.thumbnail.is_some().then(|| thumbnail_url(f.id)),
            cover_url: f.cover.is_some().then(|| cover_url(f.id)),
            name: f.name,
            size: f.size,
            mime: f.mime,
            sha256: f.sha256,
            created_at: f.created_at,
        }
    }
}

/// A message's attached file.
#[derive(Debug, Clone, Serialize, ToSchema, ts_rs::TS)]
pub struct AttachmentView {
    pub id: FileId,
    pub name: String,
    pub size: i64,
    pub mime: String,
    /// Download (HTTP Range supported).
    pub url: String,
    /// Images, once the thumbnail is made (a `file_updated` event says when).
    pub thumbnail_url: Option<String>,
    /// Videos, once the cover frame is made (a `file_updated` event says when).
    pub cover_url: Option<String>,
}

impl From<FileRef> for AttachmentView {
    fn from(f: FileRef) -> Self {
        AttachmentView {
            id: f.id,
            url: file_url(f.id),
            thumbnail_url: f.thumbnail.then(|| thumbnail_url(f.id)),
            cover_url: f.cover.then(|| cover_url(f.id)),
            name: f.name,
            size: f.size,
            mime: f.mime,
        }
    }
}
