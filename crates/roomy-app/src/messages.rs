//! Messages: sending (HTTP and WebSocket share [`SendInput`] and its
//! checks), a room's history, sync, and the sent/received lists.
//!
//! A send is two steps so the WebSocket gateway can pipeline: [`App::submit`]
//! validates and queues in the order frames arrive, [`PendingSend::outcome`]
//! waits for the commit. [`App::send`] is both at once.

use crate::{App, WriteError, writer::Pending};
use roomy_bus::Origin;
use roomy_core::{
    FieldErrors, FileId, MessageId, RoomId, UserId,
    chat_fields::{ClientId, MessageBody, MessageKind},
};
use roomy_store::{
    AppendOutcome, AppendRejection, FileRef, MediaClass, Message, MessageFilter, MessageList,
    NewMessage, Refusal, StoreError, SyncBatch,
};
use time::Duration;

/// Why an operation on messages, read positions or favorites failed.
#[derive(Debug, thiserror::Error)]
pub enum MessageError {
    /// The room does not exist, or the caller is not in it.
    #[error("no such room among yours")]
    RoomNotFound,
    /// The group was dissolved: it can be read, not written to.
    #[error("the group was dissolved")]
    RoomDissolved,
    /// The message does not exist, or the caller cannot see it.
    #[error("no such message among yours")]
    MessageNotFound,
    /// Some of the messages of a batch are not the caller's to see (nothing was done).
    #[error("not messages of yours: {0:?}")]
    NotYours(Vec<MessageId>),
    /// Only the sender may revoke a message.
    #[error("only the sender may revoke a message")]
    NotYourMessage,
    /// System notices are the server's record and stay.
    #[error("system notices cannot be revoked")]
    CannotRevokeNotice,
    /// Sent longer ago than the revoke window.
    #[error("the revoke window of {window} has passed")]
    RevokeWindowPassed {
        /// How long after sending a message may be revoked.
        window: Duration,
    },
    /// The input is invalid; the fields say why.
    #[error("invalid input: {0:?}")]
    Invalid(FieldErrors),
    /// A direct room the social graph closes (a block, or no friendship
    /// under the friends policy).
    #[error("refused: {0:?}")]
    Refused(Refusal),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The writer failed or has stopped.
    #[error(transparent)]
    Write(#[from] WriteError),
}

impl From<FieldErrors> for MessageError {
    fn from(f: FieldErrors) -> Self {
        MessageError::Invalid(f)
    }
}

/// One invalid field.
pub(crate) fn invalid(field: &str, why: impl Into<String>) -> MessageError {
    let mut f = FieldErrors::new();
    f.add(field, why);
    MessageError::Invalid(f)
}

/// A message to send, as a client wrote it: checked by [`App::submit`].
#[derive(Debug, Clone)]
pub struct SendInput {
    /// The room to send to.
    pub room_id: RoomId,
    /// The sender's retry key: the same key again returns the first message.
    pub client_id: String,
    /// `text`, `emoji`, `image`, `file` or `video`.
    pub kind: String,
    /// The text (optional for media).
    pub body: Option<String>,
    /// The sender's upload a media message carries.
    pub file_id: Option<i64>,
}

/// A committed send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sent {
    /// Stored now; its `message` event is on the bus.
    Stored(Message),
    /// The sender's earlier message with the same client id; nothing new stored.
    Duplicate(Message),
}

impl Sent {
    /// The writer's outcome as a send's result.
    pub fn from_outcome(outcome: AppendOutcome) -> Result<Sent, MessageError> {
        match outcome {
            AppendOutcome::Stored { message, .. } => Ok(Sent::Stored(message)),
            AppendOutcome::Duplicate(message) => Ok(Sent::Duplicate(message)),
            AppendOutcome::Rejected(
                AppendRejection::RoomNotFound | AppendRejection::NotAMember,
            ) => Err(MessageError::RoomNotFound),
            AppendOutcome::Rejected(AppendRejection::Blocked) => {
                Err(MessageError::Refused(Refusal::Blocked))
            }
            AppendOutcome::Rejected(AppendRejection::NotFriends) => {
                Err(MessageError::Refused(Refusal::NotFriends))
            }
            AppendOutcome::Rejected(AppendRejection::Dissolved) => Err(MessageError::RoomDissolved),
        }
    }

    /// The message, new or repeated.
    pub fn into_message(self) -> Message {
        match self {
            Sent::Stored(m) | Sent::Duplicate(m) => m,
        }
    }
}

/// A queued send; its outcome is known once the writer commits it.
#[derive(Debug)]
pub struct PendingSend(Pending);

impl PendingSend {
    /// Waits for the commit.
    pub async fn outcome(self) -> Result<Sent, MessageError> {
        let outcome = self.0.await.map_err(|_| WriteError::Stopped)??;
        Sent::from_outcome(outcome)
    }
}

/// Where a sync starts and ends.
#[derive(Debug, Clone, Copy)]
pub struct SyncFrom {
    /// The position the client synced to last (0: from the start).
    pub since: MessageId,
    /// Nothing after this position (a WebSocket's ready position: later
    /// messages reach it live).
    pub upto: Option<MessageId>,
    /// Most messages per room, and most notices.
    pub limit: u32,
}

/// Which part of a room's history to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HistoryWindow {
    /// The newest messages.
    Latest,
    /// Messages before this seq, the nearest first in the page.
    Before(i64),
    /// Messages after this seq, in seq order.
    After(i64),
}

/// The filters of the sent and received lists, checked.
#[derive(Debug, Clone, Default)]
pub struct ListFilter {
    room: Option<RoomId>,
    kind: Option<MessageKind>,
    unread: Option<bool>,
}

impl ListFilter {
    /// Checks a list's filters: system notices are no kind to list.
    pub fn parse(
        room_id: Option<i64>,
        kind: Option<&str>,
        unread: Option<bool>,
    ) -> Result<ListFilter, MessageError> {
        let kind = match kind {
            None => None,
            Some(k) => match MessageKind::parse(k) {
                Some(MessageKind::System) | None => {
                    return Err(invalid("kind", "must be text, image, file or video"));
                }
                Some(k) => Some(k),
            },
        };
        Ok(ListFilter {
            room: room_id.map(RoomId),
            kind,
            unread,
        })
    }
}

impl App {
    /// Checks a message to send and makes it ready for the writer. A media
    /// message's file must be the sender's own upload, of a fitting kind:
    /// the only store read here, and only for media.
    pub async fn prepare_send(
        &self,
        sender: UserId,
        input: SendInput,
    ) -> Result<NewMessage, MessageError> {
        let mut errors = FieldErrors::new();
        let client_id = errors.check("client_id", ClientId::parse(&input.client_id));
        let kind = match MessageKind::parse(&input.kind) {
            Some(MessageKind::System) => {
                errors.add("kind", "system messages are written by the server");
                None
            }
            None => {
                errors.add("kind", "must be text, emoji, image, file or video");
                None
            }
            known => known,
        };
        let media = kind.is_some_and(|k| k != MessageKind::Text);
        match (media, input.file_id) {
            (false, Some(_)) if kind.is_some() => errors.add(
                "file_id",
                "only image, file and video messages carry a file",
            ),
            (true, None) => errors.add("file_id", "media messages need the id of an uploaded file"),
            _ => {}
        }
        let body = match input.body.as_deref() {
            Some(b) => errors.check(
                "body",
                MessageBody::parse(b, self.settings.max_message_chars),
            ),
            None if media => None,
            None => {
                errors.add("body", "text messages need a body");
                None
            }
        };
        errors.into_result()?;
        let (Some(client_id), Some(kind)) = (client_id, kind) else {
            return Err(StoreError::Corrupt("validated message fields missing".into()).into());
        };
        let file = match input.file_id.filter(|_| media) {
            Some(id) => Some(self.attachment(sender, kind, FileId(id)).await?),
            None => None,
        };
        Ok(NewMessage {
            room_id: input.room_id,
            sender_id: sender,
            client_id: Some(client_id),
            kind,
            body,
            file,
        })
    }

    /// The sender's own file `id`, if it suits a `kind` message. Files are
    /// never handed to someone else, so the check holds when the message commits.
    async fn attachment(
        &self,
        sender: UserId,
        kind: MessageKind,
        id: FileId,
    ) -> Result<FileRef, MessageError> {
        let file = self
            .store
            .file(id)
            .await?
            .filter(|f| f.owner == sender)
            .ok_or_else(|| invalid("file_id", "no such file among your uploads"))?;
        let fits = match kind {
            MessageKind::Image => file.media == MediaClass::Image,
            MessageKind::Video => file.media == MediaClass::Video,
            _ => true,
        };
        if !fits {
            return Err(invalid(
                "file_id",
                format!("this file is {}, not {}", file.mime, kind.as_str()),
            ));
        }
        Ok(file.attachment())
    }

    /// Checks a message and queues it for the writer; sends queued in order
    /// are committed in order. `origin` (a WebSocket request) gets the
    /// `message` event as its acknowledgement.
    pub async fn submit(
        &self,
        sender: UserId,
        input: SendInput,
        origin: Option<Origin>,
    ) -> Result<PendingSend, MessageError> {
        let new = self.prepare_send(sender, input).await?;
        Ok(PendingSend(self.writer.submit(new, origin).await?))
    }

    /// Sends a message and waits for the commit.
    pub async fn send(
        &self,
        sender: UserId,
        input: SendInput,
        origin: Option<Origin>,
    ) -> Result<Sent, MessageError> {
        self.submit(sender, input, origin).await?.outcome().await
    }

    /// Up to `limit` messages of a room `me` is in, in seq order.
    pub async fn history(
        &self,
        me: UserId,
        room: RoomId,
        window: HistoryWindow,
        limit: u32,
    ) -> Result<Vec<Message>, MessageError> {
        if self.store.member_role(room, me).await?.is_none() {
            return Err(MessageError::RoomNotFound);
        }
        let (before, after) = match window {
            HistoryWindow::Latest => (None, None),
            HistoryWindow::Before(seq) => (Some(seq), None),
            HistoryWindow::After(seq) => (None, Some(seq)),
        };
        Ok(self.store.history(room, me, before, after, limit).await?)
    }

    /// Everything `me` missed in their rooms in a range of positions: per
    /// room the newest messages (up to the limit), and their per-user notices.
    pub async fn sync(&self, me: UserId, from: SyncFrom) -> Result<SyncBatch, MessageError> {
        Ok(self
            .store
            .sync(me, from.since, from.upto, from.limit)
            .await?)
    }

    /// Up to `limit` messages `me` sent, newest first, before the message
    /// `before`, in rooms they are in, without those they deleted for themself.
    pub async fn sent(
        &self,
        me: UserId,
        filter: ListFilter,
        before: Option<MessageId>,
        limit: u32,
    ) -> Result<Vec<Message>, MessageError> {
        self.message_list(me, MessageList::Sent, filter, before, limit)
            .await
    }

    /// Up to `limit` messages others sent in `me`'s rooms, newest first,
    /// before the message `before`, without system notices and those
    /// `me` deleted for themself.
    pub async fn received(
        &self,
        me: UserId,
        filter: ListFilter,
        before: Option<MessageId>,
        limit: u32,
    ) -> Result<Vec<Message>, MessageError> {
        self.message_list(me, MessageList::Received, filter, before, limit)
            .await
    }

    async fn message_list(
        &self,
        me: UserId,
        which: MessageList,
        filter: ListFilter,
        before: Option<MessageId>,
        limit: u32,
    ) -> Result<Vec<Message>, MessageError> {
        let filter = MessageFilter {
            room: filter.room,
            kind: filter.kind,
            unread: filter.unread,
            before,
        };
        Ok(self.store.user_messages(me, which, filter, limit).await?)
    }
}
