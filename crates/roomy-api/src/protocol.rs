//! The WebSocket protocol's frames (docs/protocol.md): the wire contract.
//! Client frames are parsed strictly into [`ClientFrame`]; server frames are
//! the typed [`ServerFrame`], so every part of the gateway speaks the same
//! shapes and a new operation is a new variant, not a new JSON literal.

use crate::error::ErrorCode;
use crate::{
    dto::{AttachmentView, Me, MemberView, MessageView, NoticeView, RoomView, SyncView},
    error::ApiError,
};
use roomy_core::{MessageId, RoomId, UserId, config::Redacted};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The protocol version announced in `ready`.
pub const PROTOCOL_VERSION: u32 = 1;

/// Largest client frame accepted, in bytes.
pub const MAX_CLIENT_FRAME: usize = 64 * 1024;

/// A frame from the client.
#[derive(Debug, Deserialize, ts_rs::TS)]
#[ts(optional_fields = nullable)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ClientFrame {
    Auth {
        #[ts(optional, type = "string | number | null")]
        id: Option<Value>,
        /// Never printed: `Debug` shows it redacted.
        #[ts(type = "string")]
        token: Redacted,
    },
    Send {
        #[ts(optional, type = "string | number | null")]
        id: Option<Value>,
        room_id: i64,
        client_id: String,
        kind: String,
        body: Option<String>,
        file_id: Option<i64>,
    },
    Sync {
        #[ts(optional, type = "string | number | null")]
        id: Option<Value>,
        since: Option<i64>,
        limit: Option<u32>,
    },
    Ping {
        #[ts(optional, type = "string | number | null")]
        id: Option<Value>,
    },
    Typing {
        #[ts(optional, type = "string | number | null")]
        id: Option<Value>,
        room_id: i64,
    },
    Read {
        #[ts(optional, type = "string | number | null")]
        id: Option<Value>,
        room_id: i64,
        seq: i64,
    },
}

/// Why a client frame was refused, with the request id when one could be read.
#[derive(Debug)]
pub struct FrameError {
    pub id: Option<Value>,
    pub code: ErrorCode,
    pub message: String,
}

/// The `id` a client gave a frame: a string of at most 64 bytes or a number.
fn valid_id(id: &Value) -> bool {
    match id {
        Value::String(s) => s.len() <= 64,
        Value::Number(_) => true,
        _ => false,
    }
}

impl ClientFrame {
    fn id(&self) -> Option<&Value> {
        match self {
            ClientFrame::Auth { id, .. }
            | ClientFrame::Send { id, .. }
            | ClientFrame::Sync { id, .. }
            | ClientFrame::Ping { id }
            | ClientFrame::Typing { id, .. }
            | ClientFrame::Read { id, .. } => id.as_ref(),
        }
    }
}

/// Parses one text frame.
pub fn parse(text: &str) -> Result<ClientFrame, FrameError> {
    if text.len() > MAX_CLIENT_FRAME {
        return Err(FrameError {
            id: None,
            code: ErrorCode::FrameTooLarge,
            message: format!("frames are limited to {MAX_CLIENT_FRAME} bytes"),
        });
    }
    // The well-formed frame is parsed once; only a bad one is parsed again,
    // loosely, to find its id and say precisely what is wrong.
    if let Ok(frame) = serde_json::from_str::<ClientFrame>(text)
        && frame.id().is_none_or(valid_id)
    {
        return Ok(frame);
    }
    let value: Value = serde_json::from_str(text).map_err(|e| FrameError {
        id: None,
        code: ErrorCode::InvalidFrame,
        message: format!("not JSON: {e}"),
    })?;
    let id = value.get("id").cloned().filter(valid_id);
    if value.get("id").is_some_and(|v| !valid_id(v)) {
        return Err(FrameError {
            id: None,
            code: ErrorCode::InvalidFrame,
            message: "id must be a number or a string of at most 64 bytes".into(),
        });
    }
    let known = ["auth", "send", "sync", "ping", "typing", "read"];
    match value.get("type").and_then(Value::as_str) {
        None => {
            return Err(FrameError {
                id,
                code: ErrorCode::InvalidFrame,
                message: "a frame needs a string `type`".into(),
            });
        }
        Some(t) if !known.contains(&t) => {
            return Err(FrameError {
                id,
                code: ErrorCode::UnknownType,
                message: format!("unknown frame type {t:?}"),
            });
        }
        Some(_) => {}
    }
    serde_json::from_value(value).map_err(|e| FrameError {
        id,
        code: ErrorCode::InvalidFrame,
        message: e.to_string(),
    })
}

/// A frame from the server. Each variant is one `type` on the wire, its
/// fields those of docs/protocol.md; the connection and the hub build these
/// and serialise each once ([`ServerFrame::encode`]).
#[derive(Debug, Serialize, ts_rs::TS)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerFrame {
    /// Authenticated; `since` is the position live delivery starts after;
    /// `token` is a renewed access token when the one used was past half its life.
    Ready {
        user: Me,
        since: i64,
        protocol: u32,
        #[ts(type = "string | null")]
        token: Option<Redacted>,
    },
    /// The client's `send` is committed; `id` is null when the send had none.
    Ack {
        #[ts(type = "string | number | null")]
        id: Option<Value>,
        message: MessageView,
    },
    /// A new message in one of the user's rooms.
    Message { message: MessageView },
    /// The answer to a `sync` frame.
    Sync {
        #[ts(type = "string | number | null")]
        id: Option<Value>,
        #[serde(flatten)]
        sync: SyncView,
    },
    /// The answer to a `read` frame that moved nothing: the position as it
    /// is, without a stream position.
    Read {
        #[ts(type = "string | number | null")]
        id: Option<Value>,
        room_id: RoomId,
        user_id: UserId,
        seq: i64,
    },
    /// A message's content is gone for everyone; `notice` is the system
    /// message announcing it (sync returns that notice, with `event`
    /// `revoked` or `removed` and `ref_id`, instead of this frame).
    Revoked {
        room_id: RoomId,
        message_id: MessageId,
        message: MessageView,
        notice: MessageView,
        by_admin: bool,
    },
    /// The answer to `ping`.
    Pong {
        #[ts(type = "string | number | null")]
        id: Option<Value>,
    },
    /// The connection fell behind and is being closed; call sync.
    Resync,
    /// A room changed (name, dissolution, roles...).
    RoomUpdated {
        room: RoomView,
        members: Vec<MemberView>,
    },
    /// Members were added to a room.
    MemberJoined {
        room_id: RoomId,
        room: RoomView,
        members: Vec<MemberView>,
    },
    /// A member left a room or was removed.
    MemberLeft {
        room_id: RoomId,
        room: RoomView,
        user_id: UserId,
    },
    /// `user_id` came online or went offline.
    Presence { user_id: UserId, online: bool },
    /// A file's thumbnail or cover is ready.
    FileUpdated { file: AttachmentView },
    /// `user_id` is typing in `room_id`.
    Typing { room_id: RoomId, user_id: UserId },
    /// A refused frame; `id` is the request's, or null.
    Error {
        #[ts(type = "string | number | null")]
        id: Option<Value>,
        error: ErrorDetail,
    },
    /// A per-user event (`friend_request`, `read`, ...), as sync returns
    /// it: the notice carries its own `type`.
    #[serde(untagged)]
    Notice(NoticeView),
    /// A per-user event caused by this connection's request: the event
    /// with the request id (null when the request had none).
    #[serde(untagged)]
    NoticeReply {
        #[ts(type = "string | number | null")]
        id: Option<Value>,
        #[serde(flatten)]
        notice: NoticeView,
    },
}

/// The `error` of an `error` frame.
#[derive(Debug, Serialize, ts_rs::TS)]
#[ts(rename = "FrameErrorDetail")]
pub struct ErrorDetail {
    pub code: ErrorCode,
    pub message: String,
}

impl ServerFrame {
    /// `ready` for `user`, live from `since`.
    pub fn ready(user: Me, since: i64, token: Option<String>) -> ServerFrame {
        ServerFrame::Ready {
            user,
            since,
            protocol: PROTOCOL_VERSION,
            token: token.map(Redacted::new),
        }
    }

    /// An `error` frame.
    pub fn error(id: Option<Value>, code: ErrorCode, message: impl Into<String>) -> ServerFrame {
        ServerFrame::Error {
            id,
            error: ErrorDetail {
                code,
                message: message.into(),
            },
        }
    }

    /// An [`ApiError`] as an `error` frame; internal causes are logged, not sent.
    pub fn api_error(id: Option<Value>, e: &ApiError) -> ServerFrame {
        if e.status().is_server_error() {
            tracing::error!(code = e.code().as_str(), error = ?e, "websocket request failed");
        }
        let message = match e {
            ApiError::Validation(f) => {
                f.0.iter()
                    .map(|(k, v)| format!("{k} {v}"))
                    .collect::<Vec<_>>()
                    .join("; ")
            }
            other => other.to_string(),
        };
        ServerFrame::error(id, e.code(), message)
    }

    /// The frame as the text sent on the socket.
    pub fn encode(&self) -> String {
        // Only a map with non-string keys or a failing `Serialize` impl can
        // fail here, and no frame holds either.
        serde_json::to_string(self).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_parse_strictly_and_errors_keep_the_id() {
        assert!(matches!(
            parse(r#"{"type":"ping","id":7}"#),
            Ok(ClientFrame::Ping { .. })
        ));
        let e = parse(r#"{"type":"send","id":"a1","room_id":"x"}"#).expect_err("bad");
        assert_eq!(
            (e.code.as_str(), e.id),
            ("invalid_frame", Some(Value::from("a1")))
        );
        assert_eq!(
            parse("{nope").expect_err("bad").code.as_str(),
            "invalid_frame"
        );
        assert_eq!(
            parse(r#"{"type":"dance","id":1}"#)
                .expect_err("bad")
                .code
                .as_str(),
            "unknown_type"
        );
        assert_eq!(
            parse(r#"{"id":1}"#).expect_err("bad").code.as_str(),
            "invalid_frame"
        );
        assert!(matches!(
            parse(r#"{"type":"typing","id":"t","room_id":4}"#),
            Ok(ClientFrame::Typing { room_id: 4, .. })
        ));
        assert!(matches!(
            parse(r#"{"type":"typing","room_id":4}"#),
            Ok(ClientFrame::Typing { id: None, .. })
        ));
        let e = parse(r#"{"type":"typing","id":"t"}"#).expect_err("no room");
        assert_eq!(
            (e.code.as_str(), e.id),
            ("invalid_frame", Some(Value::from("t")))
        );
        let big = format!(
            r#"{{"type":"ping","pad":"{}"}}"#,
            "x".repeat(MAX_CLIENT_FRAME)
        );
        assert_eq!(
            parse(&big).expect_err("bad").code.as_str(),
            "frame_too_large"
        );
    }

    fn wire(frame: &ServerFrame) -> Value {
        serde_json::from_str(&frame.encode()).expect("a frame is JSON")
    }

    #[test]
    fn server_frames_keep_their_wire_shape() {
        use serde_json::json;
        let cases = [
            (
                ServerFrame::Pong { id: None },
                json!({"type": "pong", "id": null}),
            ),
            (ServerFrame::Resync, json!({"type": "resync"})),
            (
                ServerFrame::error(Some(Value::from("q")), ErrorCode::RateLimited, "slow down"),
                json!({"type": "error", "id": "q",
                       "error": {"code": "rate_limited", "message": "slow down"}}),
            ),
            (
                ServerFrame::Read {
                    id: None,
                    room_id: RoomId(4),
                    user_id: UserId(7),
                    seq: 3,
                },
                json!({"type": "read", "id": null, "room_id": 4, "user_id": 7, "seq": 3}),
            ),
            (
                ServerFrame::Typing {
                    room_id: RoomId(4),
                    user_id: UserId(7),
                },
                json!({"type": "typing", "room_id": 4, "user_id": 7}),
            ),
            (
                ServerFrame::Presence {
                    user_id: UserId(7),
                    online: false,
                },
                json!({"type": "presence", "user_id": 7, "online": false}),
            ),
            (
                ServerFrame::Sync {
                    id: Some(Value::from(2)),
                    sync: SyncView {
                        next: MessageId(9),
                        rooms: Default::default(),
                        notices: vec![],
                        notices_limited: false,
                    },
                },
                json!({"type": "sync", "id": 2, "next": 9, "rooms": {},
                       "notices": [], "notices_limited": false}),
            ),
        ];
        for (frame, expected) in cases {
            assert_eq!(wire(&frame), expected);
        }
    }

    #[test]
    fn notices_carry_their_own_type_and_replies_the_request_id() {
        use serde_json::json;
        let notice = NoticeView::Read {
            position: MessageId(12),
            room_id: RoomId(4),
            user_id: UserId(7),
            seq: 3,
        };
        let live = json!({"type": "read", "position": 12, "room_id": 4, "user_id": 7, "seq": 3});
        assert_eq!(wire(&ServerFrame::Notice(notice.clone())), live);
        let mut reply = live;
        reply["id"] = Value::Null;
        assert_eq!(
            wire(&ServerFrame::NoticeReply {
                id: None,
                notice: notice.clone()
            }),
            reply
        );
        reply["id"] = Value::from("r1");
        assert_eq!(
            wire(&ServerFrame::NoticeReply {
                id: Some(Value::from("r1")),
                notice
            }),
            reply
        );
    }

    fn alice() -> crate::dto::Me {
        crate::dto::Me {
            id: UserId(1),
            username: "alice_01".into(),
            nickname: "alice".into(),
            avatar: None,
            invite_confirm: 1,
            read_receipts: true,
            role: roomy_core::Role::User,
            created_at: time::OffsetDateTime::UNIX_EPOCH,
        }
    }

    #[test]
    fn tokens_never_reach_debug() {
        let secret = "eyJhbGciOiJIUzI1NiJ9.secret-part";
        let frame = parse(&format!(r#"{{"type":"auth","id":1,"token":"{secret}"}}"#))
            .expect("an auth frame");
        let ClientFrame::Auth { token, .. } = &frame else {
            panic!("parsed as {frame:?}");
        };
        assert_eq!(token.expose(), secret, "the token itself is kept");
        assert!(!format!("{frame:?}").contains("secret-part"), "{frame:?}");
        let query: crate::gateway::WsQuery =
            serde_json::from_value(serde_json::json!({ "token": secret })).expect("a query");
        assert!(!format!("{query:?}").contains("secret-part"), "{query:?}");
        let ready = ServerFrame::ready(alice(), 0, Some(secret.to_owned()));
        assert!(!format!("{ready:?}").contains("secret-part"));
        assert_eq!(wire(&ready)["token"], secret, "but it is sent");
        assert_eq!(
            wire(&ServerFrame::ready(alice(), 5, None))["token"],
            Value::Null
        );
    }
}
