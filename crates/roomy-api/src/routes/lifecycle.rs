//! A message's life after sending, over HTTP: read positions, revocation,
//! delete-for-me, and the sent/received lists. The rules and
//! events are `roomy_app`'s; this maps requests and answers.

use crate::{
    dto::{DeleteRequest, DeletedView, MessageListQuery, MessageView, ReadRequest, ReadView},
    error::{ApiError, ErrorBody},
    extract::{Json, Path, Query},
    guard::Auth,
    pagination::{Page, PageParams, page_of},
    state::AppState,
};
use axum::{extract::State, http::StatusCode};
use roomy_app::ListFilter;
use roomy_core::{MessageId, RoomId, UserId};

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
    let mark = st
        .app
        .mark_read(auth.user.id, RoomId(room), req.seq, None)
        .await?;
    Ok(axum::Json(ReadView {
        room_id: mark.room_id,
        read_seq: mark.read_seq,
        unread: mark.unread,
    }))
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
    let message = st.app.revoke(&auth.user, MessageId(id)).await?;
    Ok(axum::Json(message.into()))
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
    st.app.delete_for_me(auth.user.id, MessageId(id)).await?;
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
    let ids = req.ids.into_iter().map(MessageId).collect();
    let deleted = st.app.delete_batch(auth.user.id, ids).await?;
    Ok(axum::Json(DeletedView { deleted }))
}

/// Which of my messages a list shows.
#[derive(Clone, Copy)]
enum Which {
    Sent,
    Received,
}

/// A page of the sent or received list; paging is checked before the
/// filters, and the cursor after them.
async fn list(
    st: &AppState,
    me: UserId,
    which: Which,
    q: MessageListQuery,
) -> Result<axum::Json<Page<MessageView>>, ApiError> {
    let page = PageParams {
        limit: q.limit,
        cursor: q.cursor,
    };
    let limit = page.limit()?;
    let filter = ListFilter::parse(q.room_id, q.kind.as_deref(), q.unread)?;
    let before = page.after()?.map(MessageId);
    // One more than a page: the extra row only says there is more.
    let rows = match which {
        Which::Sent => st.app.sent(me, filter, before, limit + 1).await?,
        Which::Received => st.app.received(me, filter, before, limit + 1).await?,
    };
    Ok(axum::Json(page_of(rows, limit, |m| m.id.0, Into::into)))
}

/// Messages I sent, newest first, in rooms I
/// am in, without those I deleted for myself.
#[utoipa::path(get, path = "/api/v1/messages/sent", tag = "messages", security(("bearer" = [])),
    params(MessageListQuery),
    responses((status = 200, body = Page<MessageView>), (status = 422, body = ErrorBody)))]
pub async fn sent(
    State(st): State<AppState>,
    auth: Auth,
    Query(q): Query<MessageListQuery>,
) -> Result<axum::Json<Page<MessageView>>, ApiError> {
    list(&st, auth.user.id, Which::Sent, q).await
}

/// Messages others sent in my rooms, newest
/// first, without system notices and those I deleted for myself.
#[utoipa::path(get, path = "/api/v1/messages/received", tag = "messages", security(("bearer" = [])),
    params(MessageListQuery),
    responses((status = 200, body = Page<MessageView>), (status = 422, body = ErrorBody)))]
pub async fn received(
    State(st): State<AppState>,
    auth: Auth,
    Query(q): Query<MessageListQuery>,
) -> Result<axum::Json<Page<MessageView>>, ApiError> {
    list(&st, auth.user.id, Which::Received, q).await
}
