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

use super::{
    Socket, frames,
    hub::{CloseReason, ConnHandle, Outbound},
    protocol::{self, ClientFrame},
};
use crate::error::ErrorCode;
use crate::{
    auth::{Auth, guard::authenticate},
    dto::{MessageView, SyncView},
    error::ApiError,
    pagination::{DEFAULT_LIMIT, MAX_LIMIT},
    routes::{
        lifecycle::mark_read,
        messages::{outcome_message, parse_send, room_not_found},
    },
    state::AppState,
};
use futures_util::{
    SinkExt, StreamExt,
    stream::{FuturesOrdered, SplitSink, SplitStream},
};
use roomy_bus::{Envelope, Event, Origin};
use roomy_core::{MessageId, RoomId, UserId};
use roomy_store::{AppendOutcome, StoreError};
use serde_json::Value;
use std::{
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

type Sink = SplitSink<Socket, Message>;
type Stream = SplitStream<Socket>;

fn text(s: String) -> Message {
    Message::Text(s.into())
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
pub async fn serve(st: AppState, socket: Socket, token: Option<String>) {
    let (mut sink, mut stream) = socket.split();
    let (auth, renewed) = match authenticate_socket(&st, &mut stream, token).await {
        Ok(a) => a,
        Err(Refused::Api(id, e)) => {
            let _ = sink.send(text(protocol::api_error(id, &e))).await;
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
        let e = protocol::error(None, ErrorCode::TooManyConnections, &message);
        let _ = sink.send(text(e)).await;
        let _ = sink
            .send(close(CLOSE_TOO_MANY_CONNECTIONS, "too many connections"))
            .await;
        return;
    };
    // A logout processed between authenticating and registering found no
    // connection to close: look once more now that this one is registered.
    if session_expiry(&st, &auth).await.is_none() {
        let e = protocol::error(None, ErrorCode::SessionEnded, "this session has ended");
        let _ = sink.send(text(e)).await;
        let _ = sink
            .send(close(CLOSE_UNAUTHENTICATED, "session ended"))
            .await;
        st.hub.unregister(&handle);
        return;
    }
    // Registered before the position is read: anything committed after it
    // reaches this connection live; anything up to it, through sync.
    let since = match st.app.store.stream_position().await {
        Ok(p) => p.0,
        Err(e) => {
            let _ = sink.send(text(protocol::api_error(None, &e.into()))).await;
            st.hub.unregister(&handle);
            return;
        }
    };
    let ready = protocol::ready(auth.user.clone().into(), since, renewed);
    if sink.send(text(ready)).await.is_err() {
        st.hub.unregister(&handle);
        return;
    }
    let writer = tokio::spawn(write_loop(sink, rx, handle.clone(), since, st.clone()));
    read_loop(&st, stream, &handle, &auth, since).await;
    handle.close_with(CloseReason::Normal);
    st.hub.unregister(&handle);
    let _ = writer.await;
}

/// The expiry of the connection's session if it is still live (not
/// revoked, not expired, account enabled); renewals over HTTP move it.
async fn session_expiry(st: &AppState, auth: &Auth) -> Option<time::OffsetDateTime> {
    match st.app.store.session_with_user(auth.session.id).await {
        Ok(Some((session, user))) if !user.disabled && session.is_active(st.app.clock.now()) => {
            Some(session.expires_at)
        }
        Ok(_) => None,
        // A database hiccup is not a reason to drop a live client.
        Err(_) => Some(auth.session.expires_at),
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

async fn authenticate_socket(
    st: &AppState,
    stream: &mut Stream,
    token: Option<String>,
) -> Result<(Auth, Option<String>), Refused> {
    if let Some(token) = token {
        return authenticate(st, &token)
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
        Ok(ClientFrame::Auth { id, token }) => authenticate(st, &token)
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

async fn read_loop(
    st: &AppState,
    mut stream: Stream,
    handle: &Arc<ConnHandle>,
    auth: &Auth,
    since: i64,
) {
    let origin = Origin {
        node: st.hub.node(),
        conn: handle.id,
        request: None,
    };
    let mut in_flight = FuturesOrdered::new();
    let interval = st.settings.ws_heartbeat;
    let mut heartbeat = tokio::time::interval_at(tokio::time::Instant::now() + interval, interval);
    let mut last_seen = Instant::now();
    let mut expires_at = auth.session.expires_at;
    loop {
        tokio::select! {
            _ = handle.close.cancelled() => break,
            _ = st.shutdown.cancelled() => break,
            Some((id, result)) = in_flight.next(), if !in_flight.is_empty() => {
                let (id, result): Reply = (id, result);
                let frame = match result {
                    Ok(None) => continue,
                    Ok(Some(message)) => protocol::ack(id, message),
                    Err(e) => protocol::api_error(id, &e),
                };
                if !handle.reply(Outbound::Frame(frame.into())) {
                    break;
                }
            }
            next = stream.next(), if in_flight.len() < MAX_IN_FLIGHT => {
                let text = match next {
                    Some(Ok(Message::Text(t))) => t,
                    Some(Ok(Message::Binary(_))) => {
                        last_seen = Instant::now();
                        let e = protocol::error(None, ErrorCode::InvalidFrame, "frames are JSON text");
                        if !handle.reply(Outbound::Frame(e.into())) {
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
                match protocol::parse(&text) {
                    Err(e) => {
                        let frame = protocol::error(e.id, e.code, &e.message);
                        if !handle.reply(Outbound::Frame(frame.into())) {
                            break;
                        }
                    }
                    Ok(ClientFrame::Read { id, room_id, seq }) => {
                        // A position that moved comes back through the hub, as
                        // the `read` event of all this user's devices, with the
                        // request id on this connection's copy.
                        let origin = Origin {
                            request: id.as_ref().map(Value::to_string),
                            ..origin.clone()
                        };
                        let frame = match mark_read(st, auth.user.id, room_id, seq, Some(origin)).await {
                            Ok(mark) if mark.events.is_empty() => Some(protocol::read_unchanged(
                                id, room_id, auth.user.id.0, mark.read_seq,
                            )),
                            Ok(_) => None,
                            Err(e) => Some(protocol::api_error(id, &e)),
                        };
                        if let Some(frame) = frame
                            && !handle.reply(Outbound::Frame(frame.into()))
                        {
                            break;
                        }
                    }
                    Ok(ClientFrame::Typing { id, room_id }) => {
                        if let Err(e) = typing(st, auth.user.id, RoomId(room_id)).await {
                            let frame = match e {
                                Typing::Limited => protocol::error(
                                    id,
                                    ErrorCode::RateLimited,
                                    "one typing frame per room every 2 seconds",
                                ),
                                Typing::Failed(e) => protocol::api_error(id, &e),
                            };
                            if !handle.reply(Outbound::Frame(frame.into())) {
                                break;
                            }
                        }
                    }
                    Ok(ClientFrame::Send { id, room_id, client_id, kind, body, file_id }) => {
                        let new = parse_send(st, auth.user.id, room_id, &client_id, &kind, body.as_deref(), file_id).await;
                        let origin = Origin {
                            request: id.as_ref().map(Value::to_string),
                            ..origin.clone()
                        };
                        let pending = match new {
                            Ok(new) => st.app.writer.submit(new, Some(origin)).await.map_err(ApiError::from),
                            Err(e) => Err(e),
                        };
                        in_flight.push_back(async move {
                            let result = match pending {
                                Ok(rx) => match rx.await {
                                    Ok(Ok(AppendOutcome::Stored { .. })) => Ok(None),
                                    Ok(outcome) => outcome
                                        .map_err(ApiError::from)
                                        .and_then(outcome_message)
                                        .map(|m| Some(MessageView::from(m))),
                                    Err(_) => Err(roomy_app::WriteError::Stopped.into()),
                                },
                                Err(e) => Err(e),
                            };
                            (id, result)
                        });
                    }
                    Ok(frame) => {
                        let reply = answer(st, auth, since, frame).await;
                        if !handle.reply(Outbound::Frame(reply.into())) {
                            break;
                        }
                    }
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
                    match session_expiry(st, auth).await {
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

/// Why a `typing` frame was not forwarded.
enum Typing {
    /// The user's previous one in the room was forwarded less than a window ago.
    Limited,
    /// Not a member of the room, or the store failed.
    Failed(ApiError),
}

/// Forwards `user`'s typing in `room` to the room's other members (all
/// their devices, on every node), within the limit of [`TypingLimiter`].
///
/// [`TypingLimiter`]: super::typing::TypingLimiter
async fn typing(st: &AppState, user: UserId, room: RoomId) -> Result<(), Typing> {
    let now = st.app.clock.now();
    // The limit is judged before the store is read, so a flood costs no queries.
    if !st.typing.try_take(user, room, now) {
        return Err(Typing::Limited);
    }
    let members = match member_ids(st, room).await {
        Ok(m) if m.contains(&user) => m,
        other => {
            st.typing.give_back(user, room, now);
            return Err(Typing::Failed(match other {
                Err(e) => e.into(),
                Ok(_) => room_not_found(),
            }));
        }
    };
    let recipients: Vec<UserId> = members.into_iter().filter(|m| *m != user).collect();
    if !recipients.is_empty() {
        st.app.bus.publish(Envelope {
            recipients,
            event: Event::Typing { room, user },
            origin: None,
        });
    }
    Ok(())
}

/// Every member of `room`: one query for any room within `max_group_members`
/// (pages of that size; a room can only outgrow it if the limit was lowered).
async fn member_ids(st: &AppState, room: RoomId) -> Result<Vec<UserId>, StoreError> {
    let page = u32::try_from(st.app.settings.max_group_members.max(2)).unwrap_or(u32::MAX);
    let mut ids = Vec::new();
    let mut after = None;
    loop {
        let members = st.app.store.members(room, after, page).await?;
        let full = members.len() >= page as usize;
        ids.extend(members.into_iter().map(|m| m.user.id));
        if !full {
            return Ok(ids);
        }
        after = ids.last().copied();
    }
}

/// Answers the frames that need no commit.
async fn answer(st: &AppState, auth: &Auth, since: i64, frame: ClientFrame) -> String {
    match frame {
        ClientFrame::Ping { id } => protocol::pong(id),
        ClientFrame::Auth { id, .. } => protocol::error(
            id,
            ErrorCode::AlreadyAuthenticated,
            "this connection is authenticated",
        ),
        ClientFrame::Sync {
            id,
            since: from,
            limit,
        } => {
            let limit = limit.unwrap_or(DEFAULT_LIMIT);
            if !(1..=MAX_LIMIT).contains(&limit) || from.is_some_and(|f| f < 0) {
                return protocol::error(
                    id,
                    ErrorCode::ValidationFailed,
                    "since must be >= 0 and limit between 1 and 200",
                );
            }
            if let Err(e) = st.limits.user(
                crate::limits::Action::Sync,
                auth.user.id,
                st.app.clock.now(),
            ) {
                return protocol::api_error(id, &e);
            }
            // Up to the ready position only: later messages arrive live.
            match st
                .app
                .store
                .sync(
                    auth.user.id,
                    MessageId(from.unwrap_or(0)),
                    Some(MessageId(since)),
                    limit,
                )
                .await
            {
                Ok(batch) => protocol::sync(id, SyncView::from(batch)),
                Err(e) => protocol::api_error(id, &e.into()),
            }
        }
        ClientFrame::Send { id, .. }
        | ClientFrame::Typing { id, .. }
        | ClientFrame::Read { id, .. } => {
            protocol::error(id, ErrorCode::Internal, "handled by the reader")
        }
    }
}

async fn write_loop(
    mut sink: Sink,
    mut rx: mpsc::Receiver<Outbound>,
    handle: Arc<ConnHandle>,
    since: i64,
    st: AppState,
) {
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
                sink.send(text(protocol::resync())).await?;
                sink.send(close(CLOSE_RESYNC, "resync")).await
            }
            CloseReason::SessionEnded => {
                let e = protocol::error(None, ErrorCode::SessionEnded, "this session has ended");
                sink.send(text(e)).await?;
                sink.send(close(CLOSE_UNAUTHENTICATED, "session ended"))
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
