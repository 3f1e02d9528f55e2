//! Files, uploads and jobs, shared by the SQL backends. The uploader's row
//! is locked ([`Backend::FOR_NO_KEY_UPDATE`]) so two uploads of one user reserve
//! quota one after the other; job claims skip rows other runners hold
//! ([`Backend::FOR_UPDATE_SKIP_LOCKED`]).

use crate::backend::{Args, Backend, Col, Conn, DbRow, SqlStore, WriteTx};
use crate::db_err;
use crate::files::{
    ADVANCE_UPLOAD, ENQUEUE_JOB, FILE_COLUMNS, FILE_READABLE, FileRow, JobRow, NEXT_FILE_ID,
    STORAGE_USED, UPLOAD_COLUMNS, UploadRow,
};
use roomy_core::{
    FileId, UserId,
    clock::{from_millis, to_millis},
};
use roomy_store::{Conflict, Missing};
use roomy_store::{
    Job, JobKind, MediaClass, NewFile, NewUpload, Prepared, StoreError, StoreResult, StoredFile,
    Upload, UploadExpiry, UploadPart,
};
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
    /// Locks `user`'s row and fails unless `extra` more bytes fit in `quota`.
    pub(crate) async fn reserve_in(
        conn: &mut Conn<B>,
        user: UserId,
        extra: i64,
        quota: i64,
    ) -> StoreResult<()> {
        // NO KEY UPDATE serialises the reservations of one user without
        // blocking the foreign-key checks of their messages being stored.
        let found: Option<i64> = sqlx::query_scalar(AssertSqlSafe(format!(
            "SELECT id FROM users WHERE id = $1{}",
            B::FOR_NO_KEY_UPDATE
        )))
        .bind(user.0)
        .fetch_optional(&mut *conn)
        .await
        .map_err(db_err)?;
        if found.is_none() {
            return Err(StoreError::NotFound(Missing::User));
        }
        let used: i64 = sqlx::query_scalar(STORAGE_USED)
            .bind(user.0)
            .fetch_one(&mut *conn)
            .await
            .map_err(db_err)?;
        if used.saturating_add(extra) > quota {
            return Err(StoreError::QuotaExceeded { used, quota });
        }
        Ok(())
    }

    pub(crate) async fn next_file_id(conn: &mut Conn<B>) -> StoreResult<i64> {
        sqlx::query_scalar(NEXT_FILE_ID)
            .fetch_one(conn)
            .await
            .map_err(db_err)
    }

    pub(crate) async fn enqueue_in(
        conn: &mut Conn<B>,
        kind: JobKind,
        subject: i64,
        at: OffsetDateTime,
    ) -> StoreResult<()> {
        sqlx::query(ENQUEUE_JOB)
            .bind(kind.as_str())
            .bind(subject)
            .bind(to_millis(at))
            .execute(conn)
            .await
            .map_err(db_err)?;
        Ok(())
    }

    pub(crate) async fn file_in(conn: &mut Conn<B>, id: i64) -> StoreResult<Option<StoredFile>> {
        sqlx::query_as::<_, FileRow>(AssertSqlSafe(format!(
            "SELECT {FILE_COLUMNS} FROM files f WHERE f.id = $1"
        )))
        .bind(id)
        .fetch_optional(conn)
        .await
        .map_err(db_err)?
        .map(FileRow::into_file)
        .transpose()
    }

    /// Inserts file `id` and schedules the work its kind of media needs.
    pub(crate) async fn insert_file_in(
        conn: &mut Conn<B>,
        id: i64,
        new: &NewFile,
        now: OffsetDateTime,
    ) -> StoreResult<StoredFile> {
        sqlx::query(
            "INSERT INTO files (id, owner_id, storage_key, name, size, mime, sha256, media, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(id)
        .bind(new.owner.0)
        .bind(&new.key)
        .bind(&new.name)
        .bind(new.size)
        .bind(&new.mime)
        .bind(&new.sha256)
        .bind(new.media.as_str())
        .bind(to_millis(now))
        .execute(&mut *conn)
        .await
        .map_err(|e| crate::conflict_or(e, Conflict::StorageKey))?;
        if matches!(new.media, MediaClass::Image | MediaClass::Video) {
            Self::enqueue_in(conn, JobKind::Derive, id, now).await?;
        }
        Self::file_in(conn, id)
            .await?
            .ok_or(StoreError::NotFound(Missing::File))
    }

    /// The upload offset's compare-and-set: moves it from `from` to `to`
    /// and renews its expiry; false when another writer moved it first.
    async fn advance_in(
        conn: &mut Conn<B>,
        id: FileId,
        from: i64,
        to: i64,
        expires_at: OffsetDateTime,
    ) -> StoreResult<bool> {
        let done = sqlx::query(ADVANCE_UPLOAD)
            .bind(to)
            .bind(to_millis(expires_at))
            .bind(id.0)
            .bind(from)
            .execute(&mut *conn)
            .await
            .map(|done| B::rows_affected(&done))
            .map_err(db_err)?;
        Ok(done == 1)
    }
}

#[::async_trait::async_trait]
impl<B> ::roomy_store::FileStore for SqlStore<B>
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
    async fn storage_used(&self, user: UserId) -> StoreResult<i64> {
        sqlx::query_scalar(STORAGE_USED)
            .bind(user.0)
            .fetch_one(&self.pool)
            .await
            .map_err(db_err)
    }

    async fn create_upload(
        &self,
        new: NewUpload,
        quota: i64,
        max_open: i64,
        now: OffsetDateTime,
    ) -> StoreResult<Upload> {
        let mut tx = self.write_tx().await?;
        Self::reserve_in(&mut tx, new.owner, new.length, quota).await?;
        let open: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM uploads WHERE owner_id = $1")
            .bind(new.owner.0)
            .fetch_one(&mut *tx)
            .await
            .map_err(db_err)?;
        if open >= max_open {
            return Err(StoreError::TooManyUploads(max_open));
        }
        let id = Self::next_file_id(&mut tx).await?;
        let row = sqlx::query_as::<_, UploadRow>(AssertSqlSafe(format!(
            "INSERT INTO uploads (id, owner_id, length, name, created_at, expires_at)
             VALUES ($1, $2, $3, $4, $5, $6) RETURNING {UPLOAD_COLUMNS}"
        )))
        .bind(id)
        .bind(new.owner.0)
        .bind(new.length)
        .bind(&new.name)
        .bind(to_millis(now))
        .bind(to_millis(new.expires_at))
        .fetch_one(&mut *tx)
        .await
        .map_err(db_err)?;
        Self::enqueue_in(&mut tx, JobKind::ExpireUpload, id, new.expires_at).await?;
        tx.commit().await.map_err(db_err)?;
        row.into_upload()
    }

    async fn upload(&self, id: FileId) -> StoreResult<Option<Upload>> {
        Ok(sqlx::query_as::<_, UploadRow>(AssertSqlSafe(format!(
            "SELECT {UPLOAD_COLUMNS} FROM uploads WHERE id = $1"
        )))
        .bind(id.0)
        .fetch_optional(&self.pool)
        .await
        .map_err(db_err)?
        .map(UploadRow::into_upload)
        .transpose()?)
    }

    async fn prepare_upload(&self, id: FileId, prepared: &Prepared) -> StoreResult<bool> {
        let mut tx = self.write_tx().await?;
        let done = sqlx::query(
            "UPDATE uploads SET storage_key = $1, sha256 = $2, mime = $3, media = $4
             WHERE id = $5 AND upload_offset = length AND storage_key IS NULL",
        )
        .bind(&prepared.key)
        .bind(&prepared.sha256)
        .bind(&prepared.mime)
        .bind(prepared.media.as_str())
        .bind(id.0)
        .execute(&mut *tx)
        .await
        .map(|done| B::rows_affected(&done))
        .map_err(db_err)?;
        tx.commit().await.map_err(db_err)?;
        Ok(done == 1)
    }

    async fn advance_upload(
        &self,
        id: FileId,
        from: i64,
        to: i64,
        expires_at: OffsetDateTime,
    ) -> StoreResult<bool> {
        let mut tx = self.write_tx().await?;
        let moved = Self::advance_in(&mut tx, id, from, to, expires_at).await?;
        tx.commit().await.map_err(db_err)?;
        Ok(moved)
    }

    async fn advance_upload_part(
        &self,
        id: FileId,
        from: i64,
        to: i64,
        key: &str,
        expires_at: OffsetDateTime,
    ) -> StoreResult<bool> {
        let mut tx = self.write_tx().await?;
        // The offset's compare-and-set decides: the part is recorded only
        // by the writer that moved it (on PostgreSQL the UPDATE locks the
        // row, so a racing writer waits here and then finds the offset moved).
        if !Self::advance_in(&mut tx, id, from, to, expires_at).await? {
            return Ok(false);
        }
        sqlx::query(
            "INSERT INTO upload_parts (upload_id, start_offset, end_offset, storage_key)
             VALUES ($1, $2, $3, $4)",
        )
        .bind(id.0)
        .bind(from)
        .bind(to)
        .bind(key)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        tx.commit().await.map_err(db_err)?;
        Ok(true)
    }

    async fn upload_parts(&self, id: FileId) -> StoreResult<Vec<UploadPart>> {
        let rows: Vec<(i64, i64, String)> = sqlx::query_as(
            "SELECT start_offset, end_offset, storage_key FROM upload_parts
             WHERE upload_id = $1 ORDER BY start_offset",
        )
        .bind(id.0)
        .fetch_all(&self.pool)
        .await
        .map_err(db_err)?;
        Ok(rows
            .into_iter()
            .map(|(start, end, key)| UploadPart { start, end, key })
            .collect())
    }

    async fn finish_upload(
        &self,
        id: FileId,
        file: NewFile,
        now: OffsetDateTime,
    ) -> StoreResult<StoredFile> {
        let mut tx = self.write_tx().await?;
        let gone = sqlx::query(
            "DELETE FROM uploads WHERE id = $1 AND owner_id = $2 AND upload_offset = length",
        )
        .bind(id.0)
        .bind(file.owner.0)
        .execute(&mut *tx)
        .await
        .map(|done| B::rows_affected(&done))
        .map_err(db_err)?;
        if gone != 1 {
            return Err(StoreError::NotFound(Missing::Upload));
        }
        let stored = Self::insert_file_in(&mut tx, id.0, &file, now).await?;
        tx.commit().await.map_err(db_err)?;
        Ok(stored)
    }

    async fn delete_upload(&self, id: FileId) -> StoreResult<bool> {
        let mut tx = self.write_tx().await?;
        let gone = sqlx::query("DELETE FROM uploads WHERE id = $1")
            .bind(id.0)
            .execute(&mut *tx)
            .await
            .map(|done| B::rows_affected(&done))
            .map_err(db_err)?;
        tx.commit().await.map_err(db_err)?;
        Ok(gone == 1)
    }

    async fn expire_upload(&self, id: FileId, now: OffsetDateTime) -> StoreResult<UploadExpiry> {
        let mut tx = self.write_tx().await?;
        let row: Option<(i64, Option<String>)> =
            sqlx::query_as("SELECT expires_at, storage_key FROM uploads WHERE id = $1")
                .bind(id.0)
                .fetch_optional(&mut *tx)
                .await
                .map_err(db_err)?;
        let outcome = match row {
            None => UploadExpiry::Gone,
            Some((at, _)) if at > to_millis(now) => UploadExpiry::Extended(from_millis(at)),
            Some((_, key)) => {
                sqlx::query("DELETE FROM uploads WHERE id = $1")
                    .bind(id.0)
                    .execute(&mut *tx)
                    .await
                    .map_err(db_err)?;
                UploadExpiry::Expired(key)
            }
        };
        tx.commit().await.map_err(db_err)?;
        Ok(outcome)
    }

    async fn create_file(
        &self,
        new: NewFile,
        quota: i64,
        now: OffsetDateTime,
    ) -> StoreResult<StoredFile> {
        let mut tx = self.write_tx().await?;
        Self::reserve_in(&mut tx, new.owner, new.size, quota).await?;
        let id = Self::next_file_id(&mut tx).await?;
        let stored = Self::insert_file_in(&mut tx, id, &new, now).await?;
        tx.commit().await.map_err(db_err)?;
        Ok(stored)
    }

    async fn file(&self, id: FileId) -> StoreResult<Option<StoredFile>> {
        let mut conn = self.pool.acquire().await.map_err(db_err)?;
        Self::file_in(&mut conn, id.0).await
    }

    async fn file_readable(&self, id: FileId, user: UserId) -> StoreResult<bool> {
        sqlx::query_scalar(FILE_READABLE)
            .bind(id.0)
            .bind(user.0)
            .fetch_one(&self.pool)
            .await
            .map_err(db_err)
    }

    async fn file_audience(&self, id: FileId) -> StoreResult<Vec<UserId>> {
        let ids: Vec<i64> = sqlx::query_scalar(
            "SELECT owner_id FROM files WHERE id = $1
             UNION
             SELECT rm.user_id FROM messages m JOIN room_members rm ON rm.room_id = m.room_id
             WHERE m.file_id = $1 AND m.revoked_at IS NULL",
        )
        .bind(id.0)
        .fetch_all(&self.pool)
        .await
        .map_err(db_err)?;
        Ok(ids.into_iter().map(UserId).collect())
    }

    async fn set_derivative(
        &self,
        id: FileId,
        cover: bool,
        key: &str,
        mime: &str,
    ) -> StoreResult<()> {
        let sql = if cover {
            "UPDATE files SET cover_key = $1, cover_mime = $2 WHERE id = $3"
        } else {
            "UPDATE files SET thumb_key = $1, thumb_mime = $2 WHERE id = $3"
        };
        let mut tx = self.write_tx().await?;
        let done = sqlx::query(sql)
            .bind(key)
            .bind(mime)
            .bind(id.0)
            .execute(&mut *tx)
            .await
            .map(|done| B::rows_affected(&done))
            .map_err(db_err)?;
        tx.commit().await.map_err(db_err)?;
        if done == 1 {
            Ok(())
        } else {
            Err(StoreError::NotFound(Missing::File))
        }
    }

    async fn claim_job(
        &self,
        now: OffsetDateTime,
        lease_until: OffsetDateTime,
    ) -> StoreResult<Option<Job>> {
        let mut tx = self.write_tx().await?;
        let row = sqlx::query_as::<_, JobRow>(AssertSqlSafe(format!(
            "UPDATE jobs SET locked_until = $1, attempts = attempts + 1
             WHERE id = (SELECT id FROM jobs
                         WHERE dead_at IS NULL AND run_at <= $2
                           AND (locked_until IS NULL OR locked_until <= $2)
                         ORDER BY run_at, id LIMIT 1{})
             RETURNING id, kind, subject, attempts",
            B::FOR_UPDATE_SKIP_LOCKED
        )))
        .bind(to_millis(lease_until))
        .bind(to_millis(now))
        .fetch_optional(&mut *tx)
        .await
        .map_err(db_err)?;
        tx.commit().await.map_err(db_err)?;
        row.map(JobRow::into_job).transpose()
    }

    async fn complete_job(&self, id: i64) -> StoreResult<()> {
        let mut tx = self.write_tx().await?;
        sqlx::query("DELETE FROM jobs WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        tx.commit().await.map_err(db_err)
    }

    async fn defer_job(
        &self,
        id: i64,
        run_at: Option<OffsetDateTime>,
        error: Option<&str>,
    ) -> StoreResult<()> {
        let mut tx = self.write_tx().await?;
        let q = match run_at {
            // A postponement without an error is planned, not a failure:
            // it does not count towards giving up.
            Some(at) => sqlx::query(
                "UPDATE jobs SET run_at = $1, locked_until = NULL, last_error = $2,
                 attempts = CASE WHEN $2 IS NULL THEN 0 ELSE attempts END WHERE id = $3",
            )
            .bind(to_millis(at)),
            None => sqlx::query(
                "UPDATE jobs SET dead_at = run_at, locked_until = NULL, last_error = $1 WHERE id = $2",
            ),
        };
        q.bind(error)
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        tx.commit().await.map_err(db_err)
    }
}
