//! The WebSocket protocol's frames (docs/protocol.md). Client frames are
//! parsed strictly; server frames are built here so every part of the
//! gateway speaks the same shapes.

use crate::error::ErrorCode;
use crate::{
    dto::{Me, MemberView, MessageView, RoomView, SyncView},
    error::ApiError,
};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

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
        token: String,
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

/// `{"type": kind, ...fields}` as text.
fn frame(kind: &str, fields: Value) -> String {
    let mut v = fields;
    if let Value::Object(map) = &mut v {
        map.insert("type".into(), Value::String(kind.into()));
    }
    v.to_string()
}

/// `ready`: authenticated; `since` is the position live delivery starts
/// after; `token` is a renewed access token when the one used was past half its life.
pub fn ready(user: Me, since: i64, token: Option<String>) -> String {
    frame(
        "ready",
        json!({"user": user, "since": since, "protocol": PROTOCOL_VERSION, "token": token}),
    )
}

#[derive(Serialize)]
struct MessageFrame<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<&'a Value>,
    message: &'a MessageView,
}

/// `ack`: the client's `send` is committed. (Hot path: serialised directly.)
pub fn ack(id: Option<Value>, message: MessageView) -> String {
    serde_json::to_string(&MessageFrame {
        kind: "ack",
        id: Some(id.as_ref().unwrap_or(&Value::Null)),
        message: &message,
    })
    .unwrap_or_default()
}

/// `message`: a new message in one of the user's rooms. (Hot path.)
pub fn message(message: &MessageView) -> String {
    serde_json::to_string(&MessageFrame {
        kind: "message",
        id: None,
        message,
    })
    .unwrap_or_default()
}

/// `sync`: the answer to a `sync` frame.
pub fn sync(id: Option<Value>, sync: SyncView) -> String {
    let mut v = serde_json::to_value(sync).unwrap_or_else(|_| json!({}));
    if let Value::Object(map) = &mut v {
        map.insert("id".into(), id.unwrap_or(Value::Null));
    }
    frame("sync", v)
}

/// A per-user event (`friend_request`, `read`, ...), as sync returns it.
pub fn notice(notice: &crate::dto::NoticeView) -> String {
    serde_json::to_string(notice).unwrap_or_default()
}

/// A per-user event caused by this connection's request: the event with the request id.
pub fn notice_reply(id: Option<Value>, notice: &crate::dto::NoticeView) -> String {
    let mut v = serde_json::to_value(notice).unwrap_or_else(|_| json!({}));
    if let Value::Object(map) = &mut v {
        map.insert("id".into(), id.unwrap_or(Value::Null));
    }
    v.to_string()
}

/// `read` answering a `read` frame that moved nothing: the position as it is.
pub fn read_unchanged(id: Option<Value>, room_id: i64, user_id: i64, seq: i64) -> String {
    frame(
        "read",
        json!({"id": id, "room_id": room_id, "user_id": user_id, "seq": seq}),
    )
}

/// `revoked`: a message's content is gone for everyone; `notice` is the
/// system message announcing it (sync returns that notice, with `event`
/// `revoked` or `removed` and `ref_id`, instead of this frame).
pub fn revoked(message: &MessageView, notice: &MessageView, by_admin: bool) -> String {
    frame(
        "revoked",
        json!({"room_id": message.room_id, "message_id": message.id, "message": message,
               "notice": notice, "by_admin": by_admin}),
    )
}

/// `pong`.
pub fn pong(id: Option<Value>) -> String {
    frame("pong", json!({"id": id}))
}

/// `resync`: the connection fell behind and is being closed; call sync.
pub fn resync() -> String {
    frame("resync", json!({}))
}

/// `room_updated`.
pub fn room_updated(room: RoomView, members: Vec<MemberView>) -> String {
    frame("room_updated", json!({"room": room, "members": members}))
}

/// `member_joined`.
pub fn member_joined(room: RoomView, members: Vec<MemberView>) -> String {
    frame(
        "member_joined",
        json!({"room_id": room.id, "room": room, "members": members}),
    )
}

/// `member_left`.
pub fn member_left(room: RoomView, user_id: i64) -> String {
    frame(
        "member_left",
        json!({"room_id": room.id, "room": room, "user_id": user_id}),
    )
}

/// `presence`: `user_id` came online or went offline.
pub fn presence(user_id: i64, online: bool) -> String {
    frame("presence", json!({"user_id": user_id, "online": online}))
}

/// `file_updated`: a file's thumbnail or cover is ready.
pub fn file_updated(file: crate::dto::AttachmentView) -> String {
    frame("file_updated", json!({ "file": file }))
}

/// `typing`: `user_id` is typing in `room_id`.
pub fn typing(room_id: i64, user_id: i64) -> String {
    frame("typing", json!({"room_id": room_id, "user_id": user_id}))
}

/// `error`: `{id?, error: {code, message}}`.
pub fn error(id: Option<Value>, code: ErrorCode, message: &str) -> String {
    frame(
        "error",
        json!({"id": id, "error": {"code": code, "message": message}}),
    )
}

/// An [`ApiError`] as an `error` frame; internal causes are logged, not sent.
pub fn api_error(id: Option<Value>, e: &ApiError) -> String {
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
    error(id, e.code(), &message)
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
}
