//! The store layer's errors.

/// The uniqueness rule a write hit; its Display names the field as clients see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Conflict {
    /// Another account has the username (compared case-insensitively).
    Username,
    /// The pair's direct room was created by a concurrent transaction.
    DirectRoom,
    /// Another invite has the token.
    Invite,
    /// Another file has the storage key.
    StorageKey,
    /// The pair are friends already (a concurrent agreement won).
    Friendship,
    /// A concurrent request between the pair was written first.
    FriendRequest,
}

impl Conflict {
    /// The field's name as the API shows it ("username").
    pub const fn as_str(self) -> &'static str {
        match self {
            Conflict::Username => "username",
            Conflict::DirectRoom => "direct room",
            Conflict::Invite => "invite",
            Conflict::StorageKey => "storage_key",
            Conflict::Friendship => "friendship",
            Conflict::FriendRequest => "friend request",
        }
    }
}

impl std::fmt::Display for Conflict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The kind of row a store operation needed and did not find.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Missing {
    /// An account (or, where the operation says so, a disabled one).
    User,
    /// A room (for dissolving: a live group).
    Room,
    /// A user's membership of a room.
    Member,
    /// A message.
    Message,
    /// A user's favorite of a message.
    Favorite,
    /// An invite of the room, or with the token.
    Invite,
    /// A user's ban from a room.
    Ban,
    /// A stored file.
    File,
    /// A complete upload of the owner.
    Upload,
    /// A friend request visible to the caller.
    FriendRequest,
    /// A friendship of the pair.
    Friend,
}

impl Missing {
    /// The kind's name as the API shows it ("room").
    pub const fn as_str(self) -> &'static str {
        match self {
            Missing::User => "user",
            Missing::Room => "room",
            Missing::Member => "member",
            Missing::Message => "message",
            Missing::Favorite => "favorite",
            Missing::Invite => "invite",
            Missing::Ban => "ban",
            Missing::File => "file",
            Missing::Upload => "upload",
            Missing::FriendRequest => "friend request",
            Missing::Friend => "friend",
        }
    }
}

impl std::fmt::Display for Missing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A uniqueness rule was hit.
    #[error("{0} already exists")]
    Conflict(Conflict),
    /// A rule of the social graph forbids the change.
    #[error("refused: {0:?}")]
    Refused(crate::Refusal),
    /// The user's files and uploads would exceed their quota (bytes).
    #[error("storage quota exceeded: {used} of {quota} bytes used")]
    QuotaExceeded { used: i64, quota: i64 },
    /// The user has as many unfinished uploads as they may have.
    #[error("too many unfinished uploads (at most {0})")]
    TooManyUploads(i64),
    /// A row the operation needs does not exist; the payload says which kind.
    #[error("no such {0}")]
    NotFound(Missing),
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The API puts these names in its conflict messages: renaming one
    /// changes what clients read.
    #[test]
    fn conflicts_and_missing_rows_read_as_the_api_shows_them() {
        let conflicts = [
            (Conflict::Username, "username"),
            (Conflict::DirectRoom, "direct room"),
            (Conflict::Invite, "invite"),
            (Conflict::StorageKey, "storage_key"),
            (Conflict::Friendship, "friendship"),
            (Conflict::FriendRequest, "friend request"),
        ];
        for (conflict, name) in conflicts {
            assert_eq!(conflict.to_string(), name);
            assert_eq!(
                StoreError::Conflict(conflict).to_string(),
                format!("{name} already exists")
            );
        }
        let missing = [
            (Missing::User, "user"),
            (Missing::Room, "room"),
            (Missing::Member, "member"),
            (Missing::Message, "message"),
            (Missing::Favorite, "favorite"),
            (Missing::Invite, "invite"),
            (Missing::Ban, "ban"),
            (Missing::File, "file"),
            (Missing::Upload, "upload"),
            (Missing::FriendRequest, "friend request"),
            (Missing::Friend, "friend"),
        ];
        for (kind, name) in missing {
            assert_eq!(kind.to_string(), name);
            assert_eq!(
                StoreError::NotFound(kind).to_string(),
                format!("no such {name}")
            );
        }
    }
}
