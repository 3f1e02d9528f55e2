//! Test harness: `TestApp::spawn` starts a server on 127.0.0.1:0 over a fresh
//! database with a manual clock, and offers small request helpers.

#![allow(dead_code)]

use reqwest::{Method, header::HeaderMap};
use roomy_api::AppState;
use roomy_core::{Config, ManualClock, Role, config::SqliteSynchronous};
use roomy_store::NewUser;
use serde_json::{Value, json};
use std::{net::SocketAddr, sync::Arc};
use tokio_util::sync::CancellationToken;

/// Which database a test runs on.
#[derive(Debug, Clone, Copy)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Generates one test per backend for each listed `async fn(TestApp)`;
/// `with <closure>;` first adjusts every server's configuration.
#[macro_export]
macro_rules! backend_tests {
    (with $adjust:expr; $($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test]
                async fn $name() {
                    if let Some(app) = $crate::harness::TestApp::spawn_with($crate::harness::Backend::Sqlite, $adjust).await {
                        super::$name(app).await;
                    }
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test]
                async fn $name() {
                    if let Some(app) = $crate::harness::TestApp::spawn_with($crate::harness::Backend::Postgres, $adjust).await {
                        super::$name(app).await;
                    }
                }
            )*
        }
    };
    ($($name:ident),* $(,)?) => {
        $crate::backend_tests!(with |_| {}; $($name),*);
    };
}

/// As [`backend_tests!`], and each test once more with the follow-graph
/// cache in Redis (`ROOMY_TEST_REDIS_URL`): modules `redis_sqlite` and `redis_postgres`.
#[macro_export]
macro_rules! cache_backend_tests {
    ($($name:ident),* $(,)?) => {
        $crate::backend_tests!($($name),*);
        mod redis_sqlite {
            $(
                #[tokio::test]
                async fn $name() {
                    if let Some(app) = $crate::harness::TestApp::spawn_with_redis($crate::harness::Backend::Sqlite).await {
                        super::$name(app).await;
                    }
                }
            )*
        }
        mod redis_postgres {
            $(
                #[tokio::test]
                async fn $name() {
                    if let Some(app) = $crate::harness::TestApp::spawn_with_redis($crate::harness::Backend::Postgres).await {
                        super::$name(app).await;
                    }
                }
            )*
        }
    };
}

/// Makes `c` a node that may join others on a network bus: a shared
/// token secret, files declared shared, and a bus channel no other test uses.
pub fn cluster_node(c: &mut Config) {
    c.jwt_secret = Some(roomy_core::config::Redacted::new(
        "test-cluster-secret-0123456789abcdef",
    ));
    c.shared_files = true;
    c.bus_channel = format!("roomy-test-{:016x}", rand::random::<u64>());
}

/// A running server.
pub struct TestApp {
    pub addr: SocketAddr,
    pub clock: ManualClock,
    pub state: AppState,
    pub config: Config,
    client: reqwest::Client,
    shutdown: CancellationToken,
    _dir: tempfile::TempDir,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// A response with a binary body.
#[derive(Debug)]
pub struct RawResp {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl RawResp {
    /// A header's value as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The body as an error, asserting status and code.
    pub fn assert_error(&self, status: u16, code: &str) {
        let text = String::from_utf8_lossy(&self.body);
        assert_eq!(self.status, status, "body: {text}");
        let v: Value = serde_json::from_slice(&self.body).unwrap_or(Value::Null);
        assert_eq!(v["error"]["code"], code, "body: {text}");
    }

    /// The body as JSON.
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| panic!("not JSON ({e})"))
    }
}

/// A response, read whole.
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: HeaderMap,
    pub text: String,
}

impl Resp {
    /// The body as JSON (Null when empty).
    pub fn json(&self) -> Value {
        if self.text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&self.text)
                .unwrap_or_else(|e| panic!("body is not JSON ({e}): {}", self.text))
        }
    }

    /// The error code of an error body.
    pub fn code(&self) -> String {
        self.json()["error"]["code"]
            .as_str()
            .unwrap_or_else(|| panic!("not an error body: {}", self.text))
            .to_owned()
    }

    /// Asserts the status and the error code, and that the body has the error shape.
    pub fn assert_error(&self, status: u16, code: &str) {
        assert_eq!(self.status, status, "body: {}", self.text);
        assert_eq!(self.code(), code, "body: {}", self.text);
        assert!(self.json()["error"]["message"].is_string());
    }

    /// The token of a renewed `Authorization` response header, if any.
    pub fn renewed_token(&self) -> Option<String> {
        self.headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::to_owned)
    }
}

/// A logged-in user.
#[derive(Debug, Clone)]
pub struct Login {
    pub id: i64,
    pub token: String,
    pub session_id: i64,
}

pub const PASSWORD: &str = "correct-horse-battery";

impl TestApp {
    /// Starts a server with default settings; `None` when the backend is not available.
    pub async fn spawn(backend: Backend) -> Option<TestApp> {
        Self::spawn_with(backend, |_| {}).await
    }

    /// Starts a server whose follow-graph cache is the Redis at
    /// `ROOMY_TEST_REDIS_URL`; `None` (skipped, unless services are
    /// required) when that is unset. Each test's fresh database has its own
    /// instance id, so tests never share cache keys. On SQLite that is all
    /// (the bus stays in-process); on PostgreSQL Redis is the bus too, so the
    /// node is configured as one of a cluster, on a bus channel of its own.
    pub async fn spawn_with_redis(backend: Backend) -> Option<TestApp> {
        let Ok(url) = std::env::var("ROOMY_TEST_REDIS_URL") else {
            assert!(
                std::env::var("ROOMY_TEST_REQUIRE_SERVICES").as_deref() != Ok("1"),
                "ROOMY_TEST_REDIS_URL is unset but services are required"
            );
            eprintln!("skipped: Redis cache suite (ROOMY_TEST_REDIS_URL unset)");
            return None;
        };
        Self::spawn_with(backend, |c| {
            c.redis_url = Some(roomy_core::config::Redacted::new(url));
            if let Backend::Postgres = backend {
                cluster_node(c);
            }
        })
        .await
    }

    /// Starts a server after letting `adjust` change its configuration.
    pub async fn spawn_with(backend: Backend, adjust: impl FnOnce(&mut Config)) -> Option<TestApp> {
        let dir = tempfile::tempdir().expect("tempdir");
        let database_url = match backend {
            Backend::Sqlite => None,
            Backend::Postgres => Some(
                roomy_store_postgres::testing::fresh_database_url()
                    .await
                    .map(roomy_core::config::Redacted::new)?,
            ),
        };
        let mut config = Config {
            listen: "127.0.0.1:0".parse().expect("addr"),
            data_dir: dir.path().to_path_buf(),
            database_url,
            sqlite_synchronous: SqliteSynchronous::Normal,
            db_max_connections: 4,
            // Tests register many users from 127.0.0.1, and some flood a
            // room on purpose (slow consumers); the limit tests set their own.
            registrations_per_hour: 0,
            guests_per_hour: 0,
            sends_per_sec: 0,
            ..Config::default()
        };
        adjust(&mut config);
        let clock = ManualClock::new();
        let shutdown = CancellationToken::new();
        let state = roomy_server::build_state(&config, Arc::new(clock.clone()), shutdown.clone())
            .await
            .expect("build state");
        let listener = tokio::net::TcpListener::bind(config.listen)
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let metrics = match config.metrics_listen {
            Some(a) => Some(
                tokio::net::TcpListener::bind(a)
                    .await
                    .expect("bind metrics"),
            ),
            None => None,
        };
        if let Some(m) = &metrics {
            config.metrics_listen = Some(m.local_addr().expect("metrics addr"));
        }
        tokio::spawn(roomy_server::run(
            listener,
            metrics,
            state.clone(),
            roomy_server::http::Limits::from_config(&config),
            roomy_server::admission(&config),
            shutdown.clone(),
        ));
        Some(TestApp {
            addr,
            clock,
            state,
            config,
            client: reqwest::Client::new(),
            shutdown,
            _dir: dir,
        })
    }

    /// Stops the server as its shutdown signal would: it stops accepting,
    /// closes its connections and ends its background tasks.
    pub fn stop(&self) {
        self.shutdown.cancel();
    }

    /// `http://addr` + path.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// Sends a request with an optional bearer token and JSON body.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Resp {
        let mut req = self.client.request(method, self.url(path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.expect("request");
        Resp {
            status: resp.status().as_u16(),
            headers: resp.headers().clone(),
            text: resp.text().await.expect("body"),
        }
    }

    /// Creates group `name` owned by `owner` with `members`, asserting
    /// success; its id. A group takes only the owner's friends (under the
    /// default `friends` policy), so the owner first befriends each member
    /// it is not friends with yet ([`TestApp::befriend_ids`]).
    pub async fn group(&self, owner: &Login, name: &str, members: &[i64]) -> i64 {
        self.befriend_ids(owner, members).await;
        let r = self
            .post(
                "/api/v1/rooms",
                Some(&owner.token),
                serde_json::json!({"name": name, "member_ids": members}),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.text);
        r.json()["id"].as_i64().expect("group id")
    }

    /// A request to build by hand (custom headers, raw bodies).
    pub fn request(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
    ) -> reqwest::RequestBuilder {
        let req = self.client.request(method, self.url(path));
        match token {
            Some(t) => req.bearer_auth(t),
            None => req,
        }
    }

    /// Sends a hand-built request; the body kept as bytes.
    pub async fn send_raw(&self, req: reqwest::RequestBuilder) -> RawResp {
        let resp = req.send().await.expect("request");
        RawResp {
            status: resp.status().as_u16(),
            headers: resp.headers().clone(),
            body: resp.bytes().await.expect("body").to_vec(),
        }
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> Resp {
        self.call(Method::GET, path, token, None).await
    }

    pub async fn post(&self, path: &str, token: Option<&str>, body: Value) -> Resp {
        self.call(Method::POST, path, token, Some(body)).await
    }

    pub async fn put(&self, path: &str, token: Option<&str>) -> Resp {
        self.call(Method::PUT, path, token, None).await
    }

    pub async fn patch(&self, path: &str, token: Option<&str>, body: Value) -> Resp {
        self.call(Method::PATCH, path, token, Some(body)).await
    }

    pub async fn delete(&self, path: &str, token: Option<&str>) -> Resp {
        self.call(Method::DELETE, path, token, None).await
    }

    /// Registers `username` with [`PASSWORD`] and returns the user JSON.
    pub async fn register(&self, username: &str) -> Value {
        let r = self
            .post(
                "/api/v1/auth/register",
                None,
                json!({"username": username, "password": PASSWORD}),
            )
            .await;
        assert_eq!(r.status, 201, "register {username}: {}", r.text);
        r.json()["user"].clone()
    }

    /// Logs in, asserting success.
    pub async fn login(&self, username: &str, password: &str) -> Login {
        let r = self
            .post(
                "/api/v1/auth/login",
                None,
                json!({"username": username, "password": password}),
            )
            .await;
        assert_eq!(r.status, 200, "login {username}: {}", r.text);
        let b = r.json();
        Login {
            id: b["user"]["id"].as_i64().expect("id"),
            token: b["token"].as_str().expect("token").to_owned(),
            session_id: b["session_id"].as_i64().expect("session id"),
        }
    }

    /// Registers and logs in.
    pub async fn user(&self, username: &str) -> Login {
        self.register(username).await;
        self.login(username, PASSWORD).await
    }

    /// The direct room of `a` and `b` (opened by `a`), befriending them first
    /// unless they are friends already.
    pub async fn direct(&self, a: &Login, b: &Login) -> i64 {
        let facts = self
            .state
            .app
            .store
            .pair_facts(roomy_core::UserId(a.id), roomy_core::UserId(b.id))
            .await
            .expect("facts");
        if !facts.friend {
            self.befriend(a, b).await;
        }
        self.post(
            "/api/v1/rooms/direct",
            Some(&a.token),
            json!({"user_id": b.id}),
        )
        .await
        .json()["id"]
            .as_i64()
            .expect("room id")
    }

    /// Makes `a` friends with each of `ids` it is not friends with yet,
    /// through the store as an agreed request would (friendship rows, the
    /// direct room and its notice), but quietly: nothing is published, so a
    /// test watching live frames sees only what it is about.
    pub async fn befriend_ids(&self, a: &Login, ids: &[i64]) {
        use roomy_core::UserId;
        use roomy_store::{Decision, NewFriendRequest};
        let store = &self.state.app.store;
        let me = UserId(a.id);
        for id in ids {
            let other = UserId(*id);
            if other == me || store.pair_facts(me, other).await.expect("facts").friend {
                continue;
            }
            let now = self.state.app.clock.now();
            let notice = "You are friends now".to_owned();
            let request = NewFriendRequest {
                from: me,
                to: other,
                note: None,
                remark: None,
            };
            let sent = store
                .send_friend_request(request, notice.clone(), now)
                .await
                .expect("friend request");
            if sent.message.is_none() {
                store
                    .answer_friend_request(
                        sent.request.id,
                        other,
                        Decision::Agree,
                        None,
                        notice,
                        now,
                    )
                    .await
                    .expect("agree");
            }
        }
    }

    /// Makes `a` and `b` friends the way users do: `a` asks, `b` agrees.
    /// Their direct room then exists, with the "friends now" notice at seq 1.
    pub async fn befriend(&self, a: &Login, b: &Login) {
        let sent = self
            .post(
                "/api/v1/friend-requests",
                Some(&a.token),
                json!({"user_id": b.id}),
            )
            .await;
        assert_eq!(sent.status, 201, "{}", sent.text);
        let id = sent.json()["id"].as_i64().expect("request id");
        let answered = self
            .post(
                &format!("/api/v1/friend-requests/{id}/answer"),
                Some(&b.token),
                json!({"decision": "agree"}),
            )
            .await;
        assert_eq!(answered.status, 200, "{}", answered.text);
    }

    /// Runs raw SQL on this server's database (failure injection only).
    pub async fn sql(&self, statements: &str) {
        use sqlx::Connection;
        let url = self.config.effective_database_url();
        if url.starts_with("postgres") {
            let mut conn = sqlx::PgConnection::connect(&url).await.expect("connect");
            sqlx::raw_sql(sqlx::AssertSqlSafe(statements.to_owned()))
                .execute(&mut conn)
                .await
                .expect("sql");
        } else {
            let mut conn = sqlx::SqliteConnection::connect(&url)
                .await
                .expect("connect");
            sqlx::raw_sql(sqlx::AssertSqlSafe(statements.to_owned()))
                .execute(&mut conn)
                .await
                .expect("sql");
        }
    }

    /// Is the app running on PostgreSQL?
    pub fn on_postgres(&self) -> bool {
        self.config.effective_database_url().starts_with("postgres")
    }

    /// Creates an administrator directly in the store (as `roomy admin create-user` does) and logs in.
    pub async fn admin(&self, username: &str) -> Login {
        let hash = self
            .state
            .app
            .passwords
            .hash(&roomy_core::user_fields::Password::parse(PASSWORD).expect("pw"))
            .await
            .expect("hash");
        self.state
            .app
            .store
            .create_user(
                NewUser {
                    username: roomy_core::user_fields::Username::parse(username).expect("name"),
                    nickname: roomy_core::user_fields::Nickname::parse(username).expect("nick"),
                    password_hash: Some(hash),
                    role: Role::Admin,
                },
                time::OffsetDateTime::now_utc(),
            )
            .await
            .expect("create admin");
        self.login(username, PASSWORD).await
    }
}

/// A WebSocket client speaking the protocol.
pub struct Ws {
    inner: tokio_tungstenite::WebSocketStream<
        tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
    >,
    /// Whether `presence` frames are returned (see [`Ws::with_presence`]).
    presence: bool,
}

/// How long a test waits for a frame before failing (a guard against hangs,
/// not a delay: frames normally arrive in microseconds).
const FRAME_DEADLINE: std::time::Duration = std::time::Duration::from_secs(15);

impl TestApp {
    /// Connects with `?token=` and returns the client and its `ready` frame.
    pub async fn ws(&self, token: &str) -> (Ws, Value) {
        let (inner, _) =
            tokio_tungstenite::connect_async(format!("ws://{}/api/v1/ws?token={token}", self.addr))
                .await
                .expect("websocket connect");
        let mut ws = Ws {
            inner,
            presence: false,
        };
        let ready = ws.next().await;
        assert_eq!(ready["type"], "ready", "{ready}");
        (ws, ready)
    }

    /// Connects without a token.
    pub async fn ws_anonymous(&self) -> Ws {
        let (inner, _) = tokio_tungstenite::connect_async(format!("ws://{}/api/v1/ws", self.addr))
            .await
            .expect("websocket connect");
        Ws {
            inner,
            presence: false,
        }
    }

    /// Waits until the server has seen `user` with exactly `n` live
    /// connections (say, after a client dropped one).
    pub async fn wait_connections(&self, user: i64, n: usize) {
        tokio::time::timeout(
            FRAME_DEADLINE,
            self.state.hub.wait_connections(roomy_core::UserId(user), n),
        )
        .await
        .unwrap_or_else(|_| panic!("user {user} never had {n} connections"));
    }

    /// Whether the server counts `user` as online.
    pub fn is_online(&self, user: i64) -> bool {
        self.state.hub.is_online(roomy_core::UserId(user))
    }
}

impl Ws {
    /// Sends a JSON frame.
    pub async fn send(&mut self, v: Value) {
        use futures_util::SinkExt;
        self.inner
            .send(tokio_tungstenite::tungstenite::Message::Text(
                v.to_string().into(),
            ))
            .await
            .expect("send frame");
    }

    /// Sends raw text.
    pub async fn send_raw(&mut self, text: &str) {
        use futures_util::SinkExt;
        self.inner
            .send(tokio_tungstenite::tungstenite::Message::Text(
                text.to_owned().into(),
            ))
            .await
            .expect("send frame");
    }

    /// Sends a raw WebSocket message.
    pub async fn send_message(&mut self, m: tokio_tungstenite::tungstenite::Message) {
        use futures_util::SinkExt;
        self.inner.send(m).await.expect("send frame");
    }

    /// Makes this client see `presence` frames. Others skip them: they come
    /// and go with every connection of anyone sharing a room, so tests of
    /// anything else would race with them.
    pub fn with_presence(mut self) -> Ws {
        self.presence = true;
        self
    }

    /// The next JSON frame (control frames, and `presence` frames unless
    /// [`Ws::with_presence`], skipped); `Null` once closed.
    pub async fn next(&mut self) -> Value {
        self.next_within(FRAME_DEADLINE)
            .await
            .expect("a frame within the deadline")
    }

    /// As [`Ws::next`], for what is due only after a known delay (a
    /// presence lease running out): `None` when nothing came within `wait`.
    pub async fn next_within(&mut self, wait: std::time::Duration) -> Option<Value> {
        use futures_util::StreamExt;
        use tokio_tungstenite::tungstenite::Message;
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let next = tokio::time::timeout_at(deadline, self.inner.next())
                .await
                .ok()?;
            match next {
                Some(Ok(Message::Text(t))) => {
                    let frame: Value = serde_json::from_str(&t).expect("JSON frame");
                    if frame["type"] == "presence" && !self.presence {
                        continue;
                    }
                    return Some(frame);
                }
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return Some(Value::Null),
                Some(Ok(_)) => continue,
            }
        }
    }

    /// Frames until one of type `kind` arrives, and the others before it, in order.
    pub async fn until(&mut self, kind: &str) -> (Value, Vec<Value>) {
        let mut before = Vec::new();
        loop {
            let f = self.next().await;
            assert!(!f.is_null(), "connection closed waiting for {kind}");
            if f["type"] == kind {
                return (f, before);
            }
            before.push(f);
        }
    }

    /// Sends a ping and asserts the very next frame is its pong: proof that
    /// nothing else was queued for this connection before it.
    pub async fn assert_quiet(&mut self) {
        let id = rand::random::<u32>();
        self.send(json!({"type": "ping", "id": id})).await;
        let f = self.next().await;
        assert_eq!(
            f["type"], "pong",
            "expected nothing before the pong, got {f}"
        );
        assert_eq!(f["id"], id);
    }

    /// Sends a text message and returns its ack.
    pub async fn send_text(&mut self, id: &str, room: i64, client_id: &str, body: &str) -> Value {
        self.send(
            json!({"type": "send", "id": id, "room_id": room, "client_id": client_id,
                         "kind": "text", "body": body}),
        )
        .await;
        let f = self.next().await;
        assert_eq!(f["type"], "ack", "{f}");
        assert_eq!(f["id"], id);
        f
    }
}

impl Ws {
    /// Wraps a stream connected by hand.
    pub fn from_stream(
        inner: tokio_tungstenite::WebSocketStream<
            tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
        >,
    ) -> Ws {
        Ws {
            inner,
            presence: false,
        }
    }
}

impl TestApp {
    /// Runs a query on this server's database and returns its first column,
    /// which must be text (for checks of what is stored, never of behaviour).
    pub async fn sql_strings(&self, query: &str) -> Vec<String> {
        use sqlx::Connection;
        let url = self.config.effective_database_url();
        let query = sqlx::AssertSqlSafe(query.to_owned());
        if url.starts_with("postgres") {
            let mut conn = sqlx::PgConnection::connect(&url).await.expect("connect");
            sqlx::query_scalar(query)
                .fetch_all(&mut conn)
                .await
                .expect("sql")
        } else {
            let mut conn = sqlx::SqliteConnection::connect(&url)
                .await
                .expect("connect");
            sqlx::query_scalar(query)
                .fetch_all(&mut conn)
                .await
                .expect("sql")
        }
    }
}
