//! What a SQL backend supplies to the shared store: its sqlx database, its
//! row-lock clauses, how a write transaction starts and ends, and the group
//! commit's batch insert. Everything else is [`SqlStore`]'s generic code.
//!
//! Every generic `impl` of the shared code repeats one `where` clause (the
//! database must execute on its connections, bind and decode `i64`, `bool`
//! and text, and index rows by name and position). Rust does not carry
//! where clauses of a trait to its users (only supertraits), so the clause
//! cannot live in [`Backend`] itself; [`Col`] keeps it short.

use roomy_core::social_fields::DirectPolicy;
use roomy_store::{AppendOutcome, NewMessage, StoreResult};
use sqlx::{Database, Decode, Encode, Pool, Type};
use std::{future::Future, ops::DerefMut};
use time::OffsetDateTime;

/// A connection of backend `B`'s database.
pub type Conn<B> = <<B as Backend>::Db as Database>::Connection;

/// A row of backend `B`'s database.
pub type DbRow<B> = <<B as Backend>::Db as Database>::Row;

/// The bound arguments of a statement on backend `B`'s database.
pub type Args<B> = <<B as Backend>::Db as Database>::Arguments;

/// A value type the database binds and decodes.
pub trait Col<DB: Database>: for<'q> Encode<'q, DB> + for<'r> Decode<'r, DB> + Type<DB> {}

impl<DB: Database, T> Col<DB> for T where
    T: for<'q> Encode<'q, DB> + for<'r> Decode<'r, DB> + Type<DB>
{
}

/// A write transaction: a connection until it commits.
pub trait WriteTx: DerefMut + Send {
    /// Commits (and lets the next writer in).
    fn commit(self) -> impl Future<Output = Result<(), sqlx::Error>> + Send;
}

impl<DB: Database> WriteTx for sqlx::Transaction<'static, DB> {
    fn commit(self) -> impl Future<Output = Result<(), sqlx::Error>> + Send {
        sqlx::Transaction::commit(self)
    }
}

/// What differs between the SQL backends.
pub trait Backend: Send + Sync + Sized + 'static {
    /// The sqlx database.
    type Db: Database;

    /// How to open it.
    type Options: Send;

    /// A write transaction on it.
    type Tx: WriteTx<Target = Conn<Self>>;

    /// Appended to a `SELECT` that must hold its rows until commit against
    /// every other writer (`FOR UPDATE` on PostgreSQL; nothing on SQLite,
    /// whose write transaction holds the whole database).
    const FOR_UPDATE: &'static str;

    /// Like [`Backend::FOR_UPDATE`], but letting inserts that only reference
    /// the locked rows through (`FOR NO KEY UPDATE`): their foreign-key
    /// checks take a weaker lock.
    const FOR_NO_KEY_UPDATE: &'static str;

    /// A shared lock that only keeps the row from being locked for update
    /// or deleted meanwhile (`FOR KEY SHARE`): what a foreign-key check
    /// takes, taken early to keep the lock order.
    const FOR_KEY_SHARE: &'static str;

    /// Like [`Backend::FOR_UPDATE`], skipping rows other transactions hold
    /// (job claims: runners on several nodes never take the same job).
    const FOR_UPDATE_SKIP_LOCKED: &'static str;

    /// Opens the database (running pending migrations).
    fn connect(
        url: &str,
        options: Self::Options,
    ) -> impl Future<Output = StoreResult<SqlStore<Self>>> + Send;

    /// Starts a write transaction.
    fn begin_write(
        &self,
        pool: &Pool<Self::Db>,
    ) -> impl Future<Output = StoreResult<Self::Tx>> + Send;

    /// How many rows a statement changed.
    fn rows_affected(done: &<Self::Db as Database>::QueryResult) -> u64;

    /// Appends a batch inside an open transaction: the group commit (also
    /// used for system notices). Each backend does it its own way, with a
    /// fixed handful of statements per batch; the rules are
    /// [`crate::chat::plan_batch`]'s.
    fn append_in<'a>(
        conn: &'a mut Conn<Self>,
        batch: &'a [NewMessage],
        policy: DirectPolicy,
        now: OffsetDateTime,
    ) -> impl Future<Output = StoreResult<Vec<AppendOutcome>>> + Send + 'a;
}

/// The store over a SQL backend: the pool, and the backend's own state.
#[derive(Debug)]
pub struct SqlStore<B: Backend> {
    pub(crate) pool: Pool<B::Db>,
    pub(crate) backend: B,
}

impl<B: Backend + Clone> Clone for SqlStore<B> {
    fn clone(&self) -> Self {
        SqlStore {
            pool: self.pool.clone(),
            backend: self.backend.clone(),
        }
    }
}

impl<B: Backend> SqlStore<B> {
    /// Opens the database at `url` (running pending migrations).
    pub async fn connect(url: &str, options: B::Options) -> StoreResult<SqlStore<B>> {
        B::connect(url, options).await
    }

    /// A store over a migrated pool.
    pub fn new(pool: Pool<B::Db>, backend: B) -> SqlStore<B> {
        SqlStore { pool, backend }
    }

    /// The connection pool.
    pub fn pool(&self) -> &Pool<B::Db> {
        &self.pool
    }

    /// Starts a write transaction. Every write goes through here, even a
    /// single statement: on SQLite it is the one queue writers wait in.
    pub async fn write_tx(&self) -> StoreResult<B::Tx> {
        self.backend.begin_write(&self.pool).await
    }
}
