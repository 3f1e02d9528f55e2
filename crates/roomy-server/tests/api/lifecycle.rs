//! A message's life after sending, live and for a device that was offline:
//! read positions and receipts, revocation (window judged by a controlled
//! clock), delete-for-me, the sent/received lists, favorites, moderation,
//! and complete groups (dissolve, hand-over, group profiles).

use crate::harness::{Login, TestApp};
use serde_json::{Value, json};
use time::Duration;

crate::backend_tests!(
    reading_moves_forward_and_reaches_every_device,
    direct_rooms_get_read_receipts_unless_hidden,
    revoking_works_within_the_window_only,
    revocations_reach_offline_devices_through_sync,
    delete_for_me_changes_only_my_view,
    sent_and_received_lists_filter,
    favorites_outlive_membership_but_not_revocation,
    favorites_reach_my_other_devices,
    admins_search_remove_and_are_audited,
    disabling_a_user_closes_their_connections,
    dissolved_groups_are_read_only,
    owners_hand_over_and_members_set_group_profiles,
);

async fn say(app: &TestApp, who: &Login, room: i64, client_id: &str, body: &str) -> Value {
    let r = app
        .post(
            &format!("/api/v1/rooms/{room}/messages"),
            Some(&who.token),
            json!({"client_id": client_id, "kind": "text", "body": body}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    r.json()
}

async fn room_view(app: &TestApp, who: &Login, room: i64) -> Value {
    let r = app
        .get(&format!("/api/v1/rooms/{room}"), Some(&who.token))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    r.json()
}

async fn sync(app: &TestApp, who: &Login, since: i64) -> Value {
    let r = app
        .get(&format!("/api/v1/sync?since={since}"), Some(&who.token))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    r.json()
}

async fn reading_moves_forward_and_reaches_every_device(app: TestApp) {
    let a = app.user("rd_alice").await;
    let b = app.user("rd_bobby").await;
    let room = app.group(&a, "Team", &[b.id]).await;
    for i in 1..=3 {
        say(&app, &a, room, &format!("m{i}"), "hi").await;
    }
    // seq 1 is the "created the group" notice, then three messages.
    let view = room_view(&app, &b, room).await;
    assert_eq!(
        (view["unread"].clone(), view["read_seq"].clone()),
        (json!(4), json!(0))
    );
    assert_eq!(
        room_view(&app, &a, room).await["unread"],
        0,
        "my own messages"
    );

    let (mut phone, ready) = app.ws(&b.token).await;
    let offline_since = ready["since"].as_i64().expect("since");
    let read = |seq: i64| json!({ "seq": seq });
    let r = app
        .post(
            &format!("/api/v1/rooms/{room}/read"),
            Some(&b.token),
            read(3),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        r.json(),
        json!({"room_id": room, "read_seq": 3, "unread": 1})
    );
    // The other device hears of it live.
    let ev = phone.next().await;
    assert_eq!(
        (
            ev["type"].clone(),
            ev["room_id"].clone(),
            ev["user_id"].clone(),
            ev["seq"].clone()
        ),
        (json!("read"), json!(room), json!(b.id), json!(3)),
        "{ev}"
    );
    // Backwards is no move; past the end is clamped.
    let r = app
        .post(
            &format!("/api/v1/rooms/{room}/read"),
            Some(&b.token),
            read(1),
        )
        .await;
    assert_eq!(r.json()["read_seq"], 3);
    phone.assert_quiet().await;
    // Over the WebSocket, with the request id on the asking connection.
    phone
        .send(json!({"type": "read", "id": "r1", "room_id": room, "seq": 99}))
        .await;
    let ev = phone.next().await;
    assert_eq!(
        (ev["type"].clone(), ev["id"].clone(), ev["seq"].clone()),
        (json!("read"), json!("r1"), json!(4)),
        "{ev}"
    );
    assert_eq!(room_view(&app, &b, room).await["unread"], 0);
    phone
        .send(json!({"type": "read", "id": "r2", "room_id": room, "seq": 2}))
        .await;
    let ev = phone.next().await;
    assert_eq!(
        (ev["id"].clone(), ev["seq"].clone()),
        (json!("r2"), json!(4)),
        "{ev}"
    );
    phone
        .send(json!({"type": "read", "id": "r3", "room_id": room, "seq": -1}))
        .await;
    let ev = phone.next().await;
    assert_eq!(
        (
            ev["type"].clone(),
            ev["id"].clone(),
            ev["error"]["code"].clone()
        ),
        (json!("error"), json!("r3"), json!("validation_failed"))
    );

    // A device that was offline finds the newest position in sync, once.
    let s = sync(&app, &b, offline_since).await;
    let reads: Vec<_> = s["notices"]
        .as_array()
        .expect("notices")
        .iter()
        .filter(|n| n["type"] == "read")
        .collect();
    assert_eq!(reads.len(), 1, "{s}");
    assert_eq!(reads[0]["seq"], 4);

    // Group members see how far each has read.
    let members = app
        .get(&format!("/api/v1/rooms/{room}/members"), Some(&a.token))
        .await
        .json();
    let bob = members["items"]
        .as_array()
        .expect("items")
        .iter()
        .find(|m| m["user"]["id"] == b.id)
        .cloned()
        .expect("b listed");
    assert_eq!(
        (bob["read_seq"].clone(), bob["online"].clone()),
        (json!(4), json!(true))
    );
    app.post(
        &format!("/api/v1/rooms/{room}/read"),
        Some(&a.token),
        read(1),
    )
    .await;
    app.post("/api/v1/rooms/999999/read", Some(&a.token), read(1))
        .await
        .assert_error(404, "room_not_found");
}

async fn direct_rooms_get_read_receipts_unless_hidden(app: TestApp) {
    let a = app.user("rr_alice").await;
    let b = app.user("rr_bobby").await;
    let room = app.direct(&a, &b).await;
    let m = say(&app, &a, room, "d1", "did you see this?").await;
    let (mut aws, _) = app.ws(&a.token).await;
    app.post(
        &format!("/api/v1/rooms/{room}/read"),
        Some(&b.token),
        json!({"seq": m["seq"]}),
    )
    .await;
    let receipt = aws.next().await;
    assert_eq!(
        (
            receipt["type"].clone(),
            receipt["user_id"].clone(),
            receipt["seq"].clone()
        ),
        (json!("read"), json!(b.id), m["seq"].clone()),
        "{receipt}"
    );
    assert_eq!(room_view(&app, &a, room).await["peer_read_seq"], m["seq"]);

    // b stops sharing read positions: no receipts, nothing in member lists.
    let r = app
        .patch(
            "/api/v1/me",
            Some(&b.token),
            json!({"read_receipts": false}),
        )
        .await;
    assert_eq!(r.json()["read_receipts"], false);
    let m2 = say(&app, &a, room, "d2", "and this?").await;
    assert_eq!(aws.next().await["message"]["id"], m2["id"]);
    app.post(
        &format!("/api/v1/rooms/{room}/read"),
        Some(&b.token),
        json!({"seq": m2["seq"]}),
    )
    .await;
    aws.assert_quiet().await;
    assert!(
        room_view(&app, &a, room)
            .await
            .get("peer_read_seq")
            .is_none()
    );
    let members = app
        .get(&format!("/api/v1/rooms/{room}/members"), Some(&a.token))
        .await
        .json();
    for m in members["items"].as_array().expect("items") {
        if m["user"]["id"] == b.id {
            assert!(m["read_seq"].is_null(), "{m}");
        }
    }
}

async fn revoking_works_within_the_window_only(app: TestApp) {
    let a = app.user("rv_alice").await;
    let b = app.user("rv_bobby").await;
    let room = app.group(&a, "Team", &[b.id]).await;
    app.patch(
        &format!("/api/v1/rooms/{room}/members/{}", a.id),
        Some(&a.token),
        json!({"nickname": "Boss"}),
    )
    .await;
    let first = say(&app, &a, room, "w1", "oops").await;
    let second = say(&app, &a, room, "w2", "too late").await;
    let (mut bws, _) = app.ws(&b.token).await;

    // Exactly 300 s later: still allowed.
    app.clock.advance(Duration::seconds(300));
    let path = |m: &Value| format!("/api/v1/messages/{}/revoke", m["id"]);
    let r = app.post(&path(&first), Some(&a.token), json!({})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        (r.json()["revoked"].clone(), r.json()["body"].clone()),
        (json!(true), Value::Null)
    );
    let ev = bws.next().await;
    assert_eq!(ev["type"], "revoked", "{ev}");
    assert_eq!(
        (ev["message_id"].clone(), ev["by_admin"].clone()),
        (first["id"].clone(), json!(false))
    );
    assert_eq!(
        ev["notice"]["body"], "Boss revoked a message",
        "group nickname first"
    );
    assert_eq!(
        (
            ev["notice"]["event"].clone(),
            ev["notice"]["ref_id"].clone()
        ),
        (json!("revoked"), first["id"].clone())
    );
    assert!(ev["message"]["body"].is_null());

    // Revoking again changes nothing and announces nothing.
    let again = app.post(&path(&first), Some(&a.token), json!({})).await;
    assert_eq!(again.status, 200);
    bws.assert_quiet().await;

    // Others cannot; 301 s after sending is too late.
    app.post(&path(&second), Some(&b.token), json!({}))
        .await
        .assert_error(403, "not_your_message");
    app.clock.advance(Duration::seconds(1));
    app.post(&path(&second), Some(&a.token), json!({}))
        .await
        .assert_error(409, "revoke_window_passed");
    app.post("/api/v1/messages/999999/revoke", Some(&a.token), json!({}))
        .await
        .assert_error(404, "message_not_found");

    // History keeps the place, not the content.
    let h = app
        .get(&format!("/api/v1/rooms/{room}/messages"), Some(&b.token))
        .await
        .json();
    let items = h["items"].as_array().expect("items");
    let gone = items.iter().find(|m| m["id"] == first["id"]).expect("kept");
    assert_eq!(
        (gone["revoked"].clone(), gone["body"].clone()),
        (json!(true), Value::Null)
    );
    assert_eq!(
        items.last().expect("notice")["body"],
        "Boss revoked a message"
    );
}

async fn revocations_reach_offline_devices_through_sync(app: TestApp) {
    let a = app.user("ro_alice").await;
    let b = app.user("ro_bobby").await;
    let room = app.direct(&a, &b).await;
    let since = sync(&app, &b, 0).await["next"].as_i64().expect("next");
    let m = say(&app, &a, room, "s1", "secret").await;
    app.post(
        &format!("/api/v1/messages/{}/revoke", m["id"]),
        Some(&a.token),
        json!({}),
    )
    .await;
    let s = sync(&app, &b, since).await;
    let events = s["rooms"][room.to_string()]["events"]
        .as_array()
        .expect("events")
        .clone();
    assert_eq!(events.len(), 2, "{s}");
    assert_eq!(
        (events[0]["revoked"].clone(), events[0]["body"].clone()),
        (json!(true), Value::Null)
    );
    assert_eq!(events[1]["event"], "revoked");
    assert_eq!(events[1]["ref_id"], m["id"]);
    assert_eq!(events[1]["body"], "ro_alice revoked a message");
    // A device that had the message before learns of it from the notice alone.
    let mid = m["id"].as_i64().expect("id");
    let s = sync(&app, &b, mid).await;
    let events = s["rooms"][room.to_string()]["events"]
        .as_array()
        .expect("events")
        .clone();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["ref_id"], m["id"]);
}

async fn delete_for_me_changes_only_my_view(app: TestApp) {
    let a = app.user("dm_alice").await;
    let b = app.user("dm_bobby").await;
    let c = app.user("dm_carol").await;
    let room = app.group(&a, "Team", &[b.id]).await;
    let m1 = say(&app, &a, room, "x1", "one").await;
    let m2 = say(&app, &b, room, "x2", "two").await;
    let m3 = say(&app, &a, room, "x3", "three").await;
    let (mut other_device, ready) = app.ws(&b.token).await;
    let since = ready["since"].as_i64().expect("since");

    // A receiver deletes a received message, the sender a sent one.
    let r = app
        .delete(&format!("/api/v1/messages/{}", m1["id"]), Some(&b.token))
        .await;
    assert_eq!(r.status, 204, "{}", r.text);
    let ev = other_device.next().await;
    assert_eq!(
        (ev["type"].clone(), ev["message_ids"].clone()),
        (json!("messages_deleted"), json!([m1["id"]])),
        "{ev}"
    );
    let r = app
        .post(
            "/api/v1/messages/delete",
            Some(&b.token),
            json!({"ids": [m2["id"], m3["id"], m2["id"]]}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json()["deleted"], json!([m2["id"], m3["id"]]));
    let ids = |who: &Login| {
        let app = &app;
        let token = who.token.clone();
        async move {
            app.get(&format!("/api/v1/rooms/{room}/messages"), Some(&token))
                .await
                .json()["items"]
                .as_array()
                .expect("items")
                .iter()
                .map(|m| m["id"].clone())
                .collect::<Vec<_>>()
        }
    };
    let mine = ids(&b).await;
    assert!(!mine.contains(&m1["id"]) && !mine.contains(&m2["id"]) && !mine.contains(&m3["id"]));
    let theirs = ids(&a).await;
    assert!(theirs.contains(&m1["id"]) && theirs.contains(&m2["id"]) && theirs.contains(&m3["id"]));
    // An offline device learns it from sync, and sync hides them too.
    let s = sync(&app, &b, 0).await;
    let seen: Vec<_> = s["rooms"][room.to_string()]["events"]
        .as_array()
        .expect("events")
        .iter()
        .map(|m| m["id"].clone())
        .collect();
    assert!(!seen.contains(&m1["id"]), "{s}");
    let s = sync(&app, &b, since).await;
    let deleted: Vec<_> = s["notices"]
        .as_array()
        .expect("notices")
        .iter()
        .filter(|n| n["type"] == "messages_deleted")
        .collect();
    assert_eq!(deleted.len(), 2, "{s}");

    // All or nothing; not someone else's room; limits.
    let outside = say(&app, &a, app.group(&a, "Team", &[]).await, "x4", "private").await;
    app.post(
        "/api/v1/messages/delete",
        Some(&b.token),
        json!({"ids": [m1["id"], outside["id"]]}),
    )
    .await
    .assert_error(422, "validation_failed");
    app.delete(
        &format!("/api/v1/messages/{}", outside["id"]),
        Some(&c.token),
    )
    .await
    .assert_error(404, "message_not_found");
    let many: Vec<i64> = (1..=501).collect();
    app.post(
        "/api/v1/messages/delete",
        Some(&b.token),
        json!({"ids": many}),
    )
    .await
    .assert_error(422, "validation_failed");
    app.post(
        "/api/v1/messages/delete",
        Some(&b.token),
        json!({"ids": []}),
    )
    .await
    .assert_error(422, "validation_failed");
}

async fn sent_and_received_lists_filter(app: TestApp) {
    let a = app.user("ls_alice").await;
    let b = app.user("ls_bobby").await;
    let g1 = app.group(&a, "Team", &[b.id]).await;
    let g2 = app.group(&a, "Team", &[b.id]).await;
    let m1 = say(&app, &a, g1, "l1", "in one").await;
    let m2 = say(&app, &a, g2, "l2", "in two").await;
    let m3 = say(&app, &b, g1, "l3", "reply").await;
    let list = |path: String, who: &Login| {
        let app = &app;
        let token = who.token.clone();
        async move {
            let r = app.get(&path, Some(&token)).await;
            assert_eq!(r.status, 200, "{}", r.text);
            r.json()["items"]
                .as_array()
                .expect("items")
                .iter()
                .map(|m| m["id"].clone())
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(
        list("/api/v1/messages/sent".into(), &a).await,
        vec![m2["id"].clone(), m1["id"].clone()]
    );
    assert_eq!(
        list(format!("/api/v1/messages/sent?room_id={g1}"), &a).await,
        vec![m1["id"].clone()]
    );
    assert_eq!(
        list("/api/v1/messages/received".into(), &b).await,
        vec![m2["id"].clone(), m1["id"].clone()]
    );
    assert_eq!(
        list("/api/v1/messages/received".into(), &a).await,
        vec![m3["id"].clone()]
    );
    // b reads room one: only room two stays unread for b, and a's message there is unread by b.
    app.post(
        &format!("/api/v1/rooms/{g1}/read"),
        Some(&b.token),
        json!({"seq": 100}),
    )
    .await;
    assert_eq!(
        list("/api/v1/messages/received?unread=true".into(), &b).await,
        vec![m2["id"].clone()]
    );
    assert_eq!(
        list("/api/v1/messages/received?unread=false".into(), &b).await,
        vec![m1["id"].clone()]
    );
    assert_eq!(
        list("/api/v1/messages/sent?unread=true".into(), &a).await,
        vec![m2["id"].clone()]
    );
    assert_eq!(
        list("/api/v1/messages/sent?kind=text&limit=1".into(), &a).await,
        vec![m2["id"].clone()]
    );
    let page = app
        .get("/api/v1/messages/sent?limit=1", Some(&a.token))
        .await
        .json();
    let next = page["next_cursor"].as_str().expect("cursor");
    assert_eq!(
        list(format!("/api/v1/messages/sent?limit=1&cursor={next}"), &a).await,
        vec![m1["id"].clone()]
    );
    app.get("/api/v1/messages/sent?kind=system", Some(&a.token))
        .await
        .assert_error(422, "validation_failed");
}

async fn favorites_outlive_membership_but_not_revocation(app: TestApp) {
    let a = app.user("fv_alice").await;
    let b = app.user("fv_bobby").await;
    let c = app.user("fv_carol").await;
    let room = app.group(&a, "Team", &[b.id]).await;
    let keep = say(&app, &a, room, "f1", "worth keeping").await;
    let taken = say(&app, &a, room, "f2", "regret").await;
    let fav = |m: &Value| format!("/api/v1/me/favorites/{}", m["id"]);
    let r = app.put(&fav(&keep), Some(&b.token)).await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.json()["message"]["body"], "worth keeping");
    assert_eq!(app.put(&fav(&keep), Some(&b.token)).await.status, 200);
    assert_eq!(app.put(&fav(&taken), Some(&b.token)).await.status, 201);
    app.put(&fav(&keep), Some(&c.token))
        .await
        .assert_error(404, "message_not_found");
    app.post(
        &format!("/api/v1/messages/{}/revoke", taken["id"]),
        Some(&a.token),
        json!({}),
    )
    .await;
    // b leaves; the favorites stay, the revoked one without its body.
    let r = app
        .delete(
            &format!("/api/v1/rooms/{room}/members/{}", b.id),
            Some(&b.token),
        )
        .await;
    assert_eq!(r.status, 204, "{}", r.text);
    let list = app.get("/api/v1/me/favorites", Some(&b.token)).await.json();
    let items = list["items"].as_array().expect("items");
    assert_eq!(items.len(), 2, "{list}");
    assert_eq!(items[0]["message"]["id"], taken["id"]);
    assert_eq!(
        (
            items[0]["message"]["revoked"].clone(),
            items[0]["message"]["body"].clone()
        ),
        (json!(true), Value::Null)
    );
    assert_eq!(items[1]["message"]["body"], "worth keeping");
    let page = app
        .get("/api/v1/me/favorites?limit=1", Some(&b.token))
        .await
        .json();
    let next = page["next_cursor"].as_str().expect("cursor").to_owned();
    let rest = app
        .get(
            &format!("/api/v1/me/favorites?limit=1&cursor={next}"),
            Some(&b.token),
        )
        .await
        .json();
    assert_eq!(rest["items"][0]["message"]["id"], keep["id"]);
    assert_eq!(app.delete(&fav(&keep), Some(&b.token)).await.status, 204);
    assert_eq!(app.delete(&fav(&keep), Some(&b.token)).await.status, 204);
    let list = app.get("/api/v1/me/favorites", Some(&b.token)).await.json();
    assert_eq!(list["items"].as_array().expect("items").len(), 1);
}

async fn favorites_reach_my_other_devices(app: TestApp) {
    let a = app.user("fd_alice").await;
    let b = app.user("fd_bobby").await;
    let room = app.group(&a, "Team", &[b.id]).await;
    let m = say(&app, &a, room, "d1", "keep on every device").await;
    let fav = format!("/api/v1/me/favorites/{}", m["id"]);
    let (mut tab, ready) = app.ws(&b.token).await;
    let since = ready["since"].as_i64().expect("since");
    let (mut phone, _) = app.ws(&b.token).await;
    let (mut sender, _) = app.ws(&a.token).await;

    assert_eq!(app.put(&fav, Some(&b.token)).await.status, 201);
    let (on, _) = phone.until("favorite_changed").await;
    assert_eq!(
        (on["message_id"].clone(), on["favorite"].clone()),
        (m["id"].clone(), json!(true)),
        "{on}"
    );
    assert_eq!(tab.until("favorite_changed").await.0, on, "every device");
    // Again: no change, so nothing to tell.
    assert_eq!(app.put(&fav, Some(&b.token)).await.status, 200);
    phone.assert_quiet().await;

    assert_eq!(app.delete(&fav, Some(&b.token)).await.status, 204);
    let (off, _) = phone.until("favorite_changed").await;
    assert_eq!(
        (off["message_id"].clone(), off["favorite"].clone()),
        (m["id"].clone(), json!(false)),
        "{off}"
    );
    assert!(
        off["position"].as_i64().expect("position") > on["position"].as_i64().expect("position")
    );
    assert_eq!(app.delete(&fav, Some(&b.token)).await.status, 204);
    phone.assert_quiet().await;
    sender.assert_quiet().await;

    // A device that was away learns both, in order, from sync.
    let (mut laptop, _) = app.ws(&b.token).await;
    laptop
        .send(json!({"type": "sync", "id": "s1", "since": since}))
        .await;
    let s = laptop.until("sync").await.0;
    let changes: Vec<_> = s["notices"]
        .as_array()
        .expect("notices")
        .iter()
        .filter(|n| n["type"] == "favorite_changed")
        .cloned()
        .collect();
    assert_eq!(changes, vec![on.clone(), off.clone()], "{s}");
    let s = sync(&app, &b, since).await;
    assert_eq!(s["notices"], json!([on, off]), "{s}");
}

async fn admins_search_remove_and_are_audited(app: TestApp) {
    let z = app.admin("am_admin").await;
    let a = app.user("am_alice").await;
    let b = app.user("am_bobby").await;
    let room = app.group(&a, "Team", &[b.id]).await;
    let bad = say(&app, &a, room, "a1", "Buy 100% CHEAP_stuff").await;
    say(&app, &b, room, "a2", "no thanks").await;
    let search = |q: &str| format!("/api/v1/admin/messages?{q}");
    let found = app
        .get(&search("q=100%25%20cheap_"), Some(&z.token))
        .await
        .json();
    assert_eq!(
        found["items"].as_array().expect("items").len(),
        1,
        "{found}"
    );
    assert_eq!(found["items"][0]["id"], bad["id"]);
    let by_sender = app
        .get(
            &search(&format!("sender_id={}&room_id={room}", b.id)),
            Some(&z.token),
        )
        .await
        .json();
    assert_eq!(by_sender["items"].as_array().expect("items").len(), 1);
    app.get(&search("from=yesterday"), Some(&z.token))
        .await
        .assert_error(422, "validation_failed");
    app.get(&search(""), Some(&a.token))
        .await
        .assert_error(403, "admin_only");

    let (mut bws, _) = app.ws(&b.token).await;
    let r = app
        .delete(
            &format!("/api/v1/admin/messages/{}?reason=spam", bad["id"]),
            Some(&z.token),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json()["revoked"], true);
    let ev = bws.next().await;
    assert_eq!(
        (
            ev["type"].clone(),
            ev["by_admin"].clone(),
            ev["notice"]["event"].clone()
        ),
        (json!("revoked"), json!(true), json!("removed")),
        "{ev}"
    );
    // The sender's window does not apply to admins, and removal is idempotent.
    app.clock.advance(Duration::hours(2));
    assert_eq!(
        app.delete(
            &format!("/api/v1/admin/messages/{}", bad["id"]),
            Some(&z.token)
        )
        .await
        .status,
        200
    );
    let shown = app.get(&search("q=cheap"), Some(&z.token)).await.json();
    assert_eq!(
        shown["items"].as_array().expect("items").len(),
        0,
        "the body is gone: {shown}"
    );
    let audit = app.get("/api/v1/admin/audit", Some(&z.token)).await.json();
    let entries = audit["items"].as_array().expect("items");
    assert_eq!(entries.len(), 1, "{audit}");
    let e = &entries[0];
    assert_eq!(
        (
            e["actor_id"].clone(),
            e["action"].clone(),
            e["target_id"].clone(),
            e["reason"].clone()
        ),
        (
            json!(z.id),
            json!("remove_message"),
            bad["id"].clone(),
            json!("spam")
        )
    );
    assert_eq!(e["detail"]["sender_id"], a.id);
    assert!(
        !e.to_string().contains("CHEAP"),
        "the audit keeps no content: {e}"
    );
    app.get("/api/v1/admin/audit", Some(&a.token))
        .await
        .assert_error(403, "admin_only");
    app.delete(
        &format!("/api/v1/admin/messages/{}", bad["id"]),
        Some(&a.token),
    )
    .await
    .assert_error(403, "admin_only");
}

async fn disabling_a_user_closes_their_connections(app: TestApp) {
    let z = app.admin("dz_admin").await;
    let a = app.user("dz_alice").await;
    let (mut ws, _) = app.ws(&a.token).await;
    let r = app
        .patch(
            &format!("/api/v1/admin/users/{}", a.id),
            Some(&z.token),
            json!({"disabled": true, "reason": "abuse"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let bye = ws.next().await;
    assert_eq!(bye["error"]["code"], "account_disabled", "{bye}");
    assert!(ws.next().await.is_null(), "closed");
    let audit = app.get("/api/v1/admin/audit", Some(&z.token)).await.json();
    assert_eq!(audit["items"][0]["action"], "disable_user");
    assert_eq!(audit["items"][0]["reason"], "abuse");
    app.get("/api/v1/me", Some(&a.token))
        .await
        .assert_error(401, "account_disabled");
}

async fn dissolved_groups_are_read_only(app: TestApp) {
    let a = app.user("ds_alice").await;
    let b = app.user("ds_bobby").await;
    let c = app.user("ds_carol").await;
    let room = app.group(&a, "Team", &[b.id]).await;
    say(&app, &b, room, "d1", "before").await;
    let (mut bws, ready) = app.ws(&b.token).await;
    let since = ready["since"].as_i64().expect("since");
    app.delete(&format!("/api/v1/rooms/{room}"), Some(&b.token))
        .await
        .assert_error(403, "not_room_owner");
    let r = app
        .delete(&format!("/api/v1/rooms/{room}"), Some(&a.token))
        .await;
    assert_eq!(r.status, 204, "{}", r.text);
    let updated = bws.next().await;
    assert_eq!(updated["type"], "room_updated", "{updated}");
    assert!(updated["room"]["dissolved_at"].is_string());
    let notice = bws.next().await;
    assert_eq!(
        (
            notice["message"]["event"].clone(),
            notice["message"]["body"].clone()
        ),
        (json!("dissolved"), json!("ds_alice dissolved the group"))
    );

    let send = app
        .post(
            &format!("/api/v1/rooms/{room}/messages"),
            Some(&b.token),
            json!({"client_id": "d2", "kind": "text", "body": "after"}),
        )
        .await;
    send.assert_error(403, "room_dissolved");
    bws.send(json!({"type": "send", "id": "s1", "room_id": room, "client_id": "d3", "kind": "text", "body": "ws"}))
        .await;
    let e = bws.next().await;
    assert_eq!(
        (e["id"].clone(), e["error"]["code"].clone()),
        (json!("s1"), json!("room_dissolved"))
    );
    app.patch(
        &format!("/api/v1/rooms/{room}"),
        Some(&a.token),
        json!({"name": "Again"}),
    )
    .await
    .assert_error(403, "room_dissolved");
    app.post(
        &format!("/api/v1/rooms/{room}/members"),
        Some(&a.token),
        json!({"user_ids": [c.id]}),
    )
    .await
    .assert_error(403, "room_dissolved");
    app.delete(&format!("/api/v1/rooms/{room}"), Some(&a.token))
        .await
        .assert_error(403, "room_dissolved");
    // Still readable; reading and leaving still work.
    let h = app
        .get(&format!("/api/v1/rooms/{room}/messages"), Some(&b.token))
        .await;
    assert_eq!(h.status, 200);
    assert_eq!(
        app.post(
            &format!("/api/v1/rooms/{room}/read"),
            Some(&b.token),
            json!({"seq": 9})
        )
        .await
        .status,
        200
    );
    // The offline device: the notice in sync says what happened.
    let s = sync(&app, &b, since).await;
    let events = s["rooms"][room.to_string()]["events"]
        .as_array()
        .expect("events");
    assert_eq!(events[0]["event"], "dissolved", "{s}");
    assert!(room_view(&app, &b, room).await["dissolved_at"].is_string());
    assert_eq!(
        app.delete(
            &format!("/api/v1/rooms/{room}/members/{}", a.id),
            Some(&a.token)
        )
        .await
        .status,
        204,
        "even the owner may leave a dissolved group"
    );
}

async fn owners_hand_over_and_members_set_group_profiles(app: TestApp) {
    let a = app.user("ho_alice").await;
    let b = app.user("ho_bobby").await;
    let c = app.user("ho_carol").await;
    let room = app.group(&a, "Team", &[b.id, c.id]).await;
    let member = |u: &Login| format!("/api/v1/rooms/{room}/members/{}", u.id);
    // Group profile: yourself only, validated, clearable.
    let r = app
        .patch(
            &member(&b),
            Some(&b.token),
            json!({"nickname": "Bob in Team", "avatar": "https://img.example/b.png"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        (
            r.json()["group_nickname"].clone(),
            r.json()["group_avatar"].clone()
        ),
        (json!("Bob in Team"), json!("https://img.example/b.png"))
    );
    app.patch(&member(&c), Some(&b.token), json!({"nickname": "Renamed"}))
        .await
        .assert_error(403, "not_yourself");
    app.patch(&member(&b), Some(&b.token), json!({"avatar": "ftp://nope"}))
        .await
        .assert_error(422, "validation_failed");
    app.patch(
        &member(&b),
        Some(&b.token),
        json!({"role": "admin", "nickname": "x"}),
    )
    .await
    .assert_error(422, "validation_failed");
    let r = app
        .patch(&member(&b), Some(&b.token), json!({"nickname": null}))
        .await;
    assert!(r.json()["group_nickname"].is_null(), "{}", r.text);

    // Hand-over: only the owner; the old owner becomes an admin.
    app.patch(&member(&c), Some(&b.token), json!({"role": "owner"}))
        .await
        .assert_error(403, "not_room_owner");
    let (mut cws, _) = app.ws(&c.token).await;
    let r = app
        .patch(&member(&c), Some(&a.token), json!({"role": "owner"}))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json()["role"], "owner");
    let updated = cws.until("room_updated").await.0;
    let roles: Vec<_> = updated["members"]
        .as_array()
        .expect("members")
        .iter()
        .map(|m| (m["user"]["id"].clone(), m["role"].clone()))
        .collect();
    assert!(roles.contains(&(json!(a.id), json!("admin"))), "{updated}");
    assert_eq!(
        cws.until("message").await.0["message"]["body"],
        "ho_alice made ho_carol the owner of the group"
    );
    // The new owner rules; the old one cannot remove them.
    app.delete(&member(&c), Some(&a.token))
        .await
        .assert_error(403, "cannot_remove_member");
    app.delete(&member(&c), Some(&c.token))
        .await
        .assert_error(409, "owner_cannot_leave");
    assert_eq!(app.delete(&member(&a), Some(&c.token)).await.status, 204);
    // Removed: no new messages reach or are shown to a.
    say(&app, &c, room, "h1", "after a left").await;
    app.get(&format!("/api/v1/rooms/{room}/messages"), Some(&a.token))
        .await
        .assert_error(404, "room_not_found");
}
