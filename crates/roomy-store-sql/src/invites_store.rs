//! Invite links, shared by the SQL backends. A join locks the room
//! ([`Backend::FOR_UPDATE`]) and then the invite
//! ([`Backend::FOR_NO_KEY_UPDATE`]), the order revocation takes too, and
//! adds its member exactly as `add_members` does.

use crate::backend::{Args, Backend, Col, Conn, DbRow, SqlStore, WriteTx};
use crate::invites::{INVITE_COLUMNS, InviteRow};
use crate::{
    chat::{ROOM_COLUMNS, RoomRow},
    conflict_or, db_err,
};
use roomy_core::{RoomId, UserId, chat_fields::MemberRole, clock::to_millis};
use roomy_store::{Conflict, Missing};
use roomy_store::{Invite, InviteState, JoinOutcome, NewInvite};
use roomy_store::{Room, StoreError, StoreResult};
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
    pub(crate) async fn invite_by_id_in(
        conn: &mut Conn<B>,
        id: i64,
    ) -> StoreResult<Option<Invite>> {
        Ok(sqlx::query_as::<_, InviteRow>(AssertSqlSafe(format!(
            "SELECT {INVITE_COLUMNS} FROM invites i WHERE i.id = $1"
        )))
        .bind(id)
        .fetch_optional(conn)
        .await
        .map_err(db_err)?
        .map(InviteRow::into_invite))
    }
}

#[::async_trait::async_trait]
impl<B> ::roomy_store::InviteStore for SqlStore<B>
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
    async fn create_invite(&self, new: NewInvite, now: OffsetDateTime) -> StoreResult<Invite> {
        let mut tx = self.write_tx().await?;
        Self::room_facts_in(&mut tx, new.room_id, new.created_by)
            .await?
            .may_edit_group()?;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO invites (room_id, token_hash, created_by, created_at, expires_at, max_uses)
             VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
        )
        .bind(new.room_id.0)
        .bind(&new.token_hash)
        .bind(new.created_by.0)
        .bind(to_millis(now))
        .bind(to_millis(new.expires_at))
        .bind(new.max_uses)
        .fetch_one(&mut *tx)
        .await
        .map_err(|e| conflict_or(e, Conflict::Invite))?;
        let invite = Self::invite_by_id_in(&mut tx, id)
            .await?
            .ok_or(StoreError::NotFound(Missing::Invite))?;
        tx.commit().await.map_err(db_err)?;
        Ok(invite)
    }

    async fn room_invites(
        &self,
        room: RoomId,
        before: Option<i64>,
        limit: u32,
    ) -> StoreResult<Vec<Invite>> {
        Ok(sqlx::query_as::<_, InviteRow>(AssertSqlSafe(format!(
            "SELECT {INVITE_COLUMNS} FROM invites i
             WHERE i.room_id = $1 AND i.revoked_at IS NULL AND i.id < $2
             ORDER BY i.id DESC LIMIT $3"
        )))
        .bind(room.0)
        .bind(before.unwrap_or(i64::MAX))
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(db_err)?
        .into_iter()
        .map(InviteRow::into_invite)
        .collect())
    }

    async fn revoke_invite(
        &self,
        room: RoomId,
        actor: UserId,
        id: i64,
        now: OffsetDateTime,
    ) -> StoreResult<()> {
        let mut tx = self.write_tx().await?;
        Self::room_facts_in(&mut tx, room, actor)
            .await?
            .may_manage()?;
        let done = sqlx::query(
            "UPDATE invites SET revoked_at = COALESCE(revoked_at, $1)
             WHERE room_id = $2 AND id = $3",
        )
        .bind(to_millis(now))
        .bind(room.0)
        .bind(id)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        if B::rows_affected(&done) == 0 {
            return Err(StoreError::NotFound(Missing::Invite));
        }
        tx.commit().await.map_err(db_err)?;
        Ok(())
    }

    async fn invite_by_hash(&self, token_hash: &str) -> StoreResult<Option<(Invite, Room)>> {
        // One read transaction: the invite and its room from one snapshot.
        let mut tx = self.pool.begin().await.map_err(db_err)?;
        let invite = sqlx::query_as::<_, InviteRow>(AssertSqlSafe(format!(
            "SELECT {INVITE_COLUMNS} FROM invites i WHERE i.token_hash = $1"
        )))
        .bind(token_hash)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db_err)?
        .map(InviteRow::into_invite);
        let found = match invite {
            None => None,
            Some(invite) => Self::room_in(&mut tx, invite.room_id)
                .await?
                .map(|room| (invite, room)),
        };
        tx.commit().await.map_err(db_err)?;
        Ok(found)
    }

    async fn join_by_invite(
        &self,
        token_hash: &str,
        user: UserId,
        notice: String,
        max_members: i64,
        now: OffsetDateTime,
    ) -> StoreResult<JoinOutcome> {
        let ms = to_millis(now);
        let mut tx = self.write_tx().await?;
        // The room first, as every writer that touches both takes them
        // (revoking a link locks its room, then the link): the invite's room
        // never changes, so it is read without a lock to find which room.
        let room_id: i64 = sqlx::query_scalar("SELECT room_id FROM invites WHERE token_hash = $1")
            .bind(token_hash)
            .fetch_optional(&mut *tx)
            .await
            .map_err(db_err)?
            .ok_or(StoreError::NotFound(Missing::Invite))?;
        // FOR UPDATE, as every membership writer takes it (see
        // `room_facts_in`): the member count checked is the one this join
        // changes, whichever node other joins or additions run on.
        let room = sqlx::query_as::<_, RoomRow>(AssertSqlSafe(format!(
            "SELECT {ROOM_COLUMNS} FROM rooms r WHERE r.id = $1{}",
            B::FOR_UPDATE
        )))
        .bind(room_id)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db_err)?
        .map(RoomRow::into_room)
        .transpose()?
        .ok_or(StoreError::NotFound(Missing::Room))?;
        // Held until commit: concurrent joins with this invite queue on the
        // room already; the invite is read again under its own lock so its
        // state and uses are the ones the previous join committed.
        let invite = sqlx::query_as::<_, InviteRow>(AssertSqlSafe(format!(
            "SELECT {INVITE_COLUMNS} FROM invites i WHERE i.token_hash = $1{}",
            B::FOR_NO_KEY_UPDATE
        )))
        .bind(token_hash)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db_err)?
        .map(InviteRow::into_invite)
        .ok_or(StoreError::NotFound(Missing::Invite))?;
        let state = invite.state(now);
        if state != InviteState::Active {
            return Ok(JoinOutcome::Unusable(state));
        }
        if Self::member_in(&mut tx, room.id, user).await?.is_some() {
            return Ok(JoinOutcome::AlreadyMember(room));
        }
        if room.dissolved_at.is_some() {
            return Ok(JoinOutcome::Dissolved);
        }
        // Read under the room's lock, which an admin's removal (its notice)
        // takes before writing the ban: a ban committed first is seen here.
        let banned: bool = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM room_bans WHERE room_id = $1 AND user_id = $2)",
        )
        .bind(room.id.0)
        .bind(user.0)
        .fetch_one(&mut *tx)
        .await
        .map_err(db_err)?;
        if banned {
            return Ok(JoinOutcome::Banned);
        }
        if room.member_count >= max_members {
            return Ok(JoinOutcome::GroupFull);
        }
        if !Self::insert_member(&mut tx, room.id, user, MemberRole::Member, ms).await? {
            return Ok(JoinOutcome::AlreadyMember(room));
        }
        sqlx::query("UPDATE invites SET uses = uses + 1 WHERE id = $1")
            .bind(invite.id)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        Self::refresh_member_count(&mut tx, room.id).await?;
        Self::touch_room(&mut tx, room.id, ms).await?;
        let notice = Self::notice_in(&mut tx, room.id, user, notice, now).await?;
        let change = Self::room_change_in(&mut tx, room.id, &[user], notice).await?;
        tx.commit().await.map_err(db_err)?;
        Ok(JoinOutcome::Joined(Box::new(change)))
    }
}
