//! User lookups and searches on the wire.

use crate::error::{ApiError, ErrorCode};
use roomy_app::UserError;

impl From<UserError> for ApiError {
    fn from(e: UserError) -> Self {
        match e {
            UserError::UserNotFound => ApiError::not_found(ErrorCode::UserNotFound, "no such user"),
            UserError::GuestForbidden => {
                ApiError::forbidden(ErrorCode::GuestForbidden, "guests may not search users")
            }
            UserError::QueryLength => ApiError::field("q", e.to_string()),
            UserError::Store(e) => e.into(),
        }
    }
}
