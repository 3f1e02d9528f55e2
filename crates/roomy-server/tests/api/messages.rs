//! Messages over HTTP: durable send, idempotency, validation, history, sync.

use crate::harness::{Login, TestApp};
use serde_json::{Value, json};

crate::backend_tests!(
    http_send_returns_the_committed_message,
    a_repeated_client_id_stores_nothing_new,
    bad_messages_are_refused_field_by_field,
    history_pages_both_ways_with_cursors,
    sync_returns_missed_messages_room_by_room,
);

/// The system message friendship writes in the pair's direct room.
pub(crate) const FRIENDS_NOW: &str = "You are friends now. Start chatting!";

/// The seq of the "friends now" notice in a direct room just opened by
/// `TestApp::direct`, asserting it is all the room holds so far: a test's
/// own messages come right after it.
pub(crate) async fn friends_notice(app: &TestApp, who: &Login, room: i64) -> i64 {
    let h = app
        .get(&format!("/api/v1/rooms/{room}/messages"), Some(&who.token))
        .await
        .json();
    let items = h["items"].as_array().expect("items");
    assert_eq!(items.len(), 1, "only the notice so far: {h}");
    assert_eq!(
        (items[0]["kind"].clone(), items[0]["body"].clone()),
        (json!("system"), json!(FRIENDS_NOW)),
        "{h}"
    );
    items[0]["seq"].as_i64().expect("seq")
}

/// The bodies of a page of messages, in order.
fn bodies(page: &Value) -> Vec<Value> {
    page["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|m| m["body"].clone())
        .collect()
}

/// Sends a text message over HTTP, asserting it was stored.
pub(crate) async fn send(
    app: &TestApp,
    who: &Login,
    room: i64,
    client_id: &str,
    body: &str,
) -> Value {
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

async fn http_send_returns_the_committed_message(app: TestApp) {
    let a = app.user("hs_alice").await;
    let b = app.user("hs_bobby").await;
    let room = app.direct(&a, &b).await;
    let notice = friends_notice(&app, &a, room).await;
    let m = send(&app, &a, room, "c-1", "  hello 👋  ").await;
    assert_eq!(m["seq"], notice + 1);
    assert_eq!(m["room_id"], room);
    assert_eq!(m["body"], "hello 👋");
    assert_eq!(m["kind"], "text");
    assert_eq!(m["client_id"], "c-1");
    assert_eq!(m["sender"]["id"], a.id);
    assert_eq!(m["sender"]["nickname"], "hs_alice");
    assert_eq!(m["revoked"], false);
    let emoji = app
        .post(
            &format!("/api/v1/rooms/{room}/messages"),
            Some(&b.token),
            json!({"client_id": "c-1", "kind": "emoji", "body": "🎉"}),
        )
        .await;
    assert_eq!(emoji.json()["seq"], notice + 2);
    assert_eq!(emoji.json()["kind"], "text");
    // It is there for the other side, and the room list shows it.
    let h = app
        .get(&format!("/api/v1/rooms/{room}/messages"), Some(&b.token))
        .await
        .json();
    assert_eq!(
        bodies(&h),
        vec![json!(FRIENDS_NOW), json!("hello 👋"), json!("🎉")]
    );
    let rooms = app.get("/api/v1/rooms", Some(&b.token)).await.json();
    assert_eq!(rooms["items"][0]["last_seq"], notice + 2);
    assert_eq!(rooms["items"][0]["last_message"]["body"], "🎉");
}

async fn a_repeated_client_id_stores_nothing_new(app: TestApp) {
    let a = app.user("rp_alice").await;
    let b = app.user("rp_bobby").await;
    let room = app.direct(&a, &b).await;
    friends_notice(&app, &a, room).await;
    let first = send(&app, &a, room, "retry-me", "once").await;
    let again = send(&app, &a, room, "retry-me", "twice?").await;
    assert_eq!(first, again);
    let h = app
        .get(&format!("/api/v1/rooms/{room}/messages"), Some(&a.token))
        .await
        .json();
    assert_eq!(bodies(&h), vec![json!(FRIENDS_NOW), json!("once")]);
}

async fn bad_messages_are_refused_field_by_field(app: TestApp) {
    let a = app.user("bm_alice").await;
    let b = app.user("bm_bobby").await;
    let room = app.direct(&a, &b).await;
    friends_notice(&app, &a, room).await;
    let path = format!("/api/v1/rooms/{room}/messages");
    let post = |body: Value| app.post(&path, Some(&a.token), body);
    let r = post(json!({"client_id": "", "kind": "text", "body": "   "})).await;
    r.assert_error(422, "validation_failed");
    let f = &r.json()["error"]["fields"];
    assert!(f["client_id"].is_string() && f["body"].is_string(), "{f}");
    post(json!({"client_id": "a", "kind": "text", "body": "x".repeat(10_001)}))
        .await
        .assert_error(422, "validation_failed");
    post(json!({"client_id": "a", "kind": "text", "body": "é".repeat(10_000)})).await;
    post(json!({"client_id": "b", "kind": "system", "body": "I am the server"}))
        .await
        .assert_error(422, "validation_failed");
    post(json!({"client_id": "c", "kind": "poem", "body": "x"}))
        .await
        .assert_error(422, "validation_failed");
    // A file that is not one of the sender's uploads (see files.rs).
    post(json!({"client_id": "d", "kind": "image", "file_id": 1}))
        .await
        .assert_error(422, "validation_failed");
    post(json!({"client_id": "e", "kind": "text"}))
        .await
        .assert_error(422, "validation_failed");
    post(json!({"client_id": "f", "kind": "text", "body": "x", "extra": true}))
        .await
        .assert_error(422, "invalid_body");
    let h = app
        .get(&format!("{path}?limit=10"), Some(&a.token))
        .await
        .json();
    // The friendship notice, then only the valid one.
    let stored: Vec<_> = h["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|m| (m["kind"].clone(), m["client_id"].clone()))
        .collect();
    assert_eq!(
        stored,
        vec![(json!("system"), Value::Null), (json!("text"), json!("a"))],
        "only the valid one: {h}"
    );
}

async fn history_pages_both_ways_with_cursors(app: TestApp) {
    let a = app.user("hp_alice").await;
    let b = app.user("hp_bobby").await;
    let room = app.direct(&a, &b).await;
    // The room's history: the friendship notice, then four messages; five
    // entries in all, so that pages of two end on a partial page.
    let mut all = vec![friends_notice(&app, &a, room).await];
    for i in 1..=4 {
        let m = send(&app, &a, room, &format!("h{i}"), &format!("m{i}")).await;
        all.push(m["seq"].as_i64().expect("seq"));
    }
    assert!(all.windows(2).all(|w| w[1] == w[0] + 1), "{all:?}");
    let path = format!("/api/v1/rooms/{room}/messages");
    let seqs = |v: &Value| -> Vec<i64> {
        v["items"]
            .as_array()
            .expect("items")
            .iter()
            .map(|m| m["seq"].as_i64().unwrap_or_default())
            .collect()
    };
    let latest = app
        .get(&format!("{path}?limit=2"), Some(&b.token))
        .await
        .json();
    assert_eq!(seqs(&latest), all[3..5]);
    let cursor = latest["next_cursor"].as_str().expect("older pages");
    let older = app
        .get(&format!("{path}?limit=2&cursor={cursor}"), Some(&b.token))
        .await
        .json();
    assert_eq!(seqs(&older), all[1..3]);
    let cursor = older["next_cursor"].as_str().expect("more");
    let oldest = app
        .get(&format!("{path}?limit=2&cursor={cursor}"), Some(&b.token))
        .await
        .json();
    assert_eq!(seqs(&oldest), all[0..1]);
    assert_eq!(oldest["items"][0]["body"], FRIENDS_NOW);
    assert!(oldest["next_cursor"].is_null());

    let forward = app
        .get(
            &format!("{path}?after_seq={}&limit=3", all[0]),
            Some(&b.token),
        )
        .await
        .json();
    assert_eq!(seqs(&forward), all[1..4]);
    let cursor = forward["next_cursor"].as_str().expect("newer pages");
    let rest = app
        .get(&format!("{path}?limit=3&cursor={cursor}"), Some(&b.token))
        .await
        .json();
    assert_eq!(seqs(&rest), all[4..5]);
    let before = app
        .get(&format!("{path}?before_seq={}", all[2]), Some(&b.token))
        .await
        .json();
    assert_eq!(seqs(&before), all[0..2]);

    app.get(&format!("{path}?before_seq=3&after_seq=1"), Some(&b.token))
        .await
        .assert_error(422, "validation_failed");
    app.get(&format!("{path}?limit=0"), Some(&b.token))
        .await
        .assert_error(422, "validation_failed");
    app.get(&format!("{path}?cursor=zzz"), Some(&b.token))
        .await
        .assert_error(422, "validation_failed");
}

async fn sync_returns_missed_messages_room_by_room(app: TestApp) {
    let a = app.user("sy_alice").await;
    let b = app.user("sy_bobby").await;
    let c = app.user("sy_carol").await;
    let ab = app.direct(&a, &b).await;
    let bc = app.direct(&b, &c).await;
    send(&app, &a, ab, "x0", "before").await;
    let first = app.get("/api/v1/sync", Some(&b.token)).await.json();
    let since = first["next"].as_i64().expect("next");
    let events = |s: &Value, room: i64, field: &str| -> Vec<Value> {
        s["rooms"][room.to_string()]["events"]
            .as_array()
            .expect("events")
            .iter()
            .map(|m| m[field].clone())
            .collect()
    };
    assert_eq!(
        events(&first, ab, "body"),
        vec![json!(FRIENDS_NOW), json!("before")]
    );
    assert_eq!(events(&first, bc, "body"), vec![json!(FRIENDS_NOW)]);
    // b's friendships came too: a's request, then both acceptances.
    let notices: Vec<_> = first["notices"]
        .as_array()
        .expect("notices")
        .iter()
        .map(|n| (n["type"].clone(), n["room_id"].clone()))
        .collect();
    assert_eq!(
        notices,
        vec![
            (json!("friend_request"), Value::Null),
            (json!("friend_accepted"), json!(ab)),
            (json!("friend_accepted"), json!(bc)),
        ],
        "{first}"
    );
    assert_eq!(first["notices_limited"], false);

    let mut missed = Vec::new();
    for i in 0..3 {
        let m = send(&app, &a, ab, &format!("a{i}"), &format!("from a {i}")).await;
        missed.push(m["seq"].clone());
    }
    send(&app, &c, bc, "c0", "from c").await;
    let s = app
        .get(&format!("/api/v1/sync?since={since}"), Some(&b.token))
        .await
        .json();
    assert_eq!(events(&s, ab, "seq"), missed);
    assert_eq!(
        events(&s, ab, "body"),
        vec![json!("from a 0"), json!("from a 1"), json!("from a 2")]
    );
    assert_eq!(s["rooms"][ab.to_string()]["limited"], false);
    assert_eq!(events(&s, bc, "body"), vec![json!("from c")]);
    assert_eq!(s["notices"], json!([]), "no new friendships: {s}");
    let next = s["next"].as_i64().expect("next");
    assert!(next > since);

    let cut = app
        .get(
            &format!("/api/v1/sync?since={since}&limit=2"),
            Some(&b.token),
        )
        .await
        .json();
    assert_eq!(cut["rooms"][ab.to_string()]["limited"], true);
    assert_eq!(events(&cut, ab, "seq"), missed[1..3]);

    let none = app
        .get(&format!("/api/v1/sync?since={next}"), Some(&b.token))
        .await
        .json();
    assert_eq!(none["rooms"], json!({}));
    assert_eq!(none["notices"], json!([]));
    assert_eq!(none["next"], next);
    app.get("/api/v1/sync?since=-1", Some(&b.token))
        .await
        .assert_error(422, "validation_failed");
}
