//! Roomy's shared vocabulary: ids, validated newtypes, roles, the clock and the
//! configuration. Every other crate depends on this one; it depends on none of them.

pub mod chat_fields;
pub mod clock;
pub mod config;
pub mod ids;
pub mod role;
pub mod social_fields;
pub mod user_fields;
pub mod validation;

pub use clock::{Clock, ManualClock, SystemClock};
pub use config::Config;
pub use ids::{FileId, MessageId, RoomId, SessionId, UserId};
pub use role::Role;
pub use validation::FieldErrors;
