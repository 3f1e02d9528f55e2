//! Invite links to groups, over [`App`](roomy_app::App)'s invite
//! operations (which make, hash and judge the tokens), and their QR codes.
//!
//! The QR images are public: an `<img>` cannot send a bearer token, and the
//! image says nothing the token in its path does not.

use crate::{
    dto::{InvitePreview, InviteRequest, InviteView, RoomView},
    error::{ApiError, ErrorBody},
    extract::{Json, Path, Query},
    guard::Auth,
    pagination::{Page, PageParams, page_of},
    state::AppState,
};
use axum::{
    extract::State,
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use roomy_app::InviteInput;
use roomy_core::RoomId;

/// Smallest side of a rendered QR code, in pixels.
const QR_MIN_PIXELS: u32 = 256;

/// Create an invite link to a group (owner and admins). The token is in
/// this answer only.
#[utoipa::path(post, path = "/api/v1/rooms/{id}/invites", tag = "invites", security(("bearer" = [])),
    params(("id" = i64, Path, description = "room id")),
    request_body = InviteRequest,
    responses((status = 201, body = InviteView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn create_invite(
    State(st): State<AppState>,
    auth: Auth,
    Path(id): Path<i64>,
    Json(req): Json<InviteRequest>,
) -> Result<(StatusCode, axum::Json<InviteView>), ApiError> {
    let input = InviteInput {
        expires_in: req.expires_in,
        max_uses: req.max_uses,
    };
    let created = st.app.create_invite(&auth.user, RoomId(id), input).await?;
    let view = InviteView {
        url: Some(created.url),
        token: Some(created.token),
        ..InviteView::at(created.invite, st.app.clock.now())
    };
    Ok((StatusCode::CREATED, axum::Json(view)))
}

/// A group's invite links that are not revoked, newest first, without their
/// tokens (owner and admins).
#[utoipa::path(get, path = "/api/v1/rooms/{id}/invites", tag = "invites", security(("bearer" = [])),
    params(("id" = i64, Path, description = "room id"), PageParams),
    responses((status = 200, body = Page<InviteView>), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn list_invites(
    State(st): State<AppState>,
    auth: Auth,
    Path(id): Path<i64>,
    Query(page): Query<PageParams>,
) -> Result<axum::Json<Page<InviteView>>, ApiError> {
    let limit = page.limit()?;
    let before = page.after()?;
    let rows = st
        .app
        .invites(&auth.user, RoomId(id), before, limit + 1)
        .await?;
    let now = st.app.clock.now();
    Ok(axum::Json(page_of(
        rows,
        limit,
        |i| i.id,
        |i| InviteView::at(i, now),
    )))
}

/// Revoke an invite link (owner and admins); revoking it again changes nothing.
#[utoipa::path(delete, path = "/api/v1/rooms/{id}/invites/{invite_id}", tag = "invites", security(("bearer" = [])),
    params(("id" = i64, Path, description = "room id"), ("invite_id" = i64, Path, description = "invite id")),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn revoke_invite(
    State(st): State<AppState>,
    auth: Auth,
    Path((id, invite_id)): Path<(i64, i64)>,
) -> Result<StatusCode, ApiError> {
    st.app
        .revoke_invite(&auth.user, RoomId(id), invite_id)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// What an invite link leads to: the group's name, avatar and size.
#[utoipa::path(get, path = "/api/v1/invites/{token}", tag = "invites", security(("bearer" = [])),
    params(("token" = String, Path, description = "the link's token")),
    responses((status = 200, body = InvitePreview), (status = 404, body = ErrorBody), (status = 410, description = "expired, used up or revoked", body = ErrorBody)))]
pub async fn preview_invite(
    State(st): State<AppState>,
    auth: Auth,
    Path(token): Path<String>,
) -> Result<axum::Json<InvitePreview>, ApiError> {
    let lead = st.app.preview_invite(&auth.user, &token).await?;
    Ok(axum::Json(InvitePreview {
        room: lead.room.into(),
        expires_at: lead.invite.expires_at,
        max_uses: lead.invite.max_uses,
        uses: lead.invite.uses,
        already_member: lead.already_member,
    }))
}

/// Join a group by invite link (guests too); a member gets the group
/// without using the link. Someone an admin removed is refused (403
/// `banned`) until an owner or admin lifts the ban.
#[utoipa::path(post, path = "/api/v1/invites/{token}/join", tag = "invites", security(("bearer" = [])),
    params(("token" = String, Path, description = "the link's token")),
    responses((status = 200, description = "the group, as a member sees it", body = RoomView), (status = 403, description = "banned from the group", body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, description = "the group is full", body = ErrorBody), (status = 410, description = "expired, used up or revoked", body = ErrorBody)))]
pub async fn join_invite(
    State(st): State<AppState>,
    auth: Auth,
    Path(token): Path<String>,
) -> Result<axum::Json<RoomView>, ApiError> {
    let summary = st.app.join_invite(&auth.user, &token).await?;
    Ok(axum::Json(summary.into()))
}

/// The QR code of a live link's url.
async fn qr_of(st: &AppState, token: &str) -> Result<qrcode::QrCode, ApiError> {
    let url = st.app.live_invite_url(token).await?;
    qrcode::QrCode::new(url.as_bytes()).map_err(ApiError::internal)
}

/// An image that must not outlive the link in a cache.
fn image(content_type: &'static str, body: Vec<u8>) -> Response {
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
        ],
        body,
    )
        .into_response()
}

/// The link's QR code as SVG (no authentication: for `<img src>`).
#[utoipa::path(get, path = "/api/v1/invites/{token}/qr.svg", tag = "invites",
    params(("token" = String, Path, description = "the link's token")),
    responses((status = 200, description = "the QR code of the link's url", content_type = "image/svg+xml", body = String), (status = 404, body = ErrorBody), (status = 410, description = "expired, used up or revoked", body = ErrorBody)))]
pub async fn qr_svg(
    State(st): State<AppState>,
    Path(token): Path<String>,
) -> Result<Response, ApiError> {
    let svg = qr_of(&st, &token)
        .await?
        .render::<qrcode::render::svg::Color<'_>>()
        .min_dimensions(QR_MIN_PIXELS, QR_MIN_PIXELS)
        .build();
    Ok(image("image/svg+xml", svg.into_bytes()))
}

/// The link's QR code as PNG (no authentication: for `<img src>`).
#[utoipa::path(get, path = "/api/v1/invites/{token}/qr.png", tag = "invites",
    params(("token" = String, Path, description = "the link's token")),
    responses((status = 200, description = "the QR code of the link's url", content_type = "image/png", body = String), (status = 404, body = ErrorBody), (status = 410, description = "expired, used up or revoked", body = ErrorBody)))]
pub async fn qr_png(
    State(st): State<AppState>,
    Path(token): Path<String>,
) -> Result<Response, ApiError> {
    let pixels = qr_of(&st, &token)
        .await?
        .render::<image::Luma<u8>>()
        .min_dimensions(QR_MIN_PIXELS, QR_MIN_PIXELS)
        .build();
    let mut png = Vec::new();
    pixels
        .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
        .map_err(ApiError::internal)?;
    Ok(image("image/png", png))
}
