//! Files: the one-request upload for small files, downloads with HTTP
//! Range, thumbnails and video cover frames.
//!
//! Who may read a file is `App`'s rule (404 for everyone else, as for a
//! file that does not exist). What is served is labelled with the type
//! sniffed from the bytes, as an attachment, and with a sandboxing CSP: an
//! upload never runs as a page.

use crate::error::ErrorCode;
use crate::{
    dto::FileView,
    error::{ApiError, ErrorBody},
    extract::{Path, Query},
    guard::Auth,
    range::{RangeAnswer, parse_range},
    state::AppState,
};
use axum::{
    body::Body,
    extract::{Multipart, State},
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use futures_util::StreamExt;
use roomy_app::files::stored::{Derived, FrameQuery};
use roomy_core::FileId;
use serde::Deserialize;

/// Multipart framing allowed on top of the file's own bytes.
const MULTIPART_OVERHEAD: u64 = 64 * 1024;

/// Upload a small file in one request (multipart field `file`), streamed
/// to storage. Larger files should use the resumable `/api/v1/uploads`.
#[utoipa::path(post, path = "/api/v1/files", tag = "files", security(("bearer" = [])),
    request_body(content_type = "multipart/form-data", description = "field `file`"),
    responses(
        (status = 201, body = FileView),
        (status = 400, body = ErrorBody),
        (status = 413, description = "over the size limit (`too_large`) or the quota (`quota_exceeded`)", body = ErrorBody),
        (status = 422, body = ErrorBody),
    ))]
pub async fn upload(
    State(st): State<AppState>,
    auth: Auth,
    headers: HeaderMap,
    mut multipart: Multipart,
) -> Result<(StatusCode, axum::Json<FileView>), ApiError> {
    // Refuse before storing a byte what the request says is too big; a
    // request that does not say belongs on the resumable uploads.
    let len = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
        .ok_or(ApiError::Protocol {
            status: StatusCode::LENGTH_REQUIRED,
            code: ErrorCode::LengthRequired,
            message: "send Content-Length (or use the resumable /api/v1/uploads)".into(),
        })?;
    st.app
        .admit_file(&auth.user, len, MULTIPART_OVERHEAD)
        .await?;
    let multipart_error = |e: axum::extract::multipart::MultipartError| ApiError::BadRequest {
        code: ErrorCode::InvalidMultipart,
        message: e.body_text(),
    };
    while let Some(field) = multipart.next_field().await.map_err(multipart_error)? {
        if field.name() != Some("file") {
            continue;
        }
        let name = field.file_name().unwrap_or("").to_owned();
        let body = field.map(|chunk| chunk.map_err(|e| e.body_text()));
        let stored = st.app.store_file(&auth.user, &name, body).await?;
        return Ok((StatusCode::CREATED, axum::Json(stored.into())));
    }
    Err(ApiError::field(
        "file",
        "send the file in a multipart field named `file`",
    ))
}

/// A file's description.
#[utoipa::path(get, path = "/api/v1/files/{id}/meta", tag = "files", security(("bearer" = [])),
    params(("id" = i64, Path, description = "file id")),
    responses((status = 200, body = FileView), (status = 404, body = ErrorBody)))]
pub async fn meta(
    State(st): State<AppState>,
    auth: Auth,
    Path(id): Path<i64>,
) -> Result<axum::Json<FileView>, ApiError> {
    Ok(axum::Json(
        st.app.readable_file(auth.user.id, FileId(id)).await?.into(),
    ))
}

/// Headers every served object carries: what it is (as sniffed), that the
/// browser must not guess otherwise, and that it never runs as a page.
fn object_headers(mime: &str, disposition: Option<&str>) -> HeaderMap {
    let mut h = HeaderMap::new();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_str(mime)
            .unwrap_or_else(|_| HeaderValue::from_static("application/octet-stream")),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("sandbox; default-src 'none'"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("private"));
    if let Some(d) = disposition.and_then(|d| HeaderValue::from_str(d).ok()) {
        h.insert(header::CONTENT_DISPOSITION, d);
    }
    h
}

/// Download a file: `Range: bytes=...` gives 206 with that part (resumable
/// downloads); `If-Range` with the ETag guards a resume against a change.
#[utoipa::path(get, path = "/api/v1/files/{id}", tag = "files", security(("bearer" = [])),
    params(("id" = i64, Path, description = "file id")),
    responses(
        (status = 200, description = "the whole file"),
        (status = 206, description = "the requested range"),
        (status = 404, body = ErrorBody),
        (status = 416, description = "the range starts past the end"),
    ))]
pub async fn download(
    State(st): State<AppState>,
    auth: Auth,
    Path(id): Path<i64>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let file = st.app.readable_file(auth.user.id, FileId(id)).await?;
    let size = file.size as u64;
    let etag = format!("\"{}\"", file.sha256);
    let range_header = headers.get(header::RANGE).and_then(|v| v.to_str().ok());
    let if_range_ok = headers
        .get(header::IF_RANGE)
        .and_then(|v| v.to_str().ok())
        .is_none_or(|v| v == etag);
    let answer = if if_range_ok {
        parse_range(range_header, size)
    } else {
        RangeAnswer::Whole
    };
    let disposition = roomy_media::content_disposition(&file.name, false);
    let mut h = object_headers(&file.mime, Some(&disposition));
    h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    if let Ok(v) = HeaderValue::from_str(&etag) {
        h.insert(header::ETAG, v);
    }
    let (status, range) = match answer {
        RangeAnswer::Whole => (StatusCode::OK, 0..size),
        RangeAnswer::Part(r) => {
            let cr = format!("bytes {}-{}/{size}", r.start, r.end - 1);
            h.insert(
                header::CONTENT_RANGE,
                HeaderValue::from_str(&cr).map_err(ApiError::internal)?,
            );
            (StatusCode::PARTIAL_CONTENT, r)
        }
        RangeAnswer::Unsatisfiable => {
            let mut resp = ApiError::Protocol {
                status: StatusCode::RANGE_NOT_SATISFIABLE,
                code: ErrorCode::RangeNotSatisfiable,
                message: format!("the file has {size} bytes"),
            }
            .into_response();
            resp.headers_mut().insert(
                header::CONTENT_RANGE,
                HeaderValue::from_str(&format!("bytes */{size}")).map_err(ApiError::internal)?,
            );
            return Ok(resp);
        }
    };
    h.insert(
        header::CONTENT_LENGTH,
        HeaderValue::from(range.end - range.start),
    );
    let body = if range.is_empty() {
        Body::empty()
    } else {
        Body::from_stream(st.app.file_range(&file, range).await?)
    };
    Ok((status, h, body).into_response())
}

/// Serves a small derived image (thumbnail, cover, frame) whole.
fn small_object(image: Derived) -> Response {
    let h = object_headers(&image.mime, None);
    (StatusCode::OK, h, image.bytes).into_response()
}

/// An image's thumbnail (404 `no_thumbnail` until it is made, or for other files).
#[utoipa::path(get, path = "/api/v1/files/{id}/thumbnail", tag = "files", security(("bearer" = [])),
    params(("id" = i64, Path, description = "file id")),
    responses((status = 200, description = "image/jpeg or image/png"), (status = 404, body = ErrorBody)))]
pub async fn thumbnail(
    State(st): State<AppState>,
    auth: Auth,
    Path(id): Path<i64>,
) -> Result<Response, ApiError> {
    let image = st.app.thumbnail(auth.user.id, FileId(id)).await?;
    Ok(small_object(image))
}

/// `GET /files/{id}/cover` parameters (the frame's time, size and format).
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct CoverQuery {
    /// Time of the frame in milliseconds.
    pub t: Option<String>,
    /// Width in pixels (1–3840); alone, the height follows the aspect ratio.
    pub w: Option<String>,
    /// Height in pixels (1–3840).
    pub h: Option<String>,
    /// `png` or `jpg`.
    pub f: Option<String>,
}

/// A video's cover frame: without parameters the stored cover (404
/// `no_cover` until it is made); with `t`, `w`, `h` or `f` a frame taken
/// now, from the stored file only.
#[utoipa::path(get, path = "/api/v1/files/{id}/cover", tag = "files", security(("bearer" = [])),
    params(("id" = i64, Path, description = "file id"), CoverQuery),
    responses(
        (status = 200, description = "image/png or image/jpeg"),
        (status = 404, body = ErrorBody),
        (status = 422, description = "not a video (`not_a_video`), no frame there (`no_frame`), bad parameters", body = ErrorBody),
        (status = 503, description = "this server cannot take frames (`ffmpeg_unavailable`)", body = ErrorBody),
    ))]
pub async fn cover(
    State(st): State<AppState>,
    auth: Auth,
    Path(id): Path<i64>,
    Query(q): Query<CoverQuery>,
) -> Result<Response, ApiError> {
    let frame = FrameQuery {
        t: q.t.as_deref(),
        w: q.w.as_deref(),
        h: q.h.as_deref(),
        f: q.f.as_deref(),
    };
    let image = st.app.cover(auth.user.id, FileId(id), frame).await?;
    Ok(small_object(image))
}
