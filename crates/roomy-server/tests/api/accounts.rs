//! Registration, login, guest login, logout, profile and password (the rules are in `roomy_core::user_fields`).

use crate::harness::{Login, PASSWORD, Resp, TestApp};
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
    // One address trying many accounts: 3 × 10 a minute over all of them.
    for i in 0..30 {
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

/// A client whose requests leave from `ip`: any 127.0.0.0/8 address reaches
/// the server, each as a different TCP peer.
pub(crate) fn client_from(ip: &str) -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(Some(ip.parse().expect("ip")))
        .build()
        .expect("client")
}

/// `POST path` with `body` through `client`, with `X-Forwarded-For: xff` if given.
pub(crate) async fn post_via(
    app: &TestApp,
    client: &reqwest::Client,
    path: &str,
    xff: Option<&str>,
    body: serde_json::Value,
) -> Resp {
    let mut req = client.post(app.url(path)).json(&body);
    if let Some(xff) = xff {
        req = req.header("x-forwarded-for", xff);
    }
    let resp = req.send().await.expect("request");
    Resp {
        status: resp.status().as_u16(),
        headers: resp.headers().clone(),
        text: resp.text().await.expect("body"),
    }
}

fn retry_after(r: &Resp) -> i64 {
    r.headers["retry-after"]
        .to_str()
        .expect("ascii")
        .parse()
        .expect("seconds")
}

/// A new guest, logged in.
pub(crate) async fn guest(app: &TestApp, nickname: &str) -> Login {
    let r = app
        .post("/api/v1/auth/guest", None, json!({"nickname": nickname}))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let b = r.json();
    Login {
        id: b["user"]["id"].as_i64().expect("id"),
        token: b["token"].as_str().expect("token").to_owned(),
        session_id: b["session_id"].as_i64().expect("session id"),
    }
}

mod abuse {
    use super::*;
    crate::backend_tests!(
        an_attacker_cannot_lock_the_owner_out,
        a_disabled_account_answers_as_a_wrong_password,
        guests_get_a_small_quota,
        idle_guests_are_retired_with_their_files,
    );
}

/// Issue: ten wrong passwords from one address locked the account for
/// everyone. Now only that address is refused for that account.
async fn an_attacker_cannot_lock_the_owner_out(app: TestApp) {
    app.register("alice_01").await;
    let attacker = client_from("127.0.0.1");
    let owner = client_from("127.0.0.2");
    let login = |client, pw: &'static str| {
        post_via(
            &app,
            client,
            "/api/v1/auth/login",
            None,
            json!({"username": "alice_01", "password": pw}),
        )
    };
    for _ in 0..10 {
        login(&attacker, "wrong-password")
            .await
            .assert_error(401, "invalid_credentials");
    }
    let refused = login(&attacker, "wrong-password").await;
    refused.assert_error(429, "rate_limited");
    assert_eq!(retry_after(&refused), 60);
    // The owner, from another address, logs in and changes the password.
    let ok = login(&owner, PASSWORD).await;
    assert_eq!(ok.status, 200, "{}", ok.text);
    let token = ok.json()["token"].as_str().expect("token").to_owned();
    let changed = owner
        .put(app.url("/api/v1/me/password"))
        .bearer_auth(&token)
        .json(&json!({"old_password": PASSWORD, "new_password": "a-brand-new-pass"}))
        .send()
        .await
        .expect("request");
    assert_eq!(changed.status().as_u16(), 204);
    // The attacker's address stays refused until its minute is over.
    login(&attacker, "a-brand-new-pass")
        .await
        .assert_error(429, "rate_limited");
    app.clock.advance(Duration::seconds(60));
    assert_eq!(login(&attacker, "a-brand-new-pass").await.status, 200);
}

/// Issue: a disabled account answered 403 to the right password and 401 to
/// a wrong one, confirming the password.
async fn a_disabled_account_answers_as_a_wrong_password(app: TestApp) {
    let admin = app.admin("the_admin").await;
    let u = app.user("judy_001").await;
    let r = app
        .patch(
            &format!("/api/v1/admin/users/{}", u.id),
            Some(&admin.token),
            json!({"disabled": true}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let attempt = |pw: &'static str| {
        app.post(
            "/api/v1/auth/login",
            None,
            json!({"username": "judy_001", "password": pw}),
        )
    };
    let right = attempt(PASSWORD).await;
    let wrong = attempt("not-the-password").await;
    right.assert_error(401, "invalid_credentials");
    assert_eq!((right.status, right.text), (wrong.status, wrong.text));
}

/// Issue: every guest had the full 20 GiB quota (a 2 GiB upload → 201).
async fn guests_get_a_small_quota(app: TestApp) {
    let g = guest(&app, "Visitor").await;
    let u = app.user("kim_0001").await;
    let create = |who: &Login, len: u64| {
        app.send_raw(
            app.request(reqwest::Method::POST, "/api/v1/uploads", Some(&who.token))
                .header("tus-resumable", "1.0.0")
                .header("upload-length", len.to_string()),
        )
    };
    let quota = roomy_core::Config::default().guest_quota_bytes;
    create(&g, 2 * 1024 * 1024 * 1024)
        .await
        .assert_error(413, "quota_exceeded");
    create(&g, quota + 1)
        .await
        .assert_error(413, "quota_exceeded");
    assert_eq!(create(&g, quota).await.status, 201);
    assert_eq!(create(&u, 2 * 1024 * 1024 * 1024).await.status, 201);
    // One-request uploads too: the guest's quota is spent.
    let part = reqwest::multipart::Part::bytes(b"hello".to_vec()).file_name("a.txt");
    app.send_raw(
        app.request(reqwest::Method::POST, "/api/v1/files", Some(&g.token))
            .multipart(reqwest::multipart::Form::new().part("file", part)),
    )
    .await
    .assert_error(413, "quota_exceeded");
}

mod distributed {
    use super::*;

    crate::backend_tests!(
        with |c| {
            c.trusted_proxies = vec!["127.0.0.1".into()];
            c.login_failures_per_hour = 5;
        };
        a_distributed_guess_is_bounded_per_account,
        forwarded_for_is_believed_from_a_trusted_proxy,
    );

    /// Failures spread over addresses still meet the per-account ceiling;
    /// the owner's known address is exempt from it.
    async fn a_distributed_guess_is_bounded_per_account(app: TestApp) {
        app.register("bob_0001").await;
        let proxy = client_from("127.0.0.1");
        let login = |xff: &'static str, pw: &'static str| {
            post_via(
                &app,
                &proxy,
                "/api/v1/auth/login",
                Some(xff),
                json!({"username": "bob_0001", "password": pw}),
            )
        };
        assert_eq!(login("198.51.100.1", PASSWORD).await.status, 200);
        for xff in [
            "203.0.113.1",
            "203.0.113.2",
            "203.0.113.3",
            "203.0.113.4",
            "203.0.113.5",
        ] {
            login(xff, "wrong-password")
                .await
                .assert_error(401, "invalid_credentials");
        }
        let refused = login("203.0.113.6", "wrong-password").await;
        refused.assert_error(429, "rate_limited");
        assert_eq!(retry_after(&refused), 3600);
        login("203.0.113.7", PASSWORD)
            .await
            .assert_error(429, "rate_limited");
        assert_eq!(login("198.51.100.1", PASSWORD).await.status, 200);
        app.clock.advance(Duration::hours(1));
        assert_eq!(login("203.0.113.7", PASSWORD).await.status, 200);
    }

    /// `X-Forwarded-For` names the client only when the peer is a trusted
    /// proxy, and then only its right-most untrusted entry.
    async fn forwarded_for_is_believed_from_a_trusted_proxy(app: TestApp) {
        app.register("carl_001").await;
        let body = json!({"username": "carl_001", "password": PASSWORD});
        let via_proxy = post_via(
            &app,
            &client_from("127.0.0.1"),
            "/api/v1/auth/login",
            Some("6.6.6.6, 198.51.100.9, 127.0.0.1"),
            body.clone(),
        )
        .await;
        assert_eq!(via_proxy.status, 200, "{}", via_proxy.text);
        let direct = post_via(
            &app,
            &client_from("127.0.0.2"),
            "/api/v1/auth/login",
            Some("198.51.100.9"),
            body,
        )
        .await;
        assert_eq!(direct.status, 200, "{}", direct.text);
        let token = direct.json()["token"].as_str().expect("token").to_owned();
        let sessions = app.get("/api/v1/me/sessions", Some(&token)).await.json();
        let ips: Vec<_> = sessions["items"]
            .as_array()
            .expect("items")
            .iter()
            .map(|s| s["ip"].as_str().unwrap_or_default().to_owned())
            .collect();
        // Newest first: the untrusted peer's header was ignored.
        assert_eq!(ips, ["127.0.0.2", "198.51.100.9"]);
    }
}

mod untrusted {
    use super::*;

    crate::backend_tests!(forwarded_for_is_ignored_without_trusted_proxies);

    /// Without `trusted_proxies`, a client cannot escape its lockout by
    /// claiming other addresses.
    async fn forwarded_for_is_ignored_without_trusted_proxies(app: TestApp) {
        app.register("dora_001").await;
        let client = client_from("127.0.0.1");
        for i in 0..11 {
            let r = post_via(
                &app,
                &client,
                "/api/v1/auth/login",
                Some(&format!("203.0.113.{i}")),
                json!({"username": "dora_001", "password": "wrong-password"}),
            )
            .await;
            let expected = if i < 10 { 401 } else { 429 };
            assert_eq!(r.status, expected, "{i}: {}", r.text);
        }
    }
}

mod signups {
    use super::*;

    crate::backend_tests!(
        with |c| {
            let d = roomy_core::Config::default();
            c.registrations_per_hour = d.registrations_per_hour;
            c.guests_per_hour = d.guests_per_hour;
        };
        registrations_are_limited_per_address,
        guests_are_limited_per_address,
    );

    /// Issue: 60 registrations in 1.1 s from one address were all accepted.
    async fn registrations_are_limited_per_address(app: TestApp) {
        let n = roomy_core::Config::default().registrations_per_hour;
        let here = client_from("127.0.0.1");
        let register = |client, name: String| {
            post_via(
                &app,
                client,
                "/api/v1/auth/register",
                None,
                json!({"username": name, "password": PASSWORD}),
            )
        };
        for i in 0..n {
            let r = register(&here, format!("user_{i:03}")).await;
            assert_eq!(r.status, 201, "{i}: {}", r.text);
        }
        let refused = register(&here, "one_more".into()).await;
        refused.assert_error(429, "rate_limited");
        assert_eq!(retry_after(&refused), i64::from(3600 / n));
        // Another address is not affected; time refills the first.
        let elsewhere = client_from("127.0.0.2");
        let there = register(&elsewhere, "elsewhere".into()).await;
        assert_eq!(there.status, 201, "{}", there.text);
        app.clock.advance(Duration::seconds(i64::from(3600 / n)));
        assert_eq!(register(&here, "one_more".into()).await.status, 201);
    }

    /// Issue: 400 guest accounts in 0.4 s from one address.
    async fn guests_are_limited_per_address(app: TestApp) {
        let n = roomy_core::Config::default().guests_per_hour;
        let here = client_from("127.0.0.1");
        let new_guest = |client| {
            post_via(
                &app,
                client,
                "/api/v1/auth/guest",
                None,
                json!({"nickname": "Visitor"}),
            )
        };
        for i in 0..n {
            assert_eq!(new_guest(&here).await.status, 200, "{i}");
        }
        let refused = new_guest(&here).await;
        refused.assert_error(429, "rate_limited");
        assert_eq!(retry_after(&refused), i64::from(3600 / n));
        let elsewhere = client_from("127.0.0.2");
        assert_eq!(new_guest(&elsewhere).await.status, 200);
    }
}

/// Regular files under `dir`, however deep (dot-folders, work in progress, skipped).
fn files_under(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in entries.flatten() {
        let path = e.path();
        if e.file_name().to_string_lossy().starts_with('.') {
            continue;
        }
        if path.is_dir() {
            out.extend(files_under(&path));
        } else {
            out.push(path);
        }
    }
    out
}

/// Issue: guest accounts were never cleaned up. A guest idle for
/// `guest_ttl_secs` is disabled, anonymised and loses its files; its
/// messages stay in the room, the media one without its file.
async fn idle_guests_are_retired_with_their_files(app: TestApp) {
    let owner = app.user("olga_001").await;
    let g = guest(&app, "Drifter").await;
    // Guests join groups by link.
    let room = app.group(&owner, "lobby", &[]).await;
    let link = app
        .post(
            &format!("/api/v1/rooms/{room}/invites"),
            Some(&owner.token),
            json!({}),
        )
        .await
        .json();
    let token = link["token"].as_str().expect("invite token");
    let joined = app
        .post(
            &format!("/api/v1/invites/{token}/join"),
            Some(&g.token),
            json!({}),
        )
        .await;
    assert_eq!(joined.status, 200, "{}", joined.text);
    let part = reqwest::multipart::Part::bytes(b"guest notes".to_vec()).file_name("notes.txt");
    let up = app
        .send_raw(
            app.request(reqwest::Method::POST, "/api/v1/files", Some(&g.token))
                .multipart(reqwest::multipart::Form::new().part("file", part)),
        )
        .await;
    assert_eq!(up.status, 201, "{}", String::from_utf8_lossy(&up.body));
    let file = up.json()["id"].as_i64().expect("file id");
    let messages = format!("/api/v1/rooms/{room}/messages");
    for body in [
        json!({"client_id": "t1", "kind": "text", "body": "hello all"}),
        json!({"client_id": "f1", "kind": "file", "file_id": file}),
    ] {
        let r = app.post(&messages, Some(&g.token), body).await;
        assert_eq!(r.status, 201, "{}", r.text);
    }
    // An unfinished upload, its bytes in the upload folder.
    let unfinished = app
        .send_raw(
            app.request(reqwest::Method::POST, "/api/v1/uploads", Some(&g.token))
                .header("tus-resumable", "1.0.0")
                .header("upload-length", "1000"),
        )
        .await;
    assert_eq!(unfinished.status, 201);
    let data = app.config.data_dir.clone();
    assert_eq!(files_under(&data.join("files")).len(), 1);
    assert_eq!(files_under(&data.join("uploads")).len(), 1);

    let ttl = Duration::seconds(app.config.guest_ttl_secs as i64);
    assert_eq!(ttl, Duration::days(7));
    let sweep = || app.state.app.sweep_idle_guests(ttl);
    app.clock.advance(Duration::days(6));
    let recent = guest(&app, "Newcomer").await;
    assert_eq!(sweep().await.expect("sweep"), 0, "not idle long enough");
    app.clock.advance(Duration::days(1));
    assert_eq!(sweep().await.expect("sweep"), 1);
    assert_eq!(sweep().await.expect("sweep"), 0, "retired once");

    // Its sessions are gone: nobody can ever be this guest again.
    let session = app
        .state
        .app
        .store
        .session_with_user(roomy_core::SessionId(g.session_id))
        .await
        .expect("store");
    assert!(session.is_none());
    // A week later the owner needs a new token too.
    let owner = app.login("olga_001", PASSWORD).await;
    let shown = app
        .get(&format!("/api/v1/users/{}", g.id), Some(&owner.token))
        .await
        .json();
    assert_eq!(shown["nickname"], "Former guest");
    assert!(shown["avatar"].is_null());
    let history = app.get(&messages, Some(&owner.token)).await.json();
    let from_guest: Vec<_> = history["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter(|m| m["sender"]["id"] == g.id && m["kind"] != "system")
        .cloned()
        .collect();
    assert_eq!(from_guest.len(), 2, "{history}");
    assert!(from_guest.iter().any(|m| m["body"] == "hello all"));
    assert!(from_guest.iter().all(|m| m["file"].is_null()), "{history}");
    app.get(&format!("/api/v1/files/{file}"), Some(&owner.token))
        .await
        .assert_error(404, "file_not_found");
    assert_eq!(
        files_under(&data.join("files")),
        Vec::<std::path::PathBuf>::new()
    );
    assert_eq!(
        files_under(&data.join("uploads")),
        Vec::<std::path::PathBuf>::new()
    );
    // The guest who came a day ago keeps its account and session.
    let (_, kept) = app
        .state
        .app
        .store
        .session_with_user(roomy_core::SessionId(recent.session_id))
        .await
        .expect("store")
        .expect("session kept");
    assert!(!kept.disabled);
    assert_eq!(kept.nickname, "Newcomer");
}
