//! The account, session and chat part of the store contract: users and
//! their search, sessions, direct and group rooms, appends, history, sync and
//! membership. It also holds the helpers the other parts share.
//!
//! Each check is private and named in [`checks`] below: one missing from that
//! list is dead code, which the workspace's `clippy -D warnings` rejects, so
//! a check cannot be written and silently never run.

#![allow(clippy::unwrap_used)]

use crate::Check;
use roomy_core::social_fields::DirectPolicy;
use roomy_core::{
    MessageId, Role, RoomId, SessionId, UserId,
    chat_fields::{ClientId, MemberRole, MessageBody, MessageKind, RoomKind, RoomName},
    user_fields::{AvatarUrl, Nickname, Username},
};
use roomy_store::{
    AppendOutcome, AppendRejection, Conflict, Missing, NewGroup, NewMessage, NewSession, NewUser,
    ProfileChanges, RoomDenial, RoomProfileChanges, Store, StoreError,
};
use time::{Duration, OffsetDateTime};

/// Direct rooms open to anyone: the chat checks predate friendship rules.
pub(crate) const ANYONE: DirectPolicy = DirectPolicy::Anyone;

/// A group size no check reaches unless it means to.
pub(crate) const CAPACITY: i64 = 500;

pub(crate) fn t0() -> OffsetDateTime {
    // Whole milliseconds: both backends store instants at millisecond precision.
    OffsetDateTime::from_unix_timestamp(1_700_000_000).unwrap()
}

pub(crate) fn new_user(name: &str) -> NewUser {
    NewUser {
        username: Username::parse(name).unwrap(),
        nickname: Nickname::parse(&format!("Nick {name}")).unwrap(),
        password_hash: Some(format!("$argon2id$fake${name}")),
        role: Role::User,
    }
}

fn new_session(user: UserId, now: OffsetDateTime) -> NewSession {
    NewSession {
        user_id: user,
        now,
        expires_at: now + Duration::hours(1),
        user_agent: Some("contract/1".into()),
        ip: Some("127.0.0.1".into()),
    }
}

/// A created user reads back the same, by id.
async fn create_and_fetch_user(store: &impl Store) {
    let u = store.create_user(new_user("alice_1"), t0()).await.unwrap();
    assert_eq!(u.username, "alice_1");
    assert_eq!(u.nickname, "Nick alice_1");
    assert_eq!(u.role, Role::User);
    assert!(u.invite_confirm, "friend requests need approval by default");
    assert!(!u.disabled);
    assert_eq!(u.created_at, t0());
    assert_eq!(store.user(u.id).await.unwrap(), Some(u.clone()));
    let guest = NewUser {
        password_hash: None,
        role: Role::Guest,
        ..new_user("guest_abc")
    };
    let g = store.create_user(guest, t0()).await.unwrap();
    assert_eq!(g.role, Role::Guest);
    assert_ne!(g.id, u.id);
}

/// "Alice_1" and "alice_1" cannot both exist.
async fn usernames_are_unique_ignoring_case(store: &impl Store) {
    store.create_user(new_user("alice_1"), t0()).await.unwrap();
    let err = store
        .create_user(new_user("ALICE_1"), t0())
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::Conflict(Conflict::Username)),
        "{err:?}"
    );
}

/// Login finds the account by any casing, with its hash.
async fn credentials_carry_the_hash(store: &impl Store) {
    let u = store.create_user(new_user("bob_123"), t0()).await.unwrap();
    let c = store
        .credentials_by_username("BOB_123")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(c.user, u);
    assert_eq!(c.password_hash.as_deref(), Some("$argon2id$fake$bob_123"));
    assert!(
        store
            .credentials_by_username("nobody_")
            .await
            .unwrap()
            .is_none()
    );
    let by_id = store.credentials(u.id).await.unwrap().unwrap();
    assert_eq!(by_id.user, u);
}

/// Only the fields given change; an avatar can be set and cleared.
async fn profile_changes_are_partial(store: &impl Store) {
    let u = store.create_user(new_user("carol_1"), t0()).await.unwrap();
    let later = t0() + Duration::seconds(5);
    let changed = store
        .update_profile(
            u.id,
            ProfileChanges {
                avatar: Some(Some(AvatarUrl::parse("https://img.example/c.png").unwrap())),
                invite_confirm: Some(false),
                ..Default::default()
            },
            later,
        )
        .await
        .unwrap();
    assert_eq!(changed.nickname, u.nickname);
    assert_eq!(changed.avatar.as_deref(), Some("https://img.example/c.png"));
    assert!(!changed.invite_confirm);
    assert_eq!(changed.updated_at, later);
    let cleared = store
        .update_profile(
            u.id,
            ProfileChanges {
                nickname: Some(Nickname::parse("Caroline").unwrap()),
                avatar: Some(None),
                ..Default::default()
            },
            later,
        )
        .await
        .unwrap();
    assert_eq!(cleared.nickname, "Caroline");
    assert_eq!(cleared.avatar, None);
    assert!(!cleared.invite_confirm);
}

/// Operations on a user that does not exist say so.
async fn missing_users_are_not_found(store: &impl Store) {
    let ghost = UserId(987_654);
    assert!(store.user(ghost).await.unwrap().is_none());
    assert!(matches!(
        store
            .update_profile(ghost, ProfileChanges::default(), t0())
            .await,
        Err(StoreError::NotFound(Missing::User))
    ));
    assert!(matches!(
        store.set_disabled(ghost, true, t0()).await,
        Err(StoreError::NotFound(Missing::User))
    ));
    assert!(matches!(
        store
            .set_password(ghost, "h".into(), SessionId(1), t0())
            .await,
        Err(StoreError::NotFound(Missing::User))
    ));
}

/// Search looks at usernames and nicknames, skips disabled users and pages by id.
async fn search_matches_names_and_pages(store: &impl Store) {
    let mut ids = Vec::new();
    for name in ["zed_one", "zed_two", "zed_three", "other_1"] {
        ids.push(store.create_user(new_user(name), t0()).await.unwrap().id);
    }
    let mut by_nick = new_user("plain_1");
    by_nick.nickname = Nickname::parse("Zedd").unwrap();
    let nick = store.create_user(by_nick, t0()).await.unwrap();
    store.set_disabled(ids[2], true, t0()).await.unwrap();

    let all = store.search_users("ZED", None, 10).await.unwrap();
    let got: Vec<_> = all.iter().map(|u| u.id).collect();
    assert_eq!(got, vec![ids[0], ids[1], nick.id]);

    let first = store.search_users("zed", None, 2).await.unwrap();
    assert_eq!(first.len(), 2);
    let rest = store
        .search_users("zed", Some(first[1].id), 2)
        .await
        .unwrap();
    assert_eq!(rest.iter().map(|u| u.id).collect::<Vec<_>>(), vec![nick.id]);
}

/// `%` and `_` in a query match only themselves.
async fn search_takes_wildcards_literally(store: &impl Store) {
    store
        .create_user(new_user("under_score"), t0())
        .await
        .unwrap();
    store
        .create_user(new_user("underXscore"), t0())
        .await
        .unwrap();
    store
        .create_user(new_user("per%cent1"), t0())
        .await
        .unwrap();
    let hits = store.search_users("r_s", None, 10).await.unwrap();
    assert_eq!(hits.len(), 1);
    assert_eq!(hits[0].username, "under_score");
    assert_eq!(store.search_users("%", None, 10).await.unwrap().len(), 1);
}

/// Sessions are created, found with their user, listed while active and revoked once.
async fn sessions_live_and_die(store: &impl Store) {
    let u = store.create_user(new_user("dave_12"), t0()).await.unwrap();
    let other = store.create_user(new_user("erin_12"), t0()).await.unwrap();
    let s1 = store.create_session(new_session(u.id, t0())).await.unwrap();
    let s2 = store
        .create_session(new_session(u.id, t0() + Duration::seconds(1)))
        .await
        .unwrap();
    assert_ne!(s1.id, s2.id);
    assert_eq!(s1.user_agent.as_deref(), Some("contract/1"));

    let (found, owner) = store.session_with_user(s1.id).await.unwrap().unwrap();
    assert_eq!(found, s1);
    assert_eq!(owner, u);
    assert!(found.is_active(t0()));

    let listed = store.active_sessions(u.id, t0()).await.unwrap();
    assert_eq!(
        listed.iter().map(|s| s.id).collect::<Vec<_>>(),
        vec![s2.id, s1.id]
    );
    assert!(
        store
            .active_sessions(u.id, t0() + Duration::hours(2))
            .await
            .unwrap()
            .is_empty(),
        "expired sessions are not listed"
    );

    assert!(!store.revoke_session(other.id, s1.id, t0()).await.unwrap());
    assert!(store.revoke_session(u.id, s1.id, t0()).await.unwrap());
    assert!(!store.revoke_session(u.id, s1.id, t0()).await.unwrap());
    let (revoked, _) = store.session_with_user(s1.id).await.unwrap().unwrap();
    assert!(!revoked.is_active(t0()));
    assert_eq!(store.active_sessions(u.id, t0()).await.unwrap().len(), 1);
    assert!(
        store
            .session_with_user(SessionId(999_999))
            .await
            .unwrap()
            .is_none()
    );
}

/// A new password ends every other session in the same transaction.
async fn password_change_keeps_only_the_current_session(store: &impl Store) {
    let u = store.create_user(new_user("frank_1"), t0()).await.unwrap();
    let keep = store.create_session(new_session(u.id, t0())).await.unwrap();
    let other = store.create_session(new_session(u.id, t0())).await.unwrap();
    store
        .set_password(u.id, "$argon2id$new".into(), keep.id, t0())
        .await
        .unwrap();
    let active: Vec<_> = store
        .active_sessions(u.id, t0())
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.id)
        .collect();
    assert_eq!(active, vec![keep.id]);
    let (o, _) = store.session_with_user(other.id).await.unwrap().unwrap();
    assert!(o.revoked_at.is_some());
    let c = store.credentials(u.id).await.unwrap().unwrap();
    assert_eq!(c.password_hash.as_deref(), Some("$argon2id$new"));
}

/// Disabling ends all sessions; re-enabling does not bring them back.
async fn disabling_revokes_every_session(store: &impl Store) {
    let u = store.create_user(new_user("grace_1"), t0()).await.unwrap();
    store.create_session(new_session(u.id, t0())).await.unwrap();
    let disabled = store.set_disabled(u.id, true, t0()).await.unwrap();
    assert!(disabled.disabled);
    assert!(store.active_sessions(u.id, t0()).await.unwrap().is_empty());
    let enabled = store.set_disabled(u.id, false, t0()).await.unwrap();
    assert!(!enabled.disabled);
    assert!(store.active_sessions(u.id, t0()).await.unwrap().is_empty());
}

/// Touching records use and, on renewal, moves the expiry.
async fn touching_moves_expiry(store: &impl Store) {
    let u = store.create_user(new_user("heidi_1"), t0()).await.unwrap();
    let s = store.create_session(new_session(u.id, t0())).await.unwrap();
    let later = t0() + Duration::minutes(40);
    store.touch_session(s.id, later, None).await.unwrap();
    let (t, _) = store.session_with_user(s.id).await.unwrap().unwrap();
    assert_eq!(t.last_used_at, later);
    assert_eq!(t.expires_at, s.expires_at);
    let new_expiry = later + Duration::hours(1);
    store
        .touch_session(s.id, later, Some(new_expiry))
        .await
        .unwrap();
    let (r, _) = store.session_with_user(s.id).await.unwrap().unwrap();
    assert_eq!(r.expires_at, new_expiry);
}

pub(crate) async fn users(store: &impl Store, names: &[&str]) -> Vec<UserId> {
    let mut ids = Vec::new();
    for n in names {
        ids.push(store.create_user(new_user(n), t0()).await.unwrap().id);
    }
    ids
}

pub(crate) fn text(room: RoomId, sender: UserId, client_id: &str, body: &str) -> NewMessage {
    NewMessage {
        room_id: room,
        sender_id: sender,
        client_id: Some(ClientId::parse(client_id).unwrap()),
        kind: MessageKind::Text,
        body: Some(MessageBody::parse(body, 100).unwrap()),
        file: None,
    }
}

pub(crate) fn stored(o: &AppendOutcome) -> &roomy_store::Message {
    match o {
        AppendOutcome::Stored { message, .. } => message,
        other => panic!("expected Stored, got {other:?}"),
    }
}

pub(crate) async fn group(store: &impl Store, owner: UserId, members: &[UserId]) -> RoomId {
    store
        .create_group(
            NewGroup {
                owner,
                name: RoomName::parse("Team").unwrap(),
                members: members.to_vec(),
                notice: "created the group".into(),
                policy: ANYONE,
            },
            t0(),
        )
        .await
        .unwrap()
        .room
        .id
}

/// One direct room per pair, whichever side opens it.
async fn direct_rooms_are_one_per_pair(store: &impl Store) {
    let u = users(store, &["amy_0001", "ben_0001", "cat_0001"]).await;
    let (r1, created) = store
        .find_or_create_direct(u[0], u[1], ANYONE, t0())
        .await
        .unwrap();
    assert!(created);
    assert_eq!(r1.kind, RoomKind::Direct);
    assert_eq!(r1.member_count, 2);
    let (r2, created) = store
        .find_or_create_direct(u[1], u[0], ANYONE, t0())
        .await
        .unwrap();
    assert!(!created);
    assert_eq!(r1.id, r2.id);
    let (r3, _) = store
        .find_or_create_direct(u[0], u[2], ANYONE, t0())
        .await
        .unwrap();
    assert_ne!(r3.id, r1.id);
    assert_eq!(
        store.member_role(r1.id, u[1]).await.unwrap(),
        Some(MemberRole::Member)
    );
    assert_eq!(store.member_role(r1.id, u[2]).await.unwrap(), None);
}

/// Simultaneous first contacts end up in the same room.
async fn concurrent_first_contacts_share_one_room(store: &impl Store) {
    let u = users(store, &["dan_0001", "eve_0001"]).await;
    let (a, b, c, d) = tokio::join!(
        store.find_or_create_direct(u[0], u[1], ANYONE, t0()),
        store.find_or_create_direct(u[1], u[0], ANYONE, t0()),
        store.find_or_create_direct(u[0], u[1], ANYONE, t0()),
        store.find_or_create_direct(u[1], u[0], ANYONE, t0()),
    );
    let ids: Vec<_> = [a, b, c, d].into_iter().map(|r| r.unwrap().0.id).collect();
    assert!(ids.iter().all(|id| *id == ids[0]), "{ids:?}");
}

/// A group has its owner, its members and a first system notice.
async fn groups_start_with_members_and_a_notice(store: &impl Store) {
    let u = users(store, &["fay_0001", "gus_0001", "hal_0001"]).await;
    let change = store
        .create_group(
            NewGroup {
                owner: u[0],
                name: RoomName::parse("Book club").unwrap(),
                members: vec![u[1], u[2]],
                notice: "fay created the group".into(),
                policy: ANYONE,
            },
            t0(),
        )
        .await
        .unwrap();
    assert_eq!(change.room.kind, RoomKind::Group);
    assert_eq!(change.room.name.as_deref(), Some("Book club"));
    assert_eq!(change.room.member_count, 3);
    assert_eq!(change.room.last_seq, 1);
    let notice = change.notice.unwrap();
    assert_eq!((notice.seq, notice.kind), (1, MessageKind::System));
    assert_eq!(notice.body.as_deref(), Some("fay created the group"));
    let mut r = change.recipients.clone();
    r.sort();
    assert_eq!(r, u);
    assert_eq!(
        store.member_role(change.room.id, u[0]).await.unwrap(),
        Some(MemberRole::Owner)
    );
    let members = store.members(change.room.id, None, 10).await.unwrap();
    assert_eq!(members.len(), 3);
    assert_eq!(members[0].user.nickname, "Nick fay_0001");
    let page = store
        .members(change.room.id, Some(members[0].user.id), 1)
        .await
        .unwrap();
    assert_eq!(page[0].user.id, members[1].user.id);
}

/// Seqs run 1, 2, 3... per room in batch order; positions grow across rooms.
async fn appends_number_each_room_without_gaps(store: &impl Store) {
    let u = users(store, &["ida_0001", "jon_0001", "kim_0001"]).await;
    let (ab, _) = store
        .find_or_create_direct(u[0], u[1], ANYONE, t0())
        .await
        .unwrap();
    let (ac, _) = store
        .find_or_create_direct(u[0], u[2], ANYONE, t0())
        .await
        .unwrap();
    let before = store.stream_position().await.unwrap();
    let out = store
        .append_messages(
            &[
                text(ab.id, u[0], "c1", "one"),
                text(ac.id, u[0], "c2", "uno"),
                text(ab.id, u[1], "c1", "two"),
                text(ab.id, u[0], "c3", "three"),
            ],
            ANYONE,
            t0(),
        )
        .await
        .unwrap();
    let seqs: Vec<_> = out
        .iter()
        .map(|o| (stored(o).room_id, stored(o).seq))
        .collect();
    assert_eq!(seqs, vec![(ab.id, 1), (ac.id, 1), (ab.id, 2), (ab.id, 3)]);
    let ids: Vec<_> = out.iter().map(|o| stored(o).id.0).collect();
    assert!(
        ids.windows(2).all(|w| w[0] < w[1]) && ids[0] > before.0,
        "{ids:?}"
    );
    assert_eq!(store.stream_position().await.unwrap(), MessageId(ids[3]));
    let first = stored(&out[0]);
    assert_eq!(first.sender.id, u[0]);
    assert_eq!(first.sender.nickname, "Nick ida_0001");
    assert_eq!(first.body.as_deref(), Some("one"));
    assert_eq!(first.created_at, t0());
    match &out[0] {
        AppendOutcome::Stored { recipients, .. } => {
            let mut r = recipients.clone();
            r.sort();
            assert_eq!(r, vec![u[0], u[1]]);
        }
        _ => unreachable!(),
    }
    let more = store
        .append_messages(&[text(ab.id, u[1], "c9", "four")], ANYONE, t0())
        .await
        .unwrap();
    assert_eq!(stored(&more[0]).seq, 4);
    assert_eq!(store.room(ab.id).await.unwrap().unwrap().last_seq, 4);
}

/// A retried client id stores nothing and returns the first message.
async fn repeated_client_ids_return_the_original(store: &impl Store) {
    let u = users(store, &["lea_0001", "max_0001"]).await;
    let (room, _) = store
        .find_or_create_direct(u[0], u[1], ANYONE, t0())
        .await
        .unwrap();
    let first = store
        .append_messages(
            &[
                text(room.id, u[0], "same", "hello"),
                text(room.id, u[0], "same", "again"),
            ],
            ANYONE,
            t0(),
        )
        .await
        .unwrap();
    let original = stored(&first[0]).clone();
    assert_eq!(first[1], AppendOutcome::Duplicate(original.clone()));
    let later = store
        .append_messages(&[text(room.id, u[0], "same", "third try")], ANYONE, t0())
        .await
        .unwrap();
    assert_eq!(later[0], AppendOutcome::Duplicate(original.clone()));
    // Another sender may use the same client id.
    let other = store
        .append_messages(&[text(room.id, u[1], "same", "mine")], ANYONE, t0())
        .await
        .unwrap();
    assert_eq!(stored(&other[0]).seq, 2);
    assert_eq!(
        store
            .history(room.id, u[0], None, None, 10)
            .await
            .unwrap()
            .len(),
        2
    );
}

/// Strangers and missing rooms are refused one by one; the rest of the batch stands.
async fn only_members_append(store: &impl Store) {
    let u = users(store, &["ned_0001", "ola_0001", "pam_0001"]).await;
    let (room, _) = store
        .find_or_create_direct(u[0], u[1], ANYONE, t0())
        .await
        .unwrap();
    let out = store
        .append_messages(
            &[
                text(room.id, u[2], "x1", "let me in"),
                text(RoomId(999_999), u[0], "x2", "nowhere"),
                text(room.id, u[0], "x3", "hi"),
            ],
            ANYONE,
            t0(),
        )
        .await
        .unwrap();
    assert_eq!(out[0], AppendOutcome::Rejected(AppendRejection::NotAMember));
    assert_eq!(
        out[1],
        AppendOutcome::Rejected(AppendRejection::RoomNotFound)
    );
    assert_eq!(stored(&out[2]).seq, 1);
}

/// History: newest page first request, then older; or forward from a seq.
async fn history_pages_both_ways(store: &impl Store) {
    let u = users(store, &["quy_0001", "ray_0001"]).await;
    let (room, _) = store
        .find_or_create_direct(u[0], u[1], ANYONE, t0())
        .await
        .unwrap();
    let batch = (1..=7)
        .map(|i| text(room.id, u[0], &format!("h{i}"), &format!("m{i}")))
        .collect::<Vec<_>>();
    store.append_messages(&batch, ANYONE, t0()).await.unwrap();
    let seqs = |v: Vec<roomy_store::Message>| v.into_iter().map(|m| m.seq).collect::<Vec<_>>();
    assert_eq!(
        seqs(store.history(room.id, u[0], None, None, 3).await.unwrap()),
        vec![5, 6, 7]
    );
    assert_eq!(
        seqs(
            store
                .history(room.id, u[0], Some(5), None, 3)
                .await
                .unwrap()
        ),
        vec![2, 3, 4]
    );
    assert_eq!(
        seqs(
            store
                .history(room.id, u[0], Some(2), None, 3)
                .await
                .unwrap()
        ),
        vec![1]
    );
    assert_eq!(
        seqs(
            store
                .history(room.id, u[0], None, Some(4), 2)
                .await
                .unwrap()
        ),
        vec![5, 6]
    );
    assert!(
        store
            .history(room.id, u[0], None, Some(7), 2)
            .await
            .unwrap()
            .is_empty()
    );
}

/// Sync: per room, the newest messages after a position, with `limited` when cut.
async fn sync_returns_what_was_missed(store: &impl Store) {
    let u = users(store, &["sal_0001", "tom_0001", "uma_0001"]).await;
    let (ab, _) = store
        .find_or_create_direct(u[0], u[1], ANYONE, t0())
        .await
        .unwrap();
    let (bc, _) = store
        .find_or_create_direct(u[1], u[2], ANYONE, t0())
        .await
        .unwrap();
    store
        .append_messages(&[text(ab.id, u[0], "s1", "old")], ANYONE, t0())
        .await
        .unwrap();
    let since = store.stream_position().await.unwrap();
    let batch = vec![
        text(ab.id, u[0], "s2", "a"),
        text(bc.id, u[2], "s3", "b"),
        text(ab.id, u[1], "s4", "c"),
        text(ab.id, u[0], "s5", "d"),
    ];
    store.append_messages(&batch, ANYONE, t0()).await.unwrap();

    let sync = store.sync(u[1], since, None, 10).await.unwrap();
    assert_eq!(sync.next, store.stream_position().await.unwrap());
    let mut rooms = sync.rooms.clone();
    rooms.sort_by_key(|r| r.room_id);
    assert_eq!(rooms.len(), 2);
    let ab_sync = rooms.iter().find(|r| r.room_id == ab.id).unwrap();
    assert_eq!(
        ab_sync.messages.iter().map(|m| m.seq).collect::<Vec<_>>(),
        vec![2, 3, 4]
    );
    assert!(!ab_sync.limited);

    let cut = store.sync(u[1], since, None, 2).await.unwrap();
    let ab_cut = cut.rooms.iter().find(|r| r.room_id == ab.id).unwrap();
    assert_eq!(
        ab_cut.messages.iter().map(|m| m.seq).collect::<Vec<_>>(),
        vec![3, 4]
    );
    assert!(ab_cut.limited);

    // u[0] is not in bc.
    let other = store.sync(u[0], since, None, 10).await.unwrap();
    assert!(other.rooms.iter().all(|r| r.room_id == ab.id));

    // An upper bound stops at a position.
    let upto = MessageId(since.0 + 2);
    let bounded = store.sync(u[1], since, Some(upto), 10).await.unwrap();
    assert_eq!(bounded.next, upto);
    let n: usize = bounded.rooms.iter().map(|r| r.messages.len()).sum();
    assert_eq!(n, 2);

    let nothing = store.sync(u[1], sync.next, None, 10).await.unwrap();
    assert!(nothing.rooms.is_empty());
}

/// Replay: every live event a range of positions held, for every user, in
/// position order, messages with their rooms' members.
async fn replay_reads_a_range_of_positions(store: &impl Store) {
    let u = users(store, &["rex_0001", "ria_0001", "rob_0001"]).await;
    let (ab, _) = store
        .find_or_create_direct(u[0], u[1], ANYONE, t0())
        .await
        .unwrap();
    let (bc, _) = store
        .find_or_create_direct(u[1], u[2], ANYONE, t0())
        .await
        .unwrap();
    let since = store.stream_position().await.unwrap();
    let batch = vec![
        text(ab.id, u[0], "r1", "a"),
        text(bc.id, u[2], "r2", "b"),
        text(ab.id, u[1], "r3", "c"),
    ];
    store.append_messages(&batch, ANYONE, t0()).await.unwrap();
    let read = store.mark_read(ab.id, u[1], 2, t0()).await.unwrap();
    assert!(!read.events.is_empty(), "the read position moved");
    let top = store.stream_position().await.unwrap();

    let all = store.replay(since, top).await.unwrap();
    assert_eq!(
        all.messages
            .iter()
            .map(|(m, _)| m.body.as_deref().unwrap())
            .collect::<Vec<_>>(),
        vec!["a", "b", "c"]
    );
    let ids: Vec<i64> = all.messages.iter().map(|(m, _)| m.id.0).collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "in position order");
    let (first, to) = &all.messages[0];
    assert_eq!(first.room_id, ab.id);
    assert_eq!(to, &vec![u[0], u[1]], "the room's members");
    assert_eq!(all.messages[1].1, vec![u[1], u[2]]);
    assert_eq!(
        all.notices.iter().map(|n| n.id).collect::<Vec<_>>(),
        read.events.iter().map(|n| n.id).collect::<Vec<_>>(),
        "every user's events in the range"
    );
    assert!(all.notices.iter().all(|n| n.id.0 > ids[2] && n.id <= top));

    // The bounds are exclusive below and inclusive above.
    let middle = store
        .replay(MessageId(ids[0]), MessageId(ids[1]))
        .await
        .unwrap();
    assert_eq!(middle.messages.len(), 1);
    assert_eq!(middle.messages[0].0.id.0, ids[1]);
    assert!(middle.notices.is_empty());
    let nothing = store.replay(top, top).await.unwrap();
    assert!(nothing.messages.is_empty() && nothing.notices.is_empty());
}

/// Adding and removing members changes who a message reaches, and says so.
async fn membership_changes_reach_the_right_people(store: &impl Store) {
    let u = users(store, &["vic_0001", "wes_0001", "xia_0001"]).await;
    let room = group(store, u[0], &[u[1]]).await;
    let added = store
        .add_members(
            room,
            u[0],
            &[u[2], u[1]],
            ANYONE,
            "vic added xia".into(),
            CAPACITY,
            t0(),
        )
        .await
        .unwrap();
    assert_eq!(added.members.len(), 1, "existing members are skipped");
    assert_eq!(added.members[0].user.id, u[2]);
    assert_eq!(added.room.member_count, 3);
    assert_eq!(added.notice.as_ref().unwrap().seq, 2);
    assert_eq!(added.recipients.len(), 3);

    let removed = store
        .remove_member(room, u[0], u[1], "vic removed wes".into(), t0())
        .await
        .unwrap();
    assert!(
        removed.recipients.contains(&u[1]),
        "the removed member hears of it"
    );
    assert_eq!(removed.room.member_count, 2);
    assert_eq!(store.member_role(room, u[1]).await.unwrap(), None);
    let out = store
        .append_messages(&[text(room, u[0], "after", "hello")], ANYONE, t0())
        .await
        .unwrap();
    match &out[0] {
        AppendOutcome::Stored { recipients, .. } => assert!(!recipients.contains(&u[1])),
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        store
            .remove_member(room, u[0], u[1], "again".into(), t0())
            .await,
        Err(StoreError::RoomDenied(RoomDenial::MemberNotFound))
    ));
    let nobody = store
        .add_members(room, u[0], &[u[2]], ANYONE, "noop".into(), CAPACITY, t0())
        .await
        .unwrap();
    assert!(nobody.notice.is_none() && nobody.members.is_empty());
}

/// My rooms, most recently active first, with the last message and the direct peer.
async fn rooms_list_by_activity_with_summaries(store: &impl Store) {
    let u = users(store, &["yan_0001", "zoe_0001", "abe_0001"]).await;
    let (d1, _) = store
        .find_or_create_direct(u[0], u[1], ANYONE, t0())
        .await
        .unwrap();
    let g = group(store, u[0], &[u[2]]).await;
    let (d2, _) = store
        .find_or_create_direct(u[0], u[2], ANYONE, t0())
        .await
        .unwrap();
    store
        .append_messages(&[text(d1.id, u[1], "r1", "latest")], ANYONE, t0())
        .await
        .unwrap();
    let page = store.rooms_of(u[0], None, 10).await.unwrap();
    let ids: Vec<_> = page.iter().map(|(_, s)| s.room.id).collect();
    assert_eq!(ids, vec![d1.id, g, d2.id]);
    let d1s = &page[0].1;
    assert_eq!(d1s.peer.as_ref().unwrap().id, u[1]);
    assert_eq!(
        d1s.last_message.as_ref().unwrap().body.as_deref(),
        Some("latest")
    );
    assert_eq!(d1s.my_role, MemberRole::Member);
    assert!(page[1].1.peer.is_none());
    assert_eq!(page[1].1.my_role, MemberRole::Owner);
    assert!(page[2].1.last_message.is_none());

    let first = store.rooms_of(u[0], None, 1).await.unwrap();
    let cursor = (first[0].0, first[0].1.room.id);
    let rest = store.rooms_of(u[0], Some(cursor), 10).await.unwrap();
    assert_eq!(
        rest.iter().map(|(_, s)| s.room.id).collect::<Vec<_>>(),
        vec![g, d2.id]
    );

    let s = store.room_summary(g, u[2]).await.unwrap().unwrap();
    assert_eq!(s.room.id, g);
    assert!(store.room_summary(g, u[1]).await.unwrap().is_none());
}

/// Roles and the group profile change, with a notice for the profile.
async fn roles_and_profiles_change(store: &impl Store) {
    let u = users(store, &["bea_0001", "cal_0001"]).await;
    let room = group(store, u[0], &[u[1]]).await;
    let c = store
        .set_member_role(room, u[0], u[1], MemberRole::Admin, t0())
        .await
        .unwrap();
    assert_eq!(c.members[0].role, MemberRole::Admin);
    assert_eq!(
        store.member_role(room, u[1]).await.unwrap(),
        Some(MemberRole::Admin)
    );
    assert!(matches!(
        store
            .set_member_role(room, u[0], UserId(777_777), MemberRole::Admin, t0())
            .await,
        Err(StoreError::RoomDenied(RoomDenial::MemberNotFound))
    ));
    let c = store
        .update_room(
            room,
            u[1],
            RoomProfileChanges {
                name: Some(RoomName::parse("Renamed").unwrap()),
                avatar: Some(Some("https://img.example/g.png".into())),
            },
            "cal renamed the group".into(),
            t0(),
        )
        .await
        .unwrap();
    assert_eq!(c.room.name.as_deref(), Some("Renamed"));
    assert_eq!(c.room.avatar.as_deref(), Some("https://img.example/g.png"));
    assert_eq!(c.notice.unwrap().sender.id, u[1]);
    let enabled = store
        .enabled_users(&[u[0], u[1], UserId(5_555_555)])
        .await
        .unwrap();
    assert_eq!(enabled.len(), 2);
}

/// Who shares a room with a user: direct and group rooms alike, each user
/// once, the user itself never, and a member who left no longer.
async fn co_members_are_everyone_sharing_a_room(store: &impl Store) {
    let u = users(
        store,
        &["ivy_0001", "jon_0001", "kim_0001", "lee_0001", "max_0001"],
    )
    .await;
    let room = group(store, u[0], &[u[1], u[2]]).await;
    store
        .find_or_create_direct(u[0], u[1], ANYONE, t0())
        .await
        .unwrap();
    store
        .find_or_create_direct(u[2], u[3], ANYONE, t0())
        .await
        .unwrap();
    assert_eq!(store.co_members(u[0]).await.unwrap(), vec![u[1], u[2]]);
    assert_eq!(
        store.co_members(u[2]).await.unwrap(),
        vec![u[0], u[1], u[3]]
    );
    assert_eq!(store.co_members(u[3]).await.unwrap(), vec![u[2]]);
    assert!(store.co_members(u[4]).await.unwrap().is_empty());
    assert!(
        store
            .co_members(UserId(9_999_999))
            .await
            .unwrap()
            .is_empty()
    );
    store
        .remove_member(room, u[0], u[2], "ivy removed kim".into(), t0())
        .await
        .unwrap();
    assert_eq!(store.co_members(u[0]).await.unwrap(), vec![u[1]]);
    assert_eq!(store.co_members(u[2]).await.unwrap(), vec![u[3]]);
}

/// Every check of this module, each to run against a fresh store.
pub(crate) fn checks<S: Store>() -> Vec<Check<S>> {
    vec![
        Check::new("create_and_fetch_user", create_and_fetch_user),
        Check::new(
            "usernames_are_unique_ignoring_case",
            usernames_are_unique_ignoring_case,
        ),
        Check::new("credentials_carry_the_hash", credentials_carry_the_hash),
        Check::new("profile_changes_are_partial", profile_changes_are_partial),
        Check::new("missing_users_are_not_found", missing_users_are_not_found),
        Check::new(
            "search_matches_names_and_pages",
            search_matches_names_and_pages,
        ),
        Check::new(
            "search_takes_wildcards_literally",
            search_takes_wildcards_literally,
        ),
        Check::new("sessions_live_and_die", sessions_live_and_die),
        Check::new(
            "password_change_keeps_only_the_current_session",
            password_change_keeps_only_the_current_session,
        ),
        Check::new(
            "disabling_revokes_every_session",
            disabling_revokes_every_session,
        ),
        Check::new("touching_moves_expiry", touching_moves_expiry),
        Check::new(
            "direct_rooms_are_one_per_pair",
            direct_rooms_are_one_per_pair,
        ),
        Check::new(
            "concurrent_first_contacts_share_one_room",
            concurrent_first_contacts_share_one_room,
        ),
        Check::new(
            "groups_start_with_members_and_a_notice",
            groups_start_with_members_and_a_notice,
        ),
        Check::new(
            "replay_reads_a_range_of_positions",
            replay_reads_a_range_of_positions,
        ),
        Check::new(
            "appends_number_each_room_without_gaps",
            appends_number_each_room_without_gaps,
        ),
        Check::new(
            "repeated_client_ids_return_the_original",
            repeated_client_ids_return_the_original,
        ),
        Check::new("only_members_append", only_members_append),
        Check::new("history_pages_both_ways", history_pages_both_ways),
        Check::new("sync_returns_what_was_missed", sync_returns_what_was_missed),
        Check::new(
            "membership_changes_reach_the_right_people",
            membership_changes_reach_the_right_people,
        ),
        Check::new(
            "rooms_list_by_activity_with_summaries",
            rooms_list_by_activity_with_summaries,
        ),
        Check::new("roles_and_profiles_change", roles_and_profiles_change),
        Check::new(
            "co_members_are_everyone_sharing_a_room",
            co_members_are_everyone_sharing_a_room,
        ),
    ]
}
