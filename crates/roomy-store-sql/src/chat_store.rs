//! Rooms, members and messages, shared by the SQL backends: the SQL is
//! identical (see [`crate::chat`]); the backend supplies the group commit
//! ([`Backend::append_in`]) and how a write transaction starts.

use crate::backend::{Args, Backend, Col, Conn, DbRow, SqlStore, WriteTx};
use crate::lifecycle::{UserEvent, UserEventRow};
use crate::social::{NOTICE_SELECT, NoticeRow};
use crate::{
    chat::{
        GATE_DISSOLVED, HISTORY_AFTER, HISTORY_BEFORE, MEMBER_SELECT, MEMBERS_PAGE,
        MESSAGE_COLUMNS, MESSAGE_FROM, MemberRow, MessageRow, ROOM_COLUMNS, RoomRow, SUMMARY_FROM,
        SUMMARY_ONE, SUMMARY_PAGE, SYNC_ROOM, SYNC_ROOMS, SummaryRow, direct_key,
    },
    conflict_or, db_err,
};
use roomy_core::{
    MessageId, RoomId, UserId,
    chat_fields::{MemberRole, MessageKind},
    clock::to_millis,
    social_fields::DirectPolicy,
};
use roomy_store::{
    AppendOutcome, Member, MemberProfileChanges, Message, NewGroup, NewMessage, NoticeEvent,
    Replay, Room, RoomChange, RoomDenial, RoomFacts, RoomProfileChanges, RoomSummary, StoreError,
    StoreResult, SyncBatch, SyncRoom, UserBrief,
};
use roomy_store::{Conflict, Missing};
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
    pub(crate) async fn room_in(conn: &mut Conn<B>, id: RoomId) -> StoreResult<Option<Room>> {
        sqlx::query_as::<_, RoomRow>(AssertSqlSafe(format!(
            "SELECT {ROOM_COLUMNS} FROM rooms r WHERE r.id = $1"
        )))
        .bind(id.0)
        .fetch_optional(conn)
        .await
        .map_err(db_err)?
        .map(RoomRow::into_room)
        .transpose()
    }

    /// Locks `room`'s row until commit and reads what a change to it is
    /// judged on. Every writer of a room's membership or profile starts
    /// here, so the facts hold until this transaction commits, whichever
    /// node the others run on.
    pub(crate) async fn room_facts_in(
        conn: &mut Conn<B>,
        room: RoomId,
        actor: UserId,
    ) -> StoreResult<RoomFacts> {
        // FOR UPDATE, not NO KEY UPDATE: the notice this transaction
        // appends locks the row FOR UPDATE, and upgrading a weaker lock
        // there could wait on a foreign-key check (KEY SHARE) of another
        // transaction that waits on us.
        let locked = sqlx::query_as::<_, RoomRow>(AssertSqlSafe(format!(
            "SELECT {ROOM_COLUMNS} FROM rooms r WHERE r.id = $1{}",
            B::FOR_UPDATE
        )))
        .bind(room.0)
        .fetch_optional(&mut *conn)
        .await
        .map_err(db_err)?
        .map(RoomRow::into_room)
        .transpose()?
        .ok_or(RoomDenial::RoomNotFound)?;
        let role = Self::role_in(conn, room, actor).await?;
        Ok(RoomFacts::of(&locked, role))
    }

    /// `user`'s role in `room`, `None` when not a member.
    pub(crate) async fn role_in(
        conn: &mut Conn<B>,
        room: RoomId,
        user: UserId,
    ) -> StoreResult<Option<MemberRole>> {
        let role: Option<String> =
            sqlx::query_scalar("SELECT role FROM room_members WHERE room_id = $1 AND user_id = $2")
                .bind(room.0)
                .bind(user.0)
                .fetch_optional(conn)
                .await
                .map_err(db_err)?;
        role.map(|r| {
            MemberRole::parse(&r).ok_or_else(|| StoreError::Corrupt(format!("unknown role {r:?}")))
        })
        .transpose()
    }

    pub(crate) async fn member_ids(conn: &mut Conn<B>, room: RoomId) -> StoreResult<Vec<UserId>> {
        Ok(
            sqlx::query_scalar::<_, i64>("SELECT user_id FROM room_members WHERE room_id = $1")
                .bind(room.0)
                .fetch_all(conn)
                .await
                .map_err(db_err)?
                .into_iter()
                .map(UserId)
                .collect(),
        )
    }

    pub(crate) async fn member_in(
        conn: &mut Conn<B>,
        room: RoomId,
        user: UserId,
    ) -> StoreResult<Option<Member>> {
        sqlx::query_as::<_, MemberRow>(AssertSqlSafe(format!(
            "{MEMBER_SELECT} WHERE rm.room_id = $1 AND rm.user_id = $2"
        )))
        .bind(room.0)
        .bind(user.0)
        .fetch_optional(conn)
        .await
        .map_err(db_err)?
        .map(MemberRow::into_member)
        .transpose()
    }

    pub(crate) async fn insert_member(
        conn: &mut Conn<B>,
        room: RoomId,
        user: UserId,
        role: MemberRole,
        now: i64,
    ) -> StoreResult<bool> {
        let done = sqlx::query(
            "INSERT INTO room_members (room_id, user_id, role, joined_at) VALUES ($1, $2, $3, $4)
             ON CONFLICT (room_id, user_id) DO NOTHING",
        )
        .bind(room.0)
        .bind(user.0)
        .bind(role.as_str())
        .bind(now)
        .execute(conn)
        .await
        .map_err(db_err)?;
        Ok(B::rows_affected(&done) == 1)
    }

    pub(crate) async fn refresh_member_count(conn: &mut Conn<B>, room: RoomId) -> StoreResult<()> {
        sqlx::query(
            "UPDATE rooms SET member_count = (SELECT count(*) FROM room_members WHERE room_id = $1)
             WHERE id = $1",
        )
        .bind(room.0)
        .execute(conn)
        .await
        .map_err(db_err)?;
        Ok(())
    }

    pub(crate) async fn message_counter(conn: &mut Conn<B>) -> StoreResult<i64> {
        sqlx::query_scalar::<_, i64>("SELECT value FROM counters WHERE name = 'message_id'")
            .fetch_one(conn)
            .await
            .map_err(db_err)
    }

    /// Writes one system notice by `actor` into `room`.
    pub(crate) async fn notice_in(
        conn: &mut Conn<B>,
        room: RoomId,
        actor: UserId,
        text: String,
        now: OffsetDateTime,
    ) -> StoreResult<Option<Message>> {
        Self::event_notice_in(conn, room, actor, text, None, None, now).await
    }

    /// Writes one system notice that records a change (and the message it is
    /// about). The event columns are set after the append, so the group
    /// commit's hot insert stays as narrow as it is.
    pub(crate) async fn event_notice_in(
        conn: &mut Conn<B>,
        room: RoomId,
        actor: UserId,
        text: String,
        event: Option<NoticeEvent>,
        ref_id: Option<MessageId>,
        now: OffsetDateTime,
    ) -> StoreResult<Option<Message>> {
        let new = NewMessage {
            room_id: room,
            sender_id: actor,
            client_id: None,
            kind: MessageKind::System,
            body: Some(roomy_core::chat_fields::MessageBody::system(text)),
            file: None,
        };
        let mut message = match B::append_in(
            &mut *conn,
            std::slice::from_ref(&new),
            DirectPolicy::Anyone,
            now,
        )
        .await?
        .pop()
        {
            Some(AppendOutcome::Stored { message, .. }) => message,
            _ => return Ok(None),
        };
        if event.is_some() {
            sqlx::query("UPDATE messages SET event = $1, ref_id = $2 WHERE id = $3")
                .bind(event.map(NoticeEvent::as_str))
                .bind(ref_id.map(|r| r.0))
                .bind(message.id.0)
                .execute(&mut *conn)
                .await
                .map_err(db_err)?;
            message.event = event;
            message.ref_id = ref_id;
        }
        Ok(Some(message))
    }

    /// One structural change to a room in the caller's transaction: its
    /// notice, the members it concerns, everyone to tell, and the room after.
    pub(crate) async fn room_change_in(
        conn: &mut Conn<B>,
        room: RoomId,
        changed: &[UserId],
        notice: Option<Message>,
    ) -> StoreResult<RoomChange> {
        let members = Self::members_of(&mut *conn, room, changed).await?;
        let recipients = Self::member_ids(&mut *conn, room).await?;
        let room = Self::room_in(conn, room)
            .await?
            .ok_or(StoreError::NotFound(Missing::Room))?;
        Ok(RoomChange {
            room,
            members,
            notice,
            recipients,
            notices: Vec::new(),
        })
    }

    pub(crate) async fn touch_room(conn: &mut Conn<B>, room: RoomId, ms: i64) -> StoreResult<()> {
        sqlx::query("UPDATE rooms SET updated_at = $1 WHERE id = $2")
            .bind(ms)
            .bind(room.0)
            .execute(conn)
            .await
            .map_err(db_err)?;
        Ok(())
    }

    pub(crate) async fn members_of(
        conn: &mut Conn<B>,
        room: RoomId,
        ids: &[UserId],
    ) -> StoreResult<Vec<Member>> {
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            if let Some(m) = Self::member_in(conn, room, *id).await? {
                out.push(m);
            }
        }
        Ok(out)
    }

    pub(crate) async fn try_find_or_create_direct(
        &self,
        a: UserId,
        b: UserId,
        policy: DirectPolicy,
        now: OffsetDateTime,
    ) -> StoreResult<(Room, bool)> {
        let mut tx = self.write_tx().await?;
        // The pair's lock, as every writer of their gate takes it: the gate
        // computed below cannot miss a block or unfriending committing now.
        Self::lock_pair(&mut tx, a, b).await?;
        let facts = Self::pair_facts_in(&mut tx, a, b).await?;
        if facts.blocked_by {
            return Err(StoreError::Refused(roomy_store::Refusal::Blocked));
        }
        if facts.blocked {
            return Err(StoreError::Refused(roomy_store::Refusal::YouBlocked));
        }
        if policy.requires_friendship() && !facts.friend {
            return Err(StoreError::Refused(roomy_store::Refusal::NotFriends));
        }
        let found = Self::direct_room_in(&mut tx, a, b, now).await?;
        tx.commit().await.map_err(db_err)?;
        Ok(found)
    }

    /// The direct room of `a` and `b` inside the caller's transaction, created
    /// (with its gate computed) if needed; `Conflict` when another transaction
    /// created it first.
    pub(crate) async fn direct_room_in(
        conn: &mut Conn<B>,
        a: UserId,
        b: UserId,
        now: OffsetDateTime,
    ) -> StoreResult<(Room, bool)> {
        let key = direct_key(a, b);
        let existing: Option<i64> =
            sqlx::query_scalar("SELECT id FROM rooms WHERE direct_key = $1")
                .bind(&key)
                .fetch_optional(&mut *conn)
                .await
                .map_err(db_err)?;
        if let Some(id) = existing {
            // Callers change the pair's friendship or blocks before asking.
            Self::refresh_gate(conn, a, b).await?;
            let room = Self::room_in(conn, RoomId(id))
                .await?
                .ok_or(StoreError::NotFound(Missing::Room))?;
            return Ok((room, false));
        }
        let ms = to_millis(now);
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO rooms (kind, direct_key, created_by, created_at, updated_at, member_count)
             VALUES ('direct', $1, $2, $3, $3, 2) RETURNING id",
        )
        .bind(&key)
        .bind(a.0)
        .bind(ms)
        .fetch_one(&mut *conn)
        .await
        .map_err(|e| conflict_or(e, Conflict::DirectRoom))?;
        for user in [a, b] {
            Self::insert_member(conn, RoomId(id), user, MemberRole::Member, ms).await?;
        }
        Self::refresh_gate(conn, a, b).await?;
        let room = Self::room_in(conn, RoomId(id))
            .await?
            .ok_or(StoreError::NotFound(Missing::Room))?;
        Ok((room, true))
    }

    /// [`ChatStore::co_members`](roomy_store::ChatStore::co_members): one statement, read on the pool.
    pub(crate) async fn co_members_of(
        pool: &sqlx::Pool<B::Db>,
        user: UserId,
    ) -> StoreResult<Vec<UserId>> {
        Ok(sqlx::query_scalar::<_, i64>(crate::chat::CO_MEMBERS)
            .bind(user.0)
            .fetch_all(pool)
            .await
            .map_err(db_err)?
            .into_iter()
            .map(UserId)
            .collect())
    }
}

#[::async_trait::async_trait]
impl<B> ::roomy_store::ChatStore for SqlStore<B>
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
    async fn find_or_create_direct(
        &self,
        a: UserId,
        b: UserId,
        policy: DirectPolicy,
        now: OffsetDateTime,
    ) -> StoreResult<(Room, bool)> {
        // Two concurrent first contacts race on the unique direct_key: the
        // loser's insert conflicts, and its retry finds the winner's room.
        let mut attempts = 0;
        loop {
            attempts += 1;
            match self.try_find_or_create_direct(a, b, policy, now).await {
                Err(StoreError::Conflict(Conflict::DirectRoom)) if attempts < 3 => continue,
                other => return other,
            }
        }
    }

    async fn create_group(&self, new: NewGroup, now: OffsetDateTime) -> StoreResult<RoomChange> {
        let ms = to_millis(now);
        let mut tx = self.write_tx().await?;
        let refused = Self::group_refusals_in(&mut tx, new.owner, &new.members, new.policy).await?;
        if !refused.is_empty() {
            return Err(StoreError::MembersRefused(refused));
        }
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO rooms (kind, name, created_by, created_at, updated_at)
             VALUES ('group', $1, $2, $3, $3) RETURNING id",
        )
        .bind(new.name.as_str())
        .bind(new.owner.0)
        .bind(ms)
        .fetch_one(&mut *tx)
        .await
        .map_err(db_err)?;
        let room = RoomId(id);
        Self::insert_member(&mut tx, room, new.owner, MemberRole::Owner, ms).await?;
        for user in &new.members {
            Self::insert_member(&mut tx, room, *user, MemberRole::Member, ms).await?;
        }
        Self::refresh_member_count(&mut tx, room).await?;
        let notice = Self::notice_in(&mut tx, room, new.owner, new.notice, now).await?;
        let everyone = Self::member_ids(&mut tx, room).await?;
        let change = Self::room_change_in(&mut tx, room, &everyone, notice).await?;
        tx.commit().await.map_err(db_err)?;
        Ok(change)
    }

    async fn room(&self, id: RoomId) -> StoreResult<Option<Room>> {
        let mut conn = self.pool.acquire().await.map_err(db_err)?;
        Self::room_in(&mut conn, id).await
    }

    async fn member_role(&self, room: RoomId, user: UserId) -> StoreResult<Option<MemberRole>> {
        let mut conn = self.pool.acquire().await.map_err(db_err)?;
        Self::role_in(&mut conn, room, user).await
    }

    async fn room_summary(&self, room: RoomId, user: UserId) -> StoreResult<Option<RoomSummary>> {
        sqlx::query_as::<_, SummaryRow>(AssertSqlSafe(format!("{SUMMARY_FROM} {SUMMARY_ONE}")))
            .bind(room.0)
            .bind(user.0)
            .fetch_optional(&self.pool)
            .await
            .map_err(db_err)?
            .map(|r| r.into_summary().map(|(_, s)| s))
            .transpose()
    }

    async fn rooms_of(
        &self,
        user: UserId,
        after: Option<(i64, RoomId)>,
        limit: u32,
    ) -> StoreResult<Vec<(i64, RoomSummary)>> {
        let (activity, id) = after.map_or((i64::MAX, i64::MAX), |(a, r)| (a, r.0));
        sqlx::query_as::<_, SummaryRow>(AssertSqlSafe(format!("{SUMMARY_FROM} {SUMMARY_PAGE}")))
            .bind(user.0)
            .bind(activity)
            .bind(id)
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await
            .map_err(db_err)?
            .into_iter()
            .map(SummaryRow::into_summary)
            .collect()
    }

    async fn members(
        &self,
        room: RoomId,
        after: Option<UserId>,
        limit: u32,
    ) -> StoreResult<Vec<Member>> {
        sqlx::query_as::<_, MemberRow>(AssertSqlSafe(format!("{MEMBER_SELECT} {MEMBERS_PAGE}")))
            .bind(room.0)
            .bind(after.map_or(0, |u| u.0))
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await
            .map_err(db_err)?
            .into_iter()
            .map(MemberRow::into_member)
            .collect()
    }

    async fn add_members(
        &self,
        room: RoomId,
        actor: UserId,
        users: &[UserId],
        policy: DirectPolicy,
        notice: String,
        max_members: i64,
        now: OffsetDateTime,
    ) -> StoreResult<RoomChange> {
        let ms = to_millis(now);
        let mut tx = self.write_tx().await?;
        let facts = Self::room_facts_in(&mut tx, room, actor).await?;
        // Current members are skipped, so only newcomers are judged.
        let current = Self::member_ids(&mut tx, room).await?;
        let newcomers: Vec<UserId> = users
            .iter()
            .copied()
            .filter(|u| !current.contains(u))
            .collect();
        facts.may_add(newcomers.len(), max_members)?;
        let refused = Self::group_refusals_in(&mut tx, actor, &newcomers, policy).await?;
        if !refused.is_empty() {
            return Err(StoreError::MembersRefused(refused));
        }
        let mut added = Vec::new();
        for user in &newcomers {
            if Self::insert_member(&mut tx, room, *user, MemberRole::Member, ms).await? {
                added.push(*user);
            }
            // Adding someone back on purpose is the other way a ban ends.
            sqlx::query("DELETE FROM room_bans WHERE room_id = $1 AND user_id = $2")
                .bind(room.0)
                .bind(user.0)
                .execute(&mut *tx)
                .await
                .map_err(db_err)?;
        }
        let notice = if added.is_empty() {
            None
        } else {
            Self::refresh_member_count(&mut tx, room).await?;
            Self::touch_room(&mut tx, room, ms).await?;
            Self::notice_in(&mut tx, room, actor, notice, now).await?
        };
        let change = Self::room_change_in(&mut tx, room, &added, notice).await?;
        tx.commit().await.map_err(db_err)?;
        Ok(change)
    }

    async fn remove_member(
        &self,
        room: RoomId,
        actor: UserId,
        user: UserId,
        notice: String,
        now: OffsetDateTime,
    ) -> StoreResult<RoomChange> {
        let mut tx = self.write_tx().await?;
        let facts = Self::room_facts_in(&mut tx, room, actor).await?;
        let member = Self::member_in(&mut tx, room, user).await?;
        facts.may_remove(member.as_ref().map(|m| m.role), user == actor)?;
        let member = member.ok_or(RoomDenial::MemberNotFound)?;
        // The notice is written while the leaver is still a member, so it is
        // the last thing of the room they are told about.
        let notice = Self::notice_in(&mut tx, room, actor, notice, now).await?;
        let mut recipients = Self::member_ids(&mut tx, room).await?;
        let done = sqlx::query("DELETE FROM room_members WHERE room_id = $1 AND user_id = $2")
            .bind(room.0)
            .bind(user.0)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        // The room's lock is held since the member was read: no other
        // removal can have taken them since.
        if B::rows_affected(&done) == 0 {
            return Err(RoomDenial::MemberNotFound.into());
        }
        Self::refresh_member_count(&mut tx, room).await?;
        if actor != user {
            // Removed, not left: a live invite link must not bring them back.
            sqlx::query(
                "INSERT INTO room_bans (room_id, user_id, banned_by, created_at)
                 VALUES ($1, $2, $3, $4)
                 ON CONFLICT (room_id, user_id)
                 DO UPDATE SET banned_by = excluded.banned_by, created_at = excluded.created_at",
            )
            .bind(room.0)
            .bind(user.0)
            .bind(actor.0)
            .bind(to_millis(now))
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        }
        // Their devices that are offline learn it from sync.
        let left = Self::insert_event(
            &mut tx,
            UserEvent::Left { room, by: actor },
            user,
            to_millis(now),
        )
        .await?;
        let room = Self::room_in(&mut tx, room)
            .await?
            .ok_or(StoreError::NotFound(Missing::Room))?;
        tx.commit().await.map_err(db_err)?;
        recipients.sort();
        Ok(RoomChange {
            room,
            members: vec![member],
            notice,
            recipients,
            notices: vec![left],
        })
    }

    async fn set_member_role(
        &self,
        room: RoomId,
        actor: UserId,
        user: UserId,
        role: MemberRole,
        now: OffsetDateTime,
    ) -> StoreResult<RoomChange> {
        let mut tx = self.write_tx().await?;
        let facts = Self::room_facts_in(&mut tx, room, actor).await?;
        let target = Self::role_in(&mut tx, room, user).await?;
        facts.may_set_role(target, user == actor)?;
        if role == MemberRole::Owner {
            // Two owners would be a group no rule expects: `transfer_ownership`.
            return Err(RoomDenial::HandOverOnly.into());
        }
        let done =
            sqlx::query("UPDATE room_members SET role = $1 WHERE room_id = $2 AND user_id = $3")
                .bind(role.as_str())
                .bind(room.0)
                .bind(user.0)
                .execute(&mut *tx)
                .await
                .map_err(db_err)?;
        if B::rows_affected(&done) == 0 {
            return Err(StoreError::NotFound(Missing::Member));
        }
        Self::touch_room(&mut tx, room, to_millis(now)).await?;
        let change = Self::room_change_in(&mut tx, room, &[user], None).await?;
        tx.commit().await.map_err(db_err)?;
        Ok(change)
    }

    async fn update_room(
        &self,
        room: RoomId,
        actor: UserId,
        changes: RoomProfileChanges,
        notice: String,
        now: OffsetDateTime,
    ) -> StoreResult<RoomChange> {
        let (set_avatar, avatar) = match &changes.avatar {
            None => (false, None),
            Some(a) => (true, a.clone()),
        };
        let mut tx = self.write_tx().await?;
        Self::room_facts_in(&mut tx, room, actor)
            .await?
            .may_edit_group()?;
        let done = sqlx::query(
            "UPDATE rooms SET name = COALESCE($1, name),
                 avatar = CASE WHEN $2 THEN $3 ELSE avatar END, updated_at = $4
             WHERE id = $5",
        )
        .bind(changes.name.as_ref().map(|n| n.as_str().to_owned()))
        .bind(set_avatar)
        .bind(avatar)
        .bind(to_millis(now))
        .bind(room.0)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        if B::rows_affected(&done) == 0 {
            return Err(StoreError::NotFound(Missing::Room));
        }
        let notice = Self::notice_in(&mut tx, room, actor, notice, now).await?;
        let change = Self::room_change_in(&mut tx, room, &[], notice).await?;
        tx.commit().await.map_err(db_err)?;
        Ok(change)
    }

    async fn member(&self, room: RoomId, user: UserId) -> StoreResult<Option<Member>> {
        let mut conn = self.pool.acquire().await.map_err(db_err)?;
        Self::member_in(&mut conn, room, user).await
    }

    async fn room_bans(
        &self,
        room: RoomId,
        after: Option<UserId>,
        limit: u32,
    ) -> StoreResult<Vec<::roomy_store::Ban>> {
        let rows: Vec<(i64, String, Option<String>, i64, i64)> = sqlx::query_as(
            "SELECT b.user_id, u.nickname, u.avatar, b.banned_by, b.created_at
             FROM room_bans b JOIN users u ON u.id = b.user_id
             WHERE b.room_id = $1 AND b.user_id > $2
             ORDER BY b.user_id LIMIT $3",
        )
        .bind(room.0)
        .bind(after.map_or(0, |u| u.0))
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(db_err)?;
        Ok(rows
            .into_iter()
            .map(|(user, nickname, avatar, by, at)| ::roomy_store::Ban {
                room_id: room,
                user: UserBrief {
                    id: UserId(user),
                    nickname,
                    avatar,
                },
                banned_by: UserId(by),
                banned_at: roomy_core::clock::from_millis(at),
            })
            .collect())
    }

    async fn lift_ban(&self, room: RoomId, actor: UserId, user: UserId) -> StoreResult<()> {
        let mut tx = self.write_tx().await?;
        Self::room_facts_in(&mut tx, room, actor)
            .await?
            .may_manage()?;
        let done = sqlx::query("DELETE FROM room_bans WHERE room_id = $1 AND user_id = $2")
            .bind(room.0)
            .bind(user.0)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        if B::rows_affected(&done) == 0 {
            return Err(StoreError::NotFound(Missing::Ban));
        }
        tx.commit().await.map_err(db_err)?;
        Ok(())
    }

    async fn dissolve_room(
        &self,
        room: RoomId,
        actor: UserId,
        notice: String,
        now: OffsetDateTime,
    ) -> StoreResult<RoomChange> {
        let ms = to_millis(now);
        let mut tx = self.write_tx().await?;
        Self::room_facts_in(&mut tx, room, actor)
            .await?
            .may_dissolve()?;
        // The notice goes first: once the gate is set, the room takes only notices.
        let notice = Self::event_notice_in(
            &mut tx,
            room,
            actor,
            notice,
            Some(NoticeEvent::Dissolved),
            None,
            now,
        )
        .await?;
        let done = sqlx::query(
            "UPDATE rooms SET dissolved_at = $1, updated_at = $1,
                 direct_gate = direct_gate | $2
             WHERE id = $3 AND kind = 'group' AND dissolved_at IS NULL",
        )
        .bind(ms)
        .bind(GATE_DISSOLVED)
        .bind(room.0)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        if B::rows_affected(&done) == 0 {
            return Err(StoreError::NotFound(Missing::Room));
        }
        let change = Self::room_change_in(&mut tx, room, &[], notice).await?;
        tx.commit().await.map_err(db_err)?;
        Ok(change)
    }

    async fn transfer_ownership(
        &self,
        room: RoomId,
        from: UserId,
        to: UserId,
        notice: String,
        now: OffsetDateTime,
    ) -> StoreResult<RoomChange> {
        let mut tx = self.write_tx().await?;
        let facts = Self::room_facts_in(&mut tx, room, from).await?;
        let heir = Self::role_in(&mut tx, room, to).await?;
        facts.may_set_role(heir, to == from)?;
        // The notice (position) before member rows: the lock order `mark_read` keeps too.
        let notice = Self::notice_in(&mut tx, room, from, notice, now).await?;
        let done = sqlx::query(
            "UPDATE room_members SET role = 'owner' WHERE room_id = $1 AND user_id = $2",
        )
        .bind(room.0)
        .bind(to.0)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        if B::rows_affected(&done) == 0 {
            return Err(StoreError::NotFound(Missing::Member));
        }
        // The room's lock makes hand-overs take turns: the second one
        // finds `from` no longer the owner above and is refused.
        let demoted = sqlx::query(
            "UPDATE room_members SET role = 'admin'
             WHERE room_id = $1 AND user_id = $2 AND role = 'owner'",
        )
        .bind(room.0)
        .bind(from.0)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        if B::rows_affected(&demoted) == 0 {
            return Err(StoreError::NotFound(Missing::Member));
        }
        Self::touch_room(&mut tx, room, to_millis(now)).await?;
        let change = Self::room_change_in(&mut tx, room, &[to, from], notice).await?;
        tx.commit().await.map_err(db_err)?;
        Ok(change)
    }

    async fn update_member_profile(
        &self,
        room: RoomId,
        user: UserId,
        changes: MemberProfileChanges,
        now: OffsetDateTime,
    ) -> StoreResult<RoomChange> {
        let (set_nickname, nickname) = match changes.nickname {
            None => (false, None),
            Some(n) => (true, n),
        };
        let (set_avatar, avatar) = match changes.avatar {
            None => (false, None),
            Some(a) => (true, a),
        };
        let mut tx = self.write_tx().await?;
        Self::room_facts_in(&mut tx, room, user)
            .await?
            .may_edit_own_profile()?;
        let done = sqlx::query(
            "UPDATE room_members SET nickname = CASE WHEN $1 THEN $2 ELSE nickname END,
                 avatar = CASE WHEN $3 THEN $4 ELSE avatar END
             WHERE room_id = $5 AND user_id = $6",
        )
        .bind(set_nickname)
        .bind(nickname)
        .bind(set_avatar)
        .bind(avatar)
        .bind(room.0)
        .bind(user.0)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        if B::rows_affected(&done) == 0 {
            return Err(StoreError::NotFound(Missing::Member));
        }
        Self::touch_room(&mut tx, room, to_millis(now)).await?;
        let change = Self::room_change_in(&mut tx, room, &[user], None).await?;
        tx.commit().await.map_err(db_err)?;
        Ok(change)
    }

    async fn append_messages(
        &self,
        batch: &[NewMessage],
        policy: DirectPolicy,
        now: OffsetDateTime,
    ) -> StoreResult<Vec<AppendOutcome>> {
        let mut tx = self.write_tx().await?;
        let outcomes = B::append_in(&mut tx, batch, policy, now).await?;
        tx.commit().await.map_err(db_err)?;
        Ok(outcomes)
    }

    async fn history(
        &self,
        room: RoomId,
        viewer: UserId,
        before_seq: Option<i64>,
        after_seq: Option<i64>,
        limit: u32,
    ) -> StoreResult<Vec<Message>> {
        let (clause, bound) = match (after_seq, before_seq) {
            (Some(after), _) => (HISTORY_AFTER, after),
            (None, before) => (HISTORY_BEFORE, before.unwrap_or(i64::MAX)),
        };
        let sql = format!("SELECT {MESSAGE_COLUMNS} {MESSAGE_FROM} {clause}");
        let mut rows = sqlx::query_as::<_, MessageRow>(AssertSqlSafe(sql))
            .bind(room.0)
            .bind(bound)
            .bind(viewer.0)
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await
            .map_err(db_err)?;
        if after_seq.is_none() {
            rows.reverse();
        }
        rows.into_iter().map(MessageRow::into_message).collect()
    }

    async fn stream_position(&self) -> StoreResult<MessageId> {
        let mut conn = self.pool.acquire().await.map_err(db_err)?;
        Self::message_counter(&mut conn).await.map(MessageId)
    }

    async fn sync(
        &self,
        user: UserId,
        since: MessageId,
        upto: Option<MessageId>,
        limit: u32,
    ) -> StoreResult<SyncBatch> {
        // One read transaction: a consistent snapshot for the position and the rooms.
        let mut tx = self.pool.begin().await.map_err(db_err)?;
        let next = match upto {
            Some(u) => u,
            None => MessageId(Self::message_counter(&mut tx).await?),
        };
        let room_ids: Vec<i64> = sqlx::query_scalar(SYNC_ROOMS)
            .bind(user.0)
            .bind(since.0)
            .fetch_all(&mut *tx)
            .await
            .map_err(db_err)?;
        let mut rooms = Vec::new();
        let sql = format!("SELECT {MESSAGE_COLUMNS} {MESSAGE_FROM} {SYNC_ROOM}");
        for id in room_ids {
            let mut rows = sqlx::query_as::<_, MessageRow>(AssertSqlSafe(sql.clone()))
                .bind(id)
                .bind(since.0)
                .bind(next.0)
                .bind(user.0)
                .bind(i64::from(limit) + 1)
                .fetch_all(&mut *tx)
                .await
                .map_err(db_err)?;
            if rows.is_empty() {
                continue;
            }
            let limited = rows.len() > limit as usize;
            rows.truncate(limit as usize);
            rows.reverse();
            rooms.push(SyncRoom {
                room_id: RoomId(id),
                messages: rows
                    .into_iter()
                    .map(MessageRow::into_message)
                    .collect::<Result<_, _>>()?,
                limited,
            });
        }
        let (mut notices, friend_limited) =
            Self::notices_in(&mut tx, user, since, next, SYNC_NOTICES_MAX).await?;
        let (events, events_limited) =
            Self::events_in(&mut tx, user, since, next, SYNC_NOTICES_MAX).await?;
        notices.extend(events);
        notices.sort_by_key(|n| n.id);
        let cut = notices.len().saturating_sub(SYNC_NOTICES_MAX as usize);
        notices.drain(..cut);
        let notices_limited = friend_limited || events_limited || cut > 0;
        tx.commit().await.map_err(db_err)?;
        Ok(SyncBatch {
            next,
            rooms,
            notices,
            notices_limited,
        })
    }

    async fn co_members(&self, user: UserId) -> StoreResult<Vec<UserId>> {
        Self::co_members_of(&self.pool, user).await
    }

    async fn replay(&self, after: MessageId, upto: MessageId) -> StoreResult<Replay> {
        // One read transaction: the members belong to the same snapshot as the messages.
        let mut tx = self.pool.begin().await.map_err(db_err)?;
        let sql = format!("SELECT {MESSAGE_COLUMNS} {MESSAGE_FROM} {REPLAY_MESSAGES}");
        let messages = sqlx::query_as::<_, MessageRow>(AssertSqlSafe(sql))
            .bind(after.0)
            .bind(upto.0)
            .fetch_all(&mut *tx)
            .await
            .map_err(db_err)?
            .into_iter()
            .map(MessageRow::into_message)
            .collect::<Result<Vec<_>, _>>()?;
        let mut members: std::collections::HashMap<i64, Vec<UserId>> = Default::default();
        if !messages.is_empty() {
            let rows: Vec<(i64, i64)> = sqlx::query_as(REPLAY_MEMBERS)
                .bind(after.0)
                .bind(upto.0)
                .fetch_all(&mut *tx)
                .await
                .map_err(db_err)?;
            for (room, user) in rows {
                members.entry(room).or_default().push(UserId(user));
            }
        }
        let notices = sqlx::query_as::<_, NoticeRow>(AssertSqlSafe(format!(
            "{NOTICE_SELECT} {REPLAY_NOTICES}"
        )))
        .bind(after.0)
        .bind(upto.0)
        .fetch_all(&mut *tx)
        .await
        .map_err(db_err)?
        .into_iter()
        .map(NoticeRow::into_notice);
        let events = sqlx::query_as::<_, UserEventRow>(REPLAY_EVENTS)
            .bind(after.0)
            .bind(upto.0)
            .fetch_all(&mut *tx)
            .await
            .map_err(db_err)?
            .into_iter()
            .map(UserEventRow::into_notice);
        let mut notices = notices.chain(events).collect::<Result<Vec<_>, _>>()?;
        notices.sort_by_key(|n| n.id);
        tx.commit().await.map_err(db_err)?;
        Ok(Replay {
            messages: messages
                .into_iter()
                .map(|m| {
                    let to = members.get(&m.room_id.0).cloned().unwrap_or_default();
                    (m, to)
                })
                .collect(),
            notices,
        })
    }
}

/// Messages at positions in ($1, $2], in position order.
const REPLAY_MESSAGES: &str = "WHERE m.id > $1 AND m.id <= $2 ORDER BY m.id";
/// The members of the rooms of those messages.
const REPLAY_MEMBERS: &str = "SELECT room_id, user_id FROM room_members WHERE room_id IN \
     (SELECT room_id FROM messages WHERE id > $1 AND id <= $2) ORDER BY room_id, user_id";
/// Every user's friend notices at positions in ($1, $2].
const REPLAY_NOTICES: &str = "WHERE n.id > $1 AND n.id <= $2 ORDER BY n.id";
/// Every user's events at positions in ($1, $2].
const REPLAY_EVENTS: &str = "SELECT id, user_id, kind, room_id, actor_id, seq, data, \
     created_at FROM user_events WHERE id > $1 AND id <= $2 ORDER BY id";

/// Most notices one sync returns (the newest); `notices_limited` says when cut.
const SYNC_NOTICES_MAX: u32 = 500;
