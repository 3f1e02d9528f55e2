//! The WebSocket gateway with real clients: authentication, live delivery,
//! acks after commit, idempotency, membership changes, reconnect and sync,
//! malformed frames, heartbeats and slow consumers.

use crate::harness::{Backend, TestApp, Ws};
use crate::messages::{FRIENDS_NOW, friends_notice};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

crate::backend_tests!(
    bad_tokens_get_an_error_frame_and_a_close,
    the_first_frame_may_authenticate,
    direct_chat_is_live_and_acked_once,
    retried_sends_are_acked_with_the_original_and_delivered_once,
    non_members_cannot_send_or_sync,
    malformed_frames_get_errors_and_the_connection_stays,
    membership_changes_apply_to_live_connections,
    reconnecting_clients_catch_up_with_sync,
    every_device_gets_every_message_in_order,
    acks_and_messages_interleave_in_seq_order,
    logout_closes_the_sessions_connections,
    what_the_bus_lost_is_delivered_from_the_database_in_order,
);

async fn bad_tokens_get_an_error_frame_and_a_close(app: TestApp) {
    let (mut ws, _) =
        tokio_tungstenite::connect_async(format!("ws://{}/api/v1/ws?token=not-a-token", app.addr))
            .await
            .map(|(s, r)| (Ws::from_stream(s), r))
            .expect("upgrade happens; the error comes as a frame");
    let f = ws.next().await;
    assert_eq!(f["type"], "error", "{f}");
    assert_eq!(f["error"]["code"], "invalid_token");
    assert_eq!(ws.next().await, Value::Null, "then the server closes");

    // Without any token, the first frame must be auth.
    let mut anon = app.ws_anonymous().await;
    anon.send(json!({"type": "ping", "id": 1})).await;
    let f = anon.next().await;
    assert_eq!(f["error"]["code"], "unauthenticated", "{f}");
    assert_eq!(anon.next().await, Value::Null);
    // A plain GET is not an upgrade.
    app.get("/api/v1/ws", None)
        .await
        .assert_error(400, "websocket_required");
}

async fn the_first_frame_may_authenticate(app: TestApp) {
    let a = app.user("fa_alice").await;
    let mut ws = app.ws_anonymous().await;
    ws.send(json!({"type": "auth", "id": "a", "token": a.token}))
        .await;
    let ready = ws.next().await;
    assert_eq!(ready["type"], "ready", "{ready}");
    assert_eq!(ready["user"]["id"], a.id);
    assert_eq!(ready["protocol"], 1);
    assert!(ready["since"].is_i64());
    ws.send(json!({"type": "auth", "id": "b", "token": a.token}))
        .await;
    let f = ws.next().await;
    assert_eq!(
        (f["error"]["code"].clone(), f["id"].clone()),
        (json!("already_authenticated"), json!("b"))
    );
}

async fn direct_chat_is_live_and_acked_once(app: TestApp) {
    let a = app.user("dc_alice").await;
    let b = app.user("dc_bobby").await;
    let room = app.direct(&a, &b).await;
    let notice = friends_notice(&app, &a, room).await;
    let (mut wa, _) = app.ws(&a.token).await;
    let (mut wb, _) = app.ws(&b.token).await;
    let ack = wa.send_text("s1", room, "k1", "hi bob").await;
    let m = &ack["message"];
    assert_eq!(
        (m["seq"].clone(), m["body"].clone()),
        (json!(notice + 1), json!("hi bob"))
    );
    let got = wb.next().await;
    assert_eq!(got["type"], "message", "{got}");
    assert_eq!(got["message"], *m);
    // The sender's own connection got the ack, not a second copy.
    wa.assert_quiet().await;
    wb.assert_quiet().await;
    // HTTP sends reach live connections too, the sender's included.
    app.post(
        &format!("/api/v1/rooms/{room}/messages"),
        Some(&b.token),
        json!({"client_id": "h1", "kind": "text", "body": "hello alice"}),
    )
    .await;
    for ws in [&mut wa, &mut wb] {
        let f = ws.next().await;
        assert_eq!(
            (f["type"].clone(), f["message"]["seq"].clone()),
            (json!("message"), json!(notice + 2))
        );
    }
}

async fn retried_sends_are_acked_with_the_original_and_delivered_once(app: TestApp) {
    let a = app.user("rs_alice").await;
    let b = app.user("rs_bobby").await;
    let room = app.direct(&a, &b).await;
    let (mut wa, _) = app.ws(&a.token).await;
    let (mut wb, _) = app.ws(&b.token).await;
    let first = wa.send_text("1", room, "same-id", "once").await;
    let second = wa.send_text("2", room, "same-id", "twice").await;
    assert_eq!(first["message"], second["message"]);
    assert_eq!(wb.next().await["message"]["body"], "once");
    wb.assert_quiet().await;
}

async fn non_members_cannot_send_or_sync(app: TestApp) {
    let a = app.user("nm_alice").await;
    let b = app.user("nm_bobby").await;
    let eve = app.user("nm_evil1").await;
    let room = app.direct(&a, &b).await;
    app.post(
        &format!("/api/v1/rooms/{room}/messages"),
        Some(&a.token),
        json!({"client_id": "p", "kind": "text", "body": "secret"}),
    )
    .await;
    let (mut we, _) = app.ws(&eve.token).await;
    we.send(
        json!({"type": "send", "id": 9, "room_id": room, "client_id": "e",
                   "kind": "text", "body": "intrude"}),
    )
    .await;
    let f = we.next().await;
    assert_eq!(
        (f["type"].clone(), f["id"].clone()),
        (json!("error"), json!(9))
    );
    assert_eq!(f["error"]["code"], "room_not_found");
    we.send(json!({"type": "sync", "id": 10, "since": 0})).await;
    let s = we.next().await;
    assert_eq!(s["type"], "sync");
    assert_eq!(s["rooms"], json!({}), "nothing of a room eve is not in");
    assert_eq!(s["notices"], json!([]), "nor of others' friendships");
    let h = app
        .get(&format!("/api/v1/rooms/{room}/messages"), Some(&a.token))
        .await
        .json();
    let bodies: Vec<_> = h["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|m| m["body"].clone())
        .collect();
    assert_eq!(
        bodies,
        vec![json!(FRIENDS_NOW), json!("secret")],
        "eve's message is not there: {h}"
    );
}

async fn malformed_frames_get_errors_and_the_connection_stays(app: TestApp) {
    let a = app.user("mf_alice").await;
    let b = app.user("mf_bobby").await;
    let room = app.direct(&a, &b).await;
    let notice = friends_notice(&app, &a, room).await;
    let (mut ws, _) = app.ws(&a.token).await;
    let cases: Vec<(String, &str, Value)> = vec![
        ("{not json".into(), "invalid_frame", Value::Null),
        (r#"{"id": 3}"#.into(), "invalid_frame", json!(3)),
        (r#"{"type": "dance", "id": "d"}"#.into(), "unknown_type", json!("d")),
        (
            json!({"type": "send", "id": 4, "room_id": "abc"}).to_string(),
            "invalid_frame",
            json!(4),
        ),
        (
            json!({"type": "send", "id": 5, "room_id": room, "client_id": "", "kind": "text", "body": ""})
                .to_string(),
            "validation_failed",
            json!(5),
        ),
        (
            json!({"type": "send", "id": 6, "room_id": room, "client_id": "x", "kind": "text",
                   "body": "b".repeat(10_001)})
            .to_string(),
            "validation_failed",
            json!(6),
        ),
        (json!({"type": "sync", "id": 7, "limit": 0}).to_string(), "validation_failed", json!(7)),
    ];
    for (frame, code, id) in cases {
        ws.send_raw(&frame).await;
        let f = ws.next().await;
        assert_eq!(f["type"], "error", "{frame:.80}: {f}");
        assert_eq!(f["error"]["code"], code, "{frame:.80}: {f}");
        assert_eq!(f["id"], id, "{frame:.80}: {f}");
    }
    ws.send_message(tokio_tungstenite::tungstenite::Message::Binary(
        vec![1, 2, 3].into(),
    ))
    .await;
    assert_eq!(ws.next().await["error"]["code"], "invalid_frame");
    // Still up, and still able to send.
    ws.assert_quiet().await;
    let ack = ws.send_text("ok", room, "fine", "still here").await;
    assert_eq!(
        ack["message"]["seq"],
        notice + 1,
        "none of the bad sends took a seq"
    );
}

async fn membership_changes_apply_to_live_connections(app: TestApp) {
    let a = app.user("mc_owner").await;
    let b = app.user("mc_bobby").await;
    let c = app.user("mc_carol").await;
    app.befriend_ids(&a, &[b.id, c.id]).await;
    let (mut wb, _) = app.ws(&b.token).await;
    let (mut wc, _) = app.ws(&c.token).await;
    let room = app
        .post(
            "/api/v1/rooms",
            Some(&a.token),
            json!({"name": "Live", "member_ids": [b.id]}),
        )
        .await
        .json()["id"]
        .as_i64()
        .expect("id");
    let joined = wb.next().await;
    assert_eq!(joined["type"], "member_joined", "{joined}");
    assert_eq!(joined["room_id"], room);
    let notice = wb.next().await;
    assert_eq!(notice["message"]["kind"], "system");
    wc.assert_quiet().await;

    // Adding c: c's live connection starts receiving the room at once.
    app.post(
        &format!("/api/v1/rooms/{room}/members"),
        Some(&a.token),
        json!({"user_ids": [c.id]}),
    )
    .await;
    for ws in [&mut wb, &mut wc] {
        let j = ws.next().await;
        assert_eq!(j["type"], "member_joined", "{j}");
        assert_eq!(j["members"][0]["user"]["id"], c.id);
        assert_eq!(
            ws.next().await["message"]["body"],
            "mc_owner added mc_carol"
        );
    }
    let m = app
        .post(
            &format!("/api/v1/rooms/{room}/messages"),
            Some(&a.token),
            json!({"client_id": "m1", "kind": "text", "body": "welcome"}),
        )
        .await
        .json();
    assert_eq!(wc.next().await["message"]["id"], m["id"]);
    assert_eq!(wb.next().await["message"]["id"], m["id"]);

    // Removing b: b hears of it, then nothing more from the room.
    app.delete(
        &format!("/api/v1/rooms/{room}/members/{}", b.id),
        Some(&a.token),
    )
    .await;
    let left = wb.next().await;
    assert_eq!(
        (left["type"].clone(), left["user_id"].clone()),
        (json!("member_left"), json!(b.id))
    );
    assert_eq!(
        wb.next().await["message"]["body"],
        "mc_owner removed mc_bobby"
    );
    // b's own event, which sync would also return to b's offline devices.
    let gone = wb.next().await;
    assert_eq!(
        (
            gone["type"].clone(),
            gone["room_id"].clone(),
            gone["by"].clone()
        ),
        (json!("room_left"), json!(room), json!(a.id)),
        "{gone}"
    );
    app.post(
        &format!("/api/v1/rooms/{room}/messages"),
        Some(&a.token),
        json!({"client_id": "m2", "kind": "text", "body": "after b left"}),
    )
    .await;
    assert_eq!(wc.next().await["type"], "member_left");
    assert_eq!(wc.next().await["message"]["kind"], "system");
    assert_eq!(wc.next().await["message"]["body"], "after b left");
    wb.assert_quiet().await;
    // b can no longer send there either.
    wb.send(
        json!({"type": "send", "id": 1, "room_id": room, "client_id": "z",
                   "kind": "text", "body": "hello?"}),
    )
    .await;
    assert_eq!(wb.next().await["error"]["code"], "room_not_found");
}

async fn reconnecting_clients_catch_up_with_sync(app: TestApp) {
    let a = app.user("rc_alice").await;
    let b = app.user("rc_bobby").await;
    let room = app.direct(&a, &b).await;
    let (mut wa, _) = app.ws(&a.token).await;
    let (wb, ready) = app.ws(&b.token).await;
    let since = ready["since"].as_i64().expect("since");
    drop(wb);
    let mut acked = Vec::new();
    for i in 1..=3 {
        let ack = wa
            .send_text(
                &i.to_string(),
                room,
                &format!("k{i}"),
                &format!("missed {i}"),
            )
            .await;
        acked.push(ack["message"]["seq"].as_i64().expect("seq"));
    }
    let (mut wb, ready) = app.ws(&b.token).await;
    assert!(ready["since"].as_i64().expect("since") > since);
    wb.send(json!({"type": "sync", "id": "s", "since": since}))
        .await;
    let s = wb.next().await;
    assert_eq!(
        (s["type"].clone(), s["id"].clone()),
        (json!("sync"), json!("s"))
    );
    let events = s["rooms"][room.to_string()]["events"]
        .as_array()
        .expect("events");
    let bodies: Vec<_> = events.iter().map(|m| m["body"].clone()).collect();
    assert_eq!(
        bodies,
        vec![json!("missed 1"), json!("missed 2"), json!("missed 3")]
    );
    let seqs: Vec<_> = events.iter().map(|m| m["seq"].as_i64()).collect();
    assert_eq!(seqs, acked.iter().copied().map(Some).collect::<Vec<_>>());
    assert_eq!(s["notices"], json!([]), "the friendship came before since");
    assert_eq!(s["next"], ready["since"]);
    // Live delivery resumes after the ready position, with no duplicates.
    wa.send_text("4", room, "k4", "live again").await;
    let live = wb.next().await;
    assert_eq!(live["message"]["seq"], acked[2] + 1);
    wb.assert_quiet().await;
}

async fn every_device_gets_every_message_in_order(app: TestApp) {
    let a = app.user("ed_alice").await;
    let b = app.user("ed_bobby").await;
    let b2 = app.login("ed_bobby", crate::harness::PASSWORD).await;
    let room = app.direct(&a, &b).await;
    let notice = friends_notice(&app, &a, room).await;
    let (mut wa, _) = app.ws(&a.token).await;
    let (mut phone, _) = app.ws(&b.token).await;
    let (mut laptop, _) = app.ws(&b2.token).await;
    // 200 pipelined sends: acks in order, deliveries in seq order on both devices.
    for i in 0..200 {
        wa.send(
            json!({"type": "send", "id": i, "room_id": room, "client_id": format!("p{i}"),
                       "kind": "text", "body": format!("n{i}")}),
        )
        .await;
    }
    for i in 0..200 {
        let ack = wa.next().await;
        assert_eq!(
            (ack["type"].clone(), ack["id"].clone()),
            (json!("ack"), json!(i)),
            "{ack}"
        );
        assert_eq!(ack["message"]["seq"], notice + i + 1);
    }
    for device in [&mut phone, &mut laptop] {
        for i in 0..200 {
            let m = device.next().await;
            assert_eq!(m["message"]["seq"], notice + i + 1, "{m}");
        }
        device.assert_quiet().await;
    }
}

async fn acks_and_messages_interleave_in_seq_order(app: TestApp) {
    let a = app.user("io_alice").await;
    let b = app.user("io_bobby").await;
    let room = app.direct(&a, &b).await;
    let notice = friends_notice(&app, &a, room).await;
    let (mut wa, _) = app.ws(&a.token).await;
    let (mut wb, _) = app.ws(&b.token).await;
    // Both sides pipeline 100 sends into the same room at once: each side
    // must see the room's seqs strictly increasing, its acks included.
    for i in 0..100 {
        for (ws, who) in [(&mut wa, "a"), (&mut wb, "b")] {
            ws.send(
                json!({"type": "send", "id": format!("{who}{i}"), "room_id": room,
                           "client_id": format!("{who}{i}"), "kind": "text", "body": "x"}),
            )
            .await;
        }
    }
    for ws in [&mut wa, &mut wb] {
        let mut last = notice;
        for _ in 0..200 {
            let f = ws.next().await;
            let seq = f["message"]["seq"]
                .as_i64()
                .unwrap_or_else(|| panic!("{f}"));
            assert!(seq > last, "seq {seq} after {last}: {f}");
            last = seq;
        }
        assert_eq!(last, notice + 200);
        ws.assert_quiet().await;
    }
}

async fn logout_closes_the_sessions_connections(app: TestApp) {
    let a = app.user("lo_alice").await;
    let other = app.login("lo_alice", crate::harness::PASSWORD).await;
    let (mut ws, _) = app.ws(&a.token).await;
    let (mut keep, _) = app.ws(&other.token).await;
    assert_eq!(
        app.post("/api/v1/auth/logout", Some(&a.token), json!({}))
            .await
            .status,
        204
    );
    let f = ws.next().await;
    assert_eq!(f["error"]["code"], "session_ended", "{f}");
    assert_eq!(ws.next().await, Value::Null);
    keep.assert_quiet().await;
}

#[tokio::test]
async fn slow_consumers_get_resync_and_are_closed() {
    let Some(app) = TestApp::spawn_with(Backend::Sqlite, |c| c.ws_send_queue = 128).await else {
        return;
    };
    let a = app.user("sc_alice").await;
    let b = app.user("sc_bobby").await;
    let room = app.direct(&a, &b).await;
    let notice = friends_notice(&app, &a, room).await;
    let (mut wa, _) = app.ws(&a.token).await;
    // b connects and then reads nothing while a floods the room with large
    // messages: the kernel buffers fill, then b's 128-frame queue.
    let (mut wb, _) = app.ws(&b.token).await;
    let body = "x".repeat(8_000);
    let n = 2_000;
    for i in 0..n {
        wa.send(
            json!({"type": "send", "id": i, "room_id": room, "client_id": format!("f{i}"),
                       "kind": "text", "body": body}),
        )
        .await;
        if i >= 32 {
            assert_eq!(wa.next().await["type"], "ack");
        }
    }
    for _ in 0..32 {
        assert_eq!(wa.next().await["type"], "ack");
    }
    // a, who kept up, is unaffected.
    wa.assert_quiet().await;
    // b finds messages in order, then a resync, then the close.
    let mut last = notice;
    loop {
        let f = wb.next().await;
        match f["type"].as_str() {
            Some("message") => {
                let seq = f["message"]["seq"].as_i64().expect("seq");
                assert_eq!(seq, last + 1, "in order, no gap before the resync");
                last = seq;
            }
            Some("resync") => break,
            other => panic!("unexpected {other:?}: {f}"),
        }
    }
    assert!(last < notice + n, "b could not have kept up");
    assert_eq!(wb.next().await, Value::Null, "closed after resync");
    // After the resync the client catches up with sync: nothing was lost.
    let (mut again, _) = app.ws(&b.token).await;
    again
        .send(json!({"type": "sync", "since": 0, "limit": 1}))
        .await;
    let s = again.next().await;
    assert_eq!(s["rooms"][room.to_string()]["events"][0]["seq"], notice + n);
    assert_eq!(s["rooms"][room.to_string()]["limited"], true);
}

#[tokio::test]
async fn silent_connections_are_dropped_after_two_heartbeats() {
    let Some(app) = TestApp::spawn_with(Backend::Sqlite, |c| c.ws_heartbeat_secs = 1).await else {
        return;
    };
    let a = app.user("hb_alice").await;
    // A raw client that completes the handshake and then never answers pings.
    let mut tcp = tokio::net::TcpStream::connect(app.addr)
        .await
        .expect("connect");
    let req = format!(
        "GET /api/v1/ws?token={} HTTP/1.1\r\nHost: {}\r\nUpgrade: websocket\r\n\
         Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
         Sec-WebSocket-Version: 13\r\n\r\n",
        a.token, app.addr
    );
    tcp.write_all(req.as_bytes()).await.expect("handshake");
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    let closed = tokio::time::timeout(std::time::Duration::from_secs(15), async {
        loop {
            match tcp.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => seen.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    assert!(closed.is_ok(), "the server dropped the silent connection");
    let text = String::from_utf8_lossy(&seen);
    assert!(text.starts_with("HTTP/1.1 101"), "{text:.60}");
    assert!(text.contains("\"ready\""));
    // A ping frame (opcode 0x9) was sent before giving up.
    assert!(seen.windows(2).any(|w| w == [0x89, 0x00]), "server pinged");
}

/// A message committed but never published (the bus lost it) reaches live
/// connections in its place: held back events wait for it, and with nothing
/// after it the hub finds it by the database's top position.
async fn what_the_bus_lost_is_delivered_from_the_database_in_order(app: TestApp) {
    use roomy_core::{
        RoomId, UserId,
        chat_fields::{ClientId, MessageBody, MessageKind},
    };
    use roomy_store::NewMessage;
    let a = app.user("lost_alice").await;
    let b = app.user("lost_bobby").await;
    let room = app.direct(&a, &b).await;
    let (mut wa, _) = app.ws(&a.token).await;
    let (mut wb, _) = app.ws(&b.token).await;
    let unpublished = |client: &str, body: &str| NewMessage {
        room_id: RoomId(room),
        sender_id: UserId(a.id),
        client_id: Some(ClientId::parse(client).expect("client id")),
        kind: MessageKind::Text,
        body: Some(MessageBody::parse(body, 100).expect("body")),
        file: None,
    };
    let store = app.state.app.store.clone();
    let append = |m: NewMessage| {
        let store = store.clone();
        async move {
            let out = store
                .append_messages(
                    &[m],
                    roomy_core::social_fields::DirectPolicy::Anyone,
                    time::OffsetDateTime::now_utc(),
                )
                .await
                .expect("stored");
            assert!(matches!(out[0], roomy_store::AppendOutcome::Stored { .. }));
        }
    };
    // Lost, then one that the bus carries: the lost one comes first.
    append(unpublished("lost-1", "lost on the bus")).await;
    wa.send(
        json!({"type": "send", "id": "s1", "room_id": room, "client_id": "live-1",
                   "kind": "text", "body": "carried"}),
    )
    .await;
    // The sender's own device gets the lost one before its ack.
    let lost = wa.next().await;
    assert_eq!(lost["message"]["body"], "lost on the bus", "{lost}");
    let ack = wa.next().await;
    assert_eq!(
        (ack["type"].clone(), ack["id"].clone()),
        (json!("ack"), json!("s1")),
        "{ack}"
    );
    let seq = ack["message"]["seq"].as_i64().expect("seq");
    assert_eq!(lost["message"]["seq"], seq - 1);
    let f = wb.next().await;
    assert_eq!(
        (
            f["type"].clone(),
            f["message"]["body"].clone(),
            f["message"]["seq"].clone()
        ),
        (json!("message"), json!("lost on the bus"), json!(seq - 1)),
        "{f}"
    );
    let f = wb.next().await;
    assert_eq!(f["message"]["body"], "carried", "{f}");
    wa.assert_quiet().await;
    wb.assert_quiet().await;

    // Lost with nothing after it: the database's top position finds it.
    append(unpublished("lost-2", "silence after")).await;
    for ws in [&mut wa, &mut wb] {
        let f = ws.next().await;
        assert_eq!(
            (f["message"]["body"].clone(), f["message"]["seq"].clone()),
            (json!("silence after"), json!(seq + 1)),
            "{f}"
        );
    }
    let metrics = app.get("/metrics", None).await;
    let fills = metrics
        .text
        .lines()
        .find_map(|l| l.strip_prefix("roomy_hub_gap_fills_total "))
        .and_then(|v| v.trim().parse::<u64>().ok())
        .expect("the gap fill counter");
    assert!(fills >= 2, "both were read from the database: {fills}");
}
