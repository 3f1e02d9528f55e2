//! Files, uploads and jobs on PostgreSQL: the shared SQL, locking the
//! uploader's row for quota checks and skipping jobs other runners hold.

use crate::PgStore;
use sqlx::PgConnection;

roomy_store_sql::file_store_impl!(
    PgStore,
    PgConnection,
    " FOR UPDATE",
    " FOR UPDATE SKIP LOCKED"
);
