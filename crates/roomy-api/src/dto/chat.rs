//! Room, member, message and sync shapes.

use roomy_core::{
    MessageId, RoomId, UserId,
    chat_fields::{MemberRole, MessageKind, RoomKind},
};
use roomy_store::{Ban, Member, Message, Room, RoomSummary, UserBrief};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use time::OffsetDateTime;
use utoipa::ToSchema;

/// `POST /rooms/direct`.
#[derive(Debug, Deserialize, ToSchema, ts_rs::TS)]
#[ts(optional_fields = nullable)]
#[serde(deny_unknown_fields)]
pub struct DirectRequest {
    pub user_id: UserId,
}

/// `POST /rooms`.
#[derive(Debug, Deserialize, ToSchema, ts_rs::TS)]
#[ts(optional_fields = nullable)]
#[serde(deny_unknown_fields)]
pub struct GroupRequest {
    /// 1-50 characters.
    pub name: String,
    /// Initial members besides the creator, who becomes the owner.
    #[serde(default)]
    #[ts(as = "Option<Vec<UserId>>", optional)]
    pub member_ids: Vec<UserId>,
}

/// `PATCH /rooms/{id}`. `avatar: null` removes the avatar.
#[derive(Debug, Default, Deserialize, ToSchema, ts_rs::TS)]
#[ts(optional_fields = nullable)]
#[serde(deny_unknown_fields)]
pub struct RoomPatch {
    pub name: Option<String>,
    #[serde(default, deserialize_with = "super::accounts::present")]
    #[ts(optional)]
    #[schema(value_type = Option<String>, nullable)]
    pub avatar: Option<Option<String>>,
}

/// `POST /rooms/{id}/members`.
#[derive(Debug, Deserialize, ToSchema, ts_rs::TS)]
#[ts(optional_fields = nullable)]
#[serde(deny_unknown_fields)]
pub struct AddMembersRequest {
    pub user_ids: Vec<UserId>,
}

/// `PATCH /rooms/{id}/members/{user_id}`.
#[derive(Debug, Deserialize, ToSchema, ts_rs::TS)]
#[ts(optional_fields = nullable)]
#[serde(deny_unknown_fields)]
pub struct MemberPatch {
    /// `admin` or `member` (owner only); `owner` hands the group over (the
    /// owner becomes an admin).
    pub role: Option<MemberRole>,
    /// My nickname in this group (yourself only); null or "" clears it.
    #[serde(default, deserialize_with = "super::accounts::present")]
    #[ts(optional)]
    #[schema(value_type = Option<String>, nullable)]
    pub nickname: Option<Option<String>>,
    /// My avatar in this group (yourself only); null or "" clears it.
    #[serde(default, deserialize_with = "super::accounts::present")]
    #[ts(optional)]
    #[schema(value_type = Option<String>, nullable)]
    pub avatar: Option<Option<String>>,
}

/// `POST /rooms/{id}/messages` (and the body of the WebSocket `send` frame).
#[derive(Debug, Deserialize, ToSchema, ts_rs::TS)]
#[ts(optional_fields = nullable)]
#[serde(deny_unknown_fields)]
pub struct SendRequest {
    /// The sender's id for this message: a retry with the same id stores nothing new.
    pub client_id: String,
    /// `text` (or `emoji`), or `image`, `file`, `video` with the `file_id` of
    /// a file you uploaded (then `body` is an optional caption).
    pub kind: String,
    pub body: Option<String>,
    pub file_id: Option<i64>,
}

/// `GET /rooms/{id}/messages`.
#[derive(Debug, Deserialize, utoipa::IntoParams, ts_rs::TS)]
#[ts(optional_fields)]
#[into_params(parameter_in = Query)]
pub struct HistoryQuery {
    /// Messages before this seq (newest first page when nothing is given).
    pub before_seq: Option<i64>,
    /// Messages after this seq, oldest first.
    pub after_seq: Option<i64>,
    pub limit: Option<u32>,
    /// `next_cursor` of a previous page: continues in the same direction.
    pub cursor: Option<String>,
}

/// `GET /sync`.
#[derive(Debug, Deserialize, utoipa::IntoParams, ts_rs::TS)]
#[ts(optional_fields)]
#[into_params(parameter_in = Query)]
pub struct SyncQuery {
    /// The `next` of the previous sync (or `since` of `ready`); 0 or absent: from the start.
    pub since: Option<i64>,
    /// Messages per room, 1 to 200 (default 50).
    pub limit: Option<u32>,
}

/// A user as shown next to messages and members.
#[derive(Debug, Clone, Serialize, ToSchema, ts_rs::TS)]
pub struct UserBriefView {
    pub id: UserId,
    pub nickname: String,
    pub avatar: Option<String>,
}

impl From<UserBrief> for UserBriefView {
    fn from(u: UserBrief) -> Self {
        UserBriefView {
            id: u.id,
            nickname: u.nickname,
            avatar: u.avatar,
        }
    }
}

/// A message.
#[derive(Debug, Clone, Serialize, ToSchema, ts_rs::TS)]
pub struct MessageView {
    /// Also the message's position in the server-wide stream (see sync).
    pub id: MessageId,
    pub room_id: RoomId,
    /// 1, 2, 3... per room, without gaps.
    pub seq: i64,
    pub sender: UserBriefView,
    pub client_id: Option<String>,
    pub kind: MessageKind,
    pub body: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    #[ts(type = "string")]
    pub created_at: OffsetDateTime,
    /// Revoked by its sender or removed by an admin: the body is gone.
    pub revoked: bool,
    /// System notices that record a change: `revoked`, `removed` or `dissolved`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub event: Option<&'static str>,
    /// `revoked`/`removed` notices: the message they are about.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub ref_id: Option<MessageId>,
    /// Image, file and video messages: the attached file (gone once revoked).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub file: Option<crate::dto::files::AttachmentView>,
}

impl From<Message> for MessageView {
    fn from(m: Message) -> Self {
        MessageView {
            id: m.id,
            room_id: m.room_id,
            seq: m.seq,
            sender: m.sender.into(),
            client_id: m.client_id,
            kind: m.kind,
            body: m.body,
            created_at: m.created_at,
            revoked: m.revoked,
            event: m.event.map(|e| e.as_str()),
            ref_id: m.ref_id,
            file: m.file.map(|f| (*f).into()),
        }
    }
}

/// A room, as its members see it.
#[derive(Debug, Clone, Serialize, ToSchema, ts_rs::TS)]
pub struct RoomView {
    pub id: RoomId,
    pub kind: RoomKind,
    pub name: Option<String>,
    pub avatar: Option<String>,
    pub created_by: UserId,
    #[serde(with = "time::serde::rfc3339")]
    #[ts(type = "string")]
    pub created_at: OffsetDateTime,
    pub member_count: i64,
    /// Seq of the newest message (0: none yet).
    pub last_seq: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub my_role: Option<MemberRole>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub last_message: Option<MessageView>,
    /// Direct rooms: the other member.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub peer: Option<UserBriefView>,
    /// Groups: dissolved by the owner (read-only) since then.
    #[serde(with = "time::serde::rfc3339::option")]
    #[ts(type = "string | null")]
    pub dissolved_at: Option<OffsetDateTime>,
    /// My read position (a seq).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub read_seq: Option<i64>,
    /// Messages others sent after my read position (at most 10,000 are counted).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub unread: Option<i64>,
    /// Direct rooms: how far the other member has read, unless they hide it.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub peer_read_seq: Option<i64>,
}

impl From<Room> for RoomView {
    fn from(r: Room) -> Self {
        RoomView {
            id: r.id,
            kind: r.kind,
            name: r.name,
            avatar: r.avatar,
            created_by: r.created_by,
            created_at: r.created_at,
            member_count: r.member_count,
            last_seq: r.last_seq,
            my_role: None,
            last_message: None,
            peer: None,
            dissolved_at: r.dissolved_at,
            read_seq: None,
            unread: None,
            peer_read_seq: None,
        }
    }
}

impl From<RoomSummary> for RoomView {
    fn from(s: RoomSummary) -> Self {
        RoomView {
            my_role: Some(s.my_role),
            last_message: s.last_message.map(Into::into),
            peer: s.peer.map(Into::into),
            read_seq: Some(s.read_seq),
            unread: Some(s.unread),
            peer_read_seq: s.peer_read_seq,
            ..s.room.into()
        }
    }
}

/// A member of a room.
#[derive(Debug, Clone, Serialize, ToSchema, ts_rs::TS)]
pub struct MemberView {
    pub user: UserBriefView,
    pub role: MemberRole,
    #[serde(with = "time::serde::rfc3339")]
    #[ts(type = "string")]
    pub joined_at: OffsetDateTime,
    /// The member's nickname and avatar in this group, if they set one.
    pub group_nickname: Option<String>,
    pub group_avatar: Option<String>,
    /// How far the member has read; null when they hide read positions.
    pub read_seq: Option<i64>,
    /// Has a live connection now (member lists only; events say false).
    pub online: bool,
}

impl From<Member> for MemberView {
    fn from(m: Member) -> Self {
        MemberView {
            user: m.user.into(),
            role: m.role,
            joined_at: m.joined_at,
            group_nickname: m.group_nickname,
            group_avatar: m.group_avatar,
            read_seq: m.read_seq,
            online: false,
        }
    }
}

/// A user an admin removed from a group: no invite link lets them back in
/// until an owner or admin lifts the ban or adds them again.
#[derive(Debug, Clone, Serialize, ToSchema, ts_rs::TS)]
pub struct BanView {
    pub user: UserBriefView,
    /// The owner or admin who removed them.
    pub banned_by: UserId,
    #[serde(with = "time::serde::rfc3339")]
    #[ts(type = "string")]
    pub banned_at: OffsetDateTime,
}

impl From<Ban> for BanView {
    fn from(b: Ban) -> Self {
        BanView {
            user: b.user.into(),
            banned_by: b.banned_by,
            banned_at: b.banned_at,
        }
    }
}

/// Messages of one room in a sync.
#[derive(Debug, Clone, Serialize, ToSchema, ts_rs::TS)]
pub struct SyncRoomView {
    /// In seq order.
    pub events: Vec<MessageView>,
    /// More was missed than returned: fetch history before the first event.
    pub limited: bool,
}

/// `GET /sync`.
#[derive(Debug, Clone, Serialize, ToSchema, ts_rs::TS)]
pub struct SyncView {
    /// Pass as `since` next time.
    pub next: MessageId,
    /// Room id → what was missed there.
    pub rooms: BTreeMap<String, SyncRoomView>,
    /// Notices missed (friend requests and acceptances, read positions,
    /// deletions for me, groups left, favorite changes), oldest first (the newest 500).
    pub notices: Vec<super::NoticeView>,
    /// More notices were missed than returned: list them with `GET /friend-requests`.
    pub notices_limited: bool,
}

impl From<roomy_store::SyncBatch> for SyncView {
    fn from(b: roomy_store::SyncBatch) -> Self {
        SyncView {
            next: b.next,
            rooms: b
                .rooms
                .into_iter()
                .map(|r| {
                    (
                        r.room_id.to_string(),
                        SyncRoomView {
                            events: r.messages.into_iter().map(Into::into).collect(),
                            limited: r.limited,
                        },
                    )
                })
                .collect(),
            notices: b.notices.into_iter().map(Into::into).collect(),
            notices_limited: b.notices_limited,
        }
    }
}
