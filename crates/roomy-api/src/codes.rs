//! The machine-readable codes of every error the server sends, over HTTP
//! (`{"error": {"code"}}`) and over the WebSocket (`error` frames).
//!
//! A code never changes meaning once published: clients branch on it. Add
//! codes freely; never rename or reuse one (the test below lists them all).

use serde::{Deserialize, Serialize};

/// One error code, `snake_case` on the wire.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    Serialize,
    Deserialize,
    strum::IntoStaticStr,
    strum::EnumIter,
    utoipa::ToSchema,
    ts_rs::TS,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum ErrorCode {
    AccountDisabled,
    AdminOnly,
    AlreadyAnswered,
    AlreadyAuthenticated,
    AlreadyFriends,
    BanNotFound,
    Banned,
    Blocked,
    BodyTimeout,
    CannotDisableSelf,
    CannotMessageSelf,
    CannotRemoveMember,
    CannotRevokeNotice,
    ChecksumAlgorithmUnsupported,
    ChecksumMismatch,
    ChunkIncomplete,
    Conflict,
    FfmpegUnavailable,
    FileNotFound,
    Forbidden,
    FrameTooLarge,
    FramesBusy,
    FriendNotFound,
    GroupFull,
    GuestForbidden,
    IncomingRequestPending,
    Internal,
    InvalidBody,
    InvalidChecksum,
    InvalidCredentials,
    InvalidFrame,
    InvalidMetadata,
    InvalidMultipart,
    InvalidPath,
    InvalidQuery,
    InvalidToken,
    InviteExhausted,
    InviteExpired,
    InviteNotFound,
    InviteRevoked,
    LengthRequired,
    MalformedJson,
    MemberNotFound,
    MessageNotFound,
    MessageRejected,
    MethodNotAllowed,
    NoCover,
    NoFrame,
    NoPassword,
    NoThumbnail,
    NotAGroup,
    NotAVideo,
    NotFound,
    NotFriends,
    NotRequestTarget,
    NotRoomAdmin,
    NotRoomOwner,
    NotYourMessage,
    NotYourself,
    OffsetMismatch,
    OffsetRequired,
    OwnerCannotLeave,
    PayloadTooLarge,
    QuotaExceeded,
    RangeNotSatisfiable,
    RateLimited,
    RequestNotFound,
    RequestPending,
    RevokeWindowPassed,
    RoomDissolved,
    RoomNotFound,
    RouteNotFound,
    SessionEnded,
    SessionNotFound,
    TokenExpired,
    TooLarge,
    TooManyConnections,
    TooManyUploads,
    TusVersionUnsupported,
    Unauthenticated,
    Unavailable,
    UnknownType,
    UnreadableBody,
    UnreadableVideo,
    UnsupportedMediaType,
    UploadConflict,
    UploadExpired,
    UploadNotFound,
    UploadOverflow,
    UserDisabled,
    UserNotFound,
    UsernameTaken,
    ValidationFailed,
    WebsocketRequired,
    WrongPassword,
    YouBlockedUser,
}

impl ErrorCode {
    /// The code as it appears on the wire.
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use strum::IntoEnumIterator;

    /// Every code, once. A code that disappears or changes its spelling
    /// breaks clients: extend the list, never edit a line of it.
    #[test]
    fn every_code_is_listed_once_and_keeps_its_spelling() {
        let published = [
            "account_disabled",
            "admin_only",
            "already_answered",
            "already_authenticated",
            "already_friends",
            "ban_not_found",
            "banned",
            "blocked",
            "body_timeout",
            "cannot_disable_self",
            "cannot_message_self",
            "cannot_remove_member",
            "cannot_revoke_notice",
            "checksum_algorithm_unsupported",
            "checksum_mismatch",
            "chunk_incomplete",
            "conflict",
            "ffmpeg_unavailable",
            "file_not_found",
            "forbidden",
            "frame_too_large",
            "frames_busy",
            "friend_not_found",
            "group_full",
            "guest_forbidden",
            "incoming_request_pending",
            "internal",
            "invalid_body",
            "invalid_checksum",
            "invalid_credentials",
            "invalid_frame",
            "invalid_metadata",
            "invalid_multipart",
            "invalid_path",
            "invalid_query",
            "invalid_token",
            "invite_exhausted",
            "invite_expired",
            "invite_not_found",
            "invite_revoked",
            "length_required",
            "malformed_json",
            "member_not_found",
            "message_not_found",
            "message_rejected",
            "method_not_allowed",
            "no_cover",
            "no_frame",
            "no_password",
            "no_thumbnail",
            "not_a_group",
            "not_a_video",
            "not_found",
            "not_friends",
            "not_request_target",
            "not_room_admin",
            "not_room_owner",
            "not_your_message",
            "not_yourself",
            "offset_mismatch",
            "offset_required",
            "owner_cannot_leave",
            "payload_too_large",
            "quota_exceeded",
            "range_not_satisfiable",
            "rate_limited",
            "request_not_found",
            "request_pending",
            "revoke_window_passed",
            "room_dissolved",
            "room_not_found",
            "route_not_found",
            "session_ended",
            "session_not_found",
            "token_expired",
            "too_large",
            "too_many_connections",
            "too_many_uploads",
            "tus_version_unsupported",
            "unauthenticated",
            "unavailable",
            "unknown_type",
            "unreadable_body",
            "unreadable_video",
            "unsupported_media_type",
            "upload_conflict",
            "upload_expired",
            "upload_not_found",
            "upload_overflow",
            "user_disabled",
            "user_not_found",
            "username_taken",
            "validation_failed",
            "websocket_required",
            "wrong_password",
            "you_blocked_user",
        ];
        let now: Vec<&str> = ErrorCode::iter().map(ErrorCode::as_str).collect();
        assert_eq!(now, published);
        let mut unique = published.to_vec();
        unique.dedup();
        assert_eq!(unique.len(), published.len());
        for code in ErrorCode::iter() {
            let wire = serde_json::to_value(code).expect("serialise");
            assert_eq!(wire, code.as_str());
        }
    }
}
