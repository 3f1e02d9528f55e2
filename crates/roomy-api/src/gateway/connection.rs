//! One WebSocket connection: authenticate, register with the hub, then a
//! reader (this task) and a writer (its own task) until either side ends.
//!
//! The reader pipelines sends: up to [`MAX_IN_FLIGHT`] `send` frames wait for
//! their commit at once. The `ack` of a newly stored message comes through
//! the hub, in line with the room's other messages; repeats and errors are
//! answered by the reader. Replies never wait: a client that does not read
//! is a slow consumer (resync and close).
//! The writer drains the outbound queue in batches and flushes once per batch,
//! so a burst of frames costs one write to the socket.
//!
//! Both loops work on any [`Sink`] and [`Stream`] of WebSocket messages
//! ([`run`]): the socket in production, channels in the unit tests. Each
//! client frame type has one handler (`on_send`, `on_sync`, ...), the one
//! place that maps it to the operation it asks for.

use super::{Socket, frames};
use crate::error::ErrorCode;
use crate::limits::Action;
use crate::{
    dto::{MessageView, SyncView},
    error::ApiError,
    guard::{Auth, authenticate},
    hub::{CloseReason, ConnHandle, Outbound},
    pagination::{DEFAULT_LIMIT, MAX_LIMIT},
    protocol::{self, ClientFrame, ServerFrame},
    state::AppState,
};
use futures_util::{Sink, SinkExt, Stream, StreamExt, stream::FuturesOrdered};
use roomy_app::{SendInput, Sent, SyncFrom, TypingError};
use roomy_bus::Origin;
use roomy_core::{MessageId, RoomId, config::Redacted};
use serde_json::Value;
use std::{
    future::Future,
    sync::Arc,
    time::{Duration, Instant},
};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::{
    Error as WsError, Message, Utf8Bytes,
    error::ProtocolError,
    protocol::{CloseFrame, frame::coding::CloseCode},
};

/// Sends of one connection awaiting their commit at once.
pub const MAX_IN_FLIGHT: usize = 64;
/// Time a client has to authenticate with its first frame.
const AUTH_TIMEOUT: Duration = Duration::from_secs(10);
/// Time a closing connection gets to take its last frames.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(30);
/// Frames written per flush.
const WRITE_BATCH: usize = 64;

/// Close codes (4000-4999 are for applications).
const CLOSE_RESYNC: u16 = 4000;
const CLOSE_UNAUTHENTICATED: u16 = 4401;
const CLOSE_TOO_MANY_CONNECTIONS: u16 = 4429;

fn text(frame: &ServerFrame) -> Message {
    Message::Text(frame.encode().into())
}

fn close(code: u16, reason: &'static str) -> Message {
    Message::Close(Some(CloseFrame {
        code: CloseCode::from(code),
        reason: Utf8Bytes::from_static(reason),
    }))
}

/// What a failed read means for the close: a protocol violation gets its
/// code (RFC 6455 §7.4.1); a connection that is simply gone gets nothing.
fn violation(e: &WsError) -> Option<CloseReason> {
    match e {
        WsError::Capacity(_) => Some(CloseReason::TooBig),
        WsError::Utf8(_) => Some(CloseReason::InvalidData),
        WsError::Protocol(ProtocolError::ResetWithoutClosingHandshake) => None,
        WsError::Protocol(_) | WsError::AttackAttempt => Some(CloseReason::ProtocolError),
        WsError::Io(e) if frames::is_deadline(e) => Some(CloseReason::Incomplete),
        _ => None,
    }
}

/// Serves an upgraded socket until it closes.
pub async fn serve(st: AppState, socket: Socket, token: Option<Redacted>) {
    let (sink, stream) = socket.split();
    run(st, sink, stream, token).await;
}

/// Serves one connection over `sink` (what the client receives) and
/// `stream` (what it sends) until either side ends; `token` is the one of
/// the upgrade's query, if any.
pub async fn run<S, R>(st: AppState, mut sink: S, mut stream: R, token: Option<Redacted>)
where
    S: Sink<Message> + Unpin + Send + 'static,
    R: Stream<Item = Result<Message, WsError>> + Unpin,
{
    let (auth, renewed) = match authenticate_socket(&st, &mut stream, token).await {
        Ok(a) => a,
        Err(Refused::Api(id, e)) => {
            let _ = sink.send(text(&ServerFrame::api_error(id, &e))).await;
            let _ = sink
                .send(close(CLOSE_UNAUTHENTICATED, "unauthenticated"))
                .await;
            return;
        }
        Err(Refused::Violation(reason)) => {
            if let Some((code, why)) = reason.violation() {
                let _ = sink.send(close(code, why)).await;
            }
            return;
        }
        Err(Refused::Gone) => {
            // Answers a client's close frame, if it sent one.
            let _ = sink.close().await;
            return;
        }
    };
    let max = st.settings.ws_max_connections_per_user;
    let Ok((handle, rx)) = st.hub.register(
        auth.user.id,
        auth.session.id,
        st.settings.ws_send_queue,
        max,
    ) else {
        let message = format!("at most {max} live connections per user");
        let e = ServerFrame::error(None, ErrorCode::TooManyConnections, message);
        let _ = sink.send(text(&e)).await;
        let _ = sink
            .send(close(CLOSE_TOO_MANY_CONNECTIONS, "too many connections"))
            .await;
        return;
    };
    // A logout processed between authenticating and registering found no
    // connection to close: look once more now that this one is registered.
    if session_expiry(&st, &auth).await.is_none() {
        let _ = sink.send(text(&session_ended())).await;
        let _ = sink
            .send(close(CLOSE_UNAUTHENTICATED, "session ended"))
            .await;
        st.hub.unregister(&handle);
        return;
    }
    // Registered before the position is read: anything committed after it
    // reaches this connection live; anything up to it, through sync.
    let since = match st.app.stream_position().await {
        Ok(p) => p.0,
        Err(e) => {
            let _ = sink
                .send(text(&ServerFrame::api_error(None, &e.into())))
                .await;
            st.hub.unregister(&handle);
            return;
        }
    };
    let ready = ServerFrame::ready(auth.user.clone().into(), since, renewed);
    if sink.send(text(&ready)).await.is_err() {
        st.hub.unregister(&handle);
        return;
    }
    let writer = tokio::spawn(write_loop(sink, rx, handle.clone(), since, st.clone()));
    let conn = Conn {
        st: &st,
        auth: &auth,
        handle: &handle,
        since,
    };
    read_loop(&conn, stream).await;
    handle.close_with(CloseReason::Normal);
    st.hub.unregister(&handle);
    let _ = writer.await;
}

fn session_ended() -> ServerFrame {
    ServerFrame::error(None, ErrorCode::SessionEnded, "this session has ended")
}

/// The expiry of the connection's session if it is still live (not
/// revoked, not expired, account enabled); renewals over HTTP move it.
async fn session_expiry(st: &AppState, auth: &Auth) -> Option<time::OffsetDateTime> {
    match st.app.live_session(auth.session.id, auth.user.id).await {
        Ok((session, _)) => Some(session.expires_at),
        // A database hiccup is not a reason to drop a live client.
        Err(roomy_app::AccountError::Store(_)) => Some(auth.session.expires_at),
        Err(_) => None,
    }
}

/// Why a connection did not get past authentication.
enum Refused {
    /// Refused with an `error` frame (and the request id when known).
    Api(Option<Value>, ApiError),
    /// The client broke the protocol before authenticating.
    Violation(CloseReason),
    /// The client closed or went away.
    Gone,
}

async fn authenticate_socket<R>(
    st: &AppState,
    stream: &mut R,
    token: Option<Redacted>,
) -> Result<(Auth, Option<String>), Refused>
where
    R: Stream<Item = Result<Message, WsError>> + Unpin,
{
    if let Some(token) = token {
        return authenticate(st, token.expose())
            .await
            .map_err(|e| Refused::Api(None, e));
    }
    let first = tokio::time::timeout(AUTH_TIMEOUT, stream.next())
        .await
        .map_err(|_| Refused::Api(None, auth_required("no auth frame in time")))?;
    let t = match first {
        Some(Ok(Message::Text(t))) => t,
        Some(Err(e)) => return Err(violation(&e).map_or(Refused::Gone, Refused::Violation)),
        Some(Ok(Message::Close(_))) | None => return Err(Refused::Gone),
        Some(Ok(_)) => {
            return Err(Refused::Api(
                None,
                auth_required("the first frame must be an auth frame"),
            ));
        }
    };
    match protocol::parse(&t) {
        Ok(ClientFrame::Auth { id, token }) => authenticate(st, token.expose())
            .await
            .map_err(|e| Refused::Api(id, e)),
        Ok(_) => Err(Refused::Api(
            None,
            auth_required("the first frame must be an auth frame"),
        )),
        Err(e) => Err(Refused::Api(
            e.id,
            ApiError::BadRequest {
                code: e.code,
                message: e.message,
            },
        )),
    }
}

fn auth_required(message: &'static str) -> ApiError {
    ApiError::Unauthenticated {
        code: ErrorCode::Unauthenticated,
        message,
    }
}

/// A finished send: `Ok(None)` when the hub delivers its `ack` (a newly
/// stored message), `Ok(Some(..))` for a repeat the connection acks itself.
type Reply = (Option<Value>, Result<Option<MessageView>, ApiError>);

/// One authenticated, registered connection, as the frame handlers see it.
struct Conn<'a> {
    st: &'a AppState,
    auth: &'a Auth,
    handle: &'a Arc<ConnHandle>,
    /// The `ready` position: sync stops there, live delivery starts after it.
    since: i64,
}

impl Conn<'_> {
    /// Where an event caused by the request `id` of this connection comes from.
    fn origin(&self, id: Option<&Value>) -> Origin {
        Origin {
            node: self.st.hub.node(),
            conn: self.handle.id,
            request: id.map(Value::to_string),
        }
    }

    /// Queues a reply; false when the connection is closing (or must resync).
    fn reply(&self, frame: &ServerFrame) -> bool {
        self.handle.reply(Outbound::Frame(frame.encode().into()))
    }
}

/// What handling one client frame gave.
enum Handled<F> {
    /// A reply to queue now (boxed: frames are large next to a pending send).
    Reply(Box<ServerFrame>),
    /// A send waiting for its commit, answered in order with the others.
    Pending(F),
    /// Nothing to answer (the answer, if any, comes through the hub).
    Silent,
}

impl<F> From<ServerFrame> for Handled<F> {
    fn from(reply: ServerFrame) -> Self {
        Handled::Reply(Box::new(reply))
    }
}

impl<F> From<Option<ServerFrame>> for Handled<F> {
    fn from(reply: Option<ServerFrame>) -> Self {
        reply.map_or(Handled::Silent, Handled::from)
    }
}

async fn read_loop<R>(cx: &Conn<'_>, mut stream: R)
where
    R: Stream<Item = Result<Message, WsError>> + Unpin,
{
    let (st, handle) = (cx.st, cx.handle);
    let mut in_flight = FuturesOrdered::new();
    let interval = st.settings.ws_heartbeat;
    let mut heartbeat = tokio::time::interval_at(tokio::time::Instant::now() + interval, interval);
    let mut last_seen = Instant::now();
    let mut expires_at = cx.auth.session.expires_at;
    loop {
        tokio::select! {
            _ = handle.close.cancelled() => break,
            _ = st.shutdown.cancelled() => break,
            Some((id, result)) = in_flight.next(), if !in_flight.is_empty() => {
                let (id, result): Reply = (id, result);
                let frame = match result {
                    Ok(None) => continue,
                    Ok(Some(message)) => ServerFrame::Ack { id, message },
                    Err(e) => ServerFrame::api_error(id, &e),
                };
                if !cx.reply(&frame) {
                    break;
                }
            }
            next = stream.next(), if in_flight.len() < MAX_IN_FLIGHT => {
                let text = match next {
                    Some(Ok(Message::Text(t))) => t,
                    Some(Ok(Message::Binary(_))) => {
                        last_seen = Instant::now();
                        let e = ServerFrame::error(None, ErrorCode::InvalidFrame, "frames are JSON text");
                        if !cx.reply(&e) {
                            break;
                        }
                        continue;
                    }
                    Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_))) => {
                        last_seen = Instant::now();
                        continue;
                    }
                    Some(Ok(Message::Close(_))) => {
                        handle.close_with(CloseReason::ClientClosed);
                        break;
                    }
                    Some(Err(e)) => {
                        if let Some(reason) = violation(&e) {
                            tracing::debug!(conn = handle.id, error = %e, "closing a connection that broke the protocol");
                            handle.close_with(reason);
                        }
                        break;
                    }
                    None => break,
                };
                last_seen = Instant::now();
                let handled = match protocol::parse(&text) {
                    Ok(frame) => dispatch(cx, frame).await,
                    Err(e) => ServerFrame::error(e.id, e.code, e.message).into(),
                };
                match handled {
                    Handled::Reply(frame) => {
                        if !cx.reply(&frame) {
                            break;
                        }
                    }
                    Handled::Pending(send) => in_flight.push_back(send),
                    Handled::Silent => {}
                }
            }
            _ = heartbeat.tick() => {
                if last_seen.elapsed() > interval * 2 {
                    tracing::debug!(conn = handle.id, "dropping a silent connection");
                    break;
                }
                // Revocations arrive as events; expiry is checked here, and
                // the store consulted only once the known expiry has passed.
                if st.app.clock.now() >= expires_at {
                    match session_expiry(st, cx.auth).await {
                        Some(e) => expires_at = e,
                        None => {
                            handle.close_with(CloseReason::SessionEnded);
                            break;
                        }
                    }
                }
                if !handle.reply(Outbound::Ping) {
                    break;
                }
            }
        }
    }
}

/// Hands a client frame to its handler.
async fn dispatch(
    cx: &Conn<'_>,
    frame: ClientFrame,
) -> Handled<impl Future<Output = Reply> + Send + 'static> {
    match frame {
        ClientFrame::Send {
            id,
            room_id,
            client_id,
            kind,
            body,
            file_id,
        } => Handled::Pending(on_send(cx, id, room_id, client_id, kind, body, file_id).await),
        ClientFrame::Sync { id, since, limit } => on_sync(cx, id, since, limit).await.into(),
        ClientFrame::Read { id, room_id, seq } => on_read(cx, id, room_id, seq).await.into(),
        ClientFrame::Typing { id, room_id } => on_typing(cx, id, room_id).await.into(),
        ClientFrame::Ping { id } => ServerFrame::Pong { id }.into(),
        ClientFrame::Auth { id, .. } => ServerFrame::error(
            id,
            ErrorCode::AlreadyAuthenticated,
            "this connection is authenticated",
        )
        .into(),
    }
}

/// `send`: validated and queued for the group commit here; the returned
/// future waits for the commit. A newly stored message is acked through the
/// hub, in line with the room's other messages; a repeated `client_id` is
/// answered with the original message.
async fn on_send(
    cx: &Conn<'_>,
    id: Option<Value>,
    room_id: i64,
    client_id: String,
    kind: String,
    body: Option<String>,
    file_id: Option<i64>,
) -> impl Future<Output = Reply> + Send + 'static {
    let st = cx.st;
    let me = cx.auth.user.id;
    let input = SendInput {
        room_id: RoomId(room_id),
        client_id,
        kind,
        body,
        file_id,
    };
    // Admission first, as over HTTP: a flood costs no validation.
    let pending = match st.limits.user(Action::Send, me, st.app.clock.now()) {
        Ok(()) => st
            .app
            .submit(me, input, Some(cx.origin(id.as_ref())))
            .await
            .map_err(ApiError::from),
        Err(e) => Err(e),
    };
    async move {
        let result = match pending {
            Ok(pending) => match pending.outcome().await {
                // Acked through the hub, in line with the room's other messages.
                Ok(Sent::Stored(_)) => Ok(None),
                Ok(Sent::Duplicate(m)) => Ok(Some(MessageView::from(m))),
                Err(e) => Err(e.into()),
            },
            Err(e) => Err(e),
        };
        (id, result)
    }
}

/// `read`: a position that moved comes back through the hub, as the `read`
/// event of all this user's devices, with the request id on this
/// connection's copy; one that did not is answered here.
async fn on_read(cx: &Conn<'_>, id: Option<Value>, room_id: i64, seq: i64) -> Option<ServerFrame> {
    let me = cx.auth.user.id;
    let origin = Some(cx.origin(id.as_ref()));
    match cx.st.app.mark_read(me, RoomId(room_id), seq, origin).await {
        Ok(mark) if mark.events.is_empty() => Some(ServerFrame::Read {
            id,
            room_id: RoomId(room_id),
            user_id: me,
            seq: mark.read_seq,
        }),
        Ok(_) => None,
        Err(e) => Some(ServerFrame::api_error(id, &e.into())),
    }
}

/// `typing`: forwarded without a reply, or refused.
async fn on_typing(cx: &Conn<'_>, id: Option<Value>, room_id: i64) -> Option<ServerFrame> {
    match cx.st.app.typing(cx.auth.user.id, RoomId(room_id)).await {
        Ok(()) => None,
        Err(TypingError::Limited) => Some(ServerFrame::error(
            id,
            ErrorCode::RateLimited,
            "one typing frame per room every 2 seconds",
        )),
        Err(e) => Some(ServerFrame::api_error(id, &e.into())),
    }
}

/// `sync`: what the user missed, up to the connection's `ready` position.
async fn on_sync(
    cx: &Conn<'_>,
    id: Option<Value>,
    from: Option<i64>,
    limit: Option<u32>,
) -> ServerFrame {
    let st = cx.st;
    let limit = limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) || from.is_some_and(|f| f < 0) {
        return ServerFrame::error(
            id,
            ErrorCode::ValidationFailed,
            "since must be >= 0 and limit between 1 and 200",
        );
    }
    let me = cx.auth.user.id;
    if let Err(e) = st
        .limits
        .user(crate::limits::Action::Sync, me, st.app.clock.now())
    {
        return ServerFrame::api_error(id, &e);
    }
    // Up to the ready position only: later messages arrive live.
    let from = SyncFrom {
        since: MessageId(from.unwrap_or(0)),
        upto: Some(MessageId(cx.since)),
        limit,
    };
    match st.app.sync(me, from).await {
        Ok(batch) => ServerFrame::Sync {
            id,
            sync: SyncView::from(batch),
        },
        Err(e) => ServerFrame::api_error(id, &e.into()),
    }
}

async fn write_loop<S>(
    mut sink: S,
    mut rx: mpsc::Receiver<Outbound>,
    handle: Arc<ConnHandle>,
    since: i64,
    st: AppState,
) where
    S: Sink<Message> + Unpin,
{
    let mut batch = Vec::with_capacity(WRITE_BATCH);
    loop {
        tokio::select! {
            biased;
            _ = handle.close.cancelled() => break,
            _ = st.shutdown.cancelled() => {
                handle.close_with(CloseReason::Normal);
                break;
            }
            n = rx.recv_many(&mut batch, WRITE_BATCH) => {
                if n == 0 {
                    break;
                }
                let write = async {
                    for out in batch.drain(..) {
                        let msg = match out {
                            Outbound::Frame(f) => Message::Text(f),
                            Outbound::Message { position, frame } if position > since => {
                                Message::Text(frame)
                            }
                            Outbound::Message { .. } => continue,
                            Outbound::Ping => Message::Ping(Default::default()),
                        };
                        sink.feed(msg).await?;
                    }
                    sink.flush().await
                };
                // A client that stops reading blocks the write: the hub then
                // marks it for resync, which must still end this task.
                let written = tokio::select! {
                    r = write => r.is_ok(),
                    _ = handle.close.cancelled() => true,
                };
                if !written {
                    handle.close_with(CloseReason::Normal);
                    return;
                }
            }
        }
    }
    let farewell = async {
        match handle.reason() {
            CloseReason::Resync => {
                st.metrics.ws_resyncs.inc();
                sink.send(text(&ServerFrame::Resync)).await?;
                sink.send(close(CLOSE_RESYNC, "resync")).await
            }
            CloseReason::SessionEnded => {
                sink.send(text(&session_ended())).await?;
                sink.send(close(CLOSE_UNAUTHENTICATED, "session ended"))
                    .await
            }
            CloseReason::AccountDisabled => {
                let e = ServerFrame::error(
                    None,
                    ErrorCode::AccountDisabled,
                    "this account has been disabled",
                );
                sink.send(text(&e)).await?;
                sink.send(close(CLOSE_UNAUTHENTICATED, "account disabled"))
                    .await
            }
            // The library has queued the answer to the client's close frame.
            CloseReason::ClientClosed => sink.close().await,
            reason => match reason.violation() {
                Some((code, why)) => sink.send(close(code, why)).await,
                None => sink.send(close(1001, "closing")).await,
            },
        }
    };
    let _ = tokio::time::timeout(CLOSE_TIMEOUT, farewell).await;
}

#[cfg(test)]
mod tests {
    //! The connection loop driven through channels: no socket, the same
    //! state the server runs with (SQLite in a temporary folder).

    use super::*;
    use crate::ApiSettings;
    use roomy_bus::InProcessBus;
    use roomy_core::{
        Role, SystemClock, UserId,
        chat_fields::RoomName,
        config::SqliteSynchronous,
        user_fields::{Nickname, Username},
    };
    use roomy_store::{NewGroup, NewSession, NewUser};
    use roomy_store_sqlite::{SqliteOptions, SqliteStore};
    use serde_json::{Value, json};
    use tokio_util::sync::CancellationToken;

    /// A generous bound on any one wait, so a broken loop fails instead of hanging.
    const PATIENCE: Duration = Duration::from_secs(10);

    async fn state(ws_send_queue: usize) -> (AppState, tempfile::TempDir) {
        let dir = tempfile::tempdir().expect("tempdir");
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("g.db").display());
        let store = SqliteStore::connect(
            &url,
            SqliteOptions {
                synchronous: SqliteSynchronous::Normal,
                max_connections: 2,
            },
        )
        .await
        .expect("sqlite");
        let config = roomy_core::Config::default();
        let settings = ApiSettings {
            ws_send_queue,
            ..ApiSettings::from(&config)
        };
        let files = roomy_app::Files::new(
            roomy_blob::Blob::open(&roomy_blob::BlobConfig::Fs {
                root: dir.path().join("files"),
            })
            .expect("blob"),
            roomy_app::FileSettings {
                upload_dir: dir.path().join("uploads"),
                ..roomy_app::FileSettings::from(&config)
            },
        )
        .expect("files");
        let app = roomy_app::App::start(
            Arc::new(store),
            Arc::new(InProcessBus::new(1024)),
            Arc::new(roomy_cache::InProcessCache::new(10_000)),
            Arc::new(SystemClock),
            roomy_app::AppSettings::from(&config),
            files,
        );
        let st = AppState::start(app, &[7u8; 32], settings, CancellationToken::new());
        (st, dir)
    }

    /// A user with a live session: its id and access token.
    async fn user(st: &AppState, name: &str) -> (UserId, String) {
        let now = st.app.clock.now();
        let user = st
            .app
            .store
            .create_user(
                NewUser {
                    username: Username::parse(name).expect("username"),
                    nickname: Nickname::parse(name).expect("nickname"),
                    password_hash: None,
                    role: Role::User,
                },
                now,
            )
            .await
            .expect("user");
        let session = st
            .app
            .store
            .create_session(NewSession {
                user_id: user.id,
                now,
                expires_at: now + st.tokens.ttl(),
                user_agent: None,
                ip: None,
            })
            .await
            .expect("session");
        (
            user.id,
            st.tokens
                .issue(user.id, session.id, now)
                .token
                .expose()
                .to_owned(),
        )
    }

    /// A group with `owner` as its only member.
    async fn group(st: &AppState, owner: UserId) -> i64 {
        let created = st
            .app
            .store
            .create_group(
                NewGroup {
                    owner,
                    name: RoomName::parse("the group").expect("name"),
                    members: vec![],
                    notice: "created".into(),
                    policy: Default::default(),
                },
                st.app.clock.now(),
            )
            .await
            .expect("group");
        created.room.id.0
    }

    /// The client's end of a connection served over channels.
    struct Client {
        to_server: mpsc::UnboundedSender<Result<Message, WsError>>,
        from_server: mpsc::Receiver<Message>,
        served: tokio::task::JoinHandle<()>,
    }

    impl Client {
        /// Connects; the server may write `room` frames ahead of the client's reads.
        fn connect(st: &AppState, token: Option<&str>, room: usize) -> Client {
            let (to_server, inbox) = mpsc::unbounded_channel();
            let (outbox, from_server) = mpsc::channel(room);
            let stream = futures_util::stream::unfold(inbox, |mut rx| async move {
                rx.recv().await.map(|m| (m, rx))
            });
            let sink = futures_util::sink::unfold(outbox, |tx, m: Message| async move {
                tx.send(m).await.map(|()| tx)
            });
            let served = tokio::spawn(run(
                st.clone(),
                Box::pin(sink),
                Box::pin(stream),
                token.map(Redacted::new),
            ));
            Client {
                to_server,
                from_server,
                served,
            }
        }

        fn send(&self, frame: Value) {
            self.to_server
                .send(Ok(Message::Text(frame.to_string().into())))
                .expect("the connection reads");
        }

        async fn message(&mut self) -> Message {
            tokio::time::timeout(PATIENCE, self.from_server.recv())
                .await
                .expect("a frame in time")
                .expect("the connection writes")
        }

        async fn next(&mut self) -> Value {
            match self.message().await {
                Message::Text(t) => serde_json::from_str(&t).expect("JSON"),
                other => panic!("expected a text frame, got {other:?}"),
            }
        }

        /// Connects with an `auth` frame and reads `ready`.
        async fn ready(st: &AppState, token: &str) -> Client {
            let mut c = Client::connect(st, None, 256);
            c.send(json!({"type": "auth", "id": "hello", "token": token}));
            let ready = c.next().await;
            assert_eq!(ready["type"], "ready", "{ready}");
            c
        }
    }

    fn send_frame(id: Value, room: i64, client_id: &str) -> Value {
        json!({"type": "send", "id": id, "room_id": room, "client_id": client_id,
               "kind": "text", "body": "hi"})
    }

    #[tokio::test]
    async fn acks_come_back_in_order() {
        let (st, _dir) = state(1024).await;
        let (me, token) = user(&st, "alice_01").await;
        let room = group(&st, me).await;
        let mut c = Client::ready(&st, &token).await;
        for i in 0..20 {
            c.send(send_frame(json!(i), room, &format!("c{i}")));
        }
        let mut last_seq = 0;
        for i in 0..20 {
            let ack = c.next().await;
            assert_eq!(
                (&ack["type"], &ack["id"]),
                (&json!("ack"), &json!(i)),
                "{ack}"
            );
            let seq = ack["message"]["seq"].as_i64().expect("seq");
            assert!(seq > last_seq, "seqs increase: {seq} after {last_seq}");
            last_seq = seq;
        }
    }

    #[tokio::test]
    async fn a_repeated_client_id_stores_nothing_and_gets_the_original() {
        let (st, _dir) = state(1024).await;
        let (me, token) = user(&st, "alice_01").await;
        let room = group(&st, me).await;
        let mut c = Client::ready(&st, &token).await;
        c.send(send_frame(json!(1), room, "once"));
        let first = c.next().await;
        assert_eq!((&first["type"], &first["id"]), (&json!("ack"), &json!(1)));
        c.send(send_frame(json!(2), room, "once"));
        let again = c.next().await;
        assert_eq!((&again["type"], &again["id"]), (&json!("ack"), &json!(2)));
        assert_eq!(again["message"], first["message"], "the original message");
        // Nothing new was stored: the next message takes the very next seq.
        c.send(send_frame(json!(3), room, "other"));
        let next = c.next().await;
        assert_eq!(
            next["message"]["seq"].as_i64(),
            first["message"]["seq"].as_i64().map(|s| s + 1),
            "{next}"
        );
    }

    #[tokio::test]
    async fn errors_carry_the_request_id() {
        let (st, _dir) = state(1024).await;
        let (me, token) = user(&st, "alice_01").await;
        let room = group(&st, me).await;
        let mut c = Client::ready(&st, &token).await;
        let cases = [
            (
                send_frame(json!("e1"), 999_999, "x"),
                "room_not_found",
                json!("e1"),
            ),
            (
                json!({"type": "send", "id": "e2", "room_id": "x"}),
                "invalid_frame",
                json!("e2"),
            ),
            (
                json!({"type": "sync", "id": 3, "limit": 0}),
                "validation_failed",
                json!(3),
            ),
            (
                json!({"type": "typing", "id": "t", "room_id": 999_999}),
                "room_not_found",
                json!("t"),
            ),
            (
                json!({"type": "read", "id": 5, "room_id": room, "seq": -1}),
                "validation_failed",
                json!(5),
            ),
            (
                json!({"type": "auth", "id": 6, "token": token}),
                "already_authenticated",
                json!(6),
            ),
            (json!({"type": "dance", "id": 7}), "unknown_type", json!(7)),
        ];
        for (frame, code, id) in cases {
            c.send(frame.clone());
            let e = c.next().await;
            assert_eq!(
                (&e["type"], &e["error"]["code"], &e["id"]),
                (&json!("error"), &json!(code), &id),
                "{frame}: {e}"
            );
        }
        // A refused authentication carries the auth frame's id too.
        let mut refused = Client::connect(&st, None, 16);
        refused.send(json!({"type": "auth", "id": "who", "token": "not-a-token"}));
        let e = refused.next().await;
        assert_eq!(
            (&e["type"], &e["id"]),
            (&json!("error"), &json!("who")),
            "{e}"
        );
        match refused.message().await {
            Message::Close(Some(f)) => assert_eq!(u16::from(f.code), CLOSE_UNAUTHENTICATED),
            other => panic!("expected a close, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn a_connection_whose_queue_overflows_is_told_to_resync() {
        let (st, _dir) = state(4).await;
        let (me, token) = user(&st, "alice_01").await;
        // The client takes one frame and then reads nothing until it has
        // sent far more pings than the queue and the writer's batch hold.
        let mut c = Client::connect(&st, Some(&token), 1);
        assert_eq!(c.next().await["type"], "ready");
        for i in 0..(WRITE_BATCH * 4) {
            c.send(json!({"type": "ping", "id": i}));
        }
        let mut pongs = 0;
        loop {
            let f = c.next().await;
            match f["type"].as_str() {
                Some("pong") => pongs += 1,
                Some("resync") => break,
                _ => panic!("unexpected frame {f}"),
            }
        }
        assert!(
            pongs < WRITE_BATCH * 4,
            "the reader stopped at the overflow"
        );
        match c.message().await {
            Message::Close(Some(f)) => assert_eq!(u16::from(f.code), CLOSE_RESYNC),
            other => panic!("expected a close, got {other:?}"),
        }
        tokio::time::timeout(PATIENCE, c.served)
            .await
            .expect("the connection ends")
            .expect("no panic");
        assert_eq!(st.hub.connections(me), 0, "unregistered");
    }
}
