//! Records of the social graph: follows, blocks, friends, friend requests and
//! the per-user notices that sync returns.

use crate::{Message, Room, User, UserBrief};
use roomy_core::{
    MessageId, RoomId, UserId,
    social_fields::{FriendNote, Remark, RequestStatus},
};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

/// A user in a follow, follower, mutual or block list, with the time of the relation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Related {
    pub user: User,
    /// When the follow (or block) was made.
    pub at: OffsetDateTime,
}

/// One user's follow sets as stored, at one graph version.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GraphSnapshot {
    /// Bumped with every change to either set.
    pub version: i64,
    /// (followed user, followed_at in Unix ms).
    pub following: Vec<(UserId, i64)>,
    /// (follower, followed_at in Unix ms).
    pub followers: Vec<(UserId, i64)>,
}

/// One edit of a user's follow sets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GraphEdit {
    AddFollowing(UserId, i64),
    RemoveFollowing(UserId),
    AddFollower(UserId, i64),
    RemoveFollower(UserId),
}

/// A committed change of one user's follow sets, from graph version `from` to `to`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GraphDelta {
    pub user: UserId,
    pub from: i64,
    pub to: i64,
    pub edits: Vec<GraphEdit>,
}

/// The stored facts between a viewer and another user, besides follows.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PairFacts {
    pub friend: bool,
    /// The viewer blocked the other.
    pub blocked: bool,
    /// The other blocked the viewer.
    pub blocked_by: bool,
}

/// A friend request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FriendRequest {
    pub id: i64,
    pub from: UserBrief,
    pub to: UserBrief,
    pub note: Option<String>,
    pub status: RequestStatus,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    pub answered_at: Option<OffsetDateTime>,
}

/// What it takes to send a friend request.
#[derive(Debug, Clone)]
pub struct NewFriendRequest {
    pub from: UserId,
    pub to: UserId,
    pub note: Option<FriendNote>,
    /// The sender's remark for the target, kept if the request is agreed.
    pub remark: Option<Remark>,
}

/// How the target answers a friend request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Agree,
    Refuse,
    Ignore,
}

impl Decision {
    /// The status the request takes.
    pub fn status(self) -> RequestStatus {
        match self {
            Decision::Agree => RequestStatus::Agree,
            Decision::Refuse => RequestStatus::Refuse,
            Decision::Ignore => RequestStatus::Ignore,
        }
    }
}

/// Which friend requests to list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Sent to the user.
    Incoming,
    /// Sent by the user.
    Outgoing,
}

/// A friend in a user's list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Friend {
    pub user: User,
    pub remark: Option<String>,
    pub since: OffsetDateTime,
}

/// Something a user must hear of even when offline; sync returns it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Notice {
    /// Position in the server-wide stream (shared with messages).
    pub id: MessageId,
    pub user: UserId,
    pub kind: NoticeKind,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

/// What a notice is about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NoticeKind {
    /// Someone asked to be the user's friend (the request as it is now).
    FriendRequest(FriendRequest),
    /// A request between the user and another was agreed; `room` is their direct room.
    FriendAccepted {
        request: FriendRequest,
        room: RoomId,
    },
    /// `reader`'s read position in `room` moved to `seq` (the user's own
    /// devices, or a direct room's peer: a read receipt).
    Read {
        room: RoomId,
        reader: UserId,
        seq: i64,
    },
    /// The user deleted these messages for themself (their other devices drop them).
    Hidden { messages: Vec<MessageId> },
    /// The user favorited `message` (`favorite`), or forgot that favorite.
    Favorite { message: MessageId, favorite: bool },
    /// The user left `room`, or `by` removed them.
    Left { room: RoomId, by: UserId },
}

/// What sending or answering a friend request wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FriendChange {
    pub request: FriendRequest,
    /// Notices written, in position order.
    pub notices: Vec<Notice>,
    /// On agreement: the pair's direct room, and whether it was created.
    pub room: Option<(Room, bool)>,
    /// On agreement: the "you are friends now" system message.
    pub message: Option<Message>,
}

/// Why the store refused a change that is well-formed but not allowed now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The other user blocked the actor.
    Blocked,
    /// The actor blocked the other user (unblock first).
    YouBlocked,
    /// Direct conversation needs friendship.
    NotFriends,
    /// The target account is disabled.
    UserDisabled,
    /// The pair are friends already.
    AlreadyFriends,
    /// The actor already has a pending request to this user.
    RequestPending,
    /// This user already sent the actor a pending request: answer it.
    IncomingRequestPending,
    /// Only the target of a request may answer it.
    NotRequestTarget,
    /// The request was answered before.
    AlreadyAnswered,
    /// Guests join groups only by invite link; nobody puts them in one.
    Guest,
    /// An admin removed the user from the group; an invite link does not let them back.
    Banned,
}
