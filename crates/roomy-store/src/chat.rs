//! Records of rooms, members and messages.

use roomy_core::{
    MessageId, RoomId, UserId,
    chat_fields::{ClientId, MemberRole, MessageBody, MessageKind, RoomKind, RoomName},
};
use time::OffsetDateTime;

/// The few facts about a user that travel with messages and member lists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserBrief {
    pub id: UserId,
    pub nickname: String,
    pub avatar: Option<String>,
}

/// A room.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Room {
    pub id: RoomId,
    pub kind: RoomKind,
    /// Groups only.
    pub name: Option<String>,
    pub avatar: Option<String>,
    pub created_by: UserId,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
    /// Seq of the newest message; 0 when there is none.
    pub last_seq: i64,
    pub member_count: i64,
}

/// A room as one of its members sees it in a list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoomSummary {
    pub room: Room,
    pub my_role: MemberRole,
    pub last_message: Option<Message>,
    /// Direct rooms: the other member.
    pub peer: Option<UserBrief>,
}

/// A member of a room.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    pub room_id: RoomId,
    pub user: UserBrief,
    pub role: MemberRole,
    pub joined_at: OffsetDateTime,
}

/// A stored message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub id: MessageId,
    pub room_id: RoomId,
    /// Position in the room: 1, 2, 3... without gaps.
    pub seq: i64,
    pub sender: UserBrief,
    pub client_id: Option<String>,
    pub kind: MessageKind,
    pub body: Option<String>,
    pub created_at: OffsetDateTime,
    pub revoked: bool,
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
}

/// Changes to a group's profile; `None` leaves a field alone.
#[derive(Debug, Clone, Default)]
pub struct RoomProfileChanges {
    pub name: Option<RoomName>,
    /// `Some(None)` clears the avatar.
    pub avatar: Option<Option<String>>,
}
