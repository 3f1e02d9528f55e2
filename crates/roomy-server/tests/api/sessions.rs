//! Tokens and sessions: renewal, expiry, revocation, listing.

use crate::harness::{PASSWORD, TestApp};
use roomy_core::Clock;
use time::Duration;

crate::backend_tests!(
    tokens_are_renewed_past_half_their_lifetime,
    unused_tokens_expire,
    bad_tokens_are_refused,
    sessions_are_listed_and_ended,
    sessions_end_at_their_absolute_lifetime,
);

async fn tokens_are_renewed_past_half_their_lifetime(app: TestApp) {
    let u = app.user("nina_001").await;
    app.clock.advance(Duration::hours(11));
    let early = app.get("/api/v1/me", Some(&u.token)).await;
    assert_eq!(early.status, 200);
    assert_eq!(early.renewed_token(), None, "not yet past half");

    app.clock.advance(Duration::hours(1) + Duration::seconds(1));
    let due = app.get("/api/v1/me", Some(&u.token)).await;
    assert_eq!(due.status, 200);
    let fresh = due
        .renewed_token()
        .expect("renewed token in Authorization header");
    assert_ne!(fresh, u.token);

    // The old token ends at its own expiry; the renewed one carries on, same session.
    app.clock.advance(Duration::hours(13));
    app.get("/api/v1/me", Some(&u.token))
        .await
        .assert_error(401, "token_expired");
    let later = app.get("/api/v1/me/sessions", Some(&fresh)).await;
    assert_eq!(later.status, 200, "{}", later.text);
    let items = later.json()["items"].as_array().expect("items").clone();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["id"], u.session_id);
}

async fn unused_tokens_expire(app: TestApp) {
    let u = app.user("oscar_01").await;
    app.clock.advance(Duration::hours(24));
    app.get("/api/v1/me", Some(&u.token))
        .await
        .assert_error(401, "token_expired");
    // Logging in again works.
    app.login("oscar_01", PASSWORD).await;
}

async fn bad_tokens_are_refused(app: TestApp) {
    let u = app.user("peggy_01").await;
    app.get("/api/v1/me", None)
        .await
        .assert_error(401, "unauthenticated");
    let mut tampered = u.token.clone();
    tampered.push('x');
    app.get("/api/v1/me", Some(&tampered))
        .await
        .assert_error(401, "invalid_token");
    app.get("/api/v1/me", Some("not-a-token"))
        .await
        .assert_error(401, "invalid_token");
    // A token signed with another server's key.
    let foreign = roomy_api::auth::Tokens::new(&[9u8; 32], Duration::hours(1))
        .issue(
            roomy_core::UserId(u.id),
            roomy_core::SessionId(u.session_id),
            app.clock.now(),
        )
        .token;
    app.get("/api/v1/me", Some(&foreign))
        .await
        .assert_error(401, "invalid_token");
    let basic = reqwest::Client::new()
        .get(app.url("/api/v1/me"))
        .header("authorization", "Basic dXNlcjpwYXNz")
        .send()
        .await
        .expect("send");
    assert_eq!(basic.status(), 401);
}

async fn sessions_are_listed_and_ended(app: TestApp) {
    let a = app.user("quinn_01").await;
    let b = app.login("quinn_01", PASSWORD).await;
    let other = app.user("rupert_1").await;

    let list = app.get("/api/v1/me/sessions", Some(&a.token)).await;
    assert_eq!(list.status, 200, "{}", list.text);
    let body = list.json();
    let items = body["items"].as_array().expect("items");
    assert_eq!(items.len(), 2);
    assert_eq!(items[0]["id"], b.session_id, "newest first");
    assert_eq!(items[0]["current"], false);
    assert_eq!(items[1]["current"], true);
    assert_eq!(items[1]["ip"], "127.0.0.1");
    assert!(body["next_cursor"].is_null());

    let paged = app
        .get("/api/v1/me/sessions?limit=1", Some(&a.token))
        .await
        .json();
    assert_eq!(paged["items"].as_array().map(Vec::len), Some(1));
    let cursor = paged["next_cursor"].as_str().expect("cursor");
    let rest = app
        .get(
            &format!("/api/v1/me/sessions?limit=1&cursor={cursor}"),
            Some(&a.token),
        )
        .await
        .json();
    assert_eq!(rest["items"][0]["id"], a.session_id);
    assert!(rest["next_cursor"].is_null());

    // Someone else's session is not mine to end.
    app.delete(
        &format!("/api/v1/me/sessions/{}", other.session_id),
        Some(&a.token),
    )
    .await
    .assert_error(404, "session_not_found");
    assert_eq!(app.get("/api/v1/me", Some(&other.token)).await.status, 200);

    let end = app
        .delete(
            &format!("/api/v1/me/sessions/{}", b.session_id),
            Some(&a.token),
        )
        .await;
    assert_eq!(end.status, 204, "{}", end.text);
    app.get("/api/v1/me", Some(&b.token))
        .await
        .assert_error(401, "session_ended");
    app.delete(
        &format!("/api/v1/me/sessions/{}", b.session_id),
        Some(&a.token),
    )
    .await
    .assert_error(404, "session_not_found");
    app.delete("/api/v1/me/sessions/abc", Some(&a.token))
        .await
        .assert_error(400, "invalid_path");
}

/// Issue: sessions renewed with use and never ended. However often its token
/// is renewed, a session ends `session_max_age_secs` (30 days) after login,
/// on HTTP and WebSocket alike.
async fn sessions_end_at_their_absolute_lifetime(app: TestApp) {
    let u = app.user("sam_0001").await;
    let max_age = Duration::seconds(app.config.session_max_age_secs as i64);
    assert_eq!(max_age, Duration::days(30));
    let login_at = app.clock.now();
    let mut token = u.token.clone();
    // Renewed every 12 hours and a second, for as long as the session lets it.
    loop {
        app.clock
            .advance(Duration::hours(12) + Duration::seconds(1));
        if app.clock.now() >= login_at + max_age {
            break;
        }
        let r = app.get("/api/v1/me", Some(&token)).await;
        assert_eq!(r.status, 200, "{}", r.text);
        if let Some(fresh) = r.renewed_token() {
            token = fresh;
        }
        // Neither the token nor the session outlives the absolute end.
        let listed = app.get("/api/v1/me/sessions", Some(&token)).await.json();
        let expires = time::OffsetDateTime::parse(
            listed["items"][0]["expires_at"]
                .as_str()
                .expect("expires_at"),
            &time::format_description::well_known::Rfc3339,
        )
        .expect("rfc3339");
        assert!(expires <= login_at + max_age, "{expires}");
    }
    // The last token was cut to end with the session.
    app.get("/api/v1/me", Some(&token))
        .await
        .assert_error(401, "token_expired");
    // A fresh login starts a fresh lifetime.
    let again = app.login("sam_0001", PASSWORD).await;
    assert_eq!(app.get("/api/v1/me", Some(&again.token)).await.status, 200);
}
