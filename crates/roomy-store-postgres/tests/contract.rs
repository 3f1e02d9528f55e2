//! The store contract, run against a fresh PostgreSQL database per check.

use roomy_store_postgres::{PgStore, testing::fresh_database_url};
use std::process::ExitCode;

async fn fresh() -> Option<PgStore> {
    let url = fresh_database_url().await?;
    Some(PgStore::connect(&url, 4).await.expect("connect postgres"))
}

fn main() -> ExitCode {
    roomy_store_testkit::run(fresh)
}
