//! Rooms: direct rooms, groups, members and roles, over
//! [`App`](roomy_app::App)'s room operations, which hold the rules.

use crate::{
    dto::{
        AddMembersRequest, BanView, DirectRequest, GroupRequest, MemberPatch, MemberView,
        RoomPatch, RoomView,
    },
    error::{ApiError, ErrorBody},
    extract::{Json, Path, Query},
    guard::Auth,
    pagination::{Page, PageParams, page_of},
    state::AppState,
};
use axum::{extract::State, http::StatusCode};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use roomy_app::{MemberInput, NewGroupInput, RoomProfileInput};
use roomy_core::{RoomId, UserId};

/// Open the direct room with a user (found or created).
#[utoipa::path(post, path = "/api/v1/rooms/direct", tag = "rooms", security(("bearer" = [])),
    request_body = DirectRequest,
    responses(
        (status = 200, description = "the existing room", body = RoomView),
        (status = 201, description = "a new room", body = RoomView),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody),
    ))]
pub async fn open_direct(
    State(st): State<AppState>,
    auth: Auth,
    Json(req): Json<DirectRequest>,
) -> Result<(StatusCode, axum::Json<RoomView>), ApiError> {
    let (summary, created) = st.app.open_direct(&auth.user, req.user_id).await?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, axum::Json(summary.into())))
}

/// Create a group; the caller becomes its owner. Every member must be one
/// the caller may put in a group (a friend under the `friends` policy, any
/// non-guest under `anyone`; never a blocked pair): otherwise 403 (`blocked`,
/// `you_blocked_user`, `guest_forbidden` or `not_friends`) names the refused
/// ids under `fields.member_ids`, and nothing is created.
#[utoipa::path(post, path = "/api/v1/rooms", tag = "rooms", security(("bearer" = [])),
    request_body = GroupRequest,
    responses((status = 201, body = RoomView), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn create_group(
    State(st): State<AppState>,
    auth: Auth,
    Json(req): Json<GroupRequest>,
) -> Result<(StatusCode, axum::Json<RoomView>), ApiError> {
    let input = NewGroupInput {
        name: req.name,
        member_ids: req.member_ids,
    };
    let summary = st.app.create_group(&auth.user, input).await?;
    Ok((StatusCode::CREATED, axum::Json(summary.into())))
}

/// My rooms, most recently active first, each with its last message.
#[utoipa::path(get, path = "/api/v1/rooms", tag = "rooms", security(("bearer" = [])),
    params(PageParams),
    responses((status = 200, body = Page<RoomView>)))]
pub async fn list_rooms(
    State(st): State<AppState>,
    auth: Auth,
    Query(page): Query<PageParams>,
) -> Result<axum::Json<Page<RoomView>>, ApiError> {
    let limit = page.limit()?;
    let after = match page.cursor.as_deref() {
        None => None,
        Some(c) => Some(decode_room_cursor(c)?),
    };
    let mut rows = st.app.rooms(&auth.user, after, limit + 1).await?;
    let more = rows.len() > limit as usize;
    rows.truncate(limit as usize);
    let next_cursor = if more {
        rows.last()
            .map(|(activity, s)| encode_room_cursor(*activity, s.room.id))
    } else {
        None
    };
    Ok(axum::Json(Page {
        items: rows.into_iter().map(|(_, s)| s.into()).collect(),
        next_cursor,
    }))
}

fn encode_room_cursor(activity: i64, room: RoomId) -> String {
    URL_SAFE_NO_PAD.encode(format!("r{activity}:{}", room.0))
}

fn decode_room_cursor(s: &str) -> Result<(i64, RoomId), ApiError> {
    URL_SAFE_NO_PAD
        .decode(s)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .and_then(|s| {
            let (a, r) = s.strip_prefix('r')?.split_once(':')?;
            Some((a.parse().ok()?, RoomId(r.parse().ok()?)))
        })
        .ok_or_else(|| ApiError::field("cursor", "is not a cursor this server issued"))
}

/// A room I am in.
#[utoipa::path(get, path = "/api/v1/rooms/{id}", tag = "rooms", security(("bearer" = [])),
    params(("id" = i64, Path, description = "room id")),
    responses((status = 200, body = RoomView), (status = 404, body = ErrorBody)))]
pub async fn get_room(
    State(st): State<AppState>,
    auth: Auth,
    Path(id): Path<i64>,
) -> Result<axum::Json<RoomView>, ApiError> {
    let summary = st.app.room(&auth.user, RoomId(id)).await?;
    Ok(axum::Json(summary.into()))
}

/// Rename a group or change its avatar (owner and admins).
#[utoipa::path(patch, path = "/api/v1/rooms/{id}", tag = "rooms", security(("bearer" = [])),
    params(("id" = i64, Path, description = "room id")),
    request_body = RoomPatch,
    responses((status = 200, body = RoomView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn patch_room(
    State(st): State<AppState>,
    auth: Auth,
    Path(id): Path<i64>,
    Json(patch): Json<RoomPatch>,
) -> Result<axum::Json<RoomView>, ApiError> {
    let input = RoomProfileInput {
        name: patch.name,
        avatar: patch.avatar,
    };
    let summary = st.app.update_room(&auth.user, RoomId(id), input).await?;
    Ok(axum::Json(summary.into()))
}

/// Members of a room I am in.
#[utoipa::path(get, path = "/api/v1/rooms/{id}/members", tag = "rooms", security(("bearer" = [])),
    params(("id" = i64, Path, description = "room id"), PageParams),
    responses((status = 200, body = Page<MemberView>), (status = 404, body = ErrorBody)))]
pub async fn list_members(
    State(st): State<AppState>,
    auth: Auth,
    Path(id): Path<i64>,
    Query(page): Query<PageParams>,
) -> Result<axum::Json<Page<MemberView>>, ApiError> {
    let room = RoomId(id);
    let paging = page.limit().and_then(|limit| Ok((limit, page.after()?)));
    let (limit, after) = match paging {
        Ok(paging) => paging,
        Err(e) => {
            // Someone outside the room learns nothing, not even that the page was wrong.
            st.app.role_in(&auth.user, room).await?;
            return Err(e);
        }
    };
    let members = st
        .app
        .members(&auth.user, room, after.map(UserId), limit + 1)
        .await?;
    let hub = st.hub.clone();
    Ok(axum::Json(page_of(
        members,
        limit,
        |m| m.user.id.0,
        move |m| MemberView {
            online: hub.is_online(m.user.id),
            ..m.into()
        },
    )))
}

/// Add members to a group (owner and admins), by the rule of group
/// creation (403 naming the refused ids under `fields.user_ids`; nothing is
/// added then). Adding a banned user back lifts their ban.
#[utoipa::path(post, path = "/api/v1/rooms/{id}/members", tag = "rooms", security(("bearer" = [])),
    params(("id" = i64, Path, description = "room id")),
    request_body = AddMembersRequest,
    responses((status = 200, description = "the members added", body = [MemberView]), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn add_members(
    State(st): State<AppState>,
    auth: Auth,
    Path(id): Path<i64>,
    Json(req): Json<AddMembersRequest>,
) -> Result<axum::Json<Vec<MemberView>>, ApiError> {
    let added = st
        .app
        .add_members(&auth.user, RoomId(id), req.user_ids)
        .await?;
    Ok(axum::Json(added.into_iter().map(Into::into).collect()))
}

/// Remove a member (owner and admins), which bans them from rejoining by
/// invite link, or leave (yourself; no ban).
#[utoipa::path(delete, path = "/api/v1/rooms/{id}/members/{user_id}", tag = "rooms", security(("bearer" = [])),
    params(("id" = i64, Path, description = "room id"), ("user_id" = i64, Path, description = "member")),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn remove_member(
    State(st): State<AppState>,
    auth: Auth,
    Path((id, user_id)): Path<(i64, i64)>,
) -> Result<StatusCode, ApiError> {
    st.app
        .remove_member(&auth.user, RoomId(id), UserId(user_id))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Change a member: their role (owner only: `admin` or `member`, or
/// `owner` to hand the group over, the owner becoming an admin), or my own
/// group nickname and avatar (yourself only).
#[utoipa::path(patch, path = "/api/v1/rooms/{id}/members/{user_id}", tag = "rooms", security(("bearer" = [])),
    params(("id" = i64, Path, description = "room id"), ("user_id" = i64, Path, description = "member")),
    request_body = MemberPatch,
    responses((status = 200, body = MemberView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn patch_member(
    State(st): State<AppState>,
    auth: Auth,
    Path((id, user_id)): Path<(i64, i64)>,
    Json(patch): Json<MemberPatch>,
) -> Result<axum::Json<MemberView>, ApiError> {
    let input = MemberInput {
        role: patch.role,
        nickname: patch.nickname,
        avatar: patch.avatar,
    };
    let member = st
        .app
        .update_member(&auth.user, RoomId(id), UserId(user_id), input)
        .await?;
    Ok(axum::Json(MemberView {
        online: st.hub.is_online(member.user.id),
        ..member.into()
    }))
}

/// Dissolve a group (owner only): every member gets `room_updated` and a
/// notice; the group stays readable but takes no new messages or members.
#[utoipa::path(delete, path = "/api/v1/rooms/{id}", tag = "rooms", security(("bearer" = [])),
    params(("id" = i64, Path, description = "room id")),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn dissolve(
    State(st): State<AppState>,
    auth: Auth,
    Path(id): Path<i64>,
) -> Result<StatusCode, ApiError> {
    st.app.dissolve(&auth.user, RoomId(id)).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Users an admin removed from a group, who may not rejoin by invite link,
/// by ascending user id (owner and admins).
#[utoipa::path(get, path = "/api/v1/rooms/{id}/bans", tag = "rooms", security(("bearer" = [])),
    params(("id" = i64, Path, description = "room id"), PageParams),
    responses((status = 200, body = Page<BanView>), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn list_bans(
    State(st): State<AppState>,
    auth: Auth,
    Path(id): Path<i64>,
    Query(page): Query<PageParams>,
) -> Result<axum::Json<Page<BanView>>, ApiError> {
    let limit = page.limit()?;
    let after = page.after()?.map(UserId);
    let bans = st
        .app
        .bans(&auth.user, RoomId(id), after, limit + 1)
        .await?;
    Ok(axum::Json(page_of(
        bans,
        limit,
        |b| b.user.id.0,
        Into::into,
    )))
}

/// Lift a ban (owner and admins): the user may join by invite link again.
#[utoipa::path(delete, path = "/api/v1/rooms/{id}/bans/{user_id}", tag = "rooms", security(("bearer" = [])),
    params(("id" = i64, Path, description = "room id"), ("user_id" = i64, Path, description = "the banned user")),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn lift_ban(
    State(st): State<AppState>,
    auth: Auth,
    Path((id, user_id)): Path<(i64, i64)>,
) -> Result<StatusCode, ApiError> {
    st.app
        .lift_ban(&auth.user, RoomId(id), UserId(user_id))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
