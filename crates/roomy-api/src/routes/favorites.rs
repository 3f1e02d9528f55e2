//! Favorite messages over HTTP; the rules are `roomy_app`'s.

use crate::{
    dto::FavoriteView,
    error::{ApiError, ErrorBody},
    extract::{Path, Query},
    guard::Auth,
    pagination::{Page, PageParams, after_pair, encode_pair_cursor, page_with},
    state::AppState,
};
use axum::{extract::State, http::StatusCode};
use roomy_core::{MessageId, clock::to_millis};

/// Favorite a message I can see now.
#[utoipa::path(put, path = "/api/v1/me/favorites/{message_id}", tag = "messages", security(("bearer" = [])),
    params(("message_id" = i64, Path, description = "message id")),
    responses(
        (status = 201, description = "favorited", body = FavoriteView),
        (status = 200, description = "already a favorite", body = FavoriteView),
        (status = 404, body = ErrorBody),
    ))]
pub async fn add(
    State(st): State<AppState>,
    auth: Auth,
    Path(message_id): Path<i64>,
) -> Result<(StatusCode, axum::Json<FavoriteView>), ApiError> {
    let favorited = st
        .app
        .add_favorite(auth.user.id, MessageId(message_id))
        .await?;
    let status = if favorited.new {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, axum::Json(favorited.favorite.into())))
}

/// Forget a favorite (nothing happens when it was none).
#[utoipa::path(delete, path = "/api/v1/me/favorites/{message_id}", tag = "messages", security(("bearer" = [])),
    params(("message_id" = i64, Path, description = "message id")),
    responses((status = 204)))]
pub async fn remove(
    State(st): State<AppState>,
    auth: Auth,
    Path(message_id): Path<i64>,
) -> Result<StatusCode, ApiError> {
    st.app
        .remove_favorite(auth.user.id, MessageId(message_id))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// My favorites, newest first.
#[utoipa::path(get, path = "/api/v1/me/favorites", tag = "messages", security(("bearer" = [])),
    params(PageParams),
    responses((status = 200, body = Page<FavoriteView>)))]
pub async fn list(
    State(st): State<AppState>,
    auth: Auth,
    Query(page): Query<PageParams>,
) -> Result<axum::Json<Page<FavoriteView>>, ApiError> {
    let limit = page.limit()?;
    let after = after_pair(&page)?.map(|(ms, id)| (ms, MessageId(id)));
    // One more than a page: the extra row only says there is more.
    let rows = st.app.favorites(auth.user.id, after, limit + 1).await?;
    Ok(axum::Json(page_with(
        rows,
        limit,
        |f| encode_pair_cursor(to_millis(f.favorited_at), f.message.id.0),
        Into::into,
    )))
}
