//! Invite links over HTTP: who may make and see them, joining (guests too),
//! the links' end (expiry, use limit, revocation), the race for a last use,
//! the QR images, what the database keeps of a token, and the bans that keep
//! removed members out.

use crate::harness::{Backend, Login, TestApp};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use time::{Duration, OffsetDateTime, format_description::well_known::Rfc3339};

crate::backend_tests!(
    only_managers_create_list_and_revoke_invites,
    invite_requests_are_validated,
    joining_adds_a_member_with_a_notice,
    members_rejoining_use_nothing,
    guests_join_by_invite_and_chat,
    expired_links_are_gone,
    used_up_links_are_gone,
    revoked_links_are_gone,
    unknown_tokens_are_not_found,
    concurrent_joins_take_the_last_use_once,
    qr_codes_carry_the_link,
    the_database_keeps_only_token_hashes,
    removed_members_are_banned_until_lifted,
);

/// Creates an invite as `by`, asserting success; the answer.
async fn invite(app: &TestApp, room: i64, by: &Login, body: Value) -> Value {
    let r = app
        .post(
            &format!("/api/v1/rooms/{room}/invites"),
            Some(&by.token),
            body,
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    r.json()
}

fn token_of(invite: &Value) -> String {
    invite["token"].as_str().expect("token").to_owned()
}

/// A guest session: (token, user id).
async fn guest(app: &TestApp, nickname: &str) -> (String, i64) {
    let g = app
        .post("/api/v1/auth/guest", None, json!({"nickname": nickname}))
        .await
        .json();
    (
        g["token"].as_str().expect("guest token").to_owned(),
        g["user"]["id"].as_i64().expect("guest id"),
    )
}

fn instant(v: &Value) -> OffsetDateTime {
    OffsetDateTime::parse(v.as_str().expect("a time"), &Rfc3339).expect("RFC 3339")
}

/// GET without authentication, keeping the body as bytes.
async fn fetch(app: &TestApp, path: &str) -> (u16, reqwest::header::HeaderMap, Vec<u8>) {
    let resp = reqwest::get(app.url(path)).await.expect("request");
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    (status, headers, resp.bytes().await.expect("body").to_vec())
}

async fn only_managers_create_list_and_revoke_invites(app: TestApp) {
    let owner = app.user("iv_owner").await;
    let admin = app.user("iv_admin").await;
    let member = app.user("iv_member").await;
    let gone = app.user("iv_gone1").await;
    let stranger = app.user("iv_stranger").await;
    let (guest_member, _) = guest(&app, "Visitor").await;
    let (guest_outside, _) = guest(&app, "Outsider").await;
    let room = app
        .group(&owner, "Hikers", &[admin.id, member.id, gone.id])
        .await;
    let r = app
        .patch(
            &format!("/api/v1/rooms/{room}/members/{}", admin.id),
            Some(&owner.token),
            json!({"role": "admin"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = app
        .delete(
            &format!("/api/v1/rooms/{room}/members/{}", gone.id),
            Some(&owner.token),
        )
        .await;
    assert_eq!(r.status, 204, "{}", r.text);

    // The owner's link: 7 days and any number of uses by default.
    let first = invite(&app, room, &owner, json!({})).await;
    let token = token_of(&first);
    assert_eq!(token.len(), 43, "32 bytes in base64url without padding");
    assert!(
        token
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    );
    assert_eq!(
        first["url"],
        format!("{}/invite/{token}", app.state.app.settings.public_url)
    );
    assert_eq!(first["max_uses"], Value::Null);
    assert_eq!(first["uses"], 0);
    assert_eq!(first["created_by"], owner.id);
    assert_eq!(first["state"], "active");
    assert_eq!(
        instant(&first["expires_at"]) - instant(&first["created_at"]),
        Duration::days(7)
    );
    // Guests join by link (nobody may put them in a group).
    let joined = app
        .post(
            &format!("/api/v1/invites/{token}/join"),
            Some(&guest_member),
            json!({}),
        )
        .await;
    assert_eq!(joined.status, 200, "{}", joined.text);
    // An admin's link, with limits.
    let second = invite(
        &app,
        room,
        &admin,
        json!({"expires_in": 3600, "max_uses": 5}),
    )
    .await;
    assert_eq!(second["max_uses"], 5);
    assert_eq!(second["created_by"], admin.id);
    assert_eq!(
        instant(&second["expires_at"]) - instant(&second["created_at"]),
        Duration::hours(1)
    );
    assert_ne!(second["token"], first["token"]);

    let path = format!("/api/v1/rooms/{room}/invites");
    for token in [&member.token, &guest_member] {
        app.post(&path, Some(token), json!({}))
            .await
            .assert_error(403, "not_room_admin");
        app.get(&path, Some(token))
            .await
            .assert_error(403, "not_room_admin");
    }
    for token in [&gone.token, &stranger.token, &guest_outside] {
        app.post(&path, Some(token), json!({}))
            .await
            .assert_error(404, "room_not_found");
        app.get(&path, Some(token))
            .await
            .assert_error(404, "room_not_found");
    }
    app.post(&path, None, json!({}))
        .await
        .assert_error(401, "unauthenticated");
    // Direct rooms have no invites.
    let direct = app.direct(&owner, &stranger).await;
    app.post(
        &format!("/api/v1/rooms/{direct}/invites"),
        Some(&owner.token),
        json!({}),
    )
    .await
    .assert_error(422, "not_a_group");

    // Listed newest first, never with a token.
    for who in [&owner, &admin] {
        let list = app.get(&path, Some(&who.token)).await;
        assert_eq!(list.status, 200, "{}", list.text);
        let items = list.json()["items"].clone();
        assert_eq!(items[0]["id"], second["id"], "{items}");
        assert_eq!(items[1]["id"], first["id"], "{items}");
        assert_eq!(items.as_array().map(Vec::len), Some(2));
        for item in items.as_array().expect("items") {
            assert!(
                item.get("token").is_none() && item.get("url").is_none(),
                "{item}"
            );
        }
        assert!(!list.text.contains(&token));
    }
    let page = app
        .get(&format!("{path}?limit=1"), Some(&owner.token))
        .await
        .json();
    assert_eq!(page["items"][0]["id"], second["id"]);
    let cursor = page["next_cursor"].as_str().expect("a next page");
    let rest = app
        .get(
            &format!("{path}?limit=1&cursor={cursor}"),
            Some(&owner.token),
        )
        .await
        .json();
    assert_eq!(rest["items"][0]["id"], first["id"]);
    assert_eq!(rest["next_cursor"], Value::Null);

    // Revoking: managers only, idempotent, and the list forgets the link.
    let revoke = format!("{path}/{}", first["id"]);
    app.delete(&revoke, Some(&member.token))
        .await
        .assert_error(403, "not_room_admin");
    app.delete(&revoke, Some(&stranger.token))
        .await
        .assert_error(404, "room_not_found");
    for _ in 0..2 {
        let r = app.delete(&revoke, Some(&admin.token)).await;
        assert_eq!(r.status, 204, "{}", r.text);
    }
    app.delete(&format!("{path}/987654"), Some(&owner.token))
        .await
        .assert_error(404, "invite_not_found");
    // An invite is revoked only through its own room.
    let other = app.group(&stranger, "Hikers", &[owner.id]).await;
    let r = app
        .patch(
            &format!("/api/v1/rooms/{other}/members/{}", owner.id),
            Some(&stranger.token),
            json!({"role": "admin"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    app.delete(
        &format!("/api/v1/rooms/{other}/invites/{}", second["id"]),
        Some(&owner.token),
    )
    .await
    .assert_error(404, "invite_not_found");
    let list = app.get(&path, Some(&owner.token)).await.json();
    assert_eq!(list["items"].as_array().map(Vec::len), Some(1), "{list}");
    assert_eq!(list["items"][0]["id"], second["id"]);
}

async fn invite_requests_are_validated(app: TestApp) {
    let owner = app.user("iv_valid").await;
    let room = app.group(&owner, "Hikers", &[]).await;
    let path = format!("/api/v1/rooms/{room}/invites");
    for (body, field) in [
        (json!({"expires_in": 59}), "expires_in"),
        (json!({"expires_in": 2_592_001}), "expires_in"),
        (json!({"expires_in": -5}), "expires_in"),
        (json!({"max_uses": 0}), "max_uses"),
        (json!({"max_uses": 10_001}), "max_uses"),
    ] {
        let r = app.post(&path, Some(&owner.token), body.clone()).await;
        r.assert_error(422, "validation_failed");
        assert!(
            r.json()["error"]["fields"][field].is_string(),
            "{body}: {}",
            r.text
        );
    }
    let both = app
        .post(
            &path,
            Some(&owner.token),
            json!({"expires_in": 1, "max_uses": -1}),
        )
        .await;
    both.assert_error(422, "validation_failed");
    let fields = &both.json()["error"]["fields"];
    assert!(fields["expires_in"].is_string() && fields["max_uses"].is_string());
    app.post(&path, Some(&owner.token), json!({"expires_in": "soon"}))
        .await
        .assert_error(422, "invalid_body");
    app.post(&path, Some(&owner.token), json!({"uses": 3}))
        .await
        .assert_error(422, "invalid_body");
    // The bounds themselves are fine.
    invite(&app, room, &owner, json!({"expires_in": 60, "max_uses": 1})).await;
    invite(
        &app,
        room,
        &owner,
        json!({"expires_in": 2_592_000, "max_uses": 10_000}),
    )
    .await;
    app.post(
        "/api/v1/rooms/987654/invites",
        Some(&owner.token),
        json!({}),
    )
    .await
    .assert_error(404, "room_not_found");
}

async fn joining_adds_a_member_with_a_notice(app: TestApp) {
    let owner = app.user("jn_owner").await;
    let member = app.user("jn_member").await;
    let joiner = app.user("jn_joiner").await;
    let room = app.group(&owner, "Hikers", &[member.id]).await;
    let token = token_of(&invite(&app, room, &owner, json!({"max_uses": 10})).await);
    let (mut ws, _) = app.ws(&member.token).await;

    let preview = app
        .get(&format!("/api/v1/invites/{token}"), Some(&joiner.token))
        .await;
    assert_eq!(preview.status, 200, "{}", preview.text);
    let p = preview.json();
    assert_eq!(p["room"]["id"], room);
    assert_eq!(p["room"]["name"], "Hikers");
    assert_eq!(p["room"]["member_count"], 2);
    assert_eq!(p["room"]["avatar"], Value::Null);
    assert_eq!(
        (p["max_uses"].clone(), p["uses"].clone()),
        (json!(10), json!(0))
    );
    assert_eq!(p["already_member"], false);
    assert!(p["expires_at"].is_string());
    app.get(&format!("/api/v1/invites/{token}"), None)
        .await
        .assert_error(401, "unauthenticated");
    app.post(&format!("/api/v1/invites/{token}/join"), None, json!({}))
        .await
        .assert_error(401, "unauthenticated");

    let joined = app
        .post(
            &format!("/api/v1/invites/{token}/join"),
            Some(&joiner.token),
            json!({}),
        )
        .await;
    assert_eq!(joined.status, 200, "{}", joined.text);
    let r = joined.json();
    assert_eq!(r["id"], room);
    assert_eq!(r["kind"], "group");
    assert_eq!(r["my_role"], "member");
    assert_eq!(r["member_count"], 3);
    assert_eq!(r["last_seq"], 2);
    assert_eq!(r["last_message"]["kind"], "system");
    assert_eq!(
        r["last_message"]["body"],
        "jn_joiner joined via an invite link"
    );
    assert_eq!(r["last_message"]["sender"]["id"], joiner.id);
    assert_eq!(
        app.get(&format!("/api/v1/rooms/{room}"), Some(&joiner.token))
            .await
            .json(),
        r
    );

    // Members hear of it as of any addition: the member, then the notice.
    let event = ws.next().await;
    assert_eq!(event["type"], "member_joined", "{event}");
    assert_eq!(event["room_id"], room);
    assert_eq!(event["members"][0]["user"]["id"], joiner.id);
    assert_eq!(event["members"][0]["role"], "member");
    let notice = ws.next().await;
    assert_eq!(notice["type"], "message", "{notice}");
    assert_eq!(notice["message"]["seq"], 2);
    assert_eq!(
        notice["message"]["body"],
        "jn_joiner joined via an invite link"
    );
    ws.assert_quiet().await;

    let members = app
        .get(&format!("/api/v1/rooms/{room}/members"), Some(&owner.token))
        .await
        .json();
    assert_eq!(members["items"][2]["user"]["id"], joiner.id, "{members}");
    assert_eq!(members["items"][2]["role"], "member");
    let list = app
        .get(&format!("/api/v1/rooms/{room}/invites"), Some(&owner.token))
        .await
        .json();
    assert_eq!(list["items"][0]["uses"], 1);
    let p = app
        .get(&format!("/api/v1/invites/{token}"), Some(&joiner.token))
        .await
        .json();
    assert_eq!(
        (p["already_member"].clone(), p["uses"].clone()),
        (json!(true), json!(1))
    );
}

async fn members_rejoining_use_nothing(app: TestApp) {
    let owner = app.user("rj_owner").await;
    let member = app.user("rj_member").await;
    let leaver = app.user("rj_leaver").await;
    let room = app.group(&owner, "Hikers", &[member.id, leaver.id]).await;
    let token = token_of(&invite(&app, room, &owner, json!({"max_uses": 1})).await);
    let (mut ws, _) = app.ws(&owner.token).await;

    // A member (the owner too) gets the room back and the link stays unused.
    for who in [&member, &owner] {
        let r = app
            .post(
                &format!("/api/v1/invites/{token}/join"),
                Some(&who.token),
                json!({}),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(r.json()["id"], room);
        assert_eq!(r.json()["last_seq"], 1, "nothing was written");
        assert_eq!(r.json()["member_count"], 3);
    }
    ws.assert_quiet().await;
    let list = app
        .get(&format!("/api/v1/rooms/{room}/invites"), Some(&owner.token))
        .await
        .json();
    assert_eq!(list["items"][0]["uses"], 0);

    // Someone who left may come back with a link.
    let r = app
        .delete(
            &format!("/api/v1/rooms/{room}/members/{}", leaver.id),
            Some(&leaver.token),
        )
        .await;
    assert_eq!(r.status, 204, "{}", r.text);
    assert_eq!(ws.next().await["type"], "member_left");
    assert_eq!(
        ws.next().await["message"]["body"],
        "rj_leaver left the group"
    );
    let r = app
        .post(
            &format!("/api/v1/invites/{token}/join"),
            Some(&leaver.token),
            json!({}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json()["member_count"], 3);
    assert_eq!(ws.next().await["type"], "member_joined");
    assert_eq!(
        ws.next().await["message"]["body"],
        "rj_leaver joined via an invite link"
    );
}

async fn guests_join_by_invite_and_chat(app: TestApp) {
    let owner = app.user("gj_owner").await;
    let member = app.user("gj_member").await;
    let room = app.group(&owner, "Hikers", &[member.id]).await;
    let token = token_of(&invite(&app, room, &owner, json!({})).await);
    let (guest_token, guest_id) = guest(&app, "Wanderer").await;
    let (mut ws, _) = app.ws(&member.token).await;

    let r = app
        .post(
            &format!("/api/v1/invites/{token}/join"),
            Some(&guest_token),
            json!({}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json()["my_role"], "member");
    assert_eq!(ws.next().await["type"], "member_joined");
    assert_eq!(
        ws.next().await["message"]["body"],
        "Wanderer joined via an invite link"
    );

    // The guest writes over its own WebSocket; the member receives it live.
    let (mut gws, _) = app.ws(&guest_token).await;
    let ack = gws
        .send_text("g1", room, "guest-hello", "hello, hikers")
        .await;
    assert_eq!(ack["message"]["sender"]["id"], guest_id);
    let got = ws.next().await;
    assert_eq!(got["type"], "message", "{got}");
    assert_eq!(got["message"]["body"], "hello, hikers");
    assert_eq!(got["message"]["sender"]["id"], guest_id);
    assert_eq!(got["message"]["seq"], 3);
    // And reads what the others write.
    let sent = app
        .post(
            &format!("/api/v1/rooms/{room}/messages"),
            Some(&member.token),
            json!({"client_id": "m1", "kind": "text", "body": "welcome"}),
        )
        .await;
    assert_eq!(sent.status, 201, "{}", sent.text);
    let got = gws.next().await;
    assert_eq!(got["message"]["body"], "welcome", "{got}");
}

/// Asserts that preview, join and both QR images answer `status`/`code`.
async fn assert_link_refused(app: &TestApp, token: &str, user: &Login, status: u16, code: &str) {
    app.get(&format!("/api/v1/invites/{token}"), Some(&user.token))
        .await
        .assert_error(status, code);
    app.post(
        &format!("/api/v1/invites/{token}/join"),
        Some(&user.token),
        json!({}),
    )
    .await
    .assert_error(status, code);
    for image in ["qr.png", "qr.svg"] {
        app.get(&format!("/api/v1/invites/{token}/{image}"), None)
            .await
            .assert_error(status, code);
    }
}

/// The members of `room` as `viewer` lists them.
async fn member_count(app: &TestApp, room: i64, viewer: &Login) -> i64 {
    app.get(&format!("/api/v1/rooms/{room}"), Some(&viewer.token))
        .await
        .json()["member_count"]
        .as_i64()
        .expect("member count")
}

async fn expired_links_are_gone(app: TestApp) {
    let owner = app.user("ex_owner").await;
    let late = app.user("ex_late1").await;
    let room = app.group(&owner, "Hikers", &[]).await;
    let token = token_of(&invite(&app, room, &owner, json!({"expires_in": 60})).await);
    app.clock.advance(Duration::seconds(59));
    let p = app
        .get(&format!("/api/v1/invites/{token}"), Some(&late.token))
        .await;
    assert_eq!(p.status, 200, "still valid a second before: {}", p.text);
    app.clock.advance(Duration::seconds(1));
    assert_link_refused(&app, &token, &late, 410, "invite_expired").await;
    assert_eq!(member_count(&app, room, &owner).await, 1);
    let list = app
        .get(&format!("/api/v1/rooms/{room}/invites"), Some(&owner.token))
        .await
        .json();
    assert_eq!(list["items"][0]["state"], "expired", "{list}");
}

async fn used_up_links_are_gone(app: TestApp) {
    let owner = app.user("ux_owner").await;
    let first = app.user("ux_first").await;
    let second = app.user("ux_second").await;
    let room = app.group(&owner, "Hikers", &[]).await;
    let token = token_of(&invite(&app, room, &owner, json!({"max_uses": 1})).await);
    let r = app
        .post(
            &format!("/api/v1/invites/{token}/join"),
            Some(&first.token),
            json!({}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_link_refused(&app, &token, &second, 410, "invite_exhausted").await;
    assert_eq!(member_count(&app, room, &owner).await, 2);
    let list = app
        .get(&format!("/api/v1/rooms/{room}/invites"), Some(&owner.token))
        .await
        .json();
    assert_eq!(list["items"][0]["state"], "exhausted", "{list}");
    assert_eq!(list["items"][0]["uses"], 1);
}

async fn revoked_links_are_gone(app: TestApp) {
    let owner = app.user("rv_owner").await;
    let late = app.user("rv_late1").await;
    let room = app.group(&owner, "Hikers", &[]).await;
    let created = invite(&app, room, &owner, json!({"max_uses": 1})).await;
    let token = token_of(&created);
    let r = app
        .delete(
            &format!("/api/v1/rooms/{room}/invites/{}", created["id"]),
            Some(&owner.token),
        )
        .await;
    assert_eq!(r.status, 204, "{}", r.text);
    assert_link_refused(&app, &token, &late, 410, "invite_revoked").await;
    // Revocation is what is reported, even once the link has also expired.
    app.clock.advance(Duration::days(8));
    let late = app.login("rv_late1", crate::harness::PASSWORD).await;
    assert_link_refused(&app, &token, &late, 410, "invite_revoked").await;
    assert_eq!(
        app.get(&format!("/api/v1/rooms/{room}"), Some(&late.token))
            .await
            .status,
        404
    );
}

async fn unknown_tokens_are_not_found(app: TestApp) {
    let owner = app.user("uk_owner").await;
    let room = app.group(&owner, "Hikers", &[]).await;
    invite(&app, room, &owner, json!({})).await;
    let well_formed = "A".repeat(43);
    for token in [well_formed.as_str(), "abc", "not-a-token-at-all"] {
        assert_link_refused(&app, token, &owner, 404, "invite_not_found").await;
    }
}

async fn concurrent_joins_take_the_last_use_once(app: TestApp) {
    let owner = app.user("cc_owner").await;
    let a = app.user("cc_alice").await;
    let b = app.user("cc_bobby").await;
    let room = app.group(&owner, "Hikers", &[]).await;
    let token = token_of(&invite(&app, room, &owner, json!({"max_uses": 1})).await);
    let path = format!("/api/v1/invites/{token}/join");
    let (ra, rb) = tokio::join!(
        app.post(&path, Some(&a.token), json!({})),
        app.post(&path, Some(&b.token), json!({})),
    );
    let (winner, loser) = match (ra.status, rb.status) {
        (200, _) => (&ra, &rb),
        (_, 200) => (&rb, &ra),
        _ => panic!("nobody joined: {} / {}", ra.text, rb.text),
    };
    assert_eq!(winner.json()["member_count"], 2, "{}", winner.text);
    loser.assert_error(410, "invite_exhausted");
    assert_eq!(member_count(&app, room, &owner).await, 2);
    let list = app
        .get(&format!("/api/v1/rooms/{room}/invites"), Some(&owner.token))
        .await
        .json();
    assert_eq!(list["items"][0]["uses"], 1);
}

async fn qr_codes_carry_the_link(app: TestApp) {
    let owner = app.user("qr_owner").await;
    let room = app.group(&owner, "Hikers", &[]).await;
    let created = invite(&app, room, &owner, json!({})).await;
    let token = token_of(&created);
    let url = created["url"].as_str().expect("url");

    // No authentication: an <img> cannot send a bearer token.
    let (status, headers, png) = fetch(&app, &format!("/api/v1/invites/{token}/qr.png")).await;
    assert_eq!(status, 200);
    assert_eq!(headers["content-type"], "image/png");
    assert_eq!(headers["cache-control"], "no-store");
    assert_eq!(
        image::guess_format(&png).expect("a known format"),
        image::ImageFormat::Png
    );
    let picture = image::load_from_memory_with_format(&png, image::ImageFormat::Png)
        .expect("a PNG")
        .to_luma8();
    assert_eq!(picture.width(), picture.height());
    assert!(picture.width() >= 256, "{}", picture.width());
    let mut prepared = rqrr::PreparedImage::prepare(picture);
    let grids = prepared.detect_grids();
    assert_eq!(grids.len(), 1, "one QR code in the picture");
    let (_, content) = grids[0].decode().expect("a readable QR code");
    assert_eq!(content, url);

    let (status, headers, svg) = fetch(&app, &format!("/api/v1/invites/{token}/qr.svg")).await;
    assert_eq!(status, 200);
    assert_eq!(headers["content-type"], "image/svg+xml");
    assert_eq!(headers["cache-control"], "no-store");
    let svg = String::from_utf8(svg).expect("SVG is text");
    let start = svg.find("<svg").expect("an <svg> element");
    assert!(
        svg[..start].trim().is_empty() || svg.starts_with("<?xml"),
        "{svg}"
    );
    assert!(svg.contains("xmlns=\"http://www.w3.org/2000/svg\""));
    assert!(svg.trim_end().ends_with("</svg>"));
    assert!(
        !svg.contains(&token),
        "the image carries the url only as a code"
    );
}

async fn the_database_keeps_only_token_hashes(app: TestApp) {
    let owner = app.user("db_owner").await;
    let room = app.group(&owner, "Hikers", &[]).await;
    let tokens = [
        token_of(&invite(&app, room, &owner, json!({})).await),
        token_of(&invite(&app, room, &owner, json!({"max_uses": 2})).await),
    ];
    let row = if app.on_postgres() {
        "SELECT CAST(i AS TEXT) FROM invites i ORDER BY id"
    } else {
        "SELECT id || '|' || room_id || '|' || token_hash || '|' || created_by || '|' ||
                created_at || '|' || expires_at || '|' || COALESCE(max_uses, '') || '|' ||
                uses || '|' || COALESCE(revoked_at, '') FROM invites ORDER BY id"
    };
    let rows = app.sql_strings(row).await;
    assert_eq!(rows.len(), 2);
    for row in &rows {
        for token in &tokens {
            assert!(!row.contains(token.as_str()), "{row}");
        }
    }
    let hashes = app
        .sql_strings("SELECT token_hash FROM invites ORDER BY id")
        .await;
    let expected: Vec<String> = tokens
        .iter()
        .map(|t| hex::encode(Sha256::digest(t.as_bytes())))
        .collect();
    assert_eq!(hashes, expected);
}

/// Tests that need their own configuration, on each backend.
mod configured {
    use super::*;

    /// Invite urls start with the configured `public_url`.
    async fn links_use_the_public_url(backend: Backend) {
        let Some(app) = TestApp::spawn_with(backend, |c| {
            c.public_url = Some("https://chat.example.test/roomy".into());
        })
        .await
        else {
            return;
        };
        let owner = app.user("pu_owner").await;
        let room = app.group(&owner, "Hikers", &[]).await;
        let created = invite(&app, room, &owner, json!({})).await;
        assert_eq!(
            created["url"],
            format!(
                "https://chat.example.test/roomy/invite/{}",
                token_of(&created)
            )
        );
    }

    /// A full group admits nobody by invite, and the refusal uses nothing.
    async fn full_groups_refuse_joins(backend: Backend) {
        let Some(app) = TestApp::spawn_with(backend, |c| c.max_group_members = 2).await else {
            return;
        };
        let owner = app.user("fg_owner").await;
        let first = app.user("fg_first").await;
        let second = app.user("fg_second").await;
        let room = app.group(&owner, "Hikers", &[]).await;
        let token = token_of(&invite(&app, room, &owner, json!({})).await);
        let path = format!("/api/v1/invites/{token}/join");
        let r = app.post(&path, Some(&first.token), json!({})).await;
        assert_eq!(r.status, 200, "{}", r.text);
        app.post(&path, Some(&second.token), json!({}))
            .await
            .assert_error(409, "group_full");
        let list = app
            .get(&format!("/api/v1/rooms/{room}/invites"), Some(&owner.token))
            .await
            .json();
        assert_eq!(list["items"][0]["uses"], 1);
    }

    #[tokio::test]
    async fn links_use_the_public_url_sqlite() {
        links_use_the_public_url(Backend::Sqlite).await;
    }

    #[tokio::test]
    async fn links_use_the_public_url_postgres() {
        links_use_the_public_url(Backend::Postgres).await;
    }

    #[tokio::test]
    async fn full_groups_refuse_joins_sqlite() {
        full_groups_refuse_joins(Backend::Sqlite).await;
    }

    #[tokio::test]
    async fn full_groups_refuse_joins_postgres() {
        full_groups_refuse_joins(Backend::Postgres).await;
    }
}

/// Joins by link as `who`; the answer.
async fn join(app: &TestApp, token: &str, who: &Login) -> crate::harness::Resp {
    app.post(
        &format!("/api/v1/invites/{token}/join"),
        Some(&who.token),
        json!({}),
    )
    .await
}

/// The user ids on a group's ban list, as its owner sees it.
async fn banned(app: &TestApp, room: i64, owner: &Login) -> Vec<i64> {
    let r = app
        .get(&format!("/api/v1/rooms/{room}/bans"), Some(&owner.token))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    r.json()["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|b| b["user"]["id"].as_i64())
        .collect()
}

/// A member an admin removes cannot come back through a live link (403
/// `banned`, no use counted) until an owner or admin lifts the ban, or an
/// admin adds them back; a member who leaves is not banned.
async fn removed_members_are_banned_until_lifted(app: TestApp) {
    let owner = app.user("bn_owner").await;
    let admin = app.user("bn_admin").await;
    let kicked = app.user("bn_kicked").await;
    let leaver = app.user("bn_leaver").await;
    let room = app
        .group(&owner, "Club", &[admin.id, kicked.id, leaver.id])
        .await;
    let member = |u: i64| format!("/api/v1/rooms/{room}/members/{u}");
    let r = app
        .patch(
            &member(admin.id),
            Some(&owner.token),
            json!({"role": "admin"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let link = invite(&app, room, &owner, json!({})).await;
    let token = token_of(&link);

    let r = app.delete(&member(kicked.id), Some(&admin.token)).await;
    assert_eq!(r.status, 204, "{}", r.text);
    let r = app.delete(&member(leaver.id), Some(&leaver.token)).await;
    assert_eq!(r.status, 204, "{}", r.text);

    join(&app, &token, &kicked)
        .await
        .assert_error(403, "banned");
    app.get(&format!("/api/v1/rooms/{room}"), Some(&kicked.token))
        .await
        .assert_error(404, "room_not_found");
    let r = join(&app, &token, &leaver).await;
    assert_eq!(r.status, 200, "leaving bans nobody: {}", r.text);
    let list = app
        .get(&format!("/api/v1/rooms/{room}/bans"), Some(&admin.token))
        .await;
    assert_eq!(list.status, 200, "{}", list.text);
    let items = list.json()["items"].clone();
    assert_eq!(items.as_array().map(Vec::len), Some(1), "{items}");
    assert_eq!(items[0]["user"]["id"], kicked.id);
    assert_eq!(items[0]["user"]["nickname"], "bn_kicked");
    assert_eq!(items[0]["banned_by"], admin.id);
    assert!(items[0]["banned_at"].is_string());
    let preview = app
        .get(&format!("/api/v1/invites/{token}"), Some(&owner.token))
        .await
        .json();
    assert_eq!(preview["uses"], 1, "the refused join used nothing");

    // Lifted by the owner: the link works again.
    let lift = format!("/api/v1/rooms/{room}/bans/{}", kicked.id);
    let r = app.delete(&lift, Some(&owner.token)).await;
    assert_eq!(r.status, 204, "{}", r.text);
    app.delete(&lift, Some(&owner.token))
        .await
        .assert_error(404, "ban_not_found");
    let r = join(&app, &token, &kicked).await;
    assert_eq!(r.status, 200, "{}", r.text);

    // Removed again, then added back by an admin: that lifts the ban too.
    let r = app.delete(&member(kicked.id), Some(&owner.token)).await;
    assert_eq!(r.status, 204, "{}", r.text);
    assert_eq!(banned(&app, room, &owner).await, vec![kicked.id]);
    app.befriend_ids(&admin, &[kicked.id]).await;
    let r = app
        .post(
            &format!("/api/v1/rooms/{room}/members"),
            Some(&admin.token),
            json!({"user_ids": [kicked.id]}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(banned(&app, room, &owner).await.is_empty());
}
