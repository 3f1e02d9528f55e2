//! Picks the store implementation from the database URL's scheme.

use roomy_core::Config;
use roomy_store::{Store, StoreError};
use roomy_store_postgres::PgStore;
use roomy_store_sqlite::{SqliteOptions, SqliteStore};
use std::sync::Arc;

/// Why no store could be opened.
#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    #[error("unsupported database URL scheme {0:?} (use sqlite:// or postgres://)")]
    UnsupportedScheme(String),
    #[error("cannot open the database")]
    Store(#[from] StoreError),
}

/// Opens the configured database and runs its migrations.
pub async fn open_store(config: &Config) -> Result<Arc<dyn Store>, BackendError> {
    let url = config.effective_database_url();
    let scheme = url.split(':').next().unwrap_or_default();
    match scheme {
        "sqlite" => {
            let opts = SqliteOptions {
                synchronous: config.sqlite_synchronous,
                max_connections: config.db_max_connections,
            };
            Ok(Arc::new(SqliteStore::connect(&url, opts).await?))
        }
        "postgres" | "postgresql" => Ok(Arc::new(
            PgStore::connect(&url, config.db_max_connections).await?,
        )),
        other => Err(BackendError::UnsupportedScheme(other.to_owned())),
    }
}
