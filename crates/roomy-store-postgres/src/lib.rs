//! PostgreSQL implementation of [`roomy_store::Store`], for installs that
//! outgrow one machine: several Roomy nodes share one database.

mod chat;
mod files;
#[cfg(feature = "testing")]
pub mod testing;

use roomy_store::{StoreError, StoreResult};
use roomy_store_sql::db_err;
use sqlx::{
    PgPool,
    postgres::{PgConnectOptions, PgPoolOptions},
};
use std::{str::FromStr, time::Duration};

/// A PostgreSQL-backed store.
#[derive(Debug, Clone)]
pub struct PgStore {
    pool: PgPool,
}

impl PgStore {
    /// Connects to `url` and runs pending migrations.
    pub async fn connect(url: &str, max_connections: u32) -> StoreResult<PgStore> {
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
        Ok(PgStore { pool })
    }
}

roomy_store_sql::account_store_impl!(PgStore);
