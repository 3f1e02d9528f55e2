//! The hub's delivery order: stream positions, each once, without gaps.
//!
//! Every event that carries a stream position (messages, revocations,
//! notices and per-user events) is delivered in position order: a client
//! keeps one `since` for all its rooms, so a position delivered past a gap
//! would make it skip the missing one for good. The bus may drop, repeat or
//! reorder (events from several nodes' writers interleave on it): an event
//! ahead of a gap is held until the gap fills; a gap that stays open for
//! [`GAP_WAIT`] is filled from the database, and so is a top position the
//! database showed that the bus has not delivered within [`TOP_WAIT`]
//! (a silent bus). Positions are dense and commit in order (each takes the
//! next value of one counter row, locked until its transaction ends), so
//! once position `p` is known committed, everything below it can be read.
//!
//! Pure bookkeeping with the time passed in; the hub does the I/O.

use roomy_bus::{Envelope, Event};
use std::{collections::BTreeMap, sync::Arc, time::Duration};
use tokio::time::Instant;

/// How long an event waits for the positions before it to arrive on the
/// bus before they are read from the database. Events from different
/// nodes arrive out of order by far less; a lost one costs this much delay.
pub const GAP_WAIT: Duration = Duration::from_millis(150);

/// How long a top position read from the database may stay undelivered
/// before it is read from the database too: the bound on delivery delay
/// while the bus is silent. The hub reads the top position this often.
pub const TOP_WAIT: Duration = Duration::from_secs(1);

/// Most events held ahead of a gap; past it the gap is filled at once.
pub const HELD_MAX: usize = 10_000;

/// The stream position of an event, if it has one.
pub fn position(envelope: &Envelope) -> Option<i64> {
    match &envelope.event {
        Event::Message(m) => Some(m.id.0),
        Event::Notice(n) => Some(n.id.0),
        Event::Revoked { notice, .. } => Some(notice.id.0),
        Event::MembersJoined { .. }
        | Event::MemberLeft { .. }
        | Event::RoomUpdated { .. }
        | Event::SessionsEnded { .. }
        | Event::Presence { .. }
        | Event::PresenceLease { .. }
        | Event::Typing { .. }
        | Event::FileUpdated(_) => None,
    }
}

/// Where delivery stands.
#[derive(Debug)]
pub struct Sequencer {
    /// Every position up to this one is delivered (or was before this node
    /// had connections).
    delivered: i64,
    /// Events ahead of a gap, by position.
    held: BTreeMap<i64, Arc<Envelope>>,
    /// When the oldest open gap was first seen.
    gap_since: Option<Instant>,
    /// A committed position the database showed, and when.
    top: Option<(i64, Instant)>,
}

impl Sequencer {
    /// Delivery starting after position `start`.
    pub fn new(start: i64) -> Sequencer {
        Sequencer {
            delivered: start,
            held: BTreeMap::new(),
            gap_since: None,
            top: None,
        }
    }

    /// The last position delivered.
    pub fn delivered(&self) -> i64 {
        self.delivered
    }

    /// Takes an event from the bus; what may now be delivered is appended
    /// to `out`, in order.
    pub fn offer(&mut self, envelope: Arc<Envelope>, now: Instant, out: &mut Vec<Arc<Envelope>>) {
        let Some(p) = position(&envelope) else {
            out.push(envelope);
            return;
        };
        if p <= self.delivered {
            return; // delivered already: a repeat, or filled from the database
        }
        self.held.entry(p).or_insert(envelope);
        self.release(out);
        if !self.held.is_empty() && self.gap_since.is_none() {
            self.gap_since = Some(now);
        }
    }

    /// Notes the database's top committed position, read at `now`.
    pub fn observe_top(&mut self, top: i64, now: Instant) {
        match self.top {
            // An older reading still waiting keeps its (earlier) deadline.
            Some((t, _)) if t > self.delivered => {}
            _ if top > self.delivered => self.top = Some((top, now)),
            _ => self.top = None,
        }
    }

    /// When [`Sequencer::due`] next has something to fill.
    pub fn deadline(&self) -> Option<Instant> {
        let gap = self.gap_since.map(|t| t + GAP_WAIT);
        let top = self
            .top
            .filter(|(t, _)| *t > self.delivered)
            .map(|(_, at)| at + TOP_WAIT);
        match (gap, top) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// The range `(delivered, upto]` to read from the database now, if any.
    pub fn due(&self, now: Instant) -> Option<(i64, i64)> {
        let mut upto = None;
        let overfull = self.held.len() >= HELD_MAX;
        if overfull || self.gap_since.is_some_and(|t| now >= t + GAP_WAIT) {
            upto = self.held.keys().next_back().copied();
        }
        if let Some((t, at)) = self.top
            && t > self.delivered
            && now >= at + TOP_WAIT
        {
            upto = Some(upto.map_or(t, |u: i64| u.max(t)));
        }
        upto.map(|u| (self.delivered, u))
    }

    /// Applies what the database held at positions `(delivered, upto]`:
    /// each position is delivered once, the bus's own event where it came
    /// (it may answer a request), else the replayed one.
    pub fn fill(
        &mut self,
        upto: i64,
        replayed: Vec<(i64, Envelope)>,
        out: &mut Vec<Arc<Envelope>>,
    ) {
        let mut merged: BTreeMap<i64, Arc<Envelope>> = replayed
            .into_iter()
            .filter(|(p, _)| *p > self.delivered && *p <= upto)
            .map(|(p, e)| (p, Arc::new(e)))
            .collect();
        let later = self.held.split_off(&(upto + 1));
        merged.extend(std::mem::replace(&mut self.held, later));
        out.extend(merged.into_values());
        self.skip(upto);
        self.release(out);
    }

    /// Gives up on delivering positions up to `upto` (their clients resync).
    pub fn skip(&mut self, upto: i64) {
        if upto > self.delivered {
            self.held = self.held.split_off(&(upto + 1));
            self.delivered = upto;
        }
        self.settle();
    }

    /// Moves held events that are next in line to `out`.
    fn release(&mut self, out: &mut Vec<Arc<Envelope>>) {
        while let Some(entry) = self.held.first_entry() {
            if *entry.key() != self.delivered + 1 {
                break;
            }
            self.delivered += 1;
            out.push(entry.remove());
        }
        self.settle();
    }

    /// Forgets timers whose wait is over.
    fn settle(&mut self) {
        if self.held.is_empty() {
            self.gap_since = None;
        }
        if self.top.is_some_and(|(t, _)| t <= self.delivered) {
            self.top = None;
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use roomy_core::{MessageId, RoomId, UserId, chat_fields::MessageKind};
    use roomy_store::{Message, UserBrief};

    fn message(id: i64) -> Envelope {
        Envelope {
            recipients: vec![UserId(1)],
            event: Event::Message(Message {
                id: MessageId(id),
                room_id: RoomId(1),
                seq: id,
                sender: UserBrief {
                    id: UserId(1),
                    nickname: String::new(),
                    avatar: None,
                },
                client_id: None,
                kind: MessageKind::Text,
                body: Some(format!("m{id}")),
                created_at: time::OffsetDateTime::UNIX_EPOCH,
                revoked: false,
                event: None,
                ref_id: None,
                file: None,
            }),
            origin: None,
        }
    }

    fn typing() -> Envelope {
        Envelope {
            recipients: vec![UserId(1)],
            event: Event::Typing {
                room: RoomId(1),
                user: UserId(2),
            },
            origin: None,
        }
    }

    fn positions(out: &[Arc<Envelope>]) -> Vec<Option<i64>> {
        out.iter().map(|e| position(e)).collect()
    }

    #[test]
    fn in_order_events_pass_and_repeats_are_dropped() {
        let now = Instant::now();
        let mut s = Sequencer::new(10);
        let mut out = Vec::new();
        for p in [11, 12, 12, 9, 13] {
            s.offer(Arc::new(message(p)), now, &mut out);
        }
        s.offer(Arc::new(typing()), now, &mut out);
        assert_eq!(
            positions(&out),
            vec![Some(11), Some(12), Some(13), None],
            "unpositioned events never wait"
        );
        assert_eq!(s.deadline(), None);
        assert_eq!(s.due(now + Duration::from_secs(60)), None);
    }

    #[test]
    fn an_event_ahead_of_a_gap_waits_for_it() {
        let now = Instant::now();
        let mut s = Sequencer::new(10);
        let mut out = Vec::new();
        s.offer(Arc::new(message(13)), now, &mut out);
        s.offer(Arc::new(message(12)), now, &mut out);
        assert!(out.is_empty());
        assert_eq!(s.deadline(), Some(now + GAP_WAIT));
        assert_eq!(s.due(now), None, "not yet");
        s.offer(Arc::new(message(11)), now, &mut out);
        assert_eq!(positions(&out), vec![Some(11), Some(12), Some(13)]);
        assert_eq!(s.deadline(), None, "the gap closed");
    }

    #[test]
    fn a_gap_that_stays_open_is_filled_from_the_database() {
        let now = Instant::now();
        let mut s = Sequencer::new(10);
        let mut out = Vec::new();
        s.offer(Arc::new(message(12)), now, &mut out);
        s.offer(Arc::new(message(14)), now, &mut out);
        let later = now + GAP_WAIT;
        assert_eq!(s.due(later), Some((10, 14)));
        // The database has 11, 12 and 14 (13 held nothing a live client sees).
        let replayed = vec![(11, message(11)), (12, message(12)), (14, message(14))];
        s.fill(14, replayed, &mut out);
        assert_eq!(positions(&out), vec![Some(11), Some(12), Some(14)]);
        assert_eq!(s.delivered(), 14);
        assert_eq!(s.deadline(), None);
        // The lost event arriving late is not delivered twice.
        s.offer(Arc::new(message(11)), later, &mut out);
        assert_eq!(out.len(), 3);
    }

    #[test]
    fn a_fill_prefers_the_event_the_bus_brought() {
        let now = Instant::now();
        let mut s = Sequencer::new(0);
        let mut out = Vec::new();
        let mut own = message(2);
        own.origin = Some(roomy_bus::Origin {
            node: 1,
            conn: 1,
            request: Some("\"a\"".into()),
        });
        s.offer(Arc::new(own), now, &mut out);
        s.fill(2, vec![(1, message(1)), (2, message(2))], &mut out);
        assert_eq!(positions(&out), vec![Some(1), Some(2)]);
        assert!(out[1].origin.is_some(), "the ack is kept");
    }

    #[test]
    fn a_silent_bus_is_caught_up_from_the_top_position() {
        let now = Instant::now();
        let mut s = Sequencer::new(5);
        let mut out = Vec::new();
        s.observe_top(5, now);
        assert_eq!(s.deadline(), None, "nothing is missing");
        s.observe_top(8, now);
        assert_eq!(s.deadline(), Some(now + TOP_WAIT));
        // A later reading keeps the earlier deadline.
        s.observe_top(9, now + TOP_WAIT / 2);
        assert_eq!(s.due(now + TOP_WAIT / 2), None);
        assert_eq!(s.due(now + TOP_WAIT), Some((5, 8)));
        s.fill(8, vec![(6, message(6)), (8, message(8))], &mut out);
        assert_eq!(positions(&out), vec![Some(6), Some(8)]);
        assert_eq!(s.delivered(), 8);
        // Delivered by the bus in time: nothing to read.
        s.observe_top(9, now + TOP_WAIT);
        s.offer(Arc::new(message(9)), now + TOP_WAIT, &mut out);
        assert_eq!(s.due(now + TOP_WAIT * 3), None);
    }

    #[test]
    fn too_many_held_events_fill_at_once_and_skipping_drops_what_it_covers() {
        let now = Instant::now();
        let mut s = Sequencer::new(0);
        let mut out = Vec::new();
        for p in 2..(2 + HELD_MAX as i64) {
            s.offer(Arc::new(message(p)), now, &mut out);
        }
        assert!(out.is_empty());
        assert_eq!(s.due(now), Some((0, 1 + HELD_MAX as i64)));
        s.skip(100);
        assert_eq!(s.delivered(), 100);
        s.offer(Arc::new(message(50)), now, &mut out);
        assert!(out.is_empty(), "skipped positions stay skipped");
        s.skip(HELD_MAX as i64 + 1);
        assert_eq!(s.deadline(), None);
    }
}
