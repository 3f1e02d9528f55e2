//! Files: the one-request upload for small files, downloads with HTTP
//! Range, thumbnails and video cover frames.
//!
//! A file is readable by its owner and by the members of a room where a
//! message carrying it was sent (and not revoked); leaving the room ends
//! that. Everyone else gets 404, as for a file that does not exist. What is
//! served is labelled with the type sniffed from the bytes, as an
//! attachment, and with a sandboxing CSP: an upload never runs as a page.

use crate::error::ErrorCode;
use crate::{
    auth::Auth,
    dto::FileView,
    error::{ApiError, ErrorBody},
    extract::{Path, Query},
    files::{
        FILES_PREFIX, new_file, prepared,
        range::{RangeAnswer, parse_range},
    },
    state::AppState,
};
use axum::{
    body::Body,
    extract::{Multipart, State},
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use bytes::{Bytes, BytesMut};
use roomy_blob::{BlobWriter, ObjectKey};
use roomy_core::FileId;
use roomy_media::{FrameFormat, FrameRequest, MediaError, SNIFF_LEN};
use roomy_store::{MediaClass, StoredFile};
use serde::Deserialize;
use sha2::{Digest, Sha256};

fn file_not_found() -> ApiError {
    ApiError::not_found(
        ErrorCode::FileNotFound,
        "no such file, or not shared with you",
    )
}

fn too_large(max: u64) -> ApiError {
    ApiError::TooLarge {
        code: ErrorCode::TooLarge,
        message: format!("files may be at most {max} bytes"),
    }
}

/// How long an on-demand frame waits for one of the node's ffmpeg slots.
const FRAME_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

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
    let settings = &st.files.settings;
    let max = settings.max_upload_bytes;
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
    if len > max + MULTIPART_OVERHEAD {
        return Err(too_large(max));
    }
    let used = st.app.store.storage_used(auth.user.id).await?;
    let quota = settings.quota_of(&auth.user);
    if used.saturating_add(len.saturating_sub(MULTIPART_OVERHEAD) as i64) > quota {
        return Err(roomy_store::StoreError::QuotaExceeded { used, quota }.into());
    }
    let multipart_error = |e: axum::extract::multipart::MultipartError| ApiError::BadRequest {
        code: ErrorCode::InvalidMultipart,
        message: e.body_text(),
    };
    while let Some(mut field) = multipart.next_field().await.map_err(multipart_error)? {
        if field.name() != Some("file") {
            continue;
        }
        let name = roomy_media::sanitize_filename(field.file_name().unwrap_or(""));
        // Sniff from the first bytes, then name the object by what it is.
        let mut head = BytesMut::new();
        let mut ended = false;
        while head.len() < SNIFF_LEN {
            match field.chunk().await.map_err(multipart_error)? {
                Some(c) => head.extend_from_slice(&c),
                None => {
                    ended = true;
                    break;
                }
            }
        }
        let sniffed = roomy_media::sniff(&head);
        let key = ObjectKey::generate(FILES_PREFIX, st.app.clock.now(), sniffed.ext);
        let mut writer = st
            .files
            .blob
            .writer(&key)
            .await
            .map_err(ApiError::internal)?;
        let mut hasher = Sha256::new();
        let mut size = 0u64;
        let mut next = Some(head.freeze());
        loop {
            let chunk: Bytes = match next.take() {
                Some(c) => c,
                None if ended => break,
                None => match field.chunk().await {
                    Ok(Some(c)) => c,
                    Ok(None) => break,
                    Err(e) => {
                        abort(writer).await;
                        return Err(multipart_error(e));
                    }
                },
            };
            size += chunk.len() as u64;
            if size > max {
                abort(writer).await;
                return Err(too_large(max));
            }
            hasher.update(&chunk);
            if let Err(e) = writer.write(chunk).await {
                abort(writer).await;
                return Err(ApiError::internal(e));
            }
        }
        writer.close().await.map_err(ApiError::internal)?;
        let new = new_file(
            auth.user.id,
            &name,
            size as i64,
            prepared(&key, &sniffed, hasher),
        );
        let stored = match st
            .app
            .store
            .create_file(new, quota, st.app.clock.now())
            .await
        {
            Ok(f) => f,
            Err(e) => {
                let _ = st.files.blob.delete(&key).await;
                return Err(e.into());
            }
        };
        st.files.jobs_wake.notify_waiters();
        return Ok((StatusCode::CREATED, axum::Json(stored.into())));
    }
    Err(ApiError::field(
        "file",
        "send the file in a multipart field named `file`",
    ))
}

async fn abort(writer: BlobWriter) {
    if let Err(e) = writer.abort().await {
        tracing::warn!(error = %e, "could not remove a refused upload's bytes");
    }
}

/// The caller's view of file `id`: 404 unless they may read it.
async fn readable(st: &AppState, auth: &Auth, id: i64) -> Result<StoredFile, ApiError> {
    let id = FileId(id);
    if !st.app.store.file_readable(id, auth.user.id).await? {
        return Err(file_not_found());
    }
    st.app.store.file(id).await?.ok_or_else(file_not_found)
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
    Ok(axum::Json(readable(&st, &auth, id).await?.into()))
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
    let file = readable(&st, &auth, id).await?;
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
    let key = ObjectKey::parse(&file.key).map_err(ApiError::internal)?;
    let body = if range.is_empty() {
        Body::empty()
    } else {
        Body::from_stream(
            st.files
                .blob
                .read_range(&key, range)
                .await
                .map_err(ApiError::internal)?,
        )
    };
    Ok((status, h, body).into_response())
}

/// Serves a small stored object (thumbnail, cover) whole.
async fn small_object(st: &AppState, key: &str, mime: &str) -> Result<Response, ApiError> {
    let key = ObjectKey::parse(key).map_err(ApiError::internal)?;
    let bytes = st
        .files
        .blob
        .read_all(&key, 32 * 1024 * 1024)
        .await
        .map_err(ApiError::internal)?;
    Ok((StatusCode::OK, object_headers(mime, None), bytes).into_response())
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
    let file = readable(&st, &auth, id).await?;
    let Some((key, mime)) = &file.thumbnail else {
        return Err(ApiError::not_found(
            ErrorCode::NoThumbnail,
            "this file has no thumbnail (yet)",
        ));
    };
    small_object(&st, key, mime).await
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
    let file = readable(&st, &auth, id).await?;
    if file.media != MediaClass::Video {
        return Err(ApiError::Unprocessable {
            code: ErrorCode::NotAVideo,
            message: format!("this file is {}, not a video", file.mime),
        });
    }
    if q.t.is_none() && q.w.is_none() && q.h.is_none() && q.f.is_none() {
        let Some((key, mime)) = &file.cover else {
            return Err(ApiError::not_found(
                ErrorCode::NoCover,
                "this video has no cover (yet)",
            ));
        };
        return small_object(&st, key, mime).await;
    }
    let req = FrameRequest::parse(
        q.t.as_deref(),
        q.w.as_deref(),
        q.h.as_deref(),
        q.f.as_deref(),
    )
    .map_err(media_error)?;
    let files = &st.files;
    if !files.ffmpeg.available().await {
        return Err(ffmpeg_unavailable());
    }
    let busy = || ApiError::Protocol {
        status: StatusCode::SERVICE_UNAVAILABLE,
        code: ErrorCode::FramesBusy,
        message: "too many frames are being taken; try again".into(),
    };
    let _permit = tokio::time::timeout(FRAME_WAIT, files.frames.acquire())
        .await
        .map_err(|_| busy())?
        .map_err(ApiError::internal)?;
    let key = ObjectKey::parse(&file.key).map_err(ApiError::internal)?;
    let (path, _tmp) = files.local_copy(&key).await.map_err(ApiError::internal)?;
    let bytes = files.ffmpeg.frame(&path, &req).await.map_err(media_error)?;
    let mime = match req.format {
        FrameFormat::Png => "image/png",
        FrameFormat::Jpg => "image/jpeg",
    };
    Ok((StatusCode::OK, object_headers(mime, None), bytes).into_response())
}

fn ffmpeg_unavailable() -> ApiError {
    ApiError::Protocol {
        status: StatusCode::SERVICE_UNAVAILABLE,
        code: ErrorCode::FfmpegUnavailable,
        message: "this server cannot take video frames".into(),
    }
}

fn media_error(e: MediaError) -> ApiError {
    match e {
        MediaError::InvalidRequest { field, reason } => ApiError::field(field, reason),
        MediaError::NoFrame => ApiError::Unprocessable {
            code: ErrorCode::NoFrame,
            message: "the video has no frame there".into(),
        },
        MediaError::FfmpegMissing => ffmpeg_unavailable(),
        MediaError::Unsupported(_) => ApiError::Unprocessable {
            code: ErrorCode::UnreadableVideo,
            message: "ffmpeg cannot read this video".into(),
        },
        other => ApiError::internal(other),
    }
}
