//! Everything Roomy persists, behind one trait. Backends (SQLite, PostgreSQL)
//! implement [`Store`]; the API layer sees only these types, never SQL.
//!
//! Architecture invariant: instants cross this boundary as `OffsetDateTime`
//! supplied by the caller's clock, so backends never read the wall clock and
//! time-dependent rules stay testable.

mod chat;
mod error;
mod files;
mod guards;
mod invites;
mod records;
mod social;

pub use chat::*;
pub use error::{Conflict, Missing, StoreError, StoreResult};
pub use files::*;
pub use guards::{RoomDenial, RoomFacts};
pub use invites::*;
pub use records::*;
pub use social::*;

use async_trait::async_trait;
use roomy_core::{
    MessageId, RoomId, SessionId, UserId,
    chat_fields::MemberRole,
    social_fields::{DirectPolicy, Remark, RequestStatus},
};
use time::OffsetDateTime;

/// Everything Roomy persists: a backend implements all the parts.
pub trait Store:
    AccountStore + ChatStore + LifecycleStore + SocialStore + InviteStore + FileStore
{
}

impl<T: AccountStore + ChatStore + LifecycleStore + SocialStore + InviteStore + FileStore> Store
    for T
{
}

/// Accounts and sessions. Every method is one transaction.
#[async_trait]
pub trait AccountStore: Send + Sync + 'static {
    /// Cheap round trip to the database, for readiness checks.
    async fn ping(&self) -> StoreResult<()>;

    /// Creates an account; `Conflict(Username)` when the name is taken (case-insensitively).
    async fn create_user(&self, new: NewUser, now: OffsetDateTime) -> StoreResult<User>;

    /// Looks an account up by id.
    async fn user(&self, id: UserId) -> StoreResult<Option<User>>;

    /// The account and its password hash, by username (case-insensitive), for login.
    async fn credentials_by_username(&self, username: &str) -> StoreResult<Option<Credentials>>;

    /// The account and its password hash, by id, for password changes.
    async fn credentials(&self, id: UserId) -> StoreResult<Option<Credentials>>;

    /// Applies the given profile changes; `NotFound(User)` for a missing user.
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

    /// The enabled users among `ids`.
    async fn enabled_users(&self, ids: &[UserId]) -> StoreResult<Vec<User>>;

    /// Up to `limit` enabled guests with no sign of life (creation or a
    /// session's use) since `idle_since`, oldest first.
    async fn idle_guests(&self, idle_since: OffsetDateTime, limit: u32)
    -> StoreResult<Vec<UserId>>;

    /// Retires guest `id` if it is still an enabled guest idle since
    /// `idle_since`: deletes its sessions, disables it and renames it
    /// `nickname` (no avatar), detaches its files from the messages that
    /// carried them and deletes its files and unfinished uploads. The
    /// storage keys returned are the caller's to delete; `None` when the
    /// guest was not retired.
    async fn retire_guest(
        &self,
        id: UserId,
        idle_since: OffsetDateTime,
        nickname: &str,
        now: OffsetDateTime,
    ) -> StoreResult<Option<RetiredGuest>>;
}

/// Rooms, members and messages. Every method is one transaction.
#[async_trait]
pub trait ChatStore: Send + Sync + 'static {
    /// The direct room of `a` and `b`, created if needed (one per pair, race-free).
    /// Returns the room and whether it was created. `Refused(Blocked |
    /// YouBlocked)` when either blocked the other (from `a`'s side), and
    /// `Refused(NotFriends)` when `policy` wants friends and they are not.
    async fn find_or_create_direct(
        &self,
        a: UserId,
        b: UserId,
        policy: DirectPolicy,
        now: OffsetDateTime,
    ) -> StoreResult<(Room, bool)>;

    /// Creates a group owned by `new.owner` with its members and a notice.
    /// All or nothing: `MembersRefused` (and nothing written) when any member
    /// may not be put in a group by the owner (see [`ChatStore::add_members`]).
    async fn create_group(&self, new: NewGroup, now: OffsetDateTime) -> StoreResult<RoomChange>;

    /// A room by id.
    async fn room(&self, id: RoomId) -> StoreResult<Option<Room>>;

    /// `user`'s role in `room`, or `None` when not a member.
    async fn member_role(&self, room: RoomId, user: UserId) -> StoreResult<Option<MemberRole>>;

    /// A room as `user` sees it, if `user` is a member.
    async fn room_summary(&self, room: RoomId, user: UserId) -> StoreResult<Option<RoomSummary>>;

    /// `user`'s rooms, most recently active first, after the `(activity, room id)` cursor.
    async fn rooms_of(
        &self,
        user: UserId,
        after: Option<(i64, RoomId)>,
        limit: u32,
    ) -> StoreResult<Vec<(i64, RoomSummary)>>;

    /// Members of a room by ascending user id after `after`.
    async fn members(
        &self,
        room: RoomId,
        after: Option<UserId>,
        limit: u32,
    ) -> StoreResult<Vec<Member>>;

    /// Adds users (skipping current members) as `member`s, with a notice by
    /// `actor`, and lifts their bans. All or nothing: `MembersRefused` (and
    /// nothing written) when any of them blocked `actor` or was blocked by
    /// them, is a guest, or, when `policy` wants friendship, is not
    /// `actor`'s friend; judged under `actor`'s row lock, which every change
    /// to those facts takes too. `RoomDenied` unless [`RoomFacts::may_add`]
    /// lets `actor` add the newcomers within `max_members`, judged under
    /// the room's lock.
    #[allow(clippy::too_many_arguments)]
    async fn add_members(
        &self,
        room: RoomId,
        actor: UserId,
        users: &[UserId],
        policy: DirectPolicy,
        notice: String,
        max_members: i64,
        now: OffsetDateTime,
    ) -> StoreResult<RoomChange>;

    /// Removes `user` from `room` with a notice by `actor` (who leaves when
    /// `user` is `actor`); `RoomDenied` unless [`RoomFacts::may_remove`].
    /// When `actor` is someone else (an admin's removal), `user` is banned
    /// from rejoining by invite link, in the same transaction.
    async fn remove_member(
        &self,
        room: RoomId,
        actor: UserId,
        user: UserId,
        notice: String,
        now: OffsetDateTime,
    ) -> StoreResult<RoomChange>;

    /// Sets a member's role by `actor`; `RoomDenied` unless
    /// [`RoomFacts::may_set_role`].
    async fn set_member_role(
        &self,
        room: RoomId,
        actor: UserId,
        user: UserId,
        role: MemberRole,
        now: OffsetDateTime,
    ) -> StoreResult<RoomChange>;

    /// Changes a group's name or avatar, with a notice by `actor`;
    /// `RoomDenied` unless [`RoomFacts::may_edit_group`].
    async fn update_room(
        &self,
        room: RoomId,
        actor: UserId,
        changes: RoomProfileChanges,
        notice: String,
        now: OffsetDateTime,
    ) -> StoreResult<RoomChange>;

    /// A member of a room, `None` when not a member.
    async fn member(&self, room: RoomId, user: UserId) -> StoreResult<Option<Member>>;

    /// The users banned from `room`, by ascending user id after `after`.
    async fn room_bans(
        &self,
        room: RoomId,
        after: Option<UserId>,
        limit: u32,
    ) -> StoreResult<Vec<Ban>>;

    /// Lifts `user`'s ban from `room` by `actor`; `RoomDenied` unless
    /// [`RoomFacts::may_manage`], `NotFound(Ban)` when there is no ban.
    async fn lift_ban(&self, room: RoomId, actor: UserId, user: UserId) -> StoreResult<()>;

    /// Dissolves a group with a notice (event `dissolved`) by `actor`: it
    /// stays readable, refuses new messages, and its members stay;
    /// `RoomDenied` unless [`RoomFacts::may_dissolve`].
    async fn dissolve_room(
        &self,
        room: RoomId,
        actor: UserId,
        notice: String,
        now: OffsetDateTime,
    ) -> StoreResult<RoomChange>;

    /// Makes `to` the owner and the owner `from` an admin, with a notice;
    /// `RoomDenied` unless [`RoomFacts::may_set_role`] lets `from` change
    /// `to`'s role.
    async fn transfer_ownership(
        &self,
        room: RoomId,
        from: UserId,
        to: UserId,
        notice: String,
        now: OffsetDateTime,
    ) -> StoreResult<RoomChange>;

    /// Changes a member's own group nickname or avatar; `RoomDenied` unless
    /// [`RoomFacts::may_edit_own_profile`].
    async fn update_member_profile(
        &self,
        room: RoomId,
        user: UserId,
        changes: MemberProfileChanges,
        now: OffsetDateTime,
    ) -> StoreResult<RoomChange>;

    // --- messages ---

    /// Stores a batch in ONE transaction (the group commit): seqs are gap-free
    /// per room in batch order, repeated client ids return the original
    /// (even when its sender could no longer send it, so a retry never
    /// denies a stored message), and
    /// non-members (and, in direct rooms, blocked pairs and, under the
    /// `friends` policy, non-friends) are refused, each message on its own.
    async fn append_messages(
        &self,
        batch: &[NewMessage],
        policy: DirectPolicy,
        now: OffsetDateTime,
    ) -> StoreResult<Vec<AppendOutcome>>;

    /// A page of a room's history in ascending seq order: the newest `limit`
    /// before `before_seq`, or the oldest `limit` after `after_seq`; without
    /// the messages `viewer` deleted for themself.
    async fn history(
        &self,
        room: RoomId,
        viewer: UserId,
        before_seq: Option<i64>,
        after_seq: Option<i64>,
        limit: u32,
    ) -> StoreResult<Vec<Message>>;

    /// The position of the newest committed message (0 when none).
    async fn stream_position(&self) -> StoreResult<MessageId>;

    /// Messages in `user`'s rooms with positions in `(since, upto]` (`upto`
    /// defaults to the current position), at most `limit` per room.
    async fn sync(
        &self,
        user: UserId,
        since: MessageId,
        upto: Option<MessageId>,
        limit: u32,
    ) -> StoreResult<SyncBatch>;

    /// The distinct users sharing at least one room (direct or group) with
    /// `user`, `user` excluded, by ascending id: who hears of its presence.
    async fn co_members(&self, user: UserId) -> StoreResult<Vec<UserId>>;

    /// Everything committed at positions in `(after, upto]`, in position
    /// order: for a node whose bus lost events it must deliver. Messages
    /// come with their room's members now; notices and per-user events of
    /// every user. Callers keep the range small (it is read whole).
    async fn replay(&self, after: MessageId, upto: MessageId) -> StoreResult<Replay>;
}

/// What [`ChatStore::replay`] read: the live events a range of positions held.
#[derive(Debug, Clone, Default)]
pub struct Replay {
    /// Messages (system notices included) and their rooms' members.
    pub messages: Vec<(Message, Vec<UserId>)>,
    /// Friend notices and per-user events, each for its `user`.
    pub notices: Vec<Notice>,
}

/// Read positions, revocation, delete-for-me, favorites, the sent and
/// received lists, and moderation. Every method is one transaction.
#[async_trait]
pub trait LifecycleStore: Send + Sync + 'static {
    /// A message by id, whatever its room.
    async fn message(&self, id: MessageId) -> StoreResult<Option<Message>>;

    /// Moves `user`'s read position in `room` up to `seq` (clamped to the
    /// room's last seq; never backwards) and writes the events for the
    /// user's devices and, in a direct room whose reader shares read
    /// positions, the peer. `NotFound(Member)` when not a member.
    async fn mark_read(
        &self,
        room: RoomId,
        user: UserId,
        seq: i64,
        now: OffsetDateTime,
    ) -> StoreResult<ReadMark>;

    /// Revokes a message for everyone: the body goes, the message stays
    /// marked revoked, and a system notice (`notice` text, event `revoked`
    /// or `removed`) goes to the room. An admin's removal is audited in the
    /// same transaction. Revoking a revoked message writes nothing.
    /// `NotFound(Message)` for a missing message; `NotFound(Member)` when
    /// the sender revokes and is no longer a member (judged under the
    /// room's lock).
    async fn revoke_message(
        &self,
        id: MessageId,
        revoker: Revoker,
        notice: String,
        now: OffsetDateTime,
    ) -> StoreResult<Revocation>;

    /// Hides messages from `user`'s view only, all or nothing: the ids that
    /// are not visible to `user` (missing, or in a room they are not in) are
    /// returned and nothing is written; otherwise the `hidden` event for the
    /// user's devices (none when all were hidden already).
    async fn hide_messages(
        &self,
        user: UserId,
        ids: &[MessageId],
        now: OffsetDateTime,
    ) -> StoreResult<Result<Option<Notice>, Vec<MessageId>>>;

    /// `user`'s sent or received messages in their current rooms, newest
    /// first, without those they deleted for themself.
    async fn user_messages(
        &self,
        user: UserId,
        list: MessageList,
        filter: MessageFilter,
        limit: u32,
    ) -> StoreResult<Vec<Message>>;

    /// Favorites a message `user` can see now; `None` when they cannot.
    /// The favorite, and the `favorite` event for the user's devices when
    /// it is new (none when it was a favorite already).
    async fn add_favorite(
        &self,
        user: UserId,
        message: MessageId,
        now: OffsetDateTime,
    ) -> StoreResult<Option<(Favorite, Option<Notice>)>>;

    /// Forgets a favorite: the event for the user's devices, or `None` when
    /// there was none.
    async fn remove_favorite(
        &self,
        user: UserId,
        message: MessageId,
        now: OffsetDateTime,
    ) -> StoreResult<Option<Notice>>;

    /// `user`'s favorites, newest first, after the `(ms, message id)`
    /// cursor, without messages they deleted for themself.
    async fn favorites(
        &self,
        user: UserId,
        after: Option<(i64, MessageId)>,
        limit: u32,
    ) -> StoreResult<Vec<Favorite>>;

    /// All messages matching the filter, newest first (admins).
    async fn admin_messages(
        &self,
        filter: AdminMessageFilter,
        limit: u32,
    ) -> StoreResult<Vec<Message>>;

    /// Disables or re-enables an account and audits it, in one transaction
    /// (disabling revokes every session).
    async fn moderate_user(
        &self,
        entry: NewAudit,
        disabled: bool,
        now: OffsetDateTime,
    ) -> StoreResult<User>;

    /// The audit log, newest first, ids below `before`.
    async fn audit_log(&self, before: Option<i64>, limit: u32) -> StoreResult<Vec<AuditEntry>>;
}

/// Follows, blocks, friends and friend requests. Every method is one transaction.
///
/// A user's `graph_version` is bumped, in the same transaction, with every
/// change to their following or followers set; the deltas returned say from
/// which version to which, so caches can follow along.
#[async_trait]
pub trait SocialStore: Send + Sync + 'static {
    /// This database's random id, made when it was created: shared caches
    /// key by it, so a recreated database never reads another's entries.
    async fn instance_id(&self) -> StoreResult<String>;

    /// `user` follows `target`. `NotFound(User)` for a missing or disabled target;
    /// `Refused(Blocked | YouBlocked)` across a block. No deltas when already following.
    async fn follow(
        &self,
        user: UserId,
        target: UserId,
        now: OffsetDateTime,
    ) -> StoreResult<Vec<GraphDelta>>;

    /// `user` stops following `target`; `NotFound(User)` for a missing target.
    async fn unfollow(
        &self,
        user: UserId,
        target: UserId,
        now: OffsetDateTime,
    ) -> StoreResult<Vec<GraphDelta>>;

    /// `user` blocks `target`: follows both ways end, the target's pending
    /// requests to `user` are ignored. `NotFound(User)` for a missing target.
    async fn block(
        &self,
        user: UserId,
        target: UserId,
        now: OffsetDateTime,
    ) -> StoreResult<Vec<GraphDelta>>;

    /// Lifts `user`'s block of `target` (nothing if there is none).
    async fn unblock(&self, user: UserId, target: UserId, now: OffsetDateTime) -> StoreResult<()>;

    /// Users `user` follows, newest follow first, after the `(ms, id)` cursor.
    async fn following(
        &self,
        user: UserId,
        after: Option<(i64, UserId)>,
        limit: u32,
    ) -> StoreResult<Vec<Related>>;

    /// Users following `user`, newest follow first, after the `(ms, id)` cursor.
    async fn followers(
        &self,
        user: UserId,
        after: Option<(i64, UserId)>,
        limit: u32,
    ) -> StoreResult<Vec<Related>>;

    /// Users `user` blocked, newest first, after the `(ms, id)` cursor.
    async fn blocks(
        &self,
        user: UserId,
        after: Option<(i64, UserId)>,
        limit: u32,
    ) -> StoreResult<Vec<Related>>;

    /// The user's graph version, `None` for a missing user.
    async fn graph_version(&self, user: UserId) -> StoreResult<Option<i64>>;

    /// Both follow sets of a user and their version, read together.
    async fn graph_snapshot(&self, user: UserId) -> StoreResult<Option<GraphSnapshot>>;

    /// The accounts among `ids`, whatever their state, in no particular order.
    async fn users_by_ids(&self, ids: &[UserId]) -> StoreResult<Vec<User>>;

    /// Friendship and blocks between `user` and `other`.
    async fn pair_facts(&self, user: UserId, other: UserId) -> StoreResult<PairFacts>;

    /// Sends a friend request and notifies the target; agrees at once when
    /// the target does not confirm requests (`notice` is then the text of the
    /// system message in their direct room). `NotFound(User)` for a missing target.
    async fn send_friend_request(
        &self,
        new: NewFriendRequest,
        notice: String,
        now: OffsetDateTime,
    ) -> StoreResult<FriendChange>;

    /// `answerer` answers request `id`. On agreement the status, both
    /// friendship rows, the direct room, its system message (`notice`) and
    /// the notices are written in ONE transaction. `NotFound(FriendRequest)` when the
    /// request is not `answerer`'s to see.
    async fn answer_friend_request(
        &self,
        id: i64,
        answerer: UserId,
        decision: Decision,
        remark: Option<Remark>,
        notice: String,
        now: OffsetDateTime,
    ) -> StoreResult<FriendChange>;

    /// A request by id.
    async fn friend_request(&self, id: i64) -> StoreResult<Option<FriendRequest>>;

    /// `user`'s requests in one direction, newest first, ids below `before`.
    async fn friend_requests(
        &self,
        user: UserId,
        direction: Direction,
        status: Option<RequestStatus>,
        before: Option<i64>,
        limit: u32,
    ) -> StoreResult<Vec<FriendRequest>>;

    /// `user`'s friends, newest first, after the `(since ms, id)` cursor.
    async fn friends(
        &self,
        user: UserId,
        after: Option<(i64, UserId)>,
        limit: u32,
    ) -> StoreResult<Vec<Friend>>;

    /// Sets (or clears) the remark `user` gives `friend`; `NotFound(Friend)` when not friends.
    async fn set_remark(
        &self,
        user: UserId,
        friend: UserId,
        remark: Option<Remark>,
    ) -> StoreResult<Friend>;

    /// Ends a friendship both ways and forgets the requests between the
    /// pair, so either can ask again; `NotFound(Friend)` when not friends.
    async fn unfriend(&self, user: UserId, friend: UserId, now: OffsetDateTime) -> StoreResult<()>;
}
