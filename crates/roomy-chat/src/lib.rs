//! Messaging services between the API and the store.
//!
//! [`Writer`] is the only way messages are stored: a single task drains a
//! bounded queue and commits everything waiting in ONE transaction (group
//! commit), then publishes the committed messages on the bus and answers each
//! sender. Nobody is told "sent" before the commit.

mod changes;
mod graph;
mod writer;

pub use changes::{ChangeKind, change_envelopes};
pub use graph::{FollowGraph, GraphError, Relation};
pub use writer::{WriteError, Writer, WriterConfig};
