//! Follow, block, friend and notice shapes.

use super::{PublicUser, UserBriefView};
use roomy_core::{MessageId, RoomId, UserId, social_fields::RequestStatus};
use roomy_store::{Friend, FriendRequest, Notice, NoticeKind, Related};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;

/// The answer to follow, unfollow, block and unblock: how the two users stand now.
#[derive(Debug, Serialize, ToSchema, ts_rs::TS)]
pub struct TargetView {
    pub target: UserId,
}

/// A user in a following, followers or mutual list.
#[derive(Debug, Serialize, ToSchema, ts_rs::TS)]
pub struct FollowedUser {
    #[serde(flatten)]
    pub user: PublicUser,
    /// When the follow was made (for mutual: when the list's owner followed them).
    #[serde(with = "time::serde::rfc3339")]
    #[ts(type = "string")]
    pub followed_at: OffsetDateTime,
}

impl From<Related> for FollowedUser {
    fn from(r: Related) -> Self {
        FollowedUser {
            user: r.user.into(),
            followed_at: r.at,
        }
    }
}

/// A user in the caller's block list.
#[derive(Debug, Serialize, ToSchema, ts_rs::TS)]
pub struct BlockedUser {
    #[serde(flatten)]
    pub user: PublicUser,
    #[serde(with = "time::serde::rfc3339")]
    #[ts(type = "string")]
    pub blocked_at: OffsetDateTime,
}

impl From<Related> for BlockedUser {
    fn from(r: Related) -> Self {
        BlockedUser {
            user: r.user.into(),
            blocked_at: r.at,
        }
    }
}

/// How the caller stands with a user: who follows whom, and blocks.
#[derive(Debug, Serialize, ToSchema, ts_rs::TS)]
pub struct RelationshipView {
    /// The caller follows them.
    pub following: bool,
    /// They follow the caller.
    pub followed_by: bool,
    pub friend: bool,
    /// The caller blocked them.
    pub blocked: bool,
}

/// `GET /users/{id}`: the public profile with follow counts and the relationship.
#[derive(Debug, Serialize, ToSchema, ts_rs::TS)]
pub struct UserProfile {
    #[serde(flatten)]
    pub user: PublicUser,
    pub following_count: u64,
    pub followers_count: u64,
    pub relationship: RelationshipView,
}

/// `POST /friend-requests`.
#[derive(Debug, Deserialize, ToSchema, ts_rs::TS)]
#[ts(optional_fields = nullable)]
#[serde(deny_unknown_fields)]
pub struct FriendRequestBody {
    pub user_id: UserId,
    /// Up to 50 characters.
    pub note: Option<String>,
    /// The name you give them in your friend list if they agree (up to 32 characters).
    pub remark: Option<String>,
}

/// What the target decides.
#[derive(Debug, Clone, Copy, Deserialize, ToSchema, ts_rs::TS)]
#[serde(rename_all = "lowercase")]
pub enum DecisionBody {
    Agree,
    Refuse,
    Ignore,
}

/// `POST /friend-requests/{id}/answer`.
#[derive(Debug, Deserialize, ToSchema, ts_rs::TS)]
#[ts(optional_fields = nullable)]
#[serde(deny_unknown_fields)]
pub struct AnswerBody {
    pub decision: DecisionBody,
    /// The name you give the sender in your friend list (agree only; up to 32 characters).
    pub remark: Option<String>,
}

/// `GET /friend-requests` filters.
#[derive(Debug, Deserialize, utoipa::IntoParams, ts_rs::TS)]
#[ts(optional_fields)]
#[into_params(parameter_in = Query)]
pub struct RequestListQuery {
    /// `incoming` (default: sent to you) or `outgoing` (sent by you).
    pub direction: Option<String>,
    /// `pending`, `agree`, `refuse` or `ignore`; absent: all.
    pub status: Option<String>,
    /// Page size, 1 to 200 (default 50).
    pub limit: Option<u32>,
    /// Opaque cursor from a previous page's `next_cursor`.
    pub cursor: Option<String>,
}

/// A friend request.
#[derive(Debug, Clone, Serialize, ToSchema, ts_rs::TS)]
pub struct FriendRequestView {
    pub id: i64,
    pub from: UserBriefView,
    pub to: UserBriefView,
    pub note: Option<String>,
    pub status: RequestStatus,
    #[serde(with = "time::serde::rfc3339")]
    #[ts(type = "string")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    #[ts(type = "string | null")]
    pub answered_at: Option<OffsetDateTime>,
}

impl From<FriendRequest> for FriendRequestView {
    fn from(r: FriendRequest) -> Self {
        FriendRequestView {
            id: r.id,
            from: r.from.into(),
            to: r.to.into(),
            note: r.note,
            status: r.status,
            created_at: r.created_at,
            answered_at: r.answered_at,
        }
    }
}

/// A friend in the caller's list.
#[derive(Debug, Serialize, ToSchema, ts_rs::TS)]
pub struct FriendView {
    pub user: PublicUser,
    /// The caller's name for them.
    pub remark: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    #[ts(type = "string")]
    pub since: OffsetDateTime,
}

impl From<Friend> for FriendView {
    fn from(f: Friend) -> Self {
        FriendView {
            user: f.user.into(),
            remark: f.remark,
            since: f.since,
        }
    }
}

/// `PATCH /friends/{user_id}`.
#[derive(Debug, Deserialize, ToSchema, ts_rs::TS)]
#[ts(optional_fields = nullable)]
#[serde(deny_unknown_fields)]
pub struct RemarkPatch {
    /// Up to 32 characters; null or empty clears it.
    pub remark: Option<String>,
}

/// A per-user event, as sync returns it and as its live frame carries it
/// (`type` is the frame type). `position` is its place in the stream:
/// sync's `since`/`next` count these too.
#[derive(Debug, Clone, Serialize, ToSchema, ts_rs::TS)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum NoticeView {
    /// Someone asked to be my friend.
    FriendRequest {
        position: MessageId,
        request: FriendRequestView,
    },
    /// A request between me and another was agreed; `room_id` is our direct room.
    FriendAccepted {
        position: MessageId,
        request: FriendRequestView,
        room_id: RoomId,
    },
    /// `user_id` read `room_id` up to `seq`: me on another device, or the
    /// other member of a direct room (a read receipt).
    Read {
        position: MessageId,
        room_id: RoomId,
        user_id: UserId,
        seq: i64,
    },
    /// I deleted these messages for myself (on another device).
    MessagesDeleted {
        position: MessageId,
        message_ids: Vec<MessageId>,
    },
    /// I favorited `message_id` (`favorite` true), or removed it from my
    /// favorites (on another device).
    FavoriteChanged {
        position: MessageId,
        message_id: MessageId,
        favorite: bool,
    },
    /// I left `room_id`, or `by` removed me.
    RoomLeft {
        position: MessageId,
        room_id: RoomId,
        by: UserId,
    },
}

impl NoticeView {
    /// Its stream position.
    pub fn position(&self) -> MessageId {
        match self {
            NoticeView::FriendRequest { position, .. }
            | NoticeView::FriendAccepted { position, .. }
            | NoticeView::Read { position, .. }
            | NoticeView::MessagesDeleted { position, .. }
            | NoticeView::FavoriteChanged { position, .. }
            | NoticeView::RoomLeft { position, .. } => *position,
        }
    }
}

impl From<Notice> for NoticeView {
    fn from(n: Notice) -> Self {
        let position = n.id;
        match n.kind {
            NoticeKind::FriendRequest(r) => NoticeView::FriendRequest {
                position,
                request: r.into(),
            },
            NoticeKind::FriendAccepted { request, room } => NoticeView::FriendAccepted {
                position,
                request: request.into(),
                room_id: room,
            },
            NoticeKind::Read { room, reader, seq } => NoticeView::Read {
                position,
                room_id: room,
                user_id: reader,
                seq,
            },
            NoticeKind::Hidden { messages } => NoticeView::MessagesDeleted {
                position,
                message_ids: messages,
            },
            NoticeKind::Favorite { message, favorite } => NoticeView::FavoriteChanged {
                position,
                message_id: message,
                favorite,
            },
            NoticeKind::Left { room, by } => NoticeView::RoomLeft {
                position,
                room_id: room,
                by,
            },
        }
    }
}
