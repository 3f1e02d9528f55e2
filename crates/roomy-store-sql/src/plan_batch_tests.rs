//! The send rulebook, [`plan_batch`], without a database: what both
//! backends' group commits decide for every message, and the rows they write.
#![allow(clippy::unwrap_used)]

use super::*;
use roomy_core::{
    FileId,
    chat_fields::{ClientId, MessageBody},
};
use std::collections::HashSet;
use time::macros::datetime;

/// Deliberately finer than a millisecond: stored instants are not.
const NOW: OffsetDateTime = datetime!(2024-05-01 12:34:56.789_654_321 UTC);
/// When the stored originals were written.
const EARLIER_MS: i64 = 1_700_000_000_000;

/// `NOW` as it reads back from a row.
fn now_ms() -> OffsetDateTime {
    from_millis(to_millis(NOW))
}

/// The user row of sender `id` (only user 2 has an avatar).
fn brief(id: i64) -> UserBrief {
    UserBrief {
        id: UserId(id),
        nickname: format!("user{id}"),
        avatar: (id == 2).then(|| "a2.png".to_owned()),
    }
}

fn text(room: i64, sender: i64, cid: &str) -> NewMessage {
    NewMessage {
        room_id: RoomId(room),
        sender_id: UserId(sender),
        client_id: Some(ClientId::parse(cid).unwrap()),
        kind: MessageKind::Text,
        body: Some(MessageBody::parse(&format!("{cid} in {room} from {sender}"), 100).unwrap()),
        file: None,
    }
}

fn with_body(mut m: NewMessage, body: &str) -> NewMessage {
    m.body = Some(MessageBody::parse(body, 100).unwrap());
    m
}

/// A server-written notice: no client id.
fn notice(room: i64, sender: i64) -> NewMessage {
    NewMessage {
        room_id: RoomId(room),
        sender_id: UserId(sender),
        client_id: None,
        kind: MessageKind::System,
        body: Some(MessageBody::system("something happened".into())),
        file: None,
    }
}

fn image(room: i64, sender: i64, cid: &str, file: i64) -> NewMessage {
    NewMessage {
        kind: MessageKind::Image,
        body: None,
        file: Some(FileRef {
            id: FileId(file),
            name: "cat.png".into(),
            size: 1234,
            mime: "image/png".into(),
            thumbnail: true,
            cover: false,
        }),
        ..text(room, sender, cid)
    }
}

/// A stored text message of `sender` with client id `cid`.
fn original_row(id: i64, room: i64, seq: i64, sender: i64, cid: &str) -> MessageRow {
    let b = brief(sender);
    MessageRow {
        id,
        room_id: room,
        seq,
        sender_id: sender,
        client_id: Some(cid.to_owned()),
        kind: "text".into(),
        body: Some(format!("original {cid}")),
        created_at: EARLIER_MS,
        revoked_at: None,
        event: None,
        ref_id: None,
        sender_nickname: b.nickname,
        sender_avatar: b.avatar,
        file_id: None,
        file_name: None,
        file_size: None,
        file_mime: None,
        file_thumb: None,
        file_cover: None,
    }
}

/// The message `new` becomes when stored at position `id`, seq `seq`.
fn stored_as(new: &NewMessage, id: i64, seq: i64) -> Message {
    Message {
        id: MessageId(id),
        room_id: new.room_id,
        seq,
        sender: brief(new.sender_id.0),
        client_id: new.client_id.as_ref().map(|c| c.as_str().to_owned()),
        kind: new.kind,
        body: new.body.as_ref().map(|b| b.as_str().to_owned()),
        created_at: now_ms(),
        revoked: false,
        event: None,
        ref_id: None,
        file: new.file.clone().map(Box::new),
    }
}

/// What a table row expects of one message.
#[derive(Debug, Clone, Copy)]
enum Fate {
    /// Stored at (id, seq).
    Stored(i64, i64),
    /// Answered with the message of this id (an original or an earlier one of the batch).
    Dup(i64),
    Rej(AppendRejection),
}
use AppendRejection::*;
use Fate::*;

/// One table row. Users 1..=5 have user rows unless listed in `no_user_row`.
#[derive(Default)]
struct Case {
    name: &'static str,
    policy: DirectPolicy,
    /// (room, last_seq, direct_gate) of existing rooms.
    rooms: &'static [(i64, i64, i64)],
    /// (room, user).
    members: &'static [(i64, i64)],
    no_user_row: &'static [i64],
    /// (id, room, seq, sender, client id) of stored originals.
    originals: &'static [(i64, i64, i64, i64, &'static str)],
    last_id: i64,
    batch: Vec<NewMessage>,
    fates: Vec<Fate>,
    /// (room, last_seq, last_message_id) expected, in any order.
    updates: &'static [(i64, i64, i64)],
    want_last_id: i64,
}

fn run(case: Case) {
    let name = case.name;
    assert_eq!(
        case.fates.len(),
        case.batch.len(),
        "{name}: one fate per message"
    );
    let inputs = BatchInputs {
        rooms: case.rooms.to_vec(),
        members: case.members.to_vec(),
        senders: (1..=5)
            .filter(|id| !case.no_user_row.contains(id))
            .map(|id| {
                let b = brief(id);
                (id, b.nickname, b.avatar)
            })
            .collect(),
        originals: case
            .originals
            .iter()
            .map(|&(id, room, seq, sender, cid)| original_row(id, room, seq, sender, cid))
            .collect(),
        last_id: case.last_id,
    };
    let mut known: HashMap<i64, Message> = inputs
        .originals
        .iter()
        .map(|r| (r.id, r.clone().into_message().unwrap()))
        .collect();
    let plan = plan_batch(&case.batch, inputs, case.policy, NOW)
        .unwrap_or_else(|e| panic!("{name}: {e:?}"));

    let mut want_outcomes = Vec::new();
    let mut want_inserts = Vec::new();
    for (new, fate) in case.batch.iter().zip(&case.fates) {
        want_outcomes.push(match *fate {
            Stored(id, seq) => {
                let message = stored_as(new, id, seq);
                known.insert(id, message.clone());
                want_inserts.push(message.clone());
                let recipients = case
                    .members
                    .iter()
                    .filter(|(room, _)| *room == new.room_id.0)
                    .map(|(_, user)| UserId(*user))
                    .collect();
                AppendOutcome::Stored {
                    message,
                    recipients,
                }
            }
            Dup(id) => AppendOutcome::Duplicate(
                known
                    .get(&id)
                    .unwrap_or_else(|| panic!("{name}: no message {id} to duplicate"))
                    .clone(),
            ),
            Rej(why) => AppendOutcome::Rejected(why),
        });
    }
    assert_eq!(plan.outcomes, want_outcomes, "{name}: outcomes");
    assert_eq!(plan.inserts, want_inserts, "{name}: inserted rows");
    let mut got_updates: Vec<(i64, i64, i64)> = plan
        .room_updates
        .iter()
        .map(|(room, seq, id)| (room.0, *seq, id.0))
        .collect();
    got_updates.sort_unstable();
    let mut want_updates = case.updates.to_vec();
    want_updates.sort_unstable();
    assert_eq!(got_updates, want_updates, "{name}: room updates");
    assert_eq!(plan.last_id, case.want_last_id, "{name}: last_id");
}

/// A group (10) of users 1, 2, 3 with 5 messages and another (11) of 1 and 2, empty.
const GROUPS: &[(i64, i64, i64)] = &[(10, 5, 0), (11, 0, 0)];
const GROUP_MEMBERS: &[(i64, i64)] = &[(10, 1), (10, 2), (10, 3), (11, 2), (11, 1)];

#[test]
fn stores_in_order_and_counts_without_gaps() {
    let cases = vec![
        Case {
            name: "empty batch writes nothing",
            rooms: GROUPS,
            members: GROUP_MEMBERS,
            last_id: 100,
            want_last_id: 100,
            ..Case::default()
        },
        Case {
            name: "one message continues the room and the counter",
            rooms: GROUPS,
            members: GROUP_MEMBERS,
            last_id: 100,
            batch: vec![text(10, 1, "a")],
            fates: vec![Stored(101, 6)],
            updates: &[(10, 6, 101)],
            want_last_id: 101,
            ..Case::default()
        },
        Case {
            name: "mixed rooms: seqs per room and ids across the batch, in batch order",
            rooms: &[(10, 5, 0), (11, 0, 0), (12, 41, 0)],
            members: &[(10, 1), (10, 2), (11, 1), (11, 2), (12, 2)],
            last_id: 100,
            batch: vec![
                text(11, 1, "a"),
                text(10, 2, "b"),
                text(12, 2, "c"),
                text(10, 1, "d"),
                text(11, 2, "e"),
                text(10, 1, "f"),
            ],
            fates: vec![
                Stored(101, 1),
                Stored(102, 6),
                Stored(103, 42),
                Stored(104, 7),
                Stored(105, 2),
                Stored(106, 8),
            ],
            updates: &[(11, 2, 105), (10, 8, 106), (12, 42, 103)],
            want_last_id: 106,
            ..Case::default()
        },
        Case {
            name: "a room of the batch with nothing stored gets no update",
            rooms: GROUPS,
            members: GROUP_MEMBERS,
            last_id: 7,
            batch: vec![text(10, 3, "a"), text(11, 3, "b")],
            fates: vec![Stored(8, 6), Rej(NotAMember)],
            updates: &[(10, 6, 8)],
            want_last_id: 8,
            ..Case::default()
        },
        Case {
            name: "media keep their file",
            rooms: GROUPS,
            members: GROUP_MEMBERS,
            last_id: 0,
            batch: vec![image(11, 2, "pic", 77), text(11, 1, "t")],
            fates: vec![Stored(1, 1), Stored(2, 2)],
            updates: &[(11, 2, 2)],
            want_last_id: 2,
            ..Case::default()
        },
    ];
    for case in cases {
        run(case);
    }
}

#[test]
fn client_ids_make_retries_idempotent() {
    let cases = vec![
        Case {
            name: "a repeat inside the batch answers with the first, consuming nothing",
            rooms: GROUPS,
            members: GROUP_MEMBERS,
            last_id: 100,
            batch: vec![
                text(10, 1, "a"),
                with_body(text(10, 1, "a"), "edited before the retry"),
                text(10, 1, "b"),
            ],
            fates: vec![Stored(101, 6), Dup(101), Stored(102, 7)],
            updates: &[(10, 7, 102)],
            want_last_id: 102,
            ..Case::default()
        },
        Case {
            name: "a repeat in another room of the batch is still found",
            rooms: GROUPS,
            members: GROUP_MEMBERS,
            last_id: 100,
            batch: vec![
                text(10, 1, "a"),
                text(11, 1, "x"),
                text(10, 1, "a"),
                text(11, 1, "x"),
            ],
            fates: vec![Stored(101, 6), Stored(102, 1), Dup(101), Dup(102)],
            updates: &[(10, 6, 101), (11, 1, 102)],
            want_last_id: 102,
            ..Case::default()
        },
        Case {
            name: "the key is (room, sender, client id): other senders and rooms are new",
            rooms: GROUPS,
            members: GROUP_MEMBERS,
            last_id: 100,
            batch: vec![text(10, 1, "a"), text(10, 2, "a"), text(11, 1, "a")],
            fates: vec![Stored(101, 6), Stored(102, 7), Stored(103, 1)],
            updates: &[(10, 7, 102), (11, 1, 103)],
            want_last_id: 103,
            ..Case::default()
        },
        Case {
            name: "a stored original is returned as stored, nothing written",
            rooms: GROUPS,
            members: GROUP_MEMBERS,
            originals: &[(50, 10, 4, 1, "a")],
            last_id: 100,
            batch: vec![with_body(text(10, 1, "a"), "retry")],
            fates: vec![Dup(50)],
            want_last_id: 100,
            ..Case::default()
        },
        Case {
            name: "originals and new messages mix; new ones continue without gaps",
            rooms: GROUPS,
            members: GROUP_MEMBERS,
            originals: &[(50, 10, 4, 1, "a"), (51, 10, 5, 2, "a")],
            last_id: 100,
            batch: vec![
                text(10, 1, "b"),
                text(10, 1, "a"),
                text(10, 2, "a"),
                text(10, 1, "b"),
                text(10, 3, "a"),
            ],
            fates: vec![Stored(101, 6), Dup(50), Dup(51), Dup(101), Stored(102, 7)],
            updates: &[(10, 7, 102)],
            want_last_id: 102,
            ..Case::default()
        },
        Case {
            name: "an original of another sender does not match",
            rooms: GROUPS,
            members: GROUP_MEMBERS,
            originals: &[(50, 10, 4, 2, "a")],
            last_id: 100,
            batch: vec![text(10, 1, "a")],
            fates: vec![Stored(101, 6)],
            updates: &[(10, 6, 101)],
            want_last_id: 101,
            ..Case::default()
        },
        Case {
            name: "notices have no key and are never duplicates",
            rooms: GROUPS,
            members: GROUP_MEMBERS,
            last_id: 100,
            batch: vec![notice(10, 1), notice(10, 1), notice(10, 1)],
            fates: vec![Stored(101, 6), Stored(102, 7), Stored(103, 8)],
            updates: &[(10, 8, 103)],
            want_last_id: 103,
            ..Case::default()
        },
    ];
    for case in cases {
        run(case);
    }
}

/// Direct rooms 20 (users 1, 2) and a dissolved group 30 (users 1, 2).
const MEMBERS_20_30: &[(i64, i64)] = &[(20, 1), (20, 2), (30, 1), (30, 2)];

#[test]
fn refusals_consume_nothing() {
    let cases = vec![
        Case {
            name: "missing room",
            rooms: GROUPS,
            members: GROUP_MEMBERS,
            last_id: 100,
            batch: vec![text(99, 1, "a"), notice(99, 1)],
            fates: vec![Rej(RoomNotFound), Rej(RoomNotFound)],
            want_last_id: 100,
            ..Case::default()
        },
        Case {
            name: "non-member",
            rooms: GROUPS,
            members: GROUP_MEMBERS,
            last_id: 100,
            batch: vec![text(10, 4, "a"), text(11, 3, "a")],
            fates: vec![Rej(NotAMember), Rej(NotAMember)],
            want_last_id: 100,
            ..Case::default()
        },
        Case {
            name: "a member without a user row is refused, not written",
            rooms: GROUPS,
            members: GROUP_MEMBERS,
            no_user_row: &[3],
            last_id: 100,
            batch: vec![text(10, 3, "a")],
            fates: vec![Rej(NotAMember)],
            want_last_id: 100,
            ..Case::default()
        },
        Case {
            name: "dissolved group",
            policy: DirectPolicy::Anyone,
            rooms: &[(30, 9, GATE_DISSOLVED)],
            members: MEMBERS_20_30,
            last_id: 100,
            batch: vec![text(30, 1, "a")],
            fates: vec![Rej(Dissolved)],
            want_last_id: 100,
            ..Case::default()
        },
        Case {
            name: "blocked pair, under either policy and whether friends or not",
            policy: DirectPolicy::Anyone,
            rooms: &[
                (20, 3, GATE_BLOCKED),
                (21, 3, GATE_BLOCKED | GATE_NOT_FRIENDS),
            ],
            members: &[(20, 1), (20, 2), (21, 1), (21, 3)],
            last_id: 100,
            batch: vec![text(20, 1, "a"), text(20, 2, "a"), text(21, 3, "a")],
            fates: vec![Rej(Blocked), Rej(Blocked), Rej(Blocked)],
            want_last_id: 100,
            ..Case::default()
        },
        Case {
            name: "blocked wins over not friends under the friends policy",
            policy: DirectPolicy::Friends,
            rooms: &[(20, 3, GATE_BLOCKED | GATE_NOT_FRIENDS)],
            members: MEMBERS_20_30,
            last_id: 100,
            batch: vec![text(20, 1, "a")],
            fates: vec![Rej(Blocked)],
            want_last_id: 100,
            ..Case::default()
        },
        Case {
            name: "not friends under the friends policy",
            policy: DirectPolicy::Friends,
            rooms: &[(20, 3, GATE_NOT_FRIENDS)],
            members: MEMBERS_20_30,
            last_id: 100,
            batch: vec![text(20, 1, "a")],
            fates: vec![Rej(NotFriends)],
            want_last_id: 100,
            ..Case::default()
        },
        Case {
            name: "not friends is fine under the anyone policy",
            policy: DirectPolicy::Anyone,
            rooms: &[(20, 3, GATE_NOT_FRIENDS)],
            members: MEMBERS_20_30,
            last_id: 100,
            batch: vec![text(20, 1, "a")],
            fates: vec![Stored(101, 4)],
            updates: &[(20, 4, 101)],
            want_last_id: 101,
            ..Case::default()
        },
        Case {
            name: "friends pass the friends policy",
            policy: DirectPolicy::Friends,
            rooms: &[(20, 3, 0)],
            members: MEMBERS_20_30,
            last_id: 100,
            batch: vec![text(20, 2, "a")],
            fates: vec![Stored(101, 4)],
            updates: &[(20, 4, 101)],
            want_last_id: 101,
            ..Case::default()
        },
        Case {
            name: "membership is checked before the gate",
            policy: DirectPolicy::Friends,
            rooms: &[(20, 3, GATE_BLOCKED), (30, 9, GATE_DISSOLVED)],
            members: MEMBERS_20_30,
            last_id: 100,
            batch: vec![text(20, 3, "a"), text(30, 3, "a")],
            fates: vec![Rej(NotAMember), Rej(NotAMember)],
            want_last_id: 100,
            ..Case::default()
        },
        Case {
            name: "refusals between stored messages leave no gap in seqs or ids",
            policy: DirectPolicy::Friends,
            rooms: &[
                (10, 5, 0),
                (20, 3, GATE_NOT_FRIENDS),
                (30, 9, GATE_DISSOLVED),
            ],
            members: &[(10, 1), (10, 2), (20, 1), (20, 2), (30, 1)],
            last_id: 100,
            batch: vec![
                text(10, 1, "a"),
                text(10, 4, "b"),
                text(99, 1, "c"),
                text(20, 1, "d"),
                text(30, 1, "e"),
                text(10, 2, "f"),
            ],
            fates: vec![
                Stored(101, 6),
                Rej(NotAMember),
                Rej(RoomNotFound),
                Rej(NotFriends),
                Rej(Dissolved),
                Stored(102, 7),
            ],
            updates: &[(10, 7, 102)],
            want_last_id: 102,
            ..Case::default()
        },
        Case {
            name: "a stored message's retry comes back after its sender left or was gated",
            rooms: &[(11, 2, 0), (20, 3, GATE_BLOCKED), (30, 9, GATE_DISSOLVED)],
            members: &[(11, 2), (20, 1), (20, 2), (30, 1)],
            originals: &[
                (60, 11, 2, 3, "a"),
                (61, 20, 3, 1, "b"),
                (62, 30, 9, 1, "c"),
            ],
            last_id: 100,
            batch: vec![text(11, 3, "a"), text(20, 1, "b"), text(30, 1, "c")],
            fates: vec![Dup(60), Dup(61), Dup(62)],
            want_last_id: 100,
            ..Case::default()
        },
        Case {
            name: "a refused message does not make its retry a duplicate",
            rooms: GROUPS,
            members: GROUP_MEMBERS,
            last_id: 100,
            batch: vec![text(11, 3, "a"), text(11, 3, "a")],
            fates: vec![Rej(NotAMember), Rej(NotAMember)],
            want_last_id: 100,
            ..Case::default()
        },
    ];
    for case in cases {
        run(case);
    }
}

#[test]
fn notices_pass_membership_and_gates() {
    let cases = vec![
        Case {
            name: "a notice from outside the room (an admin's removal)",
            rooms: GROUPS,
            members: GROUP_MEMBERS,
            last_id: 100,
            batch: vec![notice(10, 5)],
            fates: vec![Stored(101, 6)],
            updates: &[(10, 6, 101)],
            want_last_id: 101,
            ..Case::default()
        },
        Case {
            name: "notices into gated rooms, messages beside them refused",
            policy: DirectPolicy::Friends,
            rooms: &[
                (20, 3, GATE_BLOCKED | GATE_NOT_FRIENDS),
                (30, 9, GATE_DISSOLVED),
            ],
            members: MEMBERS_20_30,
            last_id: 100,
            batch: vec![
                notice(20, 1),
                text(20, 1, "a"),
                notice(30, 2),
                text(30, 2, "b"),
            ],
            fates: vec![
                Stored(101, 4),
                Rej(Blocked),
                Stored(102, 10),
                Rej(Dissolved),
            ],
            updates: &[(20, 4, 101), (30, 10, 102)],
            want_last_id: 102,
            ..Case::default()
        },
    ];
    for case in cases {
        run(case);
    }
}

#[test]
fn created_at_is_now_to_the_millisecond() {
    assert_ne!(now_ms(), NOW, "the test needs a sub-millisecond instant");
    let plan = plan_batch(
        &[text(10, 1, "a")],
        BatchInputs {
            rooms: vec![(10, 0, 0)],
            members: vec![(10, 1)],
            senders: vec![(1, "user1".into(), None)],
            ..BatchInputs::default()
        },
        DirectPolicy::Friends,
        NOW,
    )
    .unwrap();
    assert_eq!(plan.inserts[0].created_at, now_ms());
}

#[test]
fn a_corrupt_original_fails_the_batch() {
    let mut row = original_row(50, 10, 1, 1, "a");
    row.kind = "hologram".into();
    let result = plan_batch(
        &[text(10, 1, "a")],
        BatchInputs {
            rooms: vec![(10, 1, 0)],
            members: vec![(10, 1)],
            senders: vec![(1, "user1".into(), None)],
            originals: vec![row],
            last_id: 50,
        },
        DirectPolicy::Friends,
        NOW,
    );
    assert!(matches!(result, Err(StoreError::Corrupt(_))), "{result:?}");
}

#[test]
fn batch_ids_are_distinct_and_ascending() {
    let batch = [
        text(12, 3, "a"),
        notice(10, 1),
        text(12, 1, "b"),
        text(11, 3, "c"),
    ];
    assert_eq!(batch_ids(&batch), (vec![10, 11, 12], vec![1, 3]));
    assert_eq!(batch_ids(&[]), (vec![], vec![]));
}

mod properties {
    use super::*;
    use proptest::prelude::*;

    /// Rooms 1..=4 may exist; room 5 never does. Users 1..=4 all have rows.
    #[derive(Debug, Clone)]
    struct World {
        policy: DirectPolicy,
        rooms: Vec<(i64, i64, i64)>,
        members: Vec<(i64, i64)>,
        originals: Vec<MessageRow>,
        last_id: i64,
    }

    impl World {
        fn inputs(&self, batch: &[NewMessage]) -> BatchInputs {
            let (room_ids, sender_ids) = batch_ids(batch);
            let keys: HashSet<(i64, i64, &str)> = batch
                .iter()
                .filter_map(|m| Some((m.room_id.0, m.sender_id.0, m.client_id.as_ref()?.as_str())))
                .collect();
            // What a backend would read for this batch, no more.
            BatchInputs {
                rooms: self
                    .rooms
                    .iter()
                    .filter(|r| room_ids.contains(&r.0))
                    .copied()
                    .collect(),
                members: self
                    .members
                    .iter()
                    .filter(|m| room_ids.contains(&m.0))
                    .copied()
                    .collect(),
                senders: sender_ids
                    .iter()
                    .map(|&id| {
                        let b = brief(id);
                        (id, b.nickname, b.avatar)
                    })
                    .collect(),
                originals: self
                    .originals
                    .iter()
                    .filter(|r| {
                        r.client_id
                            .as_deref()
                            .is_some_and(|c| keys.contains(&(r.room_id, r.sender_id, c)))
                    })
                    .cloned()
                    .collect(),
                last_id: self.last_id,
            }
        }

        /// Commits a plan's writes, as a backend does.
        fn apply(&mut self, plan: &BatchPlan) {
            for (room, last_seq, _) in &plan.room_updates {
                if let Some(r) = self.rooms.iter_mut().find(|r| r.0 == room.0) {
                    r.1 = *last_seq;
                }
            }
            self.originals.extend(plan.inserts.iter().map(row_of));
            self.last_id = plan.last_id;
        }

        /// Why `m` must be refused, if it must; several reasons may hold.
        fn reasons(&self, m: &NewMessage) -> Vec<AppendRejection> {
            let Some(&(_, _, gate)) = self.rooms.iter().find(|r| r.0 == m.room_id.0) else {
                return vec![RoomNotFound];
            };
            if m.kind == MessageKind::System {
                return vec![];
            }
            let mut why = Vec::new();
            if !self.members.contains(&(m.room_id.0, m.sender_id.0)) {
                why.push(NotAMember);
            }
            if gate & GATE_DISSOLVED != 0 {
                why.push(Dissolved);
            }
            if gate & GATE_BLOCKED != 0 {
                why.push(Blocked);
            }
            if gate & GATE_NOT_FRIENDS != 0 && self.policy.requires_friendship() {
                why.push(NotFriends);
            }
            why
        }
    }

    fn row_of(m: &Message) -> MessageRow {
        MessageRow {
            id: m.id.0,
            room_id: m.room_id.0,
            seq: m.seq,
            sender_id: m.sender.id.0,
            client_id: m.client_id.clone(),
            kind: m.kind.as_str().into(),
            body: m.body.clone(),
            created_at: to_millis(m.created_at),
            revoked_at: None,
            event: None,
            ref_id: None,
            sender_nickname: m.sender.nickname.clone(),
            sender_avatar: m.sender.avatar.clone(),
            file_id: None,
            file_name: None,
            file_size: None,
            file_mime: None,
            file_thumb: None,
            file_cover: None,
        }
    }

    fn world() -> impl Strategy<Value = World> {
        let room = (
            any::<bool>(),
            0..30i64,
            0..8i64,
            prop::collection::vec(any::<bool>(), 4),
        );
        (
            any::<bool>(),
            prop::collection::vec(room, 4),
            // (room, sender, client id) of earlier messages.
            prop::collection::vec((1..=4i64, 1..=4i64, 0..3usize), 0..8),
            0..20i64,
        )
            .prop_map(|(friends, rooms, earlier, spare_ids)| {
                let policy = if friends {
                    DirectPolicy::Friends
                } else {
                    DirectPolicy::Anyone
                };
                let mut w = World {
                    policy,
                    rooms: Vec::new(),
                    members: Vec::new(),
                    originals: Vec::new(),
                    last_id: 0,
                };
                for (i, (exists, last_seq, gate, members)) in rooms.into_iter().enumerate() {
                    let id = i as i64 + 1;
                    if exists {
                        w.rooms.push((id, last_seq, gate));
                        for (u, member) in members.into_iter().enumerate() {
                            if member {
                                w.members.push((id, u as i64 + 1));
                            }
                        }
                    }
                }
                let mut seen = HashSet::new();
                for (room, sender, cid) in earlier {
                    let Some(r) = w.rooms.iter_mut().find(|r| r.0 == room) else {
                        continue;
                    };
                    if !seen.insert((room, sender, cid)) {
                        continue;
                    }
                    r.1 += 1;
                    w.last_id += 1;
                    w.originals.push(original_row(
                        w.last_id,
                        room,
                        r.1,
                        sender,
                        &format!("c{cid}"),
                    ));
                }
                w.last_id += spare_ids;
                w
            })
    }

    fn batch() -> impl Strategy<Value = Vec<NewMessage>> {
        let message = (1..=5i64, 1..=4i64, 0..5usize).prop_map(|(room, sender, cid)| {
            // Client ids from a small set, so repeats are common; one in five is a notice.
            if cid == 4 {
                notice(room, sender)
            } else {
                text(room, sender, &format!("c{cid}"))
            }
        });
        prop::collection::vec(message, 0..40)
    }

    fn key(m: &Message) -> Option<(RoomId, UserId, String)> {
        Some((m.room_id, m.sender.id, m.client_id.clone()?))
    }

    proptest! {
        // Failures print the shrunk case; no regression files in the source tree.
        #![proptest_config(ProptestConfig {
            failure_persistence: None,
            ..ProptestConfig::default()
        })]

        #[test]
        fn plans_are_consistent(w in world(), batch in batch()) {
            let plan = plan_batch(&batch, w.inputs(&batch), w.policy, NOW).unwrap();
            prop_assert_eq!(plan.outcomes.len(), batch.len());

            let stored: Vec<&Message> = plan
                .outcomes
                .iter()
                .filter_map(|o| match o {
                    AppendOutcome::Stored { message, .. } => Some(message),
                    _ => None,
                })
                .collect();
            // The rows written are exactly the stored messages, in order.
            prop_assert_eq!(stored.len(), plan.inserts.len());
            for (s, i) in stored.iter().zip(&plan.inserts) {
                prop_assert_eq!(*s, i);
            }
            // Ids continue the counter without gaps.
            for (n, m) in plan.inserts.iter().enumerate() {
                prop_assert_eq!(m.id.0, w.last_id + 1 + n as i64);
            }
            prop_assert_eq!(plan.last_id, w.last_id + plan.inserts.len() as i64);
            // Seqs continue each room without gaps; updates hold each room's last.
            let mut want_updates = Vec::new();
            for &(room, last_seq, _) in &w.rooms {
                let ins: Vec<&Message> =
                    plan.inserts.iter().filter(|m| m.room_id.0 == room).collect();
                for (n, m) in ins.iter().enumerate() {
                    prop_assert_eq!(m.seq, last_seq + 1 + n as i64);
                }
                if let Some(last) = ins.last() {
                    want_updates.push((room, last.seq, last.id.0));
                }
            }
            let mut got_updates: Vec<(i64, i64, i64)> = plan
                .room_updates
                .iter()
                .map(|(r, s, m)| (r.0, *s, m.0))
                .collect();
            got_updates.sort_unstable();
            prop_assert_eq!(got_updates, want_updates);
            // A key is written at most once, and never over an original.
            let mut keys: HashSet<_> = w
                .originals
                .iter()
                .map(|r| (RoomId(r.room_id), UserId(r.sender_id), r.client_id.clone()))
                .collect();
            for m in &plan.inserts {
                if m.client_id.is_some() {
                    prop_assert!(keys.insert((m.room_id, m.sender.id, m.client_id.clone())));
                }
            }
            for (new, outcome) in batch.iter().zip(&plan.outcomes) {
                let reasons = w.reasons(new);
                match outcome {
                    AppendOutcome::Rejected(why) => prop_assert!(reasons.contains(why)),
                    AppendOutcome::Stored { message, recipients } => {
                        prop_assert!(reasons.is_empty());
                        let want: Vec<UserId> = w
                            .members
                            .iter()
                            .filter(|m| m.0 == new.room_id.0)
                            .map(|m| UserId(m.1))
                            .collect();
                        prop_assert_eq!(recipients, &want);
                        prop_assert_eq!(message.client_id.as_deref(), new.client_id.as_ref().map(|c| c.as_str()));
                    }
                    AppendOutcome::Duplicate(original) => {
                        // A stored message comes back whatever changed since,
                        // as long as its room exists.
                        prop_assert!(!reasons.contains(&AppendRejection::RoomNotFound));
                        prop_assert!(new.client_id.is_some(), "notices are never duplicates");
                        prop_assert_eq!(
                            key(original),
                            new.client_id.as_ref().map(|c| (new.room_id, new.sender_id, c.as_str().to_owned()))
                        );
                    }
                }
            }
        }

        /// Group commit is an optimisation: a batch decides what the same
        /// messages sent one by one would.
        #[test]
        fn a_batch_equals_its_messages_one_by_one(w in world(), batch in batch()) {
            let mut together = w.clone();
            let plan = plan_batch(&batch, together.inputs(&batch), w.policy, NOW).unwrap();
            together.apply(&plan);

            let mut alone = w.clone();
            let mut outcomes = Vec::new();
            for m in &batch {
                let one = std::slice::from_ref(m);
                let p = plan_batch(one, alone.inputs(one), w.policy, NOW).unwrap();
                alone.apply(&p);
                outcomes.extend(p.outcomes);
            }
            prop_assert_eq!(plan.outcomes, outcomes);
            prop_assert_eq!(together.rooms, alone.rooms);
            prop_assert_eq!(together.last_id, alone.last_id);
        }
    }
}
