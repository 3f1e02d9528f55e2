//! Request extractors whose rejections speak the error model: axum's own
//! answer in plain text, which clients cannot parse.

//!
//! They are also the door that keeps U+0000 out: no text a client sends in
//! a body, a query or a path may carry it (PostgreSQL cannot store it, and
//! one such row must never reach a shared transaction). The validated types
//! of `roomy-core` hold the same rule for the fields they parse.
//!
//! That door is why these are written by hand rather than derived
//! (`#[derive(FromRequest)] #[from_request(via(..), rejection(ApiError))]`):
//! a derived extractor only runs axum's and converts its rejection, while
//! each of these refuses first what axum would let through (`%00` in the
//! path or query, `\u0000` in the body with the field named) and `Json`
//! also checks the content type before reading and bounds the read by
//! [`BODY_DEADLINE`]. The conversions from axum's rejections are the `From`
//! impls below, which is all a derive would have contributed.

use crate::error::ApiError;
use crate::error::ErrorCode;
use axum::{
    body::Bytes,
    extract::{
        FromRequest, FromRequestParts, Request,
        rejection::{JsonRejection, PathRejection, QueryRejection},
    },
    http::{StatusCode, header, request::Parts},
    response::{IntoResponse, Response},
};
use roomy_core::{FieldErrors, validation::NUL_REFUSED};
use serde::{Serialize, de::DeserializeOwned};

/// How long a JSON body may take to arrive once its head has.
pub const BODY_DEADLINE: std::time::Duration = std::time::Duration::from_secs(30);

/// A JSON body, or a JSON answer. Unknown fields are refused by the DTOs
/// (`deny_unknown_fields`).
pub struct Json<T>(pub T);

/// Answers as axum's `Json` does, so a handler can use one `Json` both ways.
impl<T: Serialize> IntoResponse for Json<T> {
    fn into_response(self) -> Response {
        axum::Json(self.0).into_response()
    }
}

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for Json<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        if !is_json(req.headers()) {
            return Err(ApiError::UnsupportedMediaType);
        }
        // A JSON body is small (`max_json_bytes`): one still arriving after
        // this long is a client holding a connection, not a slow network.
        let read = tokio::time::timeout(BODY_DEADLINE, Bytes::from_request(req, state));
        let bytes = read.await.map_err(|_| ApiError::Protocol {
            status: StatusCode::REQUEST_TIMEOUT,
            code: ErrorCode::BodyTimeout,
            message: format!(
                "the request body did not arrive within {} seconds",
                BODY_DEADLINE.as_secs()
            ),
        })?;
        let bytes = bytes.map_err(|r| {
            if r.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::PayloadTooLarge
            } else {
                ApiError::BadRequest {
                    code: ErrorCode::UnreadableBody,
                    message: r.body_text(),
                }
            }
        })?;
        if let Some(field) = json_nul_field(&bytes) {
            return Err(nul_refused(&field));
        }
        let axum::Json(v) = axum::Json::<T>::from_bytes(&bytes)?;
        Ok(Json(v))
    }
}

/// `application/json` or any `application/*+json`, as axum's own `Json` accepts.
fn is_json(headers: &axum::http::HeaderMap) -> bool {
    let Some(ct) = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let essence = ct.split(';').next().unwrap_or_default().trim();
    let Some((kind, sub)) = essence.split_once('/') else {
        return false;
    };
    kind.eq_ignore_ascii_case("application")
        && (sub.eq_ignore_ascii_case("json")
            || sub.len() > 5 && sub[sub.len() - 5..].eq_ignore_ascii_case("+json"))
}

/// The 422 for a field carrying U+0000.
fn nul_refused(field: &str) -> ApiError {
    let mut fields = FieldErrors::new();
    fields.add(field, NUL_REFUSED);
    ApiError::Validation(fields)
}

/// Where a JSON body carries U+0000 in a string (its key path, `body` or
/// `ids.2`), if it does. JSON can only write it as the escape `\u0000`, so
/// a body without a backslash is passed at the cost of one scan; only a
/// body that has the escape is parsed to name the field.
pub fn json_nul_field(bytes: &[u8]) -> Option<String> {
    if !bytes.contains(&b'\\') || !bytes.windows(6).any(|w| w == b"\\u0000") {
        return None;
    }
    let value: serde_json::Value = serde_json::from_slice(bytes).ok()?;
    nul_path(&value, &mut Vec::new())
}

fn nul_path(v: &serde_json::Value, path: &mut Vec<String>) -> Option<String> {
    use serde_json::Value;
    let here = |path: &Vec<String>, last: Option<&str>| {
        let mut p = path.clone();
        p.extend(last.map(str::to_owned));
        if p.is_empty() {
            "body".to_owned()
        } else {
            p.join(".")
        }
    };
    match v {
        Value::String(s) if s.contains('\0') => Some(here(path, None)),
        Value::Array(items) => items.iter().enumerate().find_map(|(i, item)| {
            path.push(i.to_string());
            let found = nul_path(item, path);
            path.pop();
            found
        }),
        Value::Object(map) => map.iter().find_map(|(k, item)| {
            if k.contains('\0') {
                return Some(here(path, Some(&k.replace('\0', ""))));
            }
            path.push(k.clone());
            let found = nul_path(item, path);
            path.pop();
            found
        }),
        _ => None,
    }
}

/// The query parameter whose name or value decodes to text with U+0000.
fn query_nul_field(query: &str) -> Option<String> {
    if !query.contains("%00") {
        return None;
    }
    url::form_urlencoded::parse(query.as_bytes())
        .find(|(k, v)| k.contains('\0') || v.contains('\0'))
        .map(|(k, _)| k.replace('\0', ""))
}

impl From<JsonRejection> for ApiError {
    fn from(r: JsonRejection) -> ApiError {
        match r.status() {
            StatusCode::PAYLOAD_TOO_LARGE => ApiError::PayloadTooLarge,
            StatusCode::UNSUPPORTED_MEDIA_TYPE => ApiError::UnsupportedMediaType,
            _ => match r {
                JsonRejection::JsonDataError(e) => ApiError::Unprocessable {
                    code: ErrorCode::InvalidBody,
                    message: e.body_text(),
                },
                JsonRejection::JsonSyntaxError(e) => ApiError::BadRequest {
                    code: ErrorCode::MalformedJson,
                    message: e.body_text(),
                },
                other => ApiError::BadRequest {
                    code: ErrorCode::UnreadableBody,
                    message: other.body_text(),
                },
            },
        }
    }
}

/// Path parameters; a malformed one (`/users/abc`) is a 400.
pub struct Path<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for Path<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        if parts.uri.path().contains("%00") {
            return Err(nul_refused("path"));
        }
        let axum::extract::Path(v) =
            axum::extract::Path::<T>::from_request_parts(parts, state).await?;
        Ok(Path(v))
    }
}

impl From<PathRejection> for ApiError {
    fn from(e: PathRejection) -> ApiError {
        ApiError::BadRequest {
            code: ErrorCode::InvalidPath,
            message: e.body_text(),
        }
    }
}

/// Query parameters; unparsable ones are a 400.
pub struct Query<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for Query<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        if let Some(field) = parts.uri.query().and_then(query_nul_field) {
            return Err(nul_refused(&field));
        }
        let axum::extract::Query(v) =
            axum::extract::Query::<T>::from_request_parts(parts, state).await?;
        Ok(Query(v))
    }
}

impl From<QueryRejection> for ApiError {
    fn from(e: QueryRejection) -> ApiError {
        ApiError::BadRequest {
            code: ErrorCode::InvalidQuery,
            message: e.body_text(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nul_is_found_where_it_is_and_nowhere_else() {
        assert_eq!(
            json_nul_field(br#"{"body":"a\u0000b"}"#).as_deref(),
            Some("body")
        );
        assert_eq!(
            json_nul_field(br#"{"ids":[1,{"x":"\u0000"}]}"#).as_deref(),
            Some("ids.1.x")
        );
        assert_eq!(json_nul_field(br#""\u0000""#).as_deref(), Some("body"));
        // An escaped backslash followed by the letters is only text.
        assert_eq!(json_nul_field(br#"{"body":"\\u0000"}"#), None);
        assert_eq!(json_nul_field(br#"{"body":"plain"}"#), None);
        assert_eq!(query_nul_field("q=a%00b&limit=2").as_deref(), Some("q"));
        assert_eq!(query_nul_field("q=a%2500b"), None);
        assert_eq!(query_nul_field("q=ok"), None);
    }
}
