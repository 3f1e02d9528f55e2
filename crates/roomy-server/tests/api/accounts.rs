//! Registration, login, guest login, logout, profile and password (SPEC §1).

use crate::harness::{PASSWORD, TestApp};
use roomy_core::Clock;
use serde_json::json;
use time::Duration;

crate::backend_tests!(
    register_returns_the_user_and_no_secret,
    register_reports_every_bad_field,
    register_refuses_a_taken_username_in_any_case,
    login_gives_a_token_in_body_and_header,
    login_answers_the_same_for_unknown_user_and_wrong_password,
    login_failures_are_limited_per_account,
    login_failures_are_limited_per_address,
    guests_log_in_with_a_nickname_only,
    logout_ends_the_token,
    profile_edits_are_partial_and_validated,
    password_change_ends_the_other_sessions,
    password_change_checks_the_old_password,
    no_response_ever_contains_a_password_hash,
);

async fn register_returns_the_user_and_no_secret(app: TestApp) {
    let r = app
        .post(
            "/api/v1/auth/register",
            None,
            json!({"username": "alice_01", "password": PASSWORD, "nickname": " Alice "}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let u = &r.json()["user"];
    assert_eq!(u["username"], "alice_01");
    assert_eq!(u["nickname"], "Alice");
    assert_eq!(u["role"], "user");
    assert_eq!(u["invite_confirm"], 1);
    assert!(u["avatar"].is_null());
    assert!(u["id"].is_i64());
    assert!(
        time::OffsetDateTime::parse(
            u["created_at"].as_str().expect("created_at"),
            &time::format_description::well_known::Rfc3339
        )
        .is_ok()
    );
    assert!(!r.text.contains(PASSWORD) && !r.text.contains("password"));
    // Without a nickname, the username stands in.
    let b = app.register("bob_0001").await;
    assert_eq!(b["nickname"], "bob_0001");
}

async fn register_reports_every_bad_field(app: TestApp) {
    let r = app
        .post(
            "/api/v1/auth/register",
            None,
            json!({"username": "bad name!", "password": "short", "nickname": "x".repeat(31)}),
        )
        .await;
    r.assert_error(422, "validation_failed");
    let fields = &r.json()["error"]["fields"];
    for f in ["username", "password", "nickname"] {
        assert!(fields[f].is_string(), "{f} missing in {fields}");
    }
    let long = app
        .post(
            "/api/v1/auth/register",
            None,
            json!({"username": "y".repeat(31), "password": "p".repeat(129)}),
        )
        .await;
    long.assert_error(422, "validation_failed");
    assert!(long.json()["error"]["fields"]["password"].is_string());
    let missing = app
        .post(
            "/api/v1/auth/register",
            None,
            json!({"username": "carol_01"}),
        )
        .await;
    missing.assert_error(422, "invalid_body");
    assert!(
        missing.json()["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("password")
    );
}

async fn register_refuses_a_taken_username_in_any_case(app: TestApp) {
    app.register("dave_001").await;
    let r = app
        .post(
            "/api/v1/auth/register",
            None,
            json!({"username": "DAVE_001", "password": PASSWORD}),
        )
        .await;
    r.assert_error(409, "username_taken");
    assert!(r.json()["error"]["fields"]["username"].is_string());
}

async fn login_gives_a_token_in_body_and_header(app: TestApp) {
    app.register("erin_001").await;
    let r = app
        .post(
            "/api/v1/auth/login",
            None,
            json!({"username": "ERIN_001", "password": PASSWORD}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let b = r.json();
    let token = b["token"].as_str().expect("token");
    assert_eq!(r.renewed_token().as_deref(), Some(token));
    assert_eq!(b["user"]["username"], "erin_001");
    let expires = time::OffsetDateTime::parse(
        b["expires_at"].as_str().expect("expires_at"),
        &time::format_description::well_known::Rfc3339,
    )
    .expect("rfc3339");
    let ttl = expires - app.clock.now();
    assert!(
        ttl > Duration::hours(23) && ttl <= Duration::hours(24),
        "{ttl}"
    );
    let me = app.get("/api/v1/me", Some(token)).await;
    assert_eq!(me.status, 200);
    assert_eq!(me.json()["username"], "erin_001");
}

async fn login_answers_the_same_for_unknown_user_and_wrong_password(app: TestApp) {
    app.register("frank_01").await;
    let wrong = app
        .post(
            "/api/v1/auth/login",
            None,
            json!({"username": "frank_01", "password": "not-the-password"}),
        )
        .await;
    let unknown = app
        .post(
            "/api/v1/auth/login",
            None,
            json!({"username": "nobody_here", "password": "not-the-password"}),
        )
        .await;
    wrong.assert_error(401, "invalid_credentials");
    assert_eq!(wrong.text, unknown.text);
    assert_eq!(wrong.status, unknown.status);
}

async fn login_failures_are_limited_per_account(app: TestApp) {
    app.register("grace_01").await;
    let attempt = |pw: &'static str| {
        app.post(
            "/api/v1/auth/login",
            None,
            json!({"username": "grace_01", "password": pw}),
        )
    };
    for _ in 0..10 {
        attempt("wrong-password")
            .await
            .assert_error(401, "invalid_credentials");
    }
    // The 11th attempt within the minute is refused, even with the right password.
    let refused = attempt(PASSWORD).await;
    refused.assert_error(429, "rate_limited");
    let retry: u64 = refused.headers["retry-after"]
        .to_str()
        .expect("ascii")
        .parse()
        .expect("seconds");
    assert!((1..=60).contains(&retry), "{retry}");
    app.clock.advance(Duration::seconds(retry as i64));
    assert_eq!(attempt(PASSWORD).await.status, 200);
}

async fn login_failures_are_limited_per_address(app: TestApp) {
    app.register("heidi_01").await;
    for i in 0..10 {
        app.post(
            "/api/v1/auth/login",
            None,
            json!({"username": format!("ghost_{i:03}"), "password": "whatever-pw"}),
        )
        .await
        .assert_error(401, "invalid_credentials");
    }
    let r = app
        .post(
            "/api/v1/auth/login",
            None,
            json!({"username": "heidi_01", "password": PASSWORD}),
        )
        .await;
    r.assert_error(429, "rate_limited");
    assert!(r.headers.contains_key("retry-after"));
}

async fn guests_log_in_with_a_nickname_only(app: TestApp) {
    let r = app
        .post("/api/v1/auth/guest", None, json!({"nickname": "Visitor"}))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let b = r.json();
    assert_eq!(b["user"]["role"], "guest");
    assert_eq!(b["user"]["nickname"], "Visitor");
    let username = b["user"]["username"].as_str().expect("username").to_owned();
    assert!(username.starts_with("guest_"));
    let token = b["token"].as_str().expect("token");
    assert_eq!(
        app.get("/api/v1/me", Some(token)).await.json()["role"],
        "guest"
    );
    // A guest has no password: it can neither log in with one nor change it.
    app.post(
        "/api/v1/auth/login",
        None,
        json!({"username": username, "password": "anything-at-all"}),
    )
    .await
    .assert_error(401, "invalid_credentials");
    app.call(
        reqwest::Method::PUT,
        "/api/v1/me/password",
        Some(token),
        Some(json!({"old_password": "anything-at-all", "new_password": "new-password-1"})),
    )
    .await
    .assert_error(403, "no_password");
    app.post("/api/v1/auth/guest", None, json!({"nickname": "  "}))
        .await
        .assert_error(422, "validation_failed");
}

async fn logout_ends_the_token(app: TestApp) {
    let u = app.user("ivan_001").await;
    let r = app
        .post("/api/v1/auth/logout", Some(&u.token), json!({}))
        .await;
    assert_eq!(r.status, 204, "{}", r.text);
    app.get("/api/v1/me", Some(&u.token))
        .await
        .assert_error(401, "session_ended");
    app.post("/api/v1/auth/logout", Some(&u.token), json!({}))
        .await
        .assert_error(401, "session_ended");
}

async fn profile_edits_are_partial_and_validated(app: TestApp) {
    let u = app.user("judy_001").await;
    let t = Some(u.token.as_str());
    let r = app
        .patch(
            "/api/v1/me",
            t,
            json!({"avatar": "https://img.example/j.png", "invite_confirm": 0}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let b = r.json();
    assert_eq!(b["avatar"], "https://img.example/j.png");
    assert_eq!(b["invite_confirm"], 0);
    assert_eq!(b["nickname"], "judy_001");
    let r = app
        .patch("/api/v1/me", t, json!({"nickname": "Judy", "avatar": null}))
        .await;
    let b = r.json();
    assert_eq!(b["nickname"], "Judy");
    assert!(b["avatar"].is_null());
    assert_eq!(b["invite_confirm"], 0);
    assert_eq!(app.get("/api/v1/me", t).await.json()["nickname"], "Judy");

    let bad = app
        .patch(
            "/api/v1/me",
            t,
            json!({"avatar": "javascript:alert(1)", "invite_confirm": 2, "nickname": ""}),
        )
        .await;
    bad.assert_error(422, "validation_failed");
    let fields = &bad.json()["error"]["fields"];
    for f in ["avatar", "invite_confirm", "nickname"] {
        assert!(fields[f].is_string(), "{f} missing in {fields}");
    }
    // The username is immutable: it is not a field of the patch at all.
    app.patch("/api/v1/me", t, json!({"username": "someone_else"}))
        .await
        .assert_error(422, "invalid_body");
    assert_eq!(
        app.get("/api/v1/me", t).await.json()["username"],
        "judy_001"
    );
}

async fn password_change_ends_the_other_sessions(app: TestApp) {
    let a = app.user("kate_001").await;
    let b = app.login("kate_001", PASSWORD).await;
    let (mut other_device, _) = app.ws(&b.token).await;
    let (mut this_device, _) = app.ws(&a.token).await;
    let r = app
        .call(
            reqwest::Method::PUT,
            "/api/v1/me/password",
            Some(&a.token),
            Some(json!({"old_password": PASSWORD, "new_password": "a-brand-new-pass"})),
        )
        .await;
    assert_eq!(r.status, 204, "{}", r.text);
    assert_eq!(other_device.next().await["error"]["code"], "session_ended");
    this_device.assert_quiet().await;
    assert_eq!(app.get("/api/v1/me", Some(&a.token)).await.status, 200);
    app.get("/api/v1/me", Some(&b.token))
        .await
        .assert_error(401, "session_ended");
    app.post(
        "/api/v1/auth/login",
        None,
        json!({"username": "kate_001", "password": PASSWORD}),
    )
    .await
    .assert_error(401, "invalid_credentials");
    app.login("kate_001", "a-brand-new-pass").await;
}

async fn password_change_checks_the_old_password(app: TestApp) {
    let a = app.user("leo_0001").await;
    let put = |body| {
        app.call(
            reqwest::Method::PUT,
            "/api/v1/me/password",
            Some(&a.token),
            Some(body),
        )
    };
    put(json!({"old_password": "not-it-at-all", "new_password": "another-pass-1"}))
        .await
        .assert_error(403, "wrong_password");
    let weak = put(json!({"old_password": PASSWORD, "new_password": "short"})).await;
    weak.assert_error(422, "validation_failed");
    assert!(weak.json()["error"]["fields"]["new_password"].is_string());
    app.login("leo_0001", PASSWORD).await;
}

async fn no_response_ever_contains_a_password_hash(app: TestApp) {
    let admin = app.admin("root_admin").await;
    let u = app.user("mallory1").await;
    let t = Some(u.token.as_str());
    let mut bodies = vec![
        app.get("/api/v1/me", t).await.text,
        app.patch("/api/v1/me", t, json!({"nickname": "M"}))
            .await
            .text,
        app.get(&format!("/api/v1/users/{}", u.id), t).await.text,
        app.get("/api/v1/users?q=mal", t).await.text,
        app.get("/api/v1/me/sessions", t).await.text,
        app.patch(
            &format!("/api/v1/admin/users/{}", u.id),
            Some(&admin.token),
            json!({"disabled": false}),
        )
        .await
        .text,
        app.post(
            "/api/v1/auth/login",
            None,
            json!({"username": "mallory1", "password": PASSWORD}),
        )
        .await
        .text,
    ];
    bodies.push(app.get("/api/v1/openapi.json", None).await.text);
    for body in bodies {
        assert!(!body.contains("$argon2"), "hash leaked: {body}");
        assert!(!body.contains("password_hash"), "hash field leaked: {body}");
    }
}
