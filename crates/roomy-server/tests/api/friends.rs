//! Friend requests, answers, notices (live and on sync), friends, remarks,
//! unfriending, and friendship gating direct rooms.

use crate::harness::{Backend, Login, Resp, TestApp};
use serde_json::{Value, json};

crate::cache_backend_tests!(
    the_seed_flow_works_end_to_end,
    requests_are_refused_with_clear_codes,
    only_the_target_answers_and_only_once,
    requests_agree_at_once_without_confirmation,
    friends_have_remarks_and_can_part,
    agreeing_is_all_or_nothing,
);

async fn ask(app: &TestApp, from: &Login, to: i64, body: Value) -> Resp {
    let mut body = body;
    body["user_id"] = json!(to);
    app.post("/api/v1/friend-requests", Some(&from.token), body)
        .await
}

async fn answer(app: &TestApp, who: &Login, id: i64, body: Value) -> Resp {
    app.post(
        &format!("/api/v1/friend-requests/{id}/answer"),
        Some(&who.token),
        body,
    )
    .await
}

/// The issue's "done" flow: A follows B, B follows back, both see each other
/// in mutual; A asks B (offline), B gets the request on reconnect, agrees,
/// both get the notice and the system message, and they chat.
async fn the_seed_flow_works_end_to_end(app: TestApp) {
    let a = app.user("flow_alice").await;
    let b = app.user("flow_bobby").await;
    app.put(&format!("/api/v1/me/following/{}", b.id), Some(&a.token))
        .await;
    app.put(&format!("/api/v1/me/following/{}", a.id), Some(&b.token))
        .await;
    for (viewer, of, other) in [(&a, a.id, b.id), (&b, b.id, a.id)] {
        let m = app
            .get(&format!("/api/v1/users/{of}/mutual"), Some(&viewer.token))
            .await
            .json();
        assert_eq!(m["items"][0]["id"], other);
    }
    // B was online once and remembers where it was.
    let (bws, ready) = app.ws(&b.token).await;
    let b_since = ready["since"].as_i64().expect("since");
    drop(bws);
    let (mut aws, _) = app.ws(&a.token).await;

    let sent = ask(&app, &a, b.id, json!({"note": "hi, it's Alice"})).await;
    assert_eq!(sent.status, 201, "{}", sent.text);
    let sent = sent.json();
    assert_eq!(sent["status"], "pending");
    assert_eq!(sent["from"]["id"], a.id);
    assert_eq!(sent["to"]["id"], b.id);
    let request_id = sent["id"].as_i64().expect("id");

    // B comes back: sync from its old position carries the request.
    let (mut bws, ready) = app.ws(&b.token).await;
    bws.send(json!({"type": "sync", "id": "s1", "since": b_since}))
        .await;
    let sync = bws.next().await;
    assert_eq!(sync["type"], "sync", "{sync}");
    let notices = sync["notices"].as_array().expect("notices");
    assert_eq!(notices.len(), 1, "{sync}");
    assert_eq!(notices[0]["type"], "friend_request");
    assert_eq!(notices[0]["request"]["id"], request_id);
    assert_eq!(notices[0]["request"]["note"], "hi, it's Alice");
    assert!(
        notices[0]["position"].as_i64().expect("position")
            <= ready["since"].as_i64().expect("since")
    );
    let http = app
        .get(&format!("/api/v1/sync?since={b_since}"), Some(&b.token))
        .await
        .json();
    assert_eq!(http["notices"][0]["request"]["id"], request_id);
    let incoming = app
        .get(
            "/api/v1/friend-requests?direction=incoming&status=pending",
            Some(&b.token),
        )
        .await
        .json();
    assert_eq!(incoming["items"][0]["id"], request_id);

    let agreed = answer(
        &app,
        &b,
        request_id,
        json!({"decision": "agree", "remark": "Ally"}),
    )
    .await;
    assert_eq!(agreed.status, 200, "{}", agreed.text);
    assert_eq!(agreed.json()["status"], "agree");

    // Both hear of it live: the room, the system message, the notice.
    for ws in [&mut aws, &mut bws] {
        let (accepted, before) = ws.until("friend_accepted").await;
        assert_eq!(accepted["request"]["id"], request_id);
        let room = accepted["room_id"].as_i64().expect("room id");
        let kinds: Vec<_> = before.iter().map(|f| f["type"].clone()).collect();
        assert_eq!(
            kinds,
            vec![json!("member_joined"), json!("message")],
            "{before:?}"
        );
        assert_eq!(before[1]["message"]["kind"], "system");
        assert_eq!(before[1]["message"]["room_id"], room);
        assert_eq!(
            before[1]["message"]["body"],
            "You are friends now. Start chatting!"
        );
    }
    let friends = app.get("/api/v1/friends", Some(&b.token)).await.json();
    assert_eq!(friends["items"][0]["user"]["id"], a.id);
    assert_eq!(friends["items"][0]["remark"], "Ally");
    assert!(friends["items"][0]["since"].is_string());

    // And they can chat: opening the direct room finds the one just made.
    let opened = app
        .post(
            "/api/v1/rooms/direct",
            Some(&a.token),
            json!({"user_id": b.id}),
        )
        .await;
    assert_eq!(opened.status, 200, "{}", opened.text);
    let room = opened.json()["id"].as_i64().expect("room");
    let ack = aws.send_text("m1", room, "c-1", "hello friend").await;
    assert_eq!(ack["type"], "ack", "{ack}");
    let got = bws.next().await;
    assert_eq!(got["message"]["body"], "hello friend");
    aws.assert_quiet().await;
    bws.assert_quiet().await;
}

/// Every refusal has its code.
async fn requests_are_refused_with_clear_codes(app: TestApp) {
    let a = app.user("ref_alice").await;
    let b = app.user("ref_bobby").await;
    let c = app.user("ref_carol").await;
    ask(&app, &a, a.id, json!({}))
        .await
        .assert_error(422, "validation_failed");
    ask(&app, &a, 987_654, json!({}))
        .await
        .assert_error(404, "user_not_found");
    let long = ask(&app, &a, b.id, json!({"note": "x".repeat(51)})).await;
    long.assert_error(422, "validation_failed");
    assert!(long.json()["error"]["fields"]["note"].is_string());
    ask(&app, &a, b.id, json!({"note": "y".repeat(50), "extra": 1}))
        .await
        .assert_error(422, "invalid_body");
    assert_eq!(
        ask(&app, &a, b.id, json!({"note": "y".repeat(50)}))
            .await
            .status,
        201
    );
    ask(&app, &a, b.id, json!({}))
        .await
        .assert_error(409, "request_pending");
    ask(&app, &b, a.id, json!({}))
        .await
        .assert_error(409, "incoming_request_pending");
    let admin = app.admin("ref_admin").await;
    app.patch(
        &format!("/api/v1/admin/users/{}", c.id),
        Some(&admin.token),
        json!({"disabled": true}),
    )
    .await;
    ask(&app, &a, c.id, json!({}))
        .await
        .assert_error(403, "user_disabled");
    let guest = app
        .post("/api/v1/auth/guest", None, json!({"nickname": "Visitor"}))
        .await
        .json();
    let guest = Login {
        id: guest["user"]["id"].as_i64().expect("id"),
        token: guest["token"].as_str().expect("token").to_owned(),
        session_id: 0,
    };
    ask(&app, &guest, a.id, json!({}))
        .await
        .assert_error(403, "guest_forbidden");
    ask(&app, &a, guest.id, json!({}))
        .await
        .assert_error(403, "guest_forbidden");
    let r = app
        .post("/api/v1/friend-requests", None, json!({"user_id": b.id}))
        .await;
    assert_eq!(r.status, 401);
}

/// Only the target answers, once; others get 404; refused requests may be sent again.
async fn only_the_target_answers_and_only_once(app: TestApp) {
    let a = app.user("ans_alice").await;
    let b = app.user("ans_bobby").await;
    let c = app.user("ans_carol").await;
    let id = ask(&app, &a, b.id, json!({})).await.json()["id"]
        .as_i64()
        .expect("id");
    answer(&app, &a, id, json!({"decision": "agree"}))
        .await
        .assert_error(403, "not_request_target");
    answer(&app, &c, id, json!({"decision": "agree"}))
        .await
        .assert_error(404, "request_not_found");
    answer(&app, &b, 987_654, json!({"decision": "agree"}))
        .await
        .assert_error(404, "request_not_found");
    let bad = answer(&app, &b, id, json!({"decision": "maybe"})).await;
    assert!(bad.status == 422 || bad.status == 400, "{}", bad.text);
    let r = answer(&app, &b, id, json!({"decision": "refuse"})).await;
    assert_eq!(r.json()["status"], "refuse");
    assert!(r.json()["answered_at"].is_string());
    answer(&app, &b, id, json!({"decision": "agree"}))
        .await
        .assert_error(409, "already_answered");
    let again = ask(&app, &a, b.id, json!({"note": "please?"})).await;
    assert_eq!(again.status, 201);
    let again_id = again.json()["id"].as_i64().expect("id");
    let r = answer(&app, &b, again_id, json!({"decision": "ignore"})).await;
    assert_eq!(r.json()["status"], "ignore");
    let out = app
        .get("/api/v1/friend-requests?direction=outgoing", Some(&a.token))
        .await
        .json();
    let ids: Vec<_> = out["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|r| r["id"].clone())
        .collect();
    assert_eq!(ids, vec![json!(again_id), json!(id)]);
    let refused = app
        .get(
            "/api/v1/friend-requests?direction=outgoing&status=refuse",
            Some(&a.token),
        )
        .await
        .json();
    assert_eq!(refused["items"].as_array().expect("items").len(), 1);
    let page = app
        .get(
            "/api/v1/friend-requests?direction=outgoing&limit=1",
            Some(&a.token),
        )
        .await
        .json();
    let cursor = page["next_cursor"].as_str().expect("more");
    let rest = app
        .get(
            &format!("/api/v1/friend-requests?direction=outgoing&limit=1&cursor={cursor}"),
            Some(&a.token),
        )
        .await
        .json();
    assert_eq!(rest["items"][0]["id"], id);
    app.get("/api/v1/friend-requests?direction=sideways", Some(&a.token))
        .await
        .assert_error(422, "validation_failed");
    app.get("/api/v1/friend-requests?status=maybe", Some(&a.token))
        .await
        .assert_error(422, "validation_failed");
    assert!(
        app.get("/api/v1/friends", Some(&b.token)).await.json()["items"]
            .as_array()
            .expect("items")
            .is_empty()
    );
}

/// With `invite_confirm` 0 the request is agreed at once, notices and all.
async fn requests_agree_at_once_without_confirmation(app: TestApp) {
    let a = app.user("auto_alice").await;
    let b = app.user("auto_bobby").await;
    let r = app
        .patch("/api/v1/me", Some(&b.token), json!({"invite_confirm": 0}))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let (mut bws, _) = app.ws(&b.token).await;
    let sent = ask(&app, &a, b.id, json!({})).await;
    assert_eq!(sent.status, 201);
    assert_eq!(sent.json()["status"], "agree");
    // Positions order the frames: the agreement is written first, then the
    // (already agreed) request's own notice.
    let (accepted, _) = bws.until("friend_accepted").await;
    let (request, _) = bws.until("friend_request").await;
    assert_eq!(request["request"]["status"], "agree");
    assert!(request["position"].as_i64() > accepted["position"].as_i64());
    let room = accepted["room_id"].as_i64().expect("room");
    let r = app
        .post(
            &format!("/api/v1/rooms/{room}/messages"),
            Some(&a.token),
            json!({"client_id": "x1", "kind": "text", "body": "hi"}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
}

/// Remarks can be edited; unfriending ends it both ways, keeps the history
/// readable, closes the direct room to new messages, and lets either ask again.
async fn friends_have_remarks_and_can_part(app: TestApp) {
    let a = app.user("part_alice").await;
    let b = app.user("part_bobby").await;
    let stranger = app.user("part_carol").await;
    app.post(
        "/api/v1/rooms/direct",
        Some(&a.token),
        json!({"user_id": b.id}),
    )
    .await
    .assert_error(403, "not_friends");
    let room = app.direct(&a, &b).await;
    let path = format!("/api/v1/rooms/{room}/messages");
    let msg = |cid: &str| json!({"client_id": cid, "kind": "text", "body": "hey"});
    assert_eq!(app.post(&path, Some(&a.token), msg("p1")).await.status, 201);
    let r = app
        .patch(
            &format!("/api/v1/friends/{}", b.id),
            Some(&a.token),
            json!({"remark": "  Bob  "}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json()["remark"], "Bob");
    app.patch(
        &format!("/api/v1/friends/{}", b.id),
        Some(&a.token),
        json!({"remark": "r".repeat(33)}),
    )
    .await
    .assert_error(422, "validation_failed");
    let r = app
        .patch(
            &format!("/api/v1/friends/{}", b.id),
            Some(&a.token),
            json!({"remark": null}),
        )
        .await;
    assert_eq!(r.json()["remark"], Value::Null);
    app.patch(
        &format!("/api/v1/friends/{}", stranger.id),
        Some(&a.token),
        json!({"remark": "x"}),
    )
    .await
    .assert_error(404, "friend_not_found");
    let r = app
        .delete(&format!("/api/v1/friends/{}", a.id), Some(&b.token))
        .await;
    assert_eq!(r.status, 204);
    app.delete(&format!("/api/v1/friends/{}", a.id), Some(&b.token))
        .await
        .assert_error(404, "friend_not_found");
    for who in [&a, &b] {
        let list = app.get("/api/v1/friends", Some(&who.token)).await.json();
        assert!(list["items"].as_array().expect("items").is_empty());
    }
    app.post(&path, Some(&a.token), msg("p2"))
        .await
        .assert_error(403, "not_friends");
    let history = app.get(&path, Some(&b.token)).await;
    assert_eq!(history.status, 200);
    assert!(history.text.contains("\"p1\""));
    let p = app
        .get(&format!("/api/v1/users/{}", b.id), Some(&a.token))
        .await
        .json();
    assert_eq!(p["relationship"]["friend"], false);
    assert_eq!(ask(&app, &b, a.id, json!({})).await.status, 201);
}

/// A failure between the two friendship rows leaves nothing behind: the
/// request stays pending, nobody is a friend, no room, no notice.
async fn agreeing_is_all_or_nothing(app: TestApp) {
    let a = app.user("atom_alice").await;
    let b = app.user("atom_bobby").await;
    let (_, ready) = app.ws(&a.token).await;
    let since = ready["since"].as_i64().expect("since");
    let id = ask(&app, &a, b.id, json!({})).await.json()["id"]
        .as_i64()
        .expect("id");
    // The last write of the agreement fails: B's `friend_accepted` notice,
    // after the status, both friendship rows, the room, its system message
    // and A's notice were written.
    let condition = format!("NEW.user_id = {} AND NEW.kind = 'friend_accepted'", b.id);
    if app.on_postgres() {
        app.sql(&format!(
            "CREATE FUNCTION roomy_injected_failure() RETURNS trigger AS $$
             BEGIN RAISE EXCEPTION 'injected failure'; END $$ LANGUAGE plpgsql;
             CREATE TRIGGER injected BEFORE INSERT ON notices FOR EACH ROW
             WHEN ({condition}) EXECUTE FUNCTION roomy_injected_failure();"
        ))
        .await;
    } else {
        app.sql(&format!(
            "CREATE TRIGGER injected BEFORE INSERT ON notices WHEN {condition}
             BEGIN SELECT RAISE(ABORT, 'injected failure'); END;"
        ))
        .await;
    }
    answer(&app, &b, id, json!({"decision": "agree"}))
        .await
        .assert_error(500, "internal");
    let pending = app
        .get("/api/v1/friend-requests?status=pending", Some(&b.token))
        .await
        .json();
    assert_eq!(
        pending["items"][0]["id"], id,
        "the request is still pending"
    );
    for who in [&a, &b] {
        let friends = app.get("/api/v1/friends", Some(&who.token)).await.json();
        assert!(friends["items"].as_array().expect("items").is_empty());
        let rooms = app.get("/api/v1/rooms", Some(&who.token)).await.json();
        assert!(
            rooms["items"].as_array().expect("items").is_empty(),
            "{rooms}"
        );
    }
    let sync = app
        .get(&format!("/api/v1/sync?since={since}"), Some(&a.token))
        .await
        .json();
    assert!(
        sync["notices"].as_array().expect("notices").is_empty(),
        "{sync}"
    );
    assert!(
        sync["rooms"].as_object().expect("rooms").is_empty(),
        "{sync}"
    );
    let b_sync = app.get("/api/v1/sync?since=0", Some(&b.token)).await.json();
    let b_notices = b_sync["notices"].as_array().expect("notices");
    assert_eq!(b_notices.len(), 1, "only the request itself: {b_sync}");
    assert_eq!(b_notices[0]["request"]["status"], "pending");
    // Once the fault is gone the same answer goes through whole.
    app.sql(if app.on_postgres() {
        "DROP TRIGGER injected ON notices"
    } else {
        "DROP TRIGGER injected"
    })
    .await;
    let r = answer(&app, &b, id, json!({"decision": "agree"})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let friends = app.get("/api/v1/friends", Some(&a.token)).await.json();
    assert_eq!(friends["items"][0]["user"]["id"], b.id);
}

/// `direct_messages = "anyone"` lets non-friends open direct rooms; blocks still apply.
#[tokio::test]
async fn anyone_may_message_when_configured() {
    let Some(app) = TestApp::spawn_with(Backend::Sqlite, |c| {
        c.direct_messages = roomy_core::social_fields::DirectPolicy::Anyone;
    })
    .await
    else {
        return;
    };
    let a = app.user("any_alice").await;
    let b = app.user("any_bobby").await;
    let r = app
        .post(
            "/api/v1/rooms/direct",
            Some(&a.token),
            json!({"user_id": b.id}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let room = r.json()["id"].as_i64().expect("room");
    let path = format!("/api/v1/rooms/{room}/messages");
    let msg = json!({"client_id": "n1", "kind": "text", "body": "hi stranger"});
    assert_eq!(
        app.post(&path, Some(&a.token), msg.clone()).await.status,
        201
    );
    app.put(&format!("/api/v1/me/blocks/{}", a.id), Some(&b.token))
        .await;
    let msg = json!({"client_id": "n2", "kind": "text", "body": "hello?"});
    app.post(&path, Some(&a.token), msg)
        .await
        .assert_error(403, "blocked");
}
