//! The authorization matrix of groups and the message lifecycle: for every
//! route and WebSocket frame, what each kind of caller gets.
//!
//! The actors, always in this order: the group's owner, an admin (promoted
//! by the owner), a member, an ex-member (once an admin, then removed by
//! the owner, so banned from rejoining by link), a stranger (registered, never in the group), a guest (a
//! guest account, not in the group) and a server administrator (not in the
//! group: outside the admin routes it is nobody special there).
//!
//! A cell checks the status and, for a refusal, the error code. Rows that
//! change something get a fresh group, message or invite, so no row depends
//! on another. Mismatches are collected and reported together at the end of
//! each test, which also checks how many cells it ran, so an empty table
//! cannot pass.

use crate::harness::{Login, Resp, TestApp, Ws};
use reqwest::Method;
use serde_json::{Value, json};
use std::{
    fmt,
    sync::atomic::{AtomicU64, Ordering},
};

crate::backend_tests!(
    room_reads,
    group_profile_dissolution_and_additions,
    member_removal,
    member_roles_and_profiles,
    message_lifecycle,
    invites,
    bans,
    who_may_be_put_in_a_group,
    admin_routes,
    websocket_frames,
    dissolved_group,
);

/// What a cell expects.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Want {
    /// Success with this status.
    Allow(u16),
    /// A refusal with this status and error code.
    Deny(u16, &'static str),
}

use Want::{Allow, Deny};

impl fmt::Display for Want {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Allow(s) => write!(f, "{s}"),
            Deny(s, code) => write!(f, "{s} {code}"),
        }
    }
}

const NO_ROOM: Want = Deny(404, "room_not_found");
const NO_MESSAGE: Want = Deny(404, "message_not_found");
const NOT_ROOM_ADMIN: Want = Deny(403, "not_room_admin");
const NOT_ROOM_OWNER: Want = Deny(403, "not_room_owner");
const DISSOLVED: Want = Deny(403, "room_dissolved");
const CANNOT_REMOVE: Want = Deny(403, "cannot_remove_member");
const NOT_YOURSELF: Want = Deny(403, "not_yourself");
const ADMIN_ONLY: Want = Deny(403, "admin_only");

/// A row for the seven actors: owner, admin, member, then `outsider` for
/// the ex-member, the stranger, the guest and the server admin.
fn row(owner: Want, admin: Want, member: Want, outsider: Want) -> [Want; 7] {
    [owner, admin, member, outsider, outsider, outsider, outsider]
}

/// `ok` for the three members, 404 `room_not_found` for the rest.
fn members_only(ok: Want) -> [Want; 7] {
    row(ok, ok, ok, NO_ROOM)
}

/// Whether actor `i` (in [`Fixture::actors`] order) is in the group.
fn is_member(i: usize) -> bool {
    i < 3
}

/// The error code of an error body, if it is one.
fn error_code(r: &Resp) -> Option<String> {
    let v: Value = serde_json::from_str(&r.text).ok()?;
    v["error"]["message"].as_str()?;
    v["error"]["code"].as_str().map(str::to_owned)
}

fn describe(r: &Resp) -> String {
    match error_code(r) {
        Some(code) => format!("{} {code}", r.status),
        None => {
            let body: String = r.text.chars().take(200).collect();
            format!("{} {body}", r.status)
        }
    }
}

/// The cells of one test and the mismatches found.
struct Matrix {
    test: &'static str,
    cells: usize,
    failures: Vec<String>,
}

impl Matrix {
    fn new(test: &'static str) -> Matrix {
        Matrix {
            test,
            cells: 0,
            failures: Vec::new(),
        }
    }

    /// One cell: `actor`'s answer on `route` must be `want`. True when it was.
    fn check(&mut self, route: &str, actor: &str, want: Want, got: &Resp) -> bool {
        self.cells += 1;
        let ok = match want {
            Allow(status) => got.status == status && error_code(got).is_none(),
            Deny(status, code) => got.status == status && error_code(got).as_deref() == Some(code),
        };
        if !ok {
            self.failures.push(format!(
                "{route} as {actor}: expected {want}, got {}",
                describe(got)
            ));
        }
        ok
    }

    /// One cell judged by the caller (a WebSocket exchange).
    fn cell(&mut self, route: &str, actor: &str, want: &str, ok: bool, got: impl fmt::Display) {
        self.cells += 1;
        if !ok {
            self.failures
                .push(format!("{route} as {actor}: expected {want}, got {got}"));
        }
    }

    /// A further condition of a cell already counted.
    fn also(&mut self, route: &str, actor: &str, ok: bool, what: impl fmt::Display) {
        if !ok {
            self.failures.push(format!("{route} as {actor}: {what}"));
        }
    }

    /// Fails with every mismatch; else checks the number of cells and reports it.
    fn finish(self, expected_cells: usize) {
        assert!(
            self.failures.is_empty(),
            "authz::{}: {} of {} cells failed:\n  {}",
            self.test,
            self.failures.len(),
            self.cells,
            self.failures.join("\n  ")
        );
        assert_eq!(
            self.cells, expected_cells,
            "authz::{}: cells checked",
            self.test
        );
        eprintln!("authz::{}: {} cells checked", self.test, self.cells);
    }
}

/// The users of a test. `admin2` and `member2` are only ever targets;
/// `spare` is someone to add.
struct Fixture {
    owner: Login,
    admin: Login,
    admin2: Login,
    member: Login,
    member2: Login,
    ex: Login,
    stranger: Login,
    guest: Login,
    server_admin: Login,
    spare: Login,
}

/// A fresh group of a [`Fixture`]: the owner; `admin` and `admin2` admins;
/// `member` and `member2`; `ex` added, made an admin, wrote
/// `ex_message`, and was removed by the owner.
struct Group {
    id: i64,
    ex_message: i64,
}

impl Fixture {
    async fn new(app: &TestApp) -> Fixture {
        Fixture {
            owner: app.user("az_owner").await,
            admin: app.user("az_admin").await,
            admin2: app.user("az_admin2").await,
            member: app.user("az_member").await,
            member2: app.user("az_member2").await,
            ex: app.user("az_exmember").await,
            stranger: app.user("az_stranger").await,
            guest: guest(app, "Visitor").await,
            server_admin: app.admin("az_server_admin").await,
            spare: app.user("az_spare").await,
        }
    }

    fn actors(&self) -> [(&'static str, &Login); 7] {
        [
            ("owner", &self.owner),
            ("admin", &self.admin),
            ("member", &self.member),
            ("ex-member", &self.ex),
            ("stranger", &self.stranger),
            ("guest", &self.guest),
            ("server admin", &self.server_admin),
        ]
    }

    async fn group(&self, app: &TestApp) -> Group {
        let members = [
            self.admin.id,
            self.admin2.id,
            self.member.id,
            self.member2.id,
            self.ex.id,
        ];
        app.befriend_ids(&self.owner, &members).await;
        let r = app
            .post(
                "/api/v1/rooms",
                Some(&self.owner.token),
                json!({"name": "Authz", "member_ids": members}),
            )
            .await;
        assert_eq!(r.status, 201, "create group: {}", r.text);
        let id = r.json()["id"].as_i64().expect("group id");
        for who in [&self.admin, &self.admin2, &self.ex] {
            let r = app
                .patch(
                    &format!("/api/v1/rooms/{id}/members/{}", who.id),
                    Some(&self.owner.token),
                    json!({"role": "admin"}),
                )
                .await;
            assert_eq!(r.status, 200, "promote: {}", r.text);
        }
        let ex_message = say(app, &self.ex, id).await;
        let r = app
            .delete(
                &format!("/api/v1/rooms/{id}/members/{}", self.ex.id),
                Some(&self.owner.token),
            )
            .await;
        assert_eq!(r.status, 204, "remove the ex-member: {}", r.text);
        Group { id, ex_message }
    }
}

/// A guest session, as a [`Login`].
async fn guest(app: &TestApp, nickname: &str) -> Login {
    let r = app
        .post("/api/v1/auth/guest", None, json!({"nickname": nickname}))
        .await;
    assert!(r.status == 200 || r.status == 201, "guest: {}", r.text);
    let b = r.json();
    Login {
        id: b["user"]["id"].as_i64().expect("guest id"),
        token: b["token"].as_str().expect("guest token").to_owned(),
        session_id: b["session_id"].as_i64().expect("session id"),
    }
}

/// A unique client id.
fn client_id() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    format!("authz-{}", NEXT.fetch_add(1, Ordering::Relaxed))
}

/// A text message from `who` in `room`, over HTTP; its id.
async fn say(app: &TestApp, who: &Login, room: i64) -> i64 {
    let r = app
        .post(
            &format!("/api/v1/rooms/{room}/messages"),
            Some(&who.token),
            json!({"client_id": client_id(), "kind": "text", "body": "hello"}),
        )
        .await;
    assert_eq!(r.status, 201, "send: {}", r.text);
    r.json()["id"].as_i64().expect("message id")
}

async fn call(app: &TestApp, method: Method, path: &str, who: &Login, body: Option<Value>) -> Resp {
    app.call(method, path, Some(&who.token), body).await
}

/// `who`'s answer to `GET /rooms/{room}`.
async fn room_of(app: &TestApp, who: &Login, room: i64) -> Resp {
    app.get(&format!("/api/v1/rooms/{room}"), Some(&who.token))
        .await
}

fn items(r: &Resp) -> Vec<Value> {
    r.json()["items"].as_array().cloned().unwrap_or_default()
}

/// Whether `f` is an `error` frame answering request `id` with `code`.
fn error_frame(f: &Value, id: &str, code: &str) -> bool {
    f["type"] == "error" && f["id"] == id && f["error"]["code"] == code
}

/// Whether nothing is queued for `ws`: a ping's pong comes first. The
/// unexpected frame otherwise (it and the pong are then consumed).
async fn quiet(ws: &mut Ws, id: &str) -> Result<(), Value> {
    ws.send(json!({"type": "ping", "id": id})).await;
    let f = ws.next().await;
    if f["type"] == "pong" && f["id"] == id {
        return Ok(());
    }
    loop {
        let next = ws.next().await;
        if next.is_null() || (next["type"] == "pong" && next["id"] == id) {
            return Err(f);
        }
    }
}

/// Reading a group and writing to it: the group, its history and members,
/// sending, the read position, the room list and the sent/received lists
/// filtered to the group.
async fn room_reads(app: TestApp) {
    let fx = Fixture::new(&app).await;
    let room = fx.group(&app).await.id;
    let mut m = Matrix::new("room_reads");
    let base = format!("/api/v1/rooms/{room}");
    let table = [
        (
            "GET /rooms/{id}",
            Method::GET,
            base.clone(),
            None,
            members_only(Allow(200)),
        ),
        (
            "GET /rooms/{id}/messages",
            Method::GET,
            format!("{base}/messages"),
            None,
            members_only(Allow(200)),
        ),
        (
            "GET /rooms/{id}/members",
            Method::GET,
            format!("{base}/members"),
            None,
            members_only(Allow(200)),
        ),
        (
            "POST /rooms/{id}/read",
            Method::POST,
            format!("{base}/read"),
            Some(json!({"seq": 1})),
            members_only(Allow(200)),
        ),
    ];
    for (route, method, path, body, wants) in &table {
        for ((actor, who), want) in fx.actors().into_iter().zip(wants) {
            let r = call(&app, method.clone(), path, who, body.clone()).await;
            if m.check(route, actor, *want, &r) && matches!(want, Allow(_)) {
                let b = r.json();
                let about_room = match *route {
                    "GET /rooms/{id}" => b["id"] == room,
                    "POST /rooms/{id}/read" => b["room_id"] == room,
                    "GET /rooms/{id}/messages" => items(&r)
                        .iter()
                        .all(|i| i["room_id"] == room && i["seq"].is_i64()),
                    _ => items(&r).iter().any(|i| i["user"]["id"] == fx.owner.id),
                };
                m.also(route, actor, about_room, format!("unexpected body {b}"));
            }
        }
    }

    let route = "POST /rooms/{id}/messages";
    for ((actor, who), want) in fx.actors().into_iter().zip(members_only(Allow(201))) {
        let body = json!({"client_id": client_id(), "kind": "text", "body": "mine"});
        let r = call(
            &app,
            Method::POST,
            &format!("{base}/messages"),
            who,
            Some(body),
        )
        .await;
        if m.check(route, actor, want, &r) && want == Allow(201) {
            let b = r.json();
            m.also(
                route,
                actor,
                b["room_id"] == room && b["sender"]["id"] == who.id,
                format!("unexpected message {b}"),
            );
        }
    }

    let route = "GET /rooms (the group listed)";
    for (i, (actor, who)) in fx.actors().into_iter().enumerate() {
        let r = app.get("/api/v1/rooms", Some(&who.token)).await;
        if m.check(route, actor, Allow(200), &r) {
            let listed = items(&r).iter().any(|i| i["id"] == room);
            m.also(
                route,
                actor,
                listed == is_member(i),
                format!("listed: {listed}"),
            );
        }
    }

    // Filtered to the group: a member's own messages (sent) or the others'
    // (received); nothing at all for anyone not in it, the ex-member's own
    // message of when it was in included.
    for (list, own) in [("sent", true), ("received", false)] {
        let route = format!("GET /messages/{list}?room_id={{id}}");
        for (i, (actor, who)) in fx.actors().into_iter().enumerate() {
            let r = app
                .get(
                    &format!("/api/v1/messages/{list}?room_id={room}"),
                    Some(&who.token),
                )
                .await;
            if m.check(&route, actor, Allow(200), &r) {
                let found = items(&r);
                let fits = if is_member(i) {
                    !found.is_empty()
                        && found
                            .iter()
                            .all(|f| f["room_id"] == room && (f["sender"]["id"] == who.id) == own)
                } else {
                    found.is_empty()
                };
                m.also(
                    &route,
                    actor,
                    fits,
                    format!("items {}", Value::Array(found)),
                );
            }
        }
    }
    m.finish(56);
}

/// Renaming, dissolving and adding members.
async fn group_profile_dissolution_and_additions(app: TestApp) {
    let fx = Fixture::new(&app).await;
    let mut m = Matrix::new("group_profile_dissolution_and_additions");

    // Renaming changes nothing the other rows depend on: one group.
    let room = fx.group(&app).await.id;
    let route = "PATCH /rooms/{id} (rename)";
    let wants = row(Allow(200), Allow(200), NOT_ROOM_ADMIN, NO_ROOM);
    for ((actor, who), want) in fx.actors().into_iter().zip(wants) {
        let r = app
            .patch(
                &format!("/api/v1/rooms/{room}"),
                Some(&who.token),
                json!({"name": "Renamed"}),
            )
            .await;
        if m.check(route, actor, want, &r) && want == Allow(200) {
            m.also(route, actor, r.json()["name"] == "Renamed", &r.text);
        }
    }

    let route = "DELETE /rooms/{id} (dissolve)";
    let wants = row(Allow(204), NOT_ROOM_OWNER, NOT_ROOM_OWNER, NO_ROOM);
    for ((actor, who), want) in fx.actors().into_iter().zip(wants) {
        let room = fx.group(&app).await.id;
        let r = app
            .delete(&format!("/api/v1/rooms/{room}"), Some(&who.token))
            .await;
        m.check(route, actor, want, &r);
        let after = room_of(&app, &fx.member, room).await.json();
        m.also(
            route,
            actor,
            after["dissolved_at"].is_null() != (want == Allow(204)),
            format!("afterwards the group is {after}"),
        );
    }

    let route = "POST /rooms/{id}/members (add)";
    let wants = row(Allow(200), Allow(200), NOT_ROOM_ADMIN, NO_ROOM);
    // Whoever may add must be a friend of whom they add: that rule has its
    // own matrix (`who_may_be_put_in_a_group`); this one is about roles.
    for (_, who) in fx.actors() {
        app.befriend_ids(who, &[fx.spare.id]).await;
    }
    for ((actor, who), want) in fx.actors().into_iter().zip(wants) {
        let room = fx.group(&app).await.id;
        let r = app
            .post(
                &format!("/api/v1/rooms/{room}/members"),
                Some(&who.token),
                json!({"user_ids": [fx.spare.id]}),
            )
            .await;
        m.check(route, actor, want, &r);
        let joined = room_of(&app, &fx.spare, room).await.status == 200;
        m.also(
            route,
            actor,
            joined == (want == Allow(200)),
            format!("afterwards the added user is a member: {joined}"),
        );
    }
    m.finish(21);
}

/// `DELETE /rooms/{id}/members/{user}`: removing others, and leaving.
async fn member_removal(app: TestApp) {
    let fx = Fixture::new(&app).await;
    let mut m = Matrix::new("member_removal");
    let (o, a, mm) = (&fx.owner, &fx.admin, &fx.member);
    let (x, s, g, z) = (&fx.ex, &fx.stranger, &fx.guest, &fx.server_admin);
    let rows: [(&str, &Login, &str, &Login, Want); 21] = [
        ("owner", o, "the admin", a, Allow(204)),
        ("owner", o, "a member", mm, Allow(204)),
        ("owner", o, "itself", o, Deny(409, "owner_cannot_leave")),
        ("owner", o, "a stranger", s, Deny(404, "member_not_found")),
        (
            "owner",
            o,
            "the ex-member",
            x,
            Deny(404, "member_not_found"),
        ),
        ("admin", a, "a member", mm, Allow(204)),
        ("admin", a, "the owner", o, CANNOT_REMOVE),
        ("admin", a, "another admin", &fx.admin2, CANNOT_REMOVE),
        ("admin", a, "itself", a, Allow(204)),
        ("member", mm, "the owner", o, CANNOT_REMOVE),
        ("member", mm, "an admin", a, CANNOT_REMOVE),
        ("member", mm, "another member", &fx.member2, CANNOT_REMOVE),
        ("member", mm, "itself", mm, Allow(204)),
        ("ex-member", x, "a member", mm, NO_ROOM),
        ("ex-member", x, "itself", x, NO_ROOM),
        ("stranger", s, "a member", mm, NO_ROOM),
        ("stranger", s, "itself", s, NO_ROOM),
        ("guest", g, "a member", mm, NO_ROOM),
        ("guest", g, "itself", g, NO_ROOM),
        ("server admin", z, "a member", mm, NO_ROOM),
        ("server admin", z, "itself", z, NO_ROOM),
    ];
    for (actor, who, target_name, target, want) in rows {
        let room = fx.group(&app).await.id;
        let route = format!("DELETE /rooms/{{id}}/members/{{{target_name}}}");
        let before = room_of(&app, target, room).await.status == 200;
        let r = app
            .delete(
                &format!("/api/v1/rooms/{room}/members/{}", target.id),
                Some(&who.token),
            )
            .await;
        m.check(&route, actor, want, &r);
        let after = room_of(&app, target, room).await.status == 200;
        let expected = before && want != Allow(204);
        m.also(
            &route,
            actor,
            after == expected,
            format!("afterwards the target is a member: {after}"),
        );
    }
    m.finish(21);
}

/// `PATCH /rooms/{id}/members/{user}`: roles (the owner's), handing the
/// group over, and the group nickname (everyone's own).
async fn member_roles_and_profiles(app: TestApp) {
    let fx = Fixture::new(&app).await;
    let mut m = Matrix::new("member_roles_and_profiles");
    let (o, a, mm) = (&fx.owner, &fx.admin, &fx.member);
    let (x, s, g, z) = (&fx.ex, &fx.stranger, &fx.guest, &fx.server_admin);
    let roles: [(&str, &Login, &str, &Login, &str, Want); 15] = [
        ("owner", o, "a member", mm, "admin", Allow(200)),
        ("owner", o, "an admin", a, "member", Allow(200)),
        ("owner", o, "a member", mm, "owner", Allow(200)),
        (
            "owner",
            o,
            "a stranger",
            s,
            "admin",
            Deny(404, "member_not_found"),
        ),
        (
            "owner",
            o,
            "the ex-member",
            x,
            "owner",
            Deny(404, "member_not_found"),
        ),
        (
            "owner",
            o,
            "itself",
            o,
            "member",
            Deny(422, "validation_failed"),
        ),
        ("admin", a, "a member", mm, "admin", NOT_ROOM_OWNER),
        (
            "admin",
            a,
            "another admin",
            &fx.admin2,
            "member",
            NOT_ROOM_OWNER,
        ),
        ("admin", a, "itself", a, "owner", NOT_ROOM_OWNER),
        ("member", mm, "itself", mm, "admin", NOT_ROOM_OWNER),
        ("member", mm, "an admin", a, "member", NOT_ROOM_OWNER),
        ("ex-member", x, "a member", mm, "admin", NO_ROOM),
        ("stranger", s, "a member", mm, "admin", NO_ROOM),
        ("guest", g, "a member", mm, "admin", NO_ROOM),
        ("server admin", z, "itself", z, "owner", NO_ROOM),
    ];
    for (actor, who, target_name, target, role, want) in roles {
        let room = fx.group(&app).await.id;
        let route = format!("PATCH /rooms/{{id}}/members/{{{target_name}}} role {role}");
        let r = app
            .patch(
                &format!("/api/v1/rooms/{room}/members/{}", target.id),
                Some(&who.token),
                json!({"role": role}),
            )
            .await;
        m.check(&route, actor, want, &r);
        // What the target's role is now, as the target sees it.
        let now = room_of(&app, target, room).await.json()["my_role"].clone();
        if want == Allow(200) {
            m.also(&route, actor, r.json()["role"] == role, &r.text);
            m.also(&route, actor, now == role, format!("target's role {now}"));
            if role == "owner" {
                let mine = room_of(&app, who, room).await.json()["my_role"].clone();
                m.also(
                    &route,
                    actor,
                    mine == "admin",
                    format!("the old owner is now {mine}"),
                );
            }
        } else if target.id != s.id && target.id != x.id && target.id != z.id {
            let unchanged = if target.id == o.id {
                "owner"
            } else if target.id == a.id || target.id == fx.admin2.id {
                "admin"
            } else {
                "member"
            };
            m.also(
                &route,
                actor,
                now == unchanged,
                format!("target's role became {now}"),
            );
        }
    }

    // The group nickname: one group, each actor setting its own or another's.
    let room = fx.group(&app).await.id;
    let profiles: [(&str, &Login, &str, &Login, Want); 14] = [
        ("owner", o, "itself", o, Allow(200)),
        ("admin", a, "itself", a, Allow(200)),
        ("member", mm, "itself", mm, Allow(200)),
        ("owner", o, "an admin", a, NOT_YOURSELF),
        ("admin", a, "a member", mm, NOT_YOURSELF),
        ("member", mm, "the owner", o, NOT_YOURSELF),
        ("ex-member", x, "itself", x, NO_ROOM),
        ("stranger", s, "itself", s, NO_ROOM),
        ("guest", g, "itself", g, NO_ROOM),
        ("server admin", z, "itself", z, NO_ROOM),
        // Another's profile is refused before the room is looked at: the
        // answer is the same for any room id, so it tells nothing.
        ("ex-member", x, "a member", mm, NOT_YOURSELF),
        ("stranger", s, "a member", mm, NOT_YOURSELF),
        ("guest", g, "a member", mm, NOT_YOURSELF),
        ("server admin", z, "a member", mm, NOT_YOURSELF),
    ];
    for (actor, who, target_name, target, want) in profiles {
        let route = format!("PATCH /rooms/{{id}}/members/{{{target_name}}} nickname");
        let nickname = format!("Nick {}", target.id);
        let body = json!({"nickname": nickname});
        let path = |room: i64| format!("/api/v1/rooms/{room}/members/{}", target.id);
        let r = app.patch(&path(room), Some(&who.token), body.clone()).await;
        if m.check(&route, actor, want, &r) {
            if want == Allow(200) {
                m.also(
                    &route,
                    actor,
                    r.json()["group_nickname"] == nickname,
                    &r.text,
                );
            } else if want == NOT_YOURSELF && !is_member_login(&fx, who) {
                let elsewhere = app.patch(&path(999_999), Some(&who.token), body).await;
                m.also(
                    &route,
                    actor,
                    elsewhere.status == r.status && elsewhere.text == r.text,
                    format!("differs from a missing room: {}", describe(&elsewhere)),
                );
            }
        }
    }
    m.finish(29);
}

fn is_member_login(fx: &Fixture, who: &Login) -> bool {
    [&fx.owner, &fx.admin, &fx.member]
        .iter()
        .any(|l| l.id == who.id)
}

/// Revoking, deleting for me (one and a batch), favorites.
async fn message_lifecycle(app: TestApp) {
    let fx = Fixture::new(&app).await;
    let mut m = Matrix::new("message_lifecycle");
    let g = fx.group(&app).await;
    let room = g.id;

    // Revoke: the sender only; a fresh message of the member per row.
    let route = "POST /messages/{id}/revoke (the member's message)";
    let not_yours = Deny(403, "not_your_message");
    let wants = row(not_yours, not_yours, Allow(200), NO_MESSAGE);
    for ((actor, who), want) in fx.actors().into_iter().zip(wants) {
        let message = say(&app, &fx.member, room).await;
        let r = app
            .post(
                &format!("/api/v1/messages/{message}/revoke"),
                Some(&who.token),
                json!({}),
            )
            .await;
        if m.check(route, actor, want, &r) && want == Allow(200) {
            m.also(route, actor, r.json()["revoked"] == true, &r.text);
        }
    }
    let route = "POST /messages/{id}/revoke (its own message of when it was in)";
    let r = app
        .post(
            &format!("/api/v1/messages/{}/revoke", g.ex_message),
            Some(&fx.ex.token),
            json!({}),
        )
        .await;
    m.check(route, "ex-member", NO_MESSAGE, &r);

    // Delete for me: hiding is per user, so one message serves every row.
    let message = say(&app, &fx.member, room).await;
    let route = "DELETE /messages/{id}";
    for ((actor, who), want) in fx.actors().into_iter().zip(members_only(Allow(204))) {
        let want = if want == NO_ROOM { NO_MESSAGE } else { want };
        let r = app
            .delete(&format!("/api/v1/messages/{message}"), Some(&who.token))
            .await;
        if m.check(route, actor, want, &r) && want == Allow(204) {
            let history = app
                .get(&format!("/api/v1/rooms/{room}/messages"), Some(&who.token))
                .await;
            let gone = !items(&history).iter().any(|i| i["id"] == message);
            m.also(route, actor, gone, "still in the actor's history");
        }
    }
    let route = "DELETE /messages/{id} (its own message of when it was in)";
    let r = app
        .delete(
            &format!("/api/v1/messages/{}", g.ex_message),
            Some(&fx.ex.token),
        )
        .await;
    m.check(route, "ex-member", NO_MESSAGE, &r);

    // One id: 404 as for a single delete.
    let message = say(&app, &fx.member, room).await;
    let route = "POST /messages/delete (one id)";
    for ((actor, who), want) in
        fx.actors()
            .into_iter()
            .zip(row(Allow(200), Allow(200), Allow(200), NO_MESSAGE))
    {
        let r = app
            .post(
                "/api/v1/messages/delete",
                Some(&who.token),
                json!({"ids": [message]}),
            )
            .await;
        if m.check(route, actor, want, &r) && want == Allow(200) {
            m.also(
                route,
                actor,
                r.json()["deleted"] == json!([message]),
                &r.text,
            );
        }
    }
    // Several: 422 naming those the caller cannot see.
    let pair = [
        say(&app, &fx.member, room).await,
        say(&app, &fx.admin, room).await,
    ];
    let route = "POST /messages/delete (two ids)";
    let invalid = Deny(422, "validation_failed");
    for ((actor, who), want) in
        fx.actors()
            .into_iter()
            .zip(row(Allow(200), Allow(200), Allow(200), invalid))
    {
        let r = app
            .post(
                "/api/v1/messages/delete",
                Some(&who.token),
                json!({"ids": pair}),
            )
            .await;
        if m.check(route, actor, want, &r) {
            let b = r.json();
            let ok = if want == Allow(200) {
                b["deleted"] == json!(pair)
            } else {
                b["error"]["fields"]["ids"]
                    .as_str()
                    .is_some_and(|f| pair.iter().all(|id| f.contains(&id.to_string())))
            };
            m.also(route, actor, ok, format!("body {b}"));
        }
    }
    // All or nothing: one foreign id refuses the whole batch, naming only it.
    let other = app
        .post(
            "/api/v1/rooms",
            Some(&fx.spare.token),
            json!({"name": "Other", "member_ids": []}),
        )
        .await
        .json()["id"]
        .as_i64()
        .expect("other group");
    let foreign = say(&app, &fx.spare, other).await;
    let mine = say(&app, &fx.member, room).await;
    let route = "POST /messages/delete (one id from another group)";
    let r = app
        .post(
            "/api/v1/messages/delete",
            Some(&fx.member.token),
            json!({"ids": [mine, foreign]}),
        )
        .await;
    if m.check(route, "member", invalid, &r) {
        let named = r.json()["error"]["fields"]["ids"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        m.also(
            route,
            "member",
            named.contains(&foreign.to_string()) && !named.contains(&mine.to_string()),
            format!("names {named:?}"),
        );
        let history = app
            .get(
                &format!("/api/v1/rooms/{room}/messages"),
                Some(&fx.member.token),
            )
            .await;
        m.also(
            route,
            "member",
            items(&history).iter().any(|i| i["id"] == mine),
            "its own message was deleted anyway",
        );
    }

    let message = say(&app, &fx.member, room).await;
    let route = "PUT /me/favorites/{id}";
    for ((actor, who), want) in
        fx.actors()
            .into_iter()
            .zip(row(Allow(201), Allow(201), Allow(201), NO_MESSAGE))
    {
        let r = app
            .put(&format!("/api/v1/me/favorites/{message}"), Some(&who.token))
            .await;
        if m.check(route, actor, want, &r) && want == Allow(201) {
            m.also(route, actor, r.json()["message"]["id"] == message, &r.text);
        }
    }
    let route = "PUT /me/favorites/{id} (its own message of when it was in)";
    let r = app
        .put(
            &format!("/api/v1/me/favorites/{}", g.ex_message),
            Some(&fx.ex.token),
        )
        .await;
    m.check(route, "ex-member", NO_MESSAGE, &r);

    // A favorite outlives the membership; favoriting anew does not.
    let leaver = &fx.member2;
    let later = say(&app, &fx.member, room).await;
    let r = app
        .put(
            &format!("/api/v1/me/favorites/{message}"),
            Some(&leaver.token),
        )
        .await;
    m.check(
        "PUT /me/favorites/{id}",
        "member (about to leave)",
        Allow(201),
        &r,
    );
    let r = app
        .delete(
            &format!("/api/v1/rooms/{room}/members/{}", leaver.id),
            Some(&leaver.token),
        )
        .await;
    m.check(
        "DELETE /rooms/{id}/members/{itself} (leave)",
        "member",
        Allow(204),
        &r,
    );
    let r = app.get("/api/v1/me/favorites", Some(&leaver.token)).await;
    let route = "GET /me/favorites (after leaving)";
    if m.check(route, "ex-member", Allow(200), &r) {
        let kept = items(&r).iter().any(|f| f["message"]["id"] == message);
        m.also(route, "ex-member", kept, format!("favorites {}", r.text));
    }
    let r = app
        .get(
            &format!("/api/v1/rooms/{room}/messages"),
            Some(&leaver.token),
        )
        .await;
    m.check(
        "GET /rooms/{id}/messages (after leaving)",
        "ex-member",
        NO_ROOM,
        &r,
    );
    let r = app
        .put(
            &format!("/api/v1/me/favorites/{later}"),
            Some(&leaver.token),
        )
        .await;
    m.check(
        "PUT /me/favorites/{id} (a message of the group, after leaving)",
        "ex-member",
        NO_MESSAGE,
        &r,
    );
    // Its own favorite stays its own: putting it again is "already a favorite".
    let r = app
        .put(
            &format!("/api/v1/me/favorites/{message}"),
            Some(&leaver.token),
        )
        .await;
    m.check(
        "PUT /me/favorites/{id} (its favorite, after leaving)",
        "ex-member",
        Allow(200),
        &r,
    );
    m.finish(45);
}

/// A new invite link to `room` made by `by`: the answer, token included.
async fn new_invite(app: &TestApp, room: i64, by: &Login) -> Value {
    let r = app
        .post(
            &format!("/api/v1/rooms/{room}/invites"),
            Some(&by.token),
            json!({}),
        )
        .await;
    assert_eq!(r.status, 201, "invite: {}", r.text);
    r.json()
}

/// Invite links: creating, listing and revoking them (managers), and
/// previewing and joining (anyone signed in).
async fn invites(app: TestApp) {
    let fx = Fixture::new(&app).await;
    let mut m = Matrix::new("invites");
    let room = fx.group(&app).await.id;
    let path = format!("/api/v1/rooms/{room}/invites");

    let route = "POST /rooms/{id}/invites";
    let wants = row(Allow(201), Allow(201), NOT_ROOM_ADMIN, NO_ROOM);
    for ((actor, who), want) in fx.actors().into_iter().zip(wants) {
        let r = app.post(&path, Some(&who.token), json!({})).await;
        if m.check(route, actor, want, &r) && want == Allow(201) {
            m.also(route, actor, r.json()["token"].is_string(), &r.text);
        }
    }

    let route = "GET /rooms/{id}/invites";
    let wants = row(Allow(200), Allow(200), NOT_ROOM_ADMIN, NO_ROOM);
    for ((actor, who), want) in fx.actors().into_iter().zip(wants) {
        let r = app.get(&path, Some(&who.token)).await;
        if m.check(route, actor, want, &r) && want == Allow(200) {
            let listed = items(&r);
            m.also(
                route,
                actor,
                !listed.is_empty() && listed.iter().all(|i| i.get("token").is_none()),
                &r.text,
            );
        }
    }

    let route = "DELETE /rooms/{id}/invites/{invite_id}";
    let wants = row(Allow(204), Allow(204), NOT_ROOM_ADMIN, NO_ROOM);
    for ((actor, who), want) in fx.actors().into_iter().zip(wants) {
        let invite = new_invite(&app, room, &fx.owner).await;
        let r = app
            .delete(&format!("{path}/{}", invite["id"]), Some(&who.token))
            .await;
        m.check(route, actor, want, &r);
        let preview = app
            .get(
                &format!("/api/v1/invites/{}", invite["token"].as_str().unwrap_or("")),
                Some(&fx.owner.token),
            )
            .await;
        let revoked = preview.status == 410;
        m.also(
            route,
            actor,
            revoked == (want == Allow(204)),
            format!("afterwards the link answers {}", describe(&preview)),
        );
    }

    // Another group's link, through a group one manages or one is not in.
    let other = app
        .post(
            "/api/v1/rooms",
            Some(&fx.spare.token),
            json!({"name": "Other", "member_ids": []}),
        )
        .await
        .json()["id"]
        .as_i64()
        .expect("other group");
    let theirs = app
        .post(
            &format!("/api/v1/rooms/{other}/invites"),
            Some(&fx.spare.token),
            json!({}),
        )
        .await
        .json();
    let r = app
        .delete(&format!("{path}/{}", theirs["id"]), Some(&fx.admin.token))
        .await;
    m.check(
        "DELETE /rooms/{own group}/invites/{another group's invite}",
        "admin",
        Deny(404, "invite_not_found"),
        &r,
    );
    let r = app
        .delete(
            &format!("/api/v1/rooms/{other}/invites/{}", theirs["id"]),
            Some(&fx.owner.token),
        )
        .await;
    m.check(
        "DELETE /rooms/{another group}/invites/{its invite}",
        "owner",
        NO_ROOM,
        &r,
    );
    let still = app
        .get(
            &format!("/api/v1/invites/{}", theirs["token"].as_str().unwrap_or("")),
            Some(&fx.spare.token),
        )
        .await;
    m.also(
        "DELETE /rooms/{..}/invites/{another group's invite}",
        "admin and owner",
        still.status == 200,
        format!("the other group's link answers {}", describe(&still)),
    );

    let invite = new_invite(&app, room, &fx.admin).await;
    let token = invite["token"].as_str().expect("token").to_owned();
    let route = "GET /invites/{token}";
    for (i, (actor, who)) in fx.actors().into_iter().enumerate() {
        let r = app
            .get(&format!("/api/v1/invites/{token}"), Some(&who.token))
            .await;
        if m.check(route, actor, Allow(200), &r) {
            let b = r.json();
            m.also(
                route,
                actor,
                b["already_member"] == is_member(i),
                format!("body {b}"),
            );
        }
    }
    let route = "POST /invites/{token}/join";
    // The ex-member was removed by the owner: banned from rejoining by link.
    let wants = [
        Allow(200),
        Allow(200),
        Allow(200),
        Deny(403, "banned"),
        Allow(200),
        Allow(200),
        Allow(200),
    ];
    for ((actor, who), want) in fx.actors().into_iter().zip(wants) {
        let r = app
            .post(
                &format!("/api/v1/invites/{token}/join"),
                Some(&who.token),
                json!({}),
            )
            .await;
        if m.check(route, actor, want, &r) {
            let joined = want == Allow(200);
            let now = room_of(&app, who, room).await;
            m.also(
                route,
                actor,
                (now.status == 200) == joined && (!joined || r.json()["id"] == room),
                format!("afterwards GET /rooms/{{id}} answers {}", describe(&now)),
            );
        }
    }
    let r = app
        .post(
            &format!("/api/v1/rooms/{room}/messages"),
            Some(&fx.guest.token),
            json!({"client_id": client_id(), "kind": "text", "body": "joined"}),
        )
        .await;
    m.check(
        "POST /rooms/{id}/messages (after joining by link)",
        "guest",
        Allow(201),
        &r,
    );
    m.finish(38);
}

/// `GET /rooms/{id}/bans` and `DELETE /rooms/{id}/bans/{user_id}`: the
/// owner and admins see and lift bans (the ex-member's: the owner removed
/// them); a member is refused; outsiders, the banned ex-member included,
/// see no room.
async fn bans(app: TestApp) {
    let fx = Fixture::new(&app).await;
    let mut m = Matrix::new("bans");
    let room = fx.group(&app).await.id;
    let path = format!("/api/v1/rooms/{room}/bans");

    let route = "GET /rooms/{id}/bans";
    let wants = row(Allow(200), Allow(200), NOT_ROOM_ADMIN, NO_ROOM);
    for ((actor, who), want) in fx.actors().into_iter().zip(wants) {
        let r = app.get(&path, Some(&who.token)).await;
        if m.check(route, actor, want, &r) && want == Allow(200) {
            let listed = items(&r);
            m.also(
                route,
                actor,
                listed.len() == 1 && listed[0]["user"]["id"] == fx.ex.id,
                &r.text,
            );
        }
    }

    let route = "DELETE /rooms/{id}/bans/{user_id}";
    let wants = row(Allow(204), Allow(204), NOT_ROOM_ADMIN, NO_ROOM);
    for ((actor, who), want) in fx.actors().into_iter().zip(wants) {
        let room = fx.group(&app).await.id;
        let r = app
            .delete(
                &format!("/api/v1/rooms/{room}/bans/{}", fx.ex.id),
                Some(&who.token),
            )
            .await;
        m.check(route, actor, want, &r);
        let list = app
            .get(&format!("/api/v1/rooms/{room}/bans"), Some(&fx.owner.token))
            .await;
        let still = !items(&list).is_empty();
        m.also(
            route,
            actor,
            still != (want == Allow(204)),
            format!("afterwards the ban is there: {still}"),
        );
    }

    let r = app
        .delete(&format!("{path}/{}", fx.member2.id), Some(&fx.owner.token))
        .await;
    m.check(
        "DELETE /rooms/{id}/bans/{a member, not banned}",
        "owner",
        Deny(404, "ban_not_found"),
        &r,
    );
    let direct = app.direct(&fx.owner, &fx.spare).await;
    let r = app
        .get(
            &format!("/api/v1/rooms/{direct}/bans"),
            Some(&fx.owner.token),
        )
        .await;
    m.check(
        "GET /rooms/{direct room}/bans",
        "owner",
        Deny(422, "not_a_group"),
        &r,
    );
    m.finish(16);
}

/// Who may be put in a group, by creating one (`POST /rooms`, as the owner)
/// or by adding to one (`POST /rooms/{id}/members`, as its admin): under
/// the default `friends` policy a friend; never a stranger, never someone
/// who blocked the actor or whom the actor blocked (friends or not), never
/// a guest (guests join by link). A refusal writes nothing.
async fn who_may_be_put_in_a_group(app: TestApp) {
    let fx = Fixture::new(&app).await;
    let mut m = Matrix::new("who_may_be_put_in_a_group");
    let friend = app.user("az_friend").await;
    let blocker = app.user("az_blocker").await;
    let blocked = app.user("az_blocked").await;
    for who in [&fx.owner, &fx.admin] {
        app.befriend_ids(who, &[friend.id, blocker.id, blocked.id])
            .await;
        let r = app
            .put(
                &format!("/api/v1/me/blocks/{}", who.id),
                Some(&blocker.token),
            )
            .await;
        assert!(r.status < 300, "block: {}", r.text);
        let r = app
            .put(
                &format!("/api/v1/me/blocks/{}", blocked.id),
                Some(&who.token),
            )
            .await;
        assert!(r.status < 300, "block: {}", r.text);
    }
    let refused = |code| (Deny(403, code), Deny(403, code));
    let targets: [(&str, i64, (Want, Want)); 5] = [
        ("a friend", friend.id, (Allow(201), Allow(200))),
        ("a stranger", fx.stranger.id, refused("not_friends")),
        ("a friend who blocked them", blocker.id, refused("blocked")),
        (
            "a friend they blocked",
            blocked.id,
            refused("you_blocked_user"),
        ),
        ("a guest", fx.guest.id, refused("guest_forbidden")),
    ];
    let groups = |r: Resp| items(&r).len();
    for (target, id, (create, add)) in targets {
        let route = format!("POST /rooms (with {target})");
        let before = groups(
            app.get("/api/v1/rooms?limit=200", Some(&fx.owner.token))
                .await,
        );
        let r = app
            .post(
                "/api/v1/rooms",
                Some(&fx.owner.token),
                json!({"name": "Who", "member_ids": [id]}),
            )
            .await;
        m.check(&route, "owner", create, &r);
        let after = groups(
            app.get("/api/v1/rooms?limit=200", Some(&fx.owner.token))
                .await,
        );
        m.also(
            &route,
            "owner",
            (after == before + 1) == (create == Allow(201)),
            format!("the owner's rooms went from {before} to {after}"),
        );

        let route = format!("POST /rooms/{{id}}/members (adding {target})");
        let room = fx.group(&app).await.id;
        let r = app
            .post(
                &format!("/api/v1/rooms/{room}/members"),
                Some(&fx.admin.token),
                json!({"user_ids": [id]}),
            )
            .await;
        m.check(&route, "admin", add, &r);
        let count = room_of(&app, &fx.owner, room).await.json()["member_count"].clone();
        let grown = count == 6;
        m.also(
            &route,
            "admin",
            grown == (add == Allow(200)),
            format!("afterwards the group has {count} members"),
        );
    }
    m.finish(10);
}

/// The admin routes: only the server admin, whatever role in any group.
async fn admin_routes(app: TestApp) {
    let fx = Fixture::new(&app).await;
    let mut m = Matrix::new("admin_routes");
    let room = fx.group(&app).await.id;
    let victim = app.user("az_victim1").await;
    let victim2 = app.user("az_victim2").await;
    let wants = [
        ADMIN_ONLY,
        ADMIN_ONLY,
        ADMIN_ONLY,
        ADMIN_ONLY,
        ADMIN_ONLY,
        ADMIN_ONLY,
        Allow(200),
    ];

    let route = "GET /admin/messages";
    for ((actor, who), want) in fx.actors().into_iter().zip(wants) {
        let r = app
            .get(
                &format!("/api/v1/admin/messages?room_id={room}"),
                Some(&who.token),
            )
            .await;
        if m.check(route, actor, want, &r) && want == Allow(200) {
            m.also(route, actor, !items(&r).is_empty(), &r.text);
        }
    }

    let route = "DELETE /admin/messages/{id}";
    for ((actor, who), want) in fx.actors().into_iter().zip(wants) {
        let message = say(&app, &fx.member, room).await;
        let r = app
            .delete(
                &format!("/api/v1/admin/messages/{message}?reason=authz"),
                Some(&who.token),
            )
            .await;
        m.check(route, actor, want, &r);
        let history = app
            .get(
                &format!("/api/v1/rooms/{room}/messages"),
                Some(&fx.member.token),
            )
            .await;
        let revoked = items(&history)
            .iter()
            .any(|i| i["id"] == message && i["revoked"] == true);
        m.also(
            route,
            actor,
            revoked == (want == Allow(200)),
            format!("afterwards the message is revoked: {revoked}"),
        );
    }

    let route = "GET /admin/audit";
    for ((actor, who), want) in fx.actors().into_iter().zip(wants) {
        let r = app.get("/api/v1/admin/audit", Some(&who.token)).await;
        m.check(route, actor, want, &r);
    }

    let route = "PATCH /admin/users/{id} (disable)";
    for ((actor, who), want) in fx.actors().into_iter().zip(wants) {
        let target = if want == Allow(200) {
            &victim2
        } else {
            &victim
        };
        let r = app
            .patch(
                &format!("/api/v1/admin/users/{}", target.id),
                Some(&who.token),
                json!({"disabled": true, "reason": "authz"}),
            )
            .await;
        m.check(route, actor, want, &r);
        let me = app.get("/api/v1/me", Some(&target.token)).await;
        m.also(
            route,
            actor,
            (me.status == 200) == (want != Allow(200)),
            format!("afterwards the target's GET /me answers {}", describe(&me)),
        );
    }
    m.finish(28);
}

/// The WebSocket frames `send`, `read` and `typing`, each with a request id.
async fn websocket_frames(app: TestApp) {
    let fx = Fixture::new(&app).await;
    let mut m = Matrix::new("websocket_frames");
    let room = fx.group(&app).await.id;
    let actors = fx.actors();
    let mut conns = Vec::new();
    for (_, who) in actors {
        conns.push(app.ws(&who.token).await.0);
    }
    let members = [0, 1, 2];

    for (i, (actor, who)) in actors.into_iter().enumerate() {
        let id = format!("send-{i}");
        conns[i]
            .send(
                json!({"type": "send", "id": id, "room_id": room, "client_id": client_id(),
                         "kind": "text", "body": "over the socket"}),
            )
            .await;
        let f = conns[i].next().await;
        if is_member(i) {
            let ok = f["type"] == "ack"
                && f["id"] == id
                && f["message"]["room_id"] == room
                && f["message"]["sender"]["id"] == who.id;
            m.cell("ws send", actor, "ack with the request id", ok, &f);
            for j in members.into_iter().filter(|j| *j != i) {
                let seen = conns[j].next().await;
                m.also(
                    "ws send",
                    actor,
                    seen["type"] == "message" && seen["message"]["id"] == f["message"]["id"],
                    format!("the {} got {seen}", actors[j].0),
                );
            }
        } else {
            let ok = error_frame(&f, &id, "room_not_found");
            m.cell(
                "ws send",
                actor,
                "error room_not_found with the request id",
                ok,
                &f,
            );
        }
    }
    for ws in &mut conns {
        ws.assert_quiet().await;
    }

    for (i, (actor, who)) in actors.into_iter().enumerate() {
        let id = format!("read-{i}");
        conns[i]
            .send(json!({"type": "read", "id": id, "room_id": room, "seq": 1000}))
            .await;
        let f = conns[i].next().await;
        if is_member(i) {
            let ok = f["type"] == "read"
                && f["id"] == id
                && f["room_id"] == room
                && f["user_id"] == who.id;
            m.cell("ws read", actor, "read with the request id", ok, &f);
        } else {
            let ok = error_frame(&f, &id, "room_not_found");
            m.cell(
                "ws read",
                actor,
                "error room_not_found with the request id",
                ok,
                &f,
            );
        }
    }
    for ws in &mut conns {
        ws.assert_quiet().await;
    }

    for (i, (actor, who)) in actors.into_iter().enumerate() {
        let id = format!("typing-{i}");
        conns[i]
            .send(json!({"type": "typing", "id": id, "room_id": room}))
            .await;
        if is_member(i) {
            let mut seen = Vec::new();
            for j in members.into_iter().filter(|j| *j != i) {
                seen.push(conns[j].next().await);
            }
            let forwarded = seen
                .iter()
                .all(|f| f["type"] == "typing" && f["room_id"] == room && f["user_id"] == who.id);
            let reply = quiet(&mut conns[i], &format!("quiet-{i}")).await;
            m.cell(
                "ws typing",
                actor,
                "no reply; the other members get typing",
                forwarded && reply.is_ok(),
                format!(
                    "others got {}; reply {}",
                    Value::Array(seen),
                    reply.err().unwrap_or(Value::Null)
                ),
            );
        } else {
            let f = conns[i].next().await;
            let ok = error_frame(&f, &id, "room_not_found");
            m.cell(
                "ws typing",
                actor,
                "error room_not_found with the request id",
                ok,
                &f,
            );
        }
    }
    for ws in &mut conns {
        ws.assert_quiet().await;
    }
    m.finish(21);
}

/// A dissolved group: its members still read it, nobody changes it, and
/// outsiders still see nothing.
async fn dissolved_group(app: TestApp) {
    let fx = Fixture::new(&app).await;
    let mut m = Matrix::new("dissolved_group");
    let room = fx.group(&app).await.id;
    let base = format!("/api/v1/rooms/{room}");
    let invite = app
        .post(&format!("{base}/invites"), Some(&fx.owner.token), json!({}))
        .await
        .json();
    let token = invite["token"].as_str().expect("invite token").to_owned();
    let r = app.delete(&base, Some(&fx.owner.token)).await;
    assert_eq!(r.status, 204, "dissolve: {}", r.text);

    let send = json!({"client_id": "late", "kind": "text", "body": "anyone?"});
    let table = [
        (
            "GET /rooms/{id}",
            Method::GET,
            base.clone(),
            None,
            members_only(Allow(200)),
        ),
        (
            "GET /rooms/{id}/messages",
            Method::GET,
            format!("{base}/messages"),
            None,
            members_only(Allow(200)),
        ),
        (
            "POST /rooms/{id}/read",
            Method::POST,
            format!("{base}/read"),
            Some(json!({"seq": 1000})),
            members_only(Allow(200)),
        ),
        (
            "POST /rooms/{id}/messages",
            Method::POST,
            format!("{base}/messages"),
            Some(send),
            row(DISSOLVED, DISSOLVED, DISSOLVED, NO_ROOM),
        ),
        (
            "PATCH /rooms/{id} (rename)",
            Method::PATCH,
            base.clone(),
            Some(json!({"name": "Revived"})),
            row(DISSOLVED, DISSOLVED, NOT_ROOM_ADMIN, NO_ROOM),
        ),
        (
            "POST /rooms/{id}/members (add)",
            Method::POST,
            format!("{base}/members"),
            Some(json!({"user_ids": [fx.spare.id]})),
            row(DISSOLVED, DISSOLVED, NOT_ROOM_ADMIN, NO_ROOM),
        ),
        (
            "POST /rooms/{id}/invites",
            Method::POST,
            format!("{base}/invites"),
            Some(json!({})),
            row(DISSOLVED, DISSOLVED, NOT_ROOM_ADMIN, NO_ROOM),
        ),
        (
            "DELETE /rooms/{id} (dissolve again)",
            Method::DELETE,
            base.clone(),
            None,
            row(DISSOLVED, NOT_ROOM_OWNER, NOT_ROOM_OWNER, NO_ROOM),
        ),
        (
            "PATCH /rooms/{id}/members/{a member} role admin",
            Method::PATCH,
            format!("{base}/members/{}", fx.member2.id),
            Some(json!({"role": "admin"})),
            row(DISSOLVED, NOT_ROOM_OWNER, NOT_ROOM_OWNER, NO_ROOM),
        ),
        (
            "POST /invites/{token}/join (a link made before)",
            Method::POST,
            format!("/api/v1/invites/{token}/join"),
            Some(json!({})),
            row(
                Allow(200),
                Allow(200),
                Allow(200),
                Deny(410, "room_dissolved"),
            ),
        ),
    ];
    for (route, method, path, body, wants) in &table {
        for ((actor, who), want) in fx.actors().into_iter().zip(wants) {
            let r = call(&app, method.clone(), path, who, body.clone()).await;
            if m.check(route, actor, *want, &r)
                && *want == Allow(200)
                && *route == "GET /rooms/{id}"
            {
                m.also(route, actor, r.json()["dissolved_at"].is_string(), &r.text);
            }
        }
    }
    let spare_in = room_of(&app, &fx.spare, room).await;
    m.also(
        "POST /rooms/{id}/members (add)",
        "anyone",
        spare_in.status == 404,
        format!("the user to add answers {}", describe(&spare_in)),
    );

    let route = "ws send";
    for (i, (actor, who)) in fx.actors().into_iter().enumerate() {
        let (mut ws, _) = app.ws(&who.token).await;
        let id = format!("late-{i}");
        ws.send(
            json!({"type": "send", "id": id, "room_id": room, "client_id": client_id(),
                       "kind": "text", "body": "anyone?"}),
        )
        .await;
        let f = ws.next().await;
        let (want, code) = if is_member(i) {
            ("error room_dissolved with the request id", "room_dissolved")
        } else {
            ("error room_not_found with the request id", "room_not_found")
        };
        m.cell(route, actor, want, error_frame(&f, &id, code), &f);
        ws.assert_quiet().await;
    }

    // Nobody is removed from a dissolved group, but anyone may leave it,
    // its owner included.
    let member = |u: &Login| format!("{base}/members/{}", u.id);
    let r = app.delete(&member(&fx.member), Some(&fx.owner.token)).await;
    m.check(
        "DELETE /rooms/{id}/members/{a member}",
        "owner",
        DISSOLVED,
        &r,
    );
    let r = app
        .delete(&member(&fx.member), Some(&fx.member.token))
        .await;
    m.check(
        "DELETE /rooms/{id}/members/{itself} (leave)",
        "member",
        Allow(204),
        &r,
    );
    let r = app.delete(&member(&fx.owner), Some(&fx.owner.token)).await;
    m.check(
        "DELETE /rooms/{id}/members/{itself} (leave)",
        "owner",
        Allow(204),
        &r,
    );
    m.finish(80);
}
