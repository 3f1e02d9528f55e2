//! Rooms and messages on SQLite. Write transactions start with `BEGIN
//! IMMEDIATE` so they take the write lock up front (a deferred transaction
//! that reads first can fail to upgrade with SQLITE_BUSY instead of waiting).
//! The group commit uses multi-row statements (`IN (...)`, `VALUES (...), ...`):
//! each statement is a hop to the connection's worker thread.

use crate::{Lite, SqliteOptions, SqliteStore};
use roomy_core::{clock::to_millis, social_fields::DirectPolicy};
use roomy_store::{AppendOutcome, NewMessage, StoreResult};
use roomy_store_sql::{
    Backend, WriteTx,
    chat::{BatchInputs, MESSAGE_COLUMNS, MESSAGE_FILE_JOIN, MessageRow, batch_ids, plan_batch},
    db_err,
};
use sqlx::{QueryBuilder, Sqlite, SqliteConnection, SqlitePool};
use std::future::Future;
use time::OffsetDateTime;

/// A write transaction holding the store's write turn: SQLite admits one
/// writer at a time, and writers that collide wait in SQLite's busy handler,
/// which sleeps in growing steps. Queueing on an async mutex first hands the
/// lock over at once, in arrival order.
pub struct LiteTx {
    tx: sqlx::Transaction<'static, sqlx::Sqlite>,
    _turn: tokio::sync::OwnedMutexGuard<()>,
}

impl WriteTx for LiteTx {
    /// Commits and gives the write turn to the next writer.
    fn commit(self) -> impl Future<Output = Result<(), sqlx::Error>> + Send {
        self.tx.commit()
    }
}

impl std::ops::Deref for LiteTx {
    type Target = SqliteConnection;
    fn deref(&self) -> &SqliteConnection {
        &self.tx
    }
}

impl std::ops::DerefMut for LiteTx {
    fn deref_mut(&mut self) -> &mut SqliteConnection {
        &mut self.tx
    }
}

impl Backend for Lite {
    type Db = sqlx::Sqlite;
    type Options = SqliteOptions;
    type Tx = LiteTx;
    // The write transaction holds the whole database (`BEGIN IMMEDIATE`).
    const FOR_UPDATE: &'static str = "";
    const FOR_NO_KEY_UPDATE: &'static str = "";
    const FOR_KEY_SHARE: &'static str = "";
    const FOR_UPDATE_SKIP_LOCKED: &'static str = "";

    fn connect(
        url: &str,
        options: SqliteOptions,
    ) -> impl Future<Output = StoreResult<SqliteStore>> + Send {
        crate::connect(url, options)
    }

    async fn begin_write(&self, pool: &SqlitePool) -> StoreResult<LiteTx> {
        let turn = self.write_turn.clone().lock_owned().await;
        let tx = pool.begin_with("BEGIN IMMEDIATE").await.map_err(db_err)?;
        Ok(LiteTx { tx, _turn: turn })
    }

    fn rows_affected(done: &sqlx::sqlite::SqliteQueryResult) -> u64 {
        done.rows_affected()
    }

    fn append_in<'a>(
        conn: &'a mut SqliteConnection,
        batch: &'a [NewMessage],
        policy: DirectPolicy,
        now: OffsetDateTime,
    ) -> impl Future<Output = StoreResult<Vec<AppendOutcome>>> + Send + 'a {
        append_in(conn, batch, policy, now)
    }
}

/// Rows per multi-row statement: well under SQLite's variable limit.
const CHUNK: usize = 128;

/// Runs `head` followed by `(?, ?, ...)`, one placeholder per id, and `tail`.
async fn fetch_by_ids<T>(
    conn: &mut SqliteConnection,
    head: &str,
    ids: &[i64],
    tail: &str,
) -> StoreResult<Vec<T>>
where
    T: for<'r> sqlx::FromRow<'r, sqlx::sqlite::SqliteRow> + Send + Unpin,
{
    let mut q = QueryBuilder::<Sqlite>::new(head);
    q.push("(");
    let mut list = q.separated(", ");
    for id in ids {
        list.push_bind(*id);
    }
    q.push(")").push(tail);
    q.build_query_as::<T>()
        .fetch_all(conn)
        .await
        .map_err(db_err)
}

/// Appends a batch inside an open transaction (also used for system notices).
///
/// A fixed handful of statements per batch, whatever its size: every
/// statement is a round trip to the connection's worker thread, and the
/// writer is serial, so statements per batch, not per message, set the pace.
async fn append_in(
    conn: &mut SqliteConnection,
    batch: &[NewMessage],
    policy: DirectPolicy,
    now: OffsetDateTime,
) -> StoreResult<Vec<AppendOutcome>> {
    let (room_ids, sender_ids) = batch_ids(batch);
    let mut inputs = BatchInputs::default();
    for chunk in room_ids.chunks(CHUNK) {
        let rooms = "SELECT id, last_seq, direct_gate FROM rooms WHERE id IN ";
        inputs
            .rooms
            .extend(fetch_by_ids::<(i64, i64, i64)>(conn, rooms, chunk, "").await?);
        let members = "SELECT room_id, user_id FROM room_members WHERE room_id IN ";
        inputs
            .members
            .extend(fetch_by_ids::<(i64, i64)>(conn, members, chunk, "").await?);
    }
    for chunk in sender_ids.chunks(CHUNK) {
        let senders = "SELECT id, nickname, avatar FROM users WHERE id IN ";
        inputs
            .senders
            .extend(fetch_by_ids::<(i64, String, Option<String>)>(conn, senders, chunk, "").await?);
    }
    let keyed: Vec<&NewMessage> = batch.iter().filter(|m| m.client_id.is_some()).collect();
    for chunk in keyed.chunks(CHUNK) {
        let mut q = QueryBuilder::<Sqlite>::new(format!("SELECT {MESSAGE_COLUMNS} FROM ("));
        q.push_values(chunk, |mut row, m| {
            row.push_bind(m.room_id.0)
                .push_bind(m.sender_id.0)
                .push_bind(m.client_id.as_ref().map(|c| c.as_str().to_owned()));
        });
        q.push(format!(
            ") AS k
             JOIN messages m ON m.room_id = k.column1 AND m.sender_id = k.column2
                            AND m.client_id = k.column3
             JOIN users u ON u.id = m.sender_id {MESSAGE_FILE_JOIN}"
        ));
        inputs.originals.extend(
            q.build_query_as::<MessageRow>()
                .fetch_all(&mut *conn)
                .await
                .map_err(db_err)?,
        );
    }
    inputs.last_id = sqlx::query_scalar("SELECT value FROM counters WHERE name = 'message_id'")
        .fetch_one(&mut *conn)
        .await
        .map_err(db_err)?;
    let plan = plan_batch(batch, inputs, policy, now)?;
    if plan.inserts.is_empty() {
        return Ok(plan.outcomes);
    }
    for chunk in plan.inserts.chunks(CHUNK) {
        let mut q = QueryBuilder::<Sqlite>::new(
            "INSERT INTO messages (id, room_id, seq, sender_id, client_id, kind, body, created_at,
                                   file_id) ",
        );
        q.push_values(chunk, |mut row, m| {
            row.push_bind(m.id.0)
                .push_bind(m.room_id.0)
                .push_bind(m.seq)
                .push_bind(m.sender.id.0)
                .push_bind(m.client_id.clone())
                .push_bind(m.kind.as_str())
                .push_bind(m.body.clone())
                .push_bind(to_millis(m.created_at))
                .push_bind(m.file.as_ref().map(|f| f.id.0));
        });
        q.build().execute(&mut *conn).await.map_err(db_err)?;
    }
    for chunk in plan.room_updates.chunks(CHUNK) {
        let mut q = QueryBuilder::<Sqlite>::new(
            "UPDATE rooms SET last_seq = v.column2, last_message_id = v.column3 FROM (",
        );
        q.push_values(chunk, |mut row, (room, last_seq, last_message)| {
            row.push_bind(room.0)
                .push_bind(*last_seq)
                .push_bind(last_message.0);
        });
        q.push(") AS v WHERE rooms.id = v.column1");
        q.build().execute(&mut *conn).await.map_err(db_err)?;
    }
    sqlx::query("UPDATE counters SET value = $1 WHERE name = 'message_id'")
        .bind(plan.last_id)
        .execute(&mut *conn)
        .await
        .map_err(db_err)?;
    Ok(plan.outcomes)
}
