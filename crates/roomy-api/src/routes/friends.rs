//! Friend requests and friends, over HTTP: the rules live
//! in `roomy_app::friends`; the query's direction and status and the page
//! cursors are read here.

use crate::{
    dto::{
        AnswerBody, DecisionBody, FriendRequestBody, FriendRequestView, FriendView, RemarkPatch,
        RequestListQuery,
    },
    error::{ApiError, ErrorBody},
    extract::{Json, Path, Query},
    guard::Auth,
    pagination::{Page, PageParams, after_pair, encode_pair_cursor, page_of, page_with},
    state::AppState,
};
use axum::{extract::State, http::StatusCode};
use roomy_app::friends::{FriendAnswer, FriendRequestInput, may_befriend};
use roomy_core::{UserId, clock::to_millis, social_fields::RequestStatus};
use roomy_store::{Decision, Direction};

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
    // A guest hears that it may not before any rate limit counts it.
    may_befriend(&auth.user)?;
    st.limits.user(
        crate::limits::Action::FriendRequest,
        auth.user.id,
        st.app.clock.now(),
    )?;
    let request = FriendRequestInput::parse(
        &auth.user,
        body.user_id,
        body.note.as_deref(),
        body.remark.as_deref(),
    )?;
    let request = st.app.send_friend_request(&auth.user, request).await?;
    Ok((StatusCode::CREATED, axum::Json(request.into())))
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
    let decision = match body.decision {
        DecisionBody::Agree => Decision::Agree,
        DecisionBody::Refuse => Decision::Refuse,
        DecisionBody::Ignore => Decision::Ignore,
    };
    let answer = FriendAnswer {
        decision,
        remark: body.remark,
    };
    let request = st.app.answer_friend_request(&auth.user, id, answer).await?;
    Ok(axum::Json(request.into()))
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
        .friend_requests(&auth.user, direction, status, page.after()?, limit + 1)
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
    let rows = st.app.friends(&auth.user, after, limit + 1).await?;
    Ok(axum::Json(page_with(
        rows,
        limit,
        |f| encode_pair_cursor(to_millis(f.since), f.user.id.0),
        FriendView::from,
    )))
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
    let friend = st
        .app
        .set_friend_remark(&auth.user, UserId(user_id), body.remark.as_deref())
        .await?;
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
    st.app.unfriend(&auth.user, UserId(user_id)).await?;
    Ok(StatusCode::NO_CONTENT)
}
