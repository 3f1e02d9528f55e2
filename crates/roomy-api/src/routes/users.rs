//! Looking up and searching other users over HTTP; the rules live in
//! `roomy_app::users`.

use crate::limits::Action;
use crate::{
    dto::{PublicUser, RelationshipView, UserProfile, UserSearch},
    error::{ApiError, ErrorBody},
    extract::{Path, Query},
    pagination::{Page, PageParams, page_of},
    state::AppState,
};
use axum::extract::State;
use roomy_app::users::UserQuery;
use roomy_core::UserId;

/// A user's public profile, follow counts, and how the caller stands with them.
#[utoipa::path(get, path = "/api/v1/users/{id}", tag = "users", security(("bearer" = [])),
    params(("id" = i64, Path, description = "user id")),
    responses((status = 200, body = UserProfile), (status = 404, body = ErrorBody)))]
pub async fn get_user(
    State(st): State<AppState>,
    auth: crate::guard::Auth,
    Path(id): Path<i64>,
) -> Result<axum::Json<UserProfile>, ApiError> {
    let profile = st.app.user_profile(&auth.user, UserId(id)).await?;
    let r = profile.relationship;
    Ok(axum::Json(UserProfile {
        user: profile.user.into(),
        following_count: profile.following_count,
        followers_count: profile.followers_count,
        relationship: RelationshipView {
            following: r.following,
            followed_by: r.followed_by,
            friend: r.friend,
            blocked: r.blocked,
        },
    }))
}

/// Search users by username or nickname (case-insensitive substring of at
/// least 3 characters), a page at a time. Guests may not search.
#[utoipa::path(get, path = "/api/v1/users", tag = "users", security(("bearer" = [])),
    params(UserSearch),
    responses(
        (status = 200, body = Page<PublicUser>),
        (status = 403, description = "guests may not search users", body = ErrorBody),
        (status = 422, body = ErrorBody),
        (status = 429, body = ErrorBody),
    ))]
pub async fn search_users(
    State(st): State<AppState>,
    auth: crate::guard::Auth,
    Query(search): Query<UserSearch>,
) -> Result<axum::Json<Page<PublicUser>>, ApiError> {
    // Checked before the rate limit, so refusals cost no search budget.
    let query = UserQuery::parse(&auth.user, search.q.as_deref())?;
    st.limits
        .user(Action::Search, auth.user.id, st.app.clock.now())?;
    let page = PageParams {
        limit: search.limit,
        cursor: search.cursor,
    };
    let limit = page.limit()?;
    let rows = st
        .app
        .search_users(&auth.user, &query, page.after()?.map(UserId), limit + 1)
        .await?;
    Ok(axum::Json(page_of(
        rows,
        limit,
        |u| u.id.0,
        PublicUser::from,
    )))
}
