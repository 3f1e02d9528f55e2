//! Records of rooms, members and messages.

use roomy_core::{
    MessageId, RoomId, UserId,
    chat_fields::{ClientId, MemberRole, MessageBody, MessageKind, RoomKind, RoomName},
};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

/// The few facts about a user that travel with messages and member lists.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserBrief {
    pub id: UserId,
    pub nickname: String,
    pub avatar: Option<String>,
}

/// A room.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Room {
    pub id: RoomId,
    pub kind: RoomKind,
    /// Groups only.
    pub name: Option<String>,
    pub avatar: Option<String>,
    pub created_by: UserId,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
    /// Seq of the newest message; 0 when there is none.
    pub last_seq: i64,
    pub member_count: i64,
    /// Groups: when the owner dissolved it (read-only since).
    #[serde(with = "time::serde::rfc3339::option")]
    pub dissolved_at: Option<OffsetDateTime>,
}

/// A room as one of its members sees it in a list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoomSummary {
    pub room: Room,
    pub my_role: MemberRole,
    pub last_message: Option<Message>,
    /// Direct rooms: the other member.
    pub peer: Option<UserBrief>,
    /// The viewer's read position (a seq).
    pub read_seq: i64,
    /// Messages after the read position that others sent, not revoked or
    /// hidden, counted up to [`UNREAD_CAP`].
    pub unread: i64,
    /// Direct rooms: the peer's read position, unless they hide it.
    pub peer_read_seq: Option<i64>,
}

/// Unread counts stop here ("10000+"): counting is a range scan.
pub const UNREAD_CAP: i64 = 10_000;

/// A member of a room.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Member {
    pub room_id: RoomId,
    pub user: UserBrief,
    pub role: MemberRole,
    #[serde(with = "time::serde::rfc3339")]
    pub joined_at: OffsetDateTime,
    /// Group-specific nickname and avatar, set by the member for this group only.
    pub group_nickname: Option<String>,
    pub group_avatar: Option<String>,
    /// How far the member has read, unless they hide read positions.
    pub read_seq: Option<i64>,
}

impl Member {
    /// The name others see in this room: group nickname, else nickname.
    pub fn display_name(&self) -> &str {
        self.group_nickname
            .as_deref()
            .unwrap_or(&self.user.nickname)
    }
}

/// A stored message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    pub id: MessageId,
    pub room_id: RoomId,
    /// Position in the room: 1, 2, 3... without gaps.
    pub seq: i64,
    pub sender: UserBrief,
    pub client_id: Option<String>,
    pub kind: MessageKind,
    pub body: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    pub revoked: bool,
    /// System notices that record a change: which change.
    pub event: Option<NoticeEvent>,
    /// The message a `revoked`/`removed` notice is about.
    pub ref_id: Option<MessageId>,
    /// The attached file of an image, file or video message (none once
    /// revoked); boxed, as most messages have none.
    pub file: Option<Box<FileRef>>,
}

/// What a message shows of its attached file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileRef {
    pub id: roomy_core::FileId,
    pub name: String,
    pub size: i64,
    pub mime: String,
    /// A thumbnail has been made.
    pub thumbnail: bool,
    /// A cover frame has been made.
    pub cover: bool,
}

/// The change a system notice records, for clients that update state from
/// the timeline (sync included).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NoticeEvent {
    /// The sender revoked message `ref_id`.
    Revoked,
    /// An admin removed message `ref_id`.
    Removed,
    /// The owner dissolved the group.
    Dissolved,
}

impl NoticeEvent {
    /// The stored and wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            NoticeEvent::Revoked => "revoked",
            NoticeEvent::Removed => "removed",
            NoticeEvent::Dissolved => "dissolved",
        }
    }

    /// Parses a stored name.
    pub fn parse(s: &str) -> Option<NoticeEvent> {
        match s {
            "revoked" => Some(NoticeEvent::Revoked),
            "removed" => Some(NoticeEvent::Removed),
            "dissolved" => Some(NoticeEvent::Dissolved),
            _ => None,
        }
    }
}

/// A message to store.
#[derive(Debug, Clone)]
pub struct NewMessage {
    pub room_id: RoomId,
    pub sender_id: UserId,
    /// The sender's retry key; `None` only for server-written notices.
    pub client_id: Option<ClientId>,
    pub kind: MessageKind,
    pub body: Option<MessageBody>,
    /// The attached file (media kinds only), already checked to be the sender's.
    pub file: Option<FileRef>,
}

/// What became of one message of a batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AppendOutcome {
    /// Committed; `recipients` are the room's members at commit time.
    Stored {
        message: Message,
        recipients: Vec<UserId>,
    },
    /// The sender already stored a message with this client id here: the original.
    Duplicate(Message),
    /// Not stored.
    Rejected(AppendRejection),
}

/// Why a message was not stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AppendRejection {
    /// No such room.
    RoomNotFound,
    /// The sender is not a member of the room.
    NotAMember,
    /// A direct room where one of the pair has blocked the other.
    Blocked,
    /// A dissolved group: read-only.
    Dissolved,
    /// A direct room whose pair are not friends, under the `friends` policy.
    NotFriends,
}

/// Messages of one room that a sync returns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncRoom {
    pub room_id: RoomId,
    /// In seq order: the newest `limit` messages after the position.
    pub messages: Vec<Message>,
    /// More messages after the position exist than were returned: page with history.
    pub limited: bool,
}

/// Everything in a user's rooms between two stream positions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncBatch {
    /// The position to sync from next time.
    pub next: MessageId,
    pub rooms: Vec<SyncRoom>,
    /// The user's notices in the range, oldest first: the newest `limit`.
    pub notices: Vec<crate::Notice>,
    /// More notices than were returned exist in the range.
    pub notices_limited: bool,
}

/// A new group.
#[derive(Debug, Clone)]
pub struct NewGroup {
    pub owner: UserId,
    pub name: RoomName,
    /// Members besides the owner (existing, enabled users, no duplicates).
    pub members: Vec<UserId>,
    /// Text of the system notice announcing the group.
    pub notice: String,
    /// The direct-message policy, which also says who may be put in a group.
    pub policy: roomy_core::social_fields::DirectPolicy,
}

/// A user who may not rejoin a group by invite link: an admin removed them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ban {
    pub room_id: RoomId,
    pub user: UserBrief,
    /// Who removed them.
    pub banned_by: UserId,
    pub banned_at: OffsetDateTime,
}

/// The result of a change to a room's membership or profile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoomChange {
    pub room: Room,
    /// Members added, removed or changed.
    pub members: Vec<Member>,
    /// The system notice written with the change, if any.
    pub notice: Option<Message>,
    /// Who must hear of it: the members after the change, plus anyone who left.
    pub recipients: Vec<UserId>,
    /// Per-user events written with it (a removed member's `left`).
    pub notices: Vec<crate::Notice>,
}

/// Changes to a group's profile; `None` leaves a field alone.
#[derive(Debug, Clone, Default)]
pub struct RoomProfileChanges {
    pub name: Option<RoomName>,
    /// `Some(None)` clears the avatar.
    pub avatar: Option<Option<String>>,
}

/// Changes to a member's own group profile; `None` leaves a field alone,
/// `Some(None)` clears it.
#[derive(Debug, Clone, Default)]
pub struct MemberProfileChanges {
    pub nickname: Option<Option<String>>,
    pub avatar: Option<Option<String>>,
}

/// Who takes a message back, and how.
#[derive(Debug, Clone)]
pub enum Revoker {
    /// Its sender (the window was checked by the caller).
    Sender,
    /// An admin, for everyone, with a reason for the audit log.
    Admin {
        admin: UserId,
        reason: Option<String>,
    },
}

/// What a revocation wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Revocation {
    /// The message as it is now (revoked, without its body).
    pub message: Message,
    /// The system notice announcing it; `None` when it was already revoked.
    pub notice: Option<Message>,
    /// The room's members at commit time.
    pub recipients: Vec<UserId>,
}

/// A read position that moved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadMark {
    pub room_id: RoomId,
    pub user: UserId,
    /// The new position (unchanged when the one asked for was not ahead).
    pub read_seq: i64,
    /// Unread messages left for the reader.
    pub unread: i64,
    /// The per-user events written (the reader's devices; a direct room's
    /// peer when the reader shares read positions), in position order.
    pub events: Vec<crate::Notice>,
}

/// Which of a user's messages a list shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageList {
    /// Sent by the user.
    Sent,
    /// Sent by others in the user's rooms (system notices excluded).
    Received,
}

/// Filters of the sent/received lists.
#[derive(Debug, Clone, Default)]
pub struct MessageFilter {
    pub room: Option<RoomId>,
    pub kind: Option<MessageKind>,
    /// Sent: not yet read by every other member; received: after my read position.
    pub unread: Option<bool>,
    /// Messages with ids below this (the page cursor).
    pub before: Option<MessageId>,
}

/// Filters of the admin message search.
#[derive(Debug, Clone, Default)]
pub struct AdminMessageFilter {
    pub room: Option<RoomId>,
    pub sender: Option<UserId>,
    /// Body contains, case-insensitively, taken literally.
    pub text: Option<String>,
    pub from: Option<OffsetDateTime>,
    pub to: Option<OffsetDateTime>,
    pub kind: Option<MessageKind>,
    pub before: Option<MessageId>,
}

/// A favorite message, as it is now (revoked ones without their body).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Favorite {
    pub message: Message,
    pub favorited_at: OffsetDateTime,
}

/// An entry of the moderation audit log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEntry {
    pub id: i64,
    pub actor: UserId,
    /// `remove_message`, `disable_user`, `enable_user`.
    pub action: String,
    /// `message` or `user`.
    pub target_type: String,
    pub target_id: i64,
    pub reason: Option<String>,
    /// What the target was (JSON text): room, sender, kind, time.
    pub detail: String,
    pub created_at: OffsetDateTime,
}

/// An audit record to write.
#[derive(Debug, Clone)]
pub struct NewAudit {
    pub actor: UserId,
    pub action: &'static str,
    pub target_type: &'static str,
    pub target_id: i64,
    pub reason: Option<String>,
    pub detail: String,
}
