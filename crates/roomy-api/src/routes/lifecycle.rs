//! A message's life after sending: read positions, revocation,
//! delete-for-me, and the sent/received lists (seed 003).
//!
//! Everything here that other devices must learn is written as a per-user
//! event or a room notice at a stream position, so sync returns it to
//! devices that were offline.

use super::messages::room_not_found;
use crate::error::ErrorCode;
use crate::{
    auth::Auth,
    dto::{DeleteRequest, DeletedView, MessageListQuery, MessageView, ReadRequest, ReadView},
    error::{ApiError, ErrorBody},
    extract::{Json, Path, Query},
    pagination::{Page, PageParams, page_of},
    state::AppState,
};
use axum::{extract::State, http::StatusCode};
use roomy_bus::{Envelope, Event, Origin};
use roomy_core::{MessageId, RoomId, UserId, chat_fields::MessageKind, clock::to_millis};
use roomy_store::{
    Message, MessageFilter, MessageList, Notice, ReadMark, Revocation, Revoker, Store, StoreError,
};

/// Most ids one batch delete takes.
pub const MAX_DELETE_BATCH: usize = 500;

/// 404 for a message that does not exist or that the caller cannot see.
pub(crate) fn message_not_found() -> ApiError {
    ApiError::not_found(ErrorCode::MessageNotFound, "no such message among yours")
}

/// Publishes per-user events, each to its user. `origin` (a WebSocket
/// request) is only ever one of the caller's connections, so only the
/// caller's own event can come back to it with the request id.
pub(crate) fn publish_notices(st: &AppState, notices: Vec<Notice>, origin: Option<Origin>) {
    for notice in notices {
        st.app.bus.publish(Envelope {
            recipients: vec![notice.user],
            event: Event::Notice(notice),
            origin: origin.clone(),
        });
    }
}

/// Moves the caller's read position (HTTP and the WebSocket `read` frame).
pub(crate) async fn mark_read(
    st: &AppState,
    me: UserId,
    room: i64,
    seq: i64,
    origin: Option<Origin>,
) -> Result<ReadMark, ApiError> {
    if seq < 0 {
        return Err(ApiError::field("seq", "must not be negative"));
    }
    let mark = st
        .app
        .store
        .mark_read(RoomId(room), me, seq, st.app.clock.now())
        .await
        .map_err(|e| match e {
            StoreError::NotFound => room_not_found(),
            other => other.into(),
        })?;
    publish_notices(st, mark.events.clone(), origin);
    Ok(mark)
}

/// Mark a room read up to a seq; my other devices and (direct rooms, unless
/// I hide read positions) the other member get a `read` event.
#[utoipa::path(post, path = "/api/v1/rooms/{id}/read", tag = "messages", security(("bearer" = [])),
    params(("id" = i64, Path, description = "room id")),
    request_body = ReadRequest,
    responses((status = 200, body = ReadView), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn read(
    State(st): State<AppState>,
    auth: Auth,
    Path(room): Path<i64>,
    Json(req): Json<ReadRequest>,
) -> Result<axum::Json<ReadView>, ApiError> {
    let mark = mark_read(&st, auth.user.id, room, req.seq, None).await?;
    Ok(axum::Json(ReadView {
        room_id: mark.room_id,
        read_seq: mark.read_seq,
        unread: mark.unread,
    }))
}

/// The message if `me` is a member of its room now.
async fn my_message(store: &dyn Store, me: UserId, id: i64) -> Result<Message, ApiError> {
    let message = store
        .message(MessageId(id))
        .await?
        .ok_or_else(message_not_found)?;
    if store.member_role(message.room_id, me).await?.is_none() {
        return Err(message_not_found());
    }
    Ok(message)
}

/// The envelopes announcing a revocation (none when it was revoked already).
pub(crate) fn revocation_envelopes(r: &Revocation, by_admin: bool) -> Vec<Envelope> {
    match &r.notice {
        Some(notice) => vec![Envelope {
            recipients: r.recipients.clone(),
            event: Event::Revoked {
                message: r.message.clone(),
                notice: notice.clone(),
                by_admin,
            },
            origin: None,
        }],
        None => Vec::new(),
    }
}

/// Revoke my message for everyone, within the revoke window after sending
/// (judged by the server's clock). Every member gets `revoked` and a notice
/// "<name> revoked a message". Revoking again returns the message as it is.
#[utoipa::path(post, path = "/api/v1/messages/{id}/revoke", tag = "messages", security(("bearer" = [])),
    params(("id" = i64, Path, description = "message id")),
    responses(
        (status = 200, description = "the message, revoked", body = MessageView),
        (status = 403, description = "not your message, or a system notice", body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, description = "`revoke_window_passed`", body = ErrorBody),
    ))]
pub async fn revoke(
    State(st): State<AppState>,
    auth: Auth,
    Path(id): Path<i64>,
) -> Result<axum::Json<MessageView>, ApiError> {
    let me = auth.user.id;
    let user = auth.user;
    let window = st.app.settings.revoke_window;
    let now = st.app.clock.now();
    // On the writer task: the notice takes its seq in line with the room's
    // messages, and `revoked` is published in commit order.
    let revoked = st
        .app
        .writer
        .exclusive(move |store| async move {
            let result = async {
                let message = my_message(&*store, me, id).await?;
                if message.sender.id != me {
                    return Err(ApiError::forbidden(
                        ErrorCode::NotYourMessage,
                        "only the sender may revoke a message",
                    ));
                }
                if message.kind == MessageKind::System {
                    return Err(ApiError::forbidden(
                        ErrorCode::CannotRevokeNotice,
                        "system notices cannot be revoked",
                    ));
                }
                if message.revoked {
                    return Ok(Revocation {
                        message,
                        notice: None,
                        recipients: Vec::new(),
                    });
                }
                // Sending times are stored in milliseconds: judge at that precision.
                let elapsed = to_millis(now) - to_millis(message.created_at);
                if elapsed > window.whole_milliseconds() as i64 {
                    return Err(ApiError::conflict(
                        ErrorCode::RevokeWindowPassed,
                        format!(
                            "messages can be revoked for {} seconds after sending",
                            window.whole_seconds()
                        ),
                    ));
                }
                let member = store
                    .member(message.room_id, me)
                    .await?
                    .ok_or_else(message_not_found)?;
                let text = format!("{} revoked a message", display_name(&member, &user));
                Ok(store
                    .revoke_message(message.id, Revoker::Sender, text, now)
                    .await?)
            }
            .await;
            let envelopes = match &result {
                Ok(r) => revocation_envelopes(r, false),
                Err(_) => Vec::new(),
            };
            (result, envelopes)
        })
        .await??;
    Ok(axum::Json(revoked.message.into()))
}

/// Seed 002's rule: group nickname, else nickname, else username.
fn display_name(member: &roomy_store::Member, user: &roomy_store::User) -> String {
    let name = member.display_name();
    if name.trim().is_empty() {
        user.username.clone()
    } else {
        name.to_owned()
    }
}

/// Hides messages from the caller's view; all or nothing.
async fn hide(st: &AppState, me: UserId, ids: Vec<MessageId>) -> Result<(), ApiError> {
    match st
        .app
        .store
        .hide_messages(me, &ids, st.app.clock.now())
        .await?
    {
        Ok(event) => {
            publish_notices(st, event.into_iter().collect(), None);
            Ok(())
        }
        Err(_) if ids.len() == 1 => Err(message_not_found()),
        Err(missing) => Err(ApiError::field(
            "ids",
            format!(
                "not messages of yours: {}",
                missing
                    .iter()
                    .map(|m| m.0.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        )),
    }
}

/// Delete a message for me: it disappears from my history, sync, lists and
/// favorites on all my devices; nobody else sees a change.
#[utoipa::path(delete, path = "/api/v1/messages/{id}", tag = "messages", security(("bearer" = [])),
    params(("id" = i64, Path, description = "message id")),
    responses((status = 204), (status = 404, body = ErrorBody)))]
pub async fn delete_for_me(
    State(st): State<AppState>,
    auth: Auth,
    Path(id): Path<i64>,
) -> Result<StatusCode, ApiError> {
    hide(&st, auth.user.id, vec![MessageId(id)]).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Delete up to 500 messages for me at once: all of them, or (when one is
/// not mine to see) none.
#[utoipa::path(post, path = "/api/v1/messages/delete", tag = "messages", security(("bearer" = [])),
    request_body = DeleteRequest,
    responses((status = 200, body = DeletedView), (status = 422, body = ErrorBody)))]
pub async fn delete_batch(
    State(st): State<AppState>,
    auth: Auth,
    Json(req): Json<DeleteRequest>,
) -> Result<axum::Json<DeletedView>, ApiError> {
    let mut ids = req.ids;
    ids.sort_unstable();
    ids.dedup();
    if ids.is_empty() || ids.len() > MAX_DELETE_BATCH {
        return Err(ApiError::field(
            "ids",
            format!("give 1 to {MAX_DELETE_BATCH} message ids"),
        ));
    }
    let ids: Vec<MessageId> = ids.into_iter().map(MessageId).collect();
    hide(&st, auth.user.id, ids.clone()).await?;
    Ok(axum::Json(DeletedView { deleted: ids }))
}

/// Parses the shared filters of the sent and received lists.
fn list_filter(q: &MessageListQuery) -> Result<(MessageFilter, u32), ApiError> {
    let page = PageParams {
        limit: q.limit,
        cursor: q.cursor.clone(),
    };
    let limit = page.limit()?;
    let kind = match q.kind.as_deref() {
        None => None,
        Some(k) => match MessageKind::parse(k) {
            Some(MessageKind::System) | None => {
                return Err(ApiError::field(
                    "kind",
                    "must be text, image, file or video",
                ));
            }
            Some(k) => Some(k),
        },
    };
    Ok((
        MessageFilter {
            room: q.room_id.map(RoomId),
            kind,
            unread: q.unread,
            before: page.after()?.map(MessageId),
        },
        limit,
    ))
}

async fn list(
    st: &AppState,
    me: UserId,
    which: MessageList,
    q: &MessageListQuery,
) -> Result<axum::Json<Page<MessageView>>, ApiError> {
    let (filter, limit) = list_filter(q)?;
    let rows = st
        .app
        .store
        .user_messages(me, which, filter, limit + 1)
        .await?;
    Ok(axum::Json(page_of(rows, limit, |m| m.id.0, Into::into)))
}

/// Messages I sent (seed 003 `messages/sendeds`), newest first, in rooms I
/// am in, without those I deleted for myself.
#[utoipa::path(get, path = "/api/v1/messages/sent", tag = "messages", security(("bearer" = [])),
    params(MessageListQuery),
    responses((status = 200, body = Page<MessageView>), (status = 422, body = ErrorBody)))]
pub async fn sent(
    State(st): State<AppState>,
    auth: Auth,
    Query(q): Query<MessageListQuery>,
) -> Result<axum::Json<Page<MessageView>>, ApiError> {
    list(&st, auth.user.id, MessageList::Sent, &q).await
}

/// Messages others sent in my rooms (seed 003 `messages/recevies`), newest
/// first, without system notices and those I deleted for myself.
#[utoipa::path(get, path = "/api/v1/messages/received", tag = "messages", security(("bearer" = [])),
    params(MessageListQuery),
    responses((status = 200, body = Page<MessageView>), (status = 422, body = ErrorBody)))]
pub async fn received(
    State(st): State<AppState>,
    auth: Auth,
    Query(q): Query<MessageListQuery>,
) -> Result<axum::Json<Page<MessageView>>, ApiError> {
    list(&st, auth.user.id, MessageList::Received, &q).await
}
