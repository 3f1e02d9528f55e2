//! Administration (accounts with the admin role): accounts, every message, and the
//! audit log of what admins did. Every operation here refuses non-admins.

use crate::{App, WriteError};
use roomy_core::{MessageId, Role, RoomId, UserId, chat_fields::MessageKind};
use roomy_store::{
    AdminMessageFilter, AuditEntry, Message, Missing, NewAudit, Revoker, StoreError, User,
};
use time::{OffsetDateTime, format_description::well_known::Rfc3339};

/// Longest reason kept in the audit log, in characters.
const MAX_REASON_CHARS: usize = 500;
/// Longest text searched for in messages, in characters.
const MAX_SEARCH_CHARS: usize = 200;

/// Why a moderation operation failed.
#[derive(Debug, thiserror::Error)]
pub enum ModerationError {
    /// The caller is not an administrator.
    #[error("only administrators may do this")]
    AdminOnly,
    /// An administrator may not disable their own account.
    #[error("administrators cannot disable their own account")]
    CannotDisableSelf,
    /// The user does not exist.
    #[error("no such user")]
    UserNotFound,
    /// The message does not exist.
    #[error("no such message among yours")]
    MessageNotFound,
    /// One input is invalid: the field, and why.
    #[error("{0}: {1}")]
    Invalid(&'static str, String),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The writer task is gone or failed.
    #[error(transparent)]
    Write(#[from] WriteError),
}

/// Refuses whoever is not an administrator. Adapters may call it before
/// reading the rest of a request so a non-admin hears this first.
pub fn require_admin(me: &User) -> Result<(), ModerationError> {
    if me.role == Role::Admin {
        Ok(())
    } else {
        Err(ModerationError::AdminOnly)
    }
}

/// A reason for the audit log: trimmed, empty is none, at most 500 characters.
fn reason(r: Option<String>) -> Result<Option<String>, ModerationError> {
    match r.map(|r| r.trim().to_owned()) {
        Some(r) if r.chars().count() > MAX_REASON_CHARS => Err(ModerationError::Invalid(
            "reason",
            format!("at most {MAX_REASON_CHARS} characters"),
        )),
        Some(r) if r.is_empty() => Ok(None),
        other => Ok(other),
    }
}

fn instant(
    field: &'static str,
    s: Option<&str>,
) -> Result<Option<OffsetDateTime>, ModerationError> {
    s.map(|s| {
        OffsetDateTime::parse(s, &Rfc3339)
            .map_err(|_| ModerationError::Invalid(field, "must be an RFC 3339 time".to_owned()))
    })
    .transpose()
}

/// What to search every message for, checked.
#[derive(Debug, Clone, Default)]
pub struct MessageSearch {
    room: Option<RoomId>,
    sender: Option<UserId>,
    text: Option<String>,
    kind: Option<MessageKind>,
    from: Option<OffsetDateTime>,
    to: Option<OffsetDateTime>,
}

impl MessageSearch {
    /// Checks, in this order, the text (1 to 200 characters once trimmed),
    /// the kind, and the RFC 3339 times.
    pub fn parse(
        room: Option<RoomId>,
        sender: Option<UserId>,
        text: Option<&str>,
        kind: Option<&str>,
        from: Option<&str>,
        to: Option<&str>,
    ) -> Result<MessageSearch, ModerationError> {
        let text = match text.map(str::trim) {
            Some(t) if t.is_empty() || t.chars().count() > MAX_SEARCH_CHARS => {
                return Err(ModerationError::Invalid(
                    "q",
                    format!("1 to {MAX_SEARCH_CHARS} characters"),
                ));
            }
            other => other.map(str::to_owned),
        };
        let kind = match kind {
            None => None,
            Some(k) => Some(MessageKind::parse(k).ok_or_else(|| {
                ModerationError::Invalid(
                    "kind",
                    "must be text, image, file, video or system".to_owned(),
                )
            })?),
        };
        Ok(MessageSearch {
            room,
            sender,
            text,
            kind,
            from: instant("from", from)?,
            to: instant("to", to)?,
        })
    }
}

/// What an administrator asks of an account.
#[derive(Debug, Clone, Default)]
pub struct UserModeration {
    /// Disable (true) or re-enable (false); `None` changes nothing.
    pub disabled: Option<bool>,
    /// Why, for the audit log.
    pub reason: Option<String>,
}

impl App {
    /// Disables or re-enables an account (audited). A disabled account's
    /// sessions end and its live connections close at once.
    pub async fn moderate_user(
        &self,
        admin: &User,
        id: UserId,
        change: UserModeration,
    ) -> Result<User, ModerationError> {
        require_admin(admin)?;
        let why = reason(change.reason)?;
        let not_found = |e| match e {
            StoreError::NotFound(Missing::User) => ModerationError::UserNotFound,
            other => other.into(),
        };
        let user = match change.disabled {
            Some(true) if id == admin.id => return Err(ModerationError::CannotDisableSelf),
            Some(disabled) => {
                let before = self
                    .store
                    .user(id)
                    .await?
                    .ok_or(ModerationError::UserNotFound)?;
                let entry = NewAudit {
                    actor: admin.id,
                    action: if disabled {
                        "disable_user"
                    } else {
                        "enable_user"
                    },
                    target_type: "user",
                    target_id: id.0,
                    reason: why,
                    detail: serde_json::json!({
                        "username": before.username,
                        "was_disabled": before.disabled,
                    })
                    .to_string(),
                };
                self.store
                    .moderate_user(entry, disabled, self.clock.now())
                    .await
                    .map_err(not_found)?
            }
            None => self
                .store
                .user(id)
                .await?
                .ok_or(ModerationError::UserNotFound)?,
        };
        if user.disabled {
            self.sessions_ended(user.id, None, None, true).await;
        }
        Ok(user)
    }

    /// Every message matching `search`, newest first, below `before`.
    /// Revoked and removed messages come without their body.
    pub async fn admin_messages(
        &self,
        admin: &User,
        search: MessageSearch,
        before: Option<MessageId>,
        limit: u32,
    ) -> Result<Vec<Message>, ModerationError> {
        require_admin(admin)?;
        let filter = AdminMessageFilter {
            room: search.room,
            sender: search.sender,
            text: search.text,
            from: search.from,
            to: search.to,
            kind: search.kind,
            before,
        };
        Ok(self.store.admin_messages(filter, limit).await?)
    }

    /// Removes any message for everyone (audited). Its room hears `revoked`
    /// and a notice; removing again changes nothing.
    pub async fn remove_message(
        &self,
        admin: &User,
        id: MessageId,
        why: Option<String>,
    ) -> Result<Message, ModerationError> {
        require_admin(admin)?;
        let why = reason(why)?;
        let admin = admin.id;
        let now = self.clock.now();
        // On the writer task: the notice takes its seq in line with the
        // room's messages, and `revoked` is published in commit order.
        let removed = self
            .writer
            .exclusive(move |store| async move {
                let result = store
                    .revoke_message(
                        id,
                        Revoker::Admin { admin, reason: why },
                        "An administrator removed a message".to_owned(),
                        now,
                    )
                    .await;
                let envelopes = match &result {
                    Ok(r) => crate::revocation_envelopes(r, true),
                    Err(_) => Vec::new(),
                };
                (result, envelopes)
            })
            .await?
            .map_err(|e| match e {
                StoreError::NotFound(Missing::Message) => ModerationError::MessageNotFound,
                other => other.into(),
            })?;
        Ok(removed.message)
    }

    /// The audit log, newest first, below `before`.
    pub async fn audit_log(
        &self,
        admin: &User,
        before: Option<i64>,
        limit: u32,
    ) -> Result<Vec<AuditEntry>, ModerationError> {
        require_admin(admin)?;
        Ok(self.store.audit_log(before, limit).await?)
    }
}
