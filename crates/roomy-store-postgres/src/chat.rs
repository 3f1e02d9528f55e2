//! Rooms and messages on PostgreSQL. The group commit is set-based: a batch
//! costs a fixed handful of round trips (arrays in, `UNNEST` out), whatever
//! its size. Rooms are locked in id order and the message-id counter row is
//! locked until commit, so writers on several nodes neither deadlock nor
//! commit ids out of order.

use crate::PgStore;
use sqlx::PgConnection;

roomy_store_sql::chat_store_impl!(PgStore, PgConnection);

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
    now: OffsetDateTime,
) -> StoreResult<Vec<AppendOutcome>> {
    let mut room_ids: Vec<i64> = batch.iter().map(|m| m.room_id.0).collect();
    room_ids.sort_unstable();
    room_ids.dedup();
    let locked: Vec<(i64, i64)> =
        sqlx::query_as("SELECT id, last_seq FROM rooms WHERE id = ANY($1) ORDER BY id FOR UPDATE")
            .bind(&room_ids)
            .fetch_all(&mut *conn)
            .await
            .map_err(db_err)?;
    let member_rows: Vec<(i64, i64)> =
        sqlx::query_as("SELECT room_id, user_id FROM room_members WHERE room_id = ANY($1)")
            .bind(&room_ids)
            .fetch_all(&mut *conn)
            .await
            .map_err(db_err)?;
    let mut rooms: HashMap<RoomId, Option<RoomState>> =
        room_ids.iter().map(|id| (RoomId(*id), None)).collect();
    for (id, last_seq) in locked {
        rooms.insert(
            RoomId(id),
            Some(RoomState {
                last_seq,
                members: Vec::new(),
            }),
        );
    }
    for (room, user) in member_rows {
        if let Some(Some(state)) = rooms.get_mut(&RoomId(room)) {
            state.members.push(UserId(user));
        }
    }

    let mut sender_ids: Vec<i64> = batch.iter().map(|m| m.sender_id.0).collect();
    sender_ids.sort_unstable();
    sender_ids.dedup();
    let senders: HashMap<UserId, UserBrief> = sqlx::query_as::<_, (i64, String, Option<String>)>(
        "SELECT id, nickname, avatar FROM users WHERE id = ANY($1)",
    )
    .bind(&sender_ids)
    .fetch_all(&mut *conn)
    .await
    .map_err(db_err)?
    .into_iter()
    .map(|(id, nickname, avatar)| {
        (
            UserId(id),
            UserBrief {
                id: UserId(id),
                nickname,
                avatar,
            },
        )
    })
    .collect();

    let keyed: Vec<&NewMessage> = batch.iter().filter(|m| m.client_id.is_some()).collect();
    let mut originals = HashMap::new();
    if !keyed.is_empty() {
        let sql = format!(
            "SELECT {MESSAGE_COLUMNS} FROM messages m JOIN users u ON u.id = m.sender_id
             JOIN UNNEST($1::int8[], $2::int8[], $3::text[]) AS k(room_id, sender_id, client_id)
               ON m.room_id = k.room_id AND m.sender_id = k.sender_id
              AND m.client_id = k.client_id"
        );
        let rows = sqlx::query_as::<_, MessageRow>(AssertSqlSafe(sql))
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
        for row in rows {
            let m = row.into_message()?;
            if let Some(c) = m.client_id.clone() {
                originals.insert((m.room_id, m.sender.id, c), m);
            }
        }
    }

    let last_id: i64 =
        sqlx::query_scalar("SELECT value FROM counters WHERE name = 'message_id' FOR UPDATE")
            .fetch_one(&mut *conn)
            .await
            .map_err(db_err)?;
    let plan = plan_batch(batch, rooms, originals, &senders, last_id, now);
    if plan.inserts.is_empty() {
        return Ok(plan.outcomes);
    }
    let ins = &plan.inserts;
    sqlx::query(
        "INSERT INTO messages (id, room_id, seq, sender_id, client_id, kind, body, created_at)
         SELECT * FROM UNNEST($1::int8[], $2::int8[], $3::int8[], $4::int8[], $5::text[],
                              $6::text[], $7::text[], $8::int8[])",
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
