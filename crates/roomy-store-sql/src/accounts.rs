//! Accounts and sessions, shared by the SQL backends.

use crate::backend::{Args, Backend, Col, Conn, DbRow, SqlStore, WriteTx};
use crate::{
    SESSION_WITH_USER_SELECT, SessionRow, SessionUserRow, UserRow, conflict_or, db_err, escape_like,
};
use roomy_core::{SessionId, UserId, clock::to_millis};
use roomy_store::{Conflict, Missing};
use roomy_store::{
    Credentials, NewSession, NewUser, ProfileChanges, RetiredGuest, Session, StoreError,
    StoreResult, User,
};
use sqlx::{ColumnIndex, Encode, Executor, IntoArguments, Type};
use time::OffsetDateTime;

/// Sessions that ended this long ago are deleted when their user logs in again.
const SESSION_RETENTION_MS: i64 = 7 * 24 * 3600 * 1000;

#[::async_trait::async_trait]
impl<B> ::roomy_store::AccountStore for SqlStore<B>
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
    async fn ping(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .map_err(db_err)?;
        Ok(())
    }

    async fn create_user(&self, new: NewUser, now: OffsetDateTime) -> StoreResult<User> {
        let mut tx = self.write_tx().await?;
        let row = sqlx::query_as::<_, UserRow>(
            "INSERT INTO users (username, nickname, role, password_hash, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $5) RETURNING *",
        )
        .bind(new.username.as_str())
        .bind(new.nickname.as_str())
        .bind(new.role.as_str())
        .bind(new.password_hash)
        .bind(to_millis(now))
        .fetch_one(&mut *tx)
        .await
        .map_err(|e| conflict_or(e, Conflict::Username))?;
        tx.commit().await.map_err(db_err)?;
        row.into_user()
    }

    async fn user(&self, id: UserId) -> StoreResult<Option<User>> {
        sqlx::query_as::<_, UserRow>("SELECT * FROM users WHERE id = $1")
            .bind(id.0)
            .fetch_optional(&self.pool)
            .await
            .map_err(db_err)?
            .map(UserRow::into_user)
            .transpose()
    }

    async fn credentials_by_username(&self, username: &str) -> StoreResult<Option<Credentials>> {
        sqlx::query_as::<_, UserRow>("SELECT * FROM users WHERE lower(username) = lower($1)")
            .bind(username)
            .fetch_optional(&self.pool)
            .await
            .map_err(db_err)?
            .map(UserRow::into_credentials)
            .transpose()
    }

    async fn credentials(&self, id: UserId) -> StoreResult<Option<Credentials>> {
        sqlx::query_as::<_, UserRow>("SELECT * FROM users WHERE id = $1")
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
        let mut tx = self.write_tx().await?;
        let row = sqlx::query_as::<_, UserRow>(
            "UPDATE users SET
                nickname = COALESCE($1, nickname),
                avatar = CASE WHEN $2 THEN $3 ELSE avatar END,
                invite_confirm = COALESCE($4, invite_confirm),
                updated_at = $5,
                read_receipts = COALESCE($6, read_receipts)
             WHERE id = $7 RETURNING *",
        )
        .bind(changes.nickname.as_ref().map(|n| n.as_str().to_owned()))
        .bind(set_avatar)
        .bind(avatar)
        .bind(changes.invite_confirm)
        .bind(to_millis(now))
        .bind(changes.read_receipts)
        .bind(id.0)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db_err)?
        .ok_or(StoreError::NotFound(Missing::User))?;
        tx.commit().await.map_err(db_err)?;
        row.into_user()
    }

    async fn set_password(
        &self,
        id: UserId,
        password_hash: String,
        keep: SessionId,
        now: OffsetDateTime,
    ) -> StoreResult<()> {
        let mut tx = self.write_tx().await?;
        let updated =
            sqlx::query("UPDATE users SET password_hash = $1, updated_at = $2 WHERE id = $3")
                .bind(password_hash)
                .bind(to_millis(now))
                .bind(id.0)
                .execute(&mut *tx)
                .await
                .map_err(db_err)?;
        if B::rows_affected(&updated) == 0 {
            return Err(StoreError::NotFound(Missing::User));
        }
        sqlx::query(
            "UPDATE sessions SET revoked_at = $1
             WHERE user_id = $2 AND id <> $3 AND revoked_at IS NULL",
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
        let mut tx = self.write_tx().await?;
        let row = sqlx::query_as::<_, UserRow>(crate::SET_DISABLED)
            .bind(disabled)
            .bind(to_millis(now))
            .bind(id.0)
            .fetch_optional(&mut *tx)
            .await
            .map_err(db_err)?
            .ok_or(StoreError::NotFound(Missing::User))?;
        if disabled {
            sqlx::query(crate::REVOKE_SESSIONS)
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
             WHERE NOT disabled AND id > $1
               AND (lower(username) LIKE lower($2) ESCAPE '\\'
                    OR lower(nickname) LIKE lower($2) ESCAPE '\\')
             ORDER BY id LIMIT $3",
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
        let mut tx = self.write_tx().await?;
        sqlx::query(
            "DELETE FROM sessions WHERE user_id = $1
               AND (expires_at < $2 OR revoked_at < $2 - $3)",
        )
        .bind(new.user_id.0)
        .bind(now)
        .bind(SESSION_RETENTION_MS)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        let row = sqlx::query_as::<_, SessionRow>(
            "INSERT INTO sessions (user_id, created_at, last_used_at, expires_at, user_agent, ip)
             VALUES ($1, $2, $2, $3, $4, $5) RETURNING *",
        )
        .bind(new.user_id.0)
        .bind(now)
        .bind(to_millis(new.expires_at))
        .bind(new.user_agent)
        .bind(new.ip)
        .fetch_one(&mut *tx)
        .await
        .map_err(db_err)?;
        tx.commit().await.map_err(db_err)?;
        Ok(row.into_session())
    }

    async fn session_with_user(&self, id: SessionId) -> StoreResult<Option<(Session, User)>> {
        let sql = sqlx::AssertSqlSafe(format!("{SESSION_WITH_USER_SELECT} WHERE s.id = $1"));
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
        let mut tx = self.write_tx().await?;
        sqlx::query(
            "UPDATE sessions SET last_used_at = $1, expires_at = COALESCE($2, expires_at)
             WHERE id = $3",
        )
        .bind(to_millis(now))
        .bind(expires_at.map(to_millis))
        .bind(id.0)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        tx.commit().await.map_err(db_err)?;
        Ok(())
    }

    async fn active_sessions(
        &self,
        user: UserId,
        now: OffsetDateTime,
    ) -> StoreResult<Vec<Session>> {
        Ok(sqlx::query_as::<_, SessionRow>(
            "SELECT * FROM sessions
             WHERE user_id = $1 AND revoked_at IS NULL AND expires_at > $2
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
        let mut tx = self.write_tx().await?;
        let done = sqlx::query(
            "UPDATE sessions SET revoked_at = $1
             WHERE id = $2 AND user_id = $3 AND revoked_at IS NULL",
        )
        .bind(to_millis(now))
        .bind(id.0)
        .bind(user.0)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        tx.commit().await.map_err(db_err)?;
        Ok(B::rows_affected(&done) == 1)
    }

    async fn idle_guests(
        &self,
        idle_since: OffsetDateTime,
        limit: u32,
    ) -> StoreResult<Vec<UserId>> {
        // A scan of users, made once per sweep (hourly): no index to keep up.
        let ids: Vec<(i64,)> = sqlx::query_as(crate::IDLE_GUESTS)
            .bind(to_millis(idle_since))
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await
            .map_err(db_err)?;
        Ok(ids.into_iter().map(|(id,)| UserId(id)).collect())
    }

    async fn retire_guest(
        &self,
        id: UserId,
        idle_since: OffsetDateTime,
        nickname: &str,
        now: OffsetDateTime,
    ) -> StoreResult<Option<RetiredGuest>> {
        let mut tx = self.write_tx().await?;
        // The idle test is repeated in the UPDATE, so a guest who came back
        // since it was listed keeps the account.
        let retired = sqlx::query(
            "UPDATE users SET disabled = $1, nickname = $2, avatar = NULL, updated_at = $3
             WHERE id = $4 AND role = 'guest' AND NOT disabled AND created_at <= $5
               AND NOT EXISTS (SELECT 1 FROM sessions s
                               WHERE s.user_id = users.id AND s.last_used_at > $5)",
        )
        .bind(true)
        .bind(nickname)
        .bind(to_millis(now))
        .bind(id.0)
        .bind(to_millis(idle_since))
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        if B::rows_affected(&retired) == 0 {
            return Ok(None);
        }
        sqlx::query("DELETE FROM sessions WHERE user_id = $1")
            .bind(id.0)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        // Only the uploader can attach a file, so these are the guest's own
        // messages; they stay, without the file.
        sqlx::query(
            "UPDATE messages SET file_id = NULL
             WHERE file_id IN (SELECT id FROM files WHERE owner_id = $1)",
        )
        .bind(id.0)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        let files: Vec<(String, Option<String>, Option<String>)> = sqlx::query_as(
            "DELETE FROM files WHERE owner_id = $1 RETURNING storage_key, thumb_key, cover_key",
        )
        .bind(id.0)
        .fetch_all(&mut *tx)
        .await
        .map_err(db_err)?;
        let uploads: Vec<(i64, Option<String>)> =
            sqlx::query_as("DELETE FROM uploads WHERE owner_id = $1 RETURNING id, storage_key")
                .bind(id.0)
                .fetch_all(&mut *tx)
                .await
                .map_err(db_err)?;
        tx.commit().await.map_err(db_err)?;
        let mut out = RetiredGuest::default();
        for (key, thumb, cover) in files {
            out.keys.push(key);
            out.keys.extend(thumb);
            out.keys.extend(cover);
        }
        for (upload, key) in uploads {
            out.uploads.push(roomy_core::FileId(upload));
            out.keys.extend(key);
        }
        Ok(Some(out))
    }

    async fn enabled_users(&self, ids: &[UserId]) -> StoreResult<Vec<User>> {
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            if let Some(u) = ::roomy_store::AccountStore::user(self, *id)
                .await?
                .filter(|u| !u.disabled)
            {
                out.push(u);
            }
        }
        Ok(out)
    }
}
