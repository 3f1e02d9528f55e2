//! Rooms over HTTP: direct rooms, groups, members, roles, visibility.

use crate::{harness::TestApp, messages::FRIENDS_NOW};
use serde_json::json;

crate::backend_tests!(
    direct_rooms_are_found_or_created,
    groups_are_created_with_members_and_a_notice,
    only_managers_manage_members,
    members_leave_and_owners_stay,
    owners_set_roles_and_admins_rename,
    strangers_see_nothing,
);

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

async fn group(app: &TestApp, owner: &str, members: &[i64]) -> i64 {
    app.post(
        "/api/v1/rooms",
        Some(owner),
        json!({"name": "G", "member_ids": members}),
    )
    .await
    .json()["id"]
        .as_i64()
        .expect("group id")
}

async fn only_managers_manage_members(app: TestApp) {
    let a = app.user("mm_owner").await;
    let b = app.user("mm_bobby").await;
    let c = app.user("mm_carol").await;
    let d = app.user("mm_dave1").await;
    let id = group(&app, &a.token, &[b.id]).await;
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
    let id = group(&app, &a.token, &[b.id]).await;
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
    let id = group(&app, &a.token, &[b.id, c.id]).await;
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
