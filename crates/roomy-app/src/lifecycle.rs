//! A message's life after sending: read positions, revocation and
//! delete-for-me.
//!
//! Everything here that other devices must learn is written as a per-user
//! notice or a room notice at a stream position, so sync returns it to
//! devices that were offline; the live copies go out on the bus from here.

use crate::{App, MessageError, messages::invalid};
use roomy_bus::{Envelope, Event, Origin};
use roomy_core::{MessageId, RoomId, UserId, chat_fields::MessageKind, clock::to_millis};
use roomy_store::{
    Member, Message, Missing, Notice, ReadMark, Revocation, Revoker, Store, StoreError, User,
};

/// Most ids one batch delete takes.
pub const MAX_DELETE_BATCH: usize = 500;

/// The envelopes announcing a revocation (none when it was revoked already).
pub fn revocation_envelopes(r: &Revocation, by_admin: bool) -> Vec<Envelope> {
    match &r.notice {
        Some(notice) => vec![Envelope {
            recipients: r.recipients.clone(),
            event: Event::Revoked {
                message: r.message.clone(),
                notice: notice.clone(),
                by_admin,
            },
            origin: None,
        }],
        None => Vec::new(),
    }
}

/// The message if `me` is a member of its room now.
async fn my_message(store: &dyn Store, me: UserId, id: MessageId) -> Result<Message, MessageError> {
    let message = store
        .message(id)
        .await?
        .ok_or(MessageError::MessageNotFound)?;
    if store.member_role(message.room_id, me).await?.is_none() {
        return Err(MessageError::MessageNotFound);
    }
    Ok(message)
}

/// Seed 002's rule: group nickname, else nickname, else username.
fn display_name(member: &Member, user: &User) -> String {
    let name = member.display_name();
    if name.trim().is_empty() {
        user.username.clone()
    } else {
        name.to_owned()
    }
}

impl App {
    /// Publishes per-user notices, each to its user. `origin` (a WebSocket
    /// request) is only ever one of the caller's connections, so only the
    /// caller's own notice can come back to it with the request id.
    pub(crate) async fn publish_notices(&self, notices: Vec<Notice>, origin: Option<Origin>) {
        for notice in notices {
            roomy_bus::announce(
                &*self.bus,
                Envelope {
                    recipients: vec![notice.user],
                    event: Event::Notice(notice),
                    origin: origin.clone(),
                },
            )
            .await;
        }
    }

    /// Moves `me`'s read position in `room` up to `seq` (never backwards);
    /// their other devices and (direct rooms, unless they hide read
    /// positions) the other member get a `read` notice. No notices in the
    /// mark means the position did not move.
    pub async fn mark_read(
        &self,
        me: UserId,
        room: RoomId,
        seq: i64,
        origin: Option<Origin>,
    ) -> Result<ReadMark, MessageError> {
        if seq < 0 {
            return Err(invalid("seq", "must not be negative"));
        }
        let mark = self
            .store
            .mark_read(room, me, seq, self.clock.now())
            .await
            .map_err(|e| match e {
                StoreError::NotFound(Missing::Member) => MessageError::RoomNotFound,
                other => other.into(),
            })?;
        self.publish_notices(mark.events.clone(), origin).await;
        Ok(mark)
    }

    /// Revokes `me`'s message for everyone, within the revoke window after
    /// sending (judged by the server's clock). Every member gets `revoked`
    /// and a notice "<name> revoked a message". Revoking again returns the
    /// message as it is.
    pub async fn revoke(&self, me: &User, id: MessageId) -> Result<Message, MessageError> {
        let user = me.clone();
        let window = self.settings.revoke_window;
        let now = self.clock.now();
        // On the writer task: the notice takes its seq in line with the room's
        // messages, and `revoked` is published in commit order.
        let revoked = self
            .writer
            .exclusive(move |store| async move {
                let result = revoke_on(&*store, &user, id, window, now).await;
                let envelopes = match &result {
                    Ok(r) => revocation_envelopes(r, false),
                    Err(_) => Vec::new(),
                };
                (result, envelopes)
            })
            .await??;
        Ok(revoked.message)
    }

    /// Deletes a message for `me`: it disappears from their history, sync,
    /// lists and favorites on all their devices; nobody else sees a change.
    pub async fn delete_for_me(&self, me: UserId, id: MessageId) -> Result<(), MessageError> {
        self.hide(me, &[id]).await
    }

    /// Deletes up to [`MAX_DELETE_BATCH`] messages for `me` at once: all of
    /// them, or (when one is not theirs to see) none. Returns the ids
    /// deleted, ascending and without repeats.
    pub async fn delete_batch(
        &self,
        me: UserId,
        mut ids: Vec<MessageId>,
    ) -> Result<Vec<MessageId>, MessageError> {
        ids.sort_unstable();
        ids.dedup();
        if ids.is_empty() || ids.len() > MAX_DELETE_BATCH {
            return Err(invalid(
                "ids",
                format!("give 1 to {MAX_DELETE_BATCH} message ids"),
            ));
        }
        self.hide(me, &ids).await?;
        Ok(ids)
    }

    /// Hides messages from `me`'s view; all or nothing. A single message
    /// that is not theirs is simply not found; of several, the missing are named.
    async fn hide(&self, me: UserId, ids: &[MessageId]) -> Result<(), MessageError> {
        match self.store.hide_messages(me, ids, self.clock.now()).await? {
            Ok(notice) => {
                self.publish_notices(notice.into_iter().collect(), None)
                    .await;
                Ok(())
            }
            Err(_) if ids.len() == 1 => Err(MessageError::MessageNotFound),
            Err(missing) => Err(MessageError::NotYours(missing)),
        }
    }
}

/// The revocation of `id` by its sender `me`, run on the writer task.
async fn revoke_on(
    store: &dyn Store,
    me: &User,
    id: MessageId,
    window: time::Duration,
    now: time::OffsetDateTime,
) -> Result<Revocation, MessageError> {
    let message = my_message(store, me.id, id).await?;
    if message.sender.id != me.id {
        return Err(MessageError::NotYourMessage);
    }
    if message.kind == MessageKind::System {
        return Err(MessageError::CannotRevokeNotice);
    }
    if message.revoked {
        return Ok(Revocation {
            message,
            notice: None,
            recipients: Vec::new(),
        });
    }
    // Sending times are stored in milliseconds: judge at that precision.
    let elapsed = to_millis(now) - to_millis(message.created_at);
    if elapsed > window.whole_milliseconds() as i64 {
        return Err(MessageError::RevokeWindowPassed { window });
    }
    let member = store
        .member(message.room_id, me.id)
        .await?
        .ok_or(MessageError::MessageNotFound)?;
    let text = format!("{} revoked a message", display_name(&member, me));
    // The store checks membership again under the room's lock.
    store
        .revoke_message(message.id, Revoker::Sender, text, now)
        .await
        .map_err(|e| match e {
            StoreError::NotFound(Missing::Member) => MessageError::MessageNotFound,
            other => other.into(),
        })
}
