//! Domain records exchanged with the store. These are neither wire DTOs nor
//! database rows: the API and the backends each convert at their edge.

use roomy_core::{
    Role, SessionId, UserId,
    user_fields::{AvatarUrl, Nickname, Username},
};
use time::OffsetDateTime;

/// An account. Deliberately has no password hash: see [`Credentials`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub id: UserId,
    pub username: String,
    pub nickname: String,
    pub avatar: Option<String>,
    /// Whether friend requests to this user need approval.
    pub invite_confirm: bool,
    /// Whether others may see how far the user has read.
    pub read_receipts: bool,
    pub role: Role,
    pub disabled: bool,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
}

/// A user with its password hash; only the authentication code asks for this.
#[derive(Clone)]
pub struct Credentials {
    pub user: User,
    /// PHC string; `None` for guests, who have no password.
    pub password_hash: Option<String>,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("user", &self.user)
            .field("password_hash", &"<redacted>")
            .finish()
    }
}

/// What it takes to create an account.
#[derive(Debug, Clone)]
pub struct NewUser {
    pub username: Username,
    pub nickname: Nickname,
    pub password_hash: Option<String>,
    pub role: Role,
}

/// Profile fields to change; `None` leaves a field alone.
#[derive(Debug, Clone, Default)]
pub struct ProfileChanges {
    pub nickname: Option<Nickname>,
    /// `Some(None)` clears the avatar.
    pub avatar: Option<Option<AvatarUrl>>,
    pub invite_confirm: Option<bool>,
    pub read_receipts: Option<bool>,
}

/// A login session; access tokens name one, so ending it ends them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub id: SessionId,
    pub user_id: UserId,
    pub created_at: OffsetDateTime,
    pub last_used_at: OffsetDateTime,
    pub expires_at: OffsetDateTime,
    pub revoked_at: Option<OffsetDateTime>,
    pub user_agent: Option<String>,
    pub ip: Option<String>,
}

impl Session {
    /// Neither revoked nor expired at `now`.
    pub fn is_active(&self, now: OffsetDateTime) -> bool {
        self.revoked_at.is_none() && self.expires_at > now
    }
}

/// What retiring an idle guest left for the caller to delete from storage.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RetiredGuest {
    /// Storage keys of its files, their thumbnails and covers, and of
    /// uploads already moved into storage.
    pub keys: Vec<String>,
    /// Its unfinished uploads, whose bytes are in the upload folder.
    pub uploads: Vec<roomy_core::FileId>,
}

/// What it takes to start a session.
#[derive(Debug, Clone)]
pub struct NewSession {
    pub user_id: UserId,
    pub now: OffsetDateTime,
    pub expires_at: OffsetDateTime,
    /// Client's `User-Agent`, truncated by the caller.
    pub user_agent: Option<String>,
    pub ip: Option<String>,
}
