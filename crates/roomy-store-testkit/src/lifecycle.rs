//! The message-lifecycle half of the store contract (see [`crate::chat`] for the rest):
//! read positions, revocation, delete-for-me, the sent and received lists,
//! favorites, group lifecycle and moderation. The `concurrent_*` checks race
//! calls on one row; SQLite's single writer passes them by construction,
//! PostgreSQL only when each method locks before it decides.
//!
//! Each check is private and named in [`checks`] below: one missing from that
//! list is dead code, which the workspace's `clippy -D warnings` rejects, so
//! a check cannot be written and silently never run.

#![allow(clippy::unwrap_used)]

use crate::Check;
use crate::chat::{ANYONE, group, stored, t0, text, users};
use roomy_core::{
    MessageId, RoomId, UserId,
    chat_fields::{MemberRole, MessageBody, MessageKind, RoomName},
    clock::to_millis,
};
use roomy_store::{
    AdminMessageFilter, AppendOutcome, AppendRejection, MemberProfileChanges, Message,
    MessageFilter, MessageList, Missing, NewAudit, NewMessage, NewSession, Notice, NoticeEvent,
    NoticeKind, ProfileChanges, Revoker, RoomDenial, RoomProfileChanges, Store, StoreError,
    UNREAD_CAP,
};
use time::{Duration, OffsetDateTime};

fn at(seconds: i64) -> OffsetDateTime {
    t0() + Duration::seconds(seconds)
}

fn image(room: RoomId, sender: UserId, client_id: &str, url: &str) -> NewMessage {
    NewMessage {
        kind: MessageKind::Image,
        ..text(room, sender, client_id, url)
    }
}

fn system(room: RoomId, sender: UserId, body: &str) -> NewMessage {
    NewMessage {
        room_id: room,
        sender_id: sender,
        client_id: None,
        kind: MessageKind::System,
        body: Some(MessageBody::system(body.to_owned())),
        file: None,
    }
}

/// Appends a batch that must be stored whole; the stored messages in order.
async fn send(store: &impl Store, batch: Vec<NewMessage>, now: OffsetDateTime) -> Vec<Message> {
    store
        .append_messages(&batch, ANYONE, now)
        .await
        .unwrap()
        .iter()
        .map(|o| stored(o).clone())
        .collect()
}

fn ids(messages: &[Message]) -> Vec<MessageId> {
    messages.iter().map(|m| m.id).collect()
}

fn sorted(mut users: Vec<UserId>) -> Vec<UserId> {
    users.sort();
    users
}

/// The read notices among `notices`: (recipient, room, reader, seq).
fn reads(notices: &[Notice]) -> Vec<(UserId, RoomId, UserId, i64)> {
    notices
        .iter()
        .filter_map(|n| match &n.kind {
            NoticeKind::Read { room, reader, seq } => Some((n.user, *room, *reader, *seq)),
            _ => None,
        })
        .collect()
}

fn not_found<T: std::fmt::Debug>(r: Result<T, StoreError>, kind: Missing) {
    assert!(
        matches!(r, Err(StoreError::NotFound(k)) if k == kind),
        "expected no such {kind}: {r:?}"
    );
}

fn denied<T: std::fmt::Debug>(r: Result<T, StoreError>, why: RoomDenial) {
    assert!(
        matches!(r, Err(StoreError::RoomDenied(d)) if d == why),
        "expected {why:?}: {r:?}"
    );
}

/// Read positions only move forward and are clamped to the last seq; the
/// reader's devices always hear of a move, a direct room's peer only when
/// the reader shares read positions, a group's members never; only the
/// newest read notice per recipient, room and reader is kept for sync; the
/// summaries and member lists show positions and unread counts.
async fn read_positions_move_forward_and_reach_the_peer(store: &impl Store) {
    let u = users(store, &["rd_a_user", "rd_b_user", "rd_c_user"]).await;
    let (d, _) = store
        .find_or_create_direct(u[0], u[1], ANYONE, t0())
        .await
        .unwrap();
    let batch = vec![
        text(d.id, u[0], "r1", "one"),
        text(d.id, u[0], "r2", "two"),
        text(d.id, u[1], "r3", "three"),
        text(d.id, u[0], "r4", "four"),
    ];
    send(store, batch, t0()).await;
    let before = store.stream_position().await.unwrap();

    let first = store.mark_read(d.id, u[1], 2, at(1)).await.unwrap();
    assert_eq!((first.room_id, first.user, first.read_seq), (d.id, u[1], 2));
    assert_eq!(first.unread, 1, "seq 4 is left; seq 3 is the reader's own");
    assert_eq!(
        reads(&first.events),
        vec![(u[1], d.id, u[1], 2), (u[0], d.id, u[1], 2)]
    );
    assert!(first.events[0].id < first.events[1].id);
    assert!(first.events.iter().all(|e| e.created_at == at(1)));

    // Backwards (and standing still) moves nothing and writes nothing.
    let pos = store.stream_position().await.unwrap();
    for seq in [1, 2] {
        let back = store.mark_read(d.id, u[1], seq, at(2)).await.unwrap();
        assert_eq!((back.read_seq, back.unread), (2, 1));
        assert!(back.events.is_empty());
    }
    assert_eq!(store.stream_position().await.unwrap(), pos);

    // Past the end: clamped to the last seq.
    let end = store.mark_read(d.id, u[1], 99, at(3)).await.unwrap();
    assert_eq!((end.read_seq, end.unread), (4, 0));
    assert_eq!(
        reads(&end.events),
        vec![(u[1], d.id, u[1], 4), (u[0], d.id, u[1], 4)]
    );

    // The newest read notice supersedes the older one, for both recipients.
    let b_sync = store.sync(u[1], before, None, 50).await.unwrap();
    assert_eq!(b_sync.notices, vec![end.events[0].clone()]);
    let a_sync = store.sync(u[0], before, None, 50).await.unwrap();
    assert_eq!(a_sync.notices, vec![end.events[1].clone()]);

    let a_view = store.room_summary(d.id, u[0]).await.unwrap().unwrap();
    assert_eq!(
        (a_view.read_seq, a_view.unread, a_view.peer_read_seq),
        (0, 1, Some(4))
    );
    let b_view = store.room_summary(d.id, u[1]).await.unwrap().unwrap();
    assert_eq!(
        (b_view.read_seq, b_view.unread, b_view.peer_read_seq),
        (4, 0, Some(0))
    );

    // A reader who hides read positions tells only their own devices.
    store
        .update_profile(
            u[0],
            ProfileChanges {
                read_receipts: Some(false),
                ..ProfileChanges::default()
            },
            at(4),
        )
        .await
        .unwrap();
    let after_b = store.stream_position().await.unwrap();
    let hidden = store.mark_read(d.id, u[0], 4, at(5)).await.unwrap();
    assert_eq!((hidden.read_seq, hidden.unread), (4, 0));
    assert_eq!(reads(&hidden.events), vec![(u[0], d.id, u[0], 4)]);
    let b_later = store.sync(u[1], after_b, None, 50).await.unwrap();
    assert!(b_later.notices.is_empty(), "{:?}", b_later.notices);
    let a_later = store.sync(u[0], after_b, None, 50).await.unwrap();
    assert_eq!(a_later.notices, hidden.events);
    // Superseding is per reader: A keeps B's receipt next to its own read.
    let a_all = store.sync(u[0], before, None, 50).await.unwrap();
    assert_eq!(
        reads(&a_all.notices),
        vec![(u[0], d.id, u[1], 4), (u[0], d.id, u[0], 4)]
    );

    let b_view = store.room_summary(d.id, u[1]).await.unwrap().unwrap();
    assert_eq!(
        (b_view.read_seq, b_view.unread, b_view.peer_read_seq),
        (4, 0, None)
    );
    let a_view = store.room_summary(d.id, u[0]).await.unwrap().unwrap();
    assert_eq!(
        (a_view.read_seq, a_view.unread, a_view.peer_read_seq),
        (4, 0, Some(4))
    );
    let listed = store.rooms_of(u[1], None, 10).await.unwrap();
    let (_, b_listed) = listed.iter().find(|(_, s)| s.room.id == d.id).unwrap();
    assert_eq!(b_listed, &b_view);
    let members = store.members(d.id, None, 10).await.unwrap();
    let seqs: Vec<_> = members.iter().map(|m| (m.user.id, m.read_seq)).collect();
    assert_eq!(seqs, vec![(u[0], None), (u[1], Some(4))]);

    // A group: the reader's devices only.
    let g = group(store, u[0], &[u[1], u[2]]).await;
    let batch = vec![
        text(g, u[0], "g1", "hello"),
        text(g, u[1], "g2", "hi"),
        text(g, u[0], "g3", "news"),
    ];
    send(store, batch, at(6)).await;
    let pos = store.stream_position().await.unwrap();
    let c_mark = store.mark_read(g, u[2], 3, at(7)).await.unwrap();
    assert_eq!((c_mark.read_seq, c_mark.unread), (3, 1));
    assert_eq!(reads(&c_mark.events), vec![(u[2], g, u[2], 3)]);
    for peer in [u[0], u[1]] {
        let s = store.sync(peer, pos, None, 50).await.unwrap();
        assert!(s.notices.is_empty(), "{:?}", s.notices);
    }
    let c_view = store.room_summary(g, u[2]).await.unwrap().unwrap();
    assert_eq!(
        (c_view.read_seq, c_view.unread, c_view.peer_read_seq),
        (3, 1, None)
    );
    let listed = store.rooms_of(u[2], None, 10).await.unwrap();
    assert_eq!(listed[0].1, c_view);
    let b_group = store.room_summary(g, u[1]).await.unwrap().unwrap();
    assert_eq!(
        (b_group.read_seq, b_group.unread),
        (0, 3),
        "the notice, hello and news"
    );
    let members = store.members(g, None, 10).await.unwrap();
    let seqs: Vec<_> = members.iter().map(|m| (m.user.id, m.read_seq)).collect();
    assert_eq!(seqs, vec![(u[0], None), (u[1], Some(0)), (u[2], Some(3))]);
    // ... and per room: B's read of the group leaves its read of the direct room.
    store.mark_read(g, u[1], 4, at(7)).await.unwrap();
    let b_all = store.sync(u[1], before, None, 50).await.unwrap();
    assert_eq!(
        reads(&b_all.notices),
        vec![(u[1], d.id, u[1], 4), (u[1], g, u[1], 4)]
    );

    // Unread counts stop at the cap.
    let (big, _) = store
        .find_or_create_direct(u[0], u[2], ANYONE, t0())
        .await
        .unwrap();
    let batch = (0..=UNREAD_CAP)
        .map(|i| text(big.id, u[0], &format!("c{i}"), "again"))
        .collect();
    send(store, batch, at(8)).await;
    let capped = store.room_summary(big.id, u[2]).await.unwrap().unwrap();
    assert_eq!((capped.read_seq, capped.unread), (0, UNREAD_CAP));
    let still = store.mark_read(big.id, u[2], 1, at(9)).await.unwrap();
    assert_eq!(still.unread, UNREAD_CAP, "exactly the cap left");
    let below = store.mark_read(big.id, u[2], 2, at(9)).await.unwrap();
    assert_eq!(below.unread, UNREAD_CAP - 1);

    not_found(store.mark_read(d.id, u[2], 1, at(8)).await, Missing::Member);
    not_found(
        store.mark_read(RoomId(999_999), u[0], 1, at(8)).await,
        Missing::Member,
    );
}

/// Read marks racing on one member's position: whatever the interleaving,
/// the position ends at the highest seq asked for, every mark that moved it
/// reports events at the seq it moved to, and each recipient keeps exactly
/// one read notice, at that final seq (no stale receipt after a newer one).
async fn concurrent_reads_never_move_backwards(store: &impl Store) {
    let u = users(store, &["race_rd_a", "race_rd_b"]).await;
    let (d, _) = store
        .find_or_create_direct(u[0], u[1], ANYONE, t0())
        .await
        .unwrap();
    const ROUNDS: i64 = 8;
    let batch = (1..=ROUNDS * 3)
        .map(|i| text(d.id, u[0], &format!("q{i}"), "read me"))
        .collect();
    send(store, batch, t0()).await;
    // Open pooled connections first, so the marks below overlap.
    let (r1, r2, r3) = tokio::join!(store.room(d.id), store.room(d.id), store.room(d.id));
    assert!(r1.unwrap().is_some() && r2.unwrap().is_some() && r3.unwrap().is_some());
    let before = store.stream_position().await.unwrap();
    for round in 0..ROUNDS {
        let top = round * 3 + 3;
        let (x, y, z) = tokio::join!(
            store.mark_read(d.id, u[1], top - 1, at(1)),
            store.mark_read(d.id, u[1], top, at(1)),
            store.mark_read(d.id, u[1], top - 2, at(1)),
        );
        for mark in [x.unwrap(), y.unwrap(), z.unwrap()] {
            for (_, _, _, seq) in reads(&mark.events) {
                assert_eq!(seq, mark.read_seq, "{mark:?}");
            }
        }
        let view = store.room_summary(d.id, u[1]).await.unwrap().unwrap();
        assert_eq!(view.read_seq, top);
        for (user, reader) in [(u[1], u[1]), (u[0], u[1])] {
            let sync = store.sync(user, before, None, 500).await.unwrap();
            assert_eq!(
                reads(&sync.notices),
                vec![(user, d.id, reader, top)],
                "round {round}"
            );
        }
    }
}

/// Revoking takes the body away everywhere the message shows, with a
/// `revoked` notice; doing it again writes nothing; an admin's removal is a
/// `removed` notice and one audit entry that does not repeat the body.
async fn revoking_takes_the_body_back_for_everyone(store: &impl Store) {
    let u = users(store, &["rev_a_user", "rev_b_user", "rev_admin"]).await;
    let (d, _) = store
        .find_or_create_direct(u[0], u[1], ANYONE, t0())
        .await
        .unwrap();
    let pos = store.stream_position().await.unwrap();
    let batch = vec![
        text(d.id, u[0], "v1", "secret plans"),
        text(d.id, u[0], "v2", "spam link"),
    ];
    let m = send(store, batch, t0()).await;
    store
        .add_favorite(u[1], m[0].id, t0())
        .await
        .unwrap()
        .unwrap();

    let rev = store
        .revoke_message(m[0].id, Revoker::Sender, "rev_a revoked".into(), at(30))
        .await
        .unwrap();
    let gone = rev.message.clone();
    assert_eq!((gone.id, gone.seq, gone.sender.id), (m[0].id, 1, u[0]));
    assert!(gone.revoked);
    assert_eq!(gone.body, None);
    let notice = rev.notice.clone().unwrap();
    assert_eq!(notice.kind, MessageKind::System);
    assert_eq!(notice.event, Some(NoticeEvent::Revoked));
    assert_eq!(notice.ref_id, Some(m[0].id));
    assert_eq!(notice.sender.id, u[0]);
    assert_eq!(notice.body.as_deref(), Some("rev_a revoked"));
    assert_eq!((notice.seq, notice.created_at), (3, at(30)));
    assert_eq!(sorted(rev.recipients.clone()), vec![u[0], u[1]]);

    // Everywhere the message shows, it shows revoked and without its body.
    let history = store.history(d.id, u[1], None, None, 10).await.unwrap();
    assert_eq!(history, vec![gone.clone(), m[1].clone(), notice.clone()]);
    assert_eq!(store.message(m[0].id).await.unwrap(), Some(gone.clone()));
    let sync = store.sync(u[1], pos, None, 10).await.unwrap();
    assert_eq!(sync.rooms.len(), 1);
    assert_eq!(
        sync.rooms[0].messages,
        vec![gone.clone(), m[1].clone(), notice.clone()]
    );
    let favorites = store.favorites(u[1], None, 10).await.unwrap();
    assert_eq!(favorites[0].message, gone);
    let all = store
        .admin_messages(
            AdminMessageFilter {
                room: Some(d.id),
                ..AdminMessageFilter::default()
            },
            10,
        )
        .await
        .unwrap();
    assert_eq!(all, vec![notice.clone(), m[1].clone(), gone.clone()]);
    // Unread: the other message and the notice; the revoked one no longer.
    let b_view = store.room_summary(d.id, u[1]).await.unwrap().unwrap();
    assert_eq!(b_view.unread, 2);
    let b_mark = store.mark_read(d.id, u[1], 0, at(30)).await.unwrap();
    assert_eq!((b_mark.read_seq, b_mark.unread), (0, 2));

    // Again: nothing is written.
    let pos = store.stream_position().await.unwrap();
    let again = store
        .revoke_message(m[0].id, Revoker::Sender, "again".into(), at(31))
        .await
        .unwrap();
    assert_eq!(again.notice, None);
    assert_eq!(again.message, gone);
    assert_eq!(sorted(again.recipients), vec![u[0], u[1]]);
    assert_eq!(store.stream_position().await.unwrap(), pos);
    assert_eq!(
        store
            .history(d.id, u[1], None, None, 10)
            .await
            .unwrap()
            .len(),
        3
    );
    assert!(store.audit_log(None, 10).await.unwrap().is_empty());

    // An admin's removal (the admin is not in the room).
    let admin = || Revoker::Admin {
        admin: u[2],
        reason: Some("spam".into()),
    };
    let removed = store
        .revoke_message(m[1].id, admin(), "a message was removed".into(), at(40))
        .await
        .unwrap();
    assert!(removed.message.revoked);
    assert_eq!(removed.message.body, None);
    let notice = removed.notice.unwrap();
    assert_eq!(notice.event, Some(NoticeEvent::Removed));
    assert_eq!(notice.ref_id, Some(m[1].id));
    assert_eq!((notice.kind, notice.sender.id), (MessageKind::System, u[2]));
    assert_eq!(sorted(removed.recipients), vec![u[0], u[1]]);
    let log = store.audit_log(None, 10).await.unwrap();
    assert_eq!(log.len(), 1);
    let entry = &log[0];
    assert_eq!(entry.actor, u[2]);
    assert_eq!(entry.action, "remove_message");
    assert_eq!(entry.target_type, "message");
    assert_eq!(entry.target_id, m[1].id.0);
    assert_eq!(entry.reason.as_deref(), Some("spam"));
    assert_eq!(entry.created_at, at(40));
    assert!(!entry.detail.contains("spam link"), "{}", entry.detail);
    for named in [
        format!("\"room_id\":{}", d.id.0),
        format!("\"sender_id\":{}", u[0].0),
    ] {
        assert!(entry.detail.contains(&named), "{named} in {}", entry.detail);
    }
    let again = store
        .revoke_message(m[1].id, admin(), "again".into(), at(41))
        .await
        .unwrap();
    assert_eq!(again.notice, None);
    assert_eq!(store.audit_log(None, 10).await.unwrap().len(), 1);

    not_found(
        store
            .revoke_message(MessageId(999_999), Revoker::Sender, "n".into(), at(42))
            .await,
        Missing::Message,
    );
    not_found(
        store
            .revoke_message(MessageId(999_999), admin(), "n".into(), at(42))
            .await,
        Missing::Message,
    );
    assert_eq!(store.audit_log(None, 10).await.unwrap().len(), 1);
}

/// Revocations racing on one message (two devices, or the sender and an
/// admin): exactly one writes a notice, and an audit entry exists only
/// when the admin's was that one.
async fn concurrent_revocations_write_one_notice(store: &impl Store) {
    let u = users(store, &["race_rv_a", "race_rv_b", "race_rv_admin"]).await;
    let (d, _) = store
        .find_or_create_direct(u[0], u[1], ANYONE, t0())
        .await
        .unwrap();
    let batch = (1..=6)
        .map(|i| text(d.id, u[0], &format!("w{i}"), "take me back"))
        .collect();
    let m = send(store, batch, t0()).await;
    // Open pooled connections first, so the revocations below overlap.
    let (r1, r2, r3) = tokio::join!(store.room(d.id), store.room(d.id), store.room(d.id));
    assert!(r1.unwrap().is_some() && r2.unwrap().is_some() && r3.unwrap().is_some());
    let admin = || Revoker::Admin {
        admin: u[2],
        reason: Some("race".into()),
    };
    let mut audited = 0;
    for (i, message) in m.iter().enumerate() {
        let (x, y, z) = if i % 2 == 0 {
            tokio::join!(
                store.revoke_message(message.id, Revoker::Sender, "revoked".into(), at(1)),
                store.revoke_message(message.id, Revoker::Sender, "revoked".into(), at(1)),
                store.revoke_message(message.id, admin(), "removed".into(), at(1)),
            )
        } else {
            tokio::join!(
                store.revoke_message(message.id, admin(), "removed".into(), at(1)),
                store.revoke_message(message.id, admin(), "removed".into(), at(1)),
                store.revoke_message(message.id, Revoker::Sender, "revoked".into(), at(1)),
            )
        };
        let outcomes = [x.unwrap(), y.unwrap(), z.unwrap()];
        let notices: Vec<_> = outcomes.iter().filter_map(|r| r.notice.clone()).collect();
        assert_eq!(notices.len(), 1, "message {i}: {outcomes:?}");
        assert_eq!(notices[0].ref_id, Some(message.id));
        if notices[0].event == Some(NoticeEvent::Removed) {
            audited += 1;
        }
        for r in &outcomes {
            assert!(r.message.revoked && r.message.body.is_none(), "{r:?}");
        }
    }
    let history = store.history(d.id, u[0], None, None, 50).await.unwrap();
    let refs: Vec<_> = history.iter().filter_map(|n| n.ref_id).collect();
    assert_eq!(refs, ids(&m));
    assert_eq!(store.audit_log(None, 50).await.unwrap().len(), audited);
}

/// Deleting for me is all or nothing, hides the messages from that user's
/// history, sync, lists, favorites and unread count (not from anyone
/// else's), and tells their devices once.
async fn hiding_is_for_me_only_and_all_or_nothing(store: &impl Store) {
    let u = users(store, &["hid_a_user", "hid_b_user", "hid_c_user"]).await;
    let g = group(store, u[0], &[u[1]]).await;
    let (d, _) = store
        .find_or_create_direct(u[1], u[2], ANYONE, t0())
        .await
        .unwrap();
    let pos = store.stream_position().await.unwrap();
    let batch = vec![
        text(g, u[0], "h1", "mine"),
        text(g, u[1], "h2", "yours"),
        text(g, u[1], "h3", "last"),
        text(d.id, u[2], "h4", "elsewhere"),
    ];
    let m = send(store, batch, t0()).await;
    let notice = store.history(g, u[0], None, None, 10).await.unwrap()[0].clone();
    let mut favorited = Vec::new();
    for user in [u[0], u[1]] {
        let (_, event) = store
            .add_favorite(user, m[1].id, t0())
            .await
            .unwrap()
            .unwrap();
        favorited.push(event.unwrap());
    }
    assert_eq!(
        store.room_summary(g, u[0]).await.unwrap().unwrap().unread,
        2
    );

    // A message of a room the user is not in, or none at all: nothing is hidden.
    let before = store.stream_position().await.unwrap();
    let refused = store
        .hide_messages(u[0], &[m[0].id, m[3].id, MessageId(999_999)], at(1))
        .await
        .unwrap();
    assert_eq!(refused, Err(vec![m[3].id, MessageId(999_999)]));
    assert_eq!(
        store.history(g, u[0], None, None, 10).await.unwrap().len(),
        4
    );
    assert_eq!(store.stream_position().await.unwrap(), before);

    let event = store
        .hide_messages(u[0], &[m[0].id, m[1].id], at(2))
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(event.user, u[0]);
    assert_eq!(event.created_at, at(2));
    assert_eq!(
        event.kind,
        NoticeKind::Hidden {
            messages: vec![m[0].id, m[1].id]
        }
    );

    let mine = store.history(g, u[0], None, None, 10).await.unwrap();
    assert_eq!(ids(&mine), vec![notice.id, m[2].id]);
    let theirs = store.history(g, u[1], None, None, 10).await.unwrap();
    assert_eq!(theirs.len(), 4);
    // Pages count only what the viewer sees, both ways.
    let newest = store.history(g, u[0], None, None, 1).await.unwrap();
    assert_eq!(ids(&newest), vec![m[2].id]);
    let older = store.history(g, u[0], Some(4), None, 1).await.unwrap();
    assert_eq!(ids(&older), vec![notice.id]);
    let after = store.history(g, u[0], None, Some(1), 1).await.unwrap();
    assert_eq!(ids(&after), vec![m[2].id]);
    let sync = store.sync(u[0], pos, None, 10).await.unwrap();
    assert_eq!(sync.rooms.len(), 1);
    assert_eq!(ids(&sync.rooms[0].messages), vec![m[2].id]);
    assert_eq!(sync.notices, vec![favorited[0].clone(), event.clone()]);
    let other = store.sync(u[1], pos, None, 10).await.unwrap();
    let other_g = other.rooms.iter().find(|r| r.room_id == g).unwrap();
    assert_eq!(ids(&other_g.messages), ids(&m[..3]));
    assert_eq!(other.notices, vec![favorited[1].clone()], "only their own");
    let list = |user, list| store.user_messages(user, list, MessageFilter::default(), 10);
    assert!(list(u[0], MessageList::Sent).await.unwrap().is_empty());
    assert_eq!(
        ids(&list(u[0], MessageList::Received).await.unwrap()),
        vec![m[2].id]
    );
    assert_eq!(
        ids(&list(u[1], MessageList::Sent).await.unwrap()),
        vec![m[2].id, m[1].id]
    );
    assert_eq!(
        ids(&list(u[1], MessageList::Received).await.unwrap()),
        vec![m[3].id, m[0].id]
    );
    assert!(store.favorites(u[0], None, 10).await.unwrap().is_empty());
    let kept = store.favorites(u[1], None, 10).await.unwrap();
    assert_eq!(kept[0].message, m[1]);
    assert_eq!(
        store.room_summary(g, u[0]).await.unwrap().unwrap().unread,
        1
    );
    let a_mark = store.mark_read(g, u[0], 1, at(2)).await.unwrap();
    assert_eq!(a_mark.unread, 1, "the hidden message is not unread");

    // Hidden already: no new event.
    let before = store.stream_position().await.unwrap();
    assert_eq!(
        store.hide_messages(u[0], &[m[1].id], at(3)).await.unwrap(),
        Ok(None)
    );
    assert_eq!(store.stream_position().await.unwrap(), before);
    // Partly new: the event lists only what was hidden now.
    let event = store
        .hide_messages(u[0], &[m[1].id, m[2].id], at(4))
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(
        event.kind,
        NoticeKind::Hidden {
            messages: vec![m[2].id]
        }
    );
    let a_view = store.room_summary(g, u[0]).await.unwrap().unwrap();
    assert_eq!((a_view.unread, a_view.last_message), (0, None));
    let b_view = store.room_summary(g, u[1]).await.unwrap().unwrap();
    assert_eq!(b_view.last_message.unwrap().id, m[2].id);
}

/// The sent and received lists: newest first, without system notices or
/// rooms the user left, filtered by room, kind and read state, paged by id.
async fn sent_and_received_lists_filter_and_page(store: &impl Store) {
    let u = users(store, &["lst_a_user", "lst_b_user", "lst_c_user"]).await;
    let g = group(store, u[0], &[u[1], u[2]]).await;
    let (d, _) = store
        .find_or_create_direct(u[0], u[1], ANYONE, t0())
        .await
        .unwrap();
    let g2 = group(store, u[1], &[u[0]]).await;
    let batch = vec![
        text(g, u[0], "l1", "ga1"),                        // g seq 2
        text(g, u[1], "l2", "gb1"),                        // g seq 3
        image(g, u[2], "l3", "https://img.example/c.png"), // g seq 4
        text(g, u[0], "l4", "ga2"),                        // g seq 5
        text(d.id, u[1], "l5", "db1"),                     // d seq 1
        text(d.id, u[0], "l6", "da1"),                     // d seq 2
        text(g2, u[1], "l7", "g2b1"),                      // g2 seq 2
        text(g2, u[0], "l8", "g2a1"),                      // g2 seq 3
    ];
    let m = send(store, batch, t0()).await;
    let (ga1, gb1, gc1, ga2, db1, da1) = (m[0].id, m[1].id, m[2].id, m[3].id, m[4].id, m[5].id);
    // Another's notice in a room A is still in, and a room A left.
    store
        .set_member_role(g, u[0], u[1], MemberRole::Admin, t0())
        .await
        .unwrap();
    store
        .update_room(
            g,
            u[1],
            RoomProfileChanges {
                name: Some(RoomName::parse("Renamed").unwrap()),
                ..RoomProfileChanges::default()
            },
            "lst_b renamed the group".into(),
            t0(),
        )
        .await
        .unwrap();
    store
        .remove_member(g2, u[1], u[0], "lst_b removed lst_a".into(), t0())
        .await
        .unwrap();

    let list = |list, filter, limit| store.user_messages(u[0], list, filter, limit);
    let all = MessageFilter::default;
    assert_eq!(
        ids(&list(MessageList::Sent, all(), 10).await.unwrap()),
        vec![da1, ga2, ga1]
    );
    assert_eq!(
        ids(&list(MessageList::Received, all(), 10).await.unwrap()),
        vec![db1, gc1, gb1]
    );
    let in_g = || MessageFilter {
        room: Some(g),
        ..all()
    };
    assert_eq!(
        ids(&list(MessageList::Sent, in_g(), 10).await.unwrap()),
        vec![ga2, ga1]
    );
    assert_eq!(
        ids(&list(MessageList::Received, in_g(), 10).await.unwrap()),
        vec![gc1, gb1]
    );
    let kind = |k| MessageFilter {
        kind: Some(k),
        ..all()
    };
    assert_eq!(
        ids(&list(MessageList::Received, kind(MessageKind::Image), 10)
            .await
            .unwrap()),
        vec![gc1]
    );
    assert!(
        list(MessageList::Sent, kind(MessageKind::Image), 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        list(MessageList::Received, kind(MessageKind::System), 10)
            .await
            .unwrap()
            .is_empty()
    );

    // Read positions: A read g up to gb1; B read d whole and g up to ga1;
    // C read g whole.
    store.mark_read(g, u[0], 3, t0()).await.unwrap();
    store.mark_read(d.id, u[1], 2, t0()).await.unwrap();
    store.mark_read(g, u[1], 2, t0()).await.unwrap();
    store.mark_read(g, u[2], 5, t0()).await.unwrap();
    let unread = |yes| MessageFilter {
        unread: Some(yes),
        ..all()
    };
    assert_eq!(
        ids(&list(MessageList::Received, unread(true), 10).await.unwrap()),
        vec![db1, gc1]
    );
    assert_eq!(
        ids(&list(MessageList::Received, unread(false), 10)
            .await
            .unwrap()),
        vec![gb1]
    );
    assert_eq!(
        ids(&list(MessageList::Sent, unread(true), 10).await.unwrap()),
        vec![ga2],
        "B has not read ga2"
    );
    assert_eq!(
        ids(&list(MessageList::Sent, unread(false), 10).await.unwrap()),
        vec![da1, ga1]
    );
    let both = MessageFilter {
        room: Some(g),
        unread: Some(true),
        ..all()
    };
    assert_eq!(
        ids(&list(MessageList::Received, both, 10).await.unwrap()),
        vec![gc1]
    );

    // Paging by id.
    let page = list(MessageList::Sent, all(), 2).await.unwrap();
    assert_eq!(ids(&page), vec![da1, ga2]);
    let before = |id| MessageFilter {
        before: Some(id),
        ..all()
    };
    assert_eq!(
        ids(&list(MessageList::Sent, before(ga2), 2).await.unwrap()),
        vec![ga1]
    );
    assert_eq!(
        ids(&list(MessageList::Received, before(db1), 10).await.unwrap()),
        vec![gc1, gb1]
    );
    assert!(
        list(MessageList::Received, before(gb1), 10)
            .await
            .unwrap()
            .is_empty()
    );
}

/// Favorites: only of messages the user sees; idempotent; newest first by
/// (time, id); they outlive the user leaving the room and follow the
/// message's revocation.
async fn favorites_outlive_membership_and_page(store: &impl Store) {
    let u = users(store, &["fav_a_user", "fav_b_user", "fav_c_user"]).await;
    let g = group(store, u[0], &[u[1]]).await;
    let batch = vec![
        text(g, u[0], "f1", "first"),
        text(g, u[0], "f2", "second"),
        text(g, u[0], "f3", "third"),
    ];
    let m = send(store, batch, t0()).await;
    assert_eq!(
        store.add_favorite(u[2], m[0].id, at(1)).await.unwrap(),
        None
    );
    assert_eq!(
        store
            .add_favorite(u[1], MessageId(999_999), at(1))
            .await
            .unwrap(),
        None
    );

    let (first, new) = store
        .add_favorite(u[1], m[0].id, at(1))
        .await
        .unwrap()
        .unwrap();
    assert!(new.is_some());
    assert_eq!(first.message, m[0]);
    assert_eq!(first.favorited_at, at(1));
    let (again, new) = store
        .add_favorite(u[1], m[0].id, at(2))
        .await
        .unwrap()
        .unwrap();
    assert!(new.is_none());
    assert_eq!(again, first, "the first time stays");
    // Same instant for two: the higher message id comes first.
    store
        .add_favorite(u[1], m[1].id, at(2))
        .await
        .unwrap()
        .unwrap();
    store
        .add_favorite(u[1], m[2].id, at(2))
        .await
        .unwrap()
        .unwrap();
    let favs = |after, limit| store.favorites(u[1], after, limit);
    let listed =
        |v: Vec<roomy_store::Favorite>| v.into_iter().map(|f| f.message.id).collect::<Vec<_>>();
    assert_eq!(
        listed(favs(None, 10).await.unwrap()),
        vec![m[2].id, m[1].id, m[0].id]
    );
    let page = favs(None, 2).await.unwrap();
    assert_eq!(listed(page.clone()), vec![m[2].id, m[1].id]);
    let cursor = (to_millis(page[1].favorited_at), page[1].message.id);
    assert_eq!(listed(favs(Some(cursor), 2).await.unwrap()), vec![m[0].id]);
    assert!(store.favorites(u[0], None, 10).await.unwrap().is_empty());

    // Revoked: shown revoked, without its body. Left: still there.
    store
        .revoke_message(m[0].id, Revoker::Sender, "revoked".into(), at(3))
        .await
        .unwrap();
    store
        .remove_member(g, u[0], u[1], "fav_a removed fav_b".into(), at(4))
        .await
        .unwrap();
    let late = send(store, vec![text(g, u[0], "f4", "after")], at(5)).await;
    assert_eq!(
        store.add_favorite(u[1], late[0].id, at(5)).await.unwrap(),
        None
    );
    let kept = favs(None, 10).await.unwrap();
    assert_eq!(listed(kept.clone()), vec![m[2].id, m[1].id, m[0].id]);
    assert_eq!(kept[1].message, m[1]);
    assert_eq!(kept[1].message.body.as_deref(), Some("second"));
    assert!(kept[2].message.revoked);
    assert_eq!(kept[2].message.body, None);

    assert!(
        store
            .remove_favorite(u[1], m[1].id, at(6))
            .await
            .unwrap()
            .is_some()
    );
    assert!(
        store
            .remove_favorite(u[1], m[1].id, at(6))
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(
        listed(favs(None, 10).await.unwrap()),
        vec![m[2].id, m[0].id]
    );
}

/// Favoriting one message from several devices at once: every call
/// succeeds with the same favorite, exactly one of them new.
async fn concurrent_favorites_are_added_once(store: &impl Store) {
    let u = users(store, &["race_fv_a", "race_fv_b"]).await;
    let g = group(store, u[0], &[u[1]]).await;
    let batch = (1..=4)
        .map(|i| text(g, u[0], &format!("k{i}"), "keep me"))
        .collect();
    let m = send(store, batch, t0()).await;
    // Open pooled connections first, so the calls below overlap.
    let (r1, r2, r3) = tokio::join!(store.room(g), store.room(g), store.room(g));
    assert!(r1.unwrap().is_some() && r2.unwrap().is_some() && r3.unwrap().is_some());
    for message in &m {
        let (x, y, z) = tokio::join!(
            store.add_favorite(u[1], message.id, at(1)),
            store.add_favorite(u[1], message.id, at(1)),
            store.add_favorite(u[1], message.id, at(1)),
        );
        let outcomes = [
            x.unwrap().unwrap(),
            y.unwrap().unwrap(),
            z.unwrap().unwrap(),
        ];
        assert_eq!(outcomes.iter().filter(|(_, new)| new.is_some()).count(), 1);
        assert!(outcomes.iter().all(|(f, _)| *f == outcomes[0].0));
    }
    assert_eq!(
        store.favorites(u[1], None, 10).await.unwrap().len(),
        m.len()
    );
}

/// Favoriting and forgetting a favorite each write one event for the
/// user's devices, which sync returns in order; a call that changes nothing
/// (a favorite again, a removal of none) writes none, and nobody else hears.
async fn favorite_changes_tell_my_devices_once(store: &impl Store) {
    let u = users(store, &["fvn_a_user", "fvn_b_user"]).await;
    let g = group(store, u[0], &[u[1]]).await;
    let m = send(store, vec![text(g, u[0], "n1", "keep this")], t0()).await;
    let pos = store.stream_position().await.unwrap();

    let (_, added) = store
        .add_favorite(u[1], m[0].id, at(1))
        .await
        .unwrap()
        .unwrap();
    let added = added.expect("a new favorite is announced");
    assert_eq!(added.user, u[1]);
    assert_eq!(added.created_at, at(1));
    assert!(added.id > pos);
    assert_eq!(
        added.kind,
        NoticeKind::Favorite {
            message: m[0].id,
            favorite: true
        }
    );
    let before = store.stream_position().await.unwrap();
    let (_, again) = store
        .add_favorite(u[1], m[0].id, at(2))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(again, None);
    assert_eq!(store.stream_position().await.unwrap(), before);

    let removed = store
        .remove_favorite(u[1], m[0].id, at(3))
        .await
        .unwrap()
        .expect("a removal is announced");
    assert_eq!(removed.user, u[1]);
    assert_eq!(removed.created_at, at(3));
    assert!(removed.id > added.id);
    assert_eq!(
        removed.kind,
        NoticeKind::Favorite {
            message: m[0].id,
            favorite: false
        }
    );
    let before = store.stream_position().await.unwrap();
    assert_eq!(
        store.remove_favorite(u[1], m[0].id, at(4)).await.unwrap(),
        None
    );
    assert_eq!(
        store.remove_favorite(u[0], m[0].id, at(4)).await.unwrap(),
        None,
        "never a favorite"
    );
    assert_eq!(store.stream_position().await.unwrap(), before);

    let sync = store.sync(u[1], pos, None, 10).await.unwrap();
    assert_eq!(sync.notices, vec![added, removed]);
    assert!(
        store
            .sync(u[0], pos, None, 10)
            .await
            .unwrap()
            .notices
            .is_empty()
    );
}

/// Groups: dissolving makes a group read-only (notices still append) once;
/// ownership moves to a member; members set and clear their group profile;
/// a removed member gets a `left` event that sync returns.
async fn groups_dissolve_change_owner_and_member_profiles(store: &impl Store) {
    let u = users(
        store,
        &["grp_a_user", "grp_b_user", "grp_c_user", "grp_d_user"],
    )
    .await;
    let g = group(store, u[0], &[u[1], u[2]]).await;
    let change = store
        .dissolve_room(g, u[0], "the group was dissolved".into(), at(60))
        .await
        .unwrap();
    assert_eq!(change.room.dissolved_at, Some(at(60)));
    assert_eq!(change.room.last_seq, 2);
    let notice = change.notice.clone().unwrap();
    assert_eq!(notice.kind, MessageKind::System);
    assert_eq!(notice.event, Some(NoticeEvent::Dissolved));
    assert_eq!((notice.ref_id, notice.sender.id), (None, u[0]));
    assert_eq!(sorted(change.recipients.clone()), vec![u[0], u[1], u[2]]);
    assert_eq!(
        store.room(g).await.unwrap().unwrap().dissolved_at,
        Some(at(60))
    );
    let out = store
        .append_messages(
            &[
                text(g, u[1], "x1", "anyone?"),
                system(g, u[0], "still a notice"),
            ],
            ANYONE,
            at(61),
        )
        .await
        .unwrap();
    assert_eq!(out[0], AppendOutcome::Rejected(AppendRejection::Dissolved));
    assert_eq!(stored(&out[1]).seq, 3);

    // Twice, or a direct room, or no room: nothing at all is written.
    denied(
        store.dissolve_room(g, u[0], "again".into(), at(62)).await,
        RoomDenial::Dissolved,
    );
    let room = store.room(g).await.unwrap().unwrap();
    assert_eq!((room.last_seq, room.dissolved_at), (3, Some(at(60))));
    let (d, _) = store
        .find_or_create_direct(u[0], u[1], ANYONE, t0())
        .await
        .unwrap();
    denied(
        store.dissolve_room(d.id, u[0], "no".into(), at(62)).await,
        RoomDenial::NotAGroup,
    );
    let room = store.room(d.id).await.unwrap().unwrap();
    assert_eq!((room.last_seq, room.dissolved_at), (0, None));
    denied(
        store
            .dissolve_room(RoomId(999_999), u[0], "no".into(), at(62))
            .await,
        RoomDenial::RoomNotFound,
    );
    // A dissolved group keeps its members and stays readable.
    assert_eq!(store.members(g, None, 10).await.unwrap().len(), 3);
    assert_eq!(
        store.history(g, u[1], None, None, 10).await.unwrap().len(),
        3
    );

    // Ownership.
    let g2 = group(store, u[0], &[u[1], u[2]]).await;
    let moved = store
        .transfer_ownership(g2, u[0], u[1], "grp_a made grp_b the owner".into(), at(70))
        .await
        .unwrap();
    let notice = moved.notice.clone().unwrap();
    assert_eq!((notice.kind, notice.sender.id), (MessageKind::System, u[0]));
    assert_eq!(notice.body.as_deref(), Some("grp_a made grp_b the owner"));
    let mut roles: Vec<_> = moved.members.iter().map(|m| (m.user.id, m.role)).collect();
    roles.sort_by_key(|(id, _)| *id);
    assert_eq!(
        roles,
        vec![(u[0], MemberRole::Admin), (u[1], MemberRole::Owner)]
    );
    assert_eq!(sorted(moved.recipients.clone()), vec![u[0], u[1], u[2]]);
    assert_eq!(
        store.member_role(g2, u[1]).await.unwrap(),
        Some(MemberRole::Owner)
    );
    assert_eq!(
        store.member_role(g2, u[0]).await.unwrap(),
        Some(MemberRole::Admin)
    );
    let last_seq = store.room(g2).await.unwrap().unwrap().last_seq;
    denied(
        store
            .transfer_ownership(g2, u[1], u[3], "no".into(), at(71))
            .await,
        RoomDenial::MemberNotFound,
    );
    assert_eq!(
        store.member_role(g2, u[1]).await.unwrap(),
        Some(MemberRole::Owner)
    );
    assert_eq!(store.member_role(g2, u[3]).await.unwrap(), None);
    assert_eq!(
        store.room(g2).await.unwrap().unwrap().last_seq,
        last_seq,
        "no notice for a refused transfer"
    );

    // Group nickname and avatar: set, clear one, clear the other.
    let set = store
        .update_member_profile(
            g2,
            u[2],
            MemberProfileChanges {
                nickname: Some(Some("Cee".into())),
                avatar: Some(Some("https://img.example/cee.png".into())),
            },
            at(72),
        )
        .await
        .unwrap();
    let c = set.members[0].clone();
    assert_eq!(c.user.id, u[2]);
    assert_eq!(c.group_nickname.as_deref(), Some("Cee"));
    assert_eq!(
        c.group_avatar.as_deref(),
        Some("https://img.example/cee.png")
    );
    assert_eq!(c.display_name(), "Cee");
    assert_eq!(store.member(g2, u[2]).await.unwrap(), Some(c));
    let cleared = store
        .update_member_profile(
            g2,
            u[2],
            MemberProfileChanges {
                nickname: Some(None),
                avatar: None,
            },
            at(73),
        )
        .await
        .unwrap();
    let c = &cleared.members[0];
    assert_eq!(c.group_nickname, None);
    assert_eq!(
        c.group_avatar.as_deref(),
        Some("https://img.example/cee.png")
    );
    assert_eq!(c.display_name(), "Nick grp_c_user");
    let cleared = store
        .update_member_profile(
            g2,
            u[2],
            MemberProfileChanges {
                nickname: None,
                avatar: Some(None),
            },
            at(74),
        )
        .await
        .unwrap();
    let c = &cleared.members[0];
    assert_eq!(
        (c.group_nickname.as_deref(), c.group_avatar.as_deref()),
        (None, None)
    );
    assert_eq!(store.member(g2, u[2]).await.unwrap().as_ref(), Some(c));
    denied(
        store
            .update_member_profile(g2, u[3], MemberProfileChanges::default(), at(75))
            .await,
        RoomDenial::RoomNotFound,
    );
    assert_eq!(store.member(g2, u[3]).await.unwrap(), None);

    // A removed member hears of it, also from sync.
    let pos = store.stream_position().await.unwrap();
    let removed = store
        .remove_member(g2, u[1], u[2], "grp_b removed grp_c".into(), at(76))
        .await
        .unwrap();
    assert_eq!(removed.notices.len(), 1);
    let left = &removed.notices[0];
    assert_eq!((left.user, left.created_at), (u[2], at(76)));
    assert_eq!(left.kind, NoticeKind::Left { room: g2, by: u[1] });
    let sync = store.sync(u[2], pos, None, 50).await.unwrap();
    assert_eq!(sync.notices, removed.notices);
    let others = store.sync(u[0], pos, None, 50).await.unwrap();
    assert!(others.notices.is_empty());
}

/// Two admins removing the same member at once: one removal, one notice,
/// one `left` event; the other is `NotFound` and writes nothing.
async fn concurrent_removals_remove_once(store: &impl Store) {
    let u = users(store, &["race_rm_a", "race_rm_b", "race_rm_c"]).await;
    let mut targets = Vec::new();
    for i in 0..4 {
        targets.push(users(store, &[&format!("race_rm_t{i}")]).await[0]);
    }
    let mut members = vec![u[1], u[2]];
    members.extend(&targets);
    let g = group(store, u[0], &members).await;
    store
        .set_member_role(g, u[0], u[1], MemberRole::Admin, t0())
        .await
        .unwrap();
    // Open pooled connections first, so the removals below overlap.
    let (r1, r2, r3) = tokio::join!(store.room(g), store.room(g), store.room(g));
    assert!(r1.unwrap().is_some() && r2.unwrap().is_some() && r3.unwrap().is_some());
    let pos = store.stream_position().await.unwrap();
    for target in &targets {
        let (x, y, z) = tokio::join!(
            store.remove_member(g, u[0], *target, "removed".into(), at(1)),
            store.remove_member(g, u[1], *target, "removed".into(), at(1)),
            store.remove_member(g, u[0], *target, "removed".into(), at(1)),
        );
        let outcomes = [x, y, z];
        let done: Vec<_> = outcomes.iter().filter_map(|r| r.as_ref().ok()).collect();
        assert_eq!(done.len(), 1, "{outcomes:?}");
        assert_eq!(done[0].notices.len(), 1);
        assert!(
            outcomes
                .iter()
                .filter(|r| r.is_err())
                .all(|r| matches!(r, Err(StoreError::RoomDenied(RoomDenial::MemberNotFound)))),
            "{outcomes:?}"
        );
        let sync = store.sync(*target, pos, None, 50).await.unwrap();
        assert_eq!(sync.notices, done[0].notices);
    }
    let room = store.room(g).await.unwrap().unwrap();
    assert_eq!(room.member_count, 3);
    let history = store.history(g, u[0], None, None, 50).await.unwrap();
    let removals = history
        .iter()
        .filter(|m| m.body.as_deref() == Some("removed"))
        .count();
    assert_eq!(removals, targets.len());
}

/// Moderation changes the account and writes its audit entry together
/// (disabling ends every session); the log pages newest first.
async fn moderation_is_audited_in_the_same_transaction(store: &impl Store) {
    let u = users(store, &["mod_admin", "mod_user_1", "mod_user_2"]).await;
    for _ in 0..2 {
        store
            .create_session(NewSession {
                user_id: u[1],
                now: t0(),
                expires_at: t0() + Duration::hours(1),
                user_agent: None,
                ip: None,
            })
            .await
            .unwrap();
    }
    assert_eq!(store.active_sessions(u[1], t0()).await.unwrap().len(), 2);
    let entry = |target: UserId, action: &'static str, reason: Option<&str>| NewAudit {
        actor: u[0],
        action,
        target_type: "user",
        target_id: target.0,
        reason: reason.map(str::to_owned),
        detail: format!("{{\"user_id\":{}}}", target.0),
    };

    let user = store
        .moderate_user(entry(u[1], "disable_user", Some("spam")), true, at(60))
        .await
        .unwrap();
    assert_eq!(user.id, u[1]);
    assert!(user.disabled);
    assert_eq!(user.updated_at, at(60));
    assert!(store.user(u[1]).await.unwrap().unwrap().disabled);
    assert!(
        store
            .active_sessions(u[1], at(60))
            .await
            .unwrap()
            .is_empty()
    );
    let log = store.audit_log(None, 10).await.unwrap();
    assert_eq!(log.len(), 1);
    let e = &log[0];
    assert_eq!((e.actor, e.action.as_str()), (u[0], "disable_user"));
    assert_eq!((e.target_type.as_str(), e.target_id), ("user", u[1].0));
    assert_eq!(e.reason.as_deref(), Some("spam"));
    assert_eq!(e.detail, format!("{{\"user_id\":{}}}", u[1].0));
    assert_eq!(e.created_at, at(60));

    // A missing account: no audit entry either.
    not_found(
        store
            .moderate_user(entry(UserId(999_999), "disable_user", None), true, at(61))
            .await,
        Missing::User,
    );
    assert_eq!(store.audit_log(None, 10).await.unwrap().len(), 1);

    let user = store
        .moderate_user(entry(u[1], "enable_user", None), false, at(62))
        .await
        .unwrap();
    assert!(!user.disabled);
    assert!(
        store
            .active_sessions(u[1], at(62))
            .await
            .unwrap()
            .is_empty(),
        "re-enabling brings no session back"
    );
    store
        .moderate_user(entry(u[2], "disable_user", None), true, at(63))
        .await
        .unwrap();

    let log = store.audit_log(None, 10).await.unwrap();
    let seen: Vec<_> = log
        .iter()
        .map(|e| (e.action.as_str(), e.target_id))
        .collect();
    assert_eq!(
        seen,
        vec![
            ("disable_user", u[2].0),
            ("enable_user", u[1].0),
            ("disable_user", u[1].0)
        ]
    );
    assert!(log.windows(2).all(|w| w[0].id > w[1].id));
    let page = store.audit_log(None, 2).await.unwrap();
    assert_eq!(page, log[..2].to_vec());
    let rest = store.audit_log(Some(page[1].id), 2).await.unwrap();
    assert_eq!(rest, log[2..].to_vec());
    assert!(
        store
            .audit_log(Some(log[2].id), 2)
            .await
            .unwrap()
            .is_empty()
    );
}

/// The admin message search: every filter, alone and together, newest
/// first; text matches case-insensitively with `%` and `_` taken literally.
async fn admin_search_filters_messages(store: &impl Store) {
    let u = users(store, &["adm_a_user", "adm_b_user", "adm_admin"]).await;
    let g = group(store, u[0], &[u[1]]).await;
    let (d, _) = store
        .find_or_create_direct(u[0], u[1], ANYONE, t0())
        .await
        .unwrap();
    let created = store.history(g, u[0], None, None, 1).await.unwrap()[0].id;
    let mut m = Vec::new();
    for (i, new) in [
        text(g, u[0], "s1", "Hello World"),
        text(g, u[1], "s2", "100% sure"),
        text(g, u[1], "s3", "snake_case here"),
        text(d.id, u[0], "s4", "hello again"),
        image(d.id, u[1], "s5", "https://img.example/x.png"),
        text(d.id, u[0], "s6", "snakeXcase 1000 percent"),
    ]
    .into_iter()
    .enumerate()
    {
        let at = at(10 * (i as i64 + 1));
        m.push(send(store, vec![new], at).await[0].id);
    }
    let search = |filter: AdminMessageFilter, limit| async move {
        ids(&store.admin_messages(filter, limit).await.unwrap())
    };
    let all = AdminMessageFilter::default;
    let text_is = |t: &str| AdminMessageFilter {
        text: Some(t.to_owned()),
        ..all()
    };

    assert_eq!(
        search(all(), 50).await,
        vec![m[5], m[4], m[3], m[2], m[1], m[0], created]
    );
    let in_room = AdminMessageFilter {
        room: Some(g),
        ..all()
    };
    assert_eq!(search(in_room, 50).await, vec![m[2], m[1], m[0], created]);
    let by = AdminMessageFilter {
        sender: Some(u[1]),
        ..all()
    };
    assert_eq!(search(by, 50).await, vec![m[4], m[2], m[1]]);
    let kind = |k| AdminMessageFilter {
        kind: Some(k),
        ..all()
    };
    assert_eq!(search(kind(MessageKind::Image), 50).await, vec![m[4]]);
    assert_eq!(search(kind(MessageKind::System), 50).await, vec![created]);
    assert_eq!(search(text_is("HELLO"), 50).await, vec![m[3], m[0]]);
    assert_eq!(search(text_is("%"), 50).await, vec![m[1]]);
    assert_eq!(search(text_is("100%"), 50).await, vec![m[1]]);
    assert_eq!(search(text_is("_"), 50).await, vec![m[2]]);
    assert_eq!(search(text_is("e_c"), 50).await, vec![m[2]]);
    assert!(search(text_is("nothing like it"), 50).await.is_empty());
    let window = AdminMessageFilter {
        from: Some(at(20)),
        to: Some(at(40)),
        ..all()
    };
    assert_eq!(search(window, 50).await, vec![m[3], m[2], m[1]]);
    let since = AdminMessageFilter {
        from: Some(at(50)),
        ..all()
    };
    assert_eq!(search(since, 50).await, vec![m[5], m[4]]);
    let until = AdminMessageFilter {
        to: Some(at(10)),
        ..all()
    };
    assert_eq!(search(until, 50).await, vec![m[0], created]);
    let before = |id| AdminMessageFilter {
        before: Some(id),
        ..all()
    };
    assert_eq!(
        search(before(m[3]), 50).await,
        vec![m[2], m[1], m[0], created]
    );
    assert_eq!(search(all(), 2).await, vec![m[5], m[4]]);
    assert_eq!(search(before(m[4]), 2).await, vec![m[3], m[2]]);
    let combined = AdminMessageFilter {
        room: Some(d.id),
        sender: Some(u[0]),
        ..all()
    };
    assert_eq!(search(combined, 50).await, vec![m[5], m[3]]);
    let combined = AdminMessageFilter {
        room: Some(g),
        text: Some("hello".into()),
        from: Some(at(10)),
        kind: Some(MessageKind::Text),
        before: Some(m[5]),
        ..all()
    };
    assert_eq!(search(combined, 50).await, vec![m[0]]);

    // A removed message has no body left to match.
    store
        .revoke_message(
            m[3],
            Revoker::Admin {
                admin: u[2],
                reason: None,
            },
            "a message was removed".into(),
            at(70),
        )
        .await
        .unwrap();
    assert_eq!(search(text_is("hello"), 50).await, vec![m[0]]);

    // A backslash is literal too (it is the escape character underneath).
    let path = send(store, vec![text(d.id, u[1], "s7", r"C:\new_dir")], at(80)).await;
    assert_eq!(search(text_is(r"\n"), 50).await, vec![path[0].id]);
    assert_eq!(search(text_is(r"\NEW_"), 50).await, vec![path[0].id]);
}

/// A sender removed from the group may no longer revoke there: the store
/// sees the removal under the room's lock, whichever node made it.
async fn removed_senders_cannot_revoke(store: &impl Store) {
    let u = users(store, &["rmv_owner", "rmv_sender"]).await;
    let g = group(store, u[0], &[u[1]]).await;
    let m = send(store, vec![text(g, u[1], "r1", "oops")], t0()).await;
    store
        .remove_member(g, u[0], u[1], "removed".into(), t0())
        .await
        .unwrap();
    let before = store.room(g).await.unwrap().unwrap().last_seq;
    not_found(
        store
            .revoke_message(m[0].id, Revoker::Sender, "revoked".into(), at(1))
            .await,
        Missing::Member,
    );
    let after = store.room(g).await.unwrap().unwrap();
    assert_eq!(after.last_seq, before, "no notice for a refused revocation");
    assert!(!store.message(m[0].id).await.unwrap().unwrap().revoked);
}

/// Every check of this module, each to run against a fresh store.
pub(crate) fn checks<S: Store>() -> Vec<Check<S>> {
    vec![
        Check::new(
            "read_positions_move_forward_and_reach_the_peer",
            read_positions_move_forward_and_reach_the_peer,
        ),
        Check::new(
            "concurrent_reads_never_move_backwards",
            concurrent_reads_never_move_backwards,
        ),
        Check::new(
            "revoking_takes_the_body_back_for_everyone",
            revoking_takes_the_body_back_for_everyone,
        ),
        Check::new(
            "removed_senders_cannot_revoke",
            removed_senders_cannot_revoke,
        ),
        Check::new(
            "concurrent_revocations_write_one_notice",
            concurrent_revocations_write_one_notice,
        ),
        Check::new(
            "hiding_is_for_me_only_and_all_or_nothing",
            hiding_is_for_me_only_and_all_or_nothing,
        ),
        Check::new(
            "sent_and_received_lists_filter_and_page",
            sent_and_received_lists_filter_and_page,
        ),
        Check::new(
            "favorites_outlive_membership_and_page",
            favorites_outlive_membership_and_page,
        ),
        Check::new(
            "concurrent_favorites_are_added_once",
            concurrent_favorites_are_added_once,
        ),
        Check::new(
            "favorite_changes_tell_my_devices_once",
            favorite_changes_tell_my_devices_once,
        ),
        Check::new(
            "groups_dissolve_change_owner_and_member_profiles",
            groups_dissolve_change_owner_and_member_profiles,
        ),
        Check::new(
            "concurrent_removals_remove_once",
            concurrent_removals_remove_once,
        ),
        Check::new(
            "moderation_is_audited_in_the_same_transaction",
            moderation_is_audited_in_the_same_transaction,
        ),
        Check::new(
            "admin_search_filters_messages",
            admin_search_filters_messages,
        ),
    ]
}
