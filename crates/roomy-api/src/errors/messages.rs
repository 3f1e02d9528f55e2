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

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::StatusCode;
    use roomy_core::MessageId;

    #[test]
    fn each_message_error_keeps_its_status_code_and_words() {
        let cases = [
            (
                MessageError::RoomNotFound,
                StatusCode::NOT_FOUND,
                ErrorCode::RoomNotFound,
                "no such room among yours",
            ),
            (
                MessageError::RoomDissolved,
                StatusCode::FORBIDDEN,
                ErrorCode::RoomDissolved,
                "this group was dissolved: it can be read, not changed",
            ),
            (
                MessageError::MessageNotFound,
                StatusCode::NOT_FOUND,
                ErrorCode::MessageNotFound,
                "no such message among yours",
            ),
            (
                MessageError::NotYourMessage,
                StatusCode::FORBIDDEN,
                ErrorCode::NotYourMessage,
                "only the sender may revoke a message",
            ),
            (
                MessageError::CannotRevokeNotice,
                StatusCode::FORBIDDEN,
                ErrorCode::CannotRevokeNotice,
                "system notices cannot be revoked",
            ),
            (
                MessageError::RevokeWindowPassed {
                    window: time::Duration::seconds(120),
                },
                StatusCode::CONFLICT,
                ErrorCode::RevokeWindowPassed,
                "messages can be revoked for 120 seconds after sending",
            ),
        ];
        for (error, status, code, message) in cases {
            let e = ApiError::from(error);
            assert_eq!(
                (e.status(), e.code(), e.to_string().as_str()),
                (status, code, message)
            );
        }
        match ApiError::from(MessageError::NotYours(vec![MessageId(3), MessageId(9)])) {
            ApiError::Validation(f) => assert_eq!(f.0["ids"], "not messages of yours: 3, 9"),
            other => panic!("{other:?}"),
        }
    }
}
