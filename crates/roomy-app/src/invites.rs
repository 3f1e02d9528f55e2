//! Invite links to groups.
//!
//! A link is `<public_url>/invite/<token>`; the token (32 random bytes,
//! base64url) is shown once, to its creator, and only its SHA-256 is
//! stored, so neither a copy of the database nor the invite list can give a
//! working link away. The owner and admins create, list and revoke links;
//! anyone signed in (guests too) holding one may preview the group and join.

use crate::{
    App, ChangeKind, WriteError, change_envelopes,
    rooms::{RoomError, group_role},
};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use rand::RngCore;
use roomy_core::{FieldErrors, RoomId, config::Redacted};
use roomy_store::{
    Invite, InviteState, JoinOutcome, Missing, NewInvite, Room, RoomSummary, StoreError, User,
};
use sha2::{Digest, Sha256};

/// Default lifetime of a link: 7 days.
const DEFAULT_EXPIRES_IN: i64 = 7 * 24 * 3600;
/// Shortest and longest lifetimes of a link: a minute to 30 days.
const EXPIRES_IN: std::ops::RangeInclusive<i64> = 60..=30 * 24 * 3600;
/// Joins a limited link may allow.
const MAX_USES: std::ops::RangeInclusive<i64> = 1..=10_000;
/// Random bytes in a token: guessing one is hopeless.
const TOKEN_BYTES: usize = 32;

/// Why an invite operation was refused.
#[derive(Debug, thiserror::Error)]
pub enum InviteError {
    /// No link has this token (or this id in this group).
    #[error("no such invite link")]
    NotFound,
    /// The link has expired.
    #[error("this invite link has expired")]
    Expired,
    /// The link has been used as often as it allows.
    #[error("this invite link has been used as often as it allows")]
    UsedUp,
    /// The link was revoked.
    #[error("this invite link was revoked")]
    Revoked,
    /// An admin removed the user from this group; until the ban is lifted no link lets them in.
    #[error("banned from this group")]
    Banned,
    /// The group was dissolved and takes no new members.
    #[error("this group was dissolved and takes no new members")]
    Dissolved,
    /// The group refuses it (not a member, not a manager, full, ...).
    #[error(transparent)]
    Room(#[from] RoomError),
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

impl From<StoreError> for InviteError {
    fn from(e: StoreError) -> InviteError {
        match e {
            StoreError::RoomDenied(denial) => InviteError::Room(denial.into()),
            other => InviteError::Store(other),
        }
    }
}

/// A new invite link.
#[derive(Debug, Clone, Default)]
pub struct InviteInput {
    /// Seconds the link works, 60 to 2592000 (30 days); default 7 days.
    pub expires_in: Option<i64>,
    /// Joins the link allows, 1 to 10000; `None`: any number.
    pub max_uses: Option<i64>,
}

/// A link just created: the only time its token is known.
#[derive(Debug, Clone)]
pub struct CreatedInvite {
    /// The stored invite.
    pub invite: Invite,
    /// The secret that lets its holder join (never printed by `Debug`).
    pub token: Redacted,
    /// The link: `<public_url>/invite/<token>`, as secret as the token.
    pub url: Redacted,
}

/// What a live link leads to.
#[derive(Debug, Clone)]
pub struct InviteLead {
    /// The invite.
    pub invite: Invite,
    /// Its group.
    pub room: Room,
    /// The actor is in the group already: joining would change nothing.
    pub already_member: bool,
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

/// `Ok` for a live link; why it no longer works otherwise.
fn usable(state: InviteState) -> Result<(), InviteError> {
    match state {
        InviteState::Active => Ok(()),
        InviteState::Expired => Err(InviteError::Expired),
        InviteState::Exhausted => Err(InviteError::UsedUp),
        InviteState::Revoked => Err(InviteError::Revoked),
    }
}

impl App {
    /// The link of a token.
    fn invite_url(&self, token: &str) -> String {
        format!("{}/invite/{token}", self.settings.public_url)
    }

    /// The live invite a token names, with its group.
    async fn live_invite(&self, token: &str) -> Result<(Invite, Room), InviteError> {
        let hash = presented_hash(token).ok_or(InviteError::NotFound)?;
        let (invite, room) = self
            .store
            .invite_by_hash(&hash)
            .await?
            .ok_or(InviteError::NotFound)?;
        usable(invite.state(self.clock.now()))?;
        Ok((invite, room))
    }

    /// Creates an invite link to a group (owner and admins).
    pub async fn create_invite(
        &self,
        actor: &User,
        room: RoomId,
        input: InviteInput,
    ) -> Result<CreatedInvite, InviteError> {
        let mut errors = FieldErrors::new();
        let expires_in = input.expires_in.unwrap_or(DEFAULT_EXPIRES_IN);
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
        if input.max_uses.is_some_and(|n| !MAX_USES.contains(&n)) {
            errors.add(
                "max_uses",
                format!(
                    "must be {} to {}, or absent for any number",
                    MAX_USES.start(),
                    MAX_USES.end()
                ),
            );
        }
        errors.into_result().map_err(InviteError::Invalid)?;
        let token = new_token();
        let now = self.clock.now();
        let new = NewInvite {
            room_id: room,
            created_by: actor.id,
            token_hash: hash_of(&token),
            expires_at: now + time::Duration::seconds(expires_in),
            max_uses: input.max_uses,
        };
        // The store judges the right under the room's lock.
        let invite = self.store.create_invite(new, now).await?;
        Ok(CreatedInvite {
            invite,
            url: Redacted::new(self.invite_url(&token)),
            token: Redacted::new(token),
        })
    }

    /// A group's invite links that are not revoked, newest first, ids below
    /// `before` (owner and admins).
    pub async fn invites(
        &self,
        actor: &User,
        room: RoomId,
        before: Option<i64>,
        limit: u32,
    ) -> Result<Vec<Invite>, InviteError> {
        if !group_role(&*self.store, room, actor.id).await?.0.manages() {
            return Err(RoomError::NotManager.into());
        }
        Ok(self.store.room_invites(room, before, limit).await?)
    }

    /// Revokes a group's invite link (owner and admins); revoking it again changes nothing.
    pub async fn revoke_invite(
        &self,
        actor: &User,
        room: RoomId,
        invite: i64,
    ) -> Result<(), InviteError> {
        // The store judges the right under the room's lock.
        self.store
            .revoke_invite(room, actor.id, invite, self.clock.now())
            .await
            .map_err(|e| match e {
                StoreError::NotFound(Missing::Invite) => InviteError::NotFound,
                other => other.into(),
            })
    }

    /// What a live link leads to, for the actor holding it.
    pub async fn preview_invite(
        &self,
        actor: &User,
        token: &str,
    ) -> Result<InviteLead, InviteError> {
        let (invite, room) = self.live_invite(token).await?;
        let already_member = self.store.member_role(room.id, actor.id).await?.is_some();
        Ok(InviteLead {
            invite,
            room,
            already_member,
        })
    }

    /// The link of a live token (for its QR code, which anyone may fetch).
    pub async fn live_invite_url(&self, token: &str) -> Result<String, InviteError> {
        self.live_invite(token).await?;
        Ok(self.invite_url(token))
    }

    /// The actor joins a group by link (guests too); a member gets the
    /// group without using the link. Returns the group as the actor sees it.
    pub async fn join_invite(&self, actor: &User, token: &str) -> Result<RoomSummary, InviteError> {
        let hash = presented_hash(token).ok_or(InviteError::NotFound)?;
        let me = actor.id;
        let notice = format!("{} joined via an invite link", actor.nickname);
        let capacity = self.group_capacity();
        let now = self.clock.now();
        // On the writer task, so `member_joined` and the notice are published
        // in commit order with the room's messages. The store judges the
        // group's capacity in the transaction that adds the member, under
        // the locks that serialise joins from every node.
        let outcome = self
            .writer
            .exclusive(move |store| async move {
                let outcome = store
                    .join_by_invite(&hash, me, notice, capacity.full_at(), now)
                    .await;
                let envelopes = match &outcome {
                    Ok(JoinOutcome::Joined(change)) => change_envelopes(change, ChangeKind::Joined),
                    _ => Vec::new(),
                };
                (outcome, envelopes)
            })
            .await?
            .map_err(|e| match e {
                StoreError::NotFound(Missing::Invite | Missing::Room) => InviteError::NotFound,
                other => other.into(),
            })?;
        let room = match outcome {
            JoinOutcome::Joined(change) => change.room.id,
            JoinOutcome::AlreadyMember(room) => room.id,
            JoinOutcome::Unusable(state) => {
                return Err(usable(state).err().unwrap_or(InviteError::NotFound));
            }
            JoinOutcome::Banned => return Err(InviteError::Banned),
            JoinOutcome::Dissolved => return Err(InviteError::Dissolved),
            JoinOutcome::GroupFull => {
                return Err(RoomError::GroupFull {
                    max: capacity.max(),
                }
                .into());
            }
        };
        Ok(self.room(actor, room).await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_tokens_this_server_makes_are_looked_up() {
        let token = new_token();
        assert_eq!(presented_hash(&token), Some(hash_of(&token)));
        assert_eq!(hash_of(&token).len(), 64);
        assert_eq!(presented_hash("short"), None);
        assert_eq!(presented_hash("not base64 at all!"), None);
    }

    #[test]
    fn a_created_invite_never_prints_its_token() {
        let token = new_token();
        let now = time::OffsetDateTime::now_utc();
        let created = CreatedInvite {
            invite: Invite {
                id: 1,
                room_id: RoomId(2),
                created_by: roomy_core::UserId(3),
                created_at: now,
                expires_at: now,
                max_uses: None,
                uses: 0,
                revoked_at: None,
            },
            url: Redacted::new(format!("https://chat.example/invite/{token}")),
            token: Redacted::new(token.clone()),
        };
        let printed = format!("{created:?}");
        assert!(!printed.contains(&token), "{printed}");
        assert_eq!(created.token.expose(), token);
    }
}
