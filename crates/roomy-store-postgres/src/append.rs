//! Rooms and messages on PostgreSQL. The group commit is set-based: a batch
//! costs a fixed handful of round trips (arrays in, `UNNEST` out), whatever
//! its size. Rooms are locked in id order and the message-id counter row is
//! locked until commit, so writers on several nodes neither deadlock nor
//! commit ids out of order.

use crate::{Pg, PgStore};
use roomy_core::{clock::to_millis, social_fields::DirectPolicy};
use roomy_store::{AppendOutcome, NewMessage, StoreResult};
use roomy_store_sql::{
    Backend,
    chat::{BatchInputs, MESSAGE_COLUMNS, MESSAGE_FILE_JOIN, MessageRow, batch_ids, plan_batch},
    db_err,
};
use sqlx::{AssertSqlSafe, PgConnection, PgPool};
use std::future::Future;
use time::OffsetDateTime;

impl Backend for Pg {
    type Db = sqlx::Postgres;
    type Options = u32;
    type Tx = sqlx::Transaction<'static, sqlx::Postgres>;
    const FOR_UPDATE: &'static str = " FOR UPDATE";
    // NO KEY UPDATE: serialises changes to a row without blocking the
    // foreign-key checks (KEY SHARE) of inserts that reference it (members
    // and messages of a locked room, relations of a locked user).
    const FOR_NO_KEY_UPDATE: &'static str = " FOR NO KEY UPDATE";
    const FOR_KEY_SHARE: &'static str = " FOR KEY SHARE";
    const FOR_UPDATE_SKIP_LOCKED: &'static str = " FOR UPDATE SKIP LOCKED";

    fn connect(
        url: &str,
        max_connections: u32,
    ) -> impl Future<Output = StoreResult<PgStore>> + Send {
        crate::connect(url, max_connections)
    }

    async fn begin_write(&self, pool: &PgPool) -> StoreResult<Self::Tx> {
        pool.begin().await.map_err(db_err)
    }

    fn rows_affected(done: &sqlx::postgres::PgQueryResult) -> u64 {
        done.rows_affected()
    }

    fn append_in<'a>(
        conn: &'a mut PgConnection,
        batch: &'a [NewMessage],
        policy: DirectPolicy,
        now: OffsetDateTime,
    ) -> impl Future<Output = StoreResult<Vec<AppendOutcome>>> + Send + 'a {
        append_in(conn, batch, policy, now)
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
