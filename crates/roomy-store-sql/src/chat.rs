//! Rooms and messages: row types, SQL shared verbatim by both backends
//! (placeholders are `$N`, numbered in order of first use, which SQLite also
//! binds positionally), and the group-commit planner.

use roomy_core::{
    FileId, MessageId, RoomId, UserId,
    chat_fields::{MemberRole, MessageKind, RoomKind},
    clock::{from_millis, to_millis},
    social_fields::DirectPolicy,
};
use roomy_store::{
    AppendOutcome, AppendRejection, FileRef, Member, Message, NewMessage, NoticeEvent, Room,
    RoomSummary, StoreError, UserBrief,
};
use std::collections::HashMap;
use time::OffsetDateTime;

fn corrupt(what: &str, value: &str) -> StoreError {
    StoreError::Corrupt(format!("unknown {what} {value:?}"))
}

/// Columns of a message joined with its sender and file (`m`, `u` and `mf`).
pub const MESSAGE_COLUMNS: &str = "m.id, m.room_id, m.seq, m.sender_id, m.client_id, m.kind, \
     m.body, m.created_at, m.revoked_at, m.event, m.ref_id, u.nickname AS sender_nickname, \
     u.avatar AS sender_avatar, m.file_id, mf.name AS file_name, mf.size AS file_size, \
     mf.mime AS file_mime, mf.thumb_key AS file_thumb, mf.cover_key AS file_cover";

/// The join every select of [`MESSAGE_COLUMNS`] needs besides the sender's.
pub const MESSAGE_FILE_JOIN: &str = "LEFT JOIN files mf ON mf.id = m.file_id";

/// `messages m JOIN users u` and the file, with [`MESSAGE_COLUMNS`].
pub const MESSAGE_FROM: &str =
    "FROM messages m JOIN users u ON u.id = m.sender_id LEFT JOIN files mf ON mf.id = m.file_id";

/// A message row with its sender's nickname and avatar.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct MessageRow {
    pub id: i64,
    pub room_id: i64,
    pub seq: i64,
    pub sender_id: i64,
    pub client_id: Option<String>,
    pub kind: String,
    pub body: Option<String>,
    pub created_at: i64,
    pub revoked_at: Option<i64>,
    pub event: Option<String>,
    pub ref_id: Option<i64>,
    pub sender_nickname: String,
    pub sender_avatar: Option<String>,
    pub file_id: Option<i64>,
    pub file_name: Option<String>,
    pub file_size: Option<i64>,
    pub file_mime: Option<String>,
    pub file_thumb: Option<String>,
    pub file_cover: Option<String>,
}

impl MessageRow {
    /// The domain message.
    pub fn into_message(self) -> Result<Message, StoreError> {
        let kind = MessageKind::parse(&self.kind).ok_or_else(|| corrupt("kind", &self.kind))?;
        // A revoked message shows nothing of what it carried.
        let file = match (self.file_id, self.file_name, self.file_size, self.file_mime) {
            (Some(id), Some(name), Some(size), Some(mime)) if self.revoked_at.is_none() => {
                Some(Box::new(FileRef {
                    id: FileId(id),
                    name,
                    size,
                    mime,
                    thumbnail: self.file_thumb.is_some(),
                    cover: self.file_cover.is_some(),
                }))
            }
            _ => None,
        };
        Ok(Message {
            id: MessageId(self.id),
            room_id: RoomId(self.room_id),
            seq: self.seq,
            sender: UserBrief {
                id: UserId(self.sender_id),
                nickname: self.sender_nickname,
                avatar: self.sender_avatar,
            },
            client_id: self.client_id,
            kind,
            body: self.body,
            created_at: from_millis(self.created_at),
            revoked: self.revoked_at.is_some(),
            event: self
                .event
                .map(|e| NoticeEvent::parse(&e).ok_or_else(|| corrupt("notice event", &e)))
                .transpose()?,
            ref_id: self.ref_id.map(MessageId),
            file,
        })
    }
}

/// A `rooms` row.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct RoomRow {
    pub id: i64,
    pub kind: String,
    pub name: Option<String>,
    pub avatar: Option<String>,
    pub created_by: i64,
    pub created_at: i64,
    pub updated_at: i64,
    pub last_seq: i64,
    pub member_count: i64,
    pub dissolved_at: Option<i64>,
}

/// Columns for [`RoomRow`] from `rooms r`.
pub const ROOM_COLUMNS: &str = "r.id, r.kind, r.name, r.avatar, r.created_by, r.created_at, \
     r.updated_at, r.last_seq, r.member_count, r.dissolved_at";

impl RoomRow {
    /// The domain room.
    pub fn into_room(self) -> Result<Room, StoreError> {
        Ok(Room {
            id: RoomId(self.id),
            kind: RoomKind::parse(&self.kind).ok_or_else(|| corrupt("room kind", &self.kind))?,
            name: self.name,
            avatar: self.avatar,
            created_by: UserId(self.created_by),
            created_at: from_millis(self.created_at),
            updated_at: from_millis(self.updated_at),
            last_seq: self.last_seq,
            member_count: self.member_count,
            dissolved_at: self.dissolved_at.map(from_millis),
        })
    }
}

/// A member row joined with the user (`rm` and `u`).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct MemberRow {
    pub room_id: i64,
    pub user_id: i64,
    pub role: String,
    pub joined_at: i64,
    pub nickname: String,
    pub avatar: Option<String>,
    pub group_nickname: Option<String>,
    pub group_avatar: Option<String>,
    pub read_seq: Option<i64>,
}

/// Select and joins of [`MemberRow`] (`rm`, `u`); the read position only
/// for members who share it.
pub const MEMBER_SELECT: &str = "SELECT rm.room_id, rm.user_id, rm.role, rm.joined_at, \
     u.nickname, u.avatar, rm.nickname AS group_nickname, rm.avatar AS group_avatar, \
     CASE WHEN u.read_receipts THEN rm.read_seq END AS read_seq \
     FROM room_members rm JOIN users u ON u.id = rm.user_id";

/// Members of a room, by ascending user id after $2, at most $3.
pub const MEMBERS_PAGE: &str =
    "WHERE rm.room_id = $1 AND rm.user_id > $2 ORDER BY rm.user_id LIMIT $3";

impl MemberRow {
    /// The domain member.
    pub fn into_member(self) -> Result<Member, StoreError> {
        Ok(Member {
            room_id: RoomId(self.room_id),
            user: UserBrief {
                id: UserId(self.user_id),
                nickname: self.nickname,
                avatar: self.avatar,
            },
            role: MemberRole::parse(&self.role).ok_or_else(|| corrupt("role", &self.role))?,
            joined_at: from_millis(self.joined_at),
            group_nickname: self.group_nickname,
            group_avatar: self.group_avatar,
            read_seq: self.read_seq,
        })
    }
}

/// A room with the viewer's role, its last message and (direct rooms) the peer.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SummaryRow {
    #[sqlx(flatten)]
    pub room: RoomRow,
    pub activity: i64,
    pub my_role: String,
    pub lm_id: Option<i64>,
    pub lm_seq: Option<i64>,
    pub lm_sender_id: Option<i64>,
    pub lm_client_id: Option<String>,
    pub lm_kind: Option<String>,
    pub lm_body: Option<String>,
    pub lm_created_at: Option<i64>,
    pub lm_revoked_at: Option<i64>,
    pub lm_event: Option<String>,
    pub lm_ref_id: Option<i64>,
    pub lm_sender_nickname: Option<String>,
    pub lm_sender_avatar: Option<String>,
    pub lm_file_id: Option<i64>,
    pub lm_file_name: Option<String>,
    pub lm_file_size: Option<i64>,
    pub lm_file_mime: Option<String>,
    pub lm_file_thumb: Option<String>,
    pub lm_file_cover: Option<String>,
    pub peer_id: Option<i64>,
    pub peer_nickname: Option<String>,
    pub peer_avatar: Option<String>,
    pub read_seq: i64,
    pub unread: i64,
    pub peer_read_seq: Option<i64>,
}

/// The select and joins of [`SummaryRow`]; `rm` is the viewer's membership.
///
/// The last message is left out when the viewer deleted it for themself.
/// `unread` counts others' live messages after the read position; seqs
/// have no gaps, so bounding the seq bounds the scan ([`roomy_store::UNREAD_CAP`]).
pub const SUMMARY_FROM: &str = "SELECT r.id, r.kind, r.name, r.avatar, r.created_by, \
     r.created_at, r.updated_at, r.last_seq, r.member_count, r.dissolved_at, \
     COALESCE(r.last_message_id, 0) AS activity, rm.role AS my_role, \
     m.id AS lm_id, m.seq AS lm_seq, m.sender_id AS lm_sender_id, m.client_id AS lm_client_id, \
     m.kind AS lm_kind, m.body AS lm_body, m.created_at AS lm_created_at, \
     m.revoked_at AS lm_revoked_at, m.event AS lm_event, m.ref_id AS lm_ref_id, \
     mu.nickname AS lm_sender_nickname, \
     mu.avatar AS lm_sender_avatar, m.file_id AS lm_file_id, mf.name AS lm_file_name, \
     mf.size AS lm_file_size, mf.mime AS lm_file_mime, mf.thumb_key AS lm_file_thumb, \
     mf.cover_key AS lm_file_cover, p.id AS peer_id, p.nickname AS peer_nickname, \
     p.avatar AS peer_avatar, rm.read_seq, \
     (SELECT count(*) FROM messages um WHERE um.room_id = r.id AND um.seq > rm.read_seq \
        AND um.seq <= rm.read_seq + 10000 AND um.sender_id <> rm.user_id \
        AND um.revoked_at IS NULL AND NOT EXISTS (SELECT 1 FROM hidden_messages uh \
            WHERE uh.user_id = rm.user_id AND uh.message_id = um.id)) AS unread, \
     CASE WHEN p.read_receipts THEN pm.read_seq END AS peer_read_seq \
     FROM room_members rm \
     JOIN rooms r ON r.id = rm.room_id \
     LEFT JOIN messages m ON m.id = r.last_message_id AND NOT EXISTS \
          (SELECT 1 FROM hidden_messages h WHERE h.user_id = rm.user_id AND h.message_id = m.id) \
     LEFT JOIN users mu ON mu.id = m.sender_id \
     LEFT JOIN files mf ON mf.id = m.file_id \
     LEFT JOIN room_members pm ON r.kind = 'direct' AND pm.room_id = r.id \
          AND pm.user_id <> rm.user_id \
     LEFT JOIN users p ON p.id = pm.user_id";

/// One room as member $2 sees it (`$1` room).
pub const SUMMARY_ONE: &str = "WHERE rm.room_id = $1 AND rm.user_id = $2";

/// A page of member $1's rooms before the (activity, id) cursor ($2, $3), at most $4.
pub const SUMMARY_PAGE: &str = "WHERE rm.user_id = $1 \
     AND (COALESCE(r.last_message_id, 0) < $2 \
          OR (COALESCE(r.last_message_id, 0) = $2 AND r.id < $3)) \
     ORDER BY COALESCE(r.last_message_id, 0) DESC, r.id DESC LIMIT $4";

impl SummaryRow {
    /// The activity position (for cursors) and the summary.
    pub fn into_summary(self) -> Result<(i64, RoomSummary), StoreError> {
        let my_role =
            MemberRole::parse(&self.my_role).ok_or_else(|| corrupt("role", &self.my_role))?;
        let last_message = match (self.lm_id, self.lm_seq, self.lm_sender_id, self.lm_kind) {
            (Some(id), Some(seq), Some(sender_id), Some(kind)) => Some(
                MessageRow {
                    id,
                    room_id: self.room.id,
                    seq,
                    sender_id,
                    client_id: self.lm_client_id,
                    kind,
                    body: self.lm_body,
                    created_at: self.lm_created_at.unwrap_or_default(),
                    revoked_at: self.lm_revoked_at,
                    event: self.lm_event,
                    ref_id: self.lm_ref_id,
                    sender_nickname: self.lm_sender_nickname.unwrap_or_default(),
                    sender_avatar: self.lm_sender_avatar,
                    // The whole message, file included: a client keeps it
                    // as the room's newest, not only as a preview.
                    file_id: self.lm_file_id,
                    file_name: self.lm_file_name,
                    file_size: self.lm_file_size,
                    file_mime: self.lm_file_mime,
                    file_thumb: self.lm_file_thumb,
                    file_cover: self.lm_file_cover,
                }
                .into_message()?,
            ),
            _ => None,
        };
        let peer = self.peer_id.map(|id| UserBrief {
            id: UserId(id),
            nickname: self.peer_nickname.unwrap_or_default(),
            avatar: self.peer_avatar,
        });
        Ok((
            self.activity,
            RoomSummary {
                room: self.room.into_room()?,
                my_role,
                last_message,
                peer,
                read_seq: self.read_seq,
                unread: self.unread,
                peer_read_seq: self.peer_read_seq,
            },
        ))
    }
}

/// Newest messages of room $1 before seq $2 but those viewer $3 deleted
/// for themself, at most $4 (descending).
pub const HISTORY_BEFORE: &str = "WHERE m.room_id = $1 AND m.seq < $2 AND NOT EXISTS \
     (SELECT 1 FROM hidden_messages h WHERE h.user_id = $3 AND h.message_id = m.id) \
     ORDER BY m.seq DESC LIMIT $4";
/// Oldest messages of room $1 after seq $2 but those viewer $3 deleted for
/// themself, at most $4 (ascending).
pub const HISTORY_AFTER: &str = "WHERE m.room_id = $1 AND m.seq > $2 AND NOT EXISTS \
     (SELECT 1 FROM hidden_messages h WHERE h.user_id = $3 AND h.message_id = m.id) \
     ORDER BY m.seq ASC LIMIT $4";
/// Newest messages of room $1 with positions in ($2, $3] but those viewer
/// $4 deleted for themself, at most $5 (descending).
pub const SYNC_ROOM: &str = "WHERE m.room_id = $1 AND m.id > $2 AND m.id <= $3 AND NOT EXISTS \
     (SELECT 1 FROM hidden_messages h WHERE h.user_id = $4 AND h.message_id = m.id) \
     ORDER BY m.id DESC LIMIT $5";
/// Rooms of user $1 with messages after position $2.
pub const SYNC_ROOMS: &str = "SELECT r.id FROM room_members rm JOIN rooms r ON r.id = rm.room_id \
     WHERE rm.user_id = $1 AND r.last_message_id > $2 ORDER BY r.id";

/// What the planner needs to know of a room in the batch.
#[derive(Debug, Clone)]
struct RoomState {
    last_seq: i64,
    gate: i64,
    members: Vec<UserId>,
}

/// `rooms.direct_gate` bit: the direct room's pair are not friends.
pub const GATE_NOT_FRIENDS: i64 = 1;
/// `rooms.direct_gate` bit: one of the pair blocked the other.
pub const GATE_BLOCKED: i64 = 2;
/// `rooms.direct_gate` bit (groups): the group is dissolved, read-only.
pub const GATE_DISSOLVED: i64 = 4;

/// Recomputes `rooms.direct_gate` of the direct room with key $3 of users $1 and $2.
pub const REFRESH_GATE: &str = "UPDATE rooms SET direct_gate = \
     (CASE WHEN EXISTS (SELECT 1 FROM friends WHERE user_id = $1 AND friend_id = $2) \
           THEN 0 ELSE 1 END) \
     + (CASE WHEN EXISTS (SELECT 1 FROM relations WHERE relation = 2 \
           AND ((user_id = $1 AND target_id = $2) OR (user_id = $2 AND target_id = $1))) \
           THEN 2 ELSE 0 END) \
     WHERE direct_key = $3";

/// The distinct room ids and sender ids of a batch, ascending.
pub fn batch_ids(batch: &[NewMessage]) -> (Vec<i64>, Vec<i64>) {
    let distinct = |f: fn(&NewMessage) -> i64| {
        let mut v: Vec<i64> = batch.iter().map(f).collect();
        v.sort_unstable();
        v.dedup();
        v
    };
    (distinct(|m| m.room_id.0), distinct(|m| m.sender_id.0))
}

/// What a backend reads, inside the writing transaction, before planning.
#[derive(Debug, Default)]
pub struct BatchInputs {
    /// (room id, last_seq, direct_gate) of the batch's existing rooms.
    pub rooms: Vec<(i64, i64, i64)>,
    /// (room id, user id) of their members.
    pub members: Vec<(i64, i64)>,
    /// (user id, nickname, avatar) of the senders.
    pub senders: Vec<(i64, String, Option<String>)>,
    /// Stored messages matching the batch's (room, sender, client id) keys.
    pub originals: Vec<MessageRow>,
    /// The message-id counter.
    pub last_id: i64,
}

/// The writes a batch turns into.
#[derive(Debug, Default)]
pub struct BatchPlan {
    /// One outcome per message, in batch order.
    pub outcomes: Vec<AppendOutcome>,
    /// New rows to insert, in position order.
    pub inserts: Vec<Message>,
    /// (room, new last_seq, new last_message_id) for rooms that got messages.
    pub room_updates: Vec<(RoomId, i64, MessageId)>,
    /// The message-id counter after the batch.
    pub last_id: i64,
}

/// Decides the fate of every message of a batch from what is stored (rooms
/// missing from `inputs.rooms` do not exist). Pure, so both backends share
/// one rulebook.
pub fn plan_batch(
    batch: &[NewMessage],
    inputs: BatchInputs,
    policy: DirectPolicy,
    now: OffsetDateTime,
) -> Result<BatchPlan, StoreError> {
    let (room_ids, _) = batch_ids(batch);
    let mut rooms: HashMap<RoomId, Option<RoomState>> =
        room_ids.iter().map(|id| (RoomId(*id), None)).collect();
    for (id, last_seq, gate) in inputs.rooms {
        rooms.insert(
            RoomId(id),
            Some(RoomState {
                last_seq,
                gate,
                members: Vec::new(),
            }),
        );
    }
    for (room, user) in inputs.members {
        if let Some(Some(state)) = rooms.get_mut(&RoomId(room)) {
            state.members.push(UserId(user));
        }
    }
    let senders: HashMap<UserId, UserBrief> = inputs
        .senders
        .into_iter()
        .map(|(id, nickname, avatar)| {
            let id = UserId(id);
            (
                id,
                UserBrief {
                    id,
                    nickname,
                    avatar,
                },
            )
        })
        .collect();
    let mut originals: HashMap<(RoomId, UserId, String), Message> = HashMap::new();
    for row in inputs.originals {
        let m = row.into_message()?;
        if let Some(c) = m.client_id.clone() {
            originals.insert((m.room_id, m.sender.id, c), m);
        }
    }
    let last_id = inputs.last_id;
    // Stored instants have millisecond precision: build messages as they will read back.
    let now = from_millis(to_millis(now));
    let mut plan = BatchPlan {
        last_id,
        ..BatchPlan::default()
    };
    let mut touched: Vec<RoomId> = Vec::new();
    for new in batch {
        let state = match rooms.get_mut(&new.room_id) {
            Some(Some(state)) => state,
            _ => {
                plan.outcomes
                    .push(AppendOutcome::Rejected(AppendRejection::RoomNotFound));
                continue;
            }
        };
        // A retry of a stored message gets it back before any rule is
        // judged again: it was stored, and a sender whose first answer was
        // lost must not be told otherwise because they were removed,
        // blocked or the group dissolved since.
        let key = new
            .client_id
            .as_ref()
            .map(|c| (new.room_id, new.sender_id, c.as_str().to_owned()));
        if let Some(original) = key.as_ref().and_then(|k| originals.get(k)) {
            plan.outcomes
                .push(AppendOutcome::Duplicate(original.clone()));
            continue;
        }
        // Server notices may come from outside the room (an admin's removal).
        if new.kind != MessageKind::System && !state.members.contains(&new.sender_id) {
            plan.outcomes
                .push(AppendOutcome::Rejected(AppendRejection::NotAMember));
            continue;
        }
        // Server notices ("you are friends now") are not conversation.
        if new.kind != MessageKind::System {
            if state.gate & GATE_DISSOLVED != 0 {
                plan.outcomes
                    .push(AppendOutcome::Rejected(AppendRejection::Dissolved));
                continue;
            }
            if state.gate & GATE_BLOCKED != 0 {
                plan.outcomes
                    .push(AppendOutcome::Rejected(AppendRejection::Blocked));
                continue;
            }
            if state.gate & GATE_NOT_FRIENDS != 0 && policy.requires_friendship() {
                plan.outcomes
                    .push(AppendOutcome::Rejected(AppendRejection::NotFriends));
                continue;
            }
        }
        let Some(sender) = senders.get(&new.sender_id) else {
            plan.outcomes
                .push(AppendOutcome::Rejected(AppendRejection::NotAMember));
            continue;
        };
        state.last_seq += 1;
        plan.last_id += 1;
        let message = Message {
            id: MessageId(plan.last_id),
            room_id: new.room_id,
            seq: state.last_seq,
            sender: sender.clone(),
            client_id: new.client_id.as_ref().map(|c| c.as_str().to_owned()),
            kind: new.kind,
            body: new.body.as_ref().map(|b| b.as_str().to_owned()),
            created_at: now,
            revoked: false,
            event: None,
            ref_id: None,
            file: new.file.clone().map(Box::new),
        };
        if let Some(k) = key {
            originals.insert(k, message.clone());
        }
        if !touched.contains(&new.room_id) {
            touched.push(new.room_id);
        }
        plan.inserts.push(message.clone());
        plan.outcomes.push(AppendOutcome::Stored {
            message,
            recipients: state.members.clone(),
        });
    }
    for room in touched {
        if let Some(Some(state)) = rooms.get(&room) {
            let last = plan
                .inserts
                .iter()
                .rev()
                .find(|m| m.room_id == room)
                .map(|m| m.id);
            if let Some(last) = last {
                plan.room_updates.push((room, state.last_seq, last));
            }
        }
    }
    Ok(plan)
}

/// The direct-room key of a pair: the same whichever way round.
pub fn direct_key(a: UserId, b: UserId) -> String {
    let (lo, hi) = if a.0 < b.0 { (a, b) } else { (b, a) };
    format!("{}:{}", lo.0, hi.0)
}

/// The distinct users sharing a room with user $1, without $1, ascending
/// (both sides of the join use the `(user_id, room_id)` and primary-key indexes).
pub const CO_MEMBERS: &str = "SELECT DISTINCT other.user_id FROM room_members mine \
     JOIN room_members other ON other.room_id = mine.room_id \
     WHERE mine.user_id = $1 AND other.user_id <> $1 ORDER BY other.user_id";

#[cfg(test)]
#[path = "plan_batch_tests.rs"]
mod plan_batch_tests;
