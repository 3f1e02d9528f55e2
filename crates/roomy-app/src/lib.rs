//! The service layer: every operation of the product, its rules, rights
//! checks and events, between the adapters (HTTP, WebSocket, CLI) and the
//! store, the writer and the bus.
//!
//! [`Writer`] is the only way messages are stored: a single task drains a
//! bounded queue and commits everything waiting in ONE transaction (group
//! commit), then publishes the committed messages on the bus and answers each
//! sender. Nobody is told "sent" before the commit.

pub mod accounts;
mod app;
mod changes;
mod favorites;
pub mod files;
pub mod friends;
mod graph;
mod guests;
mod invites;
mod lifecycle;
mod messages;
pub mod moderation;
mod passwords;
mod presence;
mod replay;
mod rooms;
pub mod social;
mod typing;
pub mod users;
mod writer;

pub use accounts::AccountError;
pub use app::{App, AppSettings};
pub(crate) use changes::{ChangeKind, change_envelopes};
pub use favorites::Favorited;
pub use files::{FileError, FileSettings, Files};
pub use friends::FriendError;
pub use graph::{FollowGraph, GraphError, Relation};
pub use invites::{CreatedInvite, InviteError, InviteInput, InviteLead};
pub use lifecycle::MAX_DELETE_BATCH;
pub(crate) use lifecycle::revocation_envelopes;
pub use messages::{
    HistoryWindow, ListFilter, MessageError, PendingSend, SendInput, Sent, SyncFrom,
};
pub use moderation::ModerationError;
pub use passwords::{PasswordError, Passwords};
pub use presence::{LocalPresence, Presence, hand_back_lease};
pub use replay::REPLAY_MAX;
pub use rooms::{
    GroupCapacity, GuestLimit, MemberInput, NewGroupInput, RoomError, RoomProfileInput,
};
pub use social::SocialError;
pub use typing::{TYPING_WINDOW, TypingError, TypingLimiter};
pub use users::UserError;
pub use writer::{WriteError, Writer, WriterConfig};
