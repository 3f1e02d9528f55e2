//! Everything live crosses nodes: two (or three) servers on one PostgreSQL
//! database and one network bus, with the actor on one node and the
//! observer's WebSocket on another, for every kind of live event: messages
//! and acks (in order, each once), read positions and receipts, typing,
//! presence, revocations, deletes on other devices, favorites, membership
//! and room changes, friend requests and their notices, thumbnails made on
//! either node, and ended sessions, also those a node's bus lost while it
//! was cut off. Most run over NATS and over Redis;
//! those that take long, or need shared file storage, over NATS only.
//! Skipped without `ROOMY_TEST_POSTGRES_URL` and the bus server's variable
//! (`ROOMY_TEST_NATS_URL`, `ROOMY_TEST_REDIS_URL`), failing instead under
//! `ROOMY_TEST_REQUIRE_SERVICES=1` (see `bus.rs`).

use crate::bus::{Net, OwnNats, bus_url, on_bus};
use crate::files::{png, run_jobs, send_file, simple_upload};
use crate::harness::{Backend, Login, TestApp, Ws, cluster_node};
use crate::messages::send;
use roomy_core::{Clock, Config};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

/// Generates one test over NATS and one over Redis for each listed `async fn(Net)`.
macro_rules! over_both_buses {
    ($($name:ident),* $(,)?) => {
        mod nats {
            $(
                #[tokio::test]
                async fn $name() {
                    super::$name(super::Net::Nats).await;
                }
            )*
        }
        mod redis {
            $(
                #[tokio::test]
                async fn $name() {
                    super::$name(super::Net::Redis).await;
                }
            )*
        }
    };
}

over_both_buses!(
    messages_and_acks_cross_in_order_each_once,
    read_positions_and_receipts_cross,
    typing_crosses,
    revokes_deletes_and_favorites_cross,
    membership_and_room_changes_cross,
    friend_requests_and_their_notices_cross,
    presence_crosses_and_counts_every_node,
    ended_sessions_close_sockets_on_the_other_node_within_a_second,
);

/// How long another node's presence lease counts without a renewal, and how
/// often each node renews its own and checks the others' (`LEASE_TTL` and
/// `LEASE_EVERY` in `roomy-app`'s presence module).
const LEASE_TTL: Duration = Duration::from_secs(30);
const LEASE_EVERY: Duration = Duration::from_secs(10);

/// The first node of a cluster on the bus `net`, on a fresh PostgreSQL
/// database; `None` (skipped) when PostgreSQL or the bus is not configured.
async fn first_node(net: Net, adjust: impl FnOnce(&mut Config)) -> Option<TestApp> {
    let url = bus_url(net)?;
    TestApp::spawn_with(Backend::Postgres, |c| {
        cluster_node(c);
        on_bus(c, net, &url);
        adjust(c);
    })
    .await
}

/// Another node of `first`'s cluster: its database, token secret, bus and
/// channel, and from now on the same (manual) time.
async fn join(first: &TestApp, net: Net, adjust: impl FnOnce(&mut Config)) -> TestApp {
    let url = bus_url(net).expect("the first node's bus");
    let shared = first.config.clone();
    // `Sqlite` only spares making a database of its own: the URL set here
    // is the first node's PostgreSQL database.
    let node = TestApp::spawn_with(Backend::Sqlite, |c| {
        c.database_url = shared.database_url.clone();
        c.jwt_secret = shared.jwt_secret.clone();
        c.shared_files = true;
        c.bus_channel = shared.bus_channel.clone();
        on_bus(c, net, &url);
        adjust(c);
    })
    .await
    .expect("a node joining a running cluster starts");
    // Each node's manual clock starts at its own start: one time for all,
    // so that what one node schedules (a file job) is due on the others.
    let (theirs, mine) = (first.clock.now(), node.clock.now());
    if theirs > mine {
        node.clock.advance(theirs - mine);
    } else {
        first.clock.advance(mine - theirs);
    }
    node
}

/// Nodes A and B with `adjust` applied to both; `None` when skipped.
async fn pair(net: Net, adjust: fn(&mut Config)) -> Option<(TestApp, TestApp)> {
    let a = first_node(net, adjust).await?;
    let b = join(&a, net, adjust).await;
    Some((a, b))
}

/// The next `n` frames of `ws`.
async fn take(ws: &mut Ws, n: usize) -> Vec<Value> {
    let mut frames = Vec::with_capacity(n);
    for _ in 0..n {
        let f = ws.next().await;
        assert!(!f.is_null(), "closed after {frames:?}");
        frames.push(f);
    }
    frames
}

/// The one frame of type `kind` among `frames`.
fn only<'a>(frames: &'a [Value], kind: &str) -> &'a Value {
    let of_kind: Vec<&Value> = frames.iter().filter(|f| f["type"] == kind).collect();
    assert_eq!(of_kind.len(), 1, "one {kind} in {frames:?}");
    of_kind[0]
}

/// A room change and its system message, in either order: the change has
/// no stream position and is delivered as it arrives, while the message
/// waits on the receiving node until every position before it has been
/// delivered (those the bus did not bring, such as the ones the quiet
/// harness helpers write without an event, are read from the database).
async fn change_and_notice(ws: &mut Ws, kind: &str, body: &str) -> Value {
    let frames = take(ws, 2).await;
    assert_eq!(only(&frames, "message")["message"]["body"], body);
    only(&frames, kind).clone()
}

fn presence(who: &Login, online: bool) -> Value {
    json!({"type": "presence", "user_id": who.id, "online": online})
}

fn typing(room: i64, who: &Login) -> Value {
    json!({"type": "typing", "room_id": room, "user_id": who.id})
}

/// A connection of `who` on `node` that sees presence frames.
async fn watch(node: &TestApp, who: &Login) -> Ws {
    node.ws(&who.token).await.0.with_presence()
}

/// Connects `probe` on `node` and asserts each watcher hears of it next,
/// after nothing but at most one `allowed` frame: a node announces presence
/// changes in the order they happen and the bus keeps one publisher's
/// order, so whatever that node announced before the probe came first.
async fn barrier(
    node: &TestApp,
    watchers: &mut [&mut Ws],
    probe: &Login,
    allowed: Option<&Value>,
) -> Ws {
    let (ws, _) = node.ws(&probe.token).await;
    let probe_online = presence(probe, true);
    for w in watchers.iter_mut() {
        let mut before = Vec::new();
        loop {
            let f = w.next().await;
            assert!(
                !f.is_null(),
                "closed waiting for the probe after {before:?}"
            );
            if f == probe_online {
                break;
            }
            before.push(f);
        }
        assert!(
            before.len() <= 1 && before.iter().all(|f| Some(f) == allowed),
            "before the probe: {before:?}"
        );
    }
    ws
}

// ---------------------------------------------------------------------------

/// A message sent on A is acked on A and reaches the recipient and the
/// sender's second device on B, and back; then both sides pipeline sends
/// from different nodes at once, and every connection on either node sees
/// each seq once, in order, its own as acks.
async fn messages_and_acks_cross_in_order_each_once(net: Net) {
    let Some((a, b)) = pair(net, |_| {}).await else {
        return;
    };
    let alice = a.user("cl_alice").await;
    let bob = a.user("cl_bobby").await;
    let room = a.direct(&alice, &bob).await;
    let (mut alice_a, _) = a.ws(&alice.token).await;
    let (mut alice_b, _) = b.ws(&alice.token).await;
    let (mut bob_b, _) = b.ws(&bob.token).await;
    let (mut bob_a, _) = a.ws(&bob.token).await;

    let ack = alice_a.send_text("s1", room, "c-1", "from A").await;
    for ws in [&mut bob_b, &mut alice_b, &mut bob_a] {
        let f = ws.next().await;
        assert_eq!(f["type"], "message", "{f}");
        assert_eq!(f["message"], ack["message"], "{f}");
    }
    let reply = bob_b.send_text("s2", room, "c-2", "from B").await;
    for ws in [&mut alice_a, &mut alice_b, &mut bob_a] {
        let f = ws.next().await;
        assert_eq!(f["type"], "message", "{f}");
        assert_eq!(f["message"], reply["message"], "{f}");
    }
    let first = reply["message"]["seq"].as_i64().expect("seq") + 1;

    let n: i64 = 40;
    for i in 0..n {
        for (ws, who) in [(&mut alice_a, "a"), (&mut bob_b, "b")] {
            ws.send(
                json!({"type": "send", "id": format!("{who}{i}"), "room_id": room,
                           "client_id": format!("{who}{i}"), "kind": "text",
                           "body": format!("{who}{i}")}),
            )
            .await;
        }
    }
    for (ws, mine) in [
        (&mut alice_a, Some("a")),
        (&mut bob_b, Some("b")),
        (&mut alice_b, None),
        (&mut bob_a, None),
    ] {
        let mut seqs = Vec::new();
        let mut acks = 0;
        for f in take(ws, 2 * n as usize).await {
            let body = f["message"]["body"].as_str().unwrap_or_default().to_owned();
            match (f["type"].as_str(), mine) {
                (Some("ack"), Some(me)) => {
                    assert!(body.starts_with(me), "an ack of another's send: {f}");
                    assert_eq!(f["id"], body, "{f}");
                    acks += 1;
                }
                (Some("message"), me) => {
                    assert!(
                        me.is_none_or(|me| !body.starts_with(me)),
                        "own send as a message: {f}"
                    );
                }
                _ => panic!("unexpected {f}"),
            }
            seqs.push(f["message"]["seq"].as_i64().expect("seq"));
        }
        assert_eq!(seqs, (first..first + 2 * n).collect::<Vec<_>>());
        assert_eq!(acks, if mine.is_some() { n } else { 0 });
        ws.assert_quiet().await;
    }
    // Stored once each: the room ends where the deliveries did.
    let view = b
        .get(&format!("/api/v1/rooms/{room}"), Some(&bob.token))
        .await
        .json();
    assert_eq!(view["last_seq"], first + 2 * n - 1, "{view}");

    // Each node's bus counted what crossed, and nothing went wrong on it.
    for node in [&a, &b] {
        let text = node.get("/metrics", None).await.text;
        let value = |name: &str| -> u64 {
            text.lines()
                .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
                .unwrap_or_else(|| panic!("no {name} in {text}"))
        };
        assert!(value("roomy_bus_sent_total") > n as u64, "{text}");
        assert!(value("roomy_bus_received_total") > n as u64, "{text}");
        for lost in [
            "roomy_bus_queue_full_total",
            "roomy_bus_unsent_total",
            "roomy_bus_undecodable_total",
            "roomy_bus_repeated_total",
        ] {
            assert_eq!(value(lost), 0, "{lost}: {text}");
        }
    }
}

/// Bob marks a room read on A: his device on B moves its badge and Alice,
/// on B, gets the receipt; marked over the WebSocket on B, the reply (with
/// its id) stays on the asking connection and the others hear it plainly.
async fn read_positions_and_receipts_cross(net: Net) {
    let Some((a, b)) = pair(net, |_| {}).await else {
        return;
    };
    let alice = a.user("cl_alice").await;
    let bob = a.user("cl_bobby").await;
    let room = a.direct(&alice, &bob).await;
    let m1 = send(&a, &alice, room, "r1", "read me").await;
    let (mut bob_b, _) = b.ws(&bob.token).await;
    let (mut bob_a, _) = a.ws(&bob.token).await;
    let (mut alice_b, _) = b.ws(&alice.token).await;
    let read_of = |f: &Value| {
        (
            f["type"].clone(),
            f["room_id"].clone(),
            f["user_id"].clone(),
            f["seq"].clone(),
        )
    };

    let r = a
        .post(
            &format!("/api/v1/rooms/{room}/read"),
            Some(&bob.token),
            json!({"seq": m1["seq"]}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    for ws in [&mut bob_b, &mut bob_a, &mut alice_b] {
        let f = ws.next().await;
        assert_eq!(
            read_of(&f),
            (json!("read"), json!(room), json!(bob.id), m1["seq"].clone()),
            "{f}"
        );
        assert!(f["id"].is_null() && f["position"].is_i64(), "{f}");
    }

    let m2 = send(&a, &alice, room, "r2", "and me").await;
    for ws in [&mut bob_b, &mut bob_a, &mut alice_b] {
        assert_eq!(ws.next().await["message"]["id"], m2["id"]);
    }
    bob_b
        .send(json!({"type": "read", "id": "w1", "room_id": room, "seq": 99}))
        .await;
    let reply = bob_b.next().await;
    assert_eq!(
        (read_of(&reply), reply["id"].clone()),
        (
            (json!("read"), json!(room), json!(bob.id), m2["seq"].clone()),
            json!("w1")
        ),
        "{reply}"
    );
    for ws in [&mut bob_a, &mut alice_b] {
        let f = ws.next().await;
        assert_eq!(read_of(&f), read_of(&reply), "{f}");
        assert!(
            f["id"].is_null(),
            "the request id stays with the asker: {f}"
        );
    }
    for ws in [&mut bob_b, &mut bob_a, &mut alice_b] {
        ws.assert_quiet().await;
    }
    let view = b
        .get(&format!("/api/v1/rooms/{room}"), Some(&alice.token))
        .await
        .json();
    assert_eq!(view["peer_read_seq"], m2["seq"], "{view}");
}

/// Typing on A reaches the other members' devices on both nodes, not the
/// typist's own devices nor an outsider; and back from B.
async fn typing_crosses(net: Net) {
    let Some((a, b)) = pair(net, |_| {}).await else {
        return;
    };
    let alice = a.user("cl_alice").await;
    let bob = a.user("cl_bobby").await;
    let carol = a.user("cl_carol").await;
    let dave = a.user("cl_dave1").await;
    let room = a.group(&alice, "Typing", &[bob.id, carol.id]).await;
    let (mut alice_a, _) = a.ws(&alice.token).await;
    let (mut alice_b, _) = b.ws(&alice.token).await;
    let (mut bob_b, _) = b.ws(&bob.token).await;
    let (mut bob_a, _) = a.ws(&bob.token).await;
    let (mut carol_b, _) = b.ws(&carol.token).await;
    let (mut dave_b, _) = b.ws(&dave.token).await;

    alice_a
        .send(json!({"type": "typing", "id": 1, "room_id": room}))
        .await;
    for ws in [&mut bob_b, &mut bob_a, &mut carol_b] {
        assert_eq!(ws.next().await, typing(room, &alice));
    }
    for ws in [&mut alice_a, &mut alice_b, &mut dave_b] {
        ws.assert_quiet().await;
    }

    bob_b
        .send(json!({"type": "typing", "id": 2, "room_id": room}))
        .await;
    for ws in [&mut alice_a, &mut alice_b, &mut carol_b] {
        assert_eq!(ws.next().await, typing(room, &bob));
    }
    for ws in [&mut bob_b, &mut bob_a, &mut dave_b, &mut carol_b] {
        ws.assert_quiet().await;
    }
}

/// A revoke on A, a delete-for-me on A, favorites changed on A and on B,
/// and an administrator's removal on B reach the devices on the other node.
async fn revokes_deletes_and_favorites_cross(net: Net) {
    let Some((a, b)) = pair(net, |_| {}).await else {
        return;
    };
    let alice = a.user("cl_alice").await;
    let bob = a.user("cl_bobby").await;
    let admin = b.admin("cl_admin").await;
    let room = a.group(&alice, "Team", &[bob.id]).await;
    let m1 = send(&a, &alice, room, "x1", "oops").await;
    let m2 = send(&a, &alice, room, "x2", "not for bob").await;
    let m3 = send(&a, &alice, room, "x3", "a keeper").await;
    let (mut bob_b, _) = b.ws(&bob.token).await;
    let (mut bob_a, _) = a.ws(&bob.token).await;
    let (mut alice_b, _) = b.ws(&alice.token).await;

    let r = a
        .post(
            &format!("/api/v1/messages/{}/revoke", m1["id"]),
            Some(&alice.token),
            json!({}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    for ws in [&mut bob_b, &mut bob_a, &mut alice_b] {
        let f = ws.next().await;
        assert_eq!(
            (
                f["type"].clone(),
                f["message_id"].clone(),
                f["by_admin"].clone()
            ),
            (json!("revoked"), m1["id"].clone(), json!(false)),
            "{f}"
        );
        assert_eq!(f["notice"]["body"], "cl_alice revoked a message", "{f}");
        assert!(f["message"]["body"].is_null(), "{f}");
    }

    let r = a
        .delete(&format!("/api/v1/messages/{}", m2["id"]), Some(&bob.token))
        .await;
    assert_eq!(r.status, 204, "{}", r.text);
    for ws in [&mut bob_b, &mut bob_a] {
        let f = ws.next().await;
        assert_eq!(
            (f["type"].clone(), f["message_ids"].clone()),
            (json!("messages_deleted"), json!([m2["id"]])),
            "{f}"
        );
    }
    alice_b.assert_quiet().await;

    let fav = format!("/api/v1/me/favorites/{}", m3["id"]);
    assert_eq!(a.put(&fav, Some(&bob.token)).await.status, 201);
    let mut on = Value::Null;
    for ws in [&mut bob_b, &mut bob_a] {
        let f = ws.next().await;
        assert_eq!(
            (
                f["type"].clone(),
                f["message_id"].clone(),
                f["favorite"].clone()
            ),
            (json!("favorite_changed"), m3["id"].clone(), json!(true)),
            "{f}"
        );
        on = f;
    }
    assert_eq!(b.delete(&fav, Some(&bob.token)).await.status, 204);
    for ws in [&mut bob_b, &mut bob_a] {
        let f = ws.next().await;
        assert_eq!(
            (
                f["type"].clone(),
                f["message_id"].clone(),
                f["favorite"].clone()
            ),
            (json!("favorite_changed"), m3["id"].clone(), json!(false)),
            "{f}"
        );
        assert!(f["position"].as_i64() > on["position"].as_i64(), "{f}");
    }
    alice_b.assert_quiet().await;

    let r = b
        .delete(
            &format!("/api/v1/admin/messages/{}?reason=test", m3["id"]),
            Some(&admin.token),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    for ws in [&mut bob_b, &mut bob_a, &mut alice_b] {
        let f = ws.next().await;
        assert_eq!(
            (
                f["type"].clone(),
                f["message_id"].clone(),
                f["by_admin"].clone()
            ),
            (json!("revoked"), m3["id"].clone(), json!(true)),
            "{f}"
        );
    }
    for ws in [&mut bob_b, &mut bob_a, &mut alice_b] {
        ws.assert_quiet().await;
    }
}

/// The owner, on A, makes a group, adds a member, renames it and removes
/// the member: the members' connections on B hear of each, and the removed
/// one nothing after; a member leaving on B is heard by the owner on A.
async fn membership_and_room_changes_cross(net: Net) {
    let Some((a, b)) = pair(net, |_| {}).await else {
        return;
    };
    let owner = a.user("cl_owner").await;
    let bob = a.user("cl_bobby").await;
    let carol = a.user("cl_carol").await;
    a.befriend_ids(&owner, &[bob.id, carol.id]).await;
    let (mut bob_b, _) = b.ws(&bob.token).await;
    let (mut carol_b, _) = b.ws(&carol.token).await;

    let room = a.group(&owner, "Live", &[bob.id]).await;
    let joined = change_and_notice(
        &mut bob_b,
        "member_joined",
        "cl_owner created the group Live",
    )
    .await;
    assert_eq!(joined["room_id"], room, "{joined}");
    carol_b.assert_quiet().await;

    let r = a
        .post(
            &format!("/api/v1/rooms/{room}/members"),
            Some(&owner.token),
            json!({"user_ids": [carol.id]}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    for ws in [&mut bob_b, &mut carol_b] {
        let j = change_and_notice(ws, "member_joined", "cl_owner added cl_carol").await;
        assert_eq!(j["members"][0]["user"]["id"], carol.id, "{j}");
    }

    let r = a
        .patch(
            &format!("/api/v1/rooms/{room}"),
            Some(&owner.token),
            json!({"name": "Renamed"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    for ws in [&mut bob_b, &mut carol_b] {
        let u =
            change_and_notice(ws, "room_updated", "cl_owner renamed the group to Renamed").await;
        assert_eq!(u["room"]["name"], "Renamed", "{u}");
    }

    let r = a
        .delete(
            &format!("/api/v1/rooms/{room}/members/{}", carol.id),
            Some(&owner.token),
        )
        .await;
    assert_eq!(r.status, 204, "{}", r.text);
    let l = change_and_notice(&mut bob_b, "member_left", "cl_owner removed cl_carol").await;
    assert_eq!(l["user_id"], carol.id, "{l}");
    let frames = take(&mut carol_b, 3).await;
    assert_eq!(only(&frames, "member_left")["user_id"], carol.id);
    assert_eq!(
        only(&frames, "message")["message"]["body"],
        "cl_owner removed cl_carol"
    );
    let gone = only(&frames, "room_left");
    assert_eq!(
        (&gone["room_id"], &gone["by"]),
        (&json!(room), &json!(owner.id))
    );
    let after = send(&a, &owner, room, "m1", "after carol").await;
    assert_eq!(bob_b.next().await["message"]["id"], after["id"]);
    carol_b.assert_quiet().await;

    // The other way: bob leaves on B, the owner hears it on A.
    let (mut owner_a, _) = a.ws(&owner.token).await;
    let r = b
        .delete(
            &format!("/api/v1/rooms/{room}/members/{}", bob.id),
            Some(&bob.token),
        )
        .await;
    assert_eq!(r.status, 204, "{}", r.text);
    let l = change_and_notice(&mut owner_a, "member_left", "cl_bobby left the group").await;
    assert_eq!(l["user_id"], bob.id, "{l}");
    // The leaver's own devices on B (where it happened) hear it too.
    let frames = take(&mut bob_b, 3).await;
    assert_eq!(only(&frames, "member_left")["user_id"], bob.id);
    assert_eq!(only(&frames, "room_left")["room_id"], room);
    only(&frames, "message");
    for ws in [&mut owner_a, &mut carol_b, &mut bob_b] {
        ws.assert_quiet().await;
    }
}

/// Alice acts on A and listens on B, Bob the other way round: her request
/// reaches Bob, and his agreement (the direct room, its notice, the
/// `friend_accepted`) reaches both.
async fn friend_requests_and_their_notices_cross(net: Net) {
    let Some((a, b)) = pair(net, |_| {}).await else {
        return;
    };
    let alice = a.user("cl_alice").await;
    let bob = a.user("cl_bobby").await;
    let (mut alice_b, _) = b.ws(&alice.token).await;
    let (mut bob_a, _) = a.ws(&bob.token).await;

    let sent = a
        .post(
            "/api/v1/friend-requests",
            Some(&alice.token),
            json!({"user_id": bob.id, "note": "hi from A"}),
        )
        .await;
    assert_eq!(sent.status, 201, "{}", sent.text);
    let id = sent.json()["id"].clone();
    let f = bob_a.next().await;
    assert_eq!(
        (
            f["type"].clone(),
            f["request"]["id"].clone(),
            f["request"]["note"].clone()
        ),
        (json!("friend_request"), id.clone(), json!("hi from A")),
        "{f}"
    );
    alice_b.assert_quiet().await;

    let r = b
        .post(
            &format!("/api/v1/friend-requests/{id}/answer"),
            Some(&bob.token),
            json!({"decision": "agree"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let mut rooms = Vec::new();
    for ws in [&mut alice_b, &mut bob_a] {
        let frames = take(ws, 3).await;
        let accepted = only(&frames, "friend_accepted");
        assert_eq!(accepted["request"]["id"], id, "{accepted}");
        let room = accepted["room_id"].clone();
        assert_eq!(only(&frames, "member_joined")["room_id"], room);
        let notice = &only(&frames, "message")["message"];
        assert_eq!(
            (&notice["room_id"], &notice["body"]),
            (&room, &json!("You are friends now. Start chatting!"))
        );
        // Positions order the notice before the acceptance.
        let at = |f: &Value| frames.iter().position(|g| g == f);
        assert!(at(only(&frames, "message")) < at(accepted), "{frames:?}");
        rooms.push(room);
        ws.assert_quiet().await;
    }
    assert_eq!(rooms[0], rooms[1]);
}

/// Watchers on both nodes (grace 0): a user online on A is seen on B; also
/// online on B, leaving A changes nothing for anyone; leaving B as well
/// takes the user offline everywhere, once.
async fn presence_crosses_and_counts_every_node(net: Net) {
    let Some((a, b)) = pair(net, |c| c.presence_grace_secs = 0).await else {
        return;
    };
    let u = a.user("cl_user1").await;
    let wa = a.user("cl_watch_a").await;
    let wb = a.user("cl_watch_b").await;
    let probes = [a.user("cl_probe1").await, a.user("cl_probe2").await];
    let others = [u.id, probes[0].id, probes[1].id];
    // One group per watcher: the watchers do not hear of each other.
    a.group(&wa, "Watch A", &others).await;
    a.group(&wb, "Watch B", &others).await;
    let mut on_a = watch(&a, &wa).await;
    let mut on_b = watch(&b, &wb).await;

    let (u_a, _) = a.ws(&u.token).await;
    for w in [&mut on_a, &mut on_b] {
        assert_eq!(w.next().await, presence(&u, true));
    }
    // Also on B: no offline; a second online is allowed (each node
    // announces its own first connection).
    let (u_b, _) = b.ws(&u.token).await;
    let _p1 = barrier(
        &b,
        &mut [&mut on_a, &mut on_b],
        &probes[0],
        Some(&presence(&u, true)),
    )
    .await;

    // Leaving A while on B: nothing for anyone.
    drop(u_a);
    a.wait_connections(u.id, 0).await;
    let _p2 = barrier(&a, &mut [&mut on_a, &mut on_b], &probes[1], None).await;
    assert!(a.is_online(u.id) && b.is_online(u.id));

    // Leaving B too: offline, once, on both nodes.
    drop(u_b);
    for w in [&mut on_a, &mut on_b] {
        assert_eq!(w.next().await, presence(&u, false));
        w.assert_quiet().await;
    }
    assert!(!a.is_online(u.id) && !b.is_online(u.id));
}

/// What a node's bus lost, it cannot hear: a logout on A never reaches B
/// when B's bus is a NATS server of its own. Once B's bus connection comes
/// back (that server restarted), B re-checks its connections' sessions and
/// closes the one that ended meanwhile, and only that one. Without the
/// re-check the socket would stay open until the client left.
#[tokio::test]
async fn a_node_whose_bus_was_interrupted_closes_the_sessions_ended_meanwhile() {
    let Some(mut own) = OwnNats::start() else {
        return;
    };
    let Some(a) = first_node(Net::Nats, |_| {}).await else {
        return;
    };
    let url = own.url();
    let b = join(&a, Net::Nats, |c| {
        c.nats_url = Some(roomy_core::config::Redacted::new(url));
    })
    .await;
    let alice = a.user("cl_alice").await;
    let other = b.login("cl_alice", crate::harness::PASSWORD).await;
    let (mut ended_b, _) = b.ws(&alice.token).await;
    let (mut kept_b, _) = b.ws(&other.token).await;

    let r = a
        .post("/api/v1/auth/logout", Some(&alice.token), json!({}))
        .await;
    assert_eq!(r.status, 204, "{}", r.text);
    // B heard nothing: the news went out on a bus B is not on (and B's
    // database beacon brings positions, which a logout has none of).
    assert_eq!(
        ended_b.next_within(Duration::from_millis(1_500)).await,
        None
    );

    own.restart();
    let f = ended_b
        .next_within(Duration::from_secs(20))
        .await
        .expect("the ended session closed once B's bus was back");
    assert_eq!(f["error"]["code"], "session_ended", "{f}");
    assert!(ended_b.next().await.is_null(), "closed");
    kept_b.assert_quiet().await;
    let metrics = b.get("/metrics", None).await.text;
    assert!(
        !metrics.contains("roomy_bus_interruptions_total 0"),
        "{metrics}"
    );
}

/// A logout on A closes that session's sockets on B (and A) within a
/// second, not the user's other session; an account disabled on B closes
/// the rest on A, as fast.
async fn ended_sessions_close_sockets_on_the_other_node_within_a_second(net: Net) {
    let Some((a, b)) = pair(net, |_| {}).await else {
        return;
    };
    let alice = a.user("cl_alice").await;
    let other = b.login("cl_alice", crate::harness::PASSWORD).await;
    let admin = b.admin("cl_admin").await;
    let (mut ended_b, _) = b.ws(&alice.token).await;
    let (mut ended_a, _) = a.ws(&alice.token).await;
    let (mut kept_a, _) = a.ws(&other.token).await;

    let t0 = Instant::now();
    let r = a
        .post("/api/v1/auth/logout", Some(&alice.token), json!({}))
        .await;
    assert_eq!(r.status, 204, "{}", r.text);
    let f = ended_b.next().await;
    assert_eq!(f["error"]["code"], "session_ended", "{f}");
    assert!(ended_b.next().await.is_null(), "closed");
    let took = t0.elapsed();
    eprintln!("{net:?}: a logout on A closed the socket on B after {took:?}");
    assert!(took < Duration::from_secs(1), "{took:?}");
    assert_eq!(ended_a.next().await["error"]["code"], "session_ended");
    kept_a.assert_quiet().await;

    let t0 = Instant::now();
    let r = b
        .patch(
            &format!("/api/v1/admin/users/{}", alice.id),
            Some(&admin.token),
            json!({"disabled": true, "reason": "test"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let f = kept_a.next().await;
    assert_eq!(f["error"]["code"], "account_disabled", "{f}");
    assert!(kept_a.next().await.is_null(), "closed");
    let took = t0.elapsed();
    eprintln!("{net:?}: disabling on B closed the socket on A after {took:?}");
    assert!(took < Duration::from_secs(1), "{took:?}");
}

// ---------------------------------------------------------------------------
// Files: both nodes need the same storage.

/// Thumbnails made on either node, of an image uploaded on the other, reach
/// the uploader's and the room's connections on both nodes, once: `a` and
/// `b` share their file storage and run jobs only when told.
async fn thumbnails_made_on_either_node_reach_both(a: TestApp, b: TestApp) {
    let alice = a.user("cl_alice").await;
    let bob = a.user("cl_bobby").await;
    let room = a.group(&alice, "Pictures", &[bob.id]).await;
    let mut conns = Vec::new();
    for node in [&a, &b] {
        for who in [&alice, &bob] {
            conns.push(node.ws(&who.token).await.0);
        }
    }
    // Uploaded and sent on one node, thumbnailed on the other.
    for (upload_on, jobs_on) in [(&a, &b), (&b, &a)] {
        let up = simple_upload(upload_on, &alice, "cat.png", &png(200, 100)).await;
        assert_eq!(up.status, 201, "{}", String::from_utf8_lossy(&up.body));
        let id = up.json()["id"].as_i64().expect("file id");
        let sent = send_file(upload_on, &alice, room, "image", id).await;
        assert_eq!(sent.status, 201, "{}", sent.text);
        for ws in conns.iter_mut() {
            let f = ws.next().await;
            assert_eq!(f["message"]["file"]["id"], id, "{f}");
            assert!(f["message"]["file"]["thumbnail_url"].is_null(), "{f}");
        }
        assert!(run_jobs(jobs_on).await >= 1, "the thumbnail job ran");
        for ws in conns.iter_mut() {
            let f = ws.next().await;
            assert_eq!(
                (f["type"].clone(), f["file"]["id"].clone()),
                (json!("file_updated"), json!(id)),
                "{f}"
            );
            assert_eq!(
                f["file"]["thumbnail_url"],
                format!("/api/v1/files/{id}/thumbnail")
            );
        }
        for ws in conns.iter_mut() {
            ws.assert_quiet().await;
        }
        let thumb = upload_on
            .get(&format!("/api/v1/files/{id}/thumbnail"), Some(&bob.token))
            .await;
        assert_eq!(thumb.status, 200);
    }
}

/// Over NATS, the second node's data folder being the first's: the
/// `shared_files` setup (a folder every node mounts).
#[tokio::test]
async fn thumbnails_cross_with_a_shared_folder() {
    let Some(a) = first_node(Net::Nats, crate::files::adjust).await else {
        return;
    };
    let folder = a.config.data_dir.clone();
    let b = join(&a, Net::Nats, |c| {
        crate::files::adjust(c);
        c.data_dir = folder;
    })
    .await;
    thumbnails_made_on_either_node_reach_both(a, b).await;
}

/// Over NATS, both nodes' files in one S3 bucket (`ROOMY_TEST_S3_URL`);
/// skipped without it.
#[tokio::test]
async fn thumbnails_cross_with_s3() {
    let Some(place) = crate::files::on_s3::bucket().await else {
        return;
    };
    let Some(a) = first_node(Net::Nats, |c| crate::files::on_s3::in_bucket(c, &place)).await else {
        return;
    };
    let b = join(&a, Net::Nats, |c| crate::files::on_s3::in_bucket(c, &place)).await;
    assert_ne!(a.config.data_dir, b.config.data_dir);
    thumbnails_made_on_either_node_reach_both(a, b).await;
}

// ---------------------------------------------------------------------------
// A node that stops.

/// A user connected only on node C, which stops: the watchers on A and B
/// see it go offline, once each, when C's presence lease runs out (within
/// `LEASE_TTL + LEASE_EVERY` of C's last renewal). C stops by its shutdown
/// signal; as that announces nothing (see the next test), it is what a
/// killed node looks like to the others.
#[tokio::test]
async fn a_stopped_nodes_users_go_offline_when_its_lease_ends() {
    let adjust = |c: &mut Config| c.presence_grace_secs = 0;
    let Some(a) = first_node(Net::Nats, adjust).await else {
        return;
    };
    let b = join(&a, Net::Nats, adjust).await;
    let c = join(&a, Net::Nats, adjust).await;
    let v = a.user("cl_on_c").await;
    let wa = a.user("cl_watch_a").await;
    let wb = a.user("cl_watch_b").await;
    a.group(&wa, "Watch A", &[v.id]).await;
    a.group(&wb, "Watch B", &[v.id]).await;
    let mut on_a = watch(&a, &wa).await;
    let mut on_b = watch(&b, &wb).await;
    let (_v_c, _) = c.ws(&v.token).await;
    for w in [&mut on_a, &mut on_b] {
        assert_eq!(w.next().await, presence(&v, true));
    }

    let stopped = Instant::now();
    c.stop();
    let bound = LEASE_TTL + LEASE_EVERY + Duration::from_secs(5);
    for w in [&mut on_a, &mut on_b] {
        let f = w.next_within(bound.saturating_sub(stopped.elapsed())).await;
        assert_eq!(
            f,
            Some(presence(&v, false)),
            "offline within {bound:?} of the stop"
        );
        eprintln!(
            "offline seen {:?} after the node stopped",
            stopped.elapsed()
        );
    }
    for w in [&mut on_a, &mut on_b] {
        w.assert_quiet().await;
    }
    assert!(!a.is_online(v.id) && !b.is_online(v.id));
}

/// A node stopped in order (its shutdown signal) closes its connections
/// with 1001; its users, gone from every node, should be announced offline
/// as any closed last connection is (after the grace, here 0), not only
/// when the node's lease runs out 20 to 40 seconds later.
#[tokio::test]
async fn a_cleanly_stopped_node_announces_its_users_offline() {
    let adjust = |c: &mut Config| c.presence_grace_secs = 0;
    let Some((a, b)) = pair(Net::Nats, adjust).await else {
        return;
    };
    let v = a.user("cl_on_b").await;
    let wa = a.user("cl_watch_a").await;
    a.group(&wa, "Watch", &[v.id]).await;
    let mut on_a = watch(&a, &wa).await;
    let (mut v_b, _) = b.ws(&v.token).await;
    assert_eq!(on_a.next().await, presence(&v, true));

    b.stop();
    assert!(v_b.next().await.is_null(), "B closed the connection");
    let bound = Duration::from_secs(3);
    let f = on_a.next_within(bound).await;
    assert_eq!(
        f,
        Some(presence(&v, false)),
        "offline within {bound:?} of B closing its connections (B's lease would end it \
         only {LEASE_TTL:?} after its last renewal)"
    );
}
