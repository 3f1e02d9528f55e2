//! Test support: a fresh, empty PostgreSQL database per test, created on the
//! server named by `ROOMY_TEST_POSTGRES_URL`.
//!
//! Without that variable the PostgreSQL suites are skipped, and say so on the
//! terminal once per test binary; with `ROOMY_TEST_REQUIRE_SERVICES=1` (set by
//! CI) a missing or unreachable server fails the tests instead.

#![allow(clippy::unwrap_used)]

use sqlx::{Connection, PgConnection};
use std::io::Write;
use std::sync::Once;

/// The environment variable naming the PostgreSQL server for tests.
pub const URL_VAR: &str = "ROOMY_TEST_POSTGRES_URL";

/// When set to 1, absent services fail tests instead of skipping them.
pub const REQUIRE_VAR: &str = "ROOMY_TEST_REQUIRE_SERVICES";

static SKIP_NOTICE: Once = Once::new();

/// Creates a new database and returns its URL, or `None` (skip) when no server is configured.
pub async fn fresh_database_url() -> Option<String> {
    let Ok(base) = std::env::var(URL_VAR) else {
        if std::env::var(REQUIRE_VAR).as_deref() == Ok("1") {
            panic!("{URL_VAR} is not set but {REQUIRE_VAR}=1: the PostgreSQL suite must run");
        }
        SKIP_NOTICE.call_once(|| {
            // Written straight to the terminal: the test harness captures print!/eprint!.
            let _ = writeln!(
                std::io::stderr(),
                "note: PostgreSQL tests skipped ({URL_VAR} is not set; see README)"
            );
        });
        return None;
    };
    let mut admin = PgConnection::connect(&base)
        .await
        .unwrap_or_else(|e| panic!("cannot reach PostgreSQL at {URL_VAR}: {e}"));
    let name = format!("roomy_t_{:016x}", rand::random::<u64>());
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut admin)
        .await
        .unwrap();
    admin.close().await.ok();
    let mut url = url::Url::parse(&base).unwrap();
    url.set_path(&format!("/{name}"));
    Some(url.to_string())
}
