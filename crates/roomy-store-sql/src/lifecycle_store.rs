//! Read positions, revocation, delete-for-me, favorites, the sent and
//! received lists and moderation, shared by the SQL backends.
//!
//! Lock order on PostgreSQL: room, then user rows, then the position
//! counter, then member rows (docs/design/message-lifecycle.md). Writers
//! that append (group commit, notices) lock rooms, then the counter;
//! `mark_read` takes its room (`FOR KEY SHARE`), then the counter, before it
//! reads or updates its member row, so they never wait on each other in a
//! circle.

use crate::backend::{Args, Backend, Col, Conn, DbRow, SqlStore, WriteTx};
use crate::lifecycle::{
    AuditRow, Conditions, EVENTS_RANGE, FAVORITE_FROM, FavoriteRow, INSERT_AUDIT, UNREAD_COUNT,
    UserEvent, UserEventRow, VISIBLE,
};
use crate::{
    chat::{MESSAGE_COLUMNS, MESSAGE_FROM, MessageRow},
    db_err,
};
use roomy_core::{MessageId, RoomId, UserId, clock::to_millis};
use roomy_store::Notice;
use roomy_store::{
    AdminMessageFilter, AuditEntry, Favorite, MessageFilter, MessageList, NewAudit, ReadMark,
    Revocation, Revoker,
};
use roomy_store::{Message, Missing, NoticeEvent, StoreError, StoreResult};
use sqlx::AssertSqlSafe;
use sqlx::{ColumnIndex, Encode, Executor, IntoArguments, Type};
use time::OffsetDateTime;

impl<B> SqlStore<B>
where
    B: Backend,
    for<'c> &'c mut Conn<B>: Executor<'c, Database = B::Db>,
    Args<B>: IntoArguments<B::Db>,
    for<'n> &'n str: ColumnIndex<DbRow<B>>,
    usize: ColumnIndex<DbRow<B>>,
    i64: Col<B::Db>,
    bool: Col<B::Db>,
    String: Col<B::Db>,
    Option<i64>: Col<B::Db>,
    Option<bool>: Col<B::Db>,
    Option<String>: Col<B::Db>,
    for<'q> &'q str: Encode<'q, B::Db> + Type<B::Db>,
    for<'q> Option<&'q str>: Encode<'q, B::Db>,
{
    /// Writes a per-user event at the next stream position.
    pub(crate) async fn insert_event(
        conn: &mut Conn<B>,
        event: UserEvent,
        user: UserId,
        ms: i64,
    ) -> StoreResult<Notice> {
        if let UserEvent::Read { room, reader, .. } = &event {
            // Only the newest read position matters: it supersedes the older row.
            sqlx::query(
                "DELETE FROM user_events WHERE user_id = $1 AND kind = 'read'
                 AND room_id = $2 AND actor_id = $3",
            )
            .bind(user.0)
            .bind(room.0)
            .bind(reader.0)
            .execute(&mut *conn)
            .await
            .map_err(db_err)?;
        }
        let id = Self::next_position(&mut *conn).await?;
        let (room, actor, seq, data) = event.columns();
        let row: UserEventRow = sqlx::query_as(
            "INSERT INTO user_events (id, user_id, kind, room_id, actor_id, seq, data, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
             RETURNING id, user_id, kind, room_id, actor_id, seq, data, created_at",
        )
        .bind(id)
        .bind(user.0)
        .bind(event.kind())
        .bind(room)
        .bind(actor)
        .bind(seq)
        .bind(data)
        .bind(ms)
        .fetch_one(&mut *conn)
        .await
        .map_err(db_err)?;
        row.into_notice()
    }

    /// The user's events in `(since, upto]`, oldest first: the newest `limit`,
    /// and whether there were more.
    pub(crate) async fn events_in(
        conn: &mut Conn<B>,
        user: UserId,
        since: MessageId,
        upto: MessageId,
        limit: u32,
    ) -> StoreResult<(Vec<Notice>, bool)> {
        let mut rows: Vec<UserEventRow> = sqlx::query_as(EVENTS_RANGE)
            .bind(user.0)
            .bind(since.0)
            .bind(upto.0)
            .bind(i64::from(limit) + 1)
            .fetch_all(&mut *conn)
            .await
            .map_err(db_err)?;
        let limited = rows.len() > limit as usize;
        rows.truncate(limit as usize);
        rows.reverse();
        Ok((
            rows.into_iter()
                .map(UserEventRow::into_notice)
                .collect::<Result<_, _>>()?,
            limited,
        ))
    }

    pub(crate) async fn unread_in(
        conn: &mut Conn<B>,
        room: RoomId,
        user: UserId,
        read_seq: i64,
    ) -> StoreResult<i64> {
        sqlx::query_scalar(UNREAD_COUNT)
            .bind(room.0)
            .bind(read_seq)
            .bind(user.0)
            .fetch_one(conn)
            .await
            .map_err(db_err)
    }

    pub(crate) async fn message_in(
        conn: &mut Conn<B>,
        id: MessageId,
    ) -> StoreResult<Option<Message>> {
        sqlx::query_as::<_, MessageRow>(AssertSqlSafe(format!(
            "SELECT {MESSAGE_COLUMNS} {MESSAGE_FROM} WHERE m.id = $1"
        )))
        .bind(id.0)
        .fetch_optional(conn)
        .await
        .map_err(db_err)?
        .map(MessageRow::into_message)
        .transpose()
    }

    /// The room of message `id` if `user` can see it now.
    pub(crate) async fn visible_in(
        conn: &mut Conn<B>,
        user: UserId,
        id: MessageId,
    ) -> StoreResult<Option<RoomId>> {
        Ok(sqlx::query_scalar::<_, i64>(VISIBLE)
            .bind(user.0)
            .bind(id.0)
            .fetch_optional(conn)
            .await
            .map_err(db_err)?
            .map(RoomId))
    }

    /// Messages matching `conditions` (placeholders from `$1`, bound by
    /// `bind`), newest first, at most `limit`.
    pub(crate) async fn messages_where(
        pool: &sqlx::Pool<B::Db>,
        joins: &str,
        conditions: Conditions,
        binds: Vec<Bound>,
        limit: u32,
    ) -> StoreResult<Vec<Message>> {
        let sql = format!(
            "SELECT {MESSAGE_COLUMNS} {MESSAGE_FROM} {joins} WHERE TRUE{} ORDER BY m.id DESC LIMIT ${}",
            conditions.and_clause(),
            conditions.next()
        );
        let mut q = sqlx::query_as::<_, MessageRow>(AssertSqlSafe(sql));
        for b in binds {
            q = match b {
                Bound::Int(i) => q.bind(i),
                Bound::Text(t) => q.bind(t),
            };
        }
        q.bind(i64::from(limit))
            .fetch_all(pool)
            .await
            .map_err(db_err)?
            .into_iter()
            .map(MessageRow::into_message)
            .collect()
    }

    /// Disables or re-enables an account; disabling revokes every session.
    pub(crate) async fn set_disabled_in(
        conn: &mut Conn<B>,
        id: UserId,
        disabled: bool,
        ms: i64,
    ) -> StoreResult<::roomy_store::User> {
        let row = sqlx::query_as::<_, crate::UserRow>(crate::SET_DISABLED)
            .bind(disabled)
            .bind(ms)
            .bind(id.0)
            .fetch_optional(&mut *conn)
            .await
            .map_err(db_err)?
            .ok_or(StoreError::NotFound(Missing::User))?;
        if disabled {
            sqlx::query(crate::REVOKE_SESSIONS)
                .bind(ms)
                .bind(id.0)
                .execute(&mut *conn)
                .await
                .map_err(db_err)?;
        }
        row.into_user()
    }

    pub(crate) async fn favorite_in(
        conn: &mut Conn<B>,
        user: UserId,
        message: MessageId,
    ) -> StoreResult<Option<Favorite>> {
        sqlx::query_as::<_, FavoriteRow>(AssertSqlSafe(format!(
            "SELECT {MESSAGE_COLUMNS}, f.created_at AS favorited_at {FAVORITE_FROM}
             WHERE f.user_id = $1 AND f.message_id = $2"
        )))
        .bind(user.0)
        .bind(message.0)
        .fetch_optional(conn)
        .await
        .map_err(db_err)?
        .map(FavoriteRow::into_favorite)
        .transpose()
    }
}

/// A value bound to an optional filter.
pub(crate) enum Bound {
    Int(i64),
    Text(String),
}

#[::async_trait::async_trait]
impl<B> ::roomy_store::LifecycleStore for SqlStore<B>
where
    B: Backend,
    for<'c> &'c mut Conn<B>: Executor<'c, Database = B::Db>,
    Args<B>: IntoArguments<B::Db>,
    for<'n> &'n str: ColumnIndex<DbRow<B>>,
    usize: ColumnIndex<DbRow<B>>,
    i64: Col<B::Db>,
    bool: Col<B::Db>,
    String: Col<B::Db>,
    Option<i64>: Col<B::Db>,
    Option<bool>: Col<B::Db>,
    Option<String>: Col<B::Db>,
    for<'q> &'q str: Encode<'q, B::Db> + Type<B::Db>,
    for<'q> Option<&'q str>: Encode<'q, B::Db>,
{
    async fn message(&self, id: MessageId) -> StoreResult<Option<Message>> {
        let mut conn = self.pool.acquire().await.map_err(db_err)?;
        Self::message_in(&mut conn, id).await
    }

    async fn mark_read(
        &self,
        room: RoomId,
        user: UserId,
        seq: i64,
        now: OffsetDateTime,
    ) -> StoreResult<ReadMark> {
        let ms = to_millis(now);
        let mut tx = self.write_tx().await?;
        // The room before the counter, the order of every appender: the
        // events written below reference the room, and their foreign-key
        // check (KEY SHARE) would otherwise wait on an appender holding the
        // room while that appender waits on our counter lock.
        sqlx::query(AssertSqlSafe(format!(
            "SELECT id FROM rooms WHERE id = $1{}",
            B::FOR_KEY_SHARE
        )))
        .bind(room.0)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        // The position counter next (the lock order above), so concurrent
        // marks of one member queue here and each reads the position the
        // previous one committed. Read unlocked, two marks could both see
        // the old position and both write events: a stale seq at a newer
        // stream position (receipts going backwards) and read rows the
        // superseding DELETE missed. A no-op UPDATE takes the row lock on
        // PostgreSQL; SQLite's write transaction is serial already.
        sqlx::query("UPDATE counters SET value = value WHERE name = 'message_id'")
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        let found: Option<(i64, i64, String, bool)> = sqlx::query_as(
            "SELECT rm.read_seq, r.last_seq, r.kind, u.read_receipts
             FROM room_members rm JOIN rooms r ON r.id = rm.room_id
             JOIN users u ON u.id = rm.user_id
             WHERE rm.room_id = $1 AND rm.user_id = $2",
        )
        .bind(room.0)
        .bind(user.0)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db_err)?;
        let (current, last_seq, kind, shares) =
            found.ok_or(StoreError::NotFound(Missing::Member))?;
        let target = seq.min(last_seq);
        if target <= current {
            let unread = Self::unread_in(&mut tx, room, user, current).await?;
            tx.commit().await.map_err(db_err)?;
            return Ok(ReadMark {
                room_id: room,
                user,
                read_seq: current,
                unread,
                events: Vec::new(),
            });
        }
        let read = UserEvent::Read {
            room,
            reader: user,
            seq: target,
        };
        // The position first (see the lock order above).
        let mut events = vec![Self::insert_event(&mut tx, read.clone(), user, ms).await?];
        sqlx::query(
            "UPDATE room_members SET read_seq = $1
             WHERE room_id = $2 AND user_id = $3 AND read_seq < $1",
        )
        .bind(target)
        .bind(room.0)
        .bind(user.0)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        if kind == "direct" && shares {
            let peer = Self::member_ids(&mut tx, room)
                .await?
                .into_iter()
                .find(|m| *m != user);
            if let Some(peer) = peer {
                events.push(Self::insert_event(&mut tx, read, peer, ms).await?);
            }
        }
        let unread = Self::unread_in(&mut tx, room, user, target).await?;
        tx.commit().await.map_err(db_err)?;
        Ok(ReadMark {
            room_id: room,
            user,
            read_seq: target,
            unread,
            events,
        })
    }

    async fn revoke_message(
        &self,
        id: MessageId,
        revoker: Revoker,
        notice: String,
        now: OffsetDateTime,
    ) -> StoreResult<Revocation> {
        let ms = to_millis(now);
        let mut tx = self.write_tx().await?;
        // Lock the message row before reading it: two revocations racing
        // (two devices, or the sender and an admin) would otherwise both
        // read it live and both write a notice (and an audit entry). The
        // second now waits here and then reads it revoked. A no-op UPDATE
        // locks on PostgreSQL; SQLite's write transaction is serial already.
        // Nothing locks the room or the counter and then an older message
        // row, so this cannot close a cycle with the appenders.
        sqlx::query("UPDATE messages SET revoked_at = revoked_at WHERE id = $1")
            .bind(id.0)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        let original = Self::message_in(&mut tx, id)
            .await?
            .ok_or(StoreError::NotFound(Missing::Message))?;
        let room = original.room_id;
        if original.revoked {
            let recipients = Self::member_ids(&mut tx, room).await?;
            tx.commit().await.map_err(db_err)?;
            return Ok(Revocation {
                message: original,
                notice: None,
                recipients,
            });
        }
        let by_sender = matches!(revoker, Revoker::Sender);
        let (event, actor, reason) = match revoker {
            Revoker::Sender => (NoticeEvent::Revoked, original.sender.id, None),
            Revoker::Admin { admin, reason } => (NoticeEvent::Removed, admin, Some(reason)),
        };
        let notice =
            Self::event_notice_in(&mut tx, room, actor, notice, Some(event), Some(id), now).await?;
        // The notice locked the room, as every removal does first: a sender
        // removed on another node since the caller looked is seen here.
        if by_sender && Self::role_in(&mut tx, room, actor).await?.is_none() {
            return Err(StoreError::NotFound(Missing::Member));
        }
        sqlx::query(
            "UPDATE messages SET body = NULL, revoked_at = $1, revoked_by = $2
             WHERE id = $3 AND revoked_at IS NULL",
        )
        .bind(ms)
        .bind(actor.0)
        .bind(id.0)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        if let Some(reason) = reason {
            // What was removed, without what it said: the content is gone for everyone.
            let detail = format!(
                "{{\"room_id\":{},\"sender_id\":{},\"seq\":{},\"kind\":\"{}\",\"created_at_ms\":{}}}",
                room.0,
                original.sender.id.0,
                original.seq,
                original.kind.as_str(),
                to_millis(original.created_at)
            );
            sqlx::query(INSERT_AUDIT)
                .bind(actor.0)
                .bind("remove_message")
                .bind("message")
                .bind(id.0)
                .bind(reason)
                .bind(detail)
                .bind(ms)
                .execute(&mut *tx)
                .await
                .map_err(db_err)?;
        }
        let recipients = Self::member_ids(&mut tx, room).await?;
        let message = Self::message_in(&mut tx, id)
            .await?
            .ok_or(StoreError::NotFound(Missing::Message))?;
        tx.commit().await.map_err(db_err)?;
        Ok(Revocation {
            message,
            notice,
            recipients,
        })
    }

    async fn hide_messages(
        &self,
        user: UserId,
        ids: &[MessageId],
        now: OffsetDateTime,
    ) -> StoreResult<Result<Option<Notice>, Vec<MessageId>>> {
        let ms = to_millis(now);
        let mut tx = self.write_tx().await?;
        let mut missing = Vec::new();
        for id in ids {
            // A message hidden already is still "visible" for this check's purpose.
            let member: Option<i64> = sqlx::query_scalar(
                "SELECT m.id FROM messages m JOIN room_members rm
                     ON rm.room_id = m.room_id AND rm.user_id = $1
                 WHERE m.id = $2",
            )
            .bind(user.0)
            .bind(id.0)
            .fetch_optional(&mut *tx)
            .await
            .map_err(db_err)?;
            if member.is_none() {
                missing.push(*id);
            }
        }
        if !missing.is_empty() {
            return Ok(Err(missing));
        }
        let mut hidden = Vec::new();
        for id in ids {
            let done = sqlx::query(
                "INSERT INTO hidden_messages (user_id, message_id, hidden_at) VALUES ($1, $2, $3)
                 ON CONFLICT (user_id, message_id) DO NOTHING",
            )
            .bind(user.0)
            .bind(id.0)
            .bind(ms)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
            if B::rows_affected(&done) == 1 {
                hidden.push(*id);
            }
        }
        let event = if hidden.is_empty() {
            None
        } else {
            Some(Self::insert_event(&mut tx, UserEvent::Hidden(hidden), user, ms).await?)
        };
        tx.commit().await.map_err(db_err)?;
        Ok(Ok(event))
    }

    async fn user_messages(
        &self,
        user: UserId,
        list: MessageList,
        filter: MessageFilter,
        limit: u32,
    ) -> StoreResult<Vec<Message>> {
        let mut c = Conditions::starting_at(1);
        let mut binds = vec![Bound::Int(user.0)];
        // $1 is the user throughout.
        c.push("rm.user_id = ?");
        match list {
            MessageList::Sent => c.push("m.sender_id = rm.user_id"),
            MessageList::Received => c.push("m.sender_id <> rm.user_id"),
        }
        c.push("m.kind <> 'system'");
        c.push(
            "NOT EXISTS (SELECT 1 FROM hidden_messages h \
             WHERE h.user_id = rm.user_id AND h.message_id = m.id)",
        );
        if let Some(room) = filter.room {
            c.push("m.room_id = ?");
            binds.push(Bound::Int(room.0));
        }
        if let Some(kind) = filter.kind {
            c.push("m.kind = ?");
            binds.push(Bound::Text(kind.as_str().to_owned()));
        }
        if let Some(before) = filter.before {
            c.push("m.id < ?");
            binds.push(Bound::Int(before.0));
        }
        match (list, filter.unread) {
            (_, None) => {}
            (MessageList::Received, Some(true)) => c.push("m.seq > rm.read_seq"),
            (MessageList::Received, Some(false)) => c.push("m.seq <= rm.read_seq"),
            (MessageList::Sent, Some(unread)) => c.push(&format!(
                // Members who hide their read position count as having read
                // it, so the filter cannot reveal what they keep private.
                "{} EXISTS (SELECT 1 FROM room_members o JOIN users ou ON ou.id = o.user_id \
                 WHERE o.room_id = m.room_id AND o.user_id <> rm.user_id \
                 AND ou.read_receipts AND o.read_seq < m.seq)",
                if unread { "" } else { "NOT" }
            )),
        }
        let joins = "JOIN room_members rm ON rm.room_id = m.room_id";
        Self::messages_where(&self.pool, joins, c, binds, limit).await
    }

    async fn add_favorite(
        &self,
        user: UserId,
        message: MessageId,
        now: OffsetDateTime,
    ) -> StoreResult<Option<(Favorite, Option<Notice>)>> {
        let ms = to_millis(now);
        let mut tx = self.write_tx().await?;
        let existing = Self::favorite_in(&mut tx, user, message).await?;
        // A favorite outlives membership, not the user's own deletion.
        if let Some(f) = existing {
            let hidden: Option<i64> = sqlx::query_scalar(
                "SELECT message_id FROM hidden_messages WHERE user_id = $1 AND message_id = $2",
            )
            .bind(user.0)
            .bind(message.0)
            .fetch_optional(&mut *tx)
            .await
            .map_err(db_err)?;
            tx.commit().await.map_err(db_err)?;
            return Ok(hidden.is_none().then_some((f, None)));
        }
        if Self::visible_in(&mut tx, user, message).await?.is_none() {
            return Ok(None);
        }
        // A concurrent call (another device) may have inserted it since the
        // look-up above: then it is not new, rather than a unique violation.
        let done = sqlx::query(
            "INSERT INTO favorites (user_id, message_id, created_at) VALUES ($1, $2, $3)
             ON CONFLICT (user_id, message_id) DO NOTHING",
        )
        .bind(user.0)
        .bind(message.0)
        .bind(ms)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        let favorite = Self::favorite_in(&mut tx, user, message)
            .await?
            .ok_or(StoreError::NotFound(Missing::Favorite))?;
        let notice = if B::rows_affected(&done) == 1 {
            let event = UserEvent::Favorite {
                message,
                favorite: true,
            };
            Some(Self::insert_event(&mut tx, event, user, ms).await?)
        } else {
            None
        };
        tx.commit().await.map_err(db_err)?;
        Ok(Some((favorite, notice)))
    }

    async fn remove_favorite(
        &self,
        user: UserId,
        message: MessageId,
        now: OffsetDateTime,
    ) -> StoreResult<Option<Notice>> {
        let ms = to_millis(now);
        let mut tx = self.write_tx().await?;
        let done = sqlx::query("DELETE FROM favorites WHERE user_id = $1 AND message_id = $2")
            .bind(user.0)
            .bind(message.0)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        // Only the call that removed the row tells the devices, so a removal
        // racing another device's is announced once.
        let notice = if B::rows_affected(&done) == 1 {
            let event = UserEvent::Favorite {
                message,
                favorite: false,
            };
            Some(Self::insert_event(&mut tx, event, user, ms).await?)
        } else {
            None
        };
        tx.commit().await.map_err(db_err)?;
        Ok(notice)
    }

    async fn favorites(
        &self,
        user: UserId,
        after: Option<(i64, MessageId)>,
        limit: u32,
    ) -> StoreResult<Vec<Favorite>> {
        let (ms, id) = after.map_or((i64::MAX, i64::MAX), |(ms, id)| (ms, id.0));
        sqlx::query_as::<_, FavoriteRow>(AssertSqlSafe(format!(
            "SELECT {MESSAGE_COLUMNS}, f.created_at AS favorited_at {FAVORITE_FROM}
             WHERE f.user_id = $1
               AND (f.created_at < $2 OR (f.created_at = $2 AND f.message_id < $3))
               AND NOT EXISTS (SELECT 1 FROM hidden_messages h
                               WHERE h.user_id = $1 AND h.message_id = m.id)
             ORDER BY f.created_at DESC, f.message_id DESC LIMIT $4"
        )))
        .bind(user.0)
        .bind(ms)
        .bind(id)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(db_err)?
        .into_iter()
        .map(FavoriteRow::into_favorite)
        .collect()
    }

    async fn admin_messages(
        &self,
        filter: AdminMessageFilter,
        limit: u32,
    ) -> StoreResult<Vec<Message>> {
        let mut c = Conditions::starting_at(1);
        let mut binds = Vec::new();
        if let Some(room) = filter.room {
            c.push("m.room_id = ?");
            binds.push(Bound::Int(room.0));
        }
        if let Some(sender) = filter.sender {
            c.push("m.sender_id = ?");
            binds.push(Bound::Int(sender.0));
        }
        if let Some(kind) = filter.kind {
            c.push("m.kind = ?");
            binds.push(Bound::Text(kind.as_str().to_owned()));
        }
        if let Some(text) = filter.text {
            c.push("lower(m.body) LIKE lower(?) ESCAPE '\\'");
            binds.push(Bound::Text(format!("%{}%", crate::escape_like(&text))));
        }
        if let Some(from) = filter.from {
            c.push("m.created_at >= ?");
            binds.push(Bound::Int(to_millis(from)));
        }
        if let Some(to) = filter.to {
            c.push("m.created_at <= ?");
            binds.push(Bound::Int(to_millis(to)));
        }
        if let Some(before) = filter.before {
            c.push("m.id < ?");
            binds.push(Bound::Int(before.0));
        }
        Self::messages_where(&self.pool, "", c, binds, limit).await
    }

    async fn moderate_user(
        &self,
        entry: NewAudit,
        disabled: bool,
        now: OffsetDateTime,
    ) -> StoreResult<::roomy_store::User> {
        let ms = to_millis(now);
        let mut tx = self.write_tx().await?;
        let user = Self::set_disabled_in(&mut tx, UserId(entry.target_id), disabled, ms).await?;
        sqlx::query(INSERT_AUDIT)
            .bind(entry.actor.0)
            .bind(entry.action)
            .bind(entry.target_type)
            .bind(entry.target_id)
            .bind(entry.reason)
            .bind(entry.detail)
            .bind(ms)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        tx.commit().await.map_err(db_err)?;
        Ok(user)
    }

    async fn audit_log(&self, before: Option<i64>, limit: u32) -> StoreResult<Vec<AuditEntry>> {
        Ok(sqlx::query_as::<_, AuditRow>(
            "SELECT id, actor_id, action, target_type, target_id, reason, detail, created_at
             FROM audit_log WHERE id < $1 ORDER BY id DESC LIMIT $2",
        )
        .bind(before.unwrap_or(i64::MAX))
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(db_err)?
        .into_iter()
        .map(AuditRow::into_entry)
        .collect())
    }
}
