//! Rooms: direct rooms, groups, members and roles.
//!
//! Rules: only members see a room (others get [`RoomError::NotFound`]);
//! owners and admins manage a group's members and profile; only the owner
//! changes roles; an admin may remove members but not the owner or other
//! admins; the owner cannot leave. Nobody puts in a group (creating it or
//! adding to it) a user who blocked them or whom they blocked, nor a guest,
//! and under `direct_messages = friends` only their friends: the store judges
//! it in the writing transaction, and others join by invite link. A member
//! removed by an admin is banned from rejoining by link until an owner or
//! admin lifts the ban or adds them back; leaving bans nobody.
//!
//! Changes that write a notice run on the writer task, so notices and
//! messages reach clients in seq order. The rights and rules of a change
//! are judged by the store in the transaction that writes it, under the
//! room's lock ([`RoomDenial`] maps to [`RoomError`]): several nodes, each
//! with its own writer task, may change one group at once.

use crate::{App, ChangeKind, WriteError, change_envelopes};
use roomy_bus::{Envelope, Event};
use roomy_core::{
    FieldErrors, Role, RoomId, UserId,
    chat_fields::{MemberRole, RoomKind, RoomName},
    user_fields::{AvatarUrl, Nickname},
};
use roomy_store::{
    Ban, Member, MemberProfileChanges, Missing, NewGroup, Refusal, Room, RoomChange, RoomDenial,
    RoomProfileChanges, RoomSummary, Store, StoreError, User,
};
use std::{future::Future, sync::Arc};

/// What guests may not do: they chat only in groups they were invited to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GuestLimit {
    /// Open a direct room, or be the other member of one.
    DirectRooms,
    /// Create a group.
    CreateGroups,
}

/// Why a room operation was refused.
#[derive(Debug, thiserror::Error)]
pub enum RoomError {
    /// The room does not exist or the actor is not a member.
    #[error("no such room among yours")]
    NotFound,
    /// A direct room: it has exactly its two members and no profile.
    #[error("direct rooms have exactly their two members and no profile")]
    NotAGroup,
    /// Only the group's owner and admins may do this.
    #[error("only the group's owner and admins may do this")]
    NotManager,
    /// Only the group's owner may do this.
    #[error("only the group's owner may do this")]
    NotOwner,
    /// The group was dissolved: it can be read, not changed.
    #[error("this group was dissolved: it can be read, not changed")]
    Dissolved,
    /// The group would have more members than a group may.
    #[error("a group has at most {max} members")]
    GroupFull {
        /// The most members a group may have.
        max: usize,
    },
    /// The user is not a member of this room.
    #[error("no such member of this room")]
    MemberNotFound,
    /// The owner must hand the group over before leaving it.
    #[error("the owner must hand the group to someone else before leaving")]
    OwnerCannotLeave,
    /// Only the owner removes admins; admins remove members; nobody removes the owner.
    #[error("this member may not be removed by you")]
    CannotRemoveMember,
    /// Members change only their own group profile.
    #[error("members set only their own group nickname and avatar")]
    NotYourself,
    /// Guests may not do this.
    #[error("guests may not do this: {0:?}")]
    GuestForbidden(GuestLimit),
    /// A direct room needs another user.
    #[error("a direct room needs another user")]
    CannotMessageSelf,
    /// No enabled user has this id.
    #[error("no such user")]
    UserNotFound,
    /// Some ids of `field` are no enabled user.
    #[error("no such users: {ids:?}")]
    NoSuchUsers {
        /// The input field that named them.
        field: &'static str,
        /// The ids that are no enabled user.
        ids: Vec<UserId>,
    },
    /// The actor may not put these users (named by `field`) in a group; nothing was written.
    #[error("these users may not be put in a group: {refused:?}")]
    Refused {
        /// The input field that named them.
        field: &'static str,
        /// Each refused user, and why.
        refused: Vec<(UserId, Refusal)>,
    },
    /// The social graph forbids it (a block, or no friendship where one is needed).
    #[error("refused: {0:?}")]
    Denied(Refusal),
    /// The user is not banned from this group.
    #[error("this user is not banned from this group")]
    BanNotFound,
    /// Some input fields are invalid.
    #[error("invalid input: {0:?}")]
    Invalid(FieldErrors),
    /// The database failed.
    #[error(transparent)]
    Store(StoreError),
    /// The writer could not run the change.
    #[error(transparent)]
    Write(#[from] WriteError),
}

impl From<StoreError> for RoomError {
    fn from(e: StoreError) -> RoomError {
        match e {
            StoreError::RoomDenied(denial) => denial.into(),
            other => RoomError::Store(other),
        }
    }
}

impl From<RoomDenial> for RoomError {
    fn from(denial: RoomDenial) -> RoomError {
        match denial {
            RoomDenial::RoomNotFound => RoomError::NotFound,
            RoomDenial::NotAGroup => RoomError::NotAGroup,
            RoomDenial::NotManager => RoomError::NotManager,
            RoomDenial::NotOwner => RoomError::NotOwner,
            RoomDenial::Dissolved => RoomError::Dissolved,
            RoomDenial::GroupFull { max } => RoomError::GroupFull {
                max: usize::try_from(max).unwrap_or(usize::MAX),
            },
            RoomDenial::MemberNotFound => RoomError::MemberNotFound,
            RoomDenial::OwnerCannotLeave => RoomError::OwnerCannotLeave,
            RoomDenial::CannotRemoveMember => RoomError::CannotRemoveMember,
            RoomDenial::OwnRole => invalid(
                "role",
                "the owner's role changes by handing the group to another member",
            ),
            RoomDenial::HandOverOnly => invalid("role", "a group changes owner by a hand-over"),
        }
    }
}

/// The one rule on a group's size, whichever way members come in
/// (creation, additions, invite links): at most this many, the owner included.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GroupCapacity {
    max: usize,
}

impl GroupCapacity {
    /// At most `max` members.
    pub fn new(max: usize) -> GroupCapacity {
        GroupCapacity { max }
    }

    /// The most members a group may have.
    pub fn max(self) -> usize {
        self.max
    }

    /// Whether a group of `members` has room for `joining` more.
    pub fn fits(self, members: usize, joining: usize) -> bool {
        members.saturating_add(joining) <= self.max
    }

    /// The most members, as the store judges additions and joins by link
    /// under the room's lock (`RoomFacts::may_add`).
    pub fn full_at(self) -> i64 {
        i64::try_from(self.max).unwrap_or(i64::MAX)
    }
}

/// A new group.
#[derive(Debug, Clone)]
pub struct NewGroupInput {
    /// Its name, 1-50 characters.
    pub name: String,
    /// Its first members besides the creator, who becomes the owner.
    pub member_ids: Vec<UserId>,
}

/// A change of a group's profile: at least one of the two.
#[derive(Debug, Clone, Default)]
pub struct RoomProfileInput {
    /// A new name.
    pub name: Option<String>,
    /// A new avatar url; `Some(None)` or `Some(Some(""))` removes it.
    pub avatar: Option<Option<String>>,
}

/// A change of a member: their role, or (yourself only) your group profile, not both.
#[derive(Debug, Clone, Default)]
pub struct MemberInput {
    /// A new role (owner only); `Owner` hands the group over.
    pub role: Option<MemberRole>,
    /// A group nickname; `Some(None)` or `Some(Some(""))` clears it.
    pub nickname: Option<Option<String>>,
    /// A group avatar url; `Some(None)` or `Some(Some(""))` clears it.
    pub avatar: Option<Option<String>>,
}

/// The actor's role in a room; `NotFound` when not a member.
async fn role_in(store: &dyn Store, room: RoomId, actor: UserId) -> Result<MemberRole, RoomError> {
    store
        .member_role(room, actor)
        .await?
        .ok_or(RoomError::NotFound)
}

/// The actor's role in a group it belongs to, and the group; `NotAGroup` for direct rooms.
pub(crate) async fn group_role(
    store: &dyn Store,
    room: RoomId,
    actor: UserId,
) -> Result<(MemberRole, Room), RoomError> {
    let role = role_in(store, room, actor).await?;
    let room = store.room(room).await?.ok_or(RoomError::NotFound)?;
    if room.kind != RoomKind::Group {
        return Err(RoomError::NotAGroup);
    }
    Ok((role, room))
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

fn invalid(field: &str, why: impl Into<String>) -> RoomError {
    let mut errors = FieldErrors::new();
    errors.add(field, why);
    RoomError::Invalid(errors)
}

fn names(users: &[User]) -> String {
    users
        .iter()
        .map(|u| u.nickname.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Maps the store's refusal of group members to the input field that named them.
fn refused_as(field: &'static str) -> impl Fn(StoreError) -> RoomError {
    move |e| match e {
        StoreError::MembersRefused(refused) => RoomError::Refused { field, refused },
        other => other.into(),
    }
}

impl App {
    /// The rule on a group's size.
    pub fn group_capacity(&self) -> GroupCapacity {
        GroupCapacity::new(self.settings.max_group_members)
    }

    /// Runs a change on the writer task, so its notice and events are
    /// published in commit order, and publishes them. The store judges the
    /// rights inside the change's transaction.
    async fn change<F, Fut>(&self, kind: ChangeKind, f: F) -> Result<RoomChange, RoomError>
    where
        F: FnOnce(Arc<dyn Store>) -> Fut + Send + 'static,
        Fut: Future<Output = Result<RoomChange, RoomError>> + Send + 'static,
    {
        self.writer
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
    async fn existing_users(
        &self,
        ids: &[UserId],
        field: &'static str,
    ) -> Result<Vec<User>, RoomError> {
        let found = self.store.enabled_users(ids).await?;
        let missing: Vec<UserId> = ids
            .iter()
            .filter(|id| !found.iter().any(|u| u.id == **id))
            .copied()
            .collect();
        if missing.is_empty() {
            Ok(found)
        } else {
            Err(RoomError::NoSuchUsers {
                field,
                ids: missing,
            })
        }
    }

    /// The actor's role in a room it is in; `NotFound` otherwise.
    pub async fn role_in(&self, actor: &User, room: RoomId) -> Result<MemberRole, RoomError> {
        role_in(&*self.store, room, actor.id).await
    }

    /// Opens the direct room of the actor and `peer`, found or created
    /// (`true`: created), as the actor sees it.
    pub async fn open_direct(
        &self,
        actor: &User,
        peer: UserId,
    ) -> Result<(RoomSummary, bool), RoomError> {
        if actor.role == Role::Guest {
            return Err(RoomError::GuestForbidden(GuestLimit::DirectRooms));
        }
        if peer == actor.id {
            return Err(RoomError::CannotMessageSelf);
        }
        let peer = self
            .store
            .enabled_users(&[peer])
            .await?
            .pop()
            .ok_or(RoomError::UserNotFound)?;
        if peer.role == Role::Guest {
            return Err(RoomError::GuestForbidden(GuestLimit::DirectRooms));
        }
        let now = self.clock.now();
        let me = actor.id;
        let policy = self.settings.direct_messages;
        // On the writer task, so the room's `member_joined` goes out before
        // any message committed in it.
        let (room, created) = self
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
                    Ok::<_, StoreError>((room, created, members))
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
            .await?
            .map_err(|e| match e {
                StoreError::Refused(why) => RoomError::Denied(why),
                other => other.into(),
            })?;
        Ok((self.room(actor, room.id).await?, created))
    }

    /// Creates a group owned by the actor, with its members (all or none:
    /// `Refused` names those the actor may not put in a group).
    pub async fn create_group(
        &self,
        actor: &User,
        input: NewGroupInput,
    ) -> Result<RoomSummary, RoomError> {
        if actor.role == Role::Guest {
            return Err(RoomError::GuestForbidden(GuestLimit::CreateGroups));
        }
        let mut errors = FieldErrors::new();
        let name = errors.check("name", RoomName::parse(&input.name));
        let mut members: Vec<UserId> = input
            .member_ids
            .iter()
            .copied()
            .filter(|id| *id != actor.id)
            .collect();
        members.sort();
        members.dedup();
        let capacity = self.group_capacity();
        if !capacity.fits(1, members.len()) {
            errors.add(
                "member_ids",
                format!("a group has at most {} members", capacity.max()),
            );
        }
        errors.into_result().map_err(RoomError::Invalid)?;
        let Some(name) = name else {
            return Err(invalid("name", "is invalid"));
        };
        self.existing_users(&members, "member_ids").await?;
        let notice = format!("{} created the group {}", actor.nickname, name.as_str());
        let now = self.clock.now();
        let owner = actor.id;
        let policy = self.settings.direct_messages;
        let created = self
            .change(ChangeKind::Joined, move |store| async move {
                let group = NewGroup {
                    owner,
                    name,
                    members,
                    notice,
                    policy,
                };
                store
                    .create_group(group, now)
                    .await
                    .map_err(refused_as("member_ids"))
            })
            .await?;
        self.room(actor, created.room.id).await
    }

    /// The actor's rooms, most recently active first, after the `(activity,
    /// room id)` position `after`, each with its activity.
    pub async fn rooms(
        &self,
        actor: &User,
        after: Option<(i64, RoomId)>,
        limit: u32,
    ) -> Result<Vec<(i64, RoomSummary)>, RoomError> {
        Ok(self.store.rooms_of(actor.id, after, limit).await?)
    }

    /// A room the actor is in, as they see it.
    pub async fn room(&self, actor: &User, room: RoomId) -> Result<RoomSummary, RoomError> {
        self.store
            .room_summary(room, actor.id)
            .await?
            .ok_or(RoomError::NotFound)
    }

    /// Renames a group or changes its avatar (owner and admins).
    pub async fn update_room(
        &self,
        actor: &User,
        room: RoomId,
        input: RoomProfileInput,
    ) -> Result<RoomSummary, RoomError> {
        let mut errors = FieldErrors::new();
        let name = input
            .name
            .as_deref()
            .and_then(|n| errors.check("name", RoomName::parse(n)));
        let avatar = clearable(&mut errors, "avatar", input.avatar, AvatarUrl::parse, |a| {
            a.as_str().to_owned()
        });
        errors.into_result().map_err(RoomError::Invalid)?;
        if name.is_none() && avatar.is_none() {
            return Err(invalid("name", "give a name or an avatar to change"));
        }
        let notice = match &name {
            Some(n) => format!("{} renamed the group to {}", actor.nickname, n.as_str()),
            None => format!("{} changed the group avatar", actor.nickname),
        };
        let now = self.clock.now();
        let by = actor.id;
        self.change(ChangeKind::Updated, move |store| async move {
            let changes = RoomProfileChanges { name, avatar };
            Ok(store.update_room(room, by, changes, notice, now).await?)
        })
        .await?;
        self.room(actor, room).await
    }

    /// Members of a room the actor is in, by ascending user id after `after`.
    pub async fn members(
        &self,
        actor: &User,
        room: RoomId,
        after: Option<UserId>,
        limit: u32,
    ) -> Result<Vec<Member>, RoomError> {
        role_in(&*self.store, room, actor.id).await?;
        Ok(self.store.members(room, after, limit).await?)
    }

    /// Adds users to a group (owner and admins), by the rule of group
    /// creation (`Refused`, and nothing added, when any may not be put in a
    /// group by the actor); adding a banned user back lifts their ban.
    /// Returns the members added.
    pub async fn add_members(
        &self,
        actor: &User,
        room: RoomId,
        user_ids: Vec<UserId>,
    ) -> Result<Vec<Member>, RoomError> {
        let mut ids = user_ids;
        ids.sort();
        ids.dedup();
        let capacity = self.group_capacity();
        if ids.is_empty() || ids.len() > capacity.max() {
            return Err(invalid(
                "user_ids",
                format!("give 1 to {} user ids", capacity.max()),
            ));
        }
        let users = self.existing_users(&ids, "user_ids").await?;
        let policy = self.settings.direct_messages;
        let notice = format!("{} added {}", actor.nickname, names(&users));
        let now = self.clock.now();
        let by = actor.id;
        let added = self
            .change(ChangeKind::Joined, move |store| async move {
                // The store judges rights and capacity under the room's lock.
                store
                    .add_members(room, by, &ids, policy, notice, capacity.full_at(), now)
                    .await
                    .map_err(refused_as("user_ids"))
            })
            .await?;
        Ok(added.members)
    }

    /// Removes a member from a group (owner and admins), which bans them
    /// from rejoining by link; or, when `target` is the actor, leaves it
    /// (no ban). Anyone may leave a dissolved group, its owner included.
    pub async fn remove_member(
        &self,
        actor: &User,
        room: RoomId,
        target: UserId,
    ) -> Result<(), RoomError> {
        let by = actor.id;
        let by_name = actor.nickname.clone();
        let now = self.clock.now();
        self.change(ChangeKind::Left(target), move |store| async move {
            let leaving = target == by;
            // The store judges the rights under the room's lock; the names
            // of the notice need none.
            let notice = if leaving {
                format!("{by_name} left the group")
            } else {
                let who = store
                    .user(target)
                    .await?
                    .map_or_else(|| "a member".to_owned(), |u| u.nickname);
                format!("{by_name} removed {who}")
            };
            Ok(store.remove_member(room, by, target, notice, now).await?)
        })
        .await?;
        Ok(())
    }

    /// Changes a member: their role (owner only; `Owner` hands the group
    /// over, the owner becoming an admin), or the actor's own group nickname
    /// and avatar. Returns the member as changed.
    pub async fn update_member(
        &self,
        actor: &User,
        room: RoomId,
        target: UserId,
        input: MemberInput,
    ) -> Result<Member, RoomError> {
        let profile = input.nickname.is_some() || input.avatar.is_some();
        let changed = match (input.role, profile) {
            (Some(_), true) => {
                return Err(invalid(
                    "role",
                    "change a role or a group profile, not both at once",
                ));
            }
            (None, false) => {
                return Err(invalid(
                    "role",
                    "give a role, or a nickname or avatar to change",
                ));
            }
            (Some(role), false) => self.change_role(actor, room, target, role).await?,
            (None, true) => self.change_profile(actor, room, target, input).await?,
        };
        changed
            .members
            .into_iter()
            .find(|m| m.user.id == target)
            .ok_or(RoomError::MemberNotFound)
    }

    async fn change_role(
        &self,
        actor: &User,
        room: RoomId,
        target: UserId,
        role: MemberRole,
    ) -> Result<RoomChange, RoomError> {
        let now = self.clock.now();
        let by = actor.id;
        let by_name = actor.nickname.clone();
        self.change(ChangeKind::Updated, move |store| async move {
            // The store judges the rights under the room's lock.
            if role == MemberRole::Owner {
                let heir = store.member(room, target).await?;
                let notice = format!(
                    "{by_name} made {} the owner of the group",
                    heir.as_ref().map_or("a member", |h| h.display_name())
                );
                return Ok(store
                    .transfer_ownership(room, by, target, notice, now)
                    .await?);
            }
            Ok(store.set_member_role(room, by, target, role, now).await?)
        })
        .await
    }

    async fn change_profile(
        &self,
        actor: &User,
        room: RoomId,
        target: UserId,
        input: MemberInput,
    ) -> Result<RoomChange, RoomError> {
        if target != actor.id {
            return Err(RoomError::NotYourself);
        }
        let mut errors = FieldErrors::new();
        let nickname = clearable(
            &mut errors,
            "nickname",
            input.nickname,
            Nickname::parse,
            |n| n.as_str().to_owned(),
        );
        let avatar = clearable(&mut errors, "avatar", input.avatar, AvatarUrl::parse, |a| {
            a.as_str().to_owned()
        });
        errors.into_result().map_err(RoomError::Invalid)?;
        let now = self.clock.now();
        self.change(ChangeKind::Updated, move |store| async move {
            let changes = MemberProfileChanges { nickname, avatar };
            Ok(store
                .update_member_profile(room, target, changes, now)
                .await?)
        })
        .await
    }

    /// Dissolves a group (owner only): it stays readable but takes no new
    /// messages or members.
    pub async fn dissolve(&self, actor: &User, room: RoomId) -> Result<(), RoomError> {
        let by = actor.id;
        let notice = format!("{} dissolved the group", actor.nickname);
        let now = self.clock.now();
        self.change(ChangeKind::Updated, move |store| async move {
            Ok(store.dissolve_room(room, by, notice, now).await?)
        })
        .await?;
        Ok(())
    }

    /// Users an admin removed from a group, who may not rejoin by link, by
    /// ascending user id after `after` (owner and admins).
    pub async fn bans(
        &self,
        actor: &User,
        room: RoomId,
        after: Option<UserId>,
        limit: u32,
    ) -> Result<Vec<Ban>, RoomError> {
        if !group_role(&*self.store, room, actor.id).await?.0.manages() {
            return Err(RoomError::NotManager);
        }
        Ok(self.store.room_bans(room, after, limit).await?)
    }

    /// Lifts a ban (owner and admins): the user may join by link again.
    pub async fn lift_ban(
        &self,
        actor: &User,
        room: RoomId,
        user: UserId,
    ) -> Result<(), RoomError> {
        // The store judges the right under the room's lock.
        self.store
            .lift_ban(room, actor.id, user)
            .await
            .map_err(|e| match e {
                StoreError::NotFound(Missing::Ban) => RoomError::BanNotFound,
                other => other.into(),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capacity_counts_the_owner_and_every_newcomer() {
        let cap = GroupCapacity::new(3);
        assert!(cap.fits(1, 2));
        assert!(!cap.fits(1, 3));
        assert_eq!(cap.full_at(), 3);
    }
}
