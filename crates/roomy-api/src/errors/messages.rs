//! How a [`MessageError`] reaches the wire.

use crate::error::{ApiError, ErrorCode, refusal};
use roomy_app::MessageError;

impl From<MessageError> for ApiError {
    fn from(e: MessageError) -> Self {
        match e {
            MessageError::RoomNotFound => {
                ApiError::not_found(ErrorCode::RoomNotFound, "no such room among yours")
            }
            MessageError::RoomDissolved => ApiError::forbidden(
                ErrorCode::RoomDissolved,
                "this group was dissolved: it can be read, not changed",
            ),
            MessageError::MessageNotFound => {
                ApiError::not_found(ErrorCode::MessageNotFound, "no such message among yours")
            }
            MessageError::NotYours(missing) => ApiError::field(
                "ids",
                format!(
                    "not messages of yours: {}",
                    missing
                        .iter()
                        .map(|m| m.0.to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ),
            MessageError::NotYourMessage => ApiError::forbidden(
                ErrorCode::NotYourMessage,
                "only the sender may revoke a message",
            ),
            MessageError::CannotRevokeNotice => ApiError::forbidden(
                ErrorCode::CannotRevokeNotice,
                "system notices cannot be revoked",
            ),
            MessageError::RevokeWindowPassed { window } => ApiError::conflict(
                ErrorCode::RevokeWindowPassed,
                format!(
                    "messages can be revoked for {} seconds after sending",
                    window.whole_seconds()
                ),
            ),
            MessageError::Invalid(fields) => ApiError::Validation(fields),
            MessageError::Refused(why) => refusal(why),
            MessageError::Store(e) => e.into(),
            MessageError::Write(e) => e.into(),
        }
    }
}
