//! What every network bus shares, whatever carries its bytes: local delivery
//! through an in-process broadcast, the bounded outgoing queue and its one
//! publisher task, the wire format, and the signals (`Interrupted`) a
//! transport raises when events from other nodes may have been lost.
//!
//! A transport (`nats.rs`, `redis_bus.rs`) only sends batches of payloads in
//! order, hands the payloads it receives to [`Inbound::deliver`], and calls
//! [`Inbound::interrupted`] once its subscription is back after a loss.
//!
//! Each bus numbers what it hands to the network (`seq`, 1, 2, 3... in queue
//! order, a refused publish using its number too), so a receiver sees any
//! loss between two events of one sender, whatever caused it (a full queue
//! at either end, a publisher that could not send), and says
//! `Interrupted` before the later event; a repeated number is dropped.

use crate::{Bus, BusError, Envelope, RecvError, Subscription};
use async_trait::async_trait;
use bytes::Bytes;
use serde::Deserialize;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{broadcast, mpsc};
use tokio_util::sync::CancellationToken;

/// The version of the wire format; a payload of another version is dropped.
const WIRE_VERSION: u32 = 1;

/// Most payloads one send hands to the transport at once.
const BATCH: usize = 256;

/// Senders whose last number a receiver remembers; past it the memory is
/// cleared (node ids are new with every start, so old ones pile up).
const SENDERS: usize = 1_024;

/// How a network bus is set up.
#[derive(Debug, Clone)]
pub struct NetworkOptions {
    /// The name nodes of one cluster share: NATS subject `<channel>.events`,
    /// Redis channel `<channel>:events`. Clusters (and tests) on one server
    /// keep apart by using different channels.
    pub channel: String,
    /// Events waiting to be sent to the other nodes; past it `publish`
    /// returns [`BusError::Full`] at once.
    pub outgoing: usize,
    /// Events received from the other nodes and not yet decoded; past it they
    /// are dropped and every subscription is told [`RecvError::Interrupted`].
    pub incoming: usize,
    /// Events buffered for the slowest local subscriber before it lags.
    pub local: usize,
    /// How long the first connection may take before start-up fails; also
    /// the limit of one reconnection attempt.
    pub connect_timeout: Duration,
    /// How often the connection is probed: a server that stopped answering
    /// (stopped process, dead link with TCP still up) is noticed within
    /// about three of these, and the connection made again.
    pub ping_interval: Duration,
    /// How long [`Bus::check`] waits for the server.
    pub check_timeout: Duration,
}

impl NetworkOptions {
    /// Defaults for the cluster named `channel`.
    pub fn new(channel: impl Into<String>) -> NetworkOptions {
        NetworkOptions {
            channel: channel.into(),
            outgoing: 65_536,
            incoming: 65_536,
            local: 65_536,
            connect_timeout: Duration::from_secs(5),
            ping_interval: Duration::from_secs(2),
            check_timeout: Duration::from_secs(2),
        }
    }
}

/// What a network bus has done since it started (counters only grow).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BusStats {
    /// Events handed to the transport for the other nodes.
    pub sent: u64,
    /// Events refused by `publish` because the outgoing queue was full.
    pub full: u64,
    /// Events queued but not sent: the server was unreachable or refused them.
    pub unsent: u64,
    /// Events received from other nodes and delivered here.
    pub received: u64,
    /// Payloads from the network that did not decode (logged and dropped).
    pub undecodable: u64,
    /// Payloads from the network whose number a sender had used already (dropped).
    pub repeated: u64,
    /// Times every subscription was told [`RecvError::Interrupted`].
    pub interruptions: u64,
}

#[derive(Debug, Default)]
struct Counters {
    sent: AtomicU64,
    full: AtomicU64,
    unsent: AtomicU64,
    received: AtomicU64,
    undecodable: AtomicU64,
    repeated: AtomicU64,
    interruptions: AtomicU64,
}

/// What local subscribers receive: events, or word that some were lost.
#[derive(Debug, Clone)]
enum Signal {
    Event(Arc<Envelope>),
    Interrupted,
}

/// A payload as it is received: `{"v":1,"node":..,"seq":..,"env":{..}}`.
#[derive(Deserialize)]
pub(crate) struct Wire {
    v: u32,
    /// The sending bus's random id: Redis echoes a node's own events back to it.
    pub(crate) node: u64,
    /// The sender's number for this payload.
    pub(crate) seq: u64,
    pub(crate) env: Envelope,
}

/// An envelope as JSON, before it is numbered.
fn encode_envelope(envelope: &Envelope) -> Result<Bytes, BusError> {
    serde_json::to_vec(envelope)
        .map(Bytes::from)
        .map_err(|e| BusError::Encode(e.to_string()))
}

/// The payload of an encoded envelope, numbered `seq` by `node`. Written by
/// hand around the envelope's JSON, so the numbering (in the publisher's
/// order) costs no second serialisation.
fn frame(node: u64, seq: u64, envelope: &[u8]) -> Bytes {
    let head = format!(r#"{{"v":{WIRE_VERSION},"node":{node},"seq":{seq},"env":"#);
    let mut out = Vec::with_capacity(head.len() + envelope.len() + 1);
    out.extend_from_slice(head.as_bytes());
    out.extend_from_slice(envelope);
    out.push(b'}');
    Bytes::from(out)
}

/// Encodes `envelope` as payload `seq` of `node`.
#[cfg(test)]
pub(crate) fn encode(node: u64, seq: u64, envelope: &Envelope) -> Result<Bytes, BusError> {
    Ok(frame(node, seq, &encode_envelope(envelope)?))
}

/// Decodes a payload.
pub(crate) fn decode(payload: &[u8]) -> Result<Wire, String> {
    let wire: Wire = serde_json::from_slice(payload).map_err(|e| e.to_string())?;
    if wire.v != WIRE_VERSION {
        return Err(format!(
            "wire version {} (this node speaks {WIRE_VERSION})",
            wire.v
        ));
    }
    Ok(wire)
}

/// The receiving half a transport feeds: decodes, drops this node's own
/// events and repeats, says `Interrupted` on a gap, and hands the rest to
/// every local subscriber.
#[derive(Debug)]
pub(crate) struct Inbound {
    node: u64,
    tx: broadcast::Sender<Signal>,
    counters: Counters,
    /// Each sender's last number since the last interruption. Only the
    /// receiving task takes it, so the lock is never contended.
    last: Mutex<HashMap<u64, u64>>,
}

impl Inbound {
    /// This bus's node id.
    pub(crate) fn node(&self) -> u64 {
        self.node
    }

    /// A payload from the network.
    pub(crate) fn deliver(&self, payload: &[u8]) {
        match decode(payload) {
            Ok(wire) if wire.node == self.node => {}
            Ok(wire) => {
                let mut last = lock(&self.last);
                match last.get(&wire.node).copied() {
                    Some(before) if wire.seq <= before => {
                        self.counters.repeated.fetch_add(1, Ordering::Relaxed);
                        return;
                    }
                    Some(before) if wire.seq > before + 1 => self.interrupt(&mut last),
                    _ => {}
                }
                if last.len() >= SENDERS {
                    last.clear();
                }
                last.insert(wire.node, wire.seq);
                self.counters.received.fetch_add(1, Ordering::Relaxed);
                let _ = self.tx.send(Signal::Event(Arc::new(wire.env)));
            }
            Err(error) => {
                let n = self.counters.undecodable.fetch_add(1, Ordering::Relaxed) + 1;
                // A node of another version, or something else publishing on
                // the channel: worth a line, not a line per event.
                if n.is_power_of_two() {
                    tracing::warn!(%error, undecodable = n, "dropped a bus payload that does not decode");
                }
            }
        }
    }

    /// Events from other nodes may have been lost (the connection was down,
    /// or the incoming queue overflowed): every subscription hears it once,
    /// after what it had already been given.
    pub(crate) fn interrupted(&self) {
        self.interrupt(&mut lock(&self.last));
    }

    /// Says `Interrupted`, and forgets the senders' numbers: it covers every
    /// loss before it, so the next gap counts only from here.
    fn interrupt(&self, last: &mut HashMap<u64, u64>) {
        last.clear();
        self.counters.interruptions.fetch_add(1, Ordering::Relaxed);
        let _ = self.tx.send(Signal::Interrupted);
    }
}

/// A lock that a panic elsewhere does not poison for good: the data (numbers)
/// stays usable whatever the panicking holder did.
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// How a transport sends; the receiving side is its own task, feeding [`Inbound`].
#[async_trait]
pub(crate) trait Transport: Send + Sync + 'static {
    /// Sends `batch` in order. On failure, how many were not sent and why.
    async fn send(&self, batch: &[Bytes]) -> Result<(), (usize, String)>;
    /// Whether the server answers now.
    async fn check(&self) -> Result<(), BusError>;
    /// Whether the transport believes it is connected (no round trip).
    fn connected(&self) -> bool;
}

/// A bus between nodes over a pub/sub server ([NATS](Self::nats) or
/// [Redis](Self::redis)). This node's subscribers get every publish at once
/// through an in-process broadcast; the event also goes, serialised, into a
/// bounded queue that one task sends to the other nodes. `publish` never
/// waits on the network.
pub struct NetworkBus {
    inbound: Arc<Inbound>,
    /// The last number given; taken with the queue's `try_send` under the
    /// lock, so numbers follow the queue's order.
    seq: Mutex<u64>,
    out: mpsc::Sender<(u64, Bytes)>,
    transport: Arc<dyn Transport>,
    /// Stops the transport's receiving task when the bus is dropped.
    stop: CancellationToken,
}

impl std::fmt::Debug for NetworkBus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NetworkBus")
            .field("node", &self.inbound.node)
            .finish_non_exhaustive()
    }
}

impl Drop for NetworkBus {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// What a transport is started with.
pub(crate) struct Start {
    pub(crate) inbound: Arc<Inbound>,
    pub(crate) stop: CancellationToken,
}

impl NetworkBus {
    /// A bus of `options`, before its transport is connected: the transport
    /// gets the receiving half to feed and a token that stops it.
    pub(crate) fn prepare(options: &NetworkOptions) -> Start {
        let (tx, _) = broadcast::channel(options.local.max(16));
        Start {
            inbound: Arc::new(Inbound {
                node: rand::random(),
                tx,
                counters: Counters::default(),
                last: Mutex::new(HashMap::new()),
            }),
            stop: CancellationToken::new(),
        }
    }

    /// The bus over a connected transport; starts the publisher task.
    pub(crate) fn start(
        start: Start,
        transport: Arc<dyn Transport>,
        options: &NetworkOptions,
    ) -> NetworkBus {
        let (out, rx) = mpsc::channel(options.outgoing.max(1));
        tokio::spawn(publisher(rx, transport.clone(), start.inbound.clone()));
        NetworkBus {
            inbound: start.inbound,
            seq: Mutex::new(0),
            out,
            transport,
            stop: start.stop,
        }
    }

    /// This bus's random node id, carried in its payloads.
    pub fn node(&self) -> u64 {
        self.inbound.node
    }

    /// Whether the transport believes it is connected now (no round trip;
    /// [`Bus::check`] asks the server).
    pub fn connected(&self) -> bool {
        self.transport.connected()
    }

    /// The counters so far.
    pub fn stats(&self) -> BusStats {
        let c = &self.inbound.counters;
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        BusStats {
            sent: get(&c.sent),
            full: get(&c.full),
            unsent: get(&c.unsent),
            received: get(&c.received),
            undecodable: get(&c.undecodable),
            repeated: get(&c.repeated),
            interruptions: get(&c.interruptions),
        }
    }
}

/// The one task that sends queued events to the other nodes, in order. It
/// ends when the bus is dropped and the queue is empty.
async fn publisher(
    mut rx: mpsc::Receiver<(u64, Bytes)>,
    transport: Arc<dyn Transport>,
    inbound: Arc<Inbound>,
) {
    let counters = &inbound.counters;
    let mut queued = Vec::with_capacity(BATCH);
    let mut batch = Vec::with_capacity(BATCH);
    let mut failing = false;
    while rx.recv_many(&mut queued, BATCH).await > 0 {
        batch.extend(
            queued
                .drain(..)
                .map(|(seq, env)| frame(inbound.node, seq, &env)),
        );
        let n = batch.len() as u64;
        // While disconnected, sending would only wait (and then deliver stale
        // events, which the other nodes catch up from the database anyway).
        let result = if transport.connected() {
            transport.send(&batch).await
        } else {
            Err((batch.len(), "not connected".to_owned()))
        };
        match result {
            Ok(()) => {
                counters.sent.fetch_add(n, Ordering::Relaxed);
                if failing {
                    failing = false;
                    tracing::info!("the bus sends events to the other nodes again");
                }
            }
            Err((unsent, error)) => {
                let unsent = (unsent as u64).min(n);
                counters.sent.fetch_add(n - unsent, Ordering::Relaxed);
                counters.unsent.fetch_add(unsent, Ordering::Relaxed);
                if !failing {
                    failing = true;
                    tracing::warn!(%error, "events not sent to the other nodes; they catch up from the database");
                }
            }
        }
        batch.clear();
    }
}

#[async_trait]
impl Bus for NetworkBus {
    async fn publish(&self, envelope: Envelope) -> Result<(), BusError> {
        let encoded = encode_envelope(&envelope);
        self.publish_local(envelope);
        let encoded = encoded?;
        let sent = {
            let mut seq = lock(&self.seq);
            // A refused event keeps its number: the gap tells the other
            // nodes they missed something.
            *seq += 1;
            self.out.try_send((*seq, encoded))
        };
        match sent {
            Ok(()) => Ok(()),
            Err(mpsc::error::TrySendError::Full(_)) => {
                self.inbound.counters.full.fetch_add(1, Ordering::Relaxed);
                Err(BusError::Full)
            }
            Err(mpsc::error::TrySendError::Closed(_)) => {
                Err(BusError::Unavailable("the publisher stopped".into()))
            }
        }
    }

    fn publish_local(&self, envelope: Envelope) {
        let _ = self.inbound.tx.send(Signal::Event(Arc::new(envelope)));
    }

    fn subscribe(&self) -> Box<dyn Subscription> {
        Box::new(NetworkSubscription {
            rx: self.inbound.tx.subscribe(),
        })
    }

    async fn check(&self) -> Result<(), BusError> {
        self.transport.check().await
    }

    async fn flush(&self, within: std::time::Duration) {
        let deadline = tokio::time::Instant::now() + within;
        let published = *lock(&self.seq);
        let c = &self.inbound.counters;
        // Polled: this runs once, while the node stops.
        while c.sent.load(Ordering::Relaxed)
            + c.unsent.load(Ordering::Relaxed)
            + c.full.load(Ordering::Relaxed)
            < published
        {
            if tokio::time::Instant::now() >= deadline {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        // A round trip on the same connection: the server has what came before.
        let _ = tokio::time::timeout_at(deadline, self.transport.check()).await;
    }

    fn network_stats(&self) -> Option<BusStats> {
        Some(self.stats())
    }
}

struct NetworkSubscription {
    rx: broadcast::Receiver<Signal>,
}

#[async_trait]
impl Subscription for NetworkSubscription {
    async fn recv(&mut self) -> Result<Arc<Envelope>, RecvError> {
        match self.rx.recv().await {
            Ok(Signal::Event(env)) => Ok(env),
            Ok(Signal::Interrupted) => Err(RecvError::Interrupted),
            Err(broadcast::error::RecvError::Lagged(n)) => Err(RecvError::Lagged(n)),
            Err(broadcast::error::RecvError::Closed) => Err(RecvError::Closed),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::{Event, Origin};
    use roomy_core::{RoomId, UserId};
    use std::sync::atomic::AtomicBool;
    use tokio::sync::Notify;

    /// A transport that sends nothing until opened, records the numbers of
    /// what it sends, and can be disconnected.
    #[derive(Default)]
    struct Held {
        open: AtomicBool,
        wake: Notify,
        seqs: Mutex<Vec<u64>>,
        down: AtomicBool,
    }

    impl Held {
        fn open(&self) {
            self.open.store(true, Ordering::SeqCst);
            self.wake.notify_one();
        }

        fn sent(&self) -> Vec<u64> {
            lock(&self.seqs).clone()
        }
    }

    #[async_trait]
    impl Transport for Held {
        async fn send(&self, batch: &[Bytes]) -> Result<(), (usize, String)> {
            while !self.open.load(Ordering::SeqCst) {
                self.wake.notified().await;
            }
            let mut seqs = lock(&self.seqs);
            seqs.extend(batch.iter().map(|p| decode(p).unwrap().seq));
            Ok(())
        }
        async fn check(&self) -> Result<(), BusError> {
            Ok(())
        }
        fn connected(&self) -> bool {
            !self.down.load(Ordering::Relaxed)
        }
    }

    fn typing(user: i64) -> Envelope {
        Envelope {
            recipients: vec![UserId(user)],
            event: Event::Typing {
                room: RoomId(1),
                user: UserId(user),
            },
            origin: None,
        }
    }

    fn bus(outgoing: usize) -> (NetworkBus, Arc<Held>, Arc<Inbound>) {
        let options = NetworkOptions {
            outgoing,
            ..NetworkOptions::new("t")
        };
        let start = NetworkBus::prepare(&options);
        let inbound = start.inbound.clone();
        let held = Arc::new(Held::default());
        (
            NetworkBus::start(start, held.clone(), &options),
            held,
            inbound,
        )
    }

    #[tokio::test]
    async fn a_full_queue_refuses_at_once_and_local_subscribers_still_get_the_event() {
        let (bus, held, _) = bus(4);
        let mut sub = bus.subscribe();
        // Nothing is sent until released: the queue holds four (five if the
        // publisher took the first one before it filled), and then refuses.
        bus.publish(typing(0)).await.unwrap();
        assert_eq!(sub.recv().await.unwrap().recipients, vec![UserId(0)]);
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        let mut accepted = 1;
        loop {
            match bus.publish(typing(accepted)).await {
                Ok(()) => accepted += 1,
                Err(BusError::Full) => break,
                Err(e) => panic!("{e}"),
            }
            assert!(tokio::time::Instant::now() < deadline);
        }
        assert!((4..=5).contains(&accepted), "{accepted}");
        // The refused event reached this node's subscribers all the same.
        for i in 1..=accepted {
            assert_eq!(sub.recv().await.unwrap().recipients, vec![UserId(i)]);
        }
        assert_eq!(bus.stats().full, 1);
        held.open();
    }

    #[tokio::test]
    async fn nothing_is_sent_while_disconnected() {
        let (bus, held, _) = bus(16);
        held.down.store(true, Ordering::Relaxed);
        bus.publish(typing(1)).await.unwrap();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        while bus.stats().unsent < 1 {
            assert!(tokio::time::Instant::now() < deadline, "never dropped");
            tokio::task::yield_now().await;
        }
        assert!(held.sent().is_empty());
        assert_eq!(bus.stats().sent, 0);
    }

    #[tokio::test]
    async fn received_payloads_are_decoded_own_ones_and_garbage_dropped() {
        let (bus, _held, inbound) = bus(16);
        let mut sub = bus.subscribe();
        let mut env = typing(7);
        env.origin = Some(Origin {
            node: 3,
            conn: 4,
            request: Some("\"a1\"".into()),
        });
        inbound.deliver(&encode(bus.node(), 1, &typing(1)).unwrap());
        inbound.deliver(b"not json");
        let other_version = String::from_utf8(encode(1, 1, &typing(2)).unwrap().to_vec())
            .unwrap()
            .replace(r#""v":1"#, r#""v":2"#);
        inbound.deliver(other_version.as_bytes());
        inbound.deliver(&encode(bus.node() ^ 1, 1, &env).unwrap());
        assert_eq!(*sub.recv().await.unwrap(), env);
        let stats = bus.stats();
        assert_eq!((stats.received, stats.undecodable), (1, 2));
    }

    #[tokio::test]
    async fn a_gap_in_a_senders_numbers_interrupts_before_the_later_event() {
        let (bus, _held, inbound) = bus(16);
        let mut sub = bus.subscribe();
        let (x, y) = (bus.node() ^ 1, bus.node() ^ 2);
        for (node, seq, n) in [
            (x, 1, 1),
            (x, 2, 2),
            (y, 7, 3),
            (x, 4, 4),
            (x, 4, 5),
            (x, 3, 6),
        ] {
            inbound.deliver(&encode(node, seq, &typing(n)).unwrap());
        }
        // x's 3 was lost: said before x's 4; the repeated 4 and the late 3 are dropped.
        assert_eq!(sub.recv().await.unwrap().recipients, vec![UserId(1)]);
        assert_eq!(sub.recv().await.unwrap().recipients, vec![UserId(2)]);
        assert_eq!(sub.recv().await.unwrap().recipients, vec![UserId(3)]);
        assert_eq!(sub.recv().await, Err(RecvError::Interrupted));
        assert_eq!(sub.recv().await.unwrap().recipients, vec![UserId(4)]);
        // An interruption covers every loss before it: y's next number may jump.
        inbound.interrupted();
        inbound.deliver(&encode(y, 20, &typing(7)).unwrap());
        inbound.deliver(&encode(x, 5, &typing(8)).unwrap());
        assert_eq!(sub.recv().await, Err(RecvError::Interrupted));
        assert_eq!(sub.recv().await.unwrap().recipients, vec![UserId(7)]);
        assert_eq!(sub.recv().await.unwrap().recipients, vec![UserId(8)]);
        let stats = bus.stats();
        assert_eq!((stats.repeated, stats.interruptions), (2, 2));
    }

    #[tokio::test]
    async fn payloads_are_numbered_in_order_and_a_refused_one_keeps_its_number() {
        let (bus, held, _) = bus(2);
        let mut accepted = 0;
        while bus.publish(typing(accepted + 1)).await.is_ok() {
            accepted += 1;
        }
        let refused = accepted + 1;
        held.open();
        let sent = async |n: usize| {
            let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
            while held.sent().len() < n {
                assert!(tokio::time::Instant::now() < deadline, "{:?}", held.sent());
                tokio::task::yield_now().await;
            }
        };
        sent(accepted as usize).await;
        bus.publish(typing(refused + 1)).await.unwrap();
        sent(accepted as usize + 1).await;
        let mut expected: Vec<u64> = (1..=accepted as u64).collect();
        expected.push(refused as u64 + 1);
        assert_eq!(held.sent(), expected);
    }

    #[tokio::test]
    async fn an_interruption_reaches_every_subscription_once_in_order() {
        let (bus, _held, inbound) = bus(16);
        let mut a = bus.subscribe();
        let mut b = bus.subscribe();
        bus.publish_local(typing(1));
        inbound.interrupted();
        bus.publish_local(typing(2));
        for sub in [&mut a, &mut b] {
            assert_eq!(sub.recv().await.unwrap().recipients, vec![UserId(1)]);
            assert_eq!(sub.recv().await, Err(RecvError::Interrupted));
            assert_eq!(sub.recv().await.unwrap().recipients, vec![UserId(2)]);
        }
        assert_eq!(bus.stats().interruptions, 1);
        drop(inbound);
        drop(bus);
        assert_eq!(a.recv().await, Err(RecvError::Closed));
    }
}
