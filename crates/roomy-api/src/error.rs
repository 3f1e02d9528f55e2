//! The one error type of the HTTP layer. Every failure leaves the server as
//! `{"error": {"code", "message", "fields"?}}` with a stable snake_case `code`;
//! the causes of 5xx errors are logged and never sent.

use axum::{
    Json,
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use roomy_core::FieldErrors;
use roomy_store::{Conflict, StoreError};
use serde::Serialize;
use std::collections::BTreeMap;

pub use crate::codes::ErrorCode;

/// Why a request failed, as far as the client is concerned.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 422: one or more fields are invalid; `fields` says which and why.
    #[error("validation failed")]
    Validation(FieldErrors),
    /// 422: the request is well-formed but cannot be carried out as asked.
    #[error("{message}")]
    Unprocessable { code: ErrorCode, message: String },
    /// 400: the request could not be read (malformed JSON, bad path or query).
    #[error("{message}")]
    BadRequest { code: ErrorCode, message: String },
    /// 401: no valid credentials.
    #[error("{message}")]
    Unauthenticated {
        code: ErrorCode,
        message: &'static str,
    },
    /// 403: authenticated, but not allowed.
    #[error("{message}")]
    Forbidden {
        code: ErrorCode,
        message: &'static str,
    },
    /// 404: missing, or not visible to the caller.
    #[error("{message}")]
    NotFound {
        code: ErrorCode,
        message: &'static str,
    },
    /// 405: the path exists but not with this method.
    #[error("method not allowed")]
    MethodNotAllowed,
    /// 409: conflicts with the current state.
    #[error("{message}")]
    Conflict {
        code: ErrorCode,
        message: String,
        fields: FieldErrors,
    },
    /// 413: the body is over the configured cap.
    #[error("request body too large")]
    PayloadTooLarge,
    /// 415: the body is not JSON.
    #[error("expected a JSON body with Content-Type: application/json")]
    UnsupportedMediaType,
    /// 429: try again after `retry_after_secs`.
    #[error("too many attempts; retry after {retry_after_secs} seconds")]
    RateLimited { retry_after_secs: u64 },
    /// 503: a dependency (the database) is unreachable.
    #[error("service unavailable")]
    Unavailable(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// 500: a bug or an infrastructure failure; details are logged only.
    #[error("internal error")]
    Internal(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// 413 with a specific code: a file over the size limit or the quota.
    #[error("{message}")]
    TooLarge { code: ErrorCode, message: String },
    /// A status a protocol prescribes (tus: 412, 460, ...), with a code.
    #[error("{message}")]
    Protocol {
        status: StatusCode,
        code: ErrorCode,
        message: String,
    },
    /// 410: it existed but can no longer be used (an expired or revoked link).
    #[error("{message}")]
    Gone {
        code: ErrorCode,
        message: &'static str,
    },
    /// 403 that names what was refused: `fields` says which.
    #[error("{message}")]
    Refused {
        code: ErrorCode,
        message: String,
        fields: FieldErrors,
    },
}

impl ApiError {
    /// The HTTP status this error maps to.
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::Validation(_) | ApiError::Unprocessable { .. } => {
                StatusCode::UNPROCESSABLE_ENTITY
            }
            ApiError::BadRequest { .. } => StatusCode::BAD_REQUEST,
            ApiError::Unauthenticated { .. } => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden { .. } | ApiError::Refused { .. } => StatusCode::FORBIDDEN,
            ApiError::NotFound { .. } => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::Conflict { .. } => StatusCode::CONFLICT,
            ApiError::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
            ApiError::Gone { .. } => StatusCode::GONE,
            ApiError::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::Protocol { status, .. } => *status,
        }
    }

    /// The stable machine-readable code.
    pub fn code(&self) -> ErrorCode {
        match self {
            ApiError::Validation(_) => ErrorCode::ValidationFailed,
            ApiError::Unprocessable { code, .. }
            | ApiError::BadRequest { code, .. }
            | ApiError::Unauthenticated { code, .. }
            | ApiError::Forbidden { code, .. }
            | ApiError::NotFound { code, .. }
            | ApiError::Conflict { code, .. }
            | ApiError::Gone { code, .. }
            | ApiError::TooLarge { code, .. }
            | ApiError::Protocol { code, .. }
            | ApiError::Refused { code, .. } => *code,
            ApiError::MethodNotAllowed => ErrorCode::MethodNotAllowed,
            ApiError::PayloadTooLarge => ErrorCode::PayloadTooLarge,
            ApiError::UnsupportedMediaType => ErrorCode::UnsupportedMediaType,
            ApiError::RateLimited { .. } => ErrorCode::RateLimited,
            ApiError::Unavailable(_) => ErrorCode::Unavailable,
            ApiError::Internal(_) => ErrorCode::Internal,
        }
    }

    /// A single-field validation error.
    pub fn field(field: &str, why: impl Into<String>) -> ApiError {
        let mut f = FieldErrors::new();
        f.add(field, why);
        ApiError::Validation(f)
    }

    /// 404 with a specific code.
    pub fn not_found(code: ErrorCode, message: &'static str) -> ApiError {
        ApiError::NotFound { code, message }
    }

    /// 403 with a specific code.
    pub fn forbidden(code: ErrorCode, message: &'static str) -> ApiError {
        ApiError::Forbidden { code, message }
    }

    /// 409 with a specific code.
    pub fn conflict(code: ErrorCode, message: impl Into<String>) -> ApiError {
        ApiError::Conflict {
            code,
            message: message.into(),
            fields: FieldErrors::new(),
        }
    }

    /// 410 with a specific code.
    pub fn gone(code: ErrorCode, message: &'static str) -> ApiError {
        ApiError::Gone { code, message }
    }

    /// Wraps an unexpected failure.
    pub fn internal(e: impl std::error::Error + Send + Sync + 'static) -> ApiError {
        ApiError::Internal(Box::new(e))
    }
}

impl From<FieldErrors> for ApiError {
    fn from(f: FieldErrors) -> Self {
        ApiError::Validation(f)
    }
}

impl From<roomy_app::WriteError> for ApiError {
    fn from(e: roomy_app::WriteError) -> Self {
        match e {
            roomy_app::WriteError::Stopped => ApiError::Unavailable(Box::new(e)),
            roomy_app::WriteError::Store(_) => ApiError::Internal(Box::new(e)),
            roomy_app::WriteError::Rejected(why) => {
                tracing::warn!(error = %why, "a message the database refused");
                ApiError::Unprocessable {
                    code: ErrorCode::MessageRejected,
                    message: "the database could not store this message".into(),
                }
            }
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            // Whatever kind is missing, clients hear the generic 404: the
            // app layer names the kinds a route can miss before this.
            StoreError::NotFound(_) => ApiError::not_found(ErrorCode::NotFound, "not found"),
            StoreError::Conflict(Conflict::Username) => {
                let mut fields = FieldErrors::new();
                fields.add("username", "is already taken");
                ApiError::Conflict {
                    code: ErrorCode::UsernameTaken,
                    message: "that username is already taken".into(),
                    fields,
                }
            }
            StoreError::Refused(why) => refusal(why),
            StoreError::QuotaExceeded { used, quota } => ApiError::TooLarge {
                code: ErrorCode::QuotaExceeded,
                message: format!(
                    "this would exceed your storage quota ({used} of {quota} bytes used)"
                ),
            },
            StoreError::TooManyUploads(max) => ApiError::Conflict {
                code: ErrorCode::TooManyUploads,
                message: format!("at most {max} unfinished uploads: finish or cancel one first"),
                fields: FieldErrors::new(),
            },
            StoreError::MembersRefused(refused) => refused_members(&refused, "user_ids"),
            StoreError::Conflict(what) => ApiError::Conflict {
                code: ErrorCode::Conflict,
                message: format!("{what} already exists"),
                fields: FieldErrors::new(),
            },
            StoreError::Unavailable(e) => ApiError::Unavailable(e),
            other => ApiError::Internal(Box::new(other)),
        }
    }
}

/// The error a social-graph refusal is, for HTTP and WebSocket alike.
pub fn refusal(why: roomy_store::Refusal) -> ApiError {
    use roomy_store::Refusal as R;
    let conflict = |code: ErrorCode, message: &str| ApiError::Conflict {
        code,
        message: message.to_owned(),
        fields: FieldErrors::new(),
    };
    match why {
        R::Blocked => ApiError::forbidden(ErrorCode::Blocked, "this user has blocked you"),
        R::YouBlocked => ApiError::forbidden(
            ErrorCode::YouBlockedUser,
            "you have blocked this user; unblock them first",
        ),
        R::NotFriends => ApiError::forbidden(
            ErrorCode::NotFriends,
            "direct messages need friendship: send a friend request first",
        ),
        R::UserDisabled => ApiError::forbidden(ErrorCode::UserDisabled, "this account is disabled"),
        R::NotRequestTarget => ApiError::forbidden(
            ErrorCode::NotRequestTarget,
            "only the user a request was sent to may answer it",
        ),
        R::AlreadyFriends => conflict(ErrorCode::AlreadyFriends, "you are friends already"),
        R::RequestPending => conflict(
            ErrorCode::RequestPending,
            "you already sent this user a request that awaits an answer",
        ),
        R::IncomingRequestPending => conflict(
            ErrorCode::IncomingRequestPending,
            "this user already sent you a request: answer it instead",
        ),
        R::AlreadyAnswered => conflict(
            ErrorCode::AlreadyAnswered,
            "this request was answered already",
        ),
        R::Guest => ApiError::forbidden(
            ErrorCode::GuestForbidden,
            "guests join groups only by invite link",
        ),
        R::Banned => ApiError::forbidden(
            ErrorCode::Banned,
            "an admin removed you from this group; only an owner or admin can let you back",
        ),
    }
}

/// The 403 for users who may not be put in a group: the code of the
/// gravest refusal (`blocked`, `you_blocked_user`, `guest_forbidden`,
/// `not_friends`), every refused user with its code in the message, and
/// their ids under `field`.
pub fn refused_members(
    refused: &[(roomy_core::UserId, roomy_store::Refusal)],
    field: &str,
) -> ApiError {
    use roomy_store::Refusal as R;
    let gravity = |why: &R| match why {
        R::Blocked => 0,
        R::YouBlocked => 1,
        R::Guest => 2,
        _ => 3,
    };
    let code = refused
        .iter()
        .min_by_key(|(_, why)| gravity(why))
        .map_or(ErrorCode::Forbidden, |(_, why)| refusal(*why).code());
    let each: Vec<String> = refused
        .iter()
        .map(|(id, why)| format!("{} ({})", id.0, refusal(*why).code()))
        .collect();
    let ids: Vec<String> = refused.iter().map(|(id, _)| id.0.to_string()).collect();
    let mut fields = FieldErrors::new();
    fields.add(field, ids.join(", "));
    ApiError::Refused {
        code,
        message: format!(
            "you may not put these users in a group: {} (an invite link lets them join)",
            each.join(", ")
        ),
        fields,
    }
}

/// The wire shape of an error body.
#[derive(Debug, Serialize, utoipa::ToSchema, ts_rs::TS)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

/// The inside of an error body.
#[derive(Debug, Serialize, utoipa::ToSchema, ts_rs::TS)]
pub struct ErrorDetail {
    /// Stable snake_case code, for programs.
    pub code: ErrorCode,
    /// Human-readable explanation, for people.
    pub message: String,
    /// Field name → why it was refused (validation errors only).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub fields: Option<BTreeMap<String, String>>,
}

/// Renders the full cause chain of an error for the log.
fn chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        out.push_str(": ");
        out.push_str(&c.to_string());
        cur = c.source();
    }
    out
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        if status.is_server_error() {
            tracing::error!(code = self.code().as_str(), error = %chain(&self), "request failed");
        }
        let fields = match &self {
            ApiError::Validation(f) => Some(f.0.clone()),
            ApiError::Conflict { fields, .. } | ApiError::Refused { fields, .. }
                if !fields.is_empty() =>
            {
                Some(fields.0.clone())
            }
            _ => None,
        };
        let message = match &self {
            ApiError::Validation(_) => "some fields are invalid; see `fields`".to_owned(),
            ApiError::RateLimited { retry_after_secs } => {
                format!("too many attempts; retry after {retry_after_secs} seconds")
            }
            other => other.to_string(),
        };
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code(),
                message,
                fields,
            },
        };
        let mut resp = (status, Json(body)).into_response();
        if let ApiError::RateLimited { retry_after_secs } = self {
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs));
        }
        resp
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::to_bytes;

    #[tokio::test]
    async fn server_errors_reveal_nothing_internal() {
        let e = ApiError::internal(std::io::Error::other("disk /var/secret is on fire"));
        let resp = e.into_response();
        assert_eq!(resp.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let body = to_bytes(resp.into_body(), 1 << 16).await.expect("body");
        let text = String::from_utf8_lossy(&body);
        assert!(!text.contains("secret") && !text.contains("fire"), "{text}");
        assert!(text.contains("\"code\":\"internal\""));
    }

    #[test]
    fn rate_limits_carry_retry_after() {
        let resp = ApiError::RateLimited {
            retry_after_secs: 42,
        }
        .into_response();
        assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(resp.headers()[header::RETRY_AFTER], "42");
    }
}
