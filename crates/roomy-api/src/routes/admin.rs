//! Administration (accounts with the admin role) over HTTP: accounts, every
//! message, and the audit log of what admins did. Every route here answers
//! 403 to non-admins; the rules live in `roomy_app::moderation`.

use crate::{
    dto::{AdminMessageQuery, AdminUser, AdminUserPatch, AuditView, MessageView, RemovalQuery},
    error::{ApiError, ErrorBody},
    extract::{Json, Path, Query},
    guard::Auth,
    pagination::{Page, PageParams, page_of},
    state::AppState,
};
use axum::extract::State;
use roomy_app::moderation::{MessageSearch, UserModeration, require_admin};
use roomy_core::{MessageId, RoomId, UserId};

/// Disable or re-enable a user (audited). Disabling ends all its sessions
/// and closes its live connections at once.
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
    let change = UserModeration {
        disabled: patch.disabled,
        reason: patch.reason,
    };
    let user = st.app.moderate_user(&auth.user, UserId(id), change).await?;
    Ok(axum::Json(user.into()))
}

/// Search every message, newest first: by room, sender, kind, text and
/// time. Revoked and removed messages show as such, without their body.
#[utoipa::path(get, path = "/api/v1/admin/messages", tag = "admin", security(("bearer" = [])),
    params(AdminMessageQuery),
    responses(
        (status = 200, body = Page<MessageView>),
        (status = 403, description = "not an administrator", body = ErrorBody),
        (status = 422, body = ErrorBody),
    ))]
pub async fn messages(
    State(st): State<AppState>,
    auth: Auth,
    Query(q): Query<AdminMessageQuery>,
) -> Result<axum::Json<Page<MessageView>>, ApiError> {
    // Non-admins hear so before anything of their query is judged.
    require_admin(&auth.user)?;
    let page = PageParams {
        limit: q.limit,
        cursor: q.cursor.clone(),
    };
    let limit = page.limit()?;
    let search = MessageSearch::parse(
        q.room_id.map(RoomId),
        q.sender_id.map(UserId),
        q.q.as_deref(),
        q.kind.as_deref(),
        q.from.as_deref(),
        q.to.as_deref(),
    )?;
    let rows = st
        .app
        .admin_messages(&auth.user, search, page.after()?.map(MessageId), limit + 1)
        .await?;
    Ok(axum::Json(page_of(rows, limit, |m| m.id.0, Into::into)))
}

/// Remove any message for everyone (audited: who, when, what, why). Its
/// room gets `revoked` and a notice; removing again changes nothing.
#[utoipa::path(delete, path = "/api/v1/admin/messages/{id}", tag = "admin", security(("bearer" = [])),
    params(("id" = i64, Path, description = "message id"), RemovalQuery),
    responses(
        (status = 200, description = "the message, removed", body = MessageView),
        (status = 403, description = "not an administrator", body = ErrorBody),
        (status = 404, body = ErrorBody),
    ))]
pub async fn remove_message(
    State(st): State<AppState>,
    auth: Auth,
    Path(id): Path<i64>,
    Query(q): Query<RemovalQuery>,
) -> Result<axum::Json<MessageView>, ApiError> {
    let removed = st
        .app
        .remove_message(&auth.user, MessageId(id), q.reason)
        .await?;
    Ok(axum::Json(removed.into()))
}

/// The audit log, newest first.
#[utoipa::path(get, path = "/api/v1/admin/audit", tag = "admin", security(("bearer" = [])),
    params(PageParams),
    responses(
        (status = 200, body = Page<AuditView>),
        (status = 403, description = "not an administrator", body = ErrorBody),
    ))]
pub async fn audit(
    State(st): State<AppState>,
    auth: Auth,
    Query(page): Query<PageParams>,
) -> Result<axum::Json<Page<AuditView>>, ApiError> {
    require_admin(&auth.user)?;
    let limit = page.limit()?;
    let rows = st
        .app
        .audit_log(&auth.user, page.after()?, limit + 1)
        .await?;
    Ok(axum::Json(page_of(rows, limit, |e| e.id, Into::into)))
}
