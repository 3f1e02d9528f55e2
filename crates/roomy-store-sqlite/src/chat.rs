//! Rooms and messages on SQLite. Write transactions start with `BEGIN
//! IMMEDIATE` so they take the write lock up front (a deferred transaction
//! that reads first can fail to upgrade with SQLITE_BUSY instead of waiting).
//! Statements run one by one: SQLite is in-process, so a statement costs
//! microseconds, not a network round trip.

use crate::SqliteStore;
use sqlx::SqliteConnection;
use std::collections::hash_map::Entry;

roomy_store_sql::chat_store_impl!(SqliteStore, SqliteConnection);

type Tx = sqlx::Transaction<'static, sqlx::Sqlite>;

impl SqliteStore {
    async fn write_tx(&self) -> StoreResult<Tx> {
        self.pool
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(db_err)
    }
}

/// Writes the messages of a plan and moves the counters, inside `conn`'s transaction.
async fn write_plan(
    conn: &mut SqliteConnection,
    inserts: &[Message],
    room_updates: &[(RoomId, i64, MessageId)],
    last_id: i64,
) -> StoreResult<()> {
    for m in inserts {
        sqlx::query(
            "INSERT INTO messages (id, room_id, seq, sender_id, client_id, kind, body, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(m.id.0)
        .bind(m.room_id.0)
        .bind(m.seq)
        .bind(m.sender.id.0)
        .bind(m.client_id.as_deref())
        .bind(m.kind.as_str())
        .bind(m.body.as_deref())
        .bind(to_millis(m.created_at))
        .execute(&mut *conn)
        .await
        .map_err(db_err)?;
    }
    for (room, last_seq, last_message) in room_updates {
        sqlx::query("UPDATE rooms SET last_seq = $1, last_message_id = $2 WHERE id = $3")
            .bind(last_seq)
            .bind(last_message.0)
            .bind(room.0)
            .execute(&mut *conn)
            .await
            .map_err(db_err)?;
    }
    if !inserts.is_empty() {
        sqlx::query("UPDATE counters SET value = $1 WHERE name = 'message_id'")
            .bind(last_id)
            .execute(&mut *conn)
            .await
            .map_err(db_err)?;
    }
    Ok(())
}

/// Appends a batch inside an open transaction (also used for system notices).
async fn append_in(
    conn: &mut SqliteConnection,
    batch: &[NewMessage],
    now: OffsetDateTime,
) -> StoreResult<Vec<AppendOutcome>> {
    let mut rooms: HashMap<RoomId, Option<RoomState>> = HashMap::new();
    let mut senders: HashMap<UserId, UserBrief> = HashMap::new();
    let mut originals = HashMap::new();
    for new in batch {
        if let Entry::Vacant(slot) = rooms.entry(new.room_id) {
            let state = match room_in(conn, new.room_id).await? {
                Some(room) => Some(RoomState {
                    last_seq: room.last_seq,
                    members: member_ids(conn, new.room_id).await?,
                }),
                None => None,
            };
            slot.insert(state);
        }
        if let Entry::Vacant(slot) = senders.entry(new.sender_id)
            && let Some(b) = brief(conn, new.sender_id).await?
        {
            slot.insert(b);
        }
        if let Some(client_id) = &new.client_id {
            let sql = format!(
                "SELECT {MESSAGE_COLUMNS} FROM messages m JOIN users u ON u.id = m.sender_id
                 WHERE m.room_id = $1 AND m.sender_id = $2 AND m.client_id = $3"
            );
            if let Some(row) = sqlx::query_as::<_, MessageRow>(AssertSqlSafe(sql))
                .bind(new.room_id.0)
                .bind(new.sender_id.0)
                .bind(client_id.as_str())
                .fetch_optional(&mut *conn)
                .await
                .map_err(db_err)?
            {
                originals.insert(
                    (new.room_id, new.sender_id, client_id.as_str().to_owned()),
                    row.into_message()?,
                );
            }
        }
    }
    let last_id = message_counter(conn).await?;
    let plan = plan_batch(batch, rooms, originals, &senders, last_id, now);
    write_plan(conn, &plan.inserts, &plan.room_updates, plan.last_id).await?;
    Ok(plan.outcomes)
}
