//! Administration of accounts.

use crate::{
    auth::Auth,
    dto::{AdminUser, AdminUserPatch},
    error::{ApiError, ErrorBody},
    extract::{Json, Path},
    state::AppState,
};
use axum::extract::State;
use roomy_core::UserId;

/// Disable or re-enable a user. Disabling ends all its sessions at once.
#[utoipa::path(patch, path = "/api/v1/admin/users/{id}", tag = "admin", security(("bearer" = [])),
    params(("id" = i64, Path, description = "user id")),
    request_body = AdminUserPatch,
    responses(
        (status = 200, body = AdminUser),
        (status = 403, description = "not an administrator", body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody),
    ))]
pub async fn patch_user(
    State(st): State<AppState>,
    auth: Auth,
    Path(id): Path<i64>,
    Json(patch): Json<AdminUserPatch>,
) -> Result<axum::Json<AdminUser>, ApiError> {
    auth.require_admin()?;
    let id = UserId(id);
    let user = match patch.disabled {
        Some(true) if id == auth.user.id => {
            return Err(ApiError::Unprocessable {
                code: "cannot_disable_self",
                message: "administrators cannot disable their own account".into(),
            });
        }
        Some(disabled) => st.store.set_disabled(id, disabled, st.clock.now()).await,
        None => st
            .store
            .user(id)
            .await?
            .ok_or(roomy_store::StoreError::NotFound),
    }
    .map_err(|e| match e {
        roomy_store::StoreError::NotFound => ApiError::not_found("user_not_found", "no such user"),
        other => other.into(),
    })?;
    if user.disabled {
        super::announce_sessions_ended(&st, user.id, None, None);
    }
    Ok(axum::Json(user.into()))
}
