//! Friend requests and friends on the wire.

use crate::error::{ApiError, ErrorCode, refusal};
use roomy_app::FriendError;
use roomy_store::Refusal;

impl From<FriendError> for ApiError {
    fn from(e: FriendError) -> Self {
        match e {
            FriendError::GuestForbidden => ApiError::forbidden(
                ErrorCode::GuestForbidden,
                "guests cannot have friends; register an account",
            ),
            FriendError::Invalid(fields) => ApiError::Validation(fields),
            FriendError::UserNotFound => {
                ApiError::not_found(ErrorCode::UserNotFound, "no such user")
            }
            FriendError::RequestNotFound => {
                ApiError::not_found(ErrorCode::RequestNotFound, "no such request among yours")
            }
            FriendError::FriendNotFound => {
                ApiError::not_found(ErrorCode::FriendNotFound, "no such user among your friends")
            }
            // The graph's refusals read the same wherever they happen.
            FriendError::Blocked => refusal(Refusal::Blocked),
            FriendError::YouBlockedUser => refusal(Refusal::YouBlocked),
            FriendError::UserDisabled => refusal(Refusal::UserDisabled),
            FriendError::AlreadyFriends => refusal(Refusal::AlreadyFriends),
            FriendError::RequestPending => refusal(Refusal::RequestPending),
            FriendError::IncomingRequestPending => refusal(Refusal::IncomingRequestPending),
            FriendError::NotRequestTarget => refusal(Refusal::NotRequestTarget),
            FriendError::AlreadyAnswered => refusal(Refusal::AlreadyAnswered),
            FriendError::Refused(why) => refusal(why),
            FriendError::Store(e) => e.into(),
            FriendError::Write(e) => e.into(),
        }
    }
}
