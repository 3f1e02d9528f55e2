//! Administration on the wire.

use crate::error::{ApiError, ErrorCode};
use roomy_app::ModerationError;

impl From<ModerationError> for ApiError {
    fn from(e: ModerationError) -> Self {
        match e {
            ModerationError::AdminOnly => {
                ApiError::forbidden(ErrorCode::AdminOnly, "only administrators may do this")
            }
            ModerationError::CannotDisableSelf => ApiError::Unprocessable {
                code: ErrorCode::CannotDisableSelf,
                message: "administrators cannot disable their own account".into(),
            },
            ModerationError::UserNotFound => {
                ApiError::not_found(ErrorCode::UserNotFound, "no such user")
            }
            ModerationError::MessageNotFound => {
                ApiError::not_found(ErrorCode::MessageNotFound, "no such message among yours")
            }
            ModerationError::Invalid(field, why) => ApiError::field(field, why),
            ModerationError::Store(e) => e.into(),
            ModerationError::Write(e) => e.into(),
        }
    }
}
