//! The invite half of the store contract (see [`crate::chat`] for the rest).
//!
//! Each check is private and named in [`checks`] below: one missing from that
//! list is dead code, which the workspace's `clippy -D warnings` rejects, so
//! a check cannot be written and silently never run.

#![allow(clippy::unwrap_used)]

use crate::Check;
use crate::chat::{ANYONE, CAPACITY, group, t0, users};
use roomy_core::{
    RoomId, UserId,
    chat_fields::{MemberRole, MessageKind},
};
use roomy_store::{
    Conflict, InviteState, JoinOutcome, Missing, NewInvite, RoomDenial, Store, StoreError,
};
use time::Duration;

fn new_invite(room: RoomId, by: UserId, hash: &str, max_uses: Option<i64>) -> NewInvite {
    NewInvite {
        room_id: room,
        created_by: by,
        token_hash: hash.to_owned(),
        expires_at: t0() + Duration::hours(1),
        max_uses,
    }
}

fn joined(outcome: JoinOutcome) -> roomy_store::RoomChange {
    match outcome {
        JoinOutcome::Joined(change) => *change,
        other => panic!("expected a join, got {other:?}"),
    }
}

/// Invites are listed newest first without the revoked ones; revoking is
/// idempotent and keeps its first time; hashes are unique; lookups by hash
/// return the invite with its room.
async fn invites_are_created_listed_and_revoked(store: &impl Store) {
    let u = users(store, &["inv_owner", "inv_other"]).await;
    let room = group(store, u[0], &[u[1]]).await;
    let first = store
        .create_invite(new_invite(room, u[0], "hash-1", None), t0())
        .await
        .unwrap();
    assert_eq!(first.room_id, room);
    assert_eq!(first.created_by, u[0]);
    assert_eq!(first.created_at, t0());
    assert_eq!(first.expires_at, t0() + Duration::hours(1));
    assert_eq!(
        (first.max_uses, first.uses, first.revoked_at),
        (None, 0, None)
    );
    assert_eq!(first.state(t0()), InviteState::Active);
    // Admins make links too.
    store
        .set_member_role(room, u[0], u[1], MemberRole::Admin, t0())
        .await
        .unwrap();
    let second = store
        .create_invite(new_invite(room, u[1], "hash-2", Some(3)), t0())
        .await
        .unwrap();
    let third = store
        .create_invite(new_invite(room, u[0], "hash-3", Some(1)), t0())
        .await
        .unwrap();
    assert!(matches!(
        store
            .create_invite(new_invite(room, u[0], "hash-1", None), t0())
            .await,
        Err(StoreError::Conflict(Conflict::Invite))
    ));
    assert!(matches!(
        store
            .create_invite(new_invite(RoomId(999_999), u[0], "hash-x", None), t0())
            .await,
        Err(StoreError::RoomDenied(RoomDenial::RoomNotFound))
    ));

    let ids = |list: Vec<roomy_store::Invite>| list.into_iter().map(|i| i.id).collect::<Vec<_>>();
    let all = store.room_invites(room, None, 10).await.unwrap();
    assert_eq!(all[1], second);
    assert_eq!(ids(all), vec![third.id, second.id, first.id]);
    let page = store.room_invites(room, None, 2).await.unwrap();
    assert_eq!(ids(page), vec![third.id, second.id]);
    let rest = store.room_invites(room, Some(second.id), 2).await.unwrap();
    assert_eq!(ids(rest), vec![first.id]);

    let later = t0() + Duration::minutes(5);
    store
        .revoke_invite(room, u[0], second.id, later)
        .await
        .unwrap();
    store
        .revoke_invite(room, u[0], second.id, later + Duration::minutes(1))
        .await
        .unwrap();
    let all = store.room_invites(room, None, 10).await.unwrap();
    assert_eq!(ids(all), vec![third.id, first.id]);
    let (revoked, in_room) = store.invite_by_hash("hash-2").await.unwrap().unwrap();
    assert_eq!(
        revoked.revoked_at,
        Some(later),
        "the first revocation stays"
    );
    assert_eq!(revoked.state(later), InviteState::Revoked);
    assert_eq!(in_room.id, room);
    assert_eq!(in_room.member_count, 2);
    assert!(matches!(
        store
            .revoke_invite(RoomId(999_999), u[0], first.id, t0())
            .await,
        Err(StoreError::RoomDenied(RoomDenial::RoomNotFound))
    ));
    assert!(matches!(
        store.revoke_invite(room, u[0], 999_999, t0()).await,
        Err(StoreError::NotFound(Missing::Invite))
    ));
    assert!(store.invite_by_hash("hash-none").await.unwrap().is_none());
    let (found, _) = store.invite_by_hash("hash-1").await.unwrap().unwrap();
    assert_eq!(found, first);
    assert_eq!(found.state(t0() + Duration::hours(1)), InviteState::Expired);
}

/// A join adds a member with a notice and counts a use, in one transaction;
/// members rejoining count nothing; expired, exhausted and revoked invites
/// and full groups admit nobody.
async fn joining_counts_uses_and_adds_the_member(store: &impl Store) {
    let u = users(
        store,
        &[
            "joi_owner",
            "joi_ann11",
            "joi_bob11",
            "joi_cat11",
            "joi_dan11",
        ],
    )
    .await;
    let room = group(store, u[0], &[]).await;
    let invite = store
        .create_invite(new_invite(room, u[0], "join-2", Some(2)), t0())
        .await
        .unwrap();
    let change = joined(
        store
            .join_by_invite("join-2", u[1], "ann joined".into(), 100, t0())
            .await
            .unwrap(),
    );
    assert_eq!(change.room.id, room);
    assert_eq!(change.room.member_count, 2);
    assert_eq!(change.members.len(), 1);
    assert_eq!(change.members[0].user.id, u[1]);
    assert_eq!(change.members[0].role, MemberRole::Member);
    let notice = change.notice.unwrap();
    assert_eq!(notice.kind, MessageKind::System);
    assert_eq!(notice.body.as_deref(), Some("ann joined"));
    assert_eq!(notice.sender.id, u[1]);
    assert_eq!(notice.seq, 2);
    let mut recipients = change.recipients.clone();
    recipients.sort();
    assert_eq!(recipients, vec![u[0], u[1]]);
    assert_eq!(
        store.member_role(room, u[1]).await.unwrap(),
        Some(MemberRole::Member)
    );

    // Rejoining writes nothing and uses nothing.
    match store
        .join_by_invite("join-2", u[1], "again".into(), 100, t0())
        .await
        .unwrap()
    {
        JoinOutcome::AlreadyMember(r) => assert_eq!((r.id, r.last_seq), (room, 2)),
        other => panic!("{other:?}"),
    }
    let (after, _) = store.invite_by_hash("join-2").await.unwrap().unwrap();
    assert_eq!(after.uses, 1);

    // A full group admits nobody, and the refused join uses nothing.
    assert_eq!(
        store
            .join_by_invite("join-2", u[2], "bob".into(), 2, t0())
            .await
            .unwrap(),
        JoinOutcome::GroupFull
    );
    joined(
        store
            .join_by_invite("join-2", u[2], "bob joined".into(), 100, t0())
            .await
            .unwrap(),
    );
    assert_eq!(
        store
            .join_by_invite("join-2", u[3], "cat".into(), 100, t0())
            .await
            .unwrap(),
        JoinOutcome::Unusable(InviteState::Exhausted)
    );
    let (after, r) = store.invite_by_hash("join-2").await.unwrap().unwrap();
    assert_eq!((after.id, after.uses), (invite.id, 2));
    assert_eq!(r.member_count, 3);

    let open = store
        .create_invite(new_invite(room, u[0], "join-open", None), t0())
        .await
        .unwrap();
    let at_expiry = open.expires_at;
    assert_eq!(
        store
            .join_by_invite("join-open", u[3], "cat".into(), 100, at_expiry)
            .await
            .unwrap(),
        JoinOutcome::Unusable(InviteState::Expired)
    );
    store
        .revoke_invite(room, u[0], open.id, t0())
        .await
        .unwrap();
    assert_eq!(
        store
            .join_by_invite("join-open", u[3], "cat".into(), 100, t0())
            .await
            .unwrap(),
        JoinOutcome::Unusable(InviteState::Revoked)
    );
    assert!(matches!(
        store
            .join_by_invite("join-none", u[3], "cat".into(), 100, t0())
            .await,
        Err(StoreError::NotFound(Missing::Invite))
    ));
    assert_eq!(store.member_role(room, u[3]).await.unwrap(), None);
    let history = store.history(room, u[0], None, None, 10).await.unwrap();
    assert_eq!(history.len(), 3, "one notice per join: {history:?}");
}

/// Two joins racing for an invite's last use: exactly one gets in.
async fn concurrent_joins_never_exceed_max_uses(store: &impl Store) {
    let u = users(store, &["race_owner", "race_ann1", "race_bob1"]).await;
    let room = group(store, u[0], &[]).await;
    store
        .create_invite(new_invite(room, u[0], "race-1", Some(1)), t0())
        .await
        .unwrap();
    // Open pooled connections first: otherwise the second join waits for a
    // new connection while the first commits, and the two never overlap.
    let (r1, r2, r3) = tokio::join!(store.room(room), store.room(room), store.room(room));
    assert!(r1.unwrap().is_some() && r2.unwrap().is_some() && r3.unwrap().is_some());
    let (a, b) = tokio::join!(
        store.join_by_invite("race-1", u[1], "ann".into(), 100, t0()),
        store.join_by_invite("race-1", u[2], "bob".into(), 100, t0()),
    );
    let outcomes = [a.unwrap(), b.unwrap()];
    let wins = outcomes
        .iter()
        .filter(|o| matches!(o, JoinOutcome::Joined(_)))
        .count();
    let losses = outcomes
        .iter()
        .filter(|o| **o == JoinOutcome::Unusable(InviteState::Exhausted))
        .count();
    assert_eq!((wins, losses), (1, 1), "{outcomes:?}");
    let (invite, r) = store.invite_by_hash("race-1").await.unwrap().unwrap();
    assert_eq!((invite.uses, r.member_count), (1, 2));
}

/// An admin's removal bans the member from rejoining by link, in the same
/// transaction; a refused join uses nothing. Lifting the ban, or an admin
/// adding them back, lets them in again; leaving by oneself bans nobody.
async fn removal_bans_rejoining_until_lifted(store: &impl Store) {
    let u = users(store, &["ban_owner", "ban_admin", "ban_memb1", "ban_leave"]).await;
    let room = group(store, u[0], &[u[1], u[2], u[3]]).await;
    store
        .set_member_role(room, u[0], u[1], MemberRole::Admin, t0())
        .await
        .unwrap();
    store
        .create_invite(new_invite(room, u[0], "ban-link", None), t0())
        .await
        .unwrap();
    let later = t0() + Duration::seconds(5);
    store
        .remove_member(room, u[1], u[2], "removed".into(), later)
        .await
        .unwrap();
    store
        .remove_member(room, u[3], u[3], "left".into(), later)
        .await
        .unwrap();
    let bans = store.room_bans(room, None, 10).await.unwrap();
    assert_eq!(bans.len(), 1, "leaving bans nobody: {bans:?}");
    assert_eq!(
        (bans[0].room_id, bans[0].user.id, bans[0].banned_by),
        (room, u[2], u[1])
    );
    assert_eq!(bans[0].banned_at, later);
    assert_eq!(bans[0].user.nickname, "Nick ban_memb1");

    assert_eq!(
        store
            .join_by_invite("ban-link", u[2], "back".into(), 100, later)
            .await
            .unwrap(),
        JoinOutcome::Banned
    );
    joined(
        store
            .join_by_invite("ban-link", u[3], "back".into(), 100, later)
            .await
            .unwrap(),
    );
    let (invite, _) = store.invite_by_hash("ban-link").await.unwrap().unwrap();
    assert_eq!(invite.uses, 1, "the refused join used nothing");
    assert_eq!(store.member_role(room, u[2]).await.unwrap(), None);

    store.lift_ban(room, u[0], u[2]).await.unwrap();
    assert!(matches!(
        store.lift_ban(room, u[0], u[2]).await,
        Err(StoreError::NotFound(Missing::Ban))
    ));
    joined(
        store
            .join_by_invite("ban-link", u[2], "back".into(), 100, later)
            .await
            .unwrap(),
    );

    // Removed again (both), paged; then added back by an admin: that ban goes.
    for who in [u[2], u[3]] {
        store
            .remove_member(room, u[0], who, "removed".into(), later)
            .await
            .unwrap();
    }
    let first = store.room_bans(room, None, 1).await.unwrap();
    assert_eq!(first.len(), 1);
    assert_eq!((first[0].user.id, first[0].banned_by), (u[2], u[0]));
    let rest = store.room_bans(room, Some(u[2]), 10).await.unwrap();
    assert_eq!(rest.len(), 1);
    assert_eq!(rest[0].user.id, u[3]);
    store
        .add_members(room, u[1], &[u[2]], ANYONE, "added".into(), CAPACITY, later)
        .await
        .unwrap();
    let left: Vec<UserId> = store
        .room_bans(room, None, 10)
        .await
        .unwrap()
        .into_iter()
        .map(|b| b.user.id)
        .collect();
    assert_eq!(left, vec![u[3]]);
}

/// Every check of this module, each to run against a fresh store.
pub(crate) fn checks<S: Store>() -> Vec<Check<S>> {
    vec![
        Check::new(
            "invites_are_created_listed_and_revoked",
            invites_are_created_listed_and_revoked,
        ),
        Check::new(
            "joining_counts_uses_and_adds_the_member",
            joining_counts_uses_and_adds_the_member,
        ),
        Check::new(
            "concurrent_joins_never_exceed_max_uses",
            concurrent_joins_never_exceed_max_uses,
        ),
        Check::new(
            "removal_bans_rejoining_until_lifted",
            removal_bans_rejoining_until_lifted,
        ),
    ]
}
