//! Two nodes over one PostgreSQL database: two `App`s, each with its own
//! store handle, writer task, bus, cache and files, run conflicting
//! operations at the same moment, and the database must still keep the
//! product's rules afterwards.
//!
//! One node alone keeps several of these rules by running every membership
//! change on its one writer task, where a check read in one store call still
//! holds when the next call writes. Two nodes have two writer tasks, so only
//! a check made inside the store's writing transaction holds; these cases
//! prove where that is not yet so, and guard the rules once it is.
//!
//! Each case runs many independent rounds (fresh users and rooms each), then
//! reads the database and reports every broken rule with its round. The
//! last case has both nodes run the durable file jobs on one database.

#![allow(clippy::unwrap_used)]

use futures_util::FutureExt;
use roomy_app::{
    App, AppSettings, FileSettings, Files, InviteError, InviteInput, MemberInput, NewGroupInput,
    RoomError, SendInput, Sent,
    friends::{FriendAnswer, FriendError, FriendRequestInput},
    social::GraphChange,
};
use roomy_blob::{Blob, BlobConfig, ObjectKey};
use roomy_bus::InProcessBus;
use roomy_cache::InProcessCache;
use roomy_core::{
    Config, FileId, Role, RoomId, SystemClock, UserId,
    chat_fields::MemberRole,
    social_fields::DirectPolicy,
    user_fields::{Nickname, Username},
};
use roomy_store::{Decision, NewUser, User};
use roomy_store_postgres::{PgStore, testing::fresh_database_url};
use sqlx::PgPool;
use std::{
    collections::HashMap,
    fmt::Display,
    path::Path,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
};
use tempfile::TempDir;

/// Small, so that a few adds from each side reach it.
const MAX_MEMBERS: usize = 4;
/// Rounds per case: enough for the interleavings to show on two cores.
const ROUNDS: usize = 200;
/// Broken rules printed per kind; the count says how many there were.
const SHOWN: usize = 20;
/// Job runners per node (what `job_workers` starts).
const JOB_WORKERS: usize = 2;

/// Two nodes and a plain connection for reading what they wrote.
struct Cluster {
    a: App,
    b: App,
    db: PgPool,
    next_user: AtomicUsize,
    _dirs: (TempDir, TempDir),
}

/// One node: its own store handle, writer task, bus, cache and file
/// folders; its stored files under `files` when given (one storage for
/// every node), else in a folder of its own.
async fn node(url: &str, files: Option<&Path>) -> (App, TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let config = Config {
        max_group_members: MAX_MEMBERS,
        // Anyone may be put in a group: no friendships to set up per round.
        direct_messages: DirectPolicy::Anyone,
        job_workers: JOB_WORKERS,
        ..Config::default()
    };
    let files = Files::new(
        Blob::open(&BlobConfig::Fs {
            root: files.map_or_else(|| dir.path().join("files"), Path::to_path_buf),
        })
        .unwrap(),
        FileSettings {
            upload_dir: dir.path().join("uploads"),
            ..FileSettings::from(&config)
        },
    )
    .unwrap();
    let app = App::start(
        Arc::new(PgStore::connect(url, 4).await.unwrap()),
        Arc::new(InProcessBus::new(1024)),
        Arc::new(InProcessCache::new(10_000)),
        Arc::new(SystemClock),
        AppSettings::from(&config),
        files,
    );
    (app, dir)
}

impl Cluster {
    /// Two nodes on a fresh database, or `None` (skipped) without PostgreSQL.
    async fn start() -> Option<Cluster> {
        let url = fresh_database_url().await?;
        // Commits need not wait for the disk here: the rules under test are
        // about locks and order, and hundreds of rounds must fit in seconds.
        let join = if url.contains('?') { '&' } else { '?' };
        let url = format!("{url}{join}options=-c%20synchronous_commit%3Doff");
        // One after the other: the first runs the migrations.
        let (a, dir_a) = node(&url, None).await;
        let (b, dir_b) = node(&url, None).await;
        let db = PgPool::connect(&url).await.unwrap();
        Some(Cluster {
            a,
            b,
            db,
            next_user: AtomicUsize::new(0),
            _dirs: (dir_a, dir_b),
        })
    }

    /// `n` new users, straight through the store: hashing passwords would
    /// cost more than the rounds themselves.
    async fn users(&self, n: usize) -> Vec<User> {
        let made = (0..n).map(|_| {
            let name = format!("user{:05}", self.next_user.fetch_add(1, Ordering::Relaxed));
            async move {
                self.a
                    .store
                    .create_user(
                        NewUser {
                            username: Username::parse(&name).unwrap(),
                            nickname: Nickname::parse(&name).unwrap(),
                            password_hash: None,
                            role: Role::User,
                        },
                        self.a.clock.now(),
                    )
                    .await
                    .unwrap()
            }
        });
        futures_util::future::join_all(made).await
    }
}

/// A group `owner` creates on node A with `members`, of whom `admins` are made admins.
async fn group(app: &App, owner: &User, members: &[&User], admins: &[&User]) -> RoomId {
    let room = app
        .create_group(
            owner,
            NewGroupInput {
                name: "race".into(),
                member_ids: members.iter().map(|u| u.id).collect(),
            },
        )
        .await
        .unwrap()
        .room
        .id;
    for admin in admins {
        app.update_member(owner, room, admin.id, role(MemberRole::Admin))
            .await
            .unwrap();
    }
    room
}

fn role(role: MemberRole) -> MemberInput {
    MemberInput {
        role: Some(role),
        ..MemberInput::default()
    }
}

fn text(room: RoomId, client_id: &str, body: &str) -> SendInput {
    SendInput {
        room_id: room,
        client_id: client_id.to_owned(),
        kind: "text".into(),
        body: Some(body.to_owned()),
        file_id: None,
    }
}

/// An error with its causes: a store error's own text hides the database's.
fn chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        text.push_str(": ");
        text.push_str(&c.to_string());
        cause = c.source();
    }
    text
}

/// An operation's result, briefly, for a report.
fn said<T, E: std::error::Error>(result: &Result<T, E>, ok: impl Fn(&T) -> String) -> String {
    match result {
        Ok(t) => ok(t),
        Err(e) => format!("refused ({})", chain(e)),
    }
}

fn sent(result: &Result<Sent, impl std::error::Error>) -> String {
    said(result, |s| match s {
        Sent::Stored(m) => format!("stored as id {} seq {}", m.id.0, m.seq),
        Sent::Duplicate(m) => format!("duplicate of id {} seq {}", m.id.0, m.seq),
    })
}

/// The broken rules one case found: in its rounds, and in the whole database.
struct Findings {
    case: &'static str,
    rounds: Vec<String>,
    global: Vec<String>,
}

impl Findings {
    fn new(case: &'static str) -> Findings {
        Findings {
            case,
            rounds: Vec::new(),
            global: Vec::new(),
        }
    }

    fn round(&mut self, round: usize, what: String) {
        self.rounds.push(format!("round {round}: {what}"));
    }

    fn any(&mut self, what: String) {
        self.global.push(what);
    }

    /// Fails the test with every finding (the first few of each kind in full).
    fn finish(self) {
        if self.rounds.is_empty() && self.global.is_empty() {
            return;
        }
        let mut report = format!("case {}:\n", self.case);
        for (kind, found) in [
            ("in the rounds", &self.rounds),
            ("in the whole database", &self.global),
        ] {
            report.push_str(&format!(
                "{} broken rule(s) {kind} ({ROUNDS} rounds)\n",
                found.len()
            ));
            for line in found.iter().take(SHOWN) {
                report.push_str("  ");
                report.push_str(line);
                report.push('\n');
            }
            if found.len() > SHOWN {
                report.push_str(&format!("  ... and {} more\n", found.len() - SHOWN));
            }
        }
        panic!("{report}");
    }
}

/// A room and, when one of the case's rounds made it, that round.
fn at(rounds: &HashMap<i64, usize>, room: i64) -> String {
    match rounds.get(&room) {
        Some(r) => format!("round {r}: room {room}"),
        None => format!("room {room}"),
    }
}

/// A room's members: (user, role, joined_at).
async fn members_of(db: &PgPool, room: RoomId) -> Vec<(i64, String, i64)> {
    sqlx::query_as(
        "SELECT user_id, role, joined_at FROM room_members WHERE room_id = $1 ORDER BY user_id",
    )
    .bind(room.0)
    .fetch_all(db)
    .await
    .unwrap()
}

/// One stored message, as the checks read it.
#[derive(Debug, sqlx::FromRow)]
struct Stored {
    seq: i64,
    sender_id: i64,
    kind: String,
    body: Option<String>,
    event: Option<String>,
    client_id: Option<String>,
}

impl Display for Stored {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "seq {} {} by user {}",
            self.seq, self.kind, self.sender_id
        )?;
        if let Some(body) = &self.body {
            write!(f, " {body:?}")?;
        }
        Ok(())
    }
}

async fn messages_of(db: &PgPool, room: RoomId) -> Vec<Stored> {
    sqlx::query_as(
        "SELECT seq, sender_id, kind, body, event, client_id FROM messages
         WHERE room_id = $1 ORDER BY seq",
    )
    .bind(room.0)
    .fetch_all(db)
    .await
    .unwrap()
}

/// How many friendship rows the pair has (0 or 2 when consistent).
async fn friendship_rows(db: &PgPool, x: UserId, y: UserId) -> i64 {
    sqlx::query_scalar(
        "SELECT count(*) FROM friends
         WHERE (user_id = $1 AND friend_id = $2) OR (user_id = $2 AND friend_id = $1)",
    )
    .bind(x.0)
    .bind(y.0)
    .fetch_one(db)
    .await
    .unwrap()
}

/// Every request between the pair, either way: (id, from, status).
async fn requests_between(db: &PgPool, x: UserId, y: UserId) -> Vec<(i64, i64, String)> {
    sqlx::query_as(
        "SELECT id, from_id, status FROM friend_requests
         WHERE (from_id = $1 AND to_id = $2) OR (from_id = $2 AND to_id = $1) ORDER BY id",
    )
    .bind(x.0)
    .bind(y.0)
    .fetch_all(db)
    .await
    .unwrap()
}

/// The pair's direct room gate, if they have a direct room.
async fn direct_gate(db: &PgPool, x: UserId, y: UserId) -> Option<i64> {
    let key = format!("{}:{}", x.0.min(y.0), x.0.max(y.0));
    sqlx::query_scalar("SELECT direct_gate FROM rooms WHERE kind = 'direct' AND direct_key = $1")
        .bind(key)
        .fetch_optional(db)
        .await
        .unwrap()
}

/// Bits of `rooms.direct_gate`, as the schema defines them.
const GATE_NOT_FRIENDS: i64 = 1;
const GATE_BLOCKED: i64 = 2;

/// The rules every case must leave true in the whole database.
async fn global_rules(db: &PgPool, rounds: &HashMap<i64, usize>, f: &mut Findings) {
    // Each room's seqs are 1..=last_seq, each once.
    let seqs: Vec<(i64, i64, i64, i64, i64, i64)> = sqlx::query_as(
        "SELECT r.id, r.last_seq, count(m.id), count(DISTINCT m.seq),
                coalesce(min(m.seq), 0), coalesce(max(m.seq), 0)
         FROM rooms r LEFT JOIN messages m ON m.room_id = r.id
         GROUP BY r.id, r.last_seq ORDER BY r.id",
    )
    .fetch_all(db)
    .await
    .unwrap();
    for (room, last, count, distinct, min, max) in seqs {
        let gapless = count == distinct && count == max && (count == 0 || min == 1);
        if !gapless || last != max {
            f.any(format!(
                "{}: seqs are not 1..n once each: {count} messages, {distinct} distinct seqs \
                 from {min} to {max}, last_seq {last}",
                at(rounds, room)
            ));
        }
    }
    // At most one direct room per pair of users.
    let pairs: Vec<(i64, i64, i64)> = sqlx::query_as(
        "SELECT x.user_id, y.user_id, count(DISTINCT r.id)
         FROM rooms r
         JOIN room_members x ON x.room_id = r.id
         JOIN room_members y ON y.room_id = r.id AND x.user_id < y.user_id
         WHERE r.kind = 'direct'
         GROUP BY x.user_id, y.user_id HAVING count(DISTINCT r.id) > 1",
    )
    .fetch_all(db)
    .await
    .unwrap();
    for (x, y, n) in pairs {
        f.any(format!("users {x} and {y} share {n} direct rooms"));
    }
    // No membership of a missing room or user.
    let orphans: Vec<(i64, i64)> = sqlx::query_as(
        "SELECT rm.room_id, rm.user_id FROM room_members rm
         LEFT JOIN rooms r ON r.id = rm.room_id
         LEFT JOIN users u ON u.id = rm.user_id
         WHERE r.id IS NULL OR u.id IS NULL",
    )
    .fetch_all(db)
    .await
    .unwrap();
    for (room, user) in orphans {
        f.any(format!(
            "membership of user {user} in room {room} points at a missing room or user"
        ));
    }
    // The count the app's capacity check reads agrees with the rows.
    let counts: Vec<(i64, i64, i64)> = sqlx::query_as(
        "SELECT r.id, r.member_count, count(rm.user_id)
         FROM rooms r LEFT JOIN room_members rm ON rm.room_id = r.id
         GROUP BY r.id, r.member_count HAVING r.member_count <> count(rm.user_id)
         ORDER BY r.id",
    )
    .fetch_all(db)
    .await
    .unwrap();
    for (room, said, rows) in counts {
        f.any(format!(
            "{}: member_count says {said}, the room has {rows} members",
            at(rounds, room)
        ));
    }
}

/// Case 1: the owner on node A and an admin on node B each add two users
/// to a group of two; either add fits alone, both together exceed it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn capacity_holds_when_both_nodes_add() {
    let Some(c) = Cluster::start().await else {
        return;
    };
    let mut f = Findings::new("capacity");
    let mut rounds = HashMap::new();
    for round in 0..ROUNDS {
        let u = c.users(6).await;
        let (owner, admin) = (&u[0], &u[1]);
        let room = group(&c.a, owner, &[admin], &[admin]).await;
        rounds.insert(room.0, round);
        let (on_a, on_b) = tokio::join!(
            c.a.add_members(owner, room, vec![u[2].id, u[3].id]),
            c.b.add_members(admin, room, vec![u[4].id, u[5].id]),
        );
        let members = members_of(&c.db, room).await.len();
        let added = |r: &Result<Vec<roomy_store::Member>, RoomError>| {
            said(r, |m| format!("added {}", m.len()))
        };
        let outcomes = format!("node A: {}, node B: {}", added(&on_a), added(&on_b));
        if members > MAX_MEMBERS {
            f.round(
                round,
                format!(
                    "group {} has {members} members (at most {MAX_MEMBERS}); {outcomes}",
                    room.0
                ),
            );
        }
        let accepted = 2 + 2 * [&on_a, &on_b].iter().filter(|r| r.is_ok()).count();
        if members != accepted {
            f.round(
                round,
                format!(
                    "group {} has {members} members, the adds that succeeded make {accepted}; {outcomes}",
                    room.0
                ),
            );
        }
        for (who, r) in [("A", &on_a), ("B", &on_b)] {
            if let Err(e) = r
                && !matches!(e, RoomError::GroupFull { .. })
            {
                f.round(
                    round,
                    format!("node {who}'s add failed otherwise: {}", chain(e)),
                );
            }
        }
    }
    global_rules(&c.db, &rounds, &mut f).await;
    f.finish();
}

/// Case 2: the owner dissolves on node A while, on node B, an admin adds a
/// user and a member sends a message.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_joins_or_is_said_after_a_dissolve() {
    let Some(c) = Cluster::start().await else {
        return;
    };
    let mut f = Findings::new("dissolve against add");
    let mut rounds = HashMap::new();
    for round in 0..ROUNDS {
        let u = c.users(4).await;
        let (owner, admin, member, newcomer) = (&u[0], &u[1], &u[2], &u[3]);
        let room = group(&c.a, owner, &[admin, member], &[admin]).await;
        rounds.insert(room.0, round);
        let (dissolved, added, said_) = tokio::join!(
            c.a.dissolve(owner, room),
            c.b.add_members(admin, room, vec![newcomer.id]),
            c.b.send(
                member.id,
                text(room, &format!("r{round}"), "still here?"),
                None
            ),
        );
        let outcomes = format!(
            "add on node B: {}; send on node B: {}",
            said(&added, |m| format!("added {}", m.len())),
            sent(&said_)
        );
        if let Err(e) = &dissolved {
            f.round(
                round,
                format!("the dissolve on node A failed: {}; {outcomes}", chain(e)),
            );
            continue;
        }
        let messages = messages_of(&c.db, room).await;
        let Some(notice) = messages
            .iter()
            .find(|m| m.event.as_deref() == Some("dissolved"))
        else {
            f.round(round, format!("group {} has no dissolve notice", room.0));
            continue;
        };
        let after: Vec<String> = messages
            .iter()
            .filter(|m| m.seq > notice.seq)
            .map(ToString::to_string)
            .collect();
        if !after.is_empty() {
            f.round(
                round,
                format!(
                    "group {} stored {} message(s) after its dissolve notice (seq {}): {}; {outcomes}",
                    room.0,
                    after.len(),
                    notice.seq,
                    after.join("; ")
                ),
            );
        }
        let dissolved: Option<i64> =
            sqlx::query_scalar("SELECT dissolved_at FROM rooms WHERE id = $1")
                .bind(room.0)
                .fetch_one(&c.db)
                .await
                .unwrap();
        if dissolved.is_none() {
            f.round(round, format!("group {} is not marked dissolved", room.0));
        }
        // Ordered by seq, not by joined_at: each side reads its time before
        // its transaction, so the times cannot tell which committed first.
        let joined = members_of(&c.db, room)
            .await
            .iter()
            .any(|(user, _, _)| *user == newcomer.id.0);
        let added_before = messages.iter().any(|m| {
            m.seq < notice.seq
                && m.sender_id == admin.id.0
                && m.body.as_deref().is_some_and(|b| b.contains(" added "))
        });
        if joined && !added_before {
            f.round(
                round,
                format!(
                    "user {} joined group {} after it was dissolved; {outcomes}",
                    newcomer.id.0, room.0
                ),
            );
        }
    }
    global_rules(&c.db, &rounds, &mut f).await;
    f.finish();
}

/// Case 3: the owner hands the group to X on node A and to Y on node B.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hand_overs_leave_one_owner() {
    let Some(c) = Cluster::start().await else {
        return;
    };
    let mut f = Findings::new("two transfers");
    let mut rounds = HashMap::new();
    for round in 0..ROUNDS {
        let u = c.users(3).await;
        let (owner, x, y) = (&u[0], &u[1], &u[2]);
        let room = group(&c.a, owner, &[x, y], &[]).await;
        rounds.insert(room.0, round);
        let (to_x, to_y) = tokio::join!(
            c.a.update_member(owner, room, x.id, role(MemberRole::Owner)),
            c.b.update_member(owner, room, y.id, role(MemberRole::Owner)),
        );
        let outcomes = format!(
            "to X ({}) on node A: {}; to Y ({}) on node B: {}",
            x.id.0,
            said(&to_x, |_| "done".into()),
            y.id.0,
            said(&to_y, |_| "done".into())
        );
        let members = members_of(&c.db, room).await;
        let owners: Vec<i64> = members
            .iter()
            .filter(|(_, r, _)| r == "owner")
            .map(|(u, _, _)| *u)
            .collect();
        let done = [&to_x, &to_y].iter().filter(|r| r.is_ok()).count();
        if owners.len() != 1 {
            f.round(
                round,
                format!("group {} has owners {owners:?}; {outcomes}", room.0),
            );
        }
        if done != 1 {
            f.round(
                round,
                format!("{done} hand-overs succeeded, one must; {outcomes}"),
            );
        }
        if done >= 1 {
            if owners.contains(&owner.id.0) {
                f.round(
                    round,
                    format!(
                        "the former owner {} is still an owner of group {} (owners {owners:?}); {outcomes}",
                        owner.id.0, room.0
                    ),
                );
            }
            let heir = if to_x.is_ok() { x.id.0 } else { y.id.0 };
            if done == 1 && owners != [heir] {
                f.round(
                    round,
                    format!(
                        "user {heir} was made owner, the group's owners are {owners:?}; {outcomes}"
                    ),
                );
            }
        }
        let notices = messages_of(&c.db, room)
            .await
            .into_iter()
            .filter(|m| {
                m.kind == "system"
                    && m.body
                        .as_deref()
                        .is_some_and(|b| b.ends_with("the owner of the group"))
            })
            .count();
        if notices != done {
            f.round(
                round,
                format!(
                    "group {} has {notices} hand-over notices for {done} hand-over(s); {outcomes}",
                    room.0
                ),
            );
        }
    }
    global_rules(&c.db, &rounds, &mut f).await;
    f.finish();
}

/// Case 4: there is no way to withdraw a request, so the conflicting
/// answers: the target agrees on node A and refuses on node B while the
/// requester unfriends the target on node B.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_ends_one_way_and_friendship_agrees() {
    let Some(c) = Cluster::start().await else {
        return;
    };
    let mut f = Findings::new("answer against answer and unfriend");
    let rounds = HashMap::new();
    for round in 0..ROUNDS {
        let u = c.users(2).await;
        let (asker, target) = (&u[0], &u[1]);
        let request =
            c.a.send_friend_request(
                asker,
                FriendRequestInput::parse(asker, target.id, None, None).unwrap(),
            )
            .await
            .unwrap();
        let answer = |decision| FriendAnswer {
            decision,
            remark: None,
        };
        let (agreed, refused, unfriended) = tokio::join!(
            c.a.answer_friend_request(target, request.id, answer(Decision::Agree)),
            c.b.answer_friend_request(target, request.id, answer(Decision::Refuse)),
            c.b.unfriend(asker, target.id),
        );
        let outcomes = format!(
            "agree on node A: {}; refuse on node B: {}; unfriend on node B: {}",
            said(&agreed, |_| "done".into()),
            said(&refused, |_| "done".into()),
            said(&unfriended, |_| "done".into())
        );
        let status: Option<String> =
            sqlx::query_scalar("SELECT status FROM friend_requests WHERE id = $1")
                .bind(request.id)
                .fetch_optional(&c.db)
                .await
                .unwrap();
        let friends = friendship_rows(&c.db, asker.id, target.id).await;
        let answers = [agreed.is_ok(), refused.is_ok()]
            .iter()
            .filter(|ok| **ok)
            .count();
        if answers != 1 {
            f.round(
                round,
                format!(
                    "{answers} answers to request {} succeeded, one must; {outcomes}",
                    request.id
                ),
            );
        }
        if friends != 0 && friends != 2 {
            f.round(
                round,
                format!("the pair has {friends} friendship row(s); {outcomes}"),
            );
        }
        if unfriended.is_ok() && agreed.is_err() {
            f.round(
                round,
                format!("an unfriend succeeded though no agreement did; {outcomes}"),
            );
        }
        let consistent = match status.as_deref() {
            // Only an unfriend deletes a request, with the friendship.
            None => unfriended.is_ok() && friends == 0,
            Some("agree") => friends == 2,
            Some("refuse") | Some("ignore") => friends == 0,
            Some(_) => false,
        };
        if !consistent {
            f.round(
                round,
                format!(
                    "request {} is {status:?} while the pair has {friends} friendship row(s); {outcomes}",
                    request.id
                ),
            );
        }
        if let Some(gate) = direct_gate(&c.db, asker.id, target.id).await
            && (gate & GATE_NOT_FRIENDS != 0) != (friends == 0)
        {
            f.round(
                    round,
                    format!(
                        "the direct room's gate is {gate} while the pair has {friends} friendship row(s); {outcomes}"
                    ),
                );
        }
    }
    global_rules(&c.db, &rounds, &mut f).await;
    f.finish();
}

/// Case 5: a block races a friend request sent the other way (pair one),
/// and a block races the blocked user agreeing to the blocker's request
/// (pair two). A block ignores pending requests either way; it does not
/// end a friendship made before it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_block_wins_over_a_request_or_agreement() {
    let Some(c) = Cluster::start().await else {
        return;
    };
    let mut f = Findings::new("block against friend request");
    let rounds = HashMap::new();
    for round in 0..ROUNDS {
        let u = c.users(4).await;
        let (blocker, asker) = (&u[0], &u[1]);
        let (blocker2, agreer) = (&u[2], &u[3]);
        let request =
            c.a.send_friend_request(
                blocker2,
                FriendRequestInput::parse(blocker2, agreer.id, None, None).unwrap(),
            )
            .await
            .unwrap();
        let (blocked, asked, blocked2, agreed) = tokio::join!(
            c.a.change_graph(blocker, asker.id, GraphChange::Block),
            c.b.send_friend_request(
                asker,
                FriendRequestInput::parse(asker, blocker.id, None, None).unwrap(),
            ),
            c.a.change_graph(blocker2, agreer.id, GraphChange::Block),
            c.b.answer_friend_request(
                agreer,
                request.id,
                FriendAnswer {
                    decision: Decision::Agree,
                    remark: None,
                },
            ),
        );

        // Pair one: the request is refused, or sent and then ignored by the block.
        let outcomes = format!(
            "block on node A: {}; request on node B: {}",
            said(&blocked, |_| "done".into()),
            said(&asked, |r| format!("request {} {:?}", r.id, r.status))
        );
        if blocked.is_err() {
            f.round(round, format!("pair one: the block failed; {outcomes}"));
        }
        if let Err(e) = &asked
            && !matches!(e, FriendError::Blocked)
        {
            f.round(
                round,
                format!("pair one: the request failed otherwise than Blocked; {outcomes}"),
            );
        }
        let requests = requests_between(&c.db, blocker.id, asker.id).await;
        if requests.iter().any(|(_, _, s)| s == "pending") {
            f.round(
                round,
                format!(
                    "pair one: a request is still pending after the block: {requests:?}; {outcomes}"
                ),
            );
        }
        let friends = friendship_rows(&c.db, blocker.id, asker.id).await;
        if friends != 0 {
            f.round(
                round,
                format!("pair one: blocked and {friends} friendship row(s); {outcomes}"),
            );
        }
        if let Some(gate) = direct_gate(&c.db, blocker.id, asker.id).await
            && gate & GATE_BLOCKED == 0
        {
            f.round(
                round,
                format!("pair one: the direct room's gate is {gate}, not blocked; {outcomes}"),
            );
        }

        // Pair two: agreed before the block (friends, then blocked) or ignored by it.
        let outcomes = format!(
            "block on node A: {}; agree on node B: {}",
            said(&blocked2, |_| "done".into()),
            said(&agreed, |_| "done".into())
        );
        if blocked2.is_err() {
            f.round(round, format!("pair two: the block failed; {outcomes}"));
        }
        let status: Option<String> =
            sqlx::query_scalar("SELECT status FROM friend_requests WHERE id = $1")
                .bind(request.id)
                .fetch_optional(&c.db)
                .await
                .unwrap();
        let friends = friendship_rows(&c.db, blocker2.id, agreer.id).await;
        // Both run under the pair's lock, so the end is one of the two
        // orders; the times they carry were read before their transactions
        // and cannot tell which came first.
        let consistent = match status.as_deref() {
            Some("agree") => agreed.is_ok() && friends == 2,
            Some("ignore") => matches!(agreed, Err(FriendError::AlreadyAnswered)) && friends == 0,
            _ => false,
        };
        if !consistent {
            f.round(
                round,
                format!(
                    "pair two: request {} is {status:?} with {friends} friendship row(s); {outcomes}",
                    request.id
                ),
            );
        }
        if let Some(gate) = direct_gate(&c.db, blocker2.id, agreer.id).await
            && gate & GATE_BLOCKED == 0
        {
            f.round(
                round,
                format!("pair two: the direct room's gate is {gate}, not blocked; {outcomes}"),
            );
        }
    }
    global_rules(&c.db, &rounds, &mut f).await;
    f.finish();
}

/// Case 6: one sender sends the same client id on both nodes (a retry that
/// reached the other node), while another member sends on both.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_client_id_is_stored_once_across_nodes() {
    let Some(c) = Cluster::start().await else {
        return;
    };
    let mut f = Findings::new("same client id on both nodes");
    let mut rounds = HashMap::new();
    for round in 0..ROUNDS {
        let u = c.users(2).await;
        let (sender, peer) = (&u[0], &u[1]);
        let room = group(&c.a, sender, &[peer], &[]).await;
        rounds.insert(room.0, round);
        let key = format!("twice-{round}");
        let (first, second, peer_a, peer_b) = tokio::join!(
            c.a.send(sender.id, text(room, &key, "via node A"), None),
            c.b.send(sender.id, text(room, &key, "via node B"), None),
            c.a.send(
                peer.id,
                text(room, &format!("pa-{round}"), "peer via A"),
                None
            ),
            c.b.send(
                peer.id,
                text(room, &format!("pb-{round}"), "peer via B"),
                None
            ),
        );
        let outcomes = format!(
            "node A: {}; node B: {}; the peer: {} and {}",
            sent(&first),
            sent(&second),
            sent(&peer_a),
            sent(&peer_b)
        );
        let messages = messages_of(&c.db, room).await;
        let keyed: Vec<String> = messages
            .iter()
            .filter(|m| m.sender_id == sender.id.0 && m.client_id.as_deref() == Some(&key))
            .map(ToString::to_string)
            .collect();
        if keyed.len() != 1 {
            f.round(
                round,
                format!(
                    "group {} holds {} messages with client id {key}: {}; {outcomes}",
                    room.0,
                    keyed.len(),
                    keyed.join("; ")
                ),
            );
        }
        match (&first, &second) {
            (Ok(Sent::Stored(m)), Ok(Sent::Duplicate(d)))
            | (Ok(Sent::Duplicate(d)), Ok(Sent::Stored(m)))
                if m.id == d.id => {}
            _ => f.round(
                round,
                format!("the two sends are not one stored and one duplicate of it; {outcomes}"),
            ),
        }
        if peer_a.is_err() || peer_b.is_err() {
            f.round(round, format!("a peer's send failed; {outcomes}"));
        }
        let seqs: Vec<i64> = messages.iter().map(|m| m.seq).collect();
        let expected: Vec<i64> = (1..=i64::try_from(seqs.len()).unwrap()).collect();
        if seqs != expected {
            f.round(
                round,
                format!("group {} has seqs {seqs:?}; {outcomes}", room.0),
            );
        }
    }
    global_rules(&c.db, &rounds, &mut f).await;
    f.finish();
}

/// Case 7: on node A a new user joins a group by its link while, on node B,
/// the owner revokes that link. A join locks the room before the invite, a
/// revocation the same; in opposite orders the two deadlocked.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_join_and_a_revocation_take_turns() {
    let Some(c) = Cluster::start().await else {
        return;
    };
    let mut f = Findings::new("join by link against revoking it");
    let mut rounds = HashMap::new();
    for round in 0..ROUNDS {
        let u = c.users(3).await;
        let (owner, member, joiner) = (&u[0], &u[1], &u[2]);
        let room = group(&c.a, owner, &[member], &[]).await;
        rounds.insert(room.0, round);
        let link =
            c.a.create_invite(owner, room, InviteInput::default())
                .await
                .unwrap();
        let (joined, revoked) = tokio::join!(
            c.a.join_invite(joiner, &link.token),
            c.b.revoke_invite(owner, room, link.invite.id),
        );
        let outcomes = format!(
            "join on node A: {}; revoke on node B: {}",
            said(&joined, |r| format!("joined room {}", r.room.id.0)),
            said(&revoked, |_| "done".into())
        );
        if let Err(e) = &joined
            && !matches!(e, InviteError::Revoked | InviteError::NotFound)
        {
            f.round(
                round,
                format!("the join failed otherwise than revoked: {}", chain(e)),
            );
        }
        if let Err(e) = &revoked {
            f.round(round, format!("the revocation failed: {}", chain(e)));
        }
        let member_now = members_of(&c.db, room)
            .await
            .iter()
            .any(|(user, _, _)| *user == joiner.id.0);
        if member_now != joined.is_ok() {
            f.round(
                round,
                format!(
                    "user {} is {}a member of group {}; {outcomes}",
                    joiner.id.0,
                    if member_now { "" } else { "not " },
                    room.0
                ),
            );
        }
        let (uses, revoked_at): (i64, Option<i64>) =
            sqlx::query_as("SELECT uses, revoked_at FROM invites WHERE id = $1")
                .bind(link.invite.id)
                .fetch_one(&c.db)
                .await
                .unwrap();
        let joins = i64::from(joined.is_ok());
        if uses != joins {
            f.round(
                round,
                format!(
                    "invite {} counts {uses} use(s) for {joins} join(s); {outcomes}",
                    link.invite.id
                ),
            );
        }
        if revoked.is_ok() && revoked_at.is_none() {
            f.round(
                round,
                format!(
                    "invite {} is not marked revoked; {outcomes}",
                    link.invite.id
                ),
            );
        }
        let notices = messages_of(&c.db, room)
            .await
            .iter()
            .filter(|m| {
                m.kind == "system"
                    && m.body
                        .as_deref()
                        .is_some_and(|b| b.ends_with("joined via an invite link"))
            })
            .count();
        if notices != usize::from(joined.is_ok()) {
            f.round(
                round,
                format!("group {} has {notices} join notice(s); {outcomes}", room.0),
            );
        }
    }
    global_rules(&c.db, &rounds, &mut f).await;
    f.finish();
}

/// Case 8: member X marks a group read on node A while member Y sends two
/// messages on node B. A read position and the group commit once locked the
/// counter and a member row in opposite orders, and deadlocked.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_and_sends_never_deadlock() {
    let Some(c) = Cluster::start().await else {
        return;
    };
    let mut f = Findings::new("read position against sends");
    let mut rounds = HashMap::new();
    for round in 0..ROUNDS {
        let u = c.users(3).await;
        let (owner, x, y) = (&u[0], &u[1], &u[2]);
        let room = group(&c.a, owner, &[x, y], &[]).await;
        rounds.insert(room.0, round);
        let mut last = 0;
        for (i, sender) in [owner, y, owner].into_iter().enumerate() {
            match c
                .a
                .send(
                    sender.id,
                    text(room, &format!("before-{round}-{i}"), "earlier"),
                    None,
                )
                .await
                .unwrap()
            {
                Sent::Stored(m) | Sent::Duplicate(m) => last = m.seq,
            }
        }
        let (read, first, second) = tokio::join!(
            c.a.mark_read(x.id, room, last, None),
            c.b.send(y.id, text(room, &format!("y1-{round}"), "one"), None),
            c.b.send(y.id, text(room, &format!("y2-{round}"), "two"), None),
        );
        let outcomes = format!(
            "read up to seq {last} on node A: {}; sends on node B: {} and {}",
            said(&read, |m| format!(
                "read_seq {} unread {}",
                m.read_seq, m.unread
            )),
            sent(&first),
            sent(&second)
        );
        if let Err(e) = &read {
            f.round(round, format!("the read failed: {}; {outcomes}", chain(e)));
        }
        for (which, r) in [("first", &first), ("second", &second)] {
            if let Err(e) = r {
                f.round(
                    round,
                    format!("the {which} send failed: {}; {outcomes}", chain(e)),
                );
            }
        }
        let read_seq: i64 = sqlx::query_scalar(
            "SELECT read_seq FROM room_members WHERE room_id = $1 AND user_id = $2",
        )
        .bind(room.0)
        .bind(x.id.0)
        .fetch_one(&c.db)
        .await
        .unwrap();
        if read_seq != last {
            f.round(
                round,
                format!(
                    "user {}'s read position in group {} is {read_seq}, not {last}; {outcomes}",
                    x.id.0, room.0
                ),
            );
        }
        let after = messages_of(&c.db, room)
            .await
            .iter()
            .filter(|m| m.seq > last)
            .count();
        if after != 2 {
            f.round(
                round,
                format!(
                    "group {} holds {after} message(s) after seq {last}, two were sent; {outcomes}",
                    room.0
                ),
            );
        }
    }
    global_rules(&c.db, &rounds, &mut f).await;
    f.finish();
}

/// A PNG of `width` × `height` pixels, different for each size.
fn png(width: u32, height: u32) -> Vec<u8> {
    let img = image::RgbImage::from_fn(width, height, |x, y| {
        image::Rgb([
            (x * 7 % 256) as u8,
            (y * 3 % 256) as u8,
            (width % 256) as u8,
        ])
    });
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Png).unwrap();
    out.into_inner()
}

/// Stores `n` images for `owner`, alternating between the nodes; their ids.
async fn images(a: &App, b: &App, owner: &User, n: usize, first: u32) -> Vec<FileId> {
    let mut ids = Vec::new();
    for i in 0..n as u32 {
        let node = if i % 2 == 0 { a } else { b };
        let body = futures_util::stream::iter([Ok(bytes::Bytes::from(png(40 + first + i, 30)))]);
        let file = node.store_file(owner, "cat.png", body).await.unwrap();
        ids.push(file.id);
    }
    ids
}

/// Counts the `file_updated` events a node's bus has delivered so far.
fn announced(sub: &mut Box<dyn roomy_bus::Subscription>, seen: &mut HashMap<FileId, usize>) {
    while let Some(event) = sub.recv().now_or_never() {
        count(event, seen);
    }
}

/// Case 9: each file job (a thumbnail here; a video's cover is the same
/// `derive` job) runs once, on whichever node claims it, while both nodes
/// run jobs on one database and one storage.
///
/// First the exact count: images are stored through both nodes with no
/// runner live, then every runner of both nodes (`JOB_WORKERS` each, the
/// same `run_due` loop the live ones run) starts at once and runs until
/// nothing is due. Joined, they have finished every run they began, so the
/// runs must add up to one per image, with one thumbnail object and one
/// `file_updated` event each. Then the live runners (woken by uploads on
/// either node, polling for the other's) take more images, each announced
/// once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_file_job_runs_once_with_two_nodes_running_jobs() {
    const IMAGES: usize = 24;
    let Some(url) = fresh_database_url().await else {
        return;
    };
    let shared = tempfile::tempdir().unwrap();
    let storage = shared.path().join("files");
    let (a, _dir_a) = node(&url, Some(&storage)).await;
    let (b, _dir_b) = node(&url, Some(&storage)).await;
    let db = PgPool::connect(&url).await.unwrap();
    let owner = a
        .store
        .create_user(
            NewUser {
                username: Username::parse("jobs_owner").unwrap(),
                nickname: Nickname::parse("jobs owner").unwrap(),
                password_hash: None,
                role: Role::User,
            },
            a.clock.now(),
        )
        .await
        .unwrap();
    let mut subs = [a.bus.subscribe(), b.bus.subscribe()];
    let ids = images(&a, &b, &owner, IMAGES, 0).await;

    let runners = [&a, &b].into_iter().flat_map(|node| {
        (0..JOB_WORKERS).map(move |_| {
            let node = node.clone();
            tokio::spawn(async move { node.run_due_jobs().await.unwrap() })
        })
    });
    let runners: Vec<_> = runners.collect();
    let mut runs = Vec::new();
    for r in runners {
        runs.push(r.await.unwrap());
    }
    let (on_a, on_b) = runs.split_at(JOB_WORKERS);
    eprintln!(
        "derive jobs run by node A's runners: {on_a:?}, by node B's: {on_b:?} ({IMAGES} images)"
    );
    assert_eq!(runs.iter().sum::<usize>(), IMAGES, "each job ran once");
    let mut seen = HashMap::new();
    for sub in &mut subs {
        announced(sub, &mut seen);
    }
    let thumbs = a
        .files
        .blob
        .list_under(&ObjectKey::parse("thumbs").unwrap())
        .await
        .unwrap();
    assert_eq!(thumbs.len(), IMAGES, "one thumbnail object per image");
    for id in &ids {
        assert_eq!(seen.get(id), Some(&1), "file {id} announced once");
        let file = b.store.file(*id).await.unwrap().unwrap();
        assert!(file.thumbnail.is_some(), "file {id} has its thumbnail");
    }
    let left: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM jobs WHERE kind = 'derive'")
        .fetch_one(&db)
        .await
        .unwrap();
    assert_eq!(left, 0, "no derive job left");

    // The live runners, on both nodes at once.
    let stop = tokio_util::sync::CancellationToken::new();
    a.start_background(None, stop.clone());
    b.start_background(None, stop.clone());
    let more = images(&a, &b, &owner, IMAGES, 100).await;
    let mut seen = HashMap::new();
    let [sub_a, sub_b] = &mut subs;
    let all_announced = async {
        while more.iter().any(|id| !seen.contains_key(id)) {
            tokio::select! {
                e = sub_a.recv() => count(e, &mut seen),
                e = sub_b.recv() => count(e, &mut seen),
            }
        }
    };
    tokio::time::timeout(std::time::Duration::from_secs(60), all_announced)
        .await
        .expect("the live runners made every thumbnail");
    stop.cancel();
    for id in &more {
        assert_eq!(seen.get(id), Some(&1), "file {id} announced once");
    }
}

/// Counts a received `file_updated` event.
fn count(
    event: Result<Arc<roomy_bus::Envelope>, roomy_bus::RecvError>,
    seen: &mut HashMap<FileId, usize>,
) {
    if let roomy_bus::Event::FileUpdated(file) = &event.unwrap().event {
        *seen.entry(file.id).or_default() += 1;
    }
}
