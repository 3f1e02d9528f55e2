//! Everything Roomy persists, behind one trait. Backends (SQLite, PostgreSQL)
//! implement [`Store`]; the API layer sees only these types, never SQL.
//!
//! Architecture invariant: instants cross this boundary as `OffsetDateTime`
//! supplied by the caller's clock, so backends never read the wall clock and
//! time-dependent rules stay testable.

mod error;
mod records;

#[cfg(feature = "contract")]
pub mod contract;

pub use error::{StoreError, StoreResult};
pub use records::*;

use async_trait::async_trait;
use roomy_core::{SessionId, UserId};
use time::OffsetDateTime;

/// Persistence for accounts and sessions. Every method is one transaction.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Cheap round trip to the database, for readiness checks.
    async fn ping(&self) -> StoreResult<()>;

    /// Creates an account; `Conflict("username")` when the name is taken (case-insensitively).
    async fn create_user(&self, new: NewUser, now: OffsetDateTime) -> StoreResult<User>;

    /// Looks an account up by id.
    async fn user(&self, id: UserId) -> StoreResult<Option<User>>;

    /// The account and its password hash, by username (case-insensitive), for login.
    async fn credentials_by_username(&self, username: &str) -> StoreResult<Option<Credentials>>;

    /// The account and its password hash, by id, for password changes.
    async fn credentials(&self, id: UserId) -> StoreResult<Option<Credentials>>;

    /// Applies the given profile changes; `NotFound` for a missing user.
    async fn update_profile(
        &self,
        id: UserId,
        changes: ProfileChanges,
        now: OffsetDateTime,
    ) -> StoreResult<User>;

    /// Replaces the password hash and revokes every session of the user but `keep`, atomically.
    async fn set_password(
        &self,
        id: UserId,
        password_hash: String,
        keep: SessionId,
        now: OffsetDateTime,
    ) -> StoreResult<()>;

    /// Disables or re-enables an account; disabling also revokes all its sessions.
    async fn set_disabled(
        &self,
        id: UserId,
        disabled: bool,
        now: OffsetDateTime,
    ) -> StoreResult<User>;

    /// Enabled users whose username or nickname contains `query` (case-insensitive,
    /// `%`/`_` taken literally), by ascending id after `after`.
    async fn search_users(
        &self,
        query: &str,
        after: Option<UserId>,
        limit: u32,
    ) -> StoreResult<Vec<User>>;

    /// Starts a session (and forgets the user's long-dead ones).
    async fn create_session(&self, new: NewSession) -> StoreResult<Session>;

    /// A session and its user, whatever their state: the caller decides what is valid.
    async fn session_with_user(&self, id: SessionId) -> StoreResult<Option<(Session, User)>>;

    /// Records use of a session, moving its expiry when `expires_at` is given (token renewal).
    async fn touch_session(
        &self,
        id: SessionId,
        now: OffsetDateTime,
        expires_at: Option<OffsetDateTime>,
    ) -> StoreResult<()>;

    /// The user's sessions that are neither revoked nor expired at `now`, newest first.
    async fn active_sessions(&self, user: UserId, now: OffsetDateTime)
    -> StoreResult<Vec<Session>>;

    /// Revokes one of the user's sessions; false when it is not theirs or already ended.
    async fn revoke_session(
        &self,
        user: UserId,
        id: SessionId,
        now: OffsetDateTime,
    ) -> StoreResult<bool>;
}
