//! The cluster test's verdict: pure functions over what each client saw and
//! what the database holds, so every rule is unit-tested on hand-made runs
//! (a lost, reordered or doubled live message must be reported).
//!
//! The rules, from `docs/protocol.md`:
//! - on one connection, each room's `message` frames and the acks of first
//!   sends come in strictly increasing seq order, none twice, and none at or
//!   below the connection's `ready.since`;
//! - every message after `ready.since` reaches the connection, so between
//!   two live seqs of a room nothing is missing, nor between `ready.since`
//!   and the first; a connection open at the end has everything up to the
//!   room's last message (gaps are allowed only where a connection closed,
//!   and `sync` on the next one must then fill them);
//! - the acks of retried sends (same client id) are answered as soon as
//!   known, so they stand outside the ordered stream, but they do fill it;
//! - nothing is delivered live twice, across all of a user's connections;
//! - everything a client saw is what the database holds at that seq;
//! - every message after the client's first `ready.since` reached it, live
//!   or through sync; every send was acknowledged, and as what is stored;
//! - the database holds each room's messages once, seqs 1..=n, positions
//!   increasing with seq, no client id twice for one sender.

use std::collections::{BTreeSet, HashMap, HashSet};

/// A message as a client saw it or the database holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Msg {
    pub room: i64,
    pub seq: i64,
    /// The message's stream position.
    pub id: i64,
    pub sender: i64,
    pub client_id: Option<String>,
}

impl Msg {
    /// Reads a message object of the wire (`message`, `ack`, sync events, history items).
    pub fn from_json(v: &serde_json::Value) -> Option<Msg> {
        Some(Msg {
            room: v["room_id"].as_i64()?,
            seq: v["seq"].as_i64()?,
            id: v["id"].as_i64()?,
            sender: v["sender"]["id"].as_i64()?,
            client_id: v["client_id"].as_str().map(str::to_owned),
        })
    }
}

/// What one WebSocket connection saw, each list in arrival order.
#[derive(Debug, Default, Clone)]
pub struct Connection {
    /// `ready.since`: live delivery starts after it.
    pub since: i64,
    /// The node that served it (the load balancer's `X-Served-By`), if known.
    pub node: Option<String>,
    /// `message` frames and the acks of first sends: the stream each node's
    /// hub must keep in order and without gaps.
    pub live: Vec<Msg>,
    /// Acks of retried sends: answered as soon as known, outside the order.
    pub retry_acks: Vec<Msg>,
    /// What `sync` returned on this connection, with the history pages a
    /// limited sync asked for.
    pub synced: Vec<Msg>,
    /// Still open when the run ended: it must then have everything after `since`.
    pub open_at_end: bool,
    /// When its `ready` came (Unix ms), for the verdict's timeline.
    pub ready_at_ms: i64,
    /// When the catch-up `sync` it sent (with any history pages) was done
    /// (Unix ms); none on a first connection, which has nothing to catch up.
    pub synced_at_ms: Option<i64>,
}

/// Everything one client (one user) saw and did during the run.
#[derive(Debug, Default, Clone)]
pub struct ClientRecord {
    pub user: i64,
    pub name: String,
    pub rooms: Vec<i64>,
    /// In the order they were opened.
    pub connections: Vec<Connection>,
    /// Every ack received (first sends and retries).
    pub acks: Vec<Msg>,
    /// (room, client id) of sends never acknowledged.
    pub unacked: Vec<(i64, String)>,
}

impl ClientRecord {
    /// Where the check starts: the first connection's `ready.since`.
    pub fn baseline(&self) -> Option<i64> {
        self.connections.first().map(|c| c.since)
    }

    /// Whether the client has seen, by any path, every stored message after
    /// its baseline in its rooms (what the run waits for before judging).
    pub fn caught_up(&self, stored: &Stored) -> bool {
        let Some(baseline) = self.baseline() else {
            return false;
        };
        let seen: HashSet<(i64, i64)> = self
            .connections
            .iter()
            .flat_map(|c| c.live.iter().chain(&c.retry_acks).chain(&c.synced))
            .map(|m| (m.room, m.seq))
            .collect();
        self.rooms.iter().all(|r| {
            stored
                .room(*r)
                .iter()
                .filter(|m| m.id > baseline)
                .all(|m| seen.contains(&(m.room, m.seq)))
        })
    }
}

/// The database's side: each room's history, in seq order.
#[derive(Debug, Default, Clone)]
pub struct Stored {
    pub rooms: HashMap<i64, Vec<Msg>>,
}

impl Stored {
    /// A room's messages (empty when unknown).
    pub fn room(&self, room: i64) -> &[Msg] {
        self.rooms.get(&room).map(Vec::as_slice).unwrap_or_default()
    }

    fn at(&self, room: i64, seq: i64) -> Option<&Msg> {
        let msgs = self.room(room);
        // Seqs run 1..=n when the store is sound; search otherwise.
        match usize::try_from(seq - 1).ok().and_then(|i| msgs.get(i)) {
            Some(m) if m.seq == seq => Some(m),
            _ => msgs.iter().find(|m| m.seq == seq),
        }
    }
}

/// Counts for the verdict.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Tally {
    /// Live frames checked (messages and acks of first sends).
    pub live: u64,
    /// Acks of retried sends.
    pub retry_acks: u64,
    /// Messages returned by sync (and the history pages it asked for).
    pub synced: u64,
}

/// A problem description never gets longer than this many seqs.
const SHOWN: usize = 8;

fn seqs(list: &BTreeSet<i64>) -> String {
    let mut s: Vec<String> = list.iter().take(SHOWN).map(i64::to_string).collect();
    if list.len() > SHOWN {
        s.push(format!("... ({} in all)", list.len()));
    }
    s.join(", ")
}

fn cid(m: &Msg) -> &str {
    m.client_id.as_deref().unwrap_or("-")
}

/// Checks the database: per room, seqs 1..=n, positions increasing with
/// seq, no client id twice for one sender.
pub fn check_store(stored: &Stored, problems: &mut Vec<String>) {
    let mut rooms: Vec<_> = stored.rooms.keys().copied().collect();
    rooms.sort_unstable();
    for room in rooms {
        let msgs = stored.room(room);
        if let Some((i, m)) = msgs
            .iter()
            .enumerate()
            .find(|(i, m)| m.seq != *i as i64 + 1)
        {
            problems.push(format!(
                "store: room {room} has seq {} at position {} (seqs must run 1..=n)",
                m.seq,
                i + 1
            ));
        }
        if let Some(w) = msgs.windows(2).find(|w| w[1].id <= w[0].id) {
            problems.push(format!(
                "store: room {room}: seq {} (id {}) is not after seq {} (id {})",
                w[1].seq, w[1].id, w[0].seq, w[0].id
            ));
        }
        let mut by_sender = HashSet::new();
        for m in msgs {
            if let Some(c) = &m.client_id
                && !by_sender.insert((m.sender, c.as_str()))
            {
                problems.push(format!(
                    "store: room {room}: client id {c} of user {} stored twice",
                    m.sender
                ));
            }
        }
    }
}

/// Checks one client against the database.
pub fn check_client(
    client: &ClientRecord,
    stored: &Stored,
    tally: &mut Tally,
    problems: &mut Vec<String>,
) {
    let who = format!("{} (user {})", client.name, client.user);
    let Some(baseline) = client.baseline() else {
        problems.push(format!("{who}: never connected"));
        return;
    };
    let mine: HashSet<i64> = client.rooms.iter().copied().collect();
    let mut seen: HashSet<(i64, i64)> = HashSet::new();
    let mut live_once: HashMap<(i64, i64), usize> = HashMap::new();

    for (k, conn) in client.connections.iter().enumerate() {
        let at = format!(
            "{who}, connection {} (node {}, since {})",
            k + 1,
            conn.node.as_deref().unwrap_or("?"),
            conn.since
        );
        tally.live += conn.live.len() as u64;
        tally.retry_acks += conn.retry_acks.len() as u64;
        tally.synced += conn.synced.len() as u64;

        // What was delivered must be what is stored, in the client's rooms.
        for m in conn.live.iter().chain(&conn.retry_acks).chain(&conn.synced) {
            if !mine.contains(&m.room) {
                problems.push(format!(
                    "{at}: got seq {} of room {}, not one of its rooms",
                    m.seq, m.room
                ));
            }
            match stored.at(m.room, m.seq) {
                Some(s) if s == m => {}
                Some(s) => problems.push(format!(
                    "{at}: room {} seq {} arrived as id {} client id {}, stored as id {} client id {}",
                    m.room, m.seq, m.id, cid(m), s.id, cid(s)
                )),
                None => problems.push(format!(
                    "{at}: room {} seq {} (id {}) is not in the database",
                    m.room, m.seq, m.id
                )),
            }
            seen.insert((m.room, m.seq));
        }

        // The live stream: per room in order, after `since`, never twice.
        let mut last: HashMap<i64, i64> = HashMap::new();
        let mut per_room: HashMap<i64, Vec<i64>> = HashMap::new();
        for m in &conn.live {
            if m.id <= conn.since {
                problems.push(format!(
                    "{at}: room {} seq {} (id {}) arrived live at or below ready.since",
                    m.room, m.seq, m.id
                ));
            }
            if let Some(p) = last.insert(m.room, m.seq)
                && m.seq <= p
            {
                problems.push(format!(
                    "{at}: room {}: seq {} arrived after seq {} (out of order or twice)",
                    m.room, m.seq, p
                ));
            }
            *live_once.entry((m.room, m.seq)).or_default() += 1;
            per_room.entry(m.room).or_default().push(m.seq);
        }

        // Nothing after `since` may be missing from the stream: up to
        // the last seq it delivered, or to the end when still open.
        let filled: HashSet<(i64, i64)> = conn
            .live
            .iter()
            .chain(&conn.retry_acks)
            .map(|m| (m.room, m.seq))
            .collect();
        let mut rooms: Vec<i64> = client.rooms.clone();
        rooms.sort_unstable();
        for room in rooms {
            let reach = if conn.open_at_end {
                i64::MAX
            } else {
                conn.live
                    .iter()
                    .chain(&conn.retry_acks)
                    .filter(|m| m.room == room)
                    .map(|m| m.seq)
                    .max()
                    .unwrap_or(0)
            };
            let missing: BTreeSet<i64> = stored
                .room(room)
                .iter()
                .filter(|m| m.id > conn.since && m.seq <= reach)
                .filter(|m| !filled.contains(&(room, m.seq)))
                .map(|m| m.seq)
                .collect();
            if !missing.is_empty() {
                let received = per_room.get(&room).map(Vec::len).unwrap_or(0);
                problems.push(format!(
                    "{at}: room {room}: gap in live delivery, seqs {} never arrived ({received} live frames in the room{})",
                    seqs(&missing),
                    if conn.open_at_end { ", open to the end" } else { "" }
                ));
            }
        }
    }

    let mut doubled: Vec<_> = live_once.into_iter().filter(|(_, n)| *n > 1).collect();
    doubled.sort_unstable();
    for ((room, seq), n) in doubled.into_iter().take(SHOWN) {
        problems.push(format!(
            "{who}: room {room} seq {seq} delivered live {n} times"
        ));
    }

    // Everything after the baseline arrived, by one path or another.
    let mut rooms = client.rooms.clone();
    rooms.sort_unstable();
    for room in rooms {
        let missing: BTreeSet<i64> = stored
            .room(room)
            .iter()
            .filter(|m| m.id > baseline && !seen.contains(&(room, m.seq)))
            .map(|m| m.seq)
            .collect();
        if !missing.is_empty() {
            problems.push(format!(
                "{who}: room {room}: seqs {} reached it neither live nor by sync",
                seqs(&missing)
            ));
        }
    }

    // Acknowledged as stored.
    for a in &client.acks {
        match stored.at(a.room, a.seq) {
            Some(s) if s == a && s.sender == client.user => {}
            Some(s) => problems.push(format!(
                "{who}: the ack of {} (user {}) says room {} seq {} id {}; the database has {} of user {} (id {}) there",
                cid(a), a.sender, a.room, a.seq, a.id, cid(s), s.sender, s.id
            )),
            None => problems.push(format!(
                "{who}: acknowledged message {} (room {} seq {}) was lost",
                cid(a), a.room, a.seq
            )),
        }
    }
    for (room, c) in client.unacked.iter().take(SHOWN) {
        // Whether the message itself came back tells a lost ack from a lost send.
        let echo = client.connections.iter().enumerate().find_map(|(k, conn)| {
            conn.live
                .iter()
                .chain(&conn.synced)
                .find(|m| {
                    m.room == *room
                        && m.sender == client.user
                        && m.client_id.as_deref() == Some(c.as_str())
                })
                .map(|m| (k, m.seq))
        });
        problems.push(match echo {
            Some((k, seq)) => format!(
                "{who}: send {c} to room {room} was never acknowledged, though it was stored as seq {seq} and came back to connection {} as a message",
                k + 1
            ),
            None => format!("{who}: send {c} to room {room} was never acknowledged"),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALICE: i64 = 1;
    const BOB: i64 = 2;
    const ROOM: i64 = 10;

    /// A room of `n` messages from alice and bob in turn; ids from 101.
    fn store(n: i64) -> Stored {
        let msgs = (1..=n)
            .map(|seq| Msg {
                room: ROOM,
                seq,
                id: 100 + seq,
                sender: if seq % 2 == 1 { ALICE } else { BOB },
                client_id: Some(format!("c{seq}")),
            })
            .collect();
        Stored {
            rooms: HashMap::from([(ROOM, msgs)]),
        }
    }

    fn msg(stored: &Stored, seq: i64) -> Msg {
        stored.room(ROOM)[seq as usize - 1].clone()
    }

    /// Bob on one connection from the start (since 100) to the end,
    /// receiving `seqs` live; alice's messages arrive as `message` frames,
    /// his own as acks.
    fn bob(stored: &Stored, seqs: &[i64]) -> ClientRecord {
        let live: Vec<Msg> = seqs.iter().map(|s| msg(stored, *s)).collect();
        ClientRecord {
            user: BOB,
            name: "bob".into(),
            rooms: vec![ROOM],
            acks: live.iter().filter(|m| m.sender == BOB).cloned().collect(),
            connections: vec![Connection {
                since: 100,
                live,
                open_at_end: true,
                ..Connection::default()
            }],
            unacked: vec![],
        }
    }

    fn problems(client: &ClientRecord, stored: &Stored) -> Vec<String> {
        let mut p = Vec::new();
        check_store(stored, &mut p);
        check_client(client, stored, &mut Tally::default(), &mut p);
        p
    }

    #[test]
    fn a_clean_run_passes() {
        let s = store(6);
        let c = bob(&s, &[1, 2, 3, 4, 5, 6]);
        assert_eq!(problems(&c, &s), Vec::<String>::new());
        assert!(c.caught_up(&s));
    }

    #[test]
    fn a_lost_live_message_fails() {
        let s = store(6);
        let c = bob(&s, &[1, 2, 4, 5, 6]);
        let p = problems(&c, &s);
        assert!(
            p.iter()
                .any(|p| p.contains("gap in live delivery, seqs 3 ")),
            "{p:?}"
        );
        assert!(
            p.iter().any(|p| p.contains("seqs 3 reached it neither")),
            "{p:?}"
        );
        assert!(!c.caught_up(&s));
    }

    #[test]
    fn a_lost_last_message_on_an_open_connection_fails() {
        let s = store(6);
        let c = bob(&s, &[1, 2, 3, 4, 5]);
        let p = problems(&c, &s);
        assert!(
            p.iter()
                .any(|p| p.contains("gap in live delivery, seqs 6 ")),
            "{p:?}"
        );
    }

    #[test]
    fn a_lost_first_message_fails() {
        let s = store(6);
        let c = bob(&s, &[2, 3, 4, 5, 6]);
        let p = problems(&c, &s);
        assert!(
            p.iter()
                .any(|p| p.contains("gap in live delivery, seqs 1 ")),
            "{p:?}"
        );
    }

    #[test]
    fn a_reordered_live_message_fails_even_when_nothing_is_missing() {
        let s = store(6);
        let c = bob(&s, &[1, 2, 4, 3, 5, 6]);
        let p = problems(&c, &s);
        assert!(
            p.iter().any(|p| p.contains("seq 3 arrived after seq 4")),
            "{p:?}"
        );
        // The in-process bus excuses gaps, never disorder.
        let p = problems(&c, &s);
        assert!(
            p.iter().any(|p| p.contains("seq 3 arrived after seq 4")),
            "{p:?}"
        );
    }

    #[test]
    fn a_message_delivered_twice_fails() {
        let s = store(4);
        let c = bob(&s, &[1, 2, 3, 3, 4]);
        let p = problems(&c, &s);
        assert!(
            p.iter().any(|p| p.contains("seq 3 arrived after seq 3")),
            "{p:?}"
        );
        assert!(
            p.iter().any(|p| p.contains("seq 3 delivered live 2 times")),
            "{p:?}"
        );
    }

    #[test]
    fn a_message_delivered_live_on_two_connections_fails() {
        let s = store(4);
        let mut c = bob(&s, &[1, 2, 3]);
        c.connections[0].open_at_end = false;
        c.connections.push(Connection {
            since: 103,
            live: vec![msg(&s, 3), msg(&s, 4)],
            open_at_end: true,
            ..Connection::default()
        });
        let p = problems(&c, &s);
        assert!(
            p.iter().any(|p| p.contains("seq 3 delivered live 2 times")),
            "{p:?}"
        );
        assert!(
            p.iter().any(|p| p.contains("at or below ready.since")),
            "{p:?}"
        );
    }

    #[test]
    fn a_gap_left_by_a_closed_connection_passes_when_sync_fills_it() {
        let s = store(8);
        let mut c = bob(&s, &[1, 2, 3]);
        c.connections[0].open_at_end = false;
        // Reconnected when 6 was the last; sync brought 4..=6.
        c.connections.push(Connection {
            since: 106,
            synced: vec![msg(&s, 4), msg(&s, 5), msg(&s, 6)],
            live: vec![msg(&s, 7), msg(&s, 8)],
            open_at_end: true,
            ..Connection::default()
        });
        c.acks = vec![msg(&s, 2), msg(&s, 8)];
        assert_eq!(problems(&c, &s), Vec::<String>::new());
        let mut t = Tally::default();
        check_client(&c, &s, &mut t, &mut Vec::new());
        assert_eq!((t.live, t.synced), (5, 3));
    }

    #[test]
    fn a_gap_sync_did_not_fill_fails() {
        let s = store(8);
        let mut c = bob(&s, &[1, 2, 3]);
        c.connections[0].open_at_end = false;
        c.connections.push(Connection {
            since: 106,
            synced: vec![msg(&s, 4), msg(&s, 6)],
            live: vec![msg(&s, 7), msg(&s, 8)],
            open_at_end: true,
            ..Connection::default()
        });
        let p = problems(&c, &s);
        assert!(
            p.iter().any(|p| p.contains("seqs 5 reached it neither")),
            "{p:?}"
        );
    }

    #[test]
    fn a_retry_ack_out_of_order_fills_the_stream() {
        let s = store(5);
        // Bob's send of seq 4 was retried after a reconnect: its ack may
        // come before or after the frames around it.
        let mut c = bob(&s, &[1, 2, 3, 5]);
        c.connections[0].retry_acks = vec![msg(&s, 4)];
        c.acks = vec![msg(&s, 2), msg(&s, 4)];
        assert_eq!(problems(&c, &s), Vec::<String>::new());
    }

    #[test]
    fn a_delivery_that_differs_from_the_store_fails() {
        let s = store(3);
        let mut c = bob(&s, &[1, 2, 3]);
        c.connections[0].live[2].id = 999;
        let p = problems(&c, &s);
        assert!(p.iter().any(|p| p.contains("arrived as id 999")), "{p:?}");
    }

    #[test]
    fn a_lost_or_misplaced_acknowledged_message_fails() {
        let s = store(4);
        let mut c = bob(&s, &[1, 2, 3, 4]);
        c.acks.push(Msg {
            room: ROOM,
            seq: 9,
            id: 200,
            sender: BOB,
            client_id: Some("lost".into()),
        });
        c.acks.push(Msg {
            sender: BOB,
            ..msg(&s, 3)
        });
        c.unacked.push((ROOM, "never".into()));
        // Bob's seq 2 came back as a `message` frame instead of its ack.
        c.acks.retain(|a| a.seq != 2);
        c.unacked.push((ROOM, "c2".into()));
        let p = problems(&c, &s);
        assert!(
            p.iter()
                .any(|p| p.contains("message lost (room 10 seq 9) was lost")),
            "{p:?}"
        );
        assert!(
            p.iter().any(|p| p.contains("the ack of c3 (user 2)")),
            "{p:?}"
        );
        assert!(
            p.iter()
                .any(|p| p.contains("send never to room 10 was never acknowledged")),
            "{p:?}"
        );
        assert!(
            p.iter().any(|p| p.contains(
                "send c2 to room 10 was never acknowledged, though it was stored as seq 2 and came back to connection 1 as a message"
            )),
            "{p:?}"
        );
    }

    #[test]
    fn a_broken_store_fails() -> Result<(), String> {
        let mut s = store(4);
        let room = s.rooms.get_mut(&ROOM).ok_or("no room")?;
        room.remove(1);
        room[1].client_id = room[0].client_id.clone();
        room[1].sender = room[0].sender;
        let mut p = Vec::new();
        check_store(&s, &mut p);
        assert!(p.iter().any(|p| p.contains("seq 3 at position 2")), "{p:?}");
        assert!(
            p.iter()
                .any(|p| p.contains("client id c1 of user 1 stored twice")),
            "{p:?}"
        );
        Ok(())
    }

    #[test]
    fn messages_before_the_baseline_are_not_expected() {
        let s = store(6);
        let mut c = bob(&s, &[4, 5, 6]);
        c.connections[0].since = 103;
        assert_eq!(problems(&c, &s), Vec::<String>::new());
    }

    #[test]
    fn a_message_from_another_room_fails() {
        let s = store(3);
        let mut c = bob(&s, &[1, 2, 3]);
        c.rooms = vec![11];
        let p = problems(&c, &s);
        assert!(
            p.iter().any(|p| p.contains("not one of its rooms")),
            "{p:?}"
        );
    }
}
