//! The follow graph and blocks: follow, unfollow, lists, mutual, block.

use crate::error::ErrorCode;
use crate::{
    auth::Auth,
    dto::{BlockedUser, FollowedUser, TargetView},
    error::{ApiError, ErrorBody},
    extract::{Path, Query},
    pagination::{Page, PageParams, after_pair, encode_pair_cursor, page_with},
    state::AppState,
};
use axum::extract::State;
use roomy_app::GraphError;
use roomy_core::{
    UserId,
    clock::{from_millis, to_millis},
};
use roomy_store::Related;

impl From<GraphError> for ApiError {
    fn from(e: GraphError) -> Self {
        match e {
            GraphError::Store(e) => e.into(),
        }
    }
}

fn user_not_found() -> ApiError {
    ApiError::not_found(ErrorCode::UserNotFound, "no such user")
}

/// Maps the store's "no such row" to this route's "no such user".
fn missing_user(e: roomy_store::StoreError) -> ApiError {
    match e {
        roomy_store::StoreError::NotFound => user_not_found(),
        other => other.into(),
    }
}

fn not_yourself(what: &str) -> ApiError {
    ApiError::field("user_id", format!("you cannot {what} yourself"))
}

/// Which graph change a handler makes.
#[derive(Clone, Copy)]
enum Change {
    Follow,
    Unfollow,
    Block,
    Unblock,
}

/// The shared body of follow, unfollow, block and unblock: refuse yourself,
/// change the store, bring the cache along, answer `{"target": id}`.
async fn change_graph(
    st: &AppState,
    me: UserId,
    target: i64,
    change: Change,
) -> Result<axum::Json<TargetView>, ApiError> {
    let target = UserId(target);
    let verb = match change {
        Change::Follow => "follow",
        Change::Unfollow => "unfollow",
        Change::Block => "block",
        Change::Unblock => "unblock",
    };
    if target == me {
        return Err(not_yourself(verb));
    }
    let now = st.app.clock.now();
    let deltas = match change {
        Change::Follow => st.app.store.follow(me, target, now).await,
        Change::Unfollow => st.app.store.unfollow(me, target, now).await,
        Change::Block => st.app.store.block(me, target, now).await,
        Change::Unblock => st
            .app
            .store
            .unblock(me, target, now)
            .await
            .map(|()| Vec::new()),
    }
    .map_err(missing_user)?;
    st.app.graph.applied(&deltas).await;
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
    change_graph(&st, auth.user.id, user_id, Change::Follow).await
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
    change_graph(&st, auth.user.id, user_id, Change::Unfollow).await
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
    change_graph(&st, auth.user.id, user_id, Change::Block).await
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
    change_graph(&st, auth.user.id, user_id, Change::Unblock).await
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
        .store
        .blocks(auth.user.id, cursor_pair(&page)?, limit + 1)
        .await?;
    Ok(axum::Json(page_with(
        rows,
        limit,
        related_cursor,
        BlockedUser::from,
    )))
}

async fn existing(st: &AppState, id: i64) -> Result<UserId, ApiError> {
    st.app
        .store
        .user(UserId(id))
        .await?
        .map(|u| u.id)
        .ok_or_else(user_not_found)
}

/// Which follow list a handler pages.
#[derive(Clone, Copy)]
enum List {
    Following,
    Followers,
}

/// The shared body of the following and followers lists.
async fn follow_list(
    st: &AppState,
    id: i64,
    page: &PageParams,
    list: List,
) -> Result<axum::Json<Page<FollowedUser>>, ApiError> {
    let limit = page.limit()?;
    let after = cursor_pair(page)?;
    let user = existing(st, id).await?;
    let rows = match list {
        List::Following => st.app.store.following(user, after, limit + 1).await?,
        List::Followers => st.app.store.followers(user, after, limit + 1).await?,
    };
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
    _auth: Auth,
    Path(id): Path<i64>,
    Query(page): Query<PageParams>,
) -> Result<axum::Json<Page<FollowedUser>>, ApiError> {
    follow_list(&st, id, &page, List::Following).await
}

/// Who follows a user, newest follow first.
#[utoipa::path(get, path = "/api/v1/users/{id}/followers", tag = "social", security(("bearer" = [])),
    params(("id" = i64, Path, description = "user id"), PageParams),
    responses((status = 200, body = Page<FollowedUser>), (status = 404, body = ErrorBody)))]
pub async fn followers(
    State(st): State<AppState>,
    _auth: Auth,
    Path(id): Path<i64>,
    Query(page): Query<PageParams>,
) -> Result<axum::Json<Page<FollowedUser>>, ApiError> {
    follow_list(&st, id, &page, List::Followers).await
}

/// Users who follow a user and whom that user follows back ("互相关注"),
/// newest follow by the user first.
#[utoipa::path(get, path = "/api/v1/users/{id}/mutual", tag = "social", security(("bearer" = [])),
    params(("id" = i64, Path, description = "user id"), PageParams),
    responses((status = 200, body = Page<FollowedUser>), (status = 404, body = ErrorBody)))]
pub async fn mutual(
    State(st): State<AppState>,
    _auth: Auth,
    Path(id): Path<i64>,
    Query(page): Query<PageParams>,
) -> Result<axum::Json<Page<FollowedUser>>, ApiError> {
    let limit = page.limit()?;
    let after = cursor_pair(&page)?;
    let ids = st
        .app
        .graph
        .mutual(UserId(id), after, limit as usize + 1)
        .await?
        .ok_or_else(user_not_found)?;
    let users = st
        .app
        .store
        .users_by_ids(&ids.iter().map(|(u, _)| *u).collect::<Vec<_>>())
        .await?;
    let mut by_id: std::collections::HashMap<UserId, roomy_store::User> =
        users.into_iter().map(|u| (u.id, u)).collect();
    let rows: Vec<Related> = ids
        .into_iter()
        .filter_map(|(u, ms)| {
            by_id.remove(&u).map(|user| Related {
                user,
                at: from_millis(ms),
            })
        })
        .collect();
    Ok(axum::Json(page_with(
        rows,
        limit,
        related_cursor,
        FollowedUser::from,
    )))
}
