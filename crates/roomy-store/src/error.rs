//! The store layer's errors.

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A uniqueness rule was hit; the payload names the field ("username").
    #[error("{0} already exists")]
    Conflict(&'static str),
    /// A rule of the social graph forbids the change.
    #[error("refused: {0:?}")]
    Refused(crate::Refusal),
    /// The user's files and uploads would exceed their quota (bytes).
    #[error("storage quota exceeded: {used} of {quota} bytes used")]
    QuotaExceeded { used: i64, quota: i64 },
    /// The user has as many unfinished uploads as they may have.
    #[error("too many unfinished uploads (at most {0})")]
    TooManyUploads(i64),
    /// The row the operation needs does not exist.
    #[error("not found")]
    NotFound,
    /// Stored data that the code cannot interpret (a bug or a foreign write).
    #[error("corrupt stored data: {0}")]
    Corrupt(String),
    /// The database failed the operation (it refused a statement or a value).
    #[error("database error")]
    Database(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// The database could not be reached (connection, pool or I/O failure):
    /// nothing about the operation's input is at fault, and retrying it
    /// row by row would only fail again.
    #[error("database unavailable")]
    Unavailable(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// The database refused a value the operation wrote (a data exception
    /// or a constraint): the input, not the database, is at fault, so the
    /// same write without that row would pass.
    #[error("the database refused a value: {0}")]
    Rejected(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// The rights or rules of a group refuse the change, judged under the
    /// room's lock; nothing was written.
    #[error("refused: {0}")]
    RoomDenied(#[from] crate::RoomDenial),
    /// Users who may not be put in a group by the actor, each with why;
    /// nothing was written.
    #[error("members refused: {0:?}")]
    MembersRefused(Vec<(roomy_core::UserId, crate::Refusal)>),
}

/// Result of a store operation.
pub type StoreResult<T> = Result<T, StoreError>;
