//! The service layer: every operation of the product, its rules, rights
//! checks and events, between the adapters (HTTP, WebSocket, CLI) and the
//! store, the writer and the bus.
//!
//! [`Writer`] is the only way messages are stored: a single task drains a
//! bounded queue and commits everything waiting in ONE transaction (group
//! commit), then publishes the committed messages on the bus and answers each
//! sender. Nobody is told "sent" before the commit.

mod app;
mod changes;
mod graph;
mod presence;
mod writer;

pub use app::{App, AppSettings};
pub use changes::{ChangeKind, change_envelopes};
pub use graph::{FollowGraph, GraphError, Relation};
pub use presence::{LocalPresence, Presence};
pub use writer::{WriteError, Writer, WriterConfig};
