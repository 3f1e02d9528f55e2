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
    let guest = crate::accounts::guest(&app, "Visitor").await;
    app.get("/api/v1/users?q=wal", Some(&guest.token))
        .await
        .assert_error(403, "guest_forbidden");
}
