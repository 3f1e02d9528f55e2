//! The store contract, run against a fresh SQLite file per check.

use roomy_core::config::SqliteSynchronous;
use roomy_store_sqlite::{SqliteOptions, SqliteStore};
use std::process::ExitCode;

async fn fresh() -> Option<SqliteStore> {
    // Leaked on purpose: the folder must outlive the pool; the OS cleans /tmp.
    let dir = tempfile::tempdir().expect("tempdir").keep();
    let url = format!("sqlite://{}?mode=rwc", dir.join("roomy.db").display());
    let opts = SqliteOptions {
        synchronous: SqliteSynchronous::Normal,
        max_connections: 4,
    };
    Some(SqliteStore::connect(&url, opts).await.expect("open sqlite"))
}

fn main() -> ExitCode {
    roomy_store_testkit::run(fresh)
}
