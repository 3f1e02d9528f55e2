//! Wire types: the JSON shapes of the HTTP API (`docs/openapi.json`). Request types refuse unknown fields;
//! response types are built from domain records and never carry secrets.

mod accounts;
mod chat;
pub(crate) mod files;
mod invites;
mod lifecycle;
mod social;

pub use accounts::*;
pub use chat::*;
pub use files::*;
pub use invites::*;
pub use lifecycle::*;
pub use social::*;
