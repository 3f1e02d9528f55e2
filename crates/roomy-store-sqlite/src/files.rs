//! Files, uploads and jobs on SQLite: the shared SQL, with no row locks
//! (the write transaction holds the database's write lock).

use crate::SqliteStore;
use sqlx::SqliteConnection;

roomy_store_sql::file_store_impl!(SqliteStore, SqliteConnection, "", "");
