//! Rooms over HTTP: direct rooms, groups, members, roles, visibility.

use crate::{
    harness::{Login, Resp, TestApp},
    messages::FRIENDS_NOW,
};
use serde_json::json;

crate::backend_tests!(
    direct_rooms_are_found_or_created,
    groups_are_created_with_members_and_a_notice,
    only_managers_manage_members,
    members_leave_and_owners_stay,
    owners_set_roles_and_admins_rename,
    strangers_see_nothing,
    blocked_users_cannot_put_their_blockers_in_groups,
    strangers_cannot_make_groups_with_each_other,
);

/// Groups under `direct_messages = "anyone"`.
mod anyone {
    use super::*;

    crate::backend_tests!(with |c| {
        c.direct_messages = roomy_core::social_fields::DirectPolicy::Anyone;
    }; groups_take_strangers_but_never_blocks_or_guests);
}

/// The group ids `who` is in.
async fn groups_of(app: &TestApp, who: &Login) -> Vec<i64> {
    let r = app.get("/api/v1/rooms?limit=200", Some(&who.token)).await;
    assert_eq!(r.status, 200, "{}", r.text);
    r.json()["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter(|room| room["kind"] == "group")
        .filter_map(|room| room["id"].as_i64())
        .collect()
}

/// A refusal of members: its code, and the refused ids under `field`.
fn assert_refused(r: &Resp, code: &str, field: &str, ids: &[i64]) {
    r.assert_error(403, code);
    let listed: Vec<String> = ids.iter().map(i64::to_string).collect();
    assert_eq!(
        r.json()["error"]["fields"][field],
        listed.join(", "),
        "{}",
        r.text
    );
}

/// Someone blocked puts the blocker in no group: creating one with them,
/// or adding them, is refused (403 `blocked`), nothing is written, and the
/// blocker hears nothing; the blocker cannot pull them in either. Blocks
/// win over friendship.
async fn blocked_users_cannot_put_their_blockers_in_groups(app: TestApp) {
    let bob = app.user("bk_bobby").await;
    let mallory = app.user("bk_mallory").await;
    let carol = app.user("bk_carol1").await;
    app.befriend_ids(&mallory, &[bob.id, carol.id]).await;
    app.befriend_ids(&bob, &[carol.id]).await;
    let r = app
        .put(
            &format!("/api/v1/me/blocks/{}", mallory.id),
            Some(&bob.token),
        )
        .await;
    assert!(r.status < 300, "{}", r.text);
    let (mut wb, _) = app.ws(&bob.token).await;

    let r = app
        .post(
            "/api/v1/rooms",
            Some(&mallory.token),
            json!({"name": "Gotcha", "member_ids": [bob.id]}),
        )
        .await;
    assert_refused(&r, "blocked", "member_ids", &[bob.id]);
    // One refused member refuses the whole group.
    let r = app
        .post(
            "/api/v1/rooms",
            Some(&mallory.token),
            json!({"name": "Gotcha", "member_ids": [carol.id, bob.id]}),
        )
        .await;
    assert_refused(&r, "blocked", "member_ids", &[bob.id]);
    for who in [&mallory, &bob, &carol] {
        assert!(groups_of(&app, who).await.is_empty(), "nothing was created");
    }

    // Adding them to a group of one's own: refused, and nobody is added.
    let group = app.group(&mallory, "Mine", &[carol.id]).await;
    let members = format!("/api/v1/rooms/{group}/members");
    let r = app
        .post(
            &members,
            Some(&mallory.token),
            json!({"user_ids": [bob.id]}),
        )
        .await;
    assert_refused(&r, "blocked", "user_ids", &[bob.id]);
    app.get(&format!("/api/v1/rooms/{group}"), Some(&bob.token))
        .await
        .assert_error(404, "room_not_found");
    let count = app
        .get(&format!("/api/v1/rooms/{group}"), Some(&mallory.token))
        .await
        .json()["member_count"]
        .clone();
    assert_eq!(count, 2);
    wb.assert_quiet().await;

    // The blocker cannot pull the blocked user in either.
    let theirs = app.group(&bob, "Bob's", &[carol.id]).await;
    let r = app
        .post(
            &format!("/api/v1/rooms/{theirs}/members"),
            Some(&bob.token),
            json!({"user_ids": [mallory.id]}),
        )
        .await;
    assert_refused(&r, "you_blocked_user", "user_ids", &[mallory.id]);
    let r = app
        .post(
            "/api/v1/rooms",
            Some(&bob.token),
            json!({"name": "Bob's 2", "member_ids": [mallory.id]}),
        )
        .await;
    assert_refused(&r, "you_blocked_user", "member_ids", &[mallory.id]);
}

/// Under `direct_messages = "friends"` (the default) a group takes only the
/// creator's friends: a stranger cannot make a two-person group to reach
/// someone they may not message directly. The refusal names only the
/// strangers and creates nothing; friends make groups; an invite link
/// still lets a stranger in.
async fn strangers_cannot_make_groups_with_each_other(app: TestApp) {
    let alice = app.user("st_alice").await;
    let eve = app.user("st_eve01").await;
    let fred = app.user("st_fred1").await;
    app.befriend_ids(&eve, &[fred.id]).await;
    let (mut wa, _) = app.ws(&alice.token).await;

    let r = app
        .post(
            "/api/v1/rooms",
            Some(&eve.token),
            json!({"name": "Just us", "member_ids": [alice.id]}),
        )
        .await;
    assert_refused(&r, "not_friends", "member_ids", &[alice.id]);
    let r = app
        .post(
            "/api/v1/rooms",
            Some(&eve.token),
            json!({"name": "Us three", "member_ids": [fred.id, alice.id]}),
        )
        .await;
    assert_refused(&r, "not_friends", "member_ids", &[alice.id]);
    for who in [&alice, &eve, &fred] {
        assert!(groups_of(&app, who).await.is_empty(), "nothing was created");
    }
    wa.assert_quiet().await;

    // Friends make groups; a stranger joins one by link.
    let group = app.group(&eve, "Friends", &[fred.id]).await;
    let r = app
        .post(
            &format!("/api/v1/rooms/{group}/members"),
            Some(&eve.token),
            json!({"user_ids": [alice.id]}),
        )
        .await;
    assert_refused(&r, "not_friends", "user_ids", &[alice.id]);
    let link = app
        .post(
            &format!("/api/v1/rooms/{group}/invites"),
            Some(&eve.token),
            json!({}),
        )
        .await
        .json();
    let token = link["token"].as_str().expect("token");
    let r = app
        .post(
            &format!("/api/v1/invites/{token}/join"),
            Some(&alice.token),
            json!({}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(groups_of(&app, &alice).await, vec![group]);
}

/// Under `direct_messages = "anyone"` strangers may be put in a group, but
/// still never a blocked pair, nor a guest (guests join by link).
async fn groups_take_strangers_but_never_blocks_or_guests(app: TestApp) {
    let owner = app.user("an_owner").await;
    let stranger = app.user("an_strange").await;
    let blocker = app.user("an_blocker").await;
    let guest = app
        .post("/api/v1/auth/guest", None, json!({"nickname": "Guest"}))
        .await
        .json()["user"]["id"]
        .as_i64()
        .expect("guest id");
    app.put(
        &format!("/api/v1/me/blocks/{}", owner.id),
        Some(&blocker.token),
    )
    .await;
    let r = app
        .post(
            "/api/v1/rooms",
            Some(&owner.token),
            json!({"name": "Mixed", "member_ids": [stranger.id, blocker.id, guest]}),
        )
        .await;
    assert_refused(&r, "blocked", "member_ids", &[blocker.id, guest]);
    let r = app
        .post(
            "/api/v1/rooms",
            Some(&owner.token),
            json!({"name": "Mixed", "member_ids": [stranger.id, guest]}),
        )
        .await;
    assert_refused(&r, "guest_forbidden", "member_ids", &[guest]);
    assert!(groups_of(&app, &owner).await.is_empty());
    let r = app
        .post(
            "/api/v1/rooms",
            Some(&owner.token),
            json!({"name": "Strangers", "member_ids": [stranger.id]}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(
        groups_of(&app, &stranger).await,
        vec![r.json()["id"].as_i64().expect("id")]
    );
}

async fn direct_rooms_are_found_or_created(app: TestApp) {
    let a = app.user("dr_alice").await;
    let b = app.user("dr_bobby").await;
    // Strangers cannot open a direct room (`direct_messages = "friends"`),
    // and the refusal leaves nothing behind.
    app.post(
        "/api/v1/rooms/direct",
        Some(&a.token),
        json!({"user_id": b.id}),
    )
    .await
    .assert_error(403, "not_friends");
    for who in [&a, &b] {
        let rooms = app.get("/api/v1/rooms", Some(&who.token)).await.json();
        assert_eq!(rooms["items"], json!([]), "{rooms}");
    }

    // Becoming friends creates the room, with the notice at seq 1: opening
    // it then finds that room.
    app.befriend(&a, &b).await;
    let r = app
        .post(
            "/api/v1/rooms/direct",
            Some(&a.token),
            json!({"user_id": b.id}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let room = r.json();
    assert_eq!(room["kind"], "direct");
    assert_eq!(room["peer"]["id"], b.id);
    assert_eq!(room["member_count"], 2);
    assert_eq!(room["last_seq"], 1);
    assert_eq!(room["last_message"]["seq"], 1);
    assert_eq!(room["last_message"]["kind"], "system");
    assert_eq!(room["last_message"]["body"], FRIENDS_NOW);
    let listed = app.get("/api/v1/rooms", Some(&a.token)).await.json();
    assert_eq!(
        listed["items"].as_array().map(Vec::len),
        Some(1),
        "{listed}"
    );
    assert_eq!(listed["items"][0]["id"], room["id"]);
    let again = app
        .post(
            "/api/v1/rooms/direct",
            Some(&b.token),
            json!({"user_id": a.id}),
        )
        .await;
    assert_eq!(again.status, 200);
    assert_eq!(again.json()["id"], room["id"]);
    assert_eq!(again.json()["peer"]["id"], a.id);

    app.post(
        "/api/v1/rooms/direct",
        Some(&a.token),
        json!({"user_id": a.id}),
    )
    .await
    .assert_error(422, "cannot_message_self");
    app.post(
        "/api/v1/rooms/direct",
        Some(&a.token),
        json!({"user_id": 987654}),
    )
    .await
    .assert_error(404, "user_not_found");
    app.post(
        "/api/v1/rooms/direct",
        Some(&a.token),
        json!({"user_id": "x"}),
    )
    .await
    .assert_error(422, "invalid_body");
    let guest = app
        .post("/api/v1/auth/guest", None, json!({"nickname": "G"}))
        .await
        .json();
    let gt = guest["token"].as_str().expect("token");
    app.post("/api/v1/rooms/direct", Some(gt), json!({"user_id": a.id}))
        .await
        .assert_error(403, "guest_forbidden");
    // Nor can a user pull a guest into a direct room.
    app.post(
        "/api/v1/rooms/direct",
        Some(&a.token),
        json!({"user_id": guest["user"]["id"]}),
    )
    .await
    .assert_error(403, "guest_forbidden");
}

async fn groups_are_created_with_members_and_a_notice(app: TestApp) {
    let a = app.user("gr_owner").await;
    let b = app.user("gr_bobby").await;
    let c = app.user("gr_carol").await;
    app.befriend_ids(&a, &[b.id, c.id]).await;
    let r = app
        .post(
            "/api/v1/rooms",
            Some(&a.token),
            json!({"name": " Weekend ", "member_ids": [b.id, c.id, b.id, a.id]}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let room = r.json();
    assert_eq!(room["kind"], "group");
    assert_eq!(room["name"], "Weekend");
    assert_eq!(room["member_count"], 3);
    assert_eq!(room["my_role"], "owner");
    assert_eq!(room["last_seq"], 1);
    assert_eq!(room["last_message"]["kind"], "system");
    assert_eq!(
        room["last_message"]["body"],
        "gr_owner created the group Weekend"
    );
    let id = room["id"].as_i64().expect("id");

    let members = app
        .get(&format!("/api/v1/rooms/{id}/members"), Some(&b.token))
        .await
        .json();
    let roles: Vec<_> = members["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|m| {
            (
                m["user"]["id"].as_i64().unwrap_or_default(),
                m["role"].clone(),
            )
        })
        .collect();
    assert_eq!(
        roles,
        vec![
            (a.id, json!("owner")),
            (b.id, json!("member")),
            (c.id, json!("member"))
        ]
    );
    let listed = app.get("/api/v1/rooms", Some(&c.token)).await.json();
    assert_eq!(listed["items"][0]["id"], id);
    assert_eq!(listed["items"][0]["my_role"], "member");

    let bad = app
        .post(
            "/api/v1/rooms",
            Some(&a.token),
            json!({"name": "", "member_ids": [424242]}),
        )
        .await;
    bad.assert_error(422, "validation_failed");
    let missing = app
        .post(
            "/api/v1/rooms",
            Some(&a.token),
            json!({"name": "x", "member_ids": [424242]}),
        )
        .await;
    missing.assert_error(422, "validation_failed");
    assert!(
        missing.json()["error"]["fields"]["member_ids"]
            .as_str()
            .unwrap_or_default()
            .contains("424242")
    );
}

async fn only_managers_manage_members(app: TestApp) {
    let a = app.user("mm_owner").await;
    let b = app.user("mm_bobby").await;
    let c = app.user("mm_carol").await;
    let d = app.user("mm_dave1").await;
    let id = app.group(&a, "G", &[b.id]).await;
    app.befriend_ids(&a, &[c.id]).await;
    let path = format!("/api/v1/rooms/{id}/members");
    app.post(&path, Some(&b.token), json!({"user_ids": [c.id]}))
        .await
        .assert_error(403, "not_room_admin");
    app.post(&path, Some(&d.token), json!({"user_ids": [d.id]}))
        .await
        .assert_error(404, "room_not_found");
    let added = app
        .post(&path, Some(&a.token), json!({"user_ids": [c.id, b.id]}))
        .await;
    assert_eq!(added.status, 200, "{}", added.text);
    let added = added.json();
    assert_eq!(
        added.as_array().map(Vec::len),
        Some(1),
        "b was already in: {added}"
    );
    assert_eq!(added[0]["user"]["id"], c.id);
    app.post(&path, Some(&a.token), json!({"user_ids": [555555]}))
        .await
        .assert_error(422, "validation_failed");
    app.post(&path, Some(&a.token), json!({"user_ids": []}))
        .await
        .assert_error(422, "validation_failed");
    // A member cannot remove another member; the owner can.
    app.delete(&format!("{path}/{}", c.id), Some(&b.token))
        .await
        .assert_error(403, "cannot_remove_member");
    assert_eq!(
        app.delete(&format!("{path}/{}", c.id), Some(&a.token))
            .await
            .status,
        204
    );
    app.delete(&format!("{path}/{}", c.id), Some(&a.token))
        .await
        .assert_error(404, "member_not_found");
    // The removed member no longer sees the room.
    app.get(&format!("/api/v1/rooms/{id}"), Some(&c.token))
        .await
        .assert_error(404, "room_not_found");
    // Direct rooms have no member management.
    let direct = app.direct(&a, &b).await;
    app.post(
        &format!("/api/v1/rooms/{direct}/members"),
        Some(&a.token),
        json!({"user_ids": [c.id]}),
    )
    .await
    .assert_error(422, "not_a_group");
}

async fn members_leave_and_owners_stay(app: TestApp) {
    let a = app.user("lv_owner").await;
    let b = app.user("lv_bobby").await;
    let id = app.group(&a, "G", &[b.id]).await;
    app.delete(
        &format!("/api/v1/rooms/{id}/members/{}", a.id),
        Some(&a.token),
    )
    .await
    .assert_error(409, "owner_cannot_leave");
    let left = app
        .delete(
            &format!("/api/v1/rooms/{id}/members/{}", b.id),
            Some(&b.token),
        )
        .await;
    assert_eq!(left.status, 204, "{}", left.text);
    let room = app
        .get(&format!("/api/v1/rooms/{id}"), Some(&a.token))
        .await
        .json();
    assert_eq!(room["member_count"], 1);
    assert_eq!(room["last_message"]["body"], "lv_bobby left the group");
}

async fn owners_set_roles_and_admins_rename(app: TestApp) {
    let a = app.user("rl_owner").await;
    let b = app.user("rl_bobby").await;
    let c = app.user("rl_carol").await;
    let id = app.group(&a, "G", &[b.id, c.id]).await;
    let member = |u: i64| format!("/api/v1/rooms/{id}/members/{u}");
    app.patch(&member(c.id), Some(&b.token), json!({"role": "admin"}))
        .await
        .assert_error(403, "not_room_owner");
    let r = app
        .patch(&member(b.id), Some(&a.token), json!({"role": "admin"}))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json()["role"], "admin");
    app.patch(&member(a.id), Some(&a.token), json!({"role": "admin"}))
        .await
        .assert_error(422, "validation_failed");
    app.patch(&member(999_999), Some(&a.token), json!({"role": "admin"}))
        .await
        .assert_error(404, "member_not_found");

    // An admin renames; a member cannot.
    let room = format!("/api/v1/rooms/{id}");
    app.patch(&room, Some(&c.token), json!({"name": "Mine"}))
        .await
        .assert_error(403, "not_room_admin");
    let renamed = app
        .patch(&room, Some(&b.token), json!({"name": "Ours"}))
        .await;
    assert_eq!(renamed.status, 200, "{}", renamed.text);
    assert_eq!(renamed.json()["name"], "Ours");
    assert_eq!(
        renamed.json()["last_message"]["body"],
        "rl_bobby renamed the group to Ours"
    );
    app.patch(&room, Some(&b.token), json!({"avatar": "ftp://x"}))
        .await
        .assert_error(422, "validation_failed");
    // Admins cannot remove the owner or each other; they can remove members.
    app.delete(&member(a.id), Some(&b.token))
        .await
        .assert_error(403, "cannot_remove_member");
    assert_eq!(app.delete(&member(c.id), Some(&b.token)).await.status, 204);
}

async fn strangers_see_nothing(app: TestApp) {
    let a = app.user("st_alice").await;
    let b = app.user("st_bobby").await;
    let eve = app.user("st_evil1").await;
    let id = app.direct(&a, &b).await;
    app.post(
        &format!("/api/v1/rooms/{id}/messages"),
        Some(&a.token),
        json!({"client_id": "s1", "kind": "text", "body": "private"}),
    )
    .await;
    for path in [
        format!("/api/v1/rooms/{id}"),
        format!("/api/v1/rooms/{id}/members"),
        format!("/api/v1/rooms/{id}/messages"),
    ] {
        app.get(&path, Some(&eve.token))
            .await
            .assert_error(404, "room_not_found");
    }
    app.post(
        &format!("/api/v1/rooms/{id}/messages"),
        Some(&eve.token),
        json!({"client_id": "e1", "kind": "text", "body": "let me in"}),
    )
    .await
    .assert_error(404, "room_not_found");
    app.patch(
        &format!("/api/v1/rooms/{id}"),
        Some(&eve.token),
        json!({"name": "x"}),
    )
    .await
    .assert_error(404, "room_not_found");
    let sync = app
        .get("/api/v1/sync?since=0", Some(&eve.token))
        .await
        .json();
    assert_eq!(sync["rooms"], json!({}));
    let rooms = app.get("/api/v1/rooms", Some(&eve.token)).await.json();
    assert_eq!(rooms["items"], json!([]));
}
