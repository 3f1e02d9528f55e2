//! The social graph's rows and SQL, shared verbatim by both backends.

use roomy_core::{
    MessageId, RoomId, UserId,
    clock::from_millis,
    social_fields::{RelationState, RequestStatus},
};
use roomy_store::{Friend, FriendRequest, Notice, NoticeKind, Related, StoreError, UserBrief};

use crate::UserRow;

/// Columns of a friend request with both users' briefs (`fr`, `fu`, `tu`).
pub const REQUEST_SELECT: &str = "SELECT fr.id, fr.from_id, fu.nickname AS from_nickname, \
     fu.avatar AS from_avatar, fr.to_id, tu.nickname AS to_nickname, tu.avatar AS to_avatar, \
     fr.note, fr.status, fr.created_at, fr.answered_at \
     FROM friend_requests fr JOIN users fu ON fu.id = fr.from_id \
     JOIN users tu ON tu.id = fr.to_id";

/// A friend request row with both users' briefs.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct RequestRow {
    pub id: i64,
    pub from_id: i64,
    pub from_nickname: String,
    pub from_avatar: Option<String>,
    pub to_id: i64,
    pub to_nickname: String,
    pub to_avatar: Option<String>,
    pub note: Option<String>,
    pub status: String,
    pub created_at: i64,
    pub answered_at: Option<i64>,
}

impl RequestRow {
    /// The domain request.
    pub fn into_request(self) -> Result<FriendRequest, StoreError> {
        Ok(FriendRequest {
            id: self.id,
            from: UserBrief {
                id: UserId(self.from_id),
                nickname: self.from_nickname,
                avatar: self.from_avatar,
            },
            to: UserBrief {
                id: UserId(self.to_id),
                nickname: self.to_nickname,
                avatar: self.to_avatar,
            },
            note: self.note,
            status: RequestStatus::parse(&self.status).ok_or_else(|| {
                StoreError::Corrupt(format!("unknown request status {:?}", self.status))
            })?,
            created_at: from_millis(self.created_at),
            answered_at: self.answered_at.map(from_millis),
        })
    }
}

/// A user joined with the time of a relation (`rel_at`) and, for friend
/// lists, the remark.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct RelatedRow {
    pub rel_at: i64,
    pub remark: Option<String>,
    #[sqlx(flatten)]
    pub user: UserRow,
}

impl RelatedRow {
    /// As a list entry.
    pub fn into_related(self) -> Result<Related, StoreError> {
        Ok(Related {
            at: from_millis(self.rel_at),
            user: self.user.into_user()?,
        })
    }

    /// As a friend.
    pub fn into_friend(self) -> Result<Friend, StoreError> {
        Ok(Friend {
            since: from_millis(self.rel_at),
            remark: self.remark,
            user: self.user.into_user()?,
        })
    }
}

/// Users `$1` relates to with relation `$2`, newest first, before the
/// `($3 ms, $4 id)` cursor, at most `$5`.
pub const OUTGOING_PAGE: &str = "SELECT r.updated_at AS rel_at, NULL AS remark, u.* \
     FROM relations r JOIN users u ON u.id = r.target_id \
     WHERE r.user_id = $1 AND r.relation = $2 \
       AND (r.updated_at < $3 OR (r.updated_at = $3 AND r.target_id < $4)) \
     ORDER BY r.updated_at DESC, r.target_id DESC LIMIT $5";

/// Users relating to `$1` with relation `$2`; as [`OUTGOING_PAGE`].
pub const INCOMING_PAGE: &str = "SELECT r.updated_at AS rel_at, NULL AS remark, u.* \
     FROM relations r JOIN users u ON u.id = r.user_id \
     WHERE r.target_id = $1 AND r.relation = $2 \
       AND (r.updated_at < $3 OR (r.updated_at = $3 AND r.user_id < $4)) \
     ORDER BY r.updated_at DESC, r.user_id DESC LIMIT $5";

/// Friends of `$1`, newest first, before the `($2 ms, $3 id)` cursor, at most `$4`.
pub const FRIENDS_PAGE: &str = "SELECT f.since AS rel_at, f.remark, u.* \
     FROM friends f JOIN users u ON u.id = f.friend_id \
     WHERE f.user_id = $1 AND (f.since < $2 OR (f.since = $2 AND f.friend_id < $3)) \
     ORDER BY f.since DESC, f.friend_id DESC LIMIT $4";

/// One friend row of `$1` for `$2`.
pub const FRIEND_ONE: &str = "SELECT f.since AS rel_at, f.remark, u.* \
     FROM friends f JOIN users u ON u.id = f.friend_id \
     WHERE f.user_id = $1 AND f.friend_id = $2";

/// Sets `$1`'s relation to `$2` to `$3` at `$4`.
pub const UPSERT_RELATION: &str = "INSERT INTO relations \
     (user_id, target_id, relation, created_at, updated_at) VALUES ($1, $2, $3, $4, $4) \
     ON CONFLICT (user_id, target_id) DO UPDATE SET relation = excluded.relation, \
     updated_at = excluded.updated_at";

/// A notice row joined with its request.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct NoticeRow {
    pub n_id: i64,
    pub n_user_id: i64,
    pub n_kind: String,
    pub n_room_id: Option<i64>,
    pub n_created_at: i64,
    #[sqlx(flatten)]
    pub request: RequestRow,
}

/// Columns of [`NoticeRow`] (`n` and the request joins).
pub const NOTICE_SELECT: &str = "SELECT n.id AS n_id, n.user_id AS n_user_id, \
     n.kind AS n_kind, n.room_id AS n_room_id, n.created_at AS n_created_at, \
     fr.id, fr.from_id, fu.nickname AS from_nickname, \
     fu.avatar AS from_avatar, fr.to_id, tu.nickname AS to_nickname, tu.avatar AS to_avatar, \
     fr.note, fr.status, fr.created_at, fr.answered_at \
     FROM notices n JOIN friend_requests fr ON fr.id = n.request_id \
     JOIN users fu ON fu.id = fr.from_id JOIN users tu ON tu.id = fr.to_id";

/// Notices of user $1 with positions in ($2, $3], newest first, at most $4.
pub const NOTICES_RANGE: &str =
    "WHERE n.user_id = $1 AND n.id > $2 AND n.id <= $3 ORDER BY n.id DESC LIMIT $4";

impl NoticeRow {
    /// The domain notice.
    pub fn into_notice(self) -> Result<Notice, StoreError> {
        let request = self.request.into_request()?;
        let kind = match (self.n_kind.as_str(), self.n_room_id) {
            ("friend_request", _) => NoticeKind::FriendRequest(request),
            ("friend_accepted", Some(room)) => NoticeKind::FriendAccepted {
                request,
                room: RoomId(room),
            },
            (other, _) => {
                return Err(StoreError::Corrupt(format!("unknown notice {other:?}")));
            }
        };
        Ok(Notice {
            id: MessageId(self.n_id),
            user: UserId(self.n_user_id),
            kind,
            created_at: from_millis(self.n_created_at),
        })
    }
}

/// The stored relation number, as a state.
pub fn relation_state(v: Option<i64>) -> Result<RelationState, StoreError> {
    match v {
        None => Ok(RelationState::Deleted),
        Some(v) => RelationState::from_i64(v)
            .ok_or_else(|| StoreError::Corrupt(format!("unknown relation {v}"))),
    }
}
