//! Presence: who is online, and the `presence` events that tell everyone
//! sharing a room with them.
//!
//! [`Presence`] is what a connection layer (the WebSocket gateway) reports
//! connections to and what the rest asks; [`LocalPresence`] is the
//! in-process implementation: a user's first connection makes it online at
//! once; when its last one closes it stays online for the grace period
//! (`presence_grace_secs`), so a reconnect within it announces nothing at
//! all. One task makes the announcements, in the order the changes
//! happened: it reads the recipients (one `co_members` query) and publishes
//! on the bus. Only each user's latest state is kept, never a queue of
//! changes, so memory is bounded by the users that have a connection or are
//! in their grace period, and a flapping client costs at most one pending
//! announcement. Grace periods run on tokio's clock.
//!
//! Several nodes: each counts its own connections and announces its own
//! changes on the bus; every [`LEASE_EVERY`] it also publishes its lease,
//! the list of users online on it. The others count a user as online while
//! some node's lease lists it (an offline from one node is dropped where
//! another still holds the user), and a lease not renewed for
//! [`LEASE_TTL`] ends: the users only that node held go offline, and each
//! node announces that to its own connections (`publish_local`), so a node
//! that died takes its users offline within `LEASE_TTL + LEASE_EVERY`.
//! A lease lists every user, so a lost offline heals at the next renewal.

use futures_util::StreamExt;
use roomy_bus::{Bus, Envelope, Event};
use roomy_core::UserId;
use roomy_store::Store;
use std::{
    cmp::Reverse,
    collections::{BinaryHeap, HashMap, HashSet},
    fmt::Debug,
    sync::{Arc, Mutex, MutexGuard},
    time::Duration,
};
use tokio::{sync::Notify, time::Instant};
use tokio_util::sync::CancellationToken;

/// Who is online. Connections are reported as they open and close; the
/// answers come from memory, so they are cheap enough for every member list.
pub trait Presence: Send + Sync + Debug {
    /// A connection of `user` opened.
    fn connected(&self, user: UserId);
    /// A connection of `user` closed (each opened one is reported closed once).
    fn disconnected(&self, user: UserId);
    /// Whether `user` has a live connection or closed its last one less
    /// than the grace period ago, on this node or (by its lease) another.
    fn is_online(&self, user: UserId) -> bool;
    /// This node's presence id, carried by its announcements.
    fn node(&self) -> u64;
    /// Another node announced that `user` came online or went offline there.
    fn remote_changed(&self, node: u64, user: UserId, online: bool);
    /// Another node's lease: every user online on it now.
    fn remote_lease(&self, node: u64, users: &[UserId]);
    /// Whether `user` is online anywhere but on node `except` (this node's
    /// connections count unless `except` is this node).
    fn online_elsewhere(&self, user: UserId, except: u64) -> bool;
}

/// How often a node publishes its lease (and checks the others').
pub const LEASE_EVERY: Duration = Duration::from_secs(10);

/// How long another node's lease counts without a renewal.
pub const LEASE_TTL: Duration = Duration::from_secs(30);

/// Another node's users online, as its lease said.
#[derive(Debug)]
struct Lease {
    users: HashSet<UserId>,
    until: Instant,
}

/// Announcements whose recipients are read concurrently (published in order).
const READ_AHEAD: usize = 4;

/// One user's presence on this node.
#[derive(Debug, Default)]
struct Entry {
    /// Live connections.
    conns: usize,
    /// Set while the user has no connection but is still in its grace period.
    grace_until: Option<Instant>,
    /// A deadline of this user is in [`Book::deadlines`].
    scheduled: bool,
    /// What the others were last told: online or not.
    announced: bool,
    /// The user is in [`Book::dirty`].
    dirty: bool,
}

impl Entry {
    fn online(&self) -> bool {
        self.conns > 0 || self.grace_until.is_some()
    }

    /// Nothing left to remember: the entry can go.
    fn idle(&self) -> bool {
        !self.online() && !self.announced && !self.scheduled && !self.dirty
    }
}

#[derive(Debug, Default)]
struct Book {
    users: HashMap<UserId, Entry>,
    /// Ends of grace periods, soonest first; at most one per user. A user
    /// who reconnects and leaves again keeps its old deadline, which is
    /// moved to the new end of grace when it comes due.
    deadlines: BinaryHeap<Reverse<(Instant, UserId)>>,
    /// Users whose announced state may be out of date, in order of change.
    dirty: Vec<UserId>,
    /// Other nodes' leases, by node.
    remote: HashMap<u64, Lease>,
    /// Users whose last lease ended while nobody here holds them: this node
    /// tells its own connections they went offline.
    gone: Vec<UserId>,
}

impl Book {
    /// Queues `user` for the announcer; false when it already was.
    fn mark(&mut self, user: UserId) -> bool {
        match self.users.get_mut(&user) {
            Some(e) if !e.dirty => {
                e.dirty = true;
                self.dirty.push(user);
                true
            }
            _ => false,
        }
    }

    fn local_online(&self, user: UserId, now: Instant) -> bool {
        self.users
            .get(&user)
            .is_some_and(|e| e.conns > 0 || e.grace_until.is_some_and(|t| t > now))
    }

    fn remote_online(&self, user: UserId, now: Instant) -> bool {
        self.remote_online_except(user, None, now)
    }

    fn remote_online_except(&self, user: UserId, except: Option<u64>, now: Instant) -> bool {
        self.remote
            .iter()
            .any(|(n, l)| Some(*n) != except && l.until > now && l.users.contains(&user))
    }

    /// Users dropped from other nodes' leases: those now offline everywhere
    /// are announced here.
    fn dropped(&mut self, users: impl IntoIterator<Item = UserId>, now: Instant) {
        for user in users {
            if !self.remote_online(user, now) && !self.local_online(user, now) {
                self.gone.push(user);
            }
        }
    }

    /// Ends the leases not renewed in time.
    fn expire(&mut self, now: Instant) {
        let dead: Vec<u64> = self
            .remote
            .iter()
            .filter(|(_, l)| l.until <= now)
            .map(|(n, _)| *n)
            .collect();
        for node in dead {
            if let Some(lease) = self.remote.remove(&node) {
                tracing::info!(
                    node,
                    users = lease.users.len(),
                    "a node's presence lease ended"
                );
                self.dropped(lease.users, now);
            }
        }
    }

    /// The users this node has told the others are online.
    fn lease(&self) -> Vec<UserId> {
        let mut users: Vec<UserId> = self
            .users
            .iter()
            .filter(|(_, e)| e.announced)
            .map(|(u, _)| *u)
            .collect();
        users.sort_unstable_by_key(|u| u.0);
        users
    }

    fn tidy(&mut self, user: UserId) {
        if self.users.get(&user).is_some_and(Entry::idle) {
            self.users.remove(&user);
        }
    }

    /// Ends the grace periods due at `now`, then takes the changes to
    /// announce (as announced from now on) and the next deadline.
    fn take_due(&mut self, now: Instant) -> (Vec<(UserId, bool)>, Option<Instant>) {
        while let Some(&Reverse((at, user))) = self.deadlines.peek() {
            if at > now {
                break;
            }
            self.deadlines.pop();
            let Some(e) = self.users.get_mut(&user) else {
                continue;
            };
            e.scheduled = false;
            match e.grace_until {
                Some(until) if until <= now => {
                    e.grace_until = None;
                    self.mark(user);
                }
                Some(until) => {
                    e.scheduled = true;
                    self.deadlines.push(Reverse((until, user)));
                }
                None => {}
            }
            self.tidy(user);
        }
        let mut changes = Vec::new();
        for user in std::mem::take(&mut self.dirty) {
            let Some(e) = self.users.get_mut(&user) else {
                continue;
            };
            e.dirty = false;
            let online = e.online();
            if online != e.announced {
                e.announced = online;
                changes.push((user, online));
            }
            self.tidy(user);
        }
        let next = self.deadlines.peek().map(|Reverse((at, _))| *at);
        (changes, next)
    }
}

/// This node's connections, announced on the bus, and the other nodes' leases.
#[derive(Debug)]
pub struct LocalPresence {
    node: u64,
    book: Mutex<Book>,
    grace: Duration,
    /// Wakes the announcer when there is something to announce or a new deadline.
    wake: Notify,
}

impl LocalPresence {
    /// Presence announcing its changes on `bus` to the users `store` says
    /// share a room with the user, until `shutdown`; a user stays online for
    /// `grace` after its last connection closed.
    pub fn start(
        store: Arc<dyn Store>,
        bus: Arc<dyn Bus>,
        grace: Duration,
        shutdown: CancellationToken,
    ) -> Arc<LocalPresence> {
        let presence = Arc::new(LocalPresence::new(grace));
        let announcer = presence.clone();
        tokio::spawn(async move { announcer.run(&*store, &*bus, shutdown).await });
        presence
    }

    fn new(grace: Duration) -> LocalPresence {
        LocalPresence {
            node: rand::random(),
            book: Mutex::new(Book::default()),
            grace,
            wake: Notify::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Book> {
        self.book.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Announces presence changes until `shutdown`.
    async fn run(&self, store: &dyn Store, bus: &dyn Bus, shutdown: CancellationToken) {
        self.announce_until(store, bus, &shutdown).await;
    }

    /// Announces changes and publishes leases until `shutdown`.
    async fn announce_until(&self, store: &dyn Store, bus: &dyn Bus, shutdown: &CancellationToken) {
        let mut leases = tokio::time::interval(LEASE_EVERY);
        leases.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let (changes, next, gone) = {
                let mut book = self.lock();
                let (changes, next) = book.take_due(Instant::now());
                (changes, next, std::mem::take(&mut book.gone))
            };
            if !gone.is_empty() {
                let offline = gone.into_iter().map(|u| (u, false)).collect();
                tokio::select! {
                    _ = shutdown.cancelled() => break,
                    _ = announce(store, bus, self.node, offline, Scope::ThisNode) => {}
                }
            }
            if !changes.is_empty() {
                tokio::select! {
                    _ = shutdown.cancelled() => break,
                    _ = announce(store, bus, self.node, changes, Scope::AllNodes) => continue,
                }
            }
            let deadline = async {
                match next {
                    Some(at) => tokio::time::sleep_until(at).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = self.wake.notified() => {}
                _ = deadline => {}
                _ = leases.tick() => {
                    let users = {
                        let mut book = self.lock();
                        book.expire(Instant::now());
                        book.lease()
                    };
                    roomy_bus::announce(bus, Envelope {
                        recipients: Vec::new(),
                        event: Event::PresenceLease { node: self.node, users },
                        origin: None,
                    })
                    .await;
                }
            }
        }
    }
}

impl Presence for LocalPresence {
    fn connected(&self, user: UserId) {
        let mut book = self.lock();
        let e = book.users.entry(user).or_default();
        e.conns += 1;
        // Back within its grace period: the others were never told it left.
        e.grace_until = None;
        let announce = !e.announced && book.mark(user);
        drop(book);
        if announce {
            self.wake.notify_one();
        }
    }

    fn disconnected(&self, user: UserId) {
        let mut book = self.lock();
        let Some(e) = book.users.get_mut(&user) else {
            return;
        };
        e.conns = e.conns.saturating_sub(1);
        let mut wake = false;
        if e.conns == 0 {
            if self.grace.is_zero() {
                wake = e.announced && book.mark(user);
            } else {
                let until = Instant::now() + self.grace;
                e.grace_until = Some(until);
                if !e.scheduled {
                    e.scheduled = true;
                    book.deadlines.push(Reverse((until, user)));
                    wake = true;
                }
            }
        }
        book.tidy(user);
        drop(book);
        if wake {
            self.wake.notify_one();
        }
    }

    fn is_online(&self, user: UserId) -> bool {
        let now = Instant::now();
        let book = self.lock();
        book.local_online(user, now) || book.remote_online(user, now)
    }

    fn node(&self) -> u64 {
        self.node
    }

    fn online_elsewhere(&self, user: UserId, except: u64) -> bool {
        let now = Instant::now();
        let book = self.lock();
        (except != self.node && book.local_online(user, now))
            || book.remote_online_except(user, Some(except), now)
    }

    fn remote_changed(&self, node: u64, user: UserId, online: bool) {
        let until = Instant::now() + LEASE_TTL;
        let mut book = self.lock();
        if online {
            let lease = book.remote.entry(node).or_insert_with(|| Lease {
                users: HashSet::new(),
                until,
            });
            lease.users.insert(user);
            lease.until = lease.until.max(until);
        } else if let Some(lease) = book.remote.get_mut(&node) {
            // The announcing node's event itself tells the clients.
            lease.users.remove(&user);
        }
    }

    fn remote_lease(&self, node: u64, users: &[UserId]) {
        let now = Instant::now();
        let users: HashSet<UserId> = users.iter().copied().collect();
        let mut book = self.lock();
        let before = book.remote.insert(
            node,
            Lease {
                users: users.clone(),
                until: now + LEASE_TTL,
            },
        );
        let dropped: Vec<UserId> = before
            .map(|l| l.users.difference(&users).copied().collect())
            .unwrap_or_default();
        book.dropped(dropped, now);
        let wake = !book.gone.is_empty();
        drop(book);
        if wake {
            self.wake.notify_one();
        }
    }
}

/// Hands back this node's lease as it stops (`node` is its presence id):
/// the other nodes announce its users offline now, not when the lease would
/// have run out. Waits at most 2 s for the bus to send it.
pub async fn hand_back_lease(bus: &dyn Bus, node: u64) {
    roomy_bus::announce(
        bus,
        Envelope {
            recipients: Vec::new(),
            event: Event::PresenceLease {
                node,
                users: Vec::new(),
            },
            origin: None,
        },
    )
    .await;
    bus.flush(Duration::from_secs(2)).await;
}

/// Who an announcement is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scope {
    /// A change of this node's: every node's connections.
    AllNodes,
    /// A change every node works out for itself (a lease ended).
    ThisNode,
}

/// Publishes each change to the users sharing a room with its user, in order.
async fn announce(
    store: &dyn Store,
    bus: &dyn Bus,
    node: u64,
    changes: Vec<(UserId, bool)>,
    scope: Scope,
) {
    let mut reads = futures_util::stream::iter(changes)
        .map(|(user, online)| async move { (user, online, store.co_members(user).await) })
        .buffered(READ_AHEAD);
    while let Some((user, online, recipients)) = reads.next().await {
        match recipients {
            Ok(recipients) if recipients.is_empty() => {}
            Ok(recipients) => {
                let envelope = Envelope {
                    recipients,
                    event: Event::Presence { user, online, node },
                    origin: None,
                };
                match scope {
                    Scope::AllNodes => roomy_bus::announce(bus, envelope).await,
                    Scope::ThisNode => bus.publish_local(envelope),
                }
            }
            // Presence is advisory: the next change, or the members list, corrects it.
            Err(e) => tracing::warn!(
                user = user.0,
                online,
                error = %e,
                "presence change not announced"
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn book_after(steps: &[(&str, i64)], grace: Duration) -> LocalPresence {
        let p = LocalPresence::new(grace);
        for (step, user) in steps {
            match *step {
                "on" => p.connected(UserId(*user)),
                _ => p.disconnected(UserId(*user)),
            }
        }
        p
    }

    fn connections(p: &LocalPresence, user: i64) -> usize {
        p.lock().users.get(&UserId(user)).map_or(0, |e| e.conns)
    }

    fn gone(p: &LocalPresence) -> Vec<UserId> {
        std::mem::take(&mut p.lock().gone)
    }

    #[tokio::test(start_paused = true)]
    async fn other_nodes_hold_their_users_online_while_their_leases_last() {
        let p = book_after(&[("on", 1)], Duration::ZERO);
        p.remote_lease(7, &[UserId(1), UserId(2), UserId(3)]);
        assert!(p.is_online(UserId(2)), "online on node 7");
        // Node 7's own offline is its event to tell; nothing to announce here.
        p.remote_changed(7, UserId(3), false);
        assert!(!p.is_online(UserId(3)));
        assert!(gone(&p).is_empty());
        // An online from a node not seen before starts its lease.
        p.remote_changed(8, UserId(4), true);
        assert!(p.is_online(UserId(4)));
        // A renewal without user 2: lost offline news heals, and this node
        // tells its own connections.
        p.remote_lease(7, &[UserId(1)]);
        assert!(!p.is_online(UserId(2)));
        assert_eq!(gone(&p), vec![UserId(2)]);
        // A node that stops renewing takes its users offline; user 1 stays
        // online on this node and is not announced.
        tokio::time::advance(LEASE_TTL).await;
        assert!(!p.is_online(UserId(4)), "the lease ran out");
        p.lock().expire(Instant::now());
        let mut ended = gone(&p);
        ended.sort_by_key(|u| u.0);
        assert_eq!(ended, vec![UserId(4)]);
        assert!(p.is_online(UserId(1)));
        assert!(p.lock().remote.is_empty());
    }

    #[tokio::test(start_paused = true)]
    async fn a_lease_lists_the_users_announced_online() {
        let p = book_after(&[("on", 1), ("on", 2)], Duration::ZERO);
        assert!(p.lock().lease().is_empty(), "not announced yet");
        p.lock().take_due(Instant::now());
        assert_eq!(p.lock().lease(), vec![UserId(1), UserId(2)]);
        p.disconnected(UserId(2));
        p.lock().take_due(Instant::now());
        assert_eq!(p.lock().lease(), vec![UserId(1)]);
    }

    #[tokio::test(start_paused = true)]
    async fn first_connection_announces_online_and_later_ones_nothing() {
        let p = book_after(&[("on", 1), ("on", 1)], Duration::from_secs(5));
        let now = Instant::now();
        assert_eq!(p.lock().take_due(now).0, vec![(UserId(1), true)]);
        p.disconnected(UserId(1));
        assert_eq!(p.lock().take_due(now).0, vec![]);
        assert!(p.is_online(UserId(1)));
        assert_eq!(connections(&p, 1), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn offline_comes_after_the_grace_and_a_reconnect_cancels_it() {
        let grace = Duration::from_secs(5);
        let p = book_after(&[("on", 1)], grace);
        let t0 = Instant::now();
        assert_eq!(p.lock().take_due(t0).0, vec![(UserId(1), true)]);
        p.disconnected(UserId(1));
        assert!(p.is_online(UserId(1)), "in its grace period");
        let (changes, next) = p.lock().take_due(t0);
        assert!(changes.is_empty());
        let due = next.expect("a deadline");
        assert_eq!(due, t0 + grace);
        // Back and gone again a second later: the old deadline moves to the
        // new end of grace.
        tokio::time::advance(Duration::from_secs(1)).await;
        p.connected(UserId(1));
        p.disconnected(UserId(1));
        tokio::time::advance(grace - Duration::from_secs(1)).await;
        assert!(p.is_online(UserId(1)), "the reconnect restarted the grace");
        let (changes, next) = p.lock().take_due(Instant::now());
        assert!(changes.is_empty(), "the reconnect restarted the grace");
        let later = next.expect("moved deadline");
        assert_eq!(later, due + Duration::from_secs(1));
        tokio::time::advance(Duration::from_secs(1)).await;
        assert!(!p.is_online(UserId(1)));
        assert_eq!(
            p.lock().take_due(Instant::now()).0,
            vec![(UserId(1), false)]
        );
        assert!(p.lock().users.is_empty(), "nothing kept for offline users");
    }

    #[tokio::test(start_paused = true)]
    async fn a_connection_gone_before_its_announcement_is_never_announced() {
        let p = book_after(&[("on", 2), ("off", 2)], Duration::ZERO);
        assert_eq!(p.lock().take_due(Instant::now()).0, vec![]);
        assert!(p.lock().users.is_empty());
        let p = book_after(&[("on", 3)], Duration::ZERO);
        assert_eq!(p.lock().take_due(Instant::now()).0, vec![(UserId(3), true)]);
        p.disconnected(UserId(3));
        assert!(!p.is_online(UserId(3)));
        assert_eq!(
            p.lock().take_due(Instant::now()).0,
            vec![(UserId(3), false)]
        );
    }
}
