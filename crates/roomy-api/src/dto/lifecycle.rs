//! Shapes of read state, revocation, delete-for-me, the message lists,
//! favorites and moderation.

use super::MessageView;
use roomy_core::{MessageId, RoomId, UserId};
use roomy_store::{AuditEntry, Favorite};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;

/// `POST /rooms/{id}/read`.
#[derive(Debug, Deserialize, ToSchema, ts_rs::TS)]
#[ts(optional_fields = nullable)]
#[serde(deny_unknown_fields)]
pub struct ReadRequest {
    /// Read up to and including this seq (clamped to the room's last seq).
    pub seq: i64,
}

/// My read position in a room after a `read`.
#[derive(Debug, Clone, Serialize, ToSchema, ts_rs::TS)]
pub struct ReadView {
    pub room_id: RoomId,
    /// Only moves forward: a smaller seq leaves it where it was.
    pub read_seq: i64,
    /// Messages others sent after it (at most 10,000 are counted).
    pub unread: i64,
}

/// `POST /messages/delete`.
#[derive(Debug, Deserialize, ToSchema, ts_rs::TS)]
#[ts(optional_fields = nullable)]
#[serde(deny_unknown_fields)]
pub struct DeleteRequest {
    /// 1 to 500 message ids, each visible to me.
    pub ids: Vec<i64>,
}

/// The messages deleted for me.
#[derive(Debug, Serialize, ToSchema, ts_rs::TS)]
pub struct DeletedView {
    pub deleted: Vec<MessageId>,
}

/// `GET /messages/sent` and `/messages/received`.
#[derive(Debug, Deserialize, utoipa::IntoParams, ts_rs::TS)]
#[ts(optional_fields)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct MessageListQuery {
    pub room_id: Option<i64>,
    /// `text`, `image`, `file` or `video`.
    pub kind: Option<String>,
    /// Received: after my read position (true) or not (false). Sent: not
    /// yet read by every other member (true) or read by all (false).
    pub unread: Option<bool>,
    pub limit: Option<u32>,
    pub cursor: Option<String>,
}

/// A favorite message, as it is now: revoked ones show `revoked` and no body.
#[derive(Debug, Serialize, ToSchema, ts_rs::TS)]
pub struct FavoriteView {
    pub message: MessageView,
    #[serde(with = "time::serde::rfc3339")]
    #[ts(type = "string")]
    pub favorited_at: OffsetDateTime,
}

impl From<Favorite> for FavoriteView {
    fn from(f: Favorite) -> Self {
        FavoriteView {
            message: f.message.into(),
            favorited_at: f.favorited_at,
        }
    }
}

/// `GET /admin/messages`.
#[derive(Debug, Deserialize, utoipa::IntoParams, ts_rs::TS)]
#[ts(optional_fields)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct AdminMessageQuery {
    pub room_id: Option<i64>,
    pub sender_id: Option<i64>,
    /// Text the body contains (case-insensitive), 1 to 200 characters.
    pub q: Option<String>,
    /// Sent at or after (RFC 3339).
    pub from: Option<String>,
    /// Sent at or before (RFC 3339).
    pub to: Option<String>,
    pub kind: Option<String>,
    pub limit: Option<u32>,
    pub cursor: Option<String>,
}

/// `DELETE /admin/messages/{id}`.
#[derive(Debug, Deserialize, utoipa::IntoParams, ts_rs::TS)]
#[ts(optional_fields)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct RemovalQuery {
    /// Why, for the audit log (at most 500 characters).
    pub reason: Option<String>,
}

/// An entry of the moderation audit log.
#[derive(Debug, Serialize, ToSchema, ts_rs::TS)]
pub struct AuditView {
    pub id: i64,
    /// The admin who acted.
    pub actor_id: UserId,
    /// `remove_message`, `disable_user` or `enable_user`.
    pub action: String,
    /// `message` or `user`.
    pub target_type: String,
    pub target_id: i64,
    pub reason: Option<String>,
    /// What the target was.
    #[schema(value_type = Object)]
    pub detail: serde_json::Value,
    #[serde(with = "time::serde::rfc3339")]
    #[ts(type = "string")]
    pub created_at: OffsetDateTime,
}

impl From<AuditEntry> for AuditView {
    fn from(e: AuditEntry) -> Self {
        AuditView {
            id: e.id,
            actor_id: e.actor,
            action: e.action,
            target_type: e.target_type,
            target_id: e.target_id,
            reason: e.reason,
            detail: serde_json::from_str(&e.detail).unwrap_or(serde_json::Value::Null),
            created_at: e.created_at,
        }
    }
}
