//! Looking up and searching other users.

use crate::error::ErrorCode;
use crate::limits::Action;
use crate::{
    dto::{PublicUser, RelationshipView, UserProfile, UserSearch},
    error::{ApiError, ErrorBody},
    extract::{Path, Query},
    pagination::{Page, PageParams, page_of},
    state::AppState,
};
use axum::extract::State;
use roomy_core::{Role, UserId};

/// Longest search query.
const MAX_QUERY: usize = 64;
/// Shortest search query: shorter ones would list nearly everyone.
const MIN_QUERY: usize = 3;
/// Shortest query in a script whose characters are words or syllables
/// (张伟, 김민): two of them say as much as three Latin letters.
const MIN_QUERY_WIDE: usize = 2;

/// A user's public profile, follow counts, and how the caller stands with them.
#[utoipa::path(get, path = "/api/v1/users/{id}", tag = "users", security(("bearer" = [])),
    params(("id" = i64, Path, description = "user id")),
    responses((status = 200, body = UserProfile), (status = 404, body = ErrorBody)))]
pub async fn get_user(
    State(st): State<AppState>,
    auth: crate::auth::Auth,
    Path(id): Path<i64>,
) -> Result<axum::Json<UserProfile>, ApiError> {
    let user = st
        .app
        .store
        .user(UserId(id))
        .await?
        .ok_or_else(|| ApiError::not_found(ErrorCode::UserNotFound, "no such user"))?;
    let (following_count, followers_count) = st.app.graph.counts(user.id).await?.unwrap_or((0, 0));
    let me = auth.user.id;
    let relationship = if me == user.id {
        RelationshipView {
            following: false,
            followed_by: false,
            friend: false,
            blocked: false,
        }
    } else {
        let follows = st.app.graph.relation(me, user.id).await?;
        let facts = st.app.store.pair_facts(me, user.id).await?;
        RelationshipView {
            following: follows.following,
            followed_by: follows.followed_by,
            friend: facts.friend,
            blocked: facts.blocked,
        }
    };
    Ok(axum::Json(UserProfile {
        user: user.into(),
        following_count,
        followers_count,
        relationship,
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
    auth: crate::auth::Auth,
    Query(search): Query<UserSearch>,
) -> Result<axum::Json<Page<PublicUser>>, ApiError> {
    if auth.user.role == Role::Guest {
        return Err(ApiError::forbidden(
            ErrorCode::GuestForbidden,
            "guests may not search users",
        ));
    }
    let q = search.q.as_deref().map(str::trim).unwrap_or_default();
    let min = if q.chars().any(|c| u32::from(c) >= 0x1100) {
        MIN_QUERY_WIDE
    } else {
        MIN_QUERY
    };
    if !(min..=MAX_QUERY).contains(&q.chars().count()) {
        return Err(ApiError::field(
            "q",
            format!(
                "must be {MIN_QUERY} to {MAX_QUERY} characters (2 in Chinese, Japanese or Korean)"
            ),
        ));
    }
    st.limits
        .user(Action::Search, auth.user.id, st.app.clock.now())?;
    let page = PageParams {
        limit: search.limit,
        cursor: search.cursor,
    };
    let limit = page.limit()?;
    let rows = st
        .app
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
