//! Invite-link shapes.

use roomy_core::{RoomId, UserId, config::Redacted};
use roomy_store::{Invite, InviteState, Room};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;

/// `POST /rooms/{id}/invites`.
#[derive(Debug, Default, Deserialize, ToSchema, ts_rs::TS)]
#[ts(optional_fields = nullable)]
#[serde(deny_unknown_fields)]
pub struct InviteRequest {
    /// Seconds the link works, 60 to 2592000 (30 days); default 604800 (7 days).
    pub expires_in: Option<i64>,
    /// Joins the link allows, 1 to 10000; absent: any number.
    pub max_uses: Option<i64>,
}

/// Whether an invite link still works.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema, ts_rs::TS)]
#[serde(rename_all = "snake_case")]
pub enum InviteStateView {
    Active,
    Expired,
    Exhausted,
    Revoked,
}

impl From<InviteState> for InviteStateView {
    fn from(s: InviteState) -> Self {
        match s {
            InviteState::Active => InviteStateView::Active,
            InviteState::Expired => InviteStateView::Expired,
            InviteState::Exhausted => InviteStateView::Exhausted,
            InviteState::Revoked => InviteStateView::Revoked,
        }
    }
}

/// An invite link to a group.
#[derive(Debug, Clone, Serialize, ToSchema, ts_rs::TS)]
pub struct InviteView {
    pub id: i64,
    /// Only in the answer to its creation: the server keeps no copy of it.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    #[ts(optional, type = "string")]
    pub token: Option<Redacted>,
    /// `<public_url>/invite/<token>`, with the token (so only at creation too).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    #[ts(optional, type = "string")]
    pub url: Option<Redacted>,
    #[serde(with = "time::serde::rfc3339")]
    #[ts(type = "string")]
    pub expires_at: OffsetDateTime,
    /// Null: any number of joins.
    pub max_uses: Option<i64>,
    /// Joins made with it so far.
    pub uses: i64,
    pub created_by: UserId,
    #[serde(with = "time::serde::rfc3339")]
    #[ts(type = "string")]
    pub created_at: OffsetDateTime,
    /// At the time of the answer.
    pub state: InviteStateView,
}

impl InviteView {
    /// The invite as seen at `now`, without its token.
    pub fn at(invite: Invite, now: OffsetDateTime) -> InviteView {
        InviteView {
            id: invite.id,
            token: None,
            url: None,
            state: invite.state(now).into(),
            expires_at: invite.expires_at,
            max_uses: invite.max_uses,
            uses: invite.uses,
            created_by: invite.created_by,
            created_at: invite.created_at,
        }
    }
}

/// The group an invite leads to, as anyone holding the link may see it.
#[derive(Debug, Clone, Serialize, ToSchema, ts_rs::TS)]
pub struct InviteRoomView {
    pub id: RoomId,
    pub name: Option<String>,
    pub avatar: Option<String>,
    pub member_count: i64,
}

impl From<Room> for InviteRoomView {
    fn from(r: Room) -> Self {
        InviteRoomView {
            id: r.id,
            name: r.name,
            avatar: r.avatar,
            member_count: r.member_count,
        }
    }
}

/// `GET /invites/{token}`: what joining would lead to.
#[derive(Debug, Clone, Serialize, ToSchema, ts_rs::TS)]
pub struct InvitePreview {
    pub room: InviteRoomView,
    #[serde(with = "time::serde::rfc3339")]
    #[ts(type = "string")]
    pub expires_at: OffsetDateTime,
    /// Null: any number of joins.
    pub max_uses: Option<i64>,
    pub uses: i64,
    /// The caller is in the group already: joining would change nothing.
    pub already_member: bool,
}
