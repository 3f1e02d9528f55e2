//! SQLite implementation of [`roomy_store::Store`]: the zero-configuration
//! default. WAL journal, foreign keys on, `synchronous` chosen by configuration.

mod chat;

use async_trait::async_trait;
use roomy_core::{
    MessageId, RoomId, SessionId, UserId, chat_fields::MemberRole, clock::to_millis,
    config::SqliteSynchronous,
};
use roomy_store::{
    AppendOutcome, Credentials, Member, Message, NewGroup, NewMessage, NewSession, NewUser,
    ProfileChanges, Room, RoomChange, RoomProfileChanges, RoomSummary, Session, Store, StoreError,
    StoreResult, SyncBatch, User,
};
use roomy_store_sql::{
    SESSION_WITH_USER_SELECT, SessionRow, SessionUserRow, UserRow, conflict_or, db_err, escape_like,
};
use sqlx::{
    SqlitePool,
    sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions},
};
use std::{str::FromStr, time::Duration};
use time::OffsetDateTime;

/// How to open the database.
#[derive(Debug, Clone)]
pub struct SqliteOptions {
    pub synchronous: SqliteSynchronous,
    pub max_connections: u32,
}

/// A SQLite-backed store.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
}

/// Sessions that ended this long ago are deleted when their user logs in again.
const SESSION_RETENTION_MS: i64 = 7 * 24 * 3600 * 1000;

impl SqliteStore {
    /// Opens (creating if needed) the database at `url` and runs pending migrations.
    pub async fn connect(url: &str, opts: &SqliteOptions) -> StoreResult<SqliteStore> {
        let connect = SqliteConnectOptions::from_str(url)
            .map_err(db_err)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(match opts.synchronous {
                SqliteSynchronous::Full => sqlx::sqlite::SqliteSynchronous::Full,
                SqliteSynchronous::Normal => sqlx::sqlite::SqliteSynchronous::Normal,
            })
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10))
            // A 16 MiB page cache per connection (default 2 MiB): with the
            // default, a group commit spills dirty pages mid-transaction and
            // re-reads index pages with pread.
            .pragma("cache_size", "-16384")
            // Statement journals of multi-row statements stay in memory.
            .pragma("temp_store", "memory")
            // Checkpoints run on their own task (see `checkpoint_wal`), not
            // inside the commit of whichever writer crossed the threshold.
            .pragma("wal_autocheckpoint", "0");
        let pool = SqlitePoolOptions::new()
            .max_connections(opts.max_connections)
            .connect_with(connect)
            .await
            .map_err(db_err)?;
        sqlx::migrate!("./migrations")
            .run(&pool)
            .await
            .map_err(|e| StoreError::Database(Box::new(e)))?;
        tokio::spawn(checkpoint_wal(pool.clone()));
        Ok(SqliteStore { pool })
    }

    async fn user_where_id(&self, id: UserId) -> StoreResult<Option<User>> {
        sqlx::query_as::<_, UserRow>("SELECT * FROM users WHERE id = ?")
            .bind(id.0)
            .fetch_optional(&self.pool)
            .await
            .map_err(db_err)?
            .map(UserRow::into_user)
            .transpose()
    }
}

/// WAL frames (4 KiB pages) past which a checkpoint may briefly block
/// writers to restart the log, so it cannot grow without bound under
/// continuous writes.
const WAL_RESTART_FRAMES: i64 = 16_384;

/// Copies the WAL into the database twice a second, concurrently with
/// writers (PASSIVE); restarts the WAL when it has grown large.
async fn checkpoint_wal(pool: SqlitePool) {
    let mut tick = tokio::time::interval(Duration::from_millis(500));
    loop {
        tick.tick().await;
        if pool.is_closed() {
            return;
        }
        let passive: Result<(i64, i64, i64), _> = sqlx::query_as("PRAGMA wal_checkpoint(PASSIVE)")
            .fetch_one(&pool)
            .await;
        match passive {
            Ok((_, log, _)) if log > WAL_RESTART_FRAMES => {
                if let Err(e) = sqlx::query("PRAGMA wal_checkpoint(RESTART)")
                    .execute(&pool)
                    .await
                {
                    tracing::warn!(error = %e, "WAL restart checkpoint failed");
                }
            }
            Ok(_) => {}
            Err(e) if pool.is_closed() => {
                tracing::debug!(error = %e, "checkpointer stops: pool closed");
                return;
            }
            Err(e) => tracing::warn!(error = %e, "WAL checkpoint failed"),
        }
    }
}

#[async_trait]
impl Store for SqliteStore {
    async fn ping(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .map_err(db_err)?;
        Ok(())
    }

    async fn create_user(&self, new: NewUser, now: OffsetDateTime) -> StoreResult<User> {
        let row = sqlx::query_as::<_, UserRow>(
            "INSERT INTO users (username, nickname, role, password_hash, created_at, updated_at)
             VALUES (?, ?, ?, ?, ?, ?) RETURNING *",
        )
        .bind(new.username.as_str())
        .bind(new.nickname.as_str())
        .bind(new.role.as_str())
        .bind(new.password_hash)
        .bind(to_millis(now))
        .bind(to_millis(now))
        .fetch_one(&self.pool)
        .await
        .map_err(|e| conflict_or(e, "username"))?;
        row.into_user()
    }

    async fn user(&self, id: UserId) -> StoreResult<Option<User>> {
        self.user_where_id(id).await
    }

    async fn credentials_by_username(&self, username: &str) -> StoreResult<Option<Credentials>> {
        sqlx::query_as::<_, UserRow>("SELECT * FROM users WHERE lower(username) = lower(?)")
            .bind(username)
            .fetch_optional(&self.pool)
            .await
            .map_err(db_err)?
            .map(UserRow::into_credentials)
            .transpose()
    }

    async fn credentials(&self, id: UserId) -> StoreResult<Option<Credentials>> {
        sqlx::query_as::<_, UserRow>("SELECT * FROM users WHERE id = ?")
            .bind(id.0)
            .fetch_optional(&self.pool)
            .await
            .map_err(db_err)?
            .map(UserRow::into_credentials)
            .transpose()
    }

    async fn update_profile(
        &self,
        id: UserId,
        changes: ProfileChanges,
        now: OffsetDateTime,
    ) -> StoreResult<User> {
        let (set_avatar, avatar) = match &changes.avatar {
            None => (false, None),
            Some(a) => (true, a.as_ref().map(|a| a.as_str().to_owned())),
        };
        sqlx::query_as::<_, UserRow>(
            "UPDATE users SET
                nickname = COALESCE(?, nickname),
                avatar = CASE WHEN ? THEN ? ELSE avatar END,
                invite_confirm = COALESCE(?, invite_confirm),
                updated_at = ?
             WHERE id = ? RETURNING *",
        )
        .bind(changes.nickname.as_ref().map(|n| n.as_str().to_owned()))
        .bind(set_avatar)
        .bind(avatar)
        .bind(changes.invite_confirm)
        .bind(to_millis(now))
        .bind(id.0)
        .fetch_optional(&self.pool)
        .await
        .map_err(db_err)?
        .ok_or(StoreError::NotFound)?
        .into_user()
    }

    async fn set_password(
        &self,
        id: UserId,
        password_hash: String,
        keep: SessionId,
        now: OffsetDateTime,
    ) -> StoreResult<()> {
        let mut tx = self.pool.begin().await.map_err(db_err)?;
        let updated =
            sqlx::query("UPDATE users SET password_hash = ?, updated_at = ? WHERE id = ?")
                .bind(password_hash)
                .bind(to_millis(now))
                .bind(id.0)
                .execute(&mut *tx)
                .await
                .map_err(db_err)?;
        if updated.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        sqlx::query(
            "UPDATE sessions SET revoked_at = ?
             WHERE user_id = ? AND id <> ? AND revoked_at IS NULL",
        )
        .bind(to_millis(now))
        .bind(id.0)
        .bind(keep.0)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        tx.commit().await.map_err(db_err)
    }

    async fn set_disabled(
        &self,
        id: UserId,
        disabled: bool,
        now: OffsetDateTime,
    ) -> StoreResult<User> {
        let mut tx = self.pool.begin().await.map_err(db_err)?;
        let row = sqlx::query_as::<_, UserRow>(
            "UPDATE users SET disabled = ?, updated_at = ? WHERE id = ? RETURNING *",
        )
        .bind(disabled)
        .bind(to_millis(now))
        .bind(id.0)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db_err)?
        .ok_or(StoreError::NotFound)?;
        if disabled {
            sqlx::query(
                "UPDATE sessions SET revoked_at = ? WHERE user_id = ? AND revoked_at IS NULL",
            )
            .bind(to_millis(now))
            .bind(id.0)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        }
        tx.commit().await.map_err(db_err)?;
        row.into_user()
    }

    async fn search_users(
        &self,
        query: &str,
        after: Option<UserId>,
        limit: u32,
    ) -> StoreResult<Vec<User>> {
        let pattern = format!("%{}%", escape_like(query));
        sqlx::query_as::<_, UserRow>(
            "SELECT * FROM users
             WHERE disabled = 0 AND id > ?1
               AND (username LIKE ?2 ESCAPE '\\' OR nickname LIKE ?2 ESCAPE '\\')
             ORDER BY id LIMIT ?3",
        )
        .bind(after.map_or(0, |a| a.0))
        .bind(pattern)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(db_err)?
        .into_iter()
        .map(UserRow::into_user)
        .collect()
    }

    async fn create_session(&self, new: NewSession) -> StoreResult<Session> {
        let now = to_millis(new.now);
        let mut tx = self.pool.begin().await.map_err(db_err)?;
        sqlx::query(
            "DELETE FROM sessions WHERE user_id = ?1
               AND (expires_at < ?2 OR revoked_at < ?2 - ?3)",
        )
        .bind(new.user_id.0)
        .bind(now)
        .bind(SESSION_RETENTION_MS)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        let row = sqlx::query_as::<_, SessionRow>(
            "INSERT INTO sessions (user_id, created_at, last_used_at, expires_at, user_agent, ip)
             VALUES (?, ?, ?, ?, ?, ?)
             RETURNING id, user_id, created_at, last_used_at, expires_at, revoked_at,
                       user_agent, ip",
        )
        .bind(new.user_id.0)
        .bind(now)
        .bind(now)
        .bind(to_millis(new.expires_at))
        .bind(new.user_agent)
        .bind(new.ip)
        .fetch_one(&mut *tx)
        .await
        .map_err(|e| conflict_or(e, "session"))?;
        tx.commit().await.map_err(db_err)?;
        Ok(row.into_session())
    }

    async fn session_with_user(&self, id: SessionId) -> StoreResult<Option<(Session, User)>> {
        let sql = sqlx::AssertSqlSafe(format!("{SESSION_WITH_USER_SELECT} WHERE s.id = ?"));
        sqlx::query_as::<_, SessionUserRow>(sql)
            .bind(id.0)
            .fetch_optional(&self.pool)
            .await
            .map_err(db_err)?
            .map(SessionUserRow::into_pair)
            .transpose()
    }

    async fn touch_session(
        &self,
        id: SessionId,
        now: OffsetDateTime,
        expires_at: Option<OffsetDateTime>,
    ) -> StoreResult<()> {
        sqlx::query(
            "UPDATE sessions SET last_used_at = ?, expires_at = COALESCE(?, expires_at)
             WHERE id = ?",
        )
        .bind(to_millis(now))
        .bind(expires_at.map(to_millis))
        .bind(id.0)
        .execute(&self.pool)
        .await
        .map_err(db_err)?;
        Ok(())
    }

    async fn active_sessions(
        &self,
        user: UserId,
        now: OffsetDateTime,
    ) -> StoreResult<Vec<Session>> {
        Ok(sqlx::query_as::<_, SessionRow>(
            "SELECT * FROM sessions
             WHERE user_id = ? AND revoked_at IS NULL AND expires_at > ?
             ORDER BY id DESC",
        )
        .bind(user.0)
        .bind(to_millis(now))
        .fetch_all(&self.pool)
        .await
        .map_err(db_err)?
        .into_iter()
        .map(SessionRow::into_session)
        .collect())
    }

    async fn revoke_session(
        &self,
        user: UserId,
        id: SessionId,
        now: OffsetDateTime,
    ) -> StoreResult<bool> {
        let done = sqlx::query(
            "UPDATE sessions SET revoked_at = ?
             WHERE id = ? AND user_id = ? AND revoked_at IS NULL",
        )
        .bind(to_millis(now))
        .bind(id.0)
        .bind(user.0)
        .execute(&self.pool)
        .await
        .map_err(db_err)?;
        Ok(done.rows_affected() == 1)
    }

    async fn enabled_users(&self, ids: &[UserId]) -> StoreResult<Vec<User>> {
        self.chat_enabled_users(ids).await
    }

    async fn find_or_create_direct(
        &self,
        a: UserId,
        b: UserId,
        now: OffsetDateTime,
    ) -> StoreResult<(Room, bool)> {
        self.chat_find_or_create_direct(a, b, now).await
    }

    async fn create_group(&self, new: NewGroup, now: OffsetDateTime) -> StoreResult<RoomChange> {
        self.chat_create_group(new, now).await
    }

    async fn room(&self, id: RoomId) -> StoreResult<Option<Room>> {
        self.chat_room(id).await
    }

    async fn member_role(&self, room: RoomId, user: UserId) -> StoreResult<Option<MemberRole>> {
        self.chat_member_role(room, user).await
    }

    async fn room_summary(&self, room: RoomId, user: UserId) -> StoreResult<Option<RoomSummary>> {
        self.chat_room_summary(room, user).await
    }

    async fn rooms_of(
        &self,
        user: UserId,
        after: Option<(i64, RoomId)>,
        limit: u32,
    ) -> StoreResult<Vec<(i64, RoomSummary)>> {
        self.chat_rooms_of(user, after, limit).await
    }

    async fn members(
        &self,
        room: RoomId,
        after: Option<UserId>,
        limit: u32,
    ) -> StoreResult<Vec<Member>> {
        self.chat_members(room, after, limit).await
    }

    async fn add_members(
        &self,
        room: RoomId,
        actor: UserId,
        users: &[UserId],
        notice: String,
        now: OffsetDateTime,
    ) -> StoreResult<RoomChange> {
        self.chat_add_members(room, actor, users, notice, now).await
    }

    async fn remove_member(
        &self,
        room: RoomId,
        actor: UserId,
        user: UserId,
        notice: String,
        now: OffsetDateTime,
    ) -> StoreResult<RoomChange> {
        self.chat_remove_member(room, actor, user, notice, now)
            .await
    }

    async fn set_member_role(
        &self,
        room: RoomId,
        user: UserId,
        role: MemberRole,
        now: OffsetDateTime,
    ) -> StoreResult<RoomChange> {
        self.chat_set_member_role(room, user, role, now).await
    }

    async fn update_room(
        &self,
        room: RoomId,
        actor: UserId,
        changes: RoomProfileChanges,
        notice: String,
        now: OffsetDateTime,
    ) -> StoreResult<RoomChange> {
        self.chat_update_room(room, actor, changes, notice, now)
            .await
    }

    async fn append_messages(
        &self,
        batch: Vec<NewMessage>,
        now: OffsetDateTime,
    ) -> StoreResult<Vec<AppendOutcome>> {
        self.chat_append_messages(batch, now).await
    }

    async fn history(
        &self,
        room: RoomId,
        before_seq: Option<i64>,
        after_seq: Option<i64>,
        limit: u32,
    ) -> StoreResult<Vec<Message>> {
        self.chat_history(room, before_seq, after_seq, limit).await
    }

    async fn stream_position(&self) -> StoreResult<MessageId> {
        self.chat_stream_position().await
    }

    async fn sync(
        &self,
        user: UserId,
        since: MessageId,
        upto: Option<MessageId>,
        limit: u32,
    ) -> StoreResult<SyncBatch> {
        self.chat_sync(user, since, upto, limit).await
    }
}
