//! Looking up and searching other users.

use crate::{
    dto::{PublicUser, UserSearch},
    error::{ApiError, ErrorBody},
    extract::{Path, Query},
    pagination::{Page, PageParams, page_of},
    state::AppState,
};
use axum::extract::State;
use roomy_core::UserId;

/// Longest search query.
const MAX_QUERY: usize = 64;

/// A user's public profile.
#[utoipa::path(get, path = "/api/v1/users/{id}", tag = "users", security(("bearer" = [])),
    params(("id" = i64, Path, description = "user id")),
    responses((status = 200, body = PublicUser), (status = 404, body = ErrorBody)))]
pub async fn get_user(
    State(st): State<AppState>,
    _auth: crate::auth::Auth,
    Path(id): Path<i64>,
) -> Result<axum::Json<PublicUser>, ApiError> {
    let user = st
        .store
        .user(UserId(id))
        .await?
        .ok_or_else(|| ApiError::not_found("user_not_found", "no such user"))?;
    Ok(axum::Json(user.into()))
}

/// Search users by username or nickname (case-insensitive substring).
#[utoipa::path(get, path = "/api/v1/users", tag = "users", security(("bearer" = [])),
    params(UserSearch),
    responses((status = 200, body = Page<PublicUser>), (status = 422, body = ErrorBody)))]
pub async fn search_users(
    State(st): State<AppState>,
    _auth: crate::auth::Auth,
    Query(search): Query<UserSearch>,
) -> Result<axum::Json<Page<PublicUser>>, ApiError> {
    let q = search.q.as_deref().map(str::trim).unwrap_or_default();
    if q.is_empty() || q.chars().count() > MAX_QUERY {
        return Err(ApiError::field(
            "q",
            format!("must be 1 to {MAX_QUERY} characters"),
        ));
    }
    let page = PageParams {
        limit: search.limit,
        cursor: search.cursor,
    };
    let limit = page.limit()?;
    let rows = st
        .store
        .search_users(q, page.after()?.map(UserId), limit + 1)
        .await?;
    Ok(axum::Json(page_of(
        rows,
        limit,
        |u| u.id.0,
        PublicUser::from,
    )))
}
