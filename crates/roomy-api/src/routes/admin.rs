//! Administration (seed 003's admin role): accounts, every message, and the
//! audit log of what admins did. Every route here answers 403 to non-admins.

use super::lifecycle::revocation_envelopes;
use crate::error::ErrorCode;
use crate::{
    auth::Auth,
    dto::{AdminMessageQuery, AdminUser, AdminUserPatch, AuditView, MessageView, RemovalQuery},
    error::{ApiError, ErrorBody},
    extract::{Json, Path, Query},
    pagination::{Page, PageParams, page_of},
    state::AppState,
};
use axum::extract::State;
use roomy_core::{MessageId, RoomId, UserId, chat_fields::MessageKind};
use roomy_store::{AdminMessageFilter, NewAudit, Revoker, StoreError};
use time::{OffsetDateTime, format_description::well_known::Rfc3339};

/// Longest reason kept in the audit log, in characters.
const MAX_REASON_CHARS: usize = 500;

fn reason(r: Option<String>) -> Result<Option<String>, ApiError> {
    match r.map(|r| r.trim().to_owned()) {
        Some(r) if r.chars().count() > MAX_REASON_CHARS => Err(ApiError::field(
            "reason",
            format!("at most {MAX_REASON_CHARS} characters"),
        )),
        Some(r) if r.is_empty() => Ok(None),
        other => Ok(other),
    }
}

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
    auth.require_admin()?;
    let id = UserId(id);
    let why = reason(patch.reason)?;
    let not_found = |e| match e {
        StoreError::NotFound => ApiError::not_found(ErrorCode::UserNotFound, "no such user"),
        other => other.into(),
    };
    let user = match patch.disabled {
        Some(true) if id == auth.user.id => {
            return Err(ApiError::Unprocessable {
                code: ErrorCode::CannotDisableSelf,
                message: "administrators cannot disable their own account".into(),
            });
        }
        Some(disabled) => {
            let before = st
                .app
                .store
                .user(id)
                .await?
                .ok_or(StoreError::NotFound)
                .map_err(not_found)?;
            let entry = NewAudit {
                actor: auth.user.id,
                action: if disabled {
                    "disable_user"
                } else {
                    "enable_user"
                },
                target_type: "user",
                target_id: id.0,
                reason: why,
                detail: serde_json::json!({
                    "username": before.username,
                    "was_disabled": before.disabled,
                })
                .to_string(),
            };
            st.app
                .store
                .moderate_user(entry, disabled, st.app.clock.now())
                .await
                .map_err(not_found)?
        }
        None => st
            .app
            .store
            .user(id)
            .await?
            .ok_or(StoreError::NotFound)
            .map_err(not_found)?,
    };
    if user.disabled {
        super::announce_sessions_ended(&st, user.id, None, None);
    }
    Ok(axum::Json(user.into()))
}

fn instant(field: &str, s: Option<&str>) -> Result<Option<OffsetDateTime>, ApiError> {
    s.map(|s| {
        OffsetDateTime::parse(s, &Rfc3339)
            .map_err(|_| ApiError::field(field, "must be an RFC 3339 time"))
    })
    .transpose()
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
    auth.require_admin()?;
    let page = PageParams {
        limit: q.limit,
        cursor: q.cursor.clone(),
    };
    let limit = page.limit()?;
    let text = match q.q.as_deref().map(str::trim) {
        Some(t) if t.is_empty() || t.chars().count() > 200 => {
            return Err(ApiError::field("q", "1 to 200 characters"));
        }
        other => other.map(str::to_owned),
    };
    let kind = match q.kind.as_deref() {
        None => None,
        Some(k) => Some(MessageKind::parse(k).ok_or_else(|| {
            ApiError::field("kind", "must be text, image, file, video or system")
        })?),
    };
    let filter = AdminMessageFilter {
        room: q.room_id.map(RoomId),
        sender: q.sender_id.map(UserId),
        text,
        from: instant("from", q.from.as_deref())?,
        to: instant("to", q.to.as_deref())?,
        kind,
        before: page.after()?.map(MessageId),
    };
    let rows = st.app.store.admin_messages(filter, limit + 1).await?;
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
    auth.require_admin()?;
    let why = reason(q.reason)?;
    let admin = auth.user.id;
    let now = st.app.clock.now();
    let removed = st
        .app
        .writer
        .exclusive(move |store| async move {
            let result = store
                .revoke_message(
                    MessageId(id),
                    Revoker::Admin { admin, reason: why },
                    "An administrator removed a message".to_owned(),
                    now,
                )
                .await
                .map_err(|e| match e {
                    StoreError::NotFound => super::lifecycle::message_not_found(),
                    other => other.into(),
                });
            let envelopes = match &result {
                Ok(r) => revocation_envelopes(r, true),
                Err(_) => Vec::new(),
            };
            (result, envelopes)
        })
        .await??;
    Ok(axum::Json(removed.message.into()))
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
    auth.require_admin()?;
    let limit = page.limit()?;
    let rows = st.app.store.audit_log(page.after()?, limit + 1).await?;
    Ok(axum::Json(page_of(rows, limit, |e| e.id, Into::into)))
}
