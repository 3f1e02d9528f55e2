//! Presence: which users are online on this node, and the `presence` events
//! that tell everyone sharing a room with them.
//!
//! The hub reports each connection's start and end here. A user's first
//! connection makes it online at once; when its last one closes it stays
//! online for the grace period (`presence_grace_secs`), so a reconnect within
//! it announces nothing at all. One task makes the announcements, in the
//! order the changes happened: it reads the recipients (one `co_members`
//! query) and publishes on the bus. Only each user's latest state is kept,
//! never a queue of changes, so memory is bounded by the users that have a
//! connection or are in their grace period, and a flapping client costs at
//! most one pending announcement.
//!
//! The counts are this node's own: with several nodes each would announce
//! its share of a user's connections (a known limit, see ARCHITECTURE.md).

use futures_util::StreamExt;
use roomy_bus::{Bus, Envelope, Event};
use roomy_core::UserId;
use roomy_store::Store;
use std::{
    cmp::Reverse,
    collections::{BinaryHeap, HashMap},
    sync::{Mutex, MutexGuard},
    time::Duration,
};
use tokio::{
    sync::{Notify, watch},
    time::Instant,
};
use tokio_util::sync::CancellationToken;

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

/// This node's presence bookkeeping; the hub owns it.
#[derive(Debug)]
pub(super) struct Presence {
    book: Mutex<Book>,
    grace: Duration,
    /// Wakes the announcer when there is something to announce or a new deadline.
    wake: Notify,
    /// Bumped after every connect and disconnect, for [`Presence::wait_connections`].
    changes: watch::Sender<u64>,
}

impl Presence {
    pub(super) fn new(grace: Duration) -> Presence {
        Presence {
            book: Mutex::new(Book::default()),
            grace,
            wake: Notify::new(),
            changes: watch::Sender::new(0),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Book> {
        self.book.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A connection of `user` started.
    pub(super) fn connected(&self, user: UserId) {
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
        self.changes.send_modify(|n| *n += 1);
    }

    /// A connection of `user` ended.
    pub(super) fn disconnected(&self, user: UserId) {
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
        self.changes.send_modify(|n| *n += 1);
    }

    /// Whether `user` has a live connection here or is in its grace period.
    pub(super) fn is_online(&self, user: UserId) -> bool {
        self.lock()
            .users
            .get(&user)
            .is_some_and(|e| e.conns > 0 || e.grace_until.is_some_and(|t| t > Instant::now()))
    }

    /// `user`'s live connections here.
    pub(super) fn connections(&self, user: UserId) -> usize {
        self.lock().users.get(&user).map_or(0, |e| e.conns)
    }

    /// Resolves once `user` has exactly `n` live connections here.
    pub(super) async fn wait_connections(&self, user: UserId, n: usize) {
        let mut rx = self.changes.subscribe();
        // The sender lives as long as `self`: the wait cannot fail.
        let _ = rx.wait_for(|_| self.connections(user) == n).await;
    }

    /// Announces presence changes until `shutdown`.
    pub(super) async fn run(&self, store: &dyn Store, bus: &dyn Bus, shutdown: CancellationToken) {
        loop {
            let (changes, next) = self.lock().take_due(Instant::now());
            if !changes.is_empty() {
                tokio::select! {
                    _ = shutdown.cancelled() => break,
                    _ = announce(store, bus, changes) => continue,
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
            }
        }
    }
}

/// Publishes each change to the users sharing a room with its user, in order.
async fn announce(store: &dyn Store, bus: &dyn Bus, changes: Vec<(UserId, bool)>) {
    let mut reads = futures_util::stream::iter(changes)
        .map(|(user, online)| async move { (user, online, store.co_members(user).await) })
        .buffered(READ_AHEAD);
    while let Some((user, online, recipients)) = reads.next().await {
        match recipients {
            Ok(recipients) if recipients.is_empty() => {}
            Ok(recipients) => bus.publish(Envelope {
                recipients,
                event: Event::Presence { user, online },
                origin: None,
            }),
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
    use super::*;

    fn book_after(steps: &[(&str, i64)], grace: Duration) -> Presence {
        let p = Presence::new(grace);
        for (step, user) in steps {
            match *step {
                "on" => p.connected(UserId(*user)),
                _ => p.disconnected(UserId(*user)),
            }
        }
        p
    }

    #[tokio::test]
    async fn first_connection_announces_online_and_later_ones_nothing() {
        let p = book_after(&[("on", 1), ("on", 1)], Duration::from_secs(5));
        let now = Instant::now();
        assert_eq!(p.lock().take_due(now).0, vec![(UserId(1), true)]);
        p.disconnected(UserId(1));
        assert_eq!(p.lock().take_due(now).0, vec![]);
        assert!(p.is_online(UserId(1)));
        assert_eq!(p.connections(UserId(1)), 1);
    }

    #[tokio::test]
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
        // Back and gone again: the old deadline moves to the new end of grace.
        p.connected(UserId(1));
        p.disconnected(UserId(1));
        let (changes, next) = p.lock().take_due(due);
        assert!(changes.is_empty(), "the reconnect restarted the grace");
        let later = next.expect("moved deadline");
        assert!(later >= due);
        assert_eq!(p.lock().take_due(later).0, vec![(UserId(1), false)]);
        assert!(!p.is_online(UserId(1)));
        assert!(p.lock().users.is_empty(), "nothing kept for offline users");
    }

    #[tokio::test]
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
