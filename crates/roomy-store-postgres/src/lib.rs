//! PostgreSQL implementation of [`roomy_store::Store`], for installs that
//! outgrow one machine: several Roomy nodes share one database.

mod append;
#[cfg(feature = "testing")]
pub mod testing;

use roomy_store::{StoreError, StoreResult};
use roomy_store_sql::{SqlStore, db_err};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use std::{str::FromStr, time::Duration};

/// The PostgreSQL backend of [`SqlStore`].
#[derive(Debug, Clone, Copy, Default)]
pub struct Pg;

/// A PostgreSQL-backed store.
pub type PgStore = SqlStore<Pg>;

/// Connects to `url` with at most `max_connections` and runs pending migrations.
async fn connect(url: &str, max_connections: u32) -> StoreResult<PgStore> {
    let connect = PgConnectOptions::from_str(url).map_err(db_err)?;
    let pool = PgPoolOptions::new()
        .max_connections(max_connections)
        .acquire_timeout(Duration::from_secs(10))
        .connect_with(connect)
        .await
        .map_err(db_err)?;
    sqlx::migrate!("./migrations")
        .run(&pool)
        .await
        .map_err(|e| StoreError::Database(Box::new(e)))?;
    Ok(SqlStore::new(pool, Pg))
}
