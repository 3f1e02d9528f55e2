//! Account roles.

use serde::{Deserialize, Serialize};

/// What an account may do. Guests (no password, made by `POST /auth/guest`) chat only where invited; admins moderate.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema, ts_rs::TS,
)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    User,
    Guest,
    Admin,
}

impl Role {
    /// The stable name stored in the database and sent on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::User => "user",
            Role::Guest => "guest",
            Role::Admin => "admin",
        }
    }

    /// Parses a stored role name.
    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "user" => Some(Role::User),
            "guest" => Some(Role::Guest),
            "admin" => Some(Role::Admin),
            _ => None,
        }
    }
}
