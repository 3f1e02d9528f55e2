//! Typed ids, so a session id can never be passed where a user id is meant.

use serde::{Deserialize, Serialize};
use std::fmt;

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(
            Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
            utoipa::ToSchema, ts_rs::TS,
        )]
        #[serde(transparent)]
        #[schema(value_type = i64)]
        pub struct $name(pub i64);

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }
    };
}

id_type!(
    /// A user account's id.
    UserId
);
id_type!(
    /// A login session's id; carried inside access tokens.
    SessionId
);
id_type!(
    /// A room's id.
    RoomId
);
id_type!(
    /// A message's id: also its position in the server-wide message stream,
    /// assigned in commit order (see ARCHITECTURE.md, "Sync positions").
    MessageId
);
id_type!(
    /// A stored file's id; a resumable upload has the id its file will have.
    FileId
);
