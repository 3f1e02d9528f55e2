//! Text a database cannot store: refused at the door on both backends, and
//! a row the database refuses anyway fails alone, never its whole batch.

use crate::harness::{Login, TestApp};
use serde_json::{Value, json};
use std::time::Duration;

crate::backend_tests!(
    nul_is_refused_at_every_door,
    a_row_the_database_refuses_fails_alone_in_a_busy_batch,
);

const NUL_BODY: &str = "a\u{0}b";

async fn nul_is_refused_at_every_door(app: TestApp) {
    let a = app.user("nul_alice").await;
    let b = app.user("nul_bobby").await;
    let admin = app.admin("nul_admin").await;
    let room = app.direct(&a, &b).await;

    let field = |r: &crate::harness::Resp, name: &str| {
        r.assert_error(422, "validation_failed");
        assert!(
            r.json()["error"]["fields"][name].is_string(),
            "{name} named: {}",
            r.text
        );
    };
    let r = app
        .post(
            "/api/v1/auth/register",
            None,
            json!({"username": "nul_carol", "password": "a-long-password", "nickname": NUL_BODY}),
        )
        .await;
    field(&r, "nickname");
    let r = app
        .post(
            "/api/v1/auth/login",
            None,
            json!({"username": "nul_al\u{0}ice", "password": "a-long-password"}),
        )
        .await;
    field(&r, "username");
    field(&app.get("/api/v1/users?q=a%00b", Some(&a.token)).await, "q");
    let r = app
        .post(
            &format!("/api/v1/rooms/{room}/messages"),
            Some(&a.token),
            json!({"client_id": "n1", "kind": "text", "body": NUL_BODY}),
        )
        .await;
    field(&r, "body");
    field(
        &app.get("/api/v1/admin/messages?q=a%00b", Some(&admin.token))
            .await,
        "q",
    );
    let sent = app
        .post(
            &format!("/api/v1/rooms/{room}/messages"),
            Some(&a.token),
            json!({"client_id": "n2", "kind": "text", "body": "fine"}),
        )
        .await;
    assert_eq!(sent.status, 201, "{}", sent.text);
    let id = sent.json()["id"].as_i64().expect("id");
    field(
        &app.delete(
            &format!("/api/v1/admin/messages/{id}?reason=spam%00"),
            Some(&admin.token),
        )
        .await,
        "reason",
    );
    field(
        &app.patch(
            &format!("/api/v1/admin/users/{}", b.id),
            Some(&admin.token),
            json!({"disabled": true, "reason": NUL_BODY}),
        )
        .await,
        "reason",
    );
    field(
        &app.get(&format!("/api/v1/users/{}%00", b.id), Some(&a.token))
            .await,
        "path",
    );

    // Over the WebSocket: an error frame with the request id, nothing stored.
    let (mut ws, _) = app.ws(&a.token).await;
    ws.send(
        json!({"type": "send", "id": "w1", "room_id": room, "client_id": "n3",
                   "kind": "text", "body": NUL_BODY}),
    )
    .await;
    let f = ws.next().await;
    assert_eq!(
        (f["type"].clone(), f["id"].clone()),
        (json!("error"), json!("w1")),
        "{f}"
    );
    assert_eq!(f["error"]["code"], "validation_failed", "{f}");
    ws.send_text("w2", room, "n4", "still fine").await;

    // Nothing half-written: the room holds the notice and the two good messages.
    let h = app
        .get(&format!("/api/v1/rooms/{room}/messages"), Some(&b.token))
        .await
        .json();
    let bodies: Vec<Value> = h["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter(|m| m["kind"] == "text")
        .map(|m| m["body"].clone())
        .collect();
    assert_eq!(bodies, vec![json!("fine"), json!("still fine")], "{h}");
    let b_profile = app.get("/api/v1/me", Some(&b.token)).await;
    assert_eq!(
        b_profile.status, 200,
        "b was not disabled: {}",
        b_profile.text
    );
}

/// Installs a trigger that makes the database refuse any message whose body
/// is `poison`, as a constraint would (PostgreSQL: `check_violation`; SQLite:
/// a trigger's RAISE is a constraint error).
async fn poison_trigger(app: &TestApp) {
    if app.on_postgres() {
        app.sql(
            "CREATE FUNCTION roomy_poison() RETURNS trigger AS $$
             BEGIN RAISE EXCEPTION 'poisoned row' USING ERRCODE = 'check_violation'; END $$ LANGUAGE plpgsql;
             CREATE TRIGGER poison BEFORE INSERT ON messages FOR EACH ROW
             WHEN (NEW.body = 'poison') EXECUTE FUNCTION roomy_poison();",
        )
        .await;
    } else {
        app.sql(
            "CREATE TRIGGER poison BEFORE INSERT ON messages WHEN NEW.body = 'poison'
             BEGIN SELECT RAISE(ABORT, 'poisoned row'); END;",
        )
        .await;
    }
}

/// Waits until at least `n` jobs wait for the writer (a condition, polled:
/// the queue has no notification of its own).
async fn until_queued(app: &TestApp, n: usize) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    while app.state.app.writer.queued() < n {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{n} jobs never queued"
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

async fn a_row_the_database_refuses_fails_alone_in_a_busy_batch(app: TestApp) {
    let a = app.user("poison_alice").await;
    let b = app.user("poison_bobby").await;
    let c = app.user("poison_carol").await;
    let d = app.user("poison_dave1").await;
    let poisoned_room = app.direct(&a, &b).await;
    let busy_room = app.direct(&c, &d).await;
    poison_trigger(&app).await;
    let (mut sender, _) = app.ws(&d.token).await;
    let (mut poisoner, _) = app.ws(&a.token).await;

    // Hold the writer so that everything below waits for one commit.
    let (open, gate) = tokio::sync::oneshot::channel::<()>();
    let writer = app.state.app.writer.clone();
    let hold = tokio::spawn(async move {
        writer
            .exclusive(|_| async move {
                let _ = gate.await;
                ((), Vec::new())
            })
            .await
    });
    until_queued(&app, 0).await;
    const SENT: usize = 300;
    for i in 0..SENT {
        sender
            .send(json!({"type": "send", "id": i, "room_id": busy_room,
                         "client_id": format!("d{i}"), "kind": "text", "body": format!("m{i}")}))
            .await;
    }
    // A connection has at most 64 sends in flight: they are queued now.
    until_queued(&app, 64).await;
    poisoner
        .send(json!({"type": "send", "id": "p", "room_id": poisoned_room,
                     "client_id": "p1", "kind": "text", "body": "poison"}))
        .await;
    until_queued(&app, 65).await;
    open.send(()).expect("the writer waits");
    hold.await.expect("join").expect("exclusive");

    let refused = poisoner.next().await;
    assert_eq!(
        (
            refused["type"].clone(),
            refused["id"].clone(),
            refused["error"]["code"].clone()
        ),
        (json!("error"), json!("p"), json!("message_rejected")),
        "{refused}"
    );
    let mut acked = 0;
    while acked < SENT {
        let f = sender.next().await;
        assert_eq!(f["type"], "ack", "every other sender is acked: {f}");
        assert_eq!(f["id"], acked, "{f}");
        acked += 1;
    }
    let h = app
        .get(
            &format!("/api/v1/rooms/{busy_room}/messages?limit=200"),
            Some(&c.token),
        )
        .await
        .json();
    assert_eq!(h["items"].as_array().expect("items").len(), 200, "{h}");
    let poisoned = app
        .get(
            &format!("/api/v1/rooms/{poisoned_room}/messages"),
            Some(&b.token),
        )
        .await
        .json();
    assert!(
        poisoned["items"]
            .as_array()
            .expect("items")
            .iter()
            .all(|m| m["body"] != "poison"),
        "{poisoned}"
    );
    let _: &Login = &a;
}
