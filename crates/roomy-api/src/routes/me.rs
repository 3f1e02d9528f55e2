//! The caller's own account over HTTP: profile, password and sessions. The
//! rules live in `roomy_app::accounts`; the login limiter guards password
//! changes here.

use crate::{
    dto::{Me, PasswordChange, ProfilePatch, SessionView},
    error::{ApiError, ErrorBody},
    extract::{Json, Path, Query},
    guard::Auth,
    pagination::{Page, PageParams, page_of},
    state::AppState,
};
use axum::{extract::State, http::StatusCode};
use roomy_app::{AccountError, accounts::ProfileEdit};
use roomy_core::{SessionId, user_fields::Password};

/// My account.
#[utoipa::path(get, path = "/api/v1/me", tag = "me", security(("bearer" = [])),
    responses((status = 200, body = Me), (status = 401, body = ErrorBody)))]
pub async fn get_me(auth: Auth) -> axum::Json<Me> {
    axum::Json(auth.user.into())
}

/// Edit my profile (the username cannot change).
#[utoipa::path(patch, path = "/api/v1/me", tag = "me", security(("bearer" = [])),
    request_body = ProfilePatch,
    responses((status = 200, body = Me), (status = 422, body = ErrorBody)))]
pub async fn patch_me(
    State(st): State<AppState>,
    auth: Auth,
    Json(patch): Json<ProfilePatch>,
) -> Result<axum::Json<Me>, ApiError> {
    let edit = ProfileEdit {
        nickname: patch.nickname,
        avatar: patch.avatar,
        invite_confirm: patch.invite_confirm,
        read_receipts: patch.read_receipts,
    };
    let user = st.app.update_profile(&auth.user, edit).await?;
    Ok(axum::Json(user.into()))
}

/// Change my password; every other session ends.
#[utoipa::path(put, path = "/api/v1/me/password", tag = "me", security(("bearer" = [])),
    request_body = PasswordChange,
    responses(
        (status = 204),
        (status = 403, description = "wrong old password, or a guest account", body = ErrorBody),
        (status = 422, body = ErrorBody),
        (status = 429, body = ErrorBody),
    ))]
pub async fn change_password(
    State(st): State<AppState>,
    auth: Auth,
    client: super::ClientInfo,
    Json(req): Json<PasswordChange>,
) -> Result<StatusCode, ApiError> {
    let new = Password::parse(&req.new_password).map_err(|e| ApiError::field("new_password", e))?;
    // A stolen token must not become a password-guessing oracle: same limits as login.
    let account = auth.user.username.to_lowercase();
    let ip = client.limited.to_string();
    st.limiter
        .check(&account, &ip, st.app.clock.now())
        .map_err(|retry_after_secs| ApiError::RateLimited { retry_after_secs })?;
    match st
        .app
        .change_password(&auth.user, auth.session.id, &req.old_password, new)
        .await
    {
        Ok(()) => Ok(StatusCode::NO_CONTENT),
        Err(e) => {
            if matches!(e, AccountError::WrongPassword) {
                st.limiter.record_failure(&account, &ip, st.app.clock.now());
            }
            Err(e.into())
        }
    }
}

/// My active sessions, newest first.
#[utoipa::path(get, path = "/api/v1/me/sessions", tag = "me", security(("bearer" = [])),
    params(PageParams),
    responses((status = 200, body = Page<SessionView>)))]
pub async fn list_sessions(
    State(st): State<AppState>,
    auth: Auth,
    Query(page): Query<PageParams>,
) -> Result<axum::Json<Page<SessionView>>, ApiError> {
    let limit = page.limit()?;
    let before = page.after()?;
    let sessions = st
        .app
        .sessions(&auth.user, before.map(SessionId), limit + 1)
        .await?;
    let current = auth.session.id;
    Ok(axum::Json(page_of(
        sessions,
        limit,
        |s| s.id.0,
        |s| SessionView::new(s, current),
    )))
}

/// End one of my sessions (ending the current one is a logout).
#[utoipa::path(delete, path = "/api/v1/me/sessions/{id}", tag = "me", security(("bearer" = [])),
    params(("id" = i64, Path, description = "session id")),
    responses((status = 204), (status = 404, body = ErrorBody)))]
pub async fn end_session(
    State(st): State<AppState>,
    auth: Auth,
    Path(id): Path<i64>,
) -> Result<StatusCode, ApiError> {
    st.app.end_session(&auth.user, SessionId(id)).await?;
    Ok(StatusCode::NO_CONTENT)
}
