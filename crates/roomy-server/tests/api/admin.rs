//! Administrators disabling accounts.

use crate::harness::{PASSWORD, TestApp};
use serde_json::json;

crate::backend_tests!(
    disabling_a_user_stops_its_tokens_at_once,
    only_admins_administer
);

async fn disabling_a_user_stops_its_tokens_at_once(app: TestApp) {
    let admin = app.admin("the_admin").await;
    let u = app.user("xavier01").await;
    let (mut live, _) = app.ws(&u.token).await;
    let path = format!("/api/v1/admin/users/{}", u.id);
    let r = app
        .patch(&path, Some(&admin.token), json!({"disabled": true}))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json()["disabled"], true);
    // Live connections close at once, saying why.
    assert_eq!(live.next().await["error"]["code"], "account_disabled");
    assert_eq!(live.next().await, serde_json::Value::Null);
    app.get("/api/v1/me", Some(&u.token))
        .await
        .assert_error(401, "account_disabled");
    app.post(
        "/api/v1/auth/login",
        None,
        json!({"username": "xavier01", "password": PASSWORD}),
    )
    .await
    .assert_error(401, "invalid_credentials");
    // Disabled users do not show up in search.
    let found = app
        .get("/api/v1/users?q=xavier", Some(&admin.token))
        .await
        .json();
    assert_eq!(found["items"].as_array().map(Vec::len), Some(0));

    let r = app
        .patch(&path, Some(&admin.token), json!({"disabled": false}))
        .await;
    assert_eq!(r.json()["disabled"], false);
    // Re-enabling does not revive old sessions, but the user may log in again.
    app.get("/api/v1/me", Some(&u.token))
        .await
        .assert_error(401, "session_ended");
    app.login("xavier01", PASSWORD).await;
}

async fn only_admins_administer(app: TestApp) {
    let admin = app.admin("boss_0001").await;
    let u = app.user("yvonne01").await;
    let other = app.user("zack_001").await;
    app.patch(
        &format!("/api/v1/admin/users/{}", other.id),
        Some(&u.token),
        json!({"disabled": true}),
    )
    .await
    .assert_error(403, "admin_only");
    assert_eq!(app.get("/api/v1/me", Some(&other.token)).await.status, 200);
    app.patch(
        &format!("/api/v1/admin/users/{}", admin.id),
        Some(&admin.token),
        json!({"disabled": true}),
    )
    .await
    .assert_error(422, "cannot_disable_self");
    app.patch(
        "/api/v1/admin/users/424242",
        Some(&admin.token),
        json!({"disabled": true}),
    )
    .await
    .assert_error(404, "user_not_found");
    app.patch(
        &format!("/api/v1/admin/users/{}", u.id),
        Some(&admin.token),
        json!({"disabled": "yes"}),
    )
    .await
    .assert_error(422, "invalid_body");
}
