//! Friend requests and friends: a request, its answer (accept, refuse,
//! ignore), the friends list with remarks, and unfriending.
//!
//! Sending and answering run on the writer task: they write notices (and, on
//! agreement, a system message in the pair's direct room) that must be
//! published in commit order with the messages around them.

use crate::{App, WriteError};
use roomy_bus::{Envelope, Event};
use roomy_core::{
    FieldErrors, Role, UserId,
    social_fields::{FriendNote, Remark, RequestStatus},
};
use roomy_store::{
    Decision, Direction, Friend, FriendChange, FriendRequest, Member, Missing, NewFriendRequest,
    Refusal, Store, StoreError, User,
};
use std::{future::Future, sync::Arc};

/// Text of the system message that opens the new friends' direct room.
const FRIENDS_NOW: &str = "You are friends now. Start chatting!";

/// Why a friend operation failed.
#[derive(Debug, thiserror::Error)]
pub enum FriendError {
    /// Guests have no friends: neither asking nor being asked.
    #[error("guests cannot have friends; register an account")]
    GuestForbidden,
    /// Some fields are invalid (befriending yourself is one of them).
    #[error("some fields are invalid")]
    Invalid(FieldErrors),
    /// The user does not exist.
    #[error("no such user")]
    UserNotFound,
    /// The request does not exist, or is neither from nor to the caller.
    #[error("no such request among yours")]
    RequestNotFound,
    /// The user is not among the caller's friends.
    #[error("no such user among your friends")]
    FriendNotFound,
    /// The other user blocked the caller.
    #[error("this user has blocked you")]
    Blocked,
    /// The caller blocked the other user (unblock first).
    #[error("you have blocked this user; unblock them first")]
    YouBlockedUser,
    /// The other account is disabled.
    #[error("this account is disabled")]
    UserDisabled,
    /// The pair are friends already.
    #[error("you are friends already")]
    AlreadyFriends,
    /// The caller already asked this user, who has not answered.
    #[error("you already sent this user a request that awaits an answer")]
    RequestPending,
    /// This user already asked the caller: answer that instead.
    #[error("this user already sent you a request: answer it instead")]
    IncomingRequestPending,
    /// Only the user a request was sent to may answer it.
    #[error("only the user a request was sent to may answer it")]
    NotRequestTarget,
    /// The request was answered before.
    #[error("this request was answered already")]
    AlreadyAnswered,
    /// A rule of the social graph not named above.
    #[error("refused: {0:?}")]
    Refused(Refusal),
    /// The store failed.
    #[error(transparent)]
    Store(StoreError),
    /// The writer task is gone or failed.
    #[error(transparent)]
    Write(#[from] WriteError),
}

impl From<StoreError> for FriendError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Refused(why) => match why {
                Refusal::Blocked => FriendError::Blocked,
                Refusal::YouBlocked => FriendError::YouBlockedUser,
                Refusal::UserDisabled => FriendError::UserDisabled,
                Refusal::AlreadyFriends => FriendError::AlreadyFriends,
                Refusal::RequestPending => FriendError::RequestPending,
                Refusal::IncomingRequestPending => FriendError::IncomingRequestPending,
                Refusal::NotRequestTarget => FriendError::NotRequestTarget,
                Refusal::AlreadyAnswered => FriendError::AlreadyAnswered,
                other => FriendError::Refused(other),
            },
            other => FriendError::Store(other),
        }
    }
}

/// Maps the store's missing `kind` of row to `missing`, everything else as usual.
fn or_missing(kind: Missing, missing: FriendError) -> impl FnOnce(StoreError) -> FriendError {
    move |e| match e {
        StoreError::NotFound(k) if k == kind => missing,
        other => other.into(),
    }
}

/// Refuses guests, who may neither ask nor be asked. Adapters may call it
/// before their own admission checks so a guest hears this first.
pub fn may_befriend(me: &User) -> Result<(), FriendError> {
    if me.role == Role::Guest {
        Err(FriendError::GuestForbidden)
    } else {
        Ok(())
    }
}

fn remark_field(errors: &mut FieldErrors, value: Option<&str>) -> Option<Remark> {
    value.and_then(|r| match Remark::parse(r) {
        Ok(r) => r,
        Err(why) => {
            errors.add("remark", why);
            None
        }
    })
}

/// A friend request to send, validated.
#[derive(Debug, Clone)]
pub struct FriendRequestInput {
    to: UserId,
    note: Option<FriendNote>,
    remark: Option<Remark>,
}

impl FriendRequestInput {
    /// Validates every field at once: not yourself, the note, the remark.
    pub fn parse(
        me: &User,
        to: UserId,
        note: Option<&str>,
        remark: Option<&str>,
    ) -> Result<FriendRequestInput, FriendError> {
        let mut errors = FieldErrors::new();
        if to == me.id {
            errors.add("user_id", "you cannot befriend yourself");
        }
        let note = note.and_then(|n| match FriendNote::parse(n) {
            Ok(n) => n,
            Err(why) => {
                errors.add("note", why);
                None
            }
        });
        let remark = remark_field(&mut errors, remark);
        errors.into_result().map_err(FriendError::Invalid)?;
        Ok(FriendRequestInput { to, note, remark })
    }
}

/// An answer to a friend request, as asked.
#[derive(Debug, Clone)]
pub struct FriendAnswer {
    /// Agree, refuse or ignore.
    pub decision: Decision,
    /// The name the answerer gives the sender (agree only).
    pub remark: Option<String>,
}

/// The envelopes announcing a friend change: each notice to its user, the
/// direct room to both if it was just created, then the system message.
fn envelopes(change: &FriendChange, members: Vec<Member>) -> Vec<Envelope> {
    let mut out: Vec<Envelope> = Vec::new();
    if let Some((room, true)) = &change.room {
        out.push(Envelope {
            recipients: members.iter().map(|m| m.user.id).collect(),
            event: Event::MembersJoined {
                room: room.clone(),
                members,
            },
            origin: None,
        });
    }
    // Positioned events go out in position order, so a client that has
    // seen position N has seen everything below it.
    let mut positioned: Vec<(i64, Envelope)> = Vec::new();
    if let Some(message) = &change.message {
        positioned.push((
            message.id.0,
            Envelope {
                recipients: vec![change.request.from.id, change.request.to.id],
                event: Event::Message(message.clone()),
                origin: None,
            },
        ));
    }
    for n in &change.notices {
        positioned.push((
            n.id.0,
            Envelope {
                recipients: vec![n.user],
                event: Event::Notice(n.clone()),
                origin: None,
            },
        ));
    }
    positioned.sort_by_key(|(position, _)| *position);
    out.extend(positioned.into_iter().map(|(_, e)| e));
    out
}

impl App {
    /// Runs a friend change on the writer task and publishes what it wrote.
    async fn on_writer<F, Fut>(
        &self,
        write: F,
    ) -> Result<Result<FriendChange, StoreError>, WriteError>
    where
        F: FnOnce(Arc<dyn Store>) -> Fut + Send + 'static,
        Fut: Future<Output = Result<FriendChange, StoreError>> + Send + 'static,
    {
        self.writer
            .exclusive(move |store| async move {
                let change = match write(store.clone()).await {
                    Ok(c) => c,
                    Err(e) => return (Err(e), Vec::new()),
                };
                let members = match &change.room {
                    // The change is committed: a failure here only loses the
                    // live `member_joined` (sync still has the room), so say so.
                    Some((room, true)) => store.members(room.id, None, 2).await.unwrap_or_else(|e| {
                        tracing::warn!(error = %e, room = room.id.0, "new direct room announced to nobody");
                        Vec::new()
                    }),
                    _ => Vec::new(),
                };
                let out = envelopes(&change, members);
                (Ok(change), out)
            })
            .await
    }

    /// Asks a user to be the caller's friend. The target hears of it at once
    /// (or in sync); when the target does not confirm requests the pair are
    /// friends at once.
    pub async fn send_friend_request(
        &self,
        me: &User,
        request: FriendRequestInput,
    ) -> Result<FriendRequest, FriendError> {
        may_befriend(me)?;
        let target = self
            .store
            .user(request.to)
            .await?
            .ok_or(FriendError::UserNotFound)?;
        if target.role == Role::Guest {
            return Err(FriendError::GuestForbidden);
        }
        let new = NewFriendRequest {
            from: me.id,
            to: target.id,
            note: request.note,
            remark: request.remark,
        };
        let now = self.clock.now();
        let change = self
            .on_writer(move |store| async move {
                store
                    .send_friend_request(new, FRIENDS_NOW.to_owned(), now)
                    .await
            })
            .await?
            .map_err(or_missing(Missing::User, FriendError::UserNotFound))?;
        Ok(change.request)
    }

    /// Answers a request sent to the caller, once: agreeing makes the pair
    /// friends (both hear it, their direct room gets a system message).
    pub async fn answer_friend_request(
        &self,
        me: &User,
        id: i64,
        answer: FriendAnswer,
    ) -> Result<FriendRequest, FriendError> {
        let mut errors = FieldErrors::new();
        let remark = remark_field(&mut errors, answer.remark.as_deref());
        errors.into_result().map_err(FriendError::Invalid)?;
        let (me, now, decision) = (me.id, self.clock.now(), answer.decision);
        let change = self
            .on_writer(move |store| async move {
                store
                    .answer_friend_request(id, me, decision, remark, FRIENDS_NOW.to_owned(), now)
                    .await
            })
            .await?
            .map_err(or_missing(
                Missing::FriendRequest,
                FriendError::RequestNotFound,
            ))?;
        Ok(change.request)
    }

    /// Requests sent to (or by) the caller, newest first, below `before`.
    pub async fn friend_requests(
        &self,
        me: &User,
        direction: Direction,
        status: Option<RequestStatus>,
        before: Option<i64>,
        limit: u32,
    ) -> Result<Vec<FriendRequest>, FriendError> {
        Ok(self
            .store
            .friend_requests(me.id, direction, status, before, limit)
            .await?)
    }

    /// The caller's friends with the caller's remarks, newest friendship first.
    pub async fn friends(
        &self,
        me: &User,
        after: Option<(i64, UserId)>,
        limit: u32,
    ) -> Result<Vec<Friend>, FriendError> {
        Ok(self.store.friends(me.id, after, limit).await?)
    }

    /// Sets (or clears, with `None` or "") the caller's remark for a friend.
    pub async fn set_friend_remark(
        &self,
        me: &User,
        friend: UserId,
        remark: Option<&str>,
    ) -> Result<Friend, FriendError> {
        let mut errors = FieldErrors::new();
        let remark = remark_field(&mut errors, remark);
        errors.into_result().map_err(FriendError::Invalid)?;
        self.store
            .set_remark(me.id, friend, remark)
            .await
            .map_err(or_missing(Missing::Friend, FriendError::FriendNotFound))
    }

    /// Ends a friendship both ways. The old requests are forgotten, so either
    /// may ask again; the direct room's history stays readable.
    pub async fn unfriend(&self, me: &User, friend: UserId) -> Result<(), FriendError> {
        self.store
            .unfriend(me.id, friend, self.clock.now())
            .await
            .map_err(or_missing(Missing::Friend, FriendError::FriendNotFound))
    }
}
