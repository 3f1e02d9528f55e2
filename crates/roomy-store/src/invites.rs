//! Invite links to groups: their records and the [`InviteStore`] half of the
//! store.
//!
//! A link's token is a secret that lets anyone holding it join the group, so
//! the store never sees it: callers hash it (SHA-256, hex) and the store
//! keeps and looks up only that hash. A copy of the database therefore holds
//! no working link.

use crate::{Room, RoomChange, StoreResult};
use async_trait::async_trait;
use roomy_core::{RoomId, UserId};
use time::OffsetDateTime;

/// An invite link to a group, without its token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invite {
    pub id: i64,
    pub room_id: RoomId,
    pub created_by: UserId,
    pub created_at: OffsetDateTime,
    pub expires_at: OffsetDateTime,
    /// `None`: any number of joins.
    pub max_uses: Option<i64>,
    /// Joins made with it so far.
    pub uses: i64,
    pub revoked_at: Option<OffsetDateTime>,
}

/// Whether an invite can still be used, and if not, why.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InviteState {
    Active,
    Revoked,
    Expired,
    Exhausted,
}

impl Invite {
    /// The invite's state at `now`. A revocation is reported before expiry
    /// and exhaustion: it is the one an admin chose.
    pub fn state(&self, now: OffsetDateTime) -> InviteState {
        if self.revoked_at.is_some() {
            InviteState::Revoked
        } else if self.expires_at <= now {
            InviteState::Expired
        } else if self.max_uses.is_some_and(|max| self.uses >= max) {
            InviteState::Exhausted
        } else {
            InviteState::Active
        }
    }
}

/// What it takes to create an invite.
#[derive(Debug, Clone)]
pub struct NewInvite {
    pub room_id: RoomId,
    pub created_by: UserId,
    /// SHA-256 of the token, lower-case hex.
    pub token_hash: String,
    pub expires_at: OffsetDateTime,
    pub max_uses: Option<i64>,
}

/// What became of a join by invite.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JoinOutcome {
    /// The user became a member; the use was counted in the same transaction.
    Joined(Box<RoomChange>),
    /// The user was a member already: nothing was written, no use counted.
    AlreadyMember(Room),
    /// The invite cannot be used (never [`InviteState::Active`]).
    Unusable(InviteState),
    /// The group has as many members as it may have.
    GroupFull,
    /// The group was dissolved: it takes no new members.
    Dissolved,
    /// An admin removed the user from this group; until an owner or admin
    /// lifts the ban (or adds them back), no link lets them in.
    Banned,
}

/// Invite links. Every method is one transaction.
#[async_trait]
pub trait InviteStore: Send + Sync + 'static {
    /// Stores a new invite by `new.created_by`; `RoomDenied` unless
    /// [`crate::RoomFacts::may_edit_group`], `Conflict(Invite)` when the
    /// token hash is taken.
    async fn create_invite(&self, new: NewInvite, now: OffsetDateTime) -> StoreResult<Invite>;

    /// The room's invites that are not revoked, newest first, ids below `before`.
    async fn room_invites(
        &self,
        room: RoomId,
        before: Option<i64>,
        limit: u32,
    ) -> StoreResult<Vec<Invite>>;

    /// Revokes invite `id` of `room` by `actor`; revoking again keeps the
    /// first time. `RoomDenied` unless [`crate::RoomFacts::may_manage`];
    /// `NotFound(Invite)` when the room has no such invite.
    async fn revoke_invite(
        &self,
        room: RoomId,
        actor: UserId,
        id: i64,
        now: OffsetDateTime,
    ) -> StoreResult<()>;

    /// The invite whose token hashes to `token_hash`, and its room.
    async fn invite_by_hash(&self, token_hash: &str) -> StoreResult<Option<(Invite, Room)>>;

    /// `user` joins the invite's group as a `member`, with the system notice
    /// `notice` by them. The use is counted and the member added in ONE
    /// transaction that holds the invite, so concurrent joins can never take
    /// more than `max_uses`; a group of `max_members` is full; a user an
    /// admin removed (banned) is refused. `NotFound(Invite)` for an unknown hash.
    async fn join_by_invite(
        &self,
        token_hash: &str,
        user: UserId,
        notice: String,
        max_members: i64,
        now: OffsetDateTime,
    ) -> StoreResult<JoinOutcome>;
}
