//! The social graph (follows, friends, blocks, notices), shared by the SQL
//! backends. A pair of users is locked with [`Backend::FOR_NO_KEY_UPDATE`]
//! by every writer of its facts.

use crate::backend::{Args, Backend, Col, Conn, DbRow, SqlStore, WriteTx};
use crate::chat::{REFRESH_GATE, direct_key};
use crate::social::{
    FRIEND_ONE, FRIENDS_PAGE, INCOMING_PAGE, NOTICE_SELECT, NOTICES_RANGE, NoticeRow,
    OUTGOING_PAGE, REQUEST_SELECT, RelatedRow, RequestRow, UPSERT_RELATION, relation_state,
};
use crate::{UserRow, conflict_or, db_err};
use roomy_core::social_fields::{RelationState, Remark, RequestStatus};
use roomy_core::{MessageId, RoomId, UserId, clock::to_millis, social_fields::DirectPolicy};
use roomy_store::{Conflict, Missing};
use roomy_store::{
    Decision, Direction, Friend, FriendChange, FriendRequest, GraphDelta, GraphEdit, GraphSnapshot,
    NewFriendRequest, Notice, PairFacts, Refusal, Related, User,
};
use roomy_store::{Message, Room, StoreError, StoreResult};
use sqlx::AssertSqlSafe;
use sqlx::{ColumnIndex, Encode, Executor, IntoArguments, Type};
use std::collections::HashMap;
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
    /// Locks both users' rows in id order, so two transactions on the same pair
    /// queue instead of deadlocking; returns those that exist.
    pub(crate) async fn lock_pair(
        conn: &mut Conn<B>,
        a: UserId,
        b: UserId,
    ) -> StoreResult<HashMap<UserId, Locked>> {
        let rows: Vec<(i64, bool, i64, bool)> = sqlx::query_as(AssertSqlSafe(format!(
            "SELECT id, disabled, graph_version, invite_confirm FROM users
             WHERE id = $1 OR id = $2 ORDER BY id{}",
            B::FOR_NO_KEY_UPDATE
        )))
        .bind(a.0)
        .bind(b.0)
        .fetch_all(&mut *conn)
        .await
        .map_err(db_err)?;
        Ok(rows
            .into_iter()
            .map(|(id, disabled, version, invite_confirm)| {
                (
                    UserId(id),
                    Locked {
                        disabled,
                        version,
                        invite_confirm,
                    },
                )
            })
            .collect())
    }

    pub(crate) async fn relation_of(
        conn: &mut Conn<B>,
        from: UserId,
        to: UserId,
    ) -> StoreResult<RelationState> {
        let v: Option<i64> = sqlx::query_scalar(
            "SELECT relation FROM relations WHERE user_id = $1 AND target_id = $2",
        )
        .bind(from.0)
        .bind(to.0)
        .fetch_optional(&mut *conn)
        .await
        .map_err(db_err)?;
        relation_state(v)
    }

    pub(crate) async fn set_relation(
        conn: &mut Conn<B>,
        from: UserId,
        to: UserId,
        state: RelationState,
        ms: i64,
    ) -> StoreResult<()> {
        sqlx::query(UPSERT_RELATION)
            .bind(from.0)
            .bind(to.0)
            .bind(state as i64)
            .bind(ms)
            .execute(&mut *conn)
            .await
            .map_err(db_err)?;
        Ok(())
    }

    /// Writes the deltas' version bumps; returns the deltas that edit something.
    pub(crate) async fn bump_versions(
        conn: &mut Conn<B>,
        deltas: Vec<GraphDelta>,
    ) -> StoreResult<Vec<GraphDelta>> {
        let deltas: Vec<GraphDelta> = deltas.into_iter().filter(|d| !d.edits.is_empty()).collect();
        for d in &deltas {
            sqlx::query("UPDATE users SET graph_version = $1 WHERE id = $2")
                .bind(d.to)
                .bind(d.user.0)
                .execute(&mut *conn)
                .await
                .map_err(db_err)?;
        }
        Ok(deltas)
    }

    pub(crate) fn delta(user: UserId, locked: &Locked, edits: Vec<GraphEdit>) -> GraphDelta {
        GraphDelta {
            user,
            from: locked.version,
            to: locked.version + 1,
            edits,
        }
    }

    pub(crate) async fn refresh_gate(conn: &mut Conn<B>, a: UserId, b: UserId) -> StoreResult<()> {
        sqlx::query(REFRESH_GATE)
            .bind(a.0)
            .bind(b.0)
            .bind(direct_key(a, b))
            .execute(&mut *conn)
            .await
            .map_err(db_err)?;
        Ok(())
    }

    pub(crate) async fn pair_facts_in(
        conn: &mut Conn<B>,
        user: UserId,
        other: UserId,
    ) -> StoreResult<PairFacts> {
        let (friend, blocked, blocked_by): (bool, bool, bool) = sqlx::query_as(
            "SELECT
               EXISTS (SELECT 1 FROM friends WHERE user_id = $1 AND friend_id = $2),
               EXISTS (SELECT 1 FROM relations WHERE user_id = $1 AND target_id = $2
                       AND relation = 2),
               EXISTS (SELECT 1 FROM relations WHERE user_id = $2 AND target_id = $1
                       AND relation = 2)",
        )
        .bind(user.0)
        .bind(other.0)
        .fetch_one(&mut *conn)
        .await
        .map_err(db_err)?;
        Ok(PairFacts {
            friend,
            blocked,
            blocked_by,
        })
    }

    /// Why `actor` may not put each of `users` in a group (the rule of
    /// [`ChatStore::add_members`](roomy_store::ChatStore::add_members)); empty
    /// when all may be. `actor`'s row is locked first: every change to a pair's
    /// blocks or friendship locks both of its users (`lock_pair`), so what is
    /// read here still holds at commit. `NotFound` for a missing user.
    pub(crate) async fn group_refusals_in(
        conn: &mut Conn<B>,
        actor: UserId,
        users: &[UserId],
        policy: DirectPolicy,
    ) -> StoreResult<Vec<(UserId, Refusal)>> {
        let locked: Option<i64> = sqlx::query_scalar(AssertSqlSafe(format!(
            "SELECT id FROM users WHERE id = $1{}",
            B::FOR_NO_KEY_UPDATE
        )))
        .bind(actor.0)
        .fetch_optional(&mut *conn)
        .await
        .map_err(db_err)?;
        if locked.is_none() {
            return Err(StoreError::NotFound(Missing::User));
        }
        let mut refused = Vec::new();
        for user in users {
            let role: String = sqlx::query_scalar("SELECT role FROM users WHERE id = $1")
                .bind(user.0)
                .fetch_optional(&mut *conn)
                .await
                .map_err(db_err)?
                .ok_or(StoreError::NotFound(Missing::User))?;
            let PairFacts {
                friend,
                blocked,
                blocked_by,
            } = Self::pair_facts_in(conn, actor, *user).await?;
            let why = if blocked_by {
                Refusal::Blocked
            } else if blocked {
                Refusal::YouBlocked
            } else if role == roomy_core::Role::Guest.as_str() {
                Refusal::Guest
            } else if policy.requires_friendship() && !friend {
                Refusal::NotFriends
            } else {
                continue;
            };
            refused.push((*user, why));
        }
        Ok(refused)
    }

    /// Takes the next stream position (shared with messages) for a notice.
    pub(crate) async fn next_position(conn: &mut Conn<B>) -> StoreResult<i64> {
        sqlx::query_scalar(
            "UPDATE counters SET value = value + 1 WHERE name = 'message_id' RETURNING value",
        )
        .fetch_one(&mut *conn)
        .await
        .map_err(db_err)
    }

    pub(crate) async fn insert_notice(
        conn: &mut Conn<B>,
        user: UserId,
        kind: &str,
        request: i64,
        room: Option<RoomId>,
        ms: i64,
    ) -> StoreResult<i64> {
        let id = Self::next_position(conn).await?;
        sqlx::query(
            "INSERT INTO notices (id, user_id, kind, request_id, room_id, created_at)
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(id)
        .bind(user.0)
        .bind(kind)
        .bind(request)
        .bind(room.map(|r| r.0))
        .bind(ms)
        .execute(&mut *conn)
        .await
        .map_err(db_err)?;
        Ok(id)
    }

    pub(crate) async fn notices_by_ids(
        conn: &mut Conn<B>,
        ids: &[i64],
    ) -> StoreResult<Vec<Notice>> {
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            let row = sqlx::query_as::<_, NoticeRow>(AssertSqlSafe(format!(
                "{NOTICE_SELECT} WHERE n.id = $1"
            )))
            .bind(id)
            .fetch_one(&mut *conn)
            .await
            .map_err(db_err)?;
            out.push(row.into_notice()?);
        }
        Ok(out)
    }

    /// The newest `limit` notices of `user` in `(since, upto]`, oldest first,
    /// and whether there were more.
    pub(crate) async fn notices_in(
        conn: &mut Conn<B>,
        user: UserId,
        since: MessageId,
        upto: MessageId,
        limit: u32,
    ) -> StoreResult<(Vec<Notice>, bool)> {
        let mut rows = sqlx::query_as::<_, NoticeRow>(AssertSqlSafe(format!(
            "{NOTICE_SELECT} {NOTICES_RANGE}"
        )))
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
                .map(NoticeRow::into_notice)
                .collect::<Result<_, _>>()?,
            limited,
        ))
    }

    pub(crate) async fn request_in(
        conn: &mut Conn<B>,
        id: i64,
    ) -> StoreResult<Option<FriendRequest>> {
        sqlx::query_as::<_, RequestRow>(AssertSqlSafe(format!("{REQUEST_SELECT} WHERE fr.id = $1")))
            .bind(id)
            .fetch_optional(&mut *conn)
            .await
            .map_err(db_err)?
            .map(RequestRow::into_request)
            .transpose()
    }

    /// Agrees request `id` of `from` to `to`: the status, both friendship rows,
    /// the direct room (created if needed) opened to the pair, the system
    /// message and both notices. Call inside the caller's transaction.
    pub(crate) async fn agree_in(
        conn: &mut Conn<B>,
        id: i64,
        from: UserId,
        to: UserId,
        to_remark: Option<&str>,
        notice: String,
        now: OffsetDateTime,
    ) -> StoreResult<(Vec<i64>, (Room, bool), Option<Message>)> {
        let ms = to_millis(now);
        let from_remark: Option<String> = sqlx::query_scalar(
            "UPDATE friend_requests SET status = 'agree', answered_at = $1 WHERE id = $2
             RETURNING remark",
        )
        .bind(ms)
        .bind(id)
        .fetch_one(&mut *conn)
        .await
        .map_err(db_err)?;
        for (user, friend, remark) in [
            (to, from, to_remark.map(str::to_owned)),
            (from, to, from_remark),
        ] {
            sqlx::query(
                "INSERT INTO friends (user_id, friend_id, remark, since) VALUES ($1, $2, $3, $4)",
            )
            .bind(user.0)
            .bind(friend.0)
            .bind(remark)
            .bind(ms)
            .execute(&mut *conn)
            .await
            .map_err(|e| conflict_or(e, Conflict::Friendship))?;
        }
        let (room, created) = Self::direct_room_in(conn, from, to, now).await?;
        let message = Self::notice_in(conn, room.id, to, notice, now).await?;
        let mut positions = Vec::with_capacity(2);
        for user in [from, to] {
            positions.push(
                Self::insert_notice(conn, user, "friend_accepted", id, Some(room.id), ms).await?,
            );
        }
        Ok((positions, (room, created), message))
    }

    pub(crate) async fn relation_page(
        &self,
        sql: &'static str,
        user: UserId,
        relation: RelationState,
        after: Option<(i64, UserId)>,
        limit: u32,
    ) -> StoreResult<Vec<Related>> {
        let (ms, id) = after.map_or((i64::MAX, i64::MAX), |(ms, u)| (ms, u.0));
        sqlx::query_as::<_, RelatedRow>(sql)
            .bind(user.0)
            .bind(relation as i64)
            .bind(ms)
            .bind(id)
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await
            .map_err(db_err)?
            .into_iter()
            .map(RelatedRow::into_related)
            .collect()
    }

    pub(crate) async fn try_send_friend_request(
        &self,
        new: &NewFriendRequest,
        notice: String,
        now: OffsetDateTime,
    ) -> StoreResult<FriendChange> {
        let ms = to_millis(now);
        let (from, to) = (new.from, new.to);
        let mut tx = self.write_tx().await?;
        let locked = Self::lock_pair(&mut tx, from, to).await?;
        let (Some(_), Some(target)) = (locked.get(&from), locked.get(&to)) else {
            return Err(StoreError::NotFound(Missing::User));
        };
        let target = *target;
        if target.disabled {
            return Err(StoreError::Refused(Refusal::UserDisabled));
        }
        let facts = Self::pair_facts_in(&mut tx, from, to).await?;
        if facts.blocked_by {
            return Err(StoreError::Refused(Refusal::Blocked));
        }
        if facts.blocked {
            return Err(StoreError::Refused(Refusal::YouBlocked));
        }
        if facts.friend {
            return Err(StoreError::Refused(Refusal::AlreadyFriends));
        }
        let pending: Vec<i64> = sqlx::query_scalar(
            "SELECT from_id FROM friend_requests
             WHERE ((from_id = $1 AND to_id = $2) OR (from_id = $2 AND to_id = $1))
               AND status = 'pending'",
        )
        .bind(from.0)
        .bind(to.0)
        .fetch_all(&mut *tx)
        .await
        .map_err(db_err)?;
        if pending.contains(&from.0) {
            return Err(StoreError::Refused(Refusal::RequestPending));
        }
        if !pending.is_empty() {
            return Err(StoreError::Refused(Refusal::IncomingRequestPending));
        }
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO friend_requests (from_id, to_id, note, remark, status, created_at)
             VALUES ($1, $2, $3, $4, 'pending', $5) RETURNING id",
        )
        .bind(from.0)
        .bind(to.0)
        .bind(new.note.as_ref().map(|n| n.as_str().to_owned()))
        .bind(new.remark.as_ref().map(|r| r.as_str().to_owned()))
        .bind(ms)
        .fetch_one(&mut *tx)
        .await
        .map_err(|e| conflict_or(e, Conflict::FriendRequest))?;
        // Agreeing first (when the target does not confirm) takes the room
        // lock before the position counter, the order every batch takes them.
        let (mut positions, mut room, mut message) = (Vec::new(), None, None);
        if !target.invite_confirm {
            let (more, r, m) = Self::agree_in(&mut tx, id, from, to, None, notice, now).await?;
            positions.extend(more);
            room = Some(r);
            message = m;
        }
        positions.push(Self::insert_notice(&mut tx, to, "friend_request", id, None, ms).await?);
        positions.sort_unstable();
        let notices = Self::notices_by_ids(&mut tx, &positions).await?;
        let request = Self::request_in(&mut tx, id)
            .await?
            .ok_or(StoreError::NotFound(Missing::FriendRequest))?;
        tx.commit().await.map_err(db_err)?;
        Ok(FriendChange {
            request,
            notices,
            room,
            message,
        })
    }

    pub(crate) async fn try_answer_friend_request(
        &self,
        id: i64,
        answerer: UserId,
        decision: Decision,
        remark: Option<&Remark>,
        notice: String,
        now: OffsetDateTime,
    ) -> StoreResult<FriendChange> {
        let mut tx = self.write_tx().await?;
        let Some((from, to)) = sqlx::query_as::<_, (i64, i64)>(
            "SELECT from_id, to_id FROM friend_requests WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db_err)?
        else {
            return Err(StoreError::NotFound(Missing::FriendRequest));
        };
        let (from, to) = (UserId(from), UserId(to));
        if answerer != to {
            return Err(if answerer == from {
                StoreError::Refused(Refusal::NotRequestTarget)
            } else {
                StoreError::NotFound(Missing::FriendRequest)
            });
        }
        Self::lock_pair(&mut tx, from, to).await?;
        // Read again under the pair's lock: a concurrent answer has committed by now.
        let status: String = sqlx::query_scalar("SELECT status FROM friend_requests WHERE id = $1")
            .bind(id)
            .fetch_one(&mut *tx)
            .await
            .map_err(db_err)?;
        if status != RequestStatus::Pending.as_str() {
            return Err(StoreError::Refused(Refusal::AlreadyAnswered));
        }
        let (mut positions, mut room, mut message) = (Vec::new(), None, None);
        match decision {
            Decision::Agree => {
                let facts = Self::pair_facts_in(&mut tx, to, from).await?;
                if facts.blocked_by {
                    return Err(StoreError::Refused(Refusal::Blocked));
                }
                if facts.blocked {
                    return Err(StoreError::Refused(Refusal::YouBlocked));
                }
                let (p, r, m) = Self::agree_in(
                    &mut tx,
                    id,
                    from,
                    to,
                    remark.map(|r| r.as_str()),
                    notice,
                    now,
                )
                .await?;
                positions = p;
                room = Some(r);
                message = m;
            }
            Decision::Refuse | Decision::Ignore => {
                sqlx::query(
                    "UPDATE friend_requests SET status = $1, answered_at = $2 WHERE id = $3",
                )
                .bind(decision.status().as_str())
                .bind(to_millis(now))
                .bind(id)
                .execute(&mut *tx)
                .await
                .map_err(db_err)?;
            }
        }
        let notices = Self::notices_by_ids(&mut tx, &positions).await?;
        let request = Self::request_in(&mut tx, id)
            .await?
            .ok_or(StoreError::NotFound(Missing::FriendRequest))?;
        tx.commit().await.map_err(db_err)?;
        Ok(FriendChange {
            request,
            notices,
            room,
            message,
        })
    }
}

/// The facts of a locked user that social rules read.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Locked {
    disabled: bool,
    version: i64,
    invite_confirm: bool,
}

#[::async_trait::async_trait]
impl<B> ::roomy_store::SocialStore for SqlStore<B>
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
    async fn instance_id(&self) -> StoreResult<String> {
        sqlx::query_scalar("SELECT value FROM meta WHERE name = 'instance'")
            .fetch_one(&self.pool)
            .await
            .map_err(db_err)
    }

    async fn follow(
        &self,
        user: UserId,
        target: UserId,
        now: OffsetDateTime,
    ) -> StoreResult<Vec<GraphDelta>> {
        let ms = to_millis(now);
        let mut tx = self.write_tx().await?;
        let locked = Self::lock_pair(&mut tx, user, target).await?;
        let (Some(me), Some(them)) = (locked.get(&user), locked.get(&target)) else {
            return Err(StoreError::NotFound(Missing::User));
        };
        if them.disabled {
            return Err(StoreError::NotFound(Missing::User));
        }
        if Self::relation_of(&mut tx, target, user).await? == RelationState::Blacklist {
            return Err(StoreError::Refused(Refusal::Blocked));
        }
        match Self::relation_of(&mut tx, user, target).await? {
            RelationState::Blacklist => return Err(StoreError::Refused(Refusal::YouBlocked)),
            RelationState::Follow => return Ok(Vec::new()),
            RelationState::Deleted => {}
        }
        Self::set_relation(&mut tx, user, target, RelationState::Follow, ms).await?;
        let deltas = Self::bump_versions(
            &mut tx,
            vec![
                Self::delta(user, me, vec![GraphEdit::AddFollowing(target, ms)]),
                Self::delta(target, them, vec![GraphEdit::AddFollower(user, ms)]),
            ],
        )
        .await?;
        tx.commit().await.map_err(db_err)?;
        Ok(deltas)
    }

    async fn unfollow(
        &self,
        user: UserId,
        target: UserId,
        now: OffsetDateTime,
    ) -> StoreResult<Vec<GraphDelta>> {
        let mut tx = self.write_tx().await?;
        let locked = Self::lock_pair(&mut tx, user, target).await?;
        let (Some(me), Some(them)) = (locked.get(&user), locked.get(&target)) else {
            return Err(StoreError::NotFound(Missing::User));
        };
        if Self::relation_of(&mut tx, user, target).await? != RelationState::Follow {
            return Ok(Vec::new());
        }
        Self::set_relation(
            &mut tx,
            user,
            target,
            RelationState::Deleted,
            to_millis(now),
        )
        .await?;
        let deltas = Self::bump_versions(
            &mut tx,
            vec![
                Self::delta(user, me, vec![GraphEdit::RemoveFollowing(target)]),
                Self::delta(target, them, vec![GraphEdit::RemoveFollower(user)]),
            ],
        )
        .await?;
        tx.commit().await.map_err(db_err)?;
        Ok(deltas)
    }

    async fn block(
        &self,
        user: UserId,
        target: UserId,
        now: OffsetDateTime,
    ) -> StoreResult<Vec<GraphDelta>> {
        let ms = to_millis(now);
        let mut tx = self.write_tx().await?;
        let locked = Self::lock_pair(&mut tx, user, target).await?;
        let (Some(me), Some(them)) = (locked.get(&user), locked.get(&target)) else {
            return Err(StoreError::NotFound(Missing::User));
        };
        let mine = Self::relation_of(&mut tx, user, target).await?;
        if mine == RelationState::Blacklist {
            return Ok(Vec::new());
        }
        let (mut my_edits, mut their_edits) = (Vec::new(), Vec::new());
        if mine == RelationState::Follow {
            my_edits.push(GraphEdit::RemoveFollowing(target));
            their_edits.push(GraphEdit::RemoveFollower(user));
        }
        if Self::relation_of(&mut tx, target, user).await? == RelationState::Follow {
            Self::set_relation(&mut tx, target, user, RelationState::Deleted, ms).await?;
            their_edits.push(GraphEdit::RemoveFollowing(user));
            my_edits.push(GraphEdit::RemoveFollower(target));
        }
        Self::set_relation(&mut tx, user, target, RelationState::Blacklist, ms).await?;
        // Pending requests either way would otherwise wait for an answer
        // the block already gave (and agreeing would reopen contact).
        sqlx::query(
            "UPDATE friend_requests SET status = 'ignore', answered_at = $1
             WHERE ((from_id = $2 AND to_id = $3) OR (from_id = $3 AND to_id = $2))
               AND status = 'pending'",
        )
        .bind(ms)
        .bind(target.0)
        .bind(user.0)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        Self::refresh_gate(&mut tx, user, target).await?;
        let deltas = Self::bump_versions(
            &mut tx,
            vec![
                Self::delta(user, me, my_edits),
                Self::delta(target, them, their_edits),
            ],
        )
        .await?;
        tx.commit().await.map_err(db_err)?;
        Ok(deltas)
    }

    async fn unblock(&self, user: UserId, target: UserId, now: OffsetDateTime) -> StoreResult<()> {
        let mut tx = self.write_tx().await?;
        let locked = Self::lock_pair(&mut tx, user, target).await?;
        if !locked.contains_key(&target) {
            return Err(StoreError::NotFound(Missing::User));
        }
        if Self::relation_of(&mut tx, user, target).await? == RelationState::Blacklist {
            Self::set_relation(
                &mut tx,
                user,
                target,
                RelationState::Deleted,
                to_millis(now),
            )
            .await?;
            Self::refresh_gate(&mut tx, user, target).await?;
            tx.commit().await.map_err(db_err)?;
        }
        Ok(())
    }

    async fn following(
        &self,
        user: UserId,
        after: Option<(i64, UserId)>,
        limit: u32,
    ) -> StoreResult<Vec<Related>> {
        self.relation_page(OUTGOING_PAGE, user, RelationState::Follow, after, limit)
            .await
    }

    async fn followers(
        &self,
        user: UserId,
        after: Option<(i64, UserId)>,
        limit: u32,
    ) -> StoreResult<Vec<Related>> {
        self.relation_page(INCOMING_PAGE, user, RelationState::Follow, after, limit)
            .await
    }

    async fn blocks(
        &self,
        user: UserId,
        after: Option<(i64, UserId)>,
        limit: u32,
    ) -> StoreResult<Vec<Related>> {
        self.relation_page(OUTGOING_PAGE, user, RelationState::Blacklist, after, limit)
            .await
    }

    async fn graph_version(&self, user: UserId) -> StoreResult<Option<i64>> {
        sqlx::query_scalar("SELECT graph_version FROM users WHERE id = $1")
            .bind(user.0)
            .fetch_optional(&self.pool)
            .await
            .map_err(db_err)
    }

    async fn graph_snapshot(&self, user: UserId) -> StoreResult<Option<GraphSnapshot>> {
        // One statement, so one snapshot on either database whatever the
        // isolation level: the sets match the version.
        let rows: Vec<(i64, i64, i64)> = sqlx::query_as(
            "SELECT CAST(0 AS BIGINT) AS side, target_id AS other, updated_at FROM relations
               WHERE user_id = $1 AND relation = 1
             UNION ALL
             SELECT CAST(1 AS BIGINT), user_id, updated_at FROM relations
               WHERE target_id = $1 AND relation = 1
             UNION ALL
             SELECT CAST(2 AS BIGINT), graph_version, CAST(0 AS BIGINT) FROM users WHERE id = $1",
        )
        .bind(user.0)
        .fetch_all(&self.pool)
        .await
        .map_err(db_err)?;
        let mut snapshot = GraphSnapshot::default();
        let mut found = false;
        for (side, other, at) in rows {
            match side {
                0 => snapshot.following.push((UserId(other), at)),
                1 => snapshot.followers.push((UserId(other), at)),
                _ => {
                    snapshot.version = other;
                    found = true;
                }
            }
        }
        Ok(found.then_some(snapshot))
    }

    async fn users_by_ids(&self, ids: &[UserId]) -> StoreResult<Vec<User>> {
        let mut out = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(500) {
            let marks: Vec<String> = (1..=chunk.len()).map(|i| format!("${i}")).collect();
            let sql = format!("SELECT * FROM users WHERE id IN ({})", marks.join(", "));
            let mut q = sqlx::query_as::<_, UserRow>(AssertSqlSafe(sql));
            for id in chunk {
                q = q.bind(id.0);
            }
            for row in q.fetch_all(&self.pool).await.map_err(db_err)? {
                out.push(row.into_user()?);
            }
        }
        Ok(out)
    }

    async fn pair_facts(&self, user: UserId, other: UserId) -> StoreResult<PairFacts> {
        let mut conn = self.pool.acquire().await.map_err(db_err)?;
        Self::pair_facts_in(&mut conn, user, other).await
    }

    async fn send_friend_request(
        &self,
        new: NewFriendRequest,
        notice: String,
        now: OffsetDateTime,
    ) -> StoreResult<FriendChange> {
        let mut attempts = 0;
        loop {
            attempts += 1;
            match self
                .try_send_friend_request(&new, notice.clone(), now)
                .await
            {
                // A direct room created concurrently by another node: retry finds it.
                Err(StoreError::Conflict(Conflict::DirectRoom)) if attempts < 3 => continue,
                other => return other,
            }
        }
    }

    async fn answer_friend_request(
        &self,
        id: i64,
        answerer: UserId,
        decision: Decision,
        remark: Option<Remark>,
        notice: String,
        now: OffsetDateTime,
    ) -> StoreResult<FriendChange> {
        let mut attempts = 0;
        loop {
            attempts += 1;
            match self
                .try_answer_friend_request(
                    id,
                    answerer,
                    decision,
                    remark.as_ref(),
                    notice.clone(),
                    now,
                )
                .await
            {
                Err(StoreError::Conflict(Conflict::DirectRoom)) if attempts < 3 => continue,
                other => return other,
            }
        }
    }

    async fn friend_request(&self, id: i64) -> StoreResult<Option<FriendRequest>> {
        let mut conn = self.pool.acquire().await.map_err(db_err)?;
        Self::request_in(&mut conn, id).await
    }

    async fn friend_requests(
        &self,
        user: UserId,
        direction: Direction,
        status: Option<RequestStatus>,
        before: Option<i64>,
        limit: u32,
    ) -> StoreResult<Vec<FriendRequest>> {
        let column = match direction {
            Direction::Incoming => "fr.to_id",
            Direction::Outgoing => "fr.from_id",
        };
        let sql = format!(
            "{REQUEST_SELECT} WHERE {column} = $1 AND fr.id < $2
               AND (fr.status = $3 OR $4)
             ORDER BY fr.id DESC LIMIT $5"
        );
        sqlx::query_as::<_, RequestRow>(AssertSqlSafe(sql))
            .bind(user.0)
            .bind(before.unwrap_or(i64::MAX))
            .bind(status.map_or("", |s| s.as_str()))
            .bind(status.is_none())
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await
            .map_err(db_err)?
            .into_iter()
            .map(RequestRow::into_request)
            .collect()
    }

    async fn friends(
        &self,
        user: UserId,
        after: Option<(i64, UserId)>,
        limit: u32,
    ) -> StoreResult<Vec<Friend>> {
        let (ms, id) = after.map_or((i64::MAX, i64::MAX), |(ms, u)| (ms, u.0));
        sqlx::query_as::<_, RelatedRow>(FRIENDS_PAGE)
            .bind(user.0)
            .bind(ms)
            .bind(id)
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await
            .map_err(db_err)?
            .into_iter()
            .map(RelatedRow::into_friend)
            .collect()
    }

    async fn set_remark(
        &self,
        user: UserId,
        friend: UserId,
        remark: Option<Remark>,
    ) -> StoreResult<Friend> {
        let mut tx = self.write_tx().await?;
        let done =
            sqlx::query("UPDATE friends SET remark = $1 WHERE user_id = $2 AND friend_id = $3")
                .bind(remark.as_ref().map(|r| r.as_str().to_owned()))
                .bind(user.0)
                .bind(friend.0)
                .execute(&mut *tx)
                .await
                .map_err(db_err)?;
        if B::rows_affected(&done) == 0 {
            return Err(StoreError::NotFound(Missing::Friend));
        }
        let row = sqlx::query_as::<_, RelatedRow>(FRIEND_ONE)
            .bind(user.0)
            .bind(friend.0)
            .fetch_one(&mut *tx)
            .await
            .map_err(db_err)?;
        tx.commit().await.map_err(db_err)?;
        row.into_friend()
    }

    async fn unfriend(
        &self,
        user: UserId,
        friend: UserId,
        _now: OffsetDateTime,
    ) -> StoreResult<()> {
        let mut tx = self.write_tx().await?;
        Self::lock_pair(&mut tx, user, friend).await?;
        let done = sqlx::query(
            "DELETE FROM friends
             WHERE (user_id = $1 AND friend_id = $2) OR (user_id = $2 AND friend_id = $1)",
        )
        .bind(user.0)
        .bind(friend.0)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        if B::rows_affected(&done) == 0 {
            return Err(StoreError::NotFound(Missing::Friend));
        }
        // The old requests go too (their notices with them), so either may ask again.
        sqlx::query(
            "DELETE FROM friend_requests
             WHERE (from_id = $1 AND to_id = $2) OR (from_id = $2 AND to_id = $1)",
        )
        .bind(user.0)
        .bind(friend.0)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        Self::refresh_gate(&mut tx, user, friend).await?;
        tx.commit().await.map_err(db_err)?;
        Ok(())
    }
}
