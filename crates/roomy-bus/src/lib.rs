//! The Bus: how committed events reach the gateways that deliver them.
//!
//! Writers publish an [`Envelope`] after the change is committed; every
//! gateway (one per node) subscribes and delivers to its local connections of
//! the envelope's recipients. The gateway never asks the store who should get
//! what: recipients travel with the event, computed in the committing
//! transaction, so a membership change applies to the very next event.
//! Live state (presence, typing) is not committed: the gateway publishes it
//! with the recipients it read from the store when it happened.
//!
//! The bus is a fast, lossy notification path: durability and order live in
//! the database (every event that matters carries its stream position), so a
//! network bus may drop, duplicate or reorder, and a subscriber that learns
//! it may have missed something ([`RecvError::Lagged`],
//! [`RecvError::Interrupted`]) catches up from the store.
//!
//! [`InProcessBus`] serves a single node; [`NetworkBus`] carries events
//! between nodes over NATS or Redis pub/sub (see `docs/design/bus.md`).
//! Order: events published by one task are received in that order, on
//! every node.

mod nats;
mod network;
mod redis_bus;

#[cfg(test)]
mod contract;
#[cfg(test)]
mod samples;

pub use network::{BusStats, NetworkBus, NetworkOptions};

use async_trait::async_trait;
use roomy_core::{RoomId, SessionId, UserId};
use roomy_store::{FileRef, Member, Message, Notice, Room};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use tokio::sync::broadcast;

/// Something that happened, for the people it concerns. Serialised (JSON)
/// when it crosses to other nodes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Event {
    /// A message was committed.
    Message(Message),
    /// Users joined a room (or a room was created with them).
    MembersJoined { room: Room, members: Vec<Member> },
    /// A user left or was removed.
    MemberLeft { room: Room, user: UserId },
    /// A room's profile or a member's role changed.
    RoomUpdated { room: Room, members: Vec<Member> },
    /// A per-user event (friend request, acceptance, read position, ...),
    /// at its stream position. `origin` on the envelope names the
    /// connection that asked for it, which gets it with its request id.
    Notice(Notice),
    /// A message was revoked by its sender (or removed by an admin):
    /// `message` without its body, and the notice announcing it.
    Revoked {
        message: Message,
        notice: Message,
        by_admin: bool,
    },
    /// Sessions of a user ended (logout, password change, disabled account):
    /// their live connections close. All sessions, all but `except`, or only `only`.
    SessionsEnded {
        user: UserId,
        except: Option<SessionId>,
        only: Option<SessionId>,
        /// The account was disabled: clients are told so, not only that
        /// the session ended.
        disabled: bool,
    },
    /// A user came online (its first live connection) or went offline (its
    /// last one closed and the grace period passed) on `node` (a presence
    /// id). Live state, never stored: a receiver whose own or other nodes'
    /// connections keep the user online drops an offline.
    Presence {
        user: UserId,
        online: bool,
        node: u64,
    },
    /// `node`'s users online now: its lease, renewed every few seconds, which
    /// the others count until it expires (a node that died takes its users
    /// offline with it). No recipients: for the nodes, not for clients.
    PresenceLease { node: u64, users: Vec<UserId> },
    /// A member is typing in a room. Live state, never stored.
    Typing { room: RoomId, user: UserId },
    /// A file's thumbnail or cover frame was made: for its owner and the
    /// members of the rooms it was sent in.
    FileUpdated(FileRef),
}

/// The connection an event was caused by, so it is answered there with an
/// `ack` carrying the request id, in line with the events around it,
/// instead of receiving the event as a `message`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Origin {
    /// The node's random id.
    pub node: u64,
    /// The connection's id on that node.
    pub conn: u64,
    /// The client's request id, as JSON text (`"a1"`, `7`), if it gave one.
    pub request: Option<String>,
}

/// An event and who must receive it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Envelope {
    pub recipients: Vec<UserId>,
    pub event: Event,
    pub origin: Option<Origin>,
}

/// Why a subscription could not deliver the next event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RecvError {
    /// The subscriber fell behind and `0` events were dropped: everything
    /// it serves must resynchronise from the store.
    #[error("subscriber lagged; {0} events lost")]
    Lagged(u64),
    /// The connection to the other nodes was lost and is back (or the
    /// inbound queue overflowed): events from other nodes in between may be
    /// lost; catch up from the store.
    #[error("bus connection interrupted")]
    Interrupted,
    /// The bus is gone.
    #[error("bus closed")]
    Closed,
}

/// Why an event was not handed to the other nodes. The event is committed:
/// receivers catch it up from the store; the caller logs and goes on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BusError {
    /// The outgoing queue is full (the bus is slow or unreachable).
    #[error("bus queue full: event dropped")]
    Full,
    /// The bus cannot be reached.
    #[error("bus unavailable: {0}")]
    Unavailable(String),
    /// The event could not be encoded.
    #[error("bus encoding failed: {0}")]
    Encode(String),
}

/// A stream of envelopes.
#[async_trait]
pub trait Subscription: Send {
    /// The next envelope.
    async fn recv(&mut self) -> Result<Arc<Envelope>, RecvError>;
}

/// The fan-out boundary.
#[async_trait]
pub trait Bus: Send + Sync + 'static {
    /// Hands a committed event to every node's subscribers. This node's
    /// subscribers always get it; a network bus never waits on the network
    /// here (it queues, bounded) and an `Err` says the other nodes may not.
    async fn publish(&self, envelope: Envelope) -> Result<(), BusError>;
    /// Hands an event to this node's subscribers only: state that every
    /// node works out for itself (a dead node's users going offline).
    fn publish_local(&self, envelope: Envelope);
    /// A new subscription receiving everything published from now on.
    fn subscribe(&self) -> Box<dyn Subscription>;
    /// Whether the other nodes can be reached now (`/readyz`).
    async fn check(&self) -> Result<(), BusError>;
    /// Waits, at most `within`, until what was published so far has reached
    /// the bus server: for a node that is stopping.
    async fn flush(&self, within: std::time::Duration) {
        let _ = within;
    }
    /// What a network bus has sent, received and lost so far (`/metrics`);
    /// none for the in-process bus, which loses nothing on a network.
    fn network_stats(&self) -> Option<BusStats> {
        None
    }
}

/// Publishes `envelope`; a failure is logged, not returned: the event is
/// committed, and other nodes catch it up from the store.
pub async fn announce(bus: &dyn Bus, envelope: Envelope) {
    if let Err(e) = bus.publish(envelope).await {
        tracing::warn!(error = %e, "event not handed to the bus; other nodes catch up from the store");
    }
}

/// A bus inside one process (one node), over a bounded broadcast channel.
#[derive(Debug, Clone)]
pub struct InProcessBus {
    tx: broadcast::Sender<Arc<Envelope>>,
}

impl InProcessBus {
    /// A bus buffering up to `capacity` events for its slowest subscriber.
    pub fn new(capacity: usize) -> InProcessBus {
        let (tx, _) = broadcast::channel(capacity.max(16));
        InProcessBus { tx }
    }
}

#[async_trait]
impl Bus for InProcessBus {
    async fn publish(&self, envelope: Envelope) -> Result<(), BusError> {
        self.publish_local(envelope);
        Ok(())
    }

    fn publish_local(&self, envelope: Envelope) {
        // No subscriber (no gateway yet) is not an error: the store has it all.
        let _ = self.tx.send(Arc::new(envelope));
    }

    fn subscribe(&self) -> Box<dyn Subscription> {
        Box::new(InProcessSubscription {
            rx: self.tx.subscribe(),
        })
    }

    async fn check(&self) -> Result<(), BusError> {
        Ok(())
    }
}

struct InProcessSubscription {
    rx: broadcast::Receiver<Arc<Envelope>>,
}

#[async_trait]
impl Subscription for InProcessSubscription {
    async fn recv(&mut self) -> Result<Arc<Envelope>, RecvError> {
        self.rx.recv().await.map_err(|e| match e {
            broadcast::error::RecvError::Lagged(n) => RecvError::Lagged(n),
            broadcast::error::RecvError::Closed => RecvError::Closed,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use roomy_core::chat_fields::RoomKind;

    fn room() -> Room {
        Room {
            id: RoomId(1),
            kind: RoomKind::Group,
            name: None,
            avatar: None,
            created_by: UserId(1),
            created_at: time::OffsetDateTime::UNIX_EPOCH,
            updated_at: time::OffsetDateTime::UNIX_EPOCH,
            last_seq: 0,
            member_count: 1,
            dissolved_at: None,
        }
    }

    fn env(user: i64) -> Envelope {
        Envelope {
            recipients: vec![UserId(user)],
            event: Event::MemberLeft {
                room: room(),
                user: UserId(user),
            },
            origin: None,
        }
    }

    #[tokio::test]
    async fn subscribers_get_events_in_order_and_learn_when_they_lag() {
        let bus = InProcessBus::new(16);
        let mut sub = bus.subscribe();
        for i in 0..3 {
            bus.publish(env(i)).await.expect("published");
        }
        for i in 0..3 {
            assert_eq!(sub.recv().await.expect("event").recipients, vec![UserId(i)]);
        }
        for i in 0..40 {
            bus.publish_local(env(i));
        }
        assert!(matches!(sub.recv().await, Err(RecvError::Lagged(_))));
    }
}
