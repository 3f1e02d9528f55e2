//! Invite links to groups, and their QR codes.
//!
//! A link is `<public_url>/invite/<token>`; the token (32 random bytes,
//! base64url) is shown once, to its creator, and the server keeps only its
//! SHA-256, so neither a copy of the database nor the invite list can give a
//! working link away. The owner and admins create, list and revoke links;
//! anyone signed in (guests too) holding one may preview the group and join.
//! The QR images are public: an `<img>` cannot send a bearer token, and the
//! image says nothing the token in its path does not.

use super::rooms::{my_group_role, not_room_admin};
use crate::error::ErrorCode;
use crate::{
    auth::Auth,
    dto::{InvitePreview, InviteRequest, InviteView, RoomView},
    error::{ApiError, ErrorBody},
    extract::{Json, Path, Query},
    pagination::{Page, PageParams, page_of},
    state::AppState,
};
use axum::{
    extract::State,
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use rand::RngCore;
use roomy_app::{ChangeKind, change_envelopes};
use roomy_core::{FieldErrors, RoomId, UserId};
use roomy_store::{Invite, InviteState, JoinOutcome, NewInvite, Room, StoreError};
use sha2::{Digest, Sha256};

/// Default lifetime of a link: 7 days.
const DEFAULT_EXPIRES_IN: i64 = 7 * 24 * 3600;
/// Shortest and longest lifetimes of a link: a minute to 30 days.
const EXPIRES_IN: std::ops::RangeInclusive<i64> = 60..=30 * 24 * 3600;
/// Joins a limited link may allow.
const MAX_USES: std::ops::RangeInclusive<i64> = 1..=10_000;
/// Random bytes in a token: guessing one is hopeless.
const TOKEN_BYTES: usize = 32;
/// Smallest side of a rendered QR code, in pixels.
const QR_MIN_PIXELS: u32 = 256;

fn invite_not_found() -> ApiError {
    ApiError::not_found(ErrorCode::InviteNotFound, "no such invite link")
}

/// 410 for a link that exists but no longer works; `Ok` for a live one.
fn usable(state: InviteState) -> Result<(), ApiError> {
    match state {
        InviteState::Active => Ok(()),
        InviteState::Expired => Err(ApiError::gone(
            ErrorCode::InviteExpired,
            "this invite link has expired",
        )),
        InviteState::Exhausted => Err(ApiError::gone(
            ErrorCode::InviteExhausted,
            "this invite link has been used as often as it allows",
        )),
        InviteState::Revoked => Err(ApiError::gone(
            ErrorCode::InviteRevoked,
            "this invite link was revoked",
        )),
    }
}

/// A new random token (base64url, no padding).
fn new_token() -> String {
    let mut bytes = [0u8; TOKEN_BYTES];
    rand::rng().fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// The SHA-256 (lower-case hex) under which a token is stored.
fn hash_of(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// The stored hash of a presented token; `None` for a string that is no
/// token this server makes, which then needs no lookup.
fn presented_hash(token: &str) -> Option<String> {
    let bytes = URL_SAFE_NO_PAD.decode(token).ok()?;
    (bytes.len() == TOKEN_BYTES).then(|| hash_of(token))
}

fn invite_url(st: &AppState, token: &str) -> String {
    format!("{}/invite/{token}", st.app.settings.public_url)
}

/// The live invite a token names, with its group: 404 or 410 otherwise.
async fn live_invite(st: &AppState, token: &str) -> Result<(Invite, Room), ApiError> {
    let hash = presented_hash(token).ok_or_else(invite_not_found)?;
    let (invite, room) = st
        .app
        .store
        .invite_by_hash(&hash)
        .await?
        .ok_or_else(invite_not_found)?;
    usable(invite.state(st.app.clock.now()))?;
    Ok((invite, room))
}

/// Checks, on the writer task, that `actor` manages the group: every role
/// change runs there too, so the check still holds when the write is made.
async fn as_manager<T, F, Fut>(
    st: &AppState,
    room: RoomId,
    actor: UserId,
    f: F,
) -> Result<T, ApiError>
where
    T: Send + 'static,
    F: FnOnce(std::sync::Arc<dyn roomy_store::Store>) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = Result<T, ApiError>> + Send + 'static,
{
    st.app
        .writer
        .exclusive(move |store| async move {
            let result = match my_group_role(&*store, room, actor).await {
                Ok((role, _)) if role.manages() => f(store).await,
                Ok(_) => Err(not_room_admin()),
                Err(e) => Err(e),
            };
            (result, Vec::new())
        })
        .await?
}

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
    let mut errors = FieldErrors::new();
    let expires_in = req.expires_in.unwrap_or(DEFAULT_EXPIRES_IN);
    if !EXPIRES_IN.contains(&expires_in) {
        errors.add(
            "expires_in",
            format!(
                "must be {} to {} seconds",
                EXPIRES_IN.start(),
                EXPIRES_IN.end()
            ),
        );
    }
    if req.max_uses.is_some_and(|n| !MAX_USES.contains(&n)) {
        errors.add(
            "max_uses",
            format!(
                "must be {} to {}, or absent for any number",
                MAX_USES.start(),
                MAX_USES.end()
            ),
        );
    }
    errors.into_result()?;
    let room = RoomId(id);
    let token = new_token();
    let now = st.app.clock.now();
    let new = NewInvite {
        room_id: room,
        created_by: auth.user.id,
        token_hash: hash_of(&token),
        expires_at: now + time::Duration::seconds(expires_in),
        max_uses: req.max_uses,
    };
    let invite = as_manager(&st, room, auth.user.id, move |store| async move {
        if store
            .room(room)
            .await?
            .is_some_and(|r| r.dissolved_at.is_some())
        {
            return Err(super::messages::room_dissolved());
        }
        Ok(store.create_invite(new, now).await?)
    })
    .await?;
    let view = InviteView {
        url: Some(invite_url(&st, &token).into()),
        token: Some(token.into()),
        ..InviteView::at(invite, now)
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
    let room = RoomId(id);
    let limit = page.limit()?;
    let before = page.after()?;
    if !my_group_role(&*st.app.store, room, auth.user.id)
        .await?
        .0
        .manages()
    {
        return Err(not_room_admin());
    }
    let rows = st.app.store.room_invites(room, before, limit + 1).await?;
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
    let room = RoomId(id);
    let now = st.app.clock.now();
    as_manager(&st, room, auth.user.id, move |store| async move {
        store
            .revoke_invite(room, invite_id, now)
            .await
            .map_err(|e| match e {
                StoreError::NotFound => invite_not_found(),
                other => other.into(),
            })
    })
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
    let (invite, room) = live_invite(&st, &token).await?;
    let already_member = st
        .app
        .store
        .member_role(room.id, auth.user.id)
        .await?
        .is_some();
    Ok(axum::Json(InvitePreview {
        room: room.into(),
        expires_at: invite.expires_at,
        max_uses: invite.max_uses,
        uses: invite.uses,
        already_member,
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
    let hash = presented_hash(&token).ok_or_else(invite_not_found)?;
    let me = auth.user.id;
    let notice = format!("{} joined via an invite link", auth.user.nickname);
    let max = i64::try_from(st.app.settings.max_group_members).unwrap_or(i64::MAX);
    let now = st.app.clock.now();
    // On the writer task, so `member_joined` and the notice are published in
    // commit order with the room's messages.
    let outcome = st
        .app
        .writer
        .exclusive(move |store| async move {
            let outcome = store.join_by_invite(&hash, me, notice, max, now).await;
            let envelopes = match &outcome {
                Ok(JoinOutcome::Joined(change)) => change_envelopes(change, ChangeKind::Joined),
                _ => Vec::new(),
            };
            (outcome, envelopes)
        })
        .await?
        .map_err(|e| match e {
            StoreError::NotFound => invite_not_found(),
            other => other.into(),
        })?;
    let room = match outcome {
        JoinOutcome::Joined(change) => change.room.id,
        JoinOutcome::AlreadyMember(room) => room.id,
        JoinOutcome::Unusable(state) => {
            return Err(usable(state).err().unwrap_or_else(invite_not_found));
        }
        JoinOutcome::Banned => {
            return Err(crate::error::refusal(roomy_store::Refusal::Banned));
        }
        JoinOutcome::Dissolved => {
            return Err(ApiError::gone(
                ErrorCode::RoomDissolved,
                "this group was dissolved and takes no new members",
            ));
        }
        JoinOutcome::GroupFull => {
            return Err(ApiError::Conflict {
                code: ErrorCode::GroupFull,
                message: format!("a group has at most {max} members"),
                fields: FieldErrors::new(),
            });
        }
    };
    let summary = st
        .app
        .store
        .room_summary(room, me)
        .await?
        .ok_or_else(super::messages::room_not_found)?;
    Ok(axum::Json(summary.into()))
}

/// The QR code of a live link's url.
async fn qr_of(st: &AppState, token: &str) -> Result<qrcode::QrCode, ApiError> {
    live_invite(st, token).await?;
    qrcode::QrCode::new(invite_url(st, token).as_bytes()).map_err(ApiError::internal)
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
