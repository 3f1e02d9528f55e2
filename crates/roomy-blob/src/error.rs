//! What can go wrong with storage.

/// Why a storage operation failed.
#[derive(Debug, thiserror::Error)]
pub enum BlobError {
    /// The object does not exist.
    #[error("object not found")]
    NotFound,
    /// The object is larger than the caller allows.
    #[error("object larger than allowed")]
    TooLarge,
    /// A stored key is not one this crate generates.
    #[error("invalid object key {0}")]
    InvalidKey(String),
    /// The storage configuration cannot work.
    #[error("invalid storage configuration: {0}")]
    Config(String),
    /// Local file-system I/O failed (the fs backend, files being ingested, temp files).
    #[error("local i/o: {0}")]
    Io(#[from] std::io::Error),
    /// The storage backend failed.
    #[error("storage: {0}")]
    Storage(#[source] opendal::Error),
}

impl From<opendal::Error> for BlobError {
    fn from(e: opendal::Error) -> Self {
        // Callers branch on a missing object (404s, repairs), never on other kinds.
        if e.kind() == opendal::ErrorKind::NotFound {
            BlobError::NotFound
        } else {
            BlobError::Storage(e)
        }
    }
}
