//! Schema parity: both backends' migrations, run on fresh databases, must
//! leave the same tables, columns, nullability, type families, primary keys,
//! indexes and unique constraints. The stores share SQL and row types
//! (roomy-store-sql), so a column that exists, or may be NULL, on one
//! backend only is a bug that the contract suite may never reach.
//!
//! What is compared per table:
//! - the set of columns; per column its nullability and its type family
//!   (see [`SQLITE_TYPES`] and [`POSTGRES_TYPES`]);
//! - the primary key's columns, in order;
//! - every other index (explicit ones and those behind UNIQUE constraints)
//!   as a signature: unique or not, key columns in order, partial or not.
//!   Index names are not compared (PostgreSQL and SQLite name constraint
//!   indexes differently), nor the text of expressions or partial-index
//!   predicates (PostgreSQL rewrites it); both only show as `<expr>` and
//!   `partial`.

#![allow(clippy::unwrap_used)]

use roomy_core::config::SqliteSynchronous;
use roomy_store_postgres::{PgStore, testing::fresh_database_url};
use roomy_store_sqlite::{SqliteOptions, SqliteStore};
use sqlx::{Connection, PgConnection, SqliteConnection};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::Path;

/// sqlx's bookkeeping table: its rows differ by design (checksums).
const SQLX_TABLE: &str = "_sqlx_migrations";

/// The one family a column's type belongs to on either backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Family {
    Integer,
    Boolean,
    Text,
    Real,
    Bytes,
}

impl fmt::Display for Family {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Family::Integer => "integer",
            Family::Boolean => "boolean",
            Family::Text => "text",
            Family::Real => "real",
            Family::Bytes => "bytes",
        })
    }
}

/// SQLite declared types (compared case-insensitively). Only `INTEGER`, not
/// `BIGINT`: `INTEGER PRIMARY KEY` alone makes a column the rowid. SQLite has
/// no boolean type: an `INTEGER` column whose table carries
/// `CHECK (<column> IN (0, 1))` is a boolean (see [`is_sqlite_boolean`]).
const SQLITE_TYPES: &[(&str, Family)] = &[
    ("INTEGER", Family::Integer),
    ("TEXT", Family::Text),
    ("REAL", Family::Real),
    ("BLOB", Family::Bytes),
];

/// PostgreSQL types as `information_schema.columns.data_type` names them.
/// Deliberately absent: `integer` and `smallint` (the shared row types decode
/// SQLite's 64-bit integers as i64, which sqlx refuses to read from INT4 or
/// INT2) and `real` (SQLite's REAL is 8 bytes); `character varying` and
/// `timestamp...` (the schema stores text and Unix milliseconds).
const POSTGRES_TYPES: &[(&str, Family)] = &[
    ("bigint", Family::Integer),
    ("boolean", Family::Boolean),
    ("text", Family::Text),
    ("double precision", Family::Real),
    ("bytea", Family::Bytes),
];

/// One column as the catalogue describes it.
#[derive(Debug)]
struct Column {
    /// None when the declared type is not in the backend's mapping table.
    family: Option<Family>,
    /// The type as the catalogue spells it, for messages.
    declared: String,
    not_null: bool,
}

/// An index, without its name: what it indexes and how.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct IndexShape {
    unique: bool,
    /// Key columns in order; expressions as `<expr>`.
    columns: Vec<String>,
    partial: bool,
}

impl fmt::Display for IndexShape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.unique {
            f.write_str("UNIQUE ")?;
        }
        write!(f, "INDEX ({})", self.columns.join(", "))?;
        if self.partial {
            f.write_str(" WHERE ...")?;
        }
        Ok(())
    }
}

/// One table as the catalogue describes it.
#[derive(Debug, Default)]
struct Table {
    columns: BTreeMap<String, Column>,
    primary_key: Vec<String>,
    /// Sorted, duplicates kept: two identical indexes are worth a look too.
    indexes: Vec<IndexShape>,
}

/// Every table of a migrated database but sqlx's.
type Catalogue = BTreeMap<String, Table>;

/// Whether the table's DDL constrains `column` to 0 and 1, the SQLite
/// spelling of a boolean. SQLite keeps the text of `ALTER TABLE ... ADD
/// COLUMN` in the table's `sqlite_master.sql`, so added columns count too.
fn is_sqlite_boolean(table_sql: &str, column: &str) -> bool {
    let squeezed: String = table_sql
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect::<String>()
        .to_lowercase();
    squeezed.contains(&format!("check({}in(0,1))", column.to_lowercase()))
}

fn sqlite_family(declared: &str, table_sql: &str, column: &str) -> Option<Family> {
    let family = SQLITE_TYPES
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case(declared))
        .map(|&(_, family)| family)?;
    if family == Family::Integer && is_sqlite_boolean(table_sql, column) {
        return Some(Family::Boolean);
    }
    Some(family)
}

fn postgres_family(data_type: &str) -> Option<Family> {
    POSTGRES_TYPES
        .iter()
        .find(|(name, _)| *name == data_type)
        .map(|&(_, family)| family)
}

async fn sqlite_catalogue(conn: &mut SqliteConnection) -> Catalogue {
    // sqlite_sequence is SQLite's own table behind AUTOINCREMENT, not ours.
    let tables: Vec<(String, String)> = sqlx::query_as(
        "SELECT name, sql FROM sqlite_master
          WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' AND name <> ?",
    )
    .bind(SQLX_TABLE)
    .fetch_all(&mut *conn)
    .await
    .unwrap();
    let mut catalogue = Catalogue::new();
    for (name, sql) in tables {
        let mut table = Table::default();
        let columns: Vec<(String, String, bool, i64)> =
            sqlx::query_as(r#"SELECT name, type, "notnull", pk FROM pragma_table_info(?)"#)
                .bind(&name)
                .fetch_all(&mut *conn)
                .await
                .unwrap();
        let mut primary_key = Vec::new();
        for (column, declared, not_null, pk) in columns {
            if pk > 0 {
                primary_key.push((pk, column.clone()));
            }
            let family = sqlite_family(&declared, &sql, &column);
            table.columns.insert(
                column,
                Column {
                    family,
                    declared,
                    // pragma reports notnull = 0 for an INTEGER PRIMARY KEY
                    // (the rowid), which can never be NULL.
                    not_null: not_null || pk > 0,
                },
            );
        }
        primary_key.sort();
        table.primary_key = primary_key.into_iter().map(|(_, c)| c).collect();
        let indexes: Vec<(String, bool, String, bool)> =
            sqlx::query_as(r#"SELECT name, "unique", origin, partial FROM pragma_index_list(?)"#)
                .bind(&name)
                .fetch_all(&mut *conn)
                .await
                .unwrap();
        for (index, unique, origin, partial) in indexes {
            // The primary key is compared as `primary_key` above.
            if origin == "pk" {
                continue;
            }
            let keys: Vec<(i64, Option<String>)> =
                sqlx::query_as("SELECT cid, name FROM pragma_index_info(?) ORDER BY seqno")
                    .bind(&index)
                    .fetch_all(&mut *conn)
                    .await
                    .unwrap();
            let columns = keys
                .into_iter()
                .map(|(cid, column)| match column {
                    Some(column) if cid >= 0 => column,
                    _ => "<expr>".to_owned(),
                })
                .collect();
            table.indexes.push(IndexShape {
                unique,
                columns,
                partial,
            });
        }
        table.indexes.sort();
        catalogue.insert(name, table);
    }
    catalogue
}

async fn postgres_catalogue(conn: &mut PgConnection) -> Catalogue {
    let tables: Vec<(String,)> = sqlx::query_as(
        "SELECT table_name::text FROM information_schema.tables
          WHERE table_schema = 'public' AND table_type = 'BASE TABLE' AND table_name <> $1",
    )
    .bind(SQLX_TABLE)
    .fetch_all(&mut *conn)
    .await
    .unwrap();
    let mut catalogue: Catalogue = tables
        .into_iter()
        .map(|(name,)| (name, Table::default()))
        .collect();
    let columns: Vec<(String, String, String, String)> = sqlx::query_as(
        "SELECT table_name::text, column_name::text, data_type::text, is_nullable::text
           FROM information_schema.columns
          WHERE table_schema = 'public' AND table_name <> $1",
    )
    .bind(SQLX_TABLE)
    .fetch_all(&mut *conn)
    .await
    .unwrap();
    for (table, column, data_type, nullable) in columns {
        // Views have columns too; only tables are compared.
        let Some(table) = catalogue.get_mut(&table) else {
            continue;
        };
        table.columns.insert(
            column,
            Column {
                family: postgres_family(&data_type),
                declared: data_type,
                not_null: nullable == "NO",
            },
        );
    }
    // int2vector subscripts start at 0; indkey 0 marks an expression.
    let indexes: Vec<(String, bool, bool, bool, Vec<String>)> = sqlx::query_as(
        "SELECT t.relname::text, i.indisprimary, i.indisunique, i.indpred IS NOT NULL,
                ARRAY(SELECT CASE WHEN i.indkey[k - 1] = 0 THEN '<expr>'
                                  ELSE pg_get_indexdef(i.indexrelid, k, true) END
                        FROM generate_series(1, i.indnkeyatts) AS k ORDER BY k)
           FROM pg_index i
           JOIN pg_class t ON t.oid = i.indrelid
           JOIN pg_namespace n ON n.oid = t.relnamespace
          WHERE n.nspname = 'public' AND t.relname <> $1",
    )
    .bind(SQLX_TABLE)
    .fetch_all(&mut *conn)
    .await
    .unwrap();
    for (table, primary, unique, partial, columns) in indexes {
        let Some(table) = catalogue.get_mut(&table) else {
            continue;
        };
        if primary {
            table.primary_key = columns;
        } else {
            table.indexes.push(IndexShape {
                unique,
                columns,
                partial,
            });
        }
    }
    for table in catalogue.values_mut() {
        table.indexes.sort();
    }
    catalogue
}

/// Columns whose declared type is in neither mapping table: a new type must
/// be given a family here on purpose, not compared by accident.
fn unmapped(backend: &str, catalogue: &Catalogue, problems: &mut Vec<String>) {
    for (table, t) in catalogue {
        for (column, c) in &t.columns {
            if c.family.is_none() {
                problems.push(format!(
                    "{table}.{column}: {backend} type {:?} has no family; map it in \
                     schema_parity.rs if it is meant",
                    c.declared
                ));
            }
        }
    }
}

fn describe(c: &Column) -> String {
    let family = c.family.map_or("unmapped".to_owned(), |f| f.to_string());
    let null = if c.not_null { "NOT NULL" } else { "NULL" };
    format!("{family} {null} ({})", c.declared)
}

/// Every difference between the two catalogues, one line each.
fn differences(sqlite: &Catalogue, postgres: &Catalogue) -> Vec<String> {
    let mut out = Vec::new();
    unmapped("sqlite", sqlite, &mut out);
    unmapped("postgres", postgres, &mut out);
    let names: BTreeSet<&String> = sqlite.keys().chain(postgres.keys()).collect();
    for name in names {
        let (s, p) = match (sqlite.get(name), postgres.get(name)) {
            (Some(s), Some(p)) => (s, p),
            (s, _) => {
                let (has, lacks) = if s.is_some() {
                    ("sqlite", "postgres")
                } else {
                    ("postgres", "sqlite")
                };
                out.push(format!("{name}: table in {has}, absent in {lacks}"));
                continue;
            }
        };
        let columns: BTreeSet<&String> = s.columns.keys().chain(p.columns.keys()).collect();
        for column in columns {
            match (s.columns.get(column), p.columns.get(column)) {
                (Some(sc), Some(pc)) => {
                    // Unmapped types are reported above, once per backend.
                    if let (Some(sf), Some(pf)) = (sc.family, pc.family)
                        && sf != pf
                    {
                        out.push(format!(
                            "{name}.{column}: type: sqlite says {sf} ({}), postgres says {pf} ({})",
                            sc.declared, pc.declared
                        ));
                    }
                    if sc.not_null != pc.not_null {
                        let says = |nn: bool| if nn { "NOT NULL" } else { "NULL" };
                        out.push(format!(
                            "{name}.{column}: nullability: sqlite says {}, postgres says {}",
                            says(sc.not_null),
                            says(pc.not_null)
                        ));
                    }
                }
                (Some(sc), None) => out.push(format!(
                    "{name}.{column}: sqlite says {}, postgres says absent",
                    describe(sc)
                )),
                (None, Some(pc)) => out.push(format!(
                    "{name}.{column}: sqlite says absent, postgres says {}",
                    describe(pc)
                )),
                (None, None) => unreachable!("column names come from the two tables"),
            }
        }
        if s.primary_key != p.primary_key {
            out.push(format!(
                "{name}: primary key: sqlite says ({}), postgres says ({})",
                s.primary_key.join(", "),
                p.primary_key.join(", ")
            ));
        }
        // Multiset difference of the two sorted index lists.
        let mut only_postgres = p.indexes.clone();
        for index in &s.indexes {
            match only_postgres.iter().position(|i| i == index) {
                Some(at) => {
                    only_postgres.remove(at);
                }
                None => out.push(format!("{name}: {index}: sqlite has it, postgres does not")),
            }
        }
        for index in only_postgres {
            out.push(format!("{name}: {index}: postgres has it, sqlite does not"));
        }
    }
    out
}

fn migration_names(dir: &Path) -> BTreeSet<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".sql"))
        .collect()
}

#[test]
fn migration_files_pair_up() {
    // sqlx records migrations by version and description, both taken from
    // the file name: the backends must number and name them alike.
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    let postgres = migration_names(&here.join("migrations"));
    let sqlite = migration_names(&here.join("../roomy-store-sqlite/migrations"));
    assert!(!postgres.is_empty(), "no PostgreSQL migrations found");
    assert_eq!(sqlite, postgres, "migration files differ between backends");
}

#[tokio::test]
async fn schemas_match() {
    // Skips (with a note) or fails exactly as the other PostgreSQL suites do.
    let Some(url) = fresh_database_url().await else {
        return;
    };
    PgStore::connect(&url, 2).await.expect("migrate postgres");
    let mut pg = PgConnection::connect(&url).await.unwrap();
    let postgres = postgres_catalogue(&mut pg).await;
    pg.close().await.ok();

    let dir = tempfile::tempdir().unwrap();
    let sqlite_url = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("roomy.db").display()
    );
    let opts = SqliteOptions {
        synchronous: SqliteSynchronous::Normal,
        max_connections: 2,
    };
    SqliteStore::connect(&sqlite_url, opts)
        .await
        .expect("migrate sqlite");
    let mut lite = SqliteConnection::connect(&sqlite_url).await.unwrap();
    let sqlite = sqlite_catalogue(&mut lite).await;
    lite.close().await.ok();

    // A broken catalogue query would make both sides empty and equal.
    assert!(
        sqlite.contains_key("users") && postgres.contains_key("users"),
        "catalogue queries found no users table: sqlite {:?}, postgres {:?}",
        sqlite.keys().collect::<Vec<_>>(),
        postgres.keys().collect::<Vec<_>>()
    );
    let diffs = differences(&sqlite, &postgres);
    assert!(
        diffs.is_empty(),
        "the SQLite and PostgreSQL schemas differ ({} differences):\n  {}",
        diffs.len(),
        diffs.join("\n  ")
    );
}

#[tokio::test]
async fn sqlite_types_are_all_mapped() {
    // Runs without PostgreSQL too, so an unmapped SQLite type is caught everywhere.
    let dir = tempfile::tempdir().unwrap();
    let url = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("roomy.db").display()
    );
    let opts = SqliteOptions {
        synchronous: SqliteSynchronous::Normal,
        max_connections: 2,
    };
    SqliteStore::connect(&url, opts)
        .await
        .expect("migrate sqlite");
    let mut lite = SqliteConnection::connect(&url).await.unwrap();
    let catalogue = sqlite_catalogue(&mut lite).await;
    lite.close().await.ok();
    let mut problems = Vec::new();
    unmapped("sqlite", &catalogue, &mut problems);
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    // The boolean rule must see columns added by ALTER TABLE too.
    let users = &catalogue["users"];
    assert_eq!(users.columns["disabled"].family, Some(Family::Boolean));
    assert_eq!(users.columns["read_receipts"].family, Some(Family::Boolean));
    assert_eq!(users.columns["graph_version"].family, Some(Family::Integer));
}

#[test]
fn differences_are_all_listed() {
    fn column(family: Option<Family>, declared: &str, not_null: bool) -> Column {
        Column {
            family,
            declared: declared.to_owned(),
            not_null,
        }
    }
    let mut sqlite = Catalogue::new();
    let mut postgres = Catalogue::new();
    let s = sqlite.entry("t".to_owned()).or_default();
    s.columns
        .insert("a".into(), column(Some(Family::Boolean), "INTEGER", true));
    s.columns
        .insert("b".into(), column(Some(Family::Text), "TEXT", false));
    s.columns
        .insert("only_lite".into(), column(Some(Family::Text), "TEXT", true));
    s.indexes.push(IndexShape {
        unique: true,
        columns: vec!["b".into()],
        partial: false,
    });
    let p = postgres.entry("t".to_owned()).or_default();
    p.columns
        .insert("a".into(), column(Some(Family::Integer), "bigint", true));
    p.columns
        .insert("b".into(), column(Some(Family::Text), "text", true));
    p.columns.insert("c".into(), column(None, "integer", true));
    sqlite.insert("only_sqlite".into(), Table::default());

    let diffs = differences(&sqlite, &postgres);
    let expected = [
        "t.c: postgres type \"integer\" has no family; map it in schema_parity.rs if it is meant",
        "only_sqlite: table in sqlite, absent in postgres",
        "t.a: type: sqlite says boolean (INTEGER), postgres says integer (bigint)",
        "t.b: nullability: sqlite says NULL, postgres says NOT NULL",
        "t.c: sqlite says absent, postgres says unmapped NOT NULL (integer)",
        "t.only_lite: sqlite says text NOT NULL (TEXT), postgres says absent",
        "t: UNIQUE INDEX (b): sqlite has it, postgres does not",
    ];
    assert_eq!(diffs, expected);
}
