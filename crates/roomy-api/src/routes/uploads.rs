//! Resumable uploads: the tus 1.0 protocol (core, creation, checksum,
//! termination, expiration) at `/api/v1/uploads`, so existing tus clients
//! work unchanged.
//!
//! The protocol's headers are read and written here; the rules (ownership,
//! quota, offsets, expiry) are `App`'s: an upload belongs to its creator,
//! anyone else gets 404, as for a missing one.

use crate::error::ErrorCode;
use crate::{
    error::{ApiError, ErrorBody},
    extract::Path,
    guard::Auth,
    state::AppState,
};
use axum::{
    body::Body,
    extract::{Request, State},
    http::{HeaderMap, HeaderValue, StatusCode, header},
    middleware::Next,
    response::{IntoResponse, Response},
};
use base64::{Engine, engine::general_purpose::STANDARD};
use roomy_app::files::{
    spool::Checksum,
    uploads::{Chunk, UploadStanding},
};
use roomy_core::FileId;
use roomy_store::{StoredFile, Upload};

/// The protocol version spoken.
pub const TUS_VERSION: &str = "1.0.0";
/// Extensions supported.
const TUS_EXTENSIONS: &str = "creation,checksum,termination,expiration";
/// Checksum algorithms accepted in `Upload-Checksum`.
const TUS_CHECKSUMS: &str = "sha1,sha256";
/// Longest `Upload-Metadata` header read.
const MAX_METADATA: usize = 4096;

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

fn bad(code: ErrorCode, message: impl Into<String>) -> ApiError {
    ApiError::BadRequest {
        code,
        message: message.into(),
    }
}

/// Adds `Tus-Resumable` to every response of the upload routes, and
/// refuses requests that speak another version of the protocol (412).
pub async fn tus_layer(req: Request, next: Next) -> Response {
    let speaks = header(req.headers(), "tus-resumable");
    let mut resp = if req.method() != axum::http::Method::OPTIONS && speaks != Some(TUS_VERSION) {
        let mut r = ApiError::Protocol {
            status: StatusCode::PRECONDITION_FAILED,
            code: ErrorCode::TusVersionUnsupported,
            message: format!("send Tus-Resumable: {TUS_VERSION}"),
        }
        .into_response();
        r.headers_mut()
            .insert("tus-version", HeaderValue::from_static(TUS_VERSION));
        r
    } else {
        next.run(req).await
    };
    resp.headers_mut()
        .insert("tus-resumable", HeaderValue::from_static(TUS_VERSION));
    resp
}

/// What the server supports (no authentication needed).
#[utoipa::path(options, path = "/api/v1/uploads", tag = "files",
    responses((status = 204, description = "Tus-Version, Tus-Extension, Tus-Max-Size, Tus-Checksum-Algorithm")))]
pub async fn options(State(st): State<AppState>) -> Response {
    let mut resp = StatusCode::NO_CONTENT.into_response();
    let h = resp.headers_mut();
    h.insert("tus-version", HeaderValue::from_static(TUS_VERSION));
    h.insert("tus-extension", HeaderValue::from_static(TUS_EXTENSIONS));
    h.insert(
        "tus-checksum-algorithm",
        HeaderValue::from_static(TUS_CHECKSUMS),
    );
    h.insert(
        "tus-max-size",
        HeaderValue::from(st.app.files.settings.max_upload_bytes),
    );
    resp
}

/// `Upload-Metadata`: comma-separated `key base64value` pairs; returns the
/// file name as sent, the only value the server keeps.
fn metadata_name(headers: &HeaderMap) -> Result<String, ApiError> {
    let Some(raw) = headers.get("upload-metadata") else {
        return Ok(String::new());
    };
    let raw = raw
        .to_str()
        .map_err(|_| bad(ErrorCode::InvalidMetadata, "Upload-Metadata must be ASCII"))?;
    if raw.len() > MAX_METADATA {
        return Err(bad(
            ErrorCode::InvalidMetadata,
            "Upload-Metadata is too long",
        ));
    }
    let mut name = None;
    for pair in raw.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once(' ').unwrap_or((pair, ""));
        let value = STANDARD.decode(value.trim()).map_err(|_| {
            bad(
                ErrorCode::InvalidMetadata,
                format!("{key}: value is not base64"),
            )
        })?;
        if key == "filename" || (key == "name" && name.is_none()) {
            let text = String::from_utf8(value)
                .map_err(|_| bad(ErrorCode::InvalidMetadata, "filename is not UTF-8"))?;
            name = Some(text);
        }
    }
    Ok(name.unwrap_or_default())
}

fn expires_header(at: time::OffsetDateTime) -> HeaderValue {
    let text = at
        .to_offset(time::UtcOffset::UTC)
        .format(&time::format_description::well_known::Rfc2822)
        .unwrap_or_default()
        .replace("+0000", "GMT");
    HeaderValue::from_str(&text).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// Creation: reserves `Upload-Length` bytes of the caller's quota and
/// answers with the upload's `Location`.
#[utoipa::path(post, path = "/api/v1/uploads", tag = "files", security(("bearer" = [])),
    params(
        ("Upload-Length" = u64, Header, description = "total size in bytes"),
        ("Upload-Metadata" = Option<String>, Header, description = "`filename <base64>,filetype <base64>`"),
        ("Tus-Resumable" = String, Header, description = "1.0.0"),
    ),
    responses(
        (status = 201, description = "Location: /api/v1/uploads/{id}; Upload-Expires"),
        (status = 400, body = ErrorBody),
        (status = 412, description = "another tus version", body = ErrorBody),
        (status = 413, description = "over the size limit (`too_large`) or the quota (`quota_exceeded`)", body = ErrorBody),
    ))]
pub async fn create(
    State(st): State<AppState>,
    auth: Auth,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    if headers.contains_key("upload-defer-length") {
        return Err(bad(
            ErrorCode::LengthRequired,
            "this server needs Upload-Length at creation",
        ));
    }
    let length: u64 = header(&headers, "upload-length")
        .filter(|v| !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| {
            bad(
                ErrorCode::LengthRequired,
                "Upload-Length must be a number of bytes",
            )
        })?;
    // The size limit is judged before the metadata is read.
    st.app.check_upload_length(length)?;
    let name = metadata_name(&headers)?;
    let upload = st.app.create_upload(&auth.user, length, &name).await?;
    let mut resp = StatusCode::CREATED.into_response();
    let h = resp.headers_mut();
    h.insert(
        header::LOCATION,
        HeaderValue::from_str(&format!("/api/v1/uploads/{}", upload.id))
            .map_err(ApiError::internal)?,
    );
    h.insert("upload-expires", expires_header(upload.expires_at));
    Ok(resp)
}

/// Where an upload stands, as tus headers.
fn standing_headers(
    offset: i64,
    length: i64,
    name: &str,
    expires: Option<time::OffsetDateTime>,
) -> HeaderMap {
    let mut h = HeaderMap::new();
    h.insert("upload-offset", HeaderValue::from(offset));
    h.insert("upload-length", HeaderValue::from(length));
    if let Some(at) = expires {
        h.insert("upload-expires", expires_header(at));
    }
    if let Ok(v) = HeaderValue::from_str(&format!("filename {}", STANDARD.encode(name))) {
        h.insert("upload-metadata", v);
    }
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h
}

fn upload_headers(u: &Upload) -> HeaderMap {
    standing_headers(u.offset, u.length, &u.name, Some(u.expires_at))
}

/// A finished upload is the file with its id: it answers as complete (so
/// a client that lost the last answer learns it is done).
fn finished_headers(f: &StoredFile) -> HeaderMap {
    standing_headers(f.size, f.size, &f.name, None)
}

fn standing(s: &UploadStanding) -> HeaderMap {
    match s {
        UploadStanding::Finished(file) => finished_headers(file),
        UploadStanding::Live(upload) => upload_headers(upload),
    }
}

/// Where an upload stands: `Upload-Offset` counts only bytes made durable.
/// A client asks after a cut connection: a request still writing (its
/// connection not yet seen dead) first stops and records what it has, so
/// the offset answered is where to resume. A complete upload whose finish
/// failed is finished now.
#[utoipa::path(head, path = "/api/v1/uploads/{id}", tag = "files", security(("bearer" = [])),
    params(("id" = i64, Path, description = "upload id")),
    responses(
        (status = 200, description = "Upload-Offset, Upload-Length, Upload-Expires, Upload-Metadata"),
        (status = 404, description = "no such upload of yours"),
        (status = 410, description = "expired"),
    ))]
pub async fn head(
    State(st): State<AppState>,
    auth: Auth,
    Path(id): Path<i64>,
) -> Result<Response, ApiError> {
    let now = st.app.upload_standing(auth.user.id, FileId(id)).await?;
    Ok((StatusCode::OK, standing(&now)).into_response())
}

fn parse_checksum(headers: &HeaderMap) -> Result<Option<Checksum>, ApiError> {
    let Some(raw) = header(headers, "upload-checksum") else {
        return Ok(None);
    };
    let (algo, value) = raw.trim().split_once(' ').ok_or_else(|| {
        bad(
            ErrorCode::InvalidChecksum,
            "Upload-Checksum is `<algorithm> <base64>`",
        )
    })?;
    let digest = STANDARD
        .decode(value.trim())
        .map_err(|_| bad(ErrorCode::InvalidChecksum, "the checksum is not base64"))?;
    match (algo, digest.len()) {
        ("sha1", 20) => Ok(Some(Checksum::Sha1(digest))),
        ("sha256", 32) => Ok(Some(Checksum::Sha256(digest))),
        ("sha1" | "sha256", _) => Err(bad(
            ErrorCode::InvalidChecksum,
            "the checksum has the wrong length",
        )),
        _ => Err(bad(
            ErrorCode::ChecksumAlgorithmUnsupported,
            format!("supported: {TUS_CHECKSUMS}"),
        )),
    }
}

/// Appends a chunk at `Upload-Offset`. The bytes are synced and then the
/// offset moves; a chunk with a wrong checksum is discarded (460) and the
/// offset stays, as it does for a chunk longer than what is left (413). A
/// cut connection keeps what arrived, unless the chunk carried a checksum
/// (it cannot be checked). The last chunk makes the file.
#[utoipa::path(patch, path = "/api/v1/uploads/{id}", tag = "files", security(("bearer" = [])),
    params(
        ("id" = i64, Path, description = "upload id"),
        ("Upload-Offset" = u64, Header, description = "where this chunk starts"),
        ("Upload-Checksum" = Option<String>, Header, description = "`sha1 <base64>` or `sha256 <base64>` of this chunk"),
    ),
    request_body(content = Vec<u8>, content_type = "application/offset+octet-stream"),
    responses(
        (status = 204, description = "Upload-Offset: the new offset"),
        (status = 400, description = "a checksummed chunk was cut off (`chunk_incomplete`), bad headers", body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, description = "Upload-Offset is not the upload's offset", body = ErrorBody),
        (status = 410, description = "expired", body = ErrorBody),
        (status = 413, description = "more bytes than the upload has left", body = ErrorBody),
        (status = 415, body = ErrorBody),
        (status = 460, description = "checksum mismatch: the chunk was discarded", body = ErrorBody),
    ))]
pub async fn patch(
    State(st): State<AppState>,
    auth: Auth,
    Path(id): Path<i64>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    if header(&headers, "content-type") != Some("application/offset+octet-stream") {
        return Err(ApiError::Protocol {
            status: StatusCode::UNSUPPORTED_MEDIA_TYPE,
            code: ErrorCode::UnsupportedMediaType,
            message: "chunks are sent as application/offset+octet-stream".into(),
        });
    }
    let offset: i64 = header(&headers, "upload-offset")
        .filter(|v| !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| {
            bad(
                ErrorCode::OffsetRequired,
                "Upload-Offset must be a number of bytes",
            )
        })?;
    let checksum = parse_checksum(&headers)?;
    let chunk = Chunk {
        offset,
        announced: header(&headers, "content-length").and_then(|v| v.parse::<i64>().ok()),
        checksum,
        body: body.into_data_stream(),
    };
    let now = st.app.write_chunk(auth.user.id, FileId(id), chunk).await?;
    Ok((StatusCode::NO_CONTENT, standing(&now)).into_response())
}

/// Termination: the upload and its bytes are gone, its quota released.
#[utoipa::path(delete, path = "/api/v1/uploads/{id}", tag = "files", security(("bearer" = [])),
    params(("id" = i64, Path, description = "upload id")),
    responses((status = 204), (status = 404, body = ErrorBody)))]
pub async fn terminate(
    State(st): State<AppState>,
    auth: Auth,
    Path(id): Path<i64>,
) -> Result<Response, ApiError> {
    st.app.terminate_upload(auth.user.id, FileId(id)).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
