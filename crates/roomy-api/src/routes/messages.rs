//! Sending messages over HTTP, history and sync: the HTTP side of
//! `roomy_app`'s messages. The WebSocket `send` frame calls the same
//! [`App::submit`](roomy_app::App::submit) after the same admission.

use crate::{
    dto::{HistoryQuery, MessageView, SendRequest, SyncQuery, SyncView},
    error::{ApiError, ErrorBody},
    extract::{Json, Path, Query},
    guard::Auth,
    limits::Action,
    pagination::{DEFAULT_LIMIT, MAX_LIMIT, Page, encode_cursor},
    state::AppState,
};
use axum::{extract::State, http::StatusCode};
use roomy_app::{HistoryWindow, SendInput, SyncFrom};
use roomy_core::{MessageId, RoomId};

/// Send a message; answered once it is committed. The same `client_id` again
/// returns the original message and stores nothing.
#[utoipa::path(post, path = "/api/v1/rooms/{id}/messages", tag = "messages", security(("bearer" = [])),
    params(("id" = i64, Path, description = "room id")),
    request_body = SendRequest,
    responses(
        (status = 201, body = MessageView),
        (status = 403, description = "a direct room across a block, or (under the friends policy) between non-friends", body = ErrorBody),
        (status = 404, description = "no such room, or not a member", body = ErrorBody),
        (status = 422, body = ErrorBody),
        (status = 429, body = ErrorBody),
    ))]
pub async fn send_message(
    State(st): State<AppState>,
    auth: Auth,
    Path(room): Path<i64>,
    Json(req): Json<SendRequest>,
) -> Result<(StatusCode, axum::Json<MessageView>), ApiError> {
    // Admission first: a sender over the limit learns nothing of the message.
    st.limits
        .user(Action::Send, auth.user.id, st.app.clock.now())?;
    let input = SendInput {
        room_id: RoomId(room),
        client_id: req.client_id,
        kind: req.kind,
        body: req.body,
        file_id: req.file_id,
    };
    let sent = st.app.send(auth.user.id, input, None).await?;
    Ok((StatusCode::CREATED, axum::Json(sent.into_message().into())))
}

/// A page of a room's history, in seq order.
#[utoipa::path(get, path = "/api/v1/rooms/{id}/messages", tag = "messages", security(("bearer" = [])),
    params(("id" = i64, Path, description = "room id"), HistoryQuery),
    responses((status = 200, body = Page<MessageView>), (status = 404, body = ErrorBody)))]
pub async fn history(
    State(st): State<AppState>,
    auth: Auth,
    Path(room): Path<i64>,
    Query(q): Query<HistoryQuery>,
) -> Result<axum::Json<Page<MessageView>>, ApiError> {
    let room = RoomId(room);
    let limit = q.limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(ApiError::field(
            "limit",
            format!("must be between 1 and {MAX_LIMIT}"),
        ));
    }
    // A cursor is a signed seq: positive continues forward, negative backward.
    let cursor = crate::pagination::PageParams {
        limit: None,
        cursor: q.cursor.clone(),
    }
    .after()?;
    let given = [
        q.before_seq.is_some(),
        q.after_seq.is_some(),
        cursor.is_some(),
    ];
    if given.iter().filter(|g| **g).count() > 1 {
        return Err(ApiError::field(
            "before_seq",
            "give at most one of before_seq, after_seq and cursor",
        ));
    }
    let window = match (cursor, q.before_seq, q.after_seq) {
        (Some(c), _, _) if c > 0 => HistoryWindow::After(c),
        (Some(c), _, _) => HistoryWindow::Before(-c),
        (None, Some(b), _) => HistoryWindow::Before(b),
        (None, None, Some(a)) => HistoryWindow::After(a),
        (None, None, None) => HistoryWindow::Latest,
    };
    if matches!(window, HistoryWindow::Before(b) if b < 1)
        || matches!(window, HistoryWindow::After(a) if a < 0)
    {
        return Err(ApiError::field("before_seq", "seqs start at 1"));
    }
    // One more than a page: the extra row only says there is more.
    let messages = st
        .app
        .history(auth.user.id, room, window, limit + 1)
        .await?;
    let more = messages.len() > limit as usize;
    let forward = matches!(window, HistoryWindow::After(_));
    let mut messages = messages;
    if more {
        if forward {
            messages.truncate(limit as usize);
        } else {
            messages.remove(0);
        }
    }
    let next_cursor = match (more, forward) {
        (false, _) => None,
        (true, true) => messages.last().map(|m| encode_cursor(m.seq)),
        (true, false) => messages.first().map(|m| encode_cursor(-m.seq)),
    };
    Ok(axum::Json(Page {
        items: messages.into_iter().map(Into::into).collect(),
        next_cursor,
    }))
}

/// Everything missed in my rooms since a position: per room the newest
/// messages (up to `limit`), `limited` when more were missed.
#[utoipa::path(get, path = "/api/v1/sync", tag = "messages", security(("bearer" = [])),
    params(SyncQuery),
    responses((status = 200, body = SyncView), (status = 422, body = ErrorBody), (status = 429, body = ErrorBody)))]
pub async fn sync(
    State(st): State<AppState>,
    auth: Auth,
    Query(q): Query<SyncQuery>,
) -> Result<axum::Json<SyncView>, ApiError> {
    let limit = q.limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(ApiError::field(
            "limit",
            format!("must be between 1 and {MAX_LIMIT}"),
        ));
    }
    let since = q.since.unwrap_or(0);
    if since < 0 {
        return Err(ApiError::field("since", "must not be negative"));
    }
    st.limits
        .user(Action::Sync, auth.user.id, st.app.clock.now())?;
    let from = SyncFrom {
        since: MessageId(since),
        upto: None,
        limit,
    };
    let batch = st.app.sync(auth.user.id, from).await?;
    Ok(axum::Json(batch.into()))
}
