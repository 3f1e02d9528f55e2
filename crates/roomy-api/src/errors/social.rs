//! The follow graph and blocks on the wire.

use crate::error::{ApiError, ErrorCode, refusal};
use roomy_app::SocialError;
use roomy_store::Refusal;

impl From<SocialError> for ApiError {
    fn from(e: SocialError) -> Self {
        match e {
            SocialError::NotYourself(_) => ApiError::field("user_id", e.to_string()),
            SocialError::UserNotFound => {
                ApiError::not_found(ErrorCode::UserNotFound, "no such user")
            }
            SocialError::Blocked => refusal(Refusal::Blocked),
            SocialError::YouBlockedUser => refusal(Refusal::YouBlocked),
            SocialError::Refused(why) => refusal(why),
            SocialError::Store(e) => e.into(),
        }
    }
}
