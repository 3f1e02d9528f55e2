//! User lookup and search.

use crate::harness::TestApp;

crate::backend_tests!(
    users_are_looked_up_by_id,
    users_are_searched_and_paged,
    searching_needs_a_query_and_an_account,
);

async fn users_are_looked_up_by_id(app: TestApp) {
    let a = app.user("sybil_01").await;
    let b = app.register("trent_01").await;
    let id = b["id"].as_i64().expect("id");
    let r = app
        .get(&format!("/api/v1/users/{id}"), Some(&a.token))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let u = r.json();
    assert_eq!(u["username"], "trent_01");
    assert_eq!(u["role"], "user");
    assert!(u.get("invite_confirm").is_none(), "private setting exposed");
    app.get("/api/v1/users/999999", Some(&a.token))
        .await
        .assert_error(404, "user_not_found");
    app.get("/api/v1/users/abc", Some(&a.token))
        .await
        .assert_error(400, "invalid_path");
    app.get(&format!("/api/v1/users/{id}"), None)
        .await
        .assert_error(401, "unauthenticated");
}

async fn users_are_searched_and_paged(app: TestApp) {
    let me = app.user("victor01").await;
    let t = Some(me.token.as_str());
    for name in ["walter_1", "walter_2", "walter_3", "wendy_01"] {
        app.register(name).await;
    }
    let all = app.get("/api/v1/users?q=WALT", t).await;
    assert_eq!(all.status, 200, "{}", all.text);
    let names: Vec<_> = all.json()["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|u| u["username"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(names, ["walter_1", "walter_2", "walter_3"]);

    let first = app.get("/api/v1/users?q=walt&limit=2", t).await.json();
    assert_eq!(first["items"].as_array().map(Vec::len), Some(2));
    let cursor = first["next_cursor"].as_str().expect("more pages");
    let second = app
        .get(&format!("/api/v1/users?q=walt&limit=2&cursor={cursor}"), t)
        .await
        .json();
    assert_eq!(second["items"][0]["username"], "walter_3");
    assert!(second["next_cursor"].is_null());

    app.get("/api/v1/users", t)
        .await
        .assert_error(422, "validation_failed");
    app.get("/api/v1/users?q=walt&limit=500", t)
        .await
        .assert_error(422, "validation_failed");
    app.get("/api/v1/users?q=walt&cursor=bogus", t)
        .await
        .assert_error(422, "validation_failed");
    app.get("/api/v1/users?q=walt&limit=x", t)
        .await
        .assert_error(400, "invalid_query");
}

/// Issue: anyone signed in, guests included, could list every user.
async fn searching_needs_a_query_and_an_account(app: TestApp) {
    let me = app.user("victor01").await;
    let t = Some(me.token.as_str());
    app.register("walter_1").await;
    for q in ["", "w", "wa", "%20%20wa%20"] {
        app.get(&format!("/api/v1/users?q={q}"), t)
            .await
            .assert_error(422, "validation_failed");
    }
    let found = app.get("/api/v1/users?q=wal", t).await;
    assert_eq!(found.status, 200, "{}", found.text);
    assert_eq!(found.json()["items"][0]["username"], "walter_1");
    // Two characters of Chinese name someone as well as three Latin letters.
    let r = app
        .post(
            "/api/v1/auth/register",
            None,
            serde_json::json!({"username": "zhang_wei", "password": crate::harness::PASSWORD, "nickname": "张伟"}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let found = app.get("/api/v1/users?q=%E5%BC%A0%E4%BC%9F", t).await;
    assert_eq!(found.status, 200, "{}", found.text);
    assert_eq!(
        found.json()["items"][0]["username"],
        "zhang_wei",
        "{}",
        found.text
    );
    app.get("/api/v1/users?q=%E5%BC%A0", t)
        .await
        .assert_error(422, "validation_failed");
    let guest = crate::accounts::guest(&app, "Visitor").await;
    app.get("/api/v1/users?q=wal", Some(&guest.token))
        .await
        .assert_error(403, "guest_forbidden");
}

mod rate_limits {
    use super::*;
    use serde_json::json;

    crate::backend_tests!(
        with |c| {
            c.send_burst = 5;
            c.sends_per_sec = 1;
            c.syncs_per_minute = 2;
            c.searches_per_minute = 2;
            c.friend_requests_per_hour = 1;
        };
        each_user_has_a_ceiling_on_sends_syncs_searches_and_requests,
    );

    /// Issue: 2,000 messages in 0.1 s from one user were accepted. Each user
    /// has token buckets: over HTTP a 429 with `Retry-After`, over the
    /// WebSocket an `error` frame carrying the request id.
    async fn each_user_has_a_ceiling_on_sends_syncs_searches_and_requests(app: TestApp) {
        let a = app.user("amber_01").await;
        let b = app.user("basil_01").await;
        let c = app.user("cyril_01").await;
        let room = app.group(&a, "busy", &[b.id]).await;
        let path = format!("/api/v1/rooms/{room}/messages");
        let send = |i: usize| {
            app.post(
                &path,
                Some(&a.token),
                json!({"client_id": format!("h{i}"), "kind": "text", "body": "hi"}),
            )
        };
        for i in 0..5 {
            assert_eq!(send(i).await.status, 201, "{i}");
        }
        let refused = send(5).await;
        refused.assert_error(429, "rate_limited");
        assert_eq!(refused.headers["retry-after"], "1");
        // Another user is not affected.
        let other = app
            .post(
                &path,
                Some(&b.token),
                json!({"client_id": "b1", "kind": "text", "body": "me too"}),
            )
            .await;
        assert_eq!(other.status, 201, "{}", other.text);

        // The WebSocket shares the bucket: one token a second.
        let (mut ws, _) = app.ws(&a.token).await;
        app.clock.advance(time::Duration::seconds(1));
        ws.send_text("w1", room, "w1", "hello").await;
        ws.send(
            json!({"type": "send", "id": "w2", "room_id": room, "client_id": "w2",
                       "kind": "text", "body": "again"}),
        )
        .await;
        let f = ws.next().await;
        assert_eq!(f["type"], "error", "{f}");
        assert_eq!(f["id"], "w2");
        assert_eq!(f["error"]["code"], "rate_limited");

        // Syncs: HTTP and WebSocket together.
        for _ in 0..2 {
            assert_eq!(app.get("/api/v1/sync", Some(&a.token)).await.status, 200);
        }
        app.get("/api/v1/sync", Some(&a.token))
            .await
            .assert_error(429, "rate_limited");
        ws.send(json!({"type": "sync", "id": "y1", "since": 0}))
            .await;
        let f = ws.next().await;
        assert_eq!(
            (&f["type"], &f["id"]),
            (&json!("error"), &json!("y1")),
            "{f}"
        );
        assert_eq!(f["error"]["code"], "rate_limited");

        // Searches.
        for _ in 0..2 {
            assert_eq!(
                app.get("/api/v1/users?q=cyr", Some(&a.token)).await.status,
                200
            );
        }
        let r = app.get("/api/v1/users?q=cyr", Some(&a.token)).await;
        r.assert_error(429, "rate_limited");
        assert_eq!(r.headers["retry-after"], "30");

        // Friend requests.
        let ask = |to: i64| {
            app.post(
                "/api/v1/friend-requests",
                Some(&a.token),
                json!({"user_id": to}),
            )
        };
        assert_eq!(ask(c.id).await.status, 201);
        ask(b.id).await.assert_error(429, "rate_limited");
    }
}
