//! The caller's own account: profile, password and sessions.

use crate::error::ErrorCode;
use crate::{
    auth::Auth,
    dto::{Me, PasswordChange, ProfilePatch, SessionView},
    error::{ApiError, ErrorBody},
    extract::{Json, Path, Query},
    pagination::{Page, PageParams, page_of},
    state::AppState,
};
use axum::{extract::State, http::StatusCode};
use roomy_core::{
    FieldErrors, SessionId,
    user_fields::{AvatarUrl, Nickname, Password},
};
use roomy_store::ProfileChanges;

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
    let mut errors = FieldErrors::new();
    let changes = ProfileChanges {
        nickname: patch
            .nickname
            .as_deref()
            .and_then(|n| errors.check("nickname", Nickname::parse(n))),
        avatar: match patch.avatar {
            None => None,
            Some(None) => Some(None),
            Some(Some(a)) if a.is_empty() => Some(None),
            Some(Some(a)) => errors.check("avatar", AvatarUrl::parse(&a)).map(Some),
        },
        invite_confirm: match patch.invite_confirm {
            None => None,
            Some(0) => Some(false),
            Some(1) => Some(true),
            Some(_) => {
                errors.add("invite_confirm", "must be 0 or 1");
                None
            }
        },
        read_receipts: patch.read_receipts,
    };
    errors.into_result()?;
    let user = st
        .app
        .store
        .update_profile(auth.user.id, changes, st.app.clock.now())
        .await?;
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
    let hash = st
        .app
        .store
        .credentials(auth.user.id)
        .await?
        .and_then(|c| c.password_hash);
    if hash.is_none() {
        return Err(ApiError::forbidden(
            ErrorCode::NoPassword,
            "guest accounts have no password",
        ));
    }
    if req.old_password.chars().count() > Password::MAX
        || !st.passwords.verify(hash, &req.old_password).await?
    {
        st.limiter.record_failure(&account, &ip, st.app.clock.now());
        return Err(ApiError::forbidden(
            ErrorCode::WrongPassword,
            "the old password is not correct",
        ));
    }
    let new_hash = st.passwords.hash(&new).await?;
    st.app
        .store
        .set_password(auth.user.id, new_hash, auth.session.id, st.app.clock.now())
        .await?;
    super::announce_sessions_ended(&st, auth.user.id, Some(auth.session.id), None);
    Ok(StatusCode::NO_CONTENT)
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
    let now = st.app.clock.now();
    let max_age = st.settings.abuse.session_max_age;
    let sessions: Vec<_> = st
        .app
        .store
        .active_sessions(auth.user.id, now)
        .await?
        .into_iter()
        .filter(|s| before.is_none_or(|b| s.id.0 < b) && s.created_at + max_age > now)
        .take(limit as usize + 1)
        .collect();
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
    if st
        .app
        .store
        .revoke_session(auth.user.id, SessionId(id), st.app.clock.now())
        .await?
    {
        super::announce_sessions_ended(&st, auth.user.id, None, Some(SessionId(id)));
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found(
            ErrorCode::SessionNotFound,
            "no such active session of yours",
        ))
    }
}
