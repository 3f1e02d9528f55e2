use crate::error::{ApiError, ErrorCode};
use roomy_app::TypingError;

impl From<TypingError> for ApiError {
    fn from(e: TypingError) -> Self {
        match e {
            // The gateway answers this one itself, with the window in its message.
            TypingError::Limited => ApiError::RateLimited {
                retry_after_secs: roomy_app::TYPING_WINDOW.whole_seconds().unsigned_abs(),
            },
            TypingError::NotMember => {
                ApiError::not_found(ErrorCode::RoomNotFound, "no such room among yours")
            }
            TypingError::Store(e) => e.into(),
        }
    }
}
