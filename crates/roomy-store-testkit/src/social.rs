//! The social half of the store contract (see [`crate::chat`] for the rest).
//!
//! Each check is private and named in [`checks`] below: one missing from that
//! list is dead code, which the workspace's `clippy -D warnings` rejects, so
//! a check cannot be written and silently never run.

#![allow(clippy::unwrap_used)]

use crate::Check;
use crate::chat::{ANYONE, CAPACITY, group, new_user, stored, t0, text, users};
use roomy_core::{
    MessageId, Role, UserId,
    chat_fields::{MessageKind, RoomKind, RoomName},
    clock::to_millis,
    social_fields::{DirectPolicy, FriendNote, Remark, RequestStatus},
};
use roomy_store::{
    AppendOutcome, AppendRejection, Decision, Direction, GraphEdit, Missing, NewFriendRequest,
    NewGroup, NewUser, NoticeKind, ProfileChanges, Refusal, Store, StoreError,
};
use time::Duration;

const FRIENDS: DirectPolicy = DirectPolicy::Friends;

fn request(from: UserId, to: UserId, note: &str) -> NewFriendRequest {
    NewFriendRequest {
        from,
        to,
        note: FriendNote::parse(note).unwrap(),
        remark: None,
    }
}

fn refusal<T: std::fmt::Debug>(r: Result<T, StoreError>) -> Refusal {
    match r {
        Err(StoreError::Refused(why)) => why,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

async fn agree(store: &impl Store, from: UserId, to: UserId) {
    let sent = store
        .send_friend_request(request(from, to, ""), "friends now".into(), t0())
        .await
        .unwrap();
    store
        .answer_friend_request(
            sent.request.id,
            to,
            Decision::Agree,
            None,
            "friends now".into(),
            t0(),
        )
        .await
        .unwrap();
}

/// Following twice changes nothing; each change bumps both users' versions
/// and says so; missing or disabled targets are not found.
async fn follows_are_idempotent_and_versioned(store: &impl Store) {
    let u = users(store, &["fol_a_user", "fol_b_user", "fol_c_user"]).await;
    let ms = to_millis(t0());
    let d = store.follow(u[0], u[1], t0()).await.unwrap();
    assert_eq!(d.len(), 2);
    assert_eq!((d[0].user, d[0].from, d[0].to), (u[0], 0, 1));
    assert_eq!(d[0].edits, vec![GraphEdit::AddFollowing(u[1], ms)]);
    assert_eq!(d[1].edits, vec![GraphEdit::AddFollower(u[0], ms)]);
    assert!(store.follow(u[0], u[1], t0()).await.unwrap().is_empty());
    assert_eq!(store.graph_version(u[1]).await.unwrap(), Some(1));
    store.follow(u[1], u[0], t0()).await.unwrap();
    let snap = store.graph_snapshot(u[0]).await.unwrap().unwrap();
    assert_eq!(snap.version, 2);
    assert_eq!(snap.following, vec![(u[1], ms)]);
    assert_eq!(snap.followers, vec![(u[1], ms)]);
    let d = store.unfollow(u[0], u[1], t0()).await.unwrap();
    assert_eq!(d[0].edits, vec![GraphEdit::RemoveFollowing(u[1])]);
    assert!(store.unfollow(u[0], u[1], t0()).await.unwrap().is_empty());
    assert!(matches!(
        store.follow(u[0], UserId(999_999), t0()).await,
        Err(StoreError::NotFound(Missing::User))
    ));
    store.set_disabled(u[2], true, t0()).await.unwrap();
    assert!(matches!(
        store.follow(u[0], u[2], t0()).await,
        Err(StoreError::NotFound(Missing::User))
    ));
    assert_eq!(store.graph_snapshot(UserId(999_999)).await.unwrap(), None);
    let id = store.instance_id().await.unwrap();
    assert_eq!(id.len(), 24);
    assert_eq!(store.instance_id().await.unwrap(), id);
}

/// Following and follower lists come newest follow first, with a cursor.
async fn follow_lists_page_newest_first(store: &impl Store) {
    let u = users(
        store,
        &["pg_star_user", "pg_f1_user", "pg_f2_user", "pg_f3_user"],
    )
    .await;
    for (i, f) in u[1..].iter().enumerate() {
        store
            .follow(*f, u[0], t0() + Duration::seconds(i as i64))
            .await
            .unwrap();
    }
    // Same instant for two: the higher id comes first.
    store.follow(u[0], u[1], t0()).await.unwrap();
    store.follow(u[0], u[2], t0()).await.unwrap();
    let page = store.followers(u[0], None, 2).await.unwrap();
    let ids: Vec<_> = page.iter().map(|r| r.user.id).collect();
    assert_eq!(ids, vec![u[3], u[2]]);
    assert_eq!(page[0].at, t0() + Duration::seconds(2));
    let last = &page[1];
    let rest = store
        .followers(u[0], Some((to_millis(last.at), last.user.id)), 2)
        .await
        .unwrap();
    assert_eq!(
        rest.iter().map(|r| r.user.id).collect::<Vec<_>>(),
        vec![u[1]]
    );
    let following = store.following(u[0], None, 10).await.unwrap();
    assert_eq!(
        following.iter().map(|r| r.user.id).collect::<Vec<_>>(),
        vec![u[2], u[1]]
    );
    let after = store
        .following(u[0], Some((to_millis(t0()), u[2])), 10)
        .await
        .unwrap();
    assert_eq!(after.len(), 1);
}

/// A block ends follows both ways, stops follows and direct messages across
/// it, leaves groups alone, and lifts cleanly.
async fn blocks_cut_follows_and_close_direct_rooms(store: &impl Store) {
    let u = users(store, &["blk_a_user", "blk_b_user", "blk_c_user"]).await;
    store.follow(u[0], u[1], t0()).await.unwrap();
    store.follow(u[1], u[0], t0()).await.unwrap();
    let (room, _) = store
        .find_or_create_direct(u[0], u[1], ANYONE, t0())
        .await
        .unwrap();
    let g = group(store, u[0], &[u[1]]).await;
    let d = store.block(u[0], u[1], t0()).await.unwrap();
    assert_eq!(d.len(), 2);
    assert_eq!(
        d[0].edits,
        vec![
            GraphEdit::RemoveFollowing(u[1]),
            GraphEdit::RemoveFollower(u[1])
        ]
    );
    let snap = store.graph_snapshot(u[1]).await.unwrap().unwrap();
    assert!(snap.following.is_empty() && snap.followers.is_empty());
    assert!(store.block(u[0], u[1], t0()).await.unwrap().is_empty());
    assert_eq!(
        refusal(store.follow(u[1], u[0], t0()).await),
        Refusal::Blocked
    );
    assert_eq!(
        refusal(store.follow(u[0], u[1], t0()).await),
        Refusal::YouBlocked
    );
    assert_eq!(
        refusal(store.find_or_create_direct(u[1], u[0], ANYONE, t0()).await),
        Refusal::Blocked
    );
    assert_eq!(
        refusal(
            store
                .send_friend_request(request(u[1], u[0], "hi"), "n".into(), t0())
                .await
        ),
        Refusal::Blocked
    );
    let out = store
        .append_messages(
            &[
                text(room.id, u[1], "b1", "let me in"),
                text(g, u[1], "g1", "group ok"),
            ],
            ANYONE,
            t0(),
        )
        .await
        .unwrap();
    assert_eq!(out[0], AppendOutcome::Rejected(AppendRejection::Blocked));
    assert_eq!(stored(&out[1]).room_id, g);
    let facts = store.pair_facts(u[1], u[0]).await.unwrap();
    assert!(facts.blocked_by && !facts.blocked && !facts.friend);
    let blocks = store.blocks(u[0], None, 10).await.unwrap();
    assert_eq!(
        blocks.iter().map(|r| r.user.id).collect::<Vec<_>>(),
        vec![u[1]]
    );
    store.unblock(u[0], u[1], t0()).await.unwrap();
    assert!(store.blocks(u[0], None, 10).await.unwrap().is_empty());
    store.follow(u[1], u[0], t0()).await.unwrap();
    let out = store
        .append_messages(&[text(room.id, u[1], "b2", "thanks")], ANYONE, t0())
        .await
        .unwrap();
    stored(&out[0]);
    assert!(matches!(
        store.block(u[0], UserId(999_999), t0()).await,
        Err(StoreError::NotFound(Missing::User))
    ));
}

/// Requests are refused when one is open either way; only the target
/// answers, once; refused requests may be sent again.
async fn friend_requests_are_answered_once(store: &impl Store) {
    let u = users(store, &["req_a_user", "req_b_user", "req_c_user"]).await;
    let sent = store
        .send_friend_request(request(u[0], u[1], "hello there"), "n".into(), t0())
        .await
        .unwrap();
    assert_eq!(sent.request.status, RequestStatus::Pending);
    assert_eq!(sent.request.note.as_deref(), Some("hello there"));
    assert_eq!(sent.request.from.id, u[0]);
    assert_eq!(sent.notices.len(), 1);
    assert_eq!(sent.notices[0].user, u[1]);
    assert!(sent.room.is_none() && sent.message.is_none());
    assert_eq!(
        refusal(
            store
                .send_friend_request(request(u[0], u[1], ""), "n".into(), t0())
                .await
        ),
        Refusal::RequestPending
    );
    assert_eq!(
        refusal(
            store
                .send_friend_request(request(u[1], u[0], ""), "n".into(), t0())
                .await
        ),
        Refusal::IncomingRequestPending
    );
    let id = sent.request.id;
    assert_eq!(
        refusal(
            store
                .answer_friend_request(id, u[0], Decision::Agree, None, "n".into(), t0())
                .await
        ),
        Refusal::NotRequestTarget
    );
    assert!(matches!(
        store
            .answer_friend_request(id, u[2], Decision::Agree, None, "n".into(), t0())
            .await,
        Err(StoreError::NotFound(Missing::FriendRequest))
    ));
    let refused = store
        .answer_friend_request(id, u[1], Decision::Refuse, None, "n".into(), t0())
        .await
        .unwrap();
    assert_eq!(refused.request.status, RequestStatus::Refuse);
    assert!(refused.notices.is_empty());
    assert_eq!(
        refusal(
            store
                .answer_friend_request(id, u[1], Decision::Agree, None, "n".into(), t0())
                .await
        ),
        Refusal::AlreadyAnswered
    );
    let again = store
        .send_friend_request(request(u[0], u[1], "please"), "n".into(), t0())
        .await
        .unwrap();
    let incoming = store
        .friend_requests(u[1], Direction::Incoming, None, None, 10)
        .await
        .unwrap();
    assert_eq!(
        incoming.iter().map(|r| r.id).collect::<Vec<_>>(),
        vec![again.request.id, id]
    );
    let pending = store
        .friend_requests(
            u[1],
            Direction::Incoming,
            Some(RequestStatus::Pending),
            None,
            10,
        )
        .await
        .unwrap();
    assert_eq!(pending.len(), 1);
    let older = store
        .friend_requests(u[1], Direction::Incoming, None, Some(again.request.id), 10)
        .await
        .unwrap();
    assert_eq!(older.len(), 1);
    assert!(
        store
            .friend_requests(u[1], Direction::Outgoing, None, None, 10)
            .await
            .unwrap()
            .is_empty()
    );
    store.set_disabled(u[2], true, t0()).await.unwrap();
    assert_eq!(
        refusal(
            store
                .send_friend_request(request(u[0], u[2], ""), "n".into(), t0())
                .await
        ),
        Refusal::UserDisabled
    );
    assert!(matches!(
        store
            .send_friend_request(request(u[0], UserId(999_999), ""), "n".into(), t0())
            .await,
        Err(StoreError::NotFound(Missing::User))
    ));
    // Blocking ignores the blocked user's pending request.
    store.block(u[1], u[0], t0()).await.unwrap();
    let r = store
        .friend_request(again.request.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(r.status, RequestStatus::Ignore);
    // And the blocker's own, so the blocked user cannot agree their way back in.
    store.unblock(u[1], u[0], t0()).await.unwrap();
    let mine = store
        .send_friend_request(request(u[1], u[0], "sorry"), "n".into(), t0())
        .await
        .unwrap();
    store.block(u[1], u[0], t0()).await.unwrap();
    let r = store
        .friend_request(mine.request.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(r.status, RequestStatus::Ignore);
    assert_eq!(
        refusal(
            store
                .answer_friend_request(
                    mine.request.id,
                    u[0],
                    Decision::Agree,
                    None,
                    "n".into(),
                    t0()
                )
                .await
        ),
        Refusal::AlreadyAnswered
    );
    assert!(!store.pair_facts(u[0], u[1]).await.unwrap().friend);
}

/// Agreeing writes both friendship rows, the direct room with its system
/// message, and a notice to each side, all at positions sync returns.
async fn agreeing_opens_the_direct_room_with_notices(store: &impl Store) {
    let u = users(store, &["agr_a_user", "agr_b_user"]).await;
    let before = store.stream_position().await.unwrap();
    let sent = store
        .send_friend_request(
            NewFriendRequest {
                remark: Remark::parse("Bee").unwrap(),
                ..request(u[0], u[1], "hi")
            },
            "n".into(),
            t0(),
        )
        .await
        .unwrap();
    let done = store
        .answer_friend_request(
            sent.request.id,
            u[1],
            Decision::Agree,
            Remark::parse("Ay").unwrap(),
            "You are friends now".into(),
            t0() + Duration::seconds(5),
        )
        .await
        .unwrap();
    assert_eq!(done.request.status, RequestStatus::Agree);
    let (room, created) = done.room.clone().unwrap();
    assert!(created);
    assert_eq!(room.kind, RoomKind::Direct);
    let message = done.message.clone().unwrap();
    assert_eq!(message.kind, MessageKind::System);
    assert_eq!(message.body.as_deref(), Some("You are friends now"));
    assert_eq!(done.notices.len(), 2);
    assert!(done.notices.iter().all(|n| matches!(
        &n.kind,
        NoticeKind::FriendAccepted { room: r, .. } if *r == room.id
    )));
    assert!(done.notices[0].id > message.id);
    let a_friends = store.friends(u[0], None, 10).await.unwrap();
    assert_eq!(a_friends[0].user.id, u[1]);
    assert_eq!(a_friends[0].remark.as_deref(), Some("Bee"));
    assert_eq!(a_friends[0].since, t0() + Duration::seconds(5));
    let b_friends = store.friends(u[1], None, 10).await.unwrap();
    assert_eq!(b_friends[0].remark.as_deref(), Some("Ay"));
    assert!(store.pair_facts(u[0], u[1]).await.unwrap().friend);
    // B was offline: its sync from before the request has both notices.
    let sync = store.sync(u[1], before, None, 50).await.unwrap();
    let kinds: Vec<_> = sync
        .notices
        .iter()
        .map(|n| matches!(n.kind, NoticeKind::FriendRequest(_)))
        .collect();
    assert_eq!(kinds, vec![true, false]);
    assert!(!sync.notices_limited);
    assert_eq!(sync.rooms.len(), 1);
    assert_eq!(sync.rooms[0].messages[0].id, message.id);
    assert_eq!(sync.next, done.notices[1].id.max(sync.next));
    let later = store.sync(u[1], sync.next, None, 50).await.unwrap();
    assert!(later.notices.is_empty());
    let one = store.sync(u[0], before, None, 50).await.unwrap();
    assert_eq!(one.notices.len(), 1, "A hears only of the agreement");
    assert_eq!(
        refusal(
            store
                .send_friend_request(request(u[1], u[0], ""), "n".into(), t0())
                .await
        ),
        Refusal::AlreadyFriends
    );
    let f = store
        .set_remark(u[0], u[1], Remark::parse("B!").unwrap())
        .await
        .unwrap();
    assert_eq!(f.remark.as_deref(), Some("B!"));
    assert!(matches!(
        store.set_remark(u[0], UserId(999_999), None).await,
        Err(StoreError::NotFound(Missing::Friend))
    ));
}

/// A target who does not confirm requests is a friend at once.
async fn requests_agree_at_once_without_confirmation(store: &impl Store) {
    let u = users(store, &["auto_a_user", "auto_b_user"]).await;
    store
        .update_profile(
            u[1],
            ProfileChanges {
                invite_confirm: Some(false),
                ..ProfileChanges::default()
            },
            t0(),
        )
        .await
        .unwrap();
    let sent = store
        .send_friend_request(request(u[0], u[1], ""), "friends".into(), t0())
        .await
        .unwrap();
    assert_eq!(sent.request.status, RequestStatus::Agree);
    assert_eq!(sent.notices.len(), 3);
    assert!(sent.room.is_some() && sent.message.is_some());
    assert!(store.pair_facts(u[1], u[0]).await.unwrap().friend);
}

/// Under the friends policy a direct room opens and takes messages only
/// between friends; history stays readable after unfriending.
async fn friendship_gates_direct_rooms_under_the_friends_policy(store: &impl Store) {
    let u = users(store, &["gate_a_user", "gate_b_user"]).await;
    assert_eq!(
        refusal(store.find_or_create_direct(u[0], u[1], FRIENDS, t0()).await),
        Refusal::NotFriends
    );
    let (room, _) = store
        .find_or_create_direct(u[0], u[1], ANYONE, t0())
        .await
        .unwrap();
    let out = store
        .append_messages(&[text(room.id, u[0], "x1", "hi")], FRIENDS, t0())
        .await
        .unwrap();
    assert_eq!(out[0], AppendOutcome::Rejected(AppendRejection::NotFriends));
    agree(store, u[0], u[1]).await;
    let (same, created) = store
        .find_or_create_direct(u[1], u[0], FRIENDS, t0())
        .await
        .unwrap();
    assert_eq!((same.id, created), (room.id, false));
    let out = store
        .append_messages(&[text(room.id, u[0], "x2", "hi friend")], FRIENDS, t0())
        .await
        .unwrap();
    let kept = stored(&out[0]).id;
    store.unfriend(u[1], u[0], t0()).await.unwrap();
    let out = store
        .append_messages(&[text(room.id, u[0], "x3", "still?")], FRIENDS, t0())
        .await
        .unwrap();
    assert_eq!(out[0], AppendOutcome::Rejected(AppendRejection::NotFriends));
    let history = store.history(room.id, u[0], None, None, 50).await.unwrap();
    assert!(history.iter().any(|m| m.id == kept));
}

/// Unfriending removes both rows and the old requests: either may ask again.
async fn unfriending_forgets_the_requests(store: &impl Store) {
    let u = users(store, &["unf_a_user", "unf_b_user"]).await;
    agree(store, u[0], u[1]).await;
    store.unfriend(u[0], u[1], t0()).await.unwrap();
    assert!(store.friends(u[0], None, 10).await.unwrap().is_empty());
    assert!(store.friends(u[1], None, 10).await.unwrap().is_empty());
    assert!(matches!(
        store.unfriend(u[0], u[1], t0()).await,
        Err(StoreError::NotFound(Missing::Friend))
    ));
    assert!(
        store
            .friend_requests(u[1], Direction::Incoming, None, None, 10)
            .await
            .unwrap()
            .is_empty()
    );
    let sync = store.sync(u[1], MessageId(0), None, 50).await.unwrap();
    assert!(
        sync.notices.is_empty(),
        "notices of forgotten requests go too"
    );
    let again = store
        .send_friend_request(request(u[1], u[0], "again?"), "n".into(), t0())
        .await
        .unwrap();
    assert_eq!(again.request.status, RequestStatus::Pending);
}

/// Who may be put in a group: never someone who blocked the actor or whom
/// the actor blocked, never a guest (they join by invite link), and under
/// `friends` only the actor's friends. A refusal names every refused user
/// with why, and writes nothing: no group, no member. Current members are
/// not judged again.
async fn groups_take_only_whom_the_actor_may_add(store: &impl Store) {
    let u = users(
        store,
        &[
            "gr_owner",
            "gr_blocker",
            "gr_blocked",
            "gr_friend",
            "gr_strange",
        ],
    )
    .await;
    let guest = store
        .create_user(
            NewUser {
                role: Role::Guest,
                ..new_user("gr_guest1")
            },
            t0(),
        )
        .await
        .unwrap()
        .id;
    store.block(u[1], u[0], t0()).await.unwrap();
    store.block(u[0], u[2], t0()).await.unwrap();
    agree(store, u[0], u[3]).await;
    let make = |members: Vec<UserId>, policy| NewGroup {
        owner: u[0],
        name: RoomName::parse("Club").unwrap(),
        members,
        notice: "made".into(),
        policy,
    };
    let refused = |r: Result<roomy_store::RoomChange, StoreError>| match r {
        Err(StoreError::MembersRefused(list)) => list,
        other => panic!("expected refused members, got {other:?}"),
    };
    let rooms_before = store.rooms_of(u[0], None, 50).await.unwrap().len();

    let list = refused(
        store
            .create_group(make(vec![u[1], u[2], u[3], u[4], guest], ANYONE), t0())
            .await,
    );
    assert_eq!(
        list,
        vec![
            (u[1], Refusal::Blocked),
            (u[2], Refusal::YouBlocked),
            (guest, Refusal::Guest)
        ]
    );
    let list = refused(
        store
            .create_group(make(vec![u[3], u[4]], FRIENDS), t0())
            .await,
    );
    assert_eq!(list, vec![(u[4], Refusal::NotFriends)]);
    assert_eq!(
        store.rooms_of(u[0], None, 50).await.unwrap().len(),
        rooms_before,
        "a refused group is not created"
    );
    assert!(store.rooms_of(u[4], None, 50).await.unwrap().is_empty());

    let g = store
        .create_group(make(vec![u[3]], FRIENDS), t0())
        .await
        .unwrap()
        .room
        .id;
    let list = refused(
        store
            .add_members(
                g,
                u[0],
                &[u[4], u[1]],
                FRIENDS,
                "added".into(),
                CAPACITY,
                t0(),
            )
            .await,
    );
    assert_eq!(
        list,
        vec![(u[4], Refusal::NotFriends), (u[1], Refusal::Blocked)]
    );
    assert_eq!(store.member_role(g, u[4]).await.unwrap(), None);
    assert_eq!(store.room(g).await.unwrap().unwrap().member_count, 2);
    assert_eq!(
        refused(
            store
                .add_members(g, u[0], &[guest], ANYONE, "added".into(), CAPACITY, t0())
                .await
        ),
        vec![(guest, Refusal::Guest)]
    );
    let added = store
        .add_members(g, u[0], &[u[4]], ANYONE, "added".into(), CAPACITY, t0())
        .await
        .unwrap();
    assert_eq!(added.members.len(), 1, "strangers under `anyone`");

    // A member who blocks the owner later stays; naming them again adds nothing.
    store.block(u[3], u[0], t0()).await.unwrap();
    let nothing = store
        .add_members(g, u[0], &[u[3]], FRIENDS, "added".into(), CAPACITY, t0())
        .await
        .unwrap();
    assert!(nothing.members.is_empty() && nothing.notice.is_none());
}

/// Every check of this module, each to run against a fresh store.
pub(crate) fn checks<S: Store>() -> Vec<Check<S>> {
    vec![
        Check::new(
            "follows_are_idempotent_and_versioned",
            follows_are_idempotent_and_versioned,
        ),
        Check::new(
            "follow_lists_page_newest_first",
            follow_lists_page_newest_first,
        ),
        Check::new(
            "blocks_cut_follows_and_close_direct_rooms",
            blocks_cut_follows_and_close_direct_rooms,
        ),
        Check::new(
            "friend_requests_are_answered_once",
            friend_requests_are_answered_once,
        ),
        Check::new(
            "agreeing_opens_the_direct_room_with_notices",
            agreeing_opens_the_direct_room_with_notices,
        ),
        Check::new(
            "requests_agree_at_once_without_confirmation",
            requests_agree_at_once_without_confirmation,
        ),
        Check::new(
            "friendship_gates_direct_rooms_under_the_friends_policy",
            friendship_gates_direct_rooms_under_the_friends_policy,
        ),
        Check::new(
            "unfriending_forgets_the_requests",
            unfriending_forgets_the_requests,
        ),
        Check::new(
            "groups_take_only_whom_the_actor_may_add",
            groups_take_only_whom_the_actor_may_add,
        ),
    ]
}
