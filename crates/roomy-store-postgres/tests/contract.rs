//! The store contract, run against a fresh PostgreSQL database per test.

use roomy_store_postgres::{PgStore, testing::fresh_database_url};

async fn fresh() -> Option<PgStore> {
    let url = fresh_database_url().await?;
    Some(PgStore::connect(&url, 4).await.expect("connect postgres"))
}

roomy_store::contract_tests!(fresh());
