//! The hub: this node's registry of live connections, and the task that
//! delivers bus events to them.
//!
//! Each event is serialised once and the same bytes are queued on every
//! recipient connection (`try_send`, never waiting): a connection whose queue
//! is full is marked for resync and closed, so one slow client can neither
//! block the others nor make the server buffer without bound.
//!
//! The hub reports each connection's start and end to presence
//! ([`roomy_app::Presence`]), which decides who is online and announces it.

use crate::protocol::ServerFrame;
use crate::sequencer::{Sequencer, TOP_WAIT};
use crate::{
    dto::{MessageView, NoticeView},
    metrics::Metrics,
};
use roomy_app::{AccountError, App, Presence, REPLAY_MAX};
use roomy_bus::{Envelope, Event, Origin, RecvError, Subscription};
use roomy_core::{MessageId, SessionId, UserId};
use std::time::Duration;
use std::{
    collections::HashMap,
    sync::{
        Arc, RwLock,
        atomic::{AtomicU8, AtomicU64, Ordering},
    },
};
use tokio::{
    sync::{mpsc, watch},
    time::{Instant, sleep_until},
};
use tokio_tungstenite::tungstenite::Utf8Bytes;
use tokio_util::sync::CancellationToken;

/// A frame on its way to one connection.
#[derive(Debug, Clone)]
pub enum Outbound {
    /// Any frame.
    Frame(Utf8Bytes),
    /// A `message` or notice frame, with its stream position: the
    /// connection drops it when its `ready` position already covers it
    /// (sync will return it).
    Message { position: i64, frame: Utf8Bytes },
    /// Time for a WebSocket ping.
    Ping,
}

/// Why a connection is being closed by the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum CloseReason {
    /// Still open.
    None = 0,
    /// Its queue overflowed: it gets a `resync` frame.
    Resync = 1,
    /// Its session ended (logout, password change, an ended session).
    SessionEnded = 2,
    /// The server is shutting down, or the connection ended on its own.
    Normal = 3,
    /// The client closed: its close frame is answered.
    ClientClosed = 4,
    /// A message over the protocol's size limit (1009).
    TooBig = 5,
    /// A text message that is not UTF-8 (1007).
    InvalidData = 6,
    /// A frame RFC 6455 forbids (1002).
    ProtocolError = 7,
    /// A message left unfinished past its deadline (1008).
    Incomplete = 8,
    /// Its account was disabled (an administrator's decision).
    AccountDisabled = 9,
}

impl CloseReason {
    /// The close code and reason sent for a protocol violation (RFC 6455
    /// §7.4.1); `None` for the other reasons.
    pub fn violation(self) -> Option<(u16, &'static str)> {
        match self {
            CloseReason::TooBig => Some((1009, "message too big")),
            CloseReason::InvalidData => Some((1007, "invalid payload data")),
            CloseReason::ProtocolError => Some((1002, "protocol error")),
            CloseReason::Incomplete => Some((1008, "message not finished in time")),
            _ => None,
        }
    }
}

/// The hub's handle on one live connection.
#[derive(Debug)]
pub struct ConnHandle {
    pub id: u64,
    pub user: UserId,
    pub session: SessionId,
    tx: mpsc::Sender<Outbound>,
    /// Fires when the connection must close; `reason` says why.
    pub close: CancellationToken,
    reason: AtomicU8,
}

impl ConnHandle {
    /// Asks the connection to close; the first reason given wins.
    pub fn close_with(&self, reason: CloseReason) {
        let _ = self.reason.compare_exchange(
            CloseReason::None as u8,
            reason as u8,
            Ordering::AcqRel,
            Ordering::Acquire,
        );
        self.close.cancel();
    }

    /// Why the connection was asked to close.
    pub fn reason(&self) -> CloseReason {
        match self.reason.load(Ordering::Acquire) {
            1 => CloseReason::Resync,
            2 => CloseReason::SessionEnded,
            3 => CloseReason::Normal,
            4 => CloseReason::ClientClosed,
            5 => CloseReason::TooBig,
            6 => CloseReason::InvalidData,
            7 => CloseReason::ProtocolError,
            8 => CloseReason::Incomplete,
            9 => CloseReason::AccountDisabled,
            _ => CloseReason::None,
        }
    }

    /// Queues one of the connection's own replies. It never waits: a client
    /// that does not read its replies is treated like any slow consumer
    /// (resync and close). False when the connection is closing.
    pub fn reply(&self, out: Outbound) -> bool {
        self.deliver(out)
    }

    /// Queues a frame without waiting; a full queue means resync.
    fn deliver(&self, out: Outbound) -> bool {
        match self.tx.try_send(out) {
            Ok(()) => true,
            Err(mpsc::error::TrySendError::Full(_)) => {
                self.close_with(CloseReason::Resync);
                false
            }
            Err(mpsc::error::TrySendError::Closed(_)) => false,
        }
    }
}

/// Reads the store's top position every [`TOP_WAIT`] until `shutdown`: the
/// hub's beacon (see [`crate::sequencer`]).
fn spawn_beacon(app: App, shutdown: CancellationToken) -> watch::Receiver<(i64, Instant)> {
    let (tx, rx) = watch::channel((0, Instant::now()));
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(TOP_WAIT);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tick.tick() => {}
            }
            match app.store.stream_position().await {
                Ok(top) => {
                    if tx.send((top.0, Instant::now())).is_err() {
                        return;
                    }
                }
                Err(e) => tracing::warn!(error = %e, "hub cannot read the stream position"),
            }
        }
    });
    rx
}

/// A user already has as many live connections on this node as allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("too many live connections for this user")]
pub struct TooManyConnections;

/// This node's live connections, by user.
#[derive(Debug)]
pub struct Hub {
    node: u64,
    next_conn: AtomicU64,
    by_user: RwLock<HashMap<UserId, Vec<Arc<ConnHandle>>>>,
    presence: Arc<dyn Presence>,
    /// Bumped after every register and unregister, for [`Hub::wait_connections`].
    changes: watch::Sender<u64>,
    metrics: Arc<Metrics>,
}

impl Hub {
    /// A hub delivering what `subscription` receives until `shutdown`, in
    /// stream-position order (see [`crate::sequencer`]), catching up from
    /// `app`'s store what the bus lost, and reporting its connections to
    /// `presence`.
    pub fn start(
        subscription: Box<dyn Subscription>,
        app: App,
        presence: Arc<dyn Presence>,
        metrics: Arc<Metrics>,
        shutdown: CancellationToken,
    ) -> Arc<Hub> {
        let hub = Arc::new(Hub {
            node: rand::random(),
            next_conn: AtomicU64::new(1),
            by_user: RwLock::new(HashMap::new()),
            presence,
            changes: watch::Sender::new(0),
            metrics,
        });
        let worker = hub.clone();
        tokio::spawn(async move {
            worker.run(subscription, app, &shutdown).await;
            worker.close_all(CloseReason::Normal);
        });
        hub
    }

    /// The delivery loop.
    async fn run(
        self: &Arc<Self>,
        mut subscription: Box<dyn Subscription>,
        app: App,
        shutdown: &CancellationToken,
    ) {
        // Positions committed before this node had connections are nobody's
        // live business here; the subscription is already listening.
        let start = loop {
            match app.store.stream_position().await {
                Ok(p) => break p.0,
                Err(e) => {
                    tracing::warn!(error = %e, "hub cannot read the stream position; retrying");
                    tokio::select! {
                        _ = shutdown.cancelled() => return,
                        _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                    }
                }
            }
        };
        let mut order = Sequencer::new(start);
        let mut ready = Vec::new();
        // Sessions are re-checked once after a run of interruptions, at the
        // next beacon, not once per interruption.
        let mut recheck_sessions = false;
        // The top position is read by its own task, so the delivery loop
        // never waits on the database but to fill a gap.
        let mut beacon = spawn_beacon(app.clone(), shutdown.clone());
        loop {
            let deadline = order.deadline();
            let wake = deadline.unwrap_or_else(|| Instant::now() + TOP_WAIT);
            tokio::select! {
                _ = shutdown.cancelled() => return,
                next = subscription.recv() => match next {
                    Ok(envelope) => order.offer(envelope, Instant::now(), &mut ready),
                    Err(RecvError::Lagged(n)) => {
                        // What this node's own writers published is lost too
                        // (acks and unpositioned events): clients resync.
                        tracing::warn!(lost = n, "hub fell behind the bus; every connection resyncs");
                        self.close_all(CloseReason::Resync);
                    }
                    Err(RecvError::Interrupted) => {
                        tracing::warn!("bus connection interrupted; catching up from the database");
                        self.metrics.bus_interruptions.inc();
                        recheck_sessions = true;
                        // The next beacon's top position is filled a beacon
                        // later, as always: not at once, since this node's own
                        // newest commits may still be on their way to the hub,
                        // and a replayed copy carries no ack for its sender.
                    }
                    Err(RecvError::Closed) => return,
                },
                changed = beacon.changed() => {
                    if changed.is_err() {
                        return;
                    }
                    let (top, at) = *beacon.borrow_and_update();
                    order.observe_top(top, at);
                    if std::mem::take(&mut recheck_sessions) {
                        // One query per session: off the delivery loop.
                        let (hub, app) = (self.clone(), app.clone());
                        tokio::spawn(async move { hub.end_dead_sessions(&app).await });
                    }
                }
                _ = sleep_until(wake), if deadline.is_some() => {}
            }
            if let Some((after, upto)) = order.due(Instant::now()) {
                self.catch_up(&app, &mut order, after, upto, &mut ready)
                    .await;
            }
            for envelope in ready.drain(..) {
                self.dispatch(&envelope);
            }
        }
    }

    /// Delivers positions `(after, upto]` from the database, or, when that is
    /// more than one replay reads, resyncs every connection past them.
    async fn catch_up(
        &self,
        app: &App,
        order: &mut Sequencer,
        after: i64,
        upto: i64,
        ready: &mut Vec<Arc<Envelope>>,
    ) {
        if upto - after > REPLAY_MAX {
            tracing::warn!(
                after,
                upto,
                "hub too far behind to replay; every connection resyncs"
            );
            self.close_all(CloseReason::Resync);
            order.skip(upto);
            return;
        }
        match app.replay(MessageId(after), MessageId(upto)).await {
            Ok(replayed) => {
                self.metrics.hub_gap_fills.inc();
                self.metrics.hub_replayed.inc_by(replayed.len() as u64);
                tracing::debug!(
                    after,
                    upto,
                    events = replayed.len(),
                    "hub filled a gap from the database"
                );
                order.fill(upto, replayed, ready);
            }
            // The deadline stays due: the next turn of the loop tries again.
            Err(e) => {
                tracing::warn!(error = %e, after, upto, "hub cannot read missed events");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    }

    /// Closes the connections whose session ended while the bus may have
    /// lost the news (a logout on another node during an outage).
    async fn end_dead_sessions(&self, app: &App) {
        let live: Vec<(UserId, SessionId)> = {
            let map = self.read();
            let mut v: Vec<_> = map
                .values()
                .flatten()
                .map(|h| (h.user, h.session))
                .collect();
            v.sort_by_key(|(u, s)| (u.0, s.0));
            v.dedup();
            v
        };
        for (user, session) in live {
            let reason = match app.live_session(session, user).await {
                Ok(_) => continue,
                Err(AccountError::AccountDisabled) => CloseReason::AccountDisabled,
                Err(AccountError::UnknownSession | AccountError::SessionEnded) => {
                    CloseReason::SessionEnded
                }
                // The database is unreachable: the session is not known to have ended.
                Err(_) => continue,
            };
            self.end_sessions(user, None, Some(session), reason);
        }
    }

    /// This node's id, for [`Origin`]s.
    pub fn node(&self) -> u64 {
        self.node
    }

    /// Registers a connection with an outbound queue of `capacity` frames,
    /// unless `user` already has `max_per_user` (0: any number) on this node.
    pub fn register(
        &self,
        user: UserId,
        session: SessionId,
        capacity: usize,
        max_per_user: usize,
    ) -> Result<(Arc<ConnHandle>, mpsc::Receiver<Outbound>), TooManyConnections> {
        let mut map = self.write();
        let list = map.entry(user).or_default();
        // With a cap of at least one, a refused user already has a list:
        // nothing empty is left behind.
        if max_per_user > 0 && list.len() >= max_per_user {
            return Err(TooManyConnections);
        }
        let (tx, rx) = mpsc::channel(capacity);
        let handle = Arc::new(ConnHandle {
            id: self.next_conn.fetch_add(1, Ordering::Relaxed),
            user,
            session,
            tx,
            close: CancellationToken::new(),
            reason: AtomicU8::new(CloseReason::None as u8),
        });
        list.push(handle.clone());
        drop(map);
        self.presence.connected(user);
        self.metrics.ws_connections.inc();
        self.changes.send_modify(|n| *n += 1);
        Ok((handle, rx))
    }

    /// Forgets a connection.
    pub fn unregister(&self, handle: &ConnHandle) {
        let mut map = self.write();
        let Some(list) = map.get_mut(&handle.user) else {
            return;
        };
        let before = list.len();
        list.retain(|h| h.id != handle.id);
        let removed = list.len() < before;
        if list.is_empty() {
            map.remove(&handle.user);
        }
        drop(map);
        // Forgetting a connection twice must not count its user out twice.
        if removed {
            self.presence.disconnected(handle.user);
            self.metrics.ws_connections.dec();
            self.changes.send_modify(|n| *n += 1);
        }
    }

    /// Closes the connections of `user`'s sessions: all of them, all but
    /// `except`, or only `only`.
    fn end_sessions(
        &self,
        user: UserId,
        except: Option<SessionId>,
        only: Option<SessionId>,
        reason: CloseReason,
    ) {
        let map = self.read();
        for h in map.get(&user).into_iter().flatten() {
            let spared = except == Some(h.session) || only.is_some_and(|o| o != h.session);
            if !spared {
                h.close_with(reason);
            }
        }
    }

    /// Whether `user` is online (a live connection, or one closed less than
    /// the presence grace period ago).
    pub fn is_online(&self, user: UserId) -> bool {
        self.presence.is_online(user)
    }

    /// How many live connections `user` has on this node.
    pub fn connections(&self, user: UserId) -> usize {
        self.read().get(&user).map_or(0, Vec::len)
    }

    /// Resolves once `user` has exactly `n` live connections on this node:
    /// how a caller (a test) learns that the server has seen a client go,
    /// without polling.
    pub async fn wait_connections(&self, user: UserId, n: usize) {
        let mut rx = self.changes.subscribe();
        // The sender lives as long as `self`: the wait cannot fail.
        let _ = rx.wait_for(|_| self.connections(user) == n).await;
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, HashMap<UserId, Vec<Arc<ConnHandle>>>> {
        self.by_user.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, HashMap<UserId, Vec<Arc<ConnHandle>>>> {
        self.by_user.write().unwrap_or_else(|e| e.into_inner())
    }

    fn close_all(&self, reason: CloseReason) {
        for h in self.read().values().flatten() {
            h.close_with(reason);
        }
    }

    fn is_origin(&self, origin: Option<&Origin>, handle: &ConnHandle) -> bool {
        origin.is_some_and(|o| o.node == self.node && o.conn == handle.id)
    }

    /// The request id of `origin` when the event was caused by a request of
    /// a connection on this node (the id as the client wrote it).
    fn request_id(&self, origin: Option<&Origin>) -> Option<Option<serde_json::Value>> {
        origin.filter(|o| o.node == self.node).map(|o| {
            o.request
                .as_deref()
                .and_then(|r| serde_json::from_str(r).ok())
        })
    }

    /// Delivers one envelope to the local connections of its recipients.
    pub fn dispatch(&self, envelope: &Envelope) {
        // The sender's own connection gets its `ack` through this same queue,
        // so it sees its message in seq order with everyone else's.
        let mut ack = None;
        let queued = |position: Option<i64>, frame: ServerFrame| {
            let frame = frame.encode().into();
            match position {
                Some(position) => Outbound::Message { position, frame },
                None => Outbound::Frame(frame),
            }
        };
        let (position, frame) = match &envelope.event {
            Event::SessionsEnded {
                user,
                except,
                only,
                disabled,
            } => {
                let reason = if *disabled {
                    CloseReason::AccountDisabled
                } else {
                    CloseReason::SessionEnded
                };
                self.end_sessions(*user, *except, *only, reason);
                return;
            }
            Event::Message(m) => {
                let message = MessageView::from(m.clone());
                if let Some(id) = self.request_id(envelope.origin.as_ref()) {
                    let reply = ServerFrame::Ack {
                        id,
                        message: message.clone(),
                    };
                    ack = Some(queued(Some(m.id.0), reply));
                }
                (Some(m.id.0), ServerFrame::Message { message })
            }
            Event::Notice(n) => {
                let notice = NoticeView::from(n.clone());
                if let Some(id) = self.request_id(envelope.origin.as_ref()) {
                    let reply = ServerFrame::NoticeReply {
                        id,
                        notice: notice.clone(),
                    };
                    ack = Some(queued(Some(n.id.0), reply));
                }
                (Some(n.id.0), ServerFrame::Notice(notice))
            }
            Event::Revoked {
                message,
                notice,
                by_admin,
            } => (
                Some(notice.id.0),
                ServerFrame::Revoked {
                    room_id: message.room_id,
                    message_id: message.id,
                    message: message.clone().into(),
                    notice: notice.clone().into(),
                    by_admin: *by_admin,
                },
            ),
            Event::MembersJoined { room, members } => (
                None,
                ServerFrame::MemberJoined {
                    room_id: room.id,
                    room: room.clone().into(),
                    members: members.iter().cloned().map(Into::into).collect(),
                },
            ),
            Event::MemberLeft { room, user } => (
                None,
                ServerFrame::MemberLeft {
                    room_id: room.id,
                    room: room.clone().into(),
                    user_id: *user,
                },
            ),
            Event::RoomUpdated { room, members } => (
                None,
                ServerFrame::RoomUpdated {
                    room: room.clone().into(),
                    members: members.iter().cloned().map(Into::into).collect(),
                },
            ),
            Event::Presence { user, online, node } => {
                // Online somewhere else already: a second device is not news.
                let known = *online && self.presence.online_elsewhere(*user, *node);
                if *node != self.presence.node() {
                    self.presence.remote_changed(*node, *user, *online);
                }
                // Still connected here or on another node: nothing changed
                // for the people who see this user.
                if known || (!*online && self.presence.is_online(*user)) {
                    return;
                }
                (
                    None,
                    ServerFrame::Presence {
                        user_id: *user,
                        online: *online,
                    },
                )
            }
            Event::PresenceLease { node, users } => {
                if *node != self.presence.node() {
                    self.presence.remote_lease(*node, users);
                }
                return;
            }
            Event::Typing { room, user } => (
                None,
                ServerFrame::Typing {
                    room_id: *room,
                    user_id: *user,
                },
            ),
            Event::FileUpdated(file) => (
                None,
                ServerFrame::FileUpdated {
                    file: file.clone().into(),
                },
            ),
        };
        let out = queued(position, frame);
        let map = self.read();
        let mut delivered = 0u64;
        for user in &envelope.recipients {
            for h in map.get(user).into_iter().flatten() {
                let frame = match &ack {
                    Some(ack) if self.is_origin(envelope.origin.as_ref(), h) => ack.clone(),
                    _ => out.clone(),
                };
                if h.deliver(frame) {
                    delivered += 1;
                }
            }
        }
        self.metrics.ws_deliveries.inc_by(delivered);
    }
}
