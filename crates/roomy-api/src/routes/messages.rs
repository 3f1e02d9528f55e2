//! Sending messages over HTTP, history and sync. The WebSocket `send` frame
//! goes through the same validation ([`parse_send`]) and the same writer.

use crate::error::ErrorCode;
use crate::{
    auth::Auth,
    dto::{HistoryQuery, MessageView, SendRequest, SyncQuery, SyncView},
    error::{ApiError, ErrorBody},
    extract::{Json, Path, Query},
    limits::Action,
    pagination::{DEFAULT_LIMIT, MAX_LIMIT, Page, encode_cursor},
    state::AppState,
};
use axum::{extract::State, http::StatusCode};
use roomy_core::{
    FieldErrors, FileId, MessageId, RoomId, UserId,
    chat_fields::{ClientId, MessageBody, MessageKind},
};
use roomy_store::{AppendOutcome, AppendRejection, FileRef, MediaClass, Message, NewMessage};

/// Validates a message to send (HTTP body or WebSocket frame). A media
/// message's file must be the sender's own upload, of a fitting kind: the
/// only store read here, and only for media.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn parse_send(
    st: &AppState,
    sender: UserId,
    room_id: i64,
    client_id: &str,
    kind: &str,
    body: Option<&str>,
    file_id: Option<i64>,
) -> Result<NewMessage, ApiError> {
    st.limits.user(Action::Send, sender, st.app.clock.now())?;
    let mut errors = FieldErrors::new();
    let client_id = errors.check("client_id", ClientId::parse(client_id));
    let kind = match MessageKind::parse(kind) {
        Some(MessageKind::System) => {
            errors.add("kind", "system messages are written by the server");
            None
        }
        None => {
            errors.add("kind", "must be text, emoji, image, file or video");
            None
        }
        known => known,
    };
    let media = kind.is_some_and(|k| k != MessageKind::Text);
    match (media, file_id) {
        (false, Some(_)) if kind.is_some() => errors.add(
            "file_id",
            "only image, file and video messages carry a file",
        ),
        (true, None) => errors.add("file_id", "media messages need the id of an uploaded file"),
        _ => {}
    }
    let body = match body {
        Some(b) => errors.check(
            "body",
            MessageBody::parse(b, st.app.settings.max_message_chars),
        ),
        None if media => None,
        None => {
            errors.add("body", "text messages need a body");
            None
        }
    };
    errors.into_result()?;
    let (Some(client_id), Some(kind)) = (client_id, kind) else {
        return Err(ApiError::internal(std::io::Error::other(
            "validated message fields missing",
        )));
    };
    let file = match file_id.filter(|_| media) {
        Some(id) => Some(attachment(st, sender, kind, FileId(id)).await?),
        None => None,
    };
    Ok(NewMessage {
        room_id: RoomId(room_id),
        sender_id: sender,
        client_id: Some(client_id),
        kind,
        body,
        file,
    })
}

/// The sender's own file `id`, if it suits a `kind` message. Files are
/// never handed to someone else, so the check holds when the message commits.
async fn attachment(
    st: &AppState,
    sender: UserId,
    kind: MessageKind,
    id: FileId,
) -> Result<FileRef, ApiError> {
    let file = st
        .app
        .store
        .file(id)
        .await?
        .filter(|f| f.owner == sender)
        .ok_or_else(|| ApiError::field("file_id", "no such file among your uploads"))?;
    let fits = match kind {
        MessageKind::Image => file.media == MediaClass::Image,
        MessageKind::Video => file.media == MediaClass::Video,
        _ => true,
    };
    if !fits {
        return Err(ApiError::field(
            "file_id",
            format!("this file is {}, not {}", file.mime, kind.as_str()),
        ));
    }
    Ok(file.attachment())
}

/// The message of a writer outcome, or why there is none.
pub(crate) fn outcome_message(outcome: AppendOutcome) -> Result<Message, ApiError> {
    match outcome {
        AppendOutcome::Stored { message, .. } | AppendOutcome::Duplicate(message) => Ok(message),
        AppendOutcome::Rejected(AppendRejection::RoomNotFound | AppendRejection::NotAMember) => {
            Err(room_not_found())
        }
        AppendOutcome::Rejected(AppendRejection::Blocked) => {
            Err(crate::error::refusal(roomy_store::Refusal::Blocked))
        }
        AppendOutcome::Rejected(AppendRejection::NotFriends) => {
            Err(crate::error::refusal(roomy_store::Refusal::NotFriends))
        }
        AppendOutcome::Rejected(AppendRejection::Dissolved) => Err(room_dissolved()),
    }
}

/// 403 for writing to a dissolved group.
pub(crate) fn room_dissolved() -> ApiError {
    ApiError::forbidden(
        ErrorCode::RoomDissolved,
        "this group was dissolved: it can be read, not changed",
    )
}

/// 404 for a room that does not exist or that the caller is not in.
pub(crate) fn room_not_found() -> ApiError {
    ApiError::not_found(ErrorCode::RoomNotFound, "no such room among yours")
}

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
    let new = parse_send(
        &st,
        auth.user.id,
        room,
        &req.client_id,
        &req.kind,
        req.body.as_deref(),
        req.file_id,
    )
    .await?;
    let message = outcome_message(st.app.writer.write(new, None).await?)?;
    Ok((StatusCode::CREATED, axum::Json(message.into())))
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
    let (before, after) = match cursor {
        Some(c) if c > 0 => (None, Some(c)),
        Some(c) => (Some(-c), None),
        None => (q.before_seq, q.after_seq),
    };
    if before.is_some_and(|b| b < 1) || after.is_some_and(|a| a < 0) {
        return Err(ApiError::field("before_seq", "seqs start at 1"));
    }
    if st
        .app
        .store
        .member_role(room, auth.user.id)
        .await?
        .is_none()
    {
        return Err(room_not_found());
    }
    let messages = st
        .app
        .store
        .history(room, auth.user.id, before, after, limit + 1)
        .await?;
    let more = messages.len() > limit as usize;
    let forward = after.is_some();
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
    let batch = st
        .app
        .store
        .sync(auth.user.id, MessageId(since), None, limit)
        .await?;
    Ok(axum::Json(batch.into()))
}
