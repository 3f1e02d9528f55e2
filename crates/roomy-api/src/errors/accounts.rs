//! Accounts and sessions on the wire.

use crate::error::{ApiError, ErrorCode};
use roomy_app::AccountError;
use roomy_core::FieldErrors;

impl From<AccountError> for ApiError {
    fn from(e: AccountError) -> Self {
        match e {
            AccountError::Invalid(fields) => ApiError::Validation(fields),
            AccountError::UsernameTaken => {
                let mut fields = FieldErrors::new();
                fields.add("username", "is already taken");
                ApiError::Conflict {
                    code: ErrorCode::UsernameTaken,
                    message: "that username is already taken".into(),
                    fields,
                }
            }
            AccountError::InvalidCredentials => ApiError::Unauthenticated {
                code: ErrorCode::InvalidCredentials,
                message: "wrong username or password",
            },
            AccountError::NoPassword => {
                ApiError::forbidden(ErrorCode::NoPassword, "guest accounts have no password")
            }
            AccountError::WrongPassword => {
                ApiError::forbidden(ErrorCode::WrongPassword, "the old password is not correct")
            }
            AccountError::SessionNotFound => ApiError::not_found(
                ErrorCode::SessionNotFound,
                "no such active session of yours",
            ),
            AccountError::UnknownSession => ApiError::Unauthenticated {
                code: ErrorCode::InvalidToken,
                message: "the token is not valid",
            },
            AccountError::AccountDisabled => ApiError::Unauthenticated {
                code: ErrorCode::AccountDisabled,
                message: "this account has been disabled",
            },
            AccountError::SessionEnded => ApiError::Unauthenticated {
                code: ErrorCode::SessionEnded,
                message: "this session has ended; log in again",
            },
            AccountError::GuestName(_) | AccountError::Password(_) => ApiError::internal(e),
            AccountError::Store(e) => e.into(),
        }
    }
}
