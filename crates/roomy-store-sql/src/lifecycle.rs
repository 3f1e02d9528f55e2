//! Read positions, per-user events, favorites, lists and the audit log:
//! row types and SQL both backends run verbatim (`$N` numbered in order of
//! first use).

use crate::chat::MessageRow;
use roomy_core::{MessageId, RoomId, UserId, clock::from_millis};
use roomy_store::{AuditEntry, Favorite, Notice, NoticeKind, StoreError};

/// A per-user event to write (a row of `user_events`).
#[derive(Debug, Clone)]
pub enum UserEvent {
    /// `reader`'s read position in `room` is now `seq`.
    Read {
        room: RoomId,
        reader: UserId,
        seq: i64,
    },
    /// Messages the user deleted for themself.
    Hidden(Vec<MessageId>),
    /// The user favorited `message`, or (`favorite` false) forgot it.
    Favorite { message: MessageId, favorite: bool },
    /// The user left `room`, or `by` removed them.
    Left { room: RoomId, by: UserId },
}

impl UserEvent {
    /// The stored kind.
    pub fn kind(&self) -> &'static str {
        match self {
            UserEvent::Read { .. } => "read",
            UserEvent::Hidden(_) => "hidden",
            UserEvent::Favorite { favorite: true, .. } => "favorited",
            UserEvent::Favorite {
                favorite: false, ..
            } => "unfavorited",
            UserEvent::Left { .. } => "left",
        }
    }

    /// (room_id, actor_id, seq, data) columns.
    pub fn columns(&self) -> (Option<i64>, Option<i64>, Option<i64>, Option<String>) {
        match self {
            UserEvent::Read { room, reader, seq } => {
                (Some(room.0), Some(reader.0), Some(*seq), None)
            }
            UserEvent::Hidden(ids) => (None, None, None, Some(encode_ids(ids))),
            UserEvent::Favorite { message, .. } => {
                (None, None, None, Some(encode_ids(&[*message])))
            }
            UserEvent::Left { room, by } => (Some(room.0), Some(by.0), None, None),
        }
    }
}

/// Message ids as stored in `user_events.data`: `1,2,3`.
fn encode_ids(ids: &[MessageId]) -> String {
    ids.iter()
        .map(|i| i.0.to_string())
        .collect::<Vec<_>>()
        .join(",")
}

fn decode_ids(s: &str) -> Result<Vec<MessageId>, StoreError> {
    s.split(',')
        .filter(|p| !p.is_empty())
        .map(|p| {
            p.parse()
                .map(MessageId)
                .map_err(|_| StoreError::Corrupt(format!("event data {s:?}")))
        })
        .collect()
}

/// A `user_events` row.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct UserEventRow {
    pub id: i64,
    pub user_id: i64,
    pub kind: String,
    pub room_id: Option<i64>,
    pub actor_id: Option<i64>,
    pub seq: Option<i64>,
    pub data: Option<String>,
    pub created_at: i64,
}

/// Events of user $1 with positions in ($2, $3], newest first, at most $4.
pub const EVENTS_RANGE: &str = "SELECT id, user_id, kind, room_id, actor_id, seq, data, \
     created_at FROM user_events WHERE user_id = $1 AND id > $2 AND id <= $3 \
     ORDER BY id DESC LIMIT $4";

impl UserEventRow {
    /// The domain notice.
    pub fn into_notice(self) -> Result<Notice, StoreError> {
        let bad = || StoreError::Corrupt(format!("user event {} ({})", self.id, self.kind));
        let kind = match self.kind.as_str() {
            "read" => NoticeKind::Read {
                room: RoomId(self.room_id.ok_or_else(bad)?),
                reader: UserId(self.actor_id.ok_or_else(bad)?),
                seq: self.seq.ok_or_else(bad)?,
            },
            "hidden" => NoticeKind::Hidden {
                messages: decode_ids(self.data.as_deref().unwrap_or_default())?,
            },
            kind @ ("favorited" | "unfavorited") => {
                let ids = decode_ids(self.data.as_deref().unwrap_or_default())?;
                let [message] = ids[..] else {
                    return Err(bad());
                };
                NoticeKind::Favorite {
                    message,
                    favorite: kind == "favorited",
                }
            }
            "left" => NoticeKind::Left {
                room: RoomId(self.room_id.ok_or_else(bad)?),
                by: UserId(self.actor_id.ok_or_else(bad)?),
            },
            _ => return Err(bad()),
        };
        Ok(Notice {
            id: MessageId(self.id),
            user: UserId(self.user_id),
            kind,
            created_at: from_millis(self.created_at),
        })
    }
}

/// Unread messages of member $3 in room $1 after read position $2: others'
/// live messages the member has not deleted, counted up to
/// [`roomy_store::UNREAD_CAP`] (seqs have no gaps, so bounding the seq
/// bounds the scan).
pub const UNREAD_COUNT: &str = "SELECT count(*) FROM messages um WHERE um.room_id = $1 \
     AND um.seq > $2 AND um.seq <= $2 + 10000 AND um.sender_id <> $3 \
     AND um.revoked_at IS NULL AND NOT EXISTS (SELECT 1 FROM hidden_messages uh \
         WHERE uh.user_id = $3 AND uh.message_id = um.id)";

/// Whether user $1 can see message $2 now: a member of its room who has not deleted it.
pub const VISIBLE: &str = "SELECT m.room_id FROM messages m \
     JOIN room_members rm ON rm.room_id = m.room_id AND rm.user_id = $1 \
     WHERE m.id = $2 AND NOT EXISTS (SELECT 1 FROM hidden_messages h \
         WHERE h.user_id = $1 AND h.message_id = m.id)";

/// A favorite: the message as it is now and when it was favorited.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct FavoriteRow {
    #[sqlx(flatten)]
    pub message: MessageRow,
    pub favorited_at: i64,
}

impl FavoriteRow {
    /// The domain favorite.
    pub fn into_favorite(self) -> Result<Favorite, StoreError> {
        Ok(Favorite {
            message: self.message.into_message()?,
            favorited_at: from_millis(self.favorited_at),
        })
    }
}

/// The joins of [`FavoriteRow`] (`f`, `m`, `u`).
pub const FAVORITE_FROM: &str = "FROM favorites f JOIN messages m ON m.id = f.message_id \
     JOIN users u ON u.id = m.sender_id LEFT JOIN files mf ON mf.id = m.file_id";

/// An `audit_log` row.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AuditRow {
    pub id: i64,
    pub actor_id: i64,
    pub action: String,
    pub target_type: String,
    pub target_id: i64,
    pub reason: Option<String>,
    pub detail: String,
    pub created_at: i64,
}

impl AuditRow {
    /// The domain entry.
    pub fn into_entry(self) -> AuditEntry {
        AuditEntry {
            id: self.id,
            actor: UserId(self.actor_id),
            action: self.action,
            target_type: self.target_type,
            target_id: self.target_id,
            reason: self.reason,
            detail: self.detail,
            created_at: from_millis(self.created_at),
        }
    }
}

/// Inserts an audit record: actor, action, target type, target id, reason, detail, time.
pub const INSERT_AUDIT: &str = "INSERT INTO audit_log \
     (actor_id, action, target_type, target_id, reason, detail, created_at) \
     VALUES ($1, $2, $3, $4, $5, $6, $7)";

/// A condition list with `$N` placeholders numbered in order, for queries
/// whose filters are optional.
#[derive(Debug, Default)]
pub struct Conditions {
    sql: Vec<String>,
    next: usize,
}

impl Conditions {
    /// Conditions whose first placeholder will be `$first`.
    pub fn starting_at(first: usize) -> Conditions {
        Conditions {
            sql: Vec::new(),
            next: first,
        }
    }

    /// Adds `template` with every `?` replaced by the next placeholder;
    /// the caller binds one value per `?`, in order.
    pub fn push(&mut self, template: &str) {
        let mut out = String::with_capacity(template.len() + 4);
        for c in template.chars() {
            if c == '?' {
                out.push_str(&format!("${}", self.next));
                self.next += 1;
            } else {
                out.push(c);
            }
        }
        self.sql.push(out);
    }

    /// The next placeholder number.
    pub fn next(&self) -> usize {
        self.next
    }

    /// `AND`-joined, with a leading `AND` when non-empty.
    pub fn and_clause(&self) -> String {
        self.sql.iter().map(|c| format!(" AND {c}")).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conditions_number_placeholders_in_order() {
        let mut c = Conditions::starting_at(2);
        c.push("m.room_id = ?");
        c.push("(m.a < ? OR m.b = ?)");
        assert_eq!(
            c.and_clause(),
            " AND m.room_id = $2 AND (m.a < $3 OR m.b = $4)"
        );
        assert_eq!(c.next(), 5);
    }

    #[test]
    fn hidden_ids_round_trip() {
        let ids = vec![MessageId(3), MessageId(10)];
        assert_eq!(decode_ids(&encode_ids(&ids)).expect("ids"), ids);
    }

    #[test]
    fn favorite_events_name_exactly_one_message() {
        let row = |event: &UserEvent, data: Option<String>| UserEventRow {
            id: 9,
            user_id: 1,
            kind: event.kind().to_owned(),
            room_id: None,
            actor_id: None,
            seq: None,
            data,
            created_at: 0,
        };
        for favorite in [true, false] {
            let event = UserEvent::Favorite {
                message: MessageId(42),
                favorite,
            };
            let (.., data) = event.columns();
            let notice = row(&event, data).into_notice().expect("notice");
            assert_eq!(
                notice.kind,
                NoticeKind::Favorite {
                    message: MessageId(42),
                    favorite
                }
            );
            for bad in [None, Some("1,2".to_owned())] {
                assert!(matches!(
                    row(&event, bad).into_notice(),
                    Err(StoreError::Corrupt(_))
                ));
            }
        }
    }
}
