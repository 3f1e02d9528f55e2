//! Request extractors whose rejections speak the error model: axum's own
//! answer in plain text, which clients cannot parse.

use crate::error::ApiError;
use axum::{
    extract::{FromRequest, FromRequestParts, Request, rejection::JsonRejection},
    http::{StatusCode, request::Parts},
};
use serde::de::DeserializeOwned;

/// A JSON body. Unknown fields are refused by the DTOs (`deny_unknown_fields`).
pub struct Json<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for Json<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(v)) => Ok(Json(v)),
            Err(rejection) => Err(json_rejection(rejection)),
        }
    }
}

fn json_rejection(r: JsonRejection) -> ApiError {
    match r.status() {
        StatusCode::PAYLOAD_TOO_LARGE => ApiError::PayloadTooLarge,
        StatusCode::UNSUPPORTED_MEDIA_TYPE => ApiError::UnsupportedMediaType,
        _ => match r {
            JsonRejection::JsonDataError(e) => ApiError::Unprocessable {
                code: "invalid_body",
                message: e.body_text(),
            },
            JsonRejection::JsonSyntaxError(e) => ApiError::BadRequest {
                code: "malformed_json",
                message: e.body_text(),
            },
            other => ApiError::BadRequest {
                code: "unreadable_body",
                message: other.body_text(),
            },
        },
    }
}

/// Path parameters; a malformed one (`/users/abc`) is a 400.
pub struct Path<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for Path<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Path(v)| Path(v))
            .map_err(|e| ApiError::BadRequest {
                code: "invalid_path",
                message: e.body_text(),
            })
    }
}

/// Query parameters; unparsable ones are a 400.
pub struct Query<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for Query<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Query(v)| Query(v))
            .map_err(|e| ApiError::BadRequest {
                code: "invalid_query",
                message: e.body_text(),
            })
    }
}
