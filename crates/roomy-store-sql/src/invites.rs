//! Invite rows and SQL, shared verbatim by both backends.

use roomy_core::{RoomId, UserId, clock::from_millis};
use roomy_store::Invite;

/// Columns for [`InviteRow`] from `invites i`.
pub const INVITE_COLUMNS: &str = "i.id, i.room_id, i.created_by, i.created_at, i.expires_at, \
     i.max_uses, i.uses, i.revoked_at";

/// An `invites` row, without its token hash (nobody reads it back).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct InviteRow {
    pub id: i64,
    pub room_id: i64,
    pub created_by: i64,
    pub created_at: i64,
    pub expires_at: i64,
    pub max_uses: Option<i64>,
    pub uses: i64,
    pub revoked_at: Option<i64>,
}

impl InviteRow {
    /// The domain invite.
    pub fn into_invite(self) -> Invite {
        Invite {
            id: self.id,
            room_id: RoomId(self.room_id),
            created_by: UserId(self.created_by),
            created_at: from_millis(self.created_at),
            expires_at: from_millis(self.expires_at),
            max_uses: self.max_uses,
            uses: self.uses,
            revoked_at: self.revoked_at.map(from_millis),
        }
    }
}
