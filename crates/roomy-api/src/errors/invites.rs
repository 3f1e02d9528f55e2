//! How a refused invite operation reaches the wire.

use crate::error::{ApiError, ErrorCode, refusal};
use roomy_app::InviteError;

impl From<InviteError> for ApiError {
    fn from(e: InviteError) -> Self {
        match e {
            InviteError::NotFound => {
                ApiError::not_found(ErrorCode::InviteNotFound, "no such invite link")
            }
            InviteError::Expired => {
                ApiError::gone(ErrorCode::InviteExpired, "this invite link has expired")
            }
            InviteError::UsedUp => ApiError::gone(
                ErrorCode::InviteExhausted,
                "this invite link has been used as often as it allows",
            ),
            InviteError::Revoked => {
                ApiError::gone(ErrorCode::InviteRevoked, "this invite link was revoked")
            }
            InviteError::Banned => refusal(roomy_store::Refusal::Banned),
            InviteError::Dissolved => ApiError::gone(
                ErrorCode::RoomDissolved,
                "this group was dissolved and takes no new members",
            ),
            InviteError::Room(e) => e.into(),
            InviteError::Invalid(fields) => ApiError::Validation(fields),
            InviteError::Store(e) => e.into(),
            InviteError::Write(e) => e.into(),
        }
    }
}
