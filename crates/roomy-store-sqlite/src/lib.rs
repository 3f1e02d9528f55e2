//! SQLite implementation of [`roomy_store::Store`]: the zero-configuration
//! default. WAL journal, foreign keys on, `synchronous` chosen by configuration.

mod append;

pub use append::LiteTx;

use roomy_core::config::SqliteSynchronous;
use roomy_store::{StoreError, StoreResult};
use roomy_store_sql::{SqlStore, db_err};
use sqlx::{
    SqlitePool,
    sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions},
};
use std::{str::FromStr, sync::Arc, time::Duration};

/// How to open the database.
#[derive(Debug, Clone)]
pub struct SqliteOptions {
    pub synchronous: SqliteSynchronous,
    pub max_connections: u32,
}

/// The SQLite backend of [`SqlStore`].
#[derive(Debug, Clone, Default)]
pub struct Lite {
    /// One write transaction at a time (see [`LiteTx`]).
    write_turn: Arc<tokio::sync::Mutex<()>>,
}

/// A SQLite-backed store.
pub type SqliteStore = SqlStore<Lite>;

/// Opens (creating if needed) the database at `url` and runs pending migrations.
async fn connect(url: &str, opts: SqliteOptions) -> StoreResult<SqliteStore> {
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
    Ok(SqlStore::new(pool, Lite::default()))
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
