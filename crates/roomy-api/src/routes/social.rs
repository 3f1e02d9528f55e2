//! The follow graph and blocks over HTTP: follow, unfollow, lists, mutual,
//! block. The rules live in `roomy_app::social`; cursors are read here.

use crate::{
    dto::{BlockedUser, FollowedUser, TargetView},
    error::{ApiError, ErrorBody},
    extract::{Path, Query},
    guard::Auth,
    pagination::{Page, PageParams, after_pair, encode_pair_cursor, page_with},
    state::AppState,
};
use axum::extract::State;
use roomy_app::social::{FollowList, GraphChange};
use roomy_core::{UserId, clock::to_millis};
use roomy_store::Related;

/// The shared body of follow, unfollow, block and unblock: answer `{"target": id}`.
async fn change_graph(
    st: &AppState,
    auth: &Auth,
    target: i64,
    change: GraphChange,
) -> Result<axum::Json<TargetView>, ApiError> {
    let target = UserId(target);
    st.app.change_graph(&auth.user, target, change).await?;
    Ok(axum::Json(TargetView { target }))
}

/// Follow a user. Following again changes nothing.
#[utoipa::path(put, path = "/api/v1/me/following/{user_id}", tag = "social", security(("bearer" = [])),
    params(("user_id" = i64, Path, description = "the user to follow")),
    responses(
        (status = 200, body = TargetView),
        (status = 403, description = "`blocked` (they blocked you) or `you_blocked_user`", body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 422, description = "yourself", body = ErrorBody),
    ))]
pub async fn follow(
    State(st): State<AppState>,
    auth: Auth,
    Path(user_id): Path<i64>,
) -> Result<axum::Json<TargetView>, ApiError> {
    change_graph(&st, &auth, user_id, GraphChange::Follow).await
}

/// Stop following a user. Unfollowing someone you do not follow changes nothing.
#[utoipa::path(delete, path = "/api/v1/me/following/{user_id}", tag = "social", security(("bearer" = [])),
    params(("user_id" = i64, Path, description = "the user to unfollow")),
    responses((status = 200, body = TargetView), (status = 404, body = ErrorBody)))]
pub async fn unfollow(
    State(st): State<AppState>,
    auth: Auth,
    Path(user_id): Path<i64>,
) -> Result<axum::Json<TargetView>, ApiError> {
    change_graph(&st, &auth, user_id, GraphChange::Unfollow).await
}

/// Block a user: follows both ways end, and they can no longer follow you,
/// send you friend requests or direct messages. Groups are unaffected.
#[utoipa::path(put, path = "/api/v1/me/blocks/{user_id}", tag = "social", security(("bearer" = [])),
    params(("user_id" = i64, Path, description = "the user to block")),
    responses((status = 200, body = TargetView), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn block(
    State(st): State<AppState>,
    auth: Auth,
    Path(user_id): Path<i64>,
) -> Result<axum::Json<TargetView>, ApiError> {
    change_graph(&st, &auth, user_id, GraphChange::Block).await
}

/// Lift a block.
#[utoipa::path(delete, path = "/api/v1/me/blocks/{user_id}", tag = "social", security(("bearer" = [])),
    params(("user_id" = i64, Path, description = "the user to unblock")),
    responses((status = 200, body = TargetView), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn unblock(
    State(st): State<AppState>,
    auth: Auth,
    Path(user_id): Path<i64>,
) -> Result<axum::Json<TargetView>, ApiError> {
    change_graph(&st, &auth, user_id, GraphChange::Unblock).await
}

fn related_cursor(r: &Related) -> String {
    encode_pair_cursor(to_millis(r.at), r.user.id.0)
}

fn cursor_pair(page: &PageParams) -> Result<Option<(i64, UserId)>, ApiError> {
    Ok(after_pair(page)?.map(|(ms, id)| (ms, UserId(id))))
}

/// Users I blocked, newest first.
#[utoipa::path(get, path = "/api/v1/me/blocks", tag = "social", security(("bearer" = [])),
    params(PageParams),
    responses((status = 200, body = Page<BlockedUser>), (status = 422, body = ErrorBody)))]
pub async fn list_blocks(
    State(st): State<AppState>,
    auth: Auth,
    Query(page): Query<PageParams>,
) -> Result<axum::Json<Page<BlockedUser>>, ApiError> {
    let limit = page.limit()?;
    let rows = st
        .app
        .blocks(&auth.user, cursor_pair(&page)?, limit + 1)
        .await?;
    Ok(axum::Json(page_with(
        rows,
        limit,
        related_cursor,
        BlockedUser::from,
    )))
}

/// The shared body of the following and followers lists.
async fn follow_list(
    st: &AppState,
    auth: &Auth,
    id: i64,
    page: &PageParams,
    list: FollowList,
) -> Result<axum::Json<Page<FollowedUser>>, ApiError> {
    let limit = page.limit()?;
    let after = cursor_pair(page)?;
    let rows = st
        .app
        .follow_list(&auth.user, UserId(id), list, after, limit + 1)
        .await?;
    Ok(axum::Json(page_with(
        rows,
        limit,
        related_cursor,
        FollowedUser::from,
    )))
}

/// Whom a user follows, newest follow first.
#[utoipa::path(get, path = "/api/v1/users/{id}/following", tag = "social", security(("bearer" = [])),
    params(("id" = i64, Path, description = "user id"), PageParams),
    responses((status = 200, body = Page<FollowedUser>), (status = 404, body = ErrorBody)))]
pub async fn following(
    State(st): State<AppState>,
    auth: Auth,
    Path(id): Path<i64>,
    Query(page): Query<PageParams>,
) -> Result<axum::Json<Page<FollowedUser>>, ApiError> {
    follow_list(&st, &auth, id, &page, FollowList::Following).await
}

/// Who follows a user, newest follow first.
#[utoipa::path(get, path = "/api/v1/users/{id}/followers", tag = "social", security(("bearer" = [])),
    params(("id" = i64, Path, description = "user id"), PageParams),
    responses((status = 200, body = Page<FollowedUser>), (status = 404, body = ErrorBody)))]
pub async fn followers(
    State(st): State<AppState>,
    auth: Auth,
    Path(id): Path<i64>,
    Query(page): Query<PageParams>,
) -> Result<axum::Json<Page<FollowedUser>>, ApiError> {
    follow_list(&st, &auth, id, &page, FollowList::Followers).await
}

/// Users who follow a user and whom that user follows back ("互相关注"),
/// newest follow by the user first.
#[utoipa::path(get, path = "/api/v1/users/{id}/mutual", tag = "social", security(("bearer" = [])),
    params(("id" = i64, Path, description = "user id"), PageParams),
    responses((status = 200, body = Page<FollowedUser>), (status = 404, body = ErrorBody)))]
pub async fn mutual(
    State(st): State<AppState>,
    auth: Auth,
    Path(id): Path<i64>,
    Query(page): Query<PageParams>,
) -> Result<axum::Json<Page<FollowedUser>>, ApiError> {
    let limit = page.limit()?;
    let after = cursor_pair(&page)?;
    let rows = st
        .app
        .mutual(&auth.user, UserId(id), after, limit + 1)
        .await?;
    Ok(axum::Json(page_with(
        rows,
        limit,
        related_cursor,
        FollowedUser::from,
    )))
}
