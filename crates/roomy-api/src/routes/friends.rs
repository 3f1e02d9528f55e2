//! Friend requests and friends (seeds 002, 004).
//!
//! Sending and answering run on the writer task: they write notices (and, on
//! agreement, a system message in the pair's direct room) that must be
//! published in commit order with the messages around them.

use crate::error::ErrorCode;
use crate::{
    auth::Auth,
    dto::{
        AnswerBody, DecisionBody, FriendRequestBody, FriendRequestView, FriendView, RemarkPatch,
        RequestListQuery,
    },
    error::{ApiError, ErrorBody},
    extract::{Json, Path, Query},
    pagination::{Page, PageParams, after_pair, encode_pair_cursor, page_of, page_with},
    state::AppState,
};
use axum::{extract::State, http::StatusCode};
use roomy_bus::{Envelope, Event};
use roomy_core::{
    FieldErrors, Role, UserId,
    clock::to_millis,
    social_fields::{FriendNote, Remark, RequestStatus},
};
use roomy_store::{Decision, Direction, FriendChange, NewFriendRequest, Store, StoreError};
use std::{future::Future, sync::Arc};

/// Text of the system message in the new friends' direct room (seed 002).
const FRIENDS_NOW: &str = "You are friends now. Start chatting!";

fn guests_cannot() -> ApiError {
    ApiError::forbidden(
        ErrorCode::GuestForbidden,
        "guests cannot have friends; register an account",
    )
}

fn remark_field(errors: &mut FieldErrors, value: Option<&str>) -> Option<Remark> {
    value.and_then(|r| match Remark::parse(r) {
        Ok(r) => r,
        Err(why) => {
            errors.add("remark", why);
            None
        }
    })
}

/// The envelopes announcing a friend change: each notice to its user, the
/// direct room to both if it was just created, then the system message.
fn envelopes(change: &FriendChange, members: Vec<roomy_store::Member>) -> Vec<Envelope> {
    let mut out: Vec<Envelope> = Vec::new();
    if let Some((room, true)) = &change.room {
        out.push(Envelope {
            recipients: members.iter().map(|m| m.user.id).collect(),
            event: Event::MembersJoined {
                room: room.clone(),
                members,
            },
            origin: None,
        });
    }
    // Positioned events go out in position order, so a client that has
    // seen position N has seen everything below it.
    let mut positioned: Vec<(i64, Envelope)> = Vec::new();
    if let Some(message) = &change.message {
        positioned.push((
            message.id.0,
            Envelope {
                recipients: vec![change.request.from.id, change.request.to.id],
                event: Event::Message(message.clone()),
                origin: None,
            },
        ));
    }
    for n in &change.notices {
        positioned.push((
            n.id.0,
            Envelope {
                recipients: vec![n.user],
                event: Event::Notice(n.clone()),
                origin: None,
            },
        ));
    }
    positioned.sort_by_key(|(position, _)| *position);
    out.extend(positioned.into_iter().map(|(_, e)| e));
    out
}

/// Runs a friend change on the writer task and publishes what it wrote.
async fn on_writer<F, Fut>(st: &AppState, write: F) -> Result<FriendChange, ApiError>
where
    F: FnOnce(Arc<dyn Store>) -> Fut + Send + 'static,
    Fut: Future<Output = Result<FriendChange, StoreError>> + Send + 'static,
{
    st.app.writer
        .exclusive(move |store| async move {
            let change = match write(store.clone()).await {
                Ok(c) => c,
                Err(e) => return (Err(e), Vec::new()),
            };
            let members = match &change.room {
                // The change is committed: a failure here only loses the
                // live `member_joined` (sync still has the room), so say so.
                Some((room, true)) => store.members(room.id, None, 2).await.unwrap_or_else(|e| {
                    tracing::warn!(error = %e, room = room.id.0, "new direct room announced to nobody");
                    Vec::new()
                }),
                _ => Vec::new(),
            };
            let out = envelopes(&change, members);
            (Ok(change), out)
        })
        .await?
        .map_err(|e| match e {
            StoreError::NotFound => ApiError::not_found(ErrorCode::UserNotFound, "no such user"),
            other => other.into(),
        })
}

/// Ask a user to be your friend. The target hears of it at once (a
/// `friend_request` event, or in sync when offline); when the target does
/// not confirm requests (`invite_confirm` false) you are friends at once.
#[utoipa::path(post, path = "/api/v1/friend-requests", tag = "friends", security(("bearer" = [])),
    request_body = FriendRequestBody,
    responses(
        (status = 201, description = "`status` is `pending`, or `agree` when the target does not confirm", body = FriendRequestView),
        (status = 403, description = "`guest_forbidden`, `blocked`, `you_blocked_user`, `user_disabled`", body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, description = "`already_friends`, `request_pending`, `incoming_request_pending`", body = ErrorBody),
        (status = 422, body = ErrorBody),
        (status = 429, body = ErrorBody),
    ))]
pub async fn send_request(
    State(st): State<AppState>,
    auth: Auth,
    Json(body): Json<FriendRequestBody>,
) -> Result<(StatusCode, axum::Json<FriendRequestView>), ApiError> {
    if auth.user.role == Role::Guest {
        return Err(guests_cannot());
    }
    st.limits.user(
        crate::limits::Action::FriendRequest,
        auth.user.id,
        st.app.clock.now(),
    )?;
    let mut errors = FieldErrors::new();
    if body.user_id == auth.user.id {
        errors.add("user_id", "you cannot befriend yourself");
    }
    let note = body
        .note
        .as_deref()
        .and_then(|n| match FriendNote::parse(n) {
            Ok(n) => n,
            Err(why) => {
                errors.add("note", why);
                None
            }
        });
    let remark = remark_field(&mut errors, body.remark.as_deref());
    errors.into_result()?;
    let target = st
        .app
        .store
        .user(body.user_id)
        .await?
        .ok_or_else(|| ApiError::not_found(ErrorCode::UserNotFound, "no such user"))?;
    if target.role == Role::Guest {
        return Err(guests_cannot());
    }
    let new = NewFriendRequest {
        from: auth.user.id,
        to: target.id,
        note,
        remark,
    };
    let now = st.app.clock.now();
    let change = on_writer(&st, move |store| async move {
        store
            .send_friend_request(new, FRIENDS_NOW.to_owned(), now)
            .await
    })
    .await?;
    Ok((StatusCode::CREATED, axum::Json(change.request.into())))
}

/// Answer a request sent to you: agree (you become friends, both hear
/// `friend_accepted` and your direct room gets a system message), refuse or
/// ignore. Only once.
#[utoipa::path(post, path = "/api/v1/friend-requests/{id}/answer", tag = "friends", security(("bearer" = [])),
    params(("id" = i64, Path, description = "request id")),
    request_body = AnswerBody,
    responses(
        (status = 200, body = FriendRequestView),
        (status = 403, description = "`not_request_target`: you sent it", body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, description = "`already_answered`", body = ErrorBody),
        (status = 422, body = ErrorBody),
    ))]
pub async fn answer_request(
    State(st): State<AppState>,
    auth: Auth,
    Path(id): Path<i64>,
    Json(body): Json<AnswerBody>,
) -> Result<axum::Json<FriendRequestView>, ApiError> {
    let mut errors = FieldErrors::new();
    let remark = remark_field(&mut errors, body.remark.as_deref());
    errors.into_result()?;
    let decision = match body.decision {
        DecisionBody::Agree => Decision::Agree,
        DecisionBody::Refuse => Decision::Refuse,
        DecisionBody::Ignore => Decision::Ignore,
    };
    let (me, now) = (auth.user.id, st.app.clock.now());
    let change = on_writer(&st, move |store| async move {
        store
            .answer_friend_request(id, me, decision, remark, FRIENDS_NOW.to_owned(), now)
            .await
    })
    .await
    .map_err(|e| match e {
        ApiError::NotFound { .. } => {
            ApiError::not_found(ErrorCode::RequestNotFound, "no such request among yours")
        }
        other => other,
    })?;
    Ok(axum::Json(change.request.into()))
}

/// Requests sent to you (`direction=incoming`, the default) or by you, newest first.
#[utoipa::path(get, path = "/api/v1/friend-requests", tag = "friends", security(("bearer" = [])),
    params(RequestListQuery),
    responses((status = 200, body = Page<FriendRequestView>), (status = 422, body = ErrorBody)))]
pub async fn list_requests(
    State(st): State<AppState>,
    auth: Auth,
    Query(q): Query<RequestListQuery>,
) -> Result<axum::Json<Page<FriendRequestView>>, ApiError> {
    let direction = match q.direction.as_deref() {
        None | Some("incoming") => Direction::Incoming,
        Some("outgoing") => Direction::Outgoing,
        Some(_) => return Err(ApiError::field("direction", "must be incoming or outgoing")),
    };
    let status = match q.status.as_deref() {
        None => None,
        Some(s) => Some(RequestStatus::parse(s).ok_or_else(|| {
            ApiError::field("status", "must be pending, agree, refuse or ignore")
        })?),
    };
    let page = PageParams {
        limit: q.limit,
        cursor: q.cursor,
    };
    let limit = page.limit()?;
    let rows = st
        .app
        .store
        .friend_requests(auth.user.id, direction, status, page.after()?, limit + 1)
        .await?;
    Ok(axum::Json(page_of(
        rows,
        limit,
        |r| r.id,
        FriendRequestView::from,
    )))
}

/// My friends with my remarks for them, newest friendship first.
#[utoipa::path(get, path = "/api/v1/friends", tag = "friends", security(("bearer" = [])),
    params(PageParams),
    responses((status = 200, body = Page<FriendView>), (status = 422, body = ErrorBody)))]
pub async fn list_friends(
    State(st): State<AppState>,
    auth: Auth,
    Query(page): Query<PageParams>,
) -> Result<axum::Json<Page<FriendView>>, ApiError> {
    let limit = page.limit()?;
    let after = after_pair(&page)?.map(|(ms, id)| (ms, UserId(id)));
    let rows = st.app.store.friends(auth.user.id, after, limit + 1).await?;
    Ok(axum::Json(page_with(
        rows,
        limit,
        |f| encode_pair_cursor(to_millis(f.since), f.user.id.0),
        FriendView::from,
    )))
}

fn friend_not_found() -> ApiError {
    ApiError::not_found(ErrorCode::FriendNotFound, "no such user among your friends")
}

/// Set (or clear, with null or "") my remark for a friend.
#[utoipa::path(patch, path = "/api/v1/friends/{user_id}", tag = "friends", security(("bearer" = [])),
    params(("user_id" = i64, Path, description = "the friend")),
    request_body = RemarkPatch,
    responses((status = 200, body = FriendView), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn patch_friend(
    State(st): State<AppState>,
    auth: Auth,
    Path(user_id): Path<i64>,
    Json(body): Json<RemarkPatch>,
) -> Result<axum::Json<FriendView>, ApiError> {
    let mut errors = FieldErrors::new();
    let remark = remark_field(&mut errors, body.remark.as_deref());
    errors.into_result()?;
    let friend = st
        .app
        .store
        .set_remark(auth.user.id, UserId(user_id), remark)
        .await
        .map_err(|e| match e {
            StoreError::NotFound => friend_not_found(),
            other => other.into(),
        })?;
    Ok(axum::Json(friend.into()))
}

/// End a friendship, both ways. The old requests are forgotten, so either
/// may ask again; the direct room's history stays readable.
#[utoipa::path(delete, path = "/api/v1/friends/{user_id}", tag = "friends", security(("bearer" = [])),
    params(("user_id" = i64, Path, description = "the friend")),
    responses((status = 204), (status = 404, body = ErrorBody)))]
pub async fn unfriend(
    State(st): State<AppState>,
    auth: Auth,
    Path(user_id): Path<i64>,
) -> Result<StatusCode, ApiError> {
    st.app
        .store
        .unfriend(auth.user.id, UserId(user_id), st.app.clock.now())
        .await
        .map_err(|e| match e {
            StoreError::NotFound => friend_not_found(),
            other => other.into(),
        })?;
    Ok(StatusCode::NO_CONTENT)
}
