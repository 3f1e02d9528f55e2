//! Rooms and messages on PostgreSQL. The group commit is set-based: a batch
//! costs a fixed handful of round trips (arrays in, `UNNEST` out), whatever
//! its size. Rooms are locked in id order and the message-id counter row is
//! locked until commit, so writers on several nodes neither deadlock nor
//! commit ids out of order.

use crate::PgStore;
use sqlx::PgConnection;

roomy_store_sql::chat_store_impl!(PgStore, PgConnection);
// NO KEY UPDATE: serialises changes to a pair without blocking the
// foreign-key checks (KEY SHARE) of inserts that reference the users.
roomy_store_sql::social_store_impl!(PgStore, PgConnection, " FOR NO KEY UPDATE");
roomy_store_sql::lifecycle_store_impl!(PgStore, PgConnection);
// NO KEY UPDATE again: joins queue on the invite and the room, while inserts
// that only reference them (members, messages) pass.
roomy_store_sql::invite_store_impl!(PgStore, PgConnection, " FOR NO KEY UPDATE");

use roomy_store_sql::chat::{BatchInputs, batch_ids, plan_batch};

type Tx = sqlx::Transaction<'static, sqlx::Postgres>;

impl PgStore {
    pub(crate) async fn write_tx(&self) -> StoreResult<Tx> {
        self.pool.begin().await.map_err(db_err)
    }
}

/// Appends a batch inside an open transaction (also used for system notices).
async fn append_in(
    conn: &mut PgConnection,
    batch: &[NewMessage],
    policy: DirectPolicy,
    now: OffsetDateTime,
) -> StoreResult<Vec<AppendOutcome>> {
    let (room_ids, sender_ids) = batch_ids(batch);
    let rooms = sqlx::query_as(
        "SELECT id, last_seq, direct_gate FROM rooms WHERE id = ANY($1) ORDER BY id FOR UPDATE",
    )
    .bind(&room_ids)
    .fetch_all(&mut *conn)
    .await
    .map_err(db_err)?;
    let members =
        sqlx::query_as("SELECT room_id, user_id FROM room_members WHERE room_id = ANY($1)")
            .bind(&room_ids)
            .fetch_all(&mut *conn)
            .await
            .map_err(db_err)?;
    let senders = sqlx::query_as("SELECT id, nickname, avatar FROM users WHERE id = ANY($1)")
        .bind(&sender_ids)
        .fetch_all(&mut *conn)
        .await
        .map_err(db_err)?;
    let keyed: Vec<&NewMessage> = batch.iter().filter(|m| m.client_id.is_some()).collect();
    let mut originals = Vec::new();
    if !keyed.is_empty() {
        let sql = format!(
            "SELECT {MESSAGE_COLUMNS} FROM messages m JOIN users u ON u.id = m.sender_id
             {MESSAGE_FILE_JOIN}
             JOIN UNNEST($1::int8[], $2::int8[], $3::text[]) AS k(room_id, sender_id, client_id)
               ON m.room_id = k.room_id AND m.sender_id = k.sender_id
              AND m.client_id = k.client_id"
        );
        originals = sqlx::query_as::<_, MessageRow>(AssertSqlSafe(sql))
            .bind(keyed.iter().map(|m| m.room_id.0).collect::<Vec<_>>())
            .bind(keyed.iter().map(|m| m.sender_id.0).collect::<Vec<_>>())
            .bind(
                keyed
                    .iter()
                    .map(|m| m.client_id.as_ref().map_or("", |c| c.as_str()).to_owned())
                    .collect::<Vec<_>>(),
            )
            .fetch_all(&mut *conn)
            .await
            .map_err(db_err)?;
    }
    let last_id =
        sqlx::query_scalar("SELECT value FROM counters WHERE name = 'message_id' FOR UPDATE")
            .fetch_one(&mut *conn)
            .await
            .map_err(db_err)?;
    let inputs = BatchInputs {
        rooms,
        members,
        senders,
        originals,
        last_id,
    };
    let plan = plan_batch(batch, inputs, policy, now)?;
    if plan.inserts.is_empty() {
        return Ok(plan.outcomes);
    }
    let ins = &plan.inserts;
    sqlx::query(
        "INSERT INTO messages (id, room_id, seq, sender_id, client_id, kind, body, created_at,
                               file_id)
         SELECT * FROM UNNEST($1::int8[], $2::int8[], $3::int8[], $4::int8[], $5::text[],
                              $6::text[], $7::text[], $8::int8[], $9::int8[])",
    )
    .bind(ins.iter().map(|m| m.id.0).collect::<Vec<_>>())
    .bind(ins.iter().map(|m| m.room_id.0).collect::<Vec<_>>())
    .bind(ins.iter().map(|m| m.seq).collect::<Vec<_>>())
    .bind(ins.iter().map(|m| m.sender.id.0).collect::<Vec<_>>())
    .bind(ins.iter().map(|m| m.client_id.clone()).collect::<Vec<_>>())
    .bind(
        ins.iter()
            .map(|m| m.kind.as_str().to_owned())
            .collect::<Vec<_>>(),
    )
    .bind(ins.iter().map(|m| m.body.clone()).collect::<Vec<_>>())
    .bind(
        ins.iter()
            .map(|m| to_millis(m.created_at))
            .collect::<Vec<_>>(),
    )
    .bind(
        ins.iter()
            .map(|m| m.file.as_ref().map(|f| f.id.0))
            .collect::<Vec<_>>(),
    )
    .execute(&mut *conn)
    .await
    .map_err(db_err)?;
    let ups = &plan.room_updates;
    sqlx::query(
        "UPDATE rooms SET last_seq = u.s, last_message_id = u.m
         FROM UNNEST($1::int8[], $2::int8[], $3::int8[]) AS u(id, s, m) WHERE rooms.id = u.id",
    )
    .bind(ups.iter().map(|u| u.0.0).collect::<Vec<_>>())
    .bind(ups.iter().map(|u| u.1).collect::<Vec<_>>())
    .bind(ups.iter().map(|u| u.2.0).collect::<Vec<_>>())
    .execute(&mut *conn)
    .await
    .map_err(db_err)?;
    sqlx::query("UPDATE counters SET value = $1 WHERE name = 'message_id'")
        .bind(plan.last_id)
        .execute(&mut *conn)
        .await
        .map_err(db_err)?;
    Ok(plan.outcomes)
}
