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
pub mod files;
mod graph;
mod guests;
mod writer;

pub use app::{App, AppSettings};
pub use changes::{ChangeKind, change_envelopes};
pub use files::{FileError, FileSettings, Files};
pub use graph::{FollowGraph, GraphError, Relation};
pub use writer::{WriteError, Writer, WriterConfig};
