//! Rooms: direct rooms, groups, members and roles.
//!
//! Rules: only members see a room (others get 404); owners and admins manage
//! a group's members and profile; only the owner changes roles; an admin may
//! remove members but not the owner or other admins; the owner cannot leave.
//! Nobody puts in a group (creating it or adding to it) a user who blocked
//! them or whom they blocked, nor a guest, and under `direct_messages =
//! friends` only their friends: the store judges it in the writing
//! transaction, and others join by invite link. A member removed by an
//! admin is banned from rejoining by link until an owner or admin lifts the
//! ban or adds them back; leaving bans nobody.
//! Changes that write a notice run on the writer task, so notices and
//! messages reach clients in seq order.

use super::messages::{room_dissolved, room_not_found};
use crate::error::ErrorCode;
use crate::{
    auth::Auth,
    dto::{
        AddMembersRequest, BanView, DirectRequest, GroupRequest, MemberPatch, MemberView,
        RoomPatch, RoomView,
    },
    error::{ApiError, ErrorBody, refused_members},
    extract::{Json, Path, Query},
    pagination::{Page, PageParams, page_of},
    state::AppState,
};
use axum::{extract::State, http::StatusCode};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use roomy_app::{ChangeKind, change_envelopes};
use roomy_bus::{Envelope, Event};
use roomy_core::{
    FieldErrors, Role, RoomId, UserId,
    chat_fields::{MemberRole, RoomKind, RoomName},
    user_fields::{AvatarUrl, Nickname},
};
use roomy_store::{
    MemberProfileChanges, NewGroup, Room, RoomChange, RoomProfileChanges, Store, StoreError, User,
};
use std::sync::Arc;

fn guests_cannot(what: &'static str) -> ApiError {
    ApiError::forbidden(ErrorCode::GuestForbidden, what)
}

fn not_a_group() -> ApiError {
    ApiError::Unprocessable {
        code: ErrorCode::NotAGroup,
        message: "direct rooms have exactly their two members and no profile".into(),
    }
}

pub(crate) fn not_room_admin() -> ApiError {
    ApiError::forbidden(
        ErrorCode::NotRoomAdmin,
        "only the group's owner and admins may do this",
    )
}

/// The caller's role in the room; 404 when not a member.
async fn my_role(store: &dyn Store, room: RoomId, me: UserId) -> Result<MemberRole, ApiError> {
    store
        .member_role(room, me)
        .await?
        .ok_or_else(room_not_found)
}

/// 403 unless the group is still open to changes.
fn writable(room: &Room) -> Result<(), ApiError> {
    if room.dissolved_at.is_some() {
        Err(room_dissolved())
    } else {
        Ok(())
    }
}

fn not_room_owner() -> ApiError {
    ApiError::forbidden(
        ErrorCode::NotRoomOwner,
        "only the group's owner may do this",
    )
}

fn member_not_found() -> ApiError {
    ApiError::not_found(ErrorCode::MemberNotFound, "no such member of this room")
}

/// The caller's role in a group it belongs to, and the group; 422 for direct rooms.
pub(crate) async fn my_group_role(
    store: &dyn Store,
    room: RoomId,
    me: UserId,
) -> Result<(MemberRole, Room), ApiError> {
    let role = my_role(store, room, me).await?;
    let room = store.room(room).await?.ok_or_else(room_not_found)?;
    if room.kind != RoomKind::Group {
        return Err(not_a_group());
    }
    Ok((role, room))
}

/// Runs a change on the writer task and publishes it. The closure checks the
/// caller's rights itself: every membership change runs on that one task, so
/// a check made there still holds when the change is written.
async fn change<F, Fut>(st: &AppState, kind: ChangeKind, f: F) -> Result<RoomChange, ApiError>
where
    F: FnOnce(Arc<dyn Store>) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = Result<RoomChange, ApiError>> + Send + 'static,
{
    st.app
        .writer
        .exclusive(move |store| async move {
            let result = f(store).await;
            let envelopes = match &result {
                Ok(change) => change_envelopes(change, kind),
                Err(_) => Vec::new(),
            };
            (result, envelopes)
        })
        .await?
}

/// Checks that every id is an enabled user; the users, or which ids are not.
async fn existing_users(st: &AppState, ids: &[UserId], field: &str) -> Result<Vec<User>, ApiError> {
    let found = st.app.store.enabled_users(ids).await?;
    let missing: Vec<String> = ids
        .iter()
        .filter(|id| !found.iter().any(|u| u.id == **id))
        .map(|id| id.0.to_string())
        .collect();
    if missing.is_empty() {
        Ok(found)
    } else {
        Err(ApiError::field(
            field,
            format!("no such users: {}", missing.join(", ")),
        ))
    }
}

fn names(users: &[User]) -> String {
    users
        .iter()
        .map(|u| u.nickname.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

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
    if auth.user.role == Role::Guest {
        return Err(guests_cannot(
            "guests chat only in groups they were invited to",
        ));
    }
    if req.user_id == auth.user.id {
        return Err(ApiError::Unprocessable {
            code: ErrorCode::CannotMessageSelf,
            message: "a direct room needs another user".into(),
        });
    }
    let peer = st
        .app
        .store
        .enabled_users(&[req.user_id])
        .await?
        .pop()
        .ok_or_else(|| ApiError::not_found(ErrorCode::UserNotFound, "no such user"))?;
    if peer.role == Role::Guest {
        return Err(guests_cannot(
            "guests chat only in groups they were invited to",
        ));
    }
    let now = st.app.clock.now();
    let me = auth.user.id;
    let policy = st.app.settings.direct_messages;
    // On the writer task, so the room's `member_joined` goes out before any
    // message committed in it.
    let (room, created) = st
        .app
        .writer
        .exclusive(move |store| async move {
            let opened = async {
                let (room, created) = store
                    .find_or_create_direct(me, peer.id, policy, now)
                    .await?;
                let members = if created {
                    store.members(room.id, None, 2).await?
                } else {
                    Vec::new()
                };
                Ok::<_, roomy_store::StoreError>((room, created, members))
            }
            .await;
            match opened {
                Ok((room, created, members)) => {
                    let envelopes = if created {
                        vec![Envelope {
                            recipients: members.iter().map(|m| m.user.id).collect(),
                            event: Event::MembersJoined {
                                room: room.clone(),
                                members,
                            },
                            origin: None,
                        }]
                    } else {
                        Vec::new()
                    };
                    (Ok((room, created)), envelopes)
                }
                Err(e) => (Err(e), Vec::new()),
            }
        })
        .await??;
    let summary = st
        .app
        .store
        .room_summary(room.id, auth.user.id)
        .await?
        .ok_or_else(room_not_found)?;
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
    if auth.user.role == Role::Guest {
        return Err(guests_cannot("guests cannot create groups"));
    }
    let mut errors = FieldErrors::new();
    let name = errors.check("name", RoomName::parse(&req.name));
    let mut members: Vec<UserId> = req
        .member_ids
        .iter()
        .copied()
        .filter(|id| *id != auth.user.id)
        .collect();
    members.sort();
    members.dedup();
    if members.len() + 1 > st.app.settings.max_group_members {
        errors.add(
            "member_ids",
            format!(
                "a group has at most {} members",
                st.app.settings.max_group_members
            ),
        );
    }
    errors.into_result()?;
    let Some(name) = name else {
        return Err(ApiError::field("name", "is invalid"));
    };
    existing_users(&st, &members, "member_ids").await?;
    let notice = format!("{} created the group {}", auth.user.nickname, name.as_str());
    let now = st.app.clock.now();
    let owner = auth.user.id;
    let policy = st.app.settings.direct_messages;
    let created = change(&st, ChangeKind::Joined, move |store| async move {
        let group = NewGroup {
            owner,
            name,
            members,
            notice,
            policy,
        };
        store.create_group(group, now).await.map_err(|e| match e {
            StoreError::MembersRefused(refused) => refused_members(&refused, "member_ids"),
            other => other.into(),
        })
    })
    .await?;
    let summary = st
        .app
        .store
        .room_summary(created.room.id, owner)
        .await?
        .ok_or_else(room_not_found)?;
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
    let mut rows = st
        .app
        .store
        .rooms_of(auth.user.id, after, limit + 1)
        .await?;
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
    let summary = st
        .app
        .store
        .room_summary(RoomId(id), auth.user.id)
        .await?
        .ok_or_else(room_not_found)?;
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
    let room = RoomId(id);
    let mut errors = FieldErrors::new();
    let name = patch
        .name
        .as_deref()
        .and_then(|n| errors.check("name", RoomName::parse(n)));
    let avatar = clearable(&mut errors, "avatar", patch.avatar, AvatarUrl::parse, |a| {
        a.as_str().to_owned()
    });
    errors.into_result()?;
    if name.is_none() && avatar.is_none() {
        return Err(ApiError::field(
            "name",
            "give a name or an avatar to change",
        ));
    }
    let notice = match &name {
        Some(n) => format!("{} renamed the group to {}", auth.user.nickname, n.as_str()),
        None => format!("{} changed the group avatar", auth.user.nickname),
    };
    let now = st.app.clock.now();
    let actor = auth.user.id;
    change(&st, ChangeKind::Updated, move |store| async move {
        let (role, current) = my_group_role(&*store, room, actor).await?;
        if !role.manages() {
            return Err(not_room_admin());
        }
        writable(&current)?;
        let changes = RoomProfileChanges { name, avatar };
        Ok(store.update_room(room, actor, changes, notice, now).await?)
    })
    .await?;
    get_room(State(st), auth, Path(id)).await
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
    my_role(&*st.app.store, room, auth.user.id).await?;
    let limit = page.limit()?;
    let members = st
        .app
        .store
        .members(room, page.after()?.map(UserId), limit + 1)
        .await?;
    let hub = st.hub.clone();
    Ok(axum::Json(crate::pagination::page_of(
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
    let room = RoomId(id);
    let mut ids = req.user_ids.clone();
    ids.sort();
    ids.dedup();
    if ids.is_empty() || ids.len() > st.app.settings.max_group_members {
        return Err(ApiError::field(
            "user_ids",
            format!("give 1 to {} user ids", st.app.settings.max_group_members),
        ));
    }
    let users = existing_users(&st, &ids, "user_ids").await?;
    let max = st.app.settings.max_group_members;
    let policy = st.app.settings.direct_messages;
    let notice = format!("{} added {}", auth.user.nickname, names(&users));
    let now = st.app.clock.now();
    let actor = auth.user.id;
    let added = change(&st, ChangeKind::Joined, move |store| async move {
        let (role, current) = my_group_role(&*store, room, actor).await?;
        if !role.manages() {
            return Err(not_room_admin());
        }
        writable(&current)?;
        if current.member_count as usize + ids.len() > max {
            return Err(ApiError::Conflict {
                code: ErrorCode::GroupFull,
                message: format!("a group has at most {max} members"),
                fields: FieldErrors::new(),
            });
        }
        Ok(store
            .add_members(room, actor, &ids, policy, notice, now)
            .await?)
    })
    .await?;
    Ok(axum::Json(
        added.members.into_iter().map(Into::into).collect(),
    ))
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
    let room = RoomId(id);
    let target = UserId(user_id);
    let actor = auth.user.id;
    let actor_name = auth.user.nickname.clone();
    let now = st.app.clock.now();
    change(&st, ChangeKind::Left(target), move |store| async move {
        let (mine, current) = my_group_role(&*store, room, actor).await?;
        let theirs = store
            .member_role(room, target)
            .await?
            .ok_or_else(member_not_found)?;
        let leaving = target == actor;
        // Anyone may leave a dissolved group, its owner included; nobody is removed.
        if !leaving {
            writable(&current)?;
        }
        if leaving && mine == MemberRole::Owner && current.dissolved_at.is_none() {
            return Err(ApiError::Conflict {
                code: ErrorCode::OwnerCannotLeave,
                message: "the owner must hand the group to someone else before leaving".into(),
                fields: FieldErrors::new(),
            });
        }
        if !leaving && (!mine.manages() || theirs >= mine) {
            return Err(ApiError::forbidden(
                ErrorCode::CannotRemoveMember,
                "only the owner removes admins; admins remove members; nobody removes the owner",
            ));
        }
        let notice = if leaving {
            format!("{actor_name} left the group")
        } else {
            let who = store
                .user(target)
                .await?
                .map_or_else(|| "a member".to_owned(), |u| u.nickname);
            format!("{actor_name} removed {who}")
        };
        Ok(store
            .remove_member(room, actor, target, notice, now)
            .await?)
    })
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
    let room = RoomId(id);
    let target = UserId(user_id);
    let profile = patch.nickname.is_some() || patch.avatar.is_some();
    let changed = match (patch.role, profile) {
        (Some(_), true) => {
            return Err(ApiError::field(
                "role",
                "change a role or a group profile, not both at once",
            ));
        }
        (None, false) => {
            return Err(ApiError::field(
                "role",
                "give a role, or a nickname or avatar to change",
            ));
        }
        (Some(role), false) => change_role(&st, &auth, room, target, role).await?,
        (None, true) => change_profile(&st, &auth, room, target, patch).await?,
    };
    let member = changed
        .members
        .into_iter()
        .find(|m| m.user.id == target)
        .ok_or_else(member_not_found)?;
    Ok(axum::Json(MemberView {
        online: st.hub.is_online(member.user.id),
        ..member.into()
    }))
}

async fn change_role(
    st: &AppState,
    auth: &Auth,
    room: RoomId,
    target: UserId,
    role: MemberRole,
) -> Result<RoomChange, ApiError> {
    let now = st.app.clock.now();
    let actor = auth.user.id;
    let actor_name = auth.user.nickname.clone();
    change(st, ChangeKind::Updated, move |store| async move {
        let (mine, current) = my_group_role(&*store, room, actor).await?;
        if mine != MemberRole::Owner {
            return Err(not_room_owner());
        }
        writable(&current)?;
        if target == actor {
            return Err(ApiError::field(
                "role",
                "the owner's role changes by handing the group to another member",
            ));
        }
        let not_found = |e| match e {
            StoreError::NotFound => member_not_found(),
            other => other.into(),
        };
        if role == MemberRole::Owner {
            let heir = store
                .member(room, target)
                .await?
                .ok_or_else(member_not_found)?;
            let notice = format!(
                "{actor_name} made {} the owner of the group",
                heir.display_name()
            );
            return store
                .transfer_ownership(room, actor, target, notice, now)
                .await
                .map_err(not_found);
        }
        store
            .set_member_role(room, target, role, now)
            .await
            .map_err(not_found)
    })
    .await
}

/// Parses an optional clearable text: absent, null or "" (clear), or a value.
fn clearable<T>(
    errors: &mut FieldErrors,
    field: &str,
    given: Option<Option<String>>,
    parse: impl Fn(&str) -> Result<T, String>,
    text: impl Fn(T) -> String,
) -> Option<Option<String>> {
    match given {
        None => None,
        Some(None) => Some(None),
        Some(Some(v)) if v.is_empty() => Some(None),
        Some(Some(v)) => errors.check(field, parse(&v)).map(|t| Some(text(t))),
    }
}

async fn change_profile(
    st: &AppState,
    auth: &Auth,
    room: RoomId,
    target: UserId,
    patch: MemberPatch,
) -> Result<RoomChange, ApiError> {
    if target != auth.user.id {
        return Err(ApiError::forbidden(
            ErrorCode::NotYourself,
            "members set only their own group nickname and avatar",
        ));
    }
    let mut errors = FieldErrors::new();
    let nickname = clearable(
        &mut errors,
        "nickname",
        patch.nickname,
        Nickname::parse,
        |n| n.as_str().to_owned(),
    );
    let avatar = clearable(&mut errors, "avatar", patch.avatar, AvatarUrl::parse, |a| {
        a.as_str().to_owned()
    });
    errors.into_result()?;
    let now = st.app.clock.now();
    change(st, ChangeKind::Updated, move |store| async move {
        let (_, current) = my_group_role(&*store, room, target).await?;
        writable(&current)?;
        let changes = MemberProfileChanges { nickname, avatar };
        Ok(store
            .update_member_profile(room, target, changes, now)
            .await?)
    })
    .await
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
    let room = RoomId(id);
    let actor = auth.user.id;
    let notice = format!("{} dissolved the group", auth.user.nickname);
    let now = st.app.clock.now();
    change(&st, ChangeKind::Updated, move |store| async move {
        let (mine, current) = my_group_role(&*store, room, actor).await?;
        if mine != MemberRole::Owner {
            return Err(not_room_owner());
        }
        writable(&current)?;
        Ok(store.dissolve_room(room, actor, notice, now).await?)
    })
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

fn ban_not_found() -> ApiError {
    ApiError::not_found(
        ErrorCode::BanNotFound,
        "this user is not banned from this group",
    )
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
    let room = RoomId(id);
    let limit = page.limit()?;
    let after = page.after()?.map(UserId);
    if !my_group_role(&*st.app.store, room, auth.user.id)
        .await?
        .0
        .manages()
    {
        return Err(not_room_admin());
    }
    let bans = st.app.store.room_bans(room, after, limit + 1).await?;
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
    let room = RoomId(id);
    let actor = auth.user.id;
    // On the writer task, where every role change runs: the check still
    // holds when the ban is lifted.
    st.app
        .writer
        .exclusive(move |store| async move {
            let lifted = async {
                if !my_group_role(&*store, room, actor).await?.0.manages() {
                    return Err(not_room_admin());
                }
                store
                    .lift_ban(room, UserId(user_id))
                    .await
                    .map_err(|e| match e {
                        StoreError::NotFound => ban_not_found(),
                        other => other.into(),
                    })
            }
            .await;
            (lifted, Vec::new())
        })
        .await??;
    Ok(StatusCode::NO_CONTENT)
}
