//! The hot cache of the follow graph (who follows whom).
//!
//! The database is the source of truth. Every user has a *graph version*,
//! bumped in the same transaction as any change to that user's following or
//! followers set. Readers read the version from the database first and then
//! ask the cache for data at exactly that version; a miss (`None`) makes them
//! load the sets from the database and [`fill`](Cache::fill) the cache.
//! Writers, after commit, [`apply`](Cache::apply) the change from version
//! `from` to `to`: an entry at exactly `from` is edited in place and moves to
//! `to`, an entry at any other version is dropped.
//!
//! Because every read names the version, a stale entry is never served, even
//! when an `apply` is lost (crash, Redis down): the cache can only cost a
//! miss, never a wrong answer. That is why no method here needs to be
//! transactional with the database.
//!
//! Two implementations: [`InProcessCache`] (one node, the default) and
//! [`RedisCache`] (shared by several nodes). Both order entries by
//! `(followed_at DESC, user id DESC)`, so pages and cursors are the same
//! whichever is configured.

mod memory;
mod redis_cache;

#[cfg(test)]
mod contract;

pub use memory::InProcessCache;
pub use redis_cache::RedisCache;
pub use roomy_core::UserId;

/// followed_at in milliseconds since the Unix epoch.
pub type Millis = i64;

/// One user's follow sets as the database has them at `version`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FollowSets {
    /// The user's graph version these sets were read at.
    pub version: i64,
    /// Users this user follows, with when they were followed.
    pub following: Vec<(UserId, Millis)>,
    /// Users following this user, with when they followed.
    pub followers: Vec<(UserId, Millis)>,
}

/// One edit of a user's sets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Edit {
    /// The user followed someone (again: a re-follow carries the new time).
    AddFollowing(UserId, Millis),
    /// The user unfollowed someone.
    RemoveFollowing(UserId),
    /// Someone followed the user.
    AddFollower(UserId, Millis),
    /// Someone stopped following the user.
    RemoveFollower(UserId),
}

/// A committed change of one user's sets, from graph version `from` to `to`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetChange {
    /// Whose sets changed.
    pub user: UserId,
    /// The graph version before the change.
    pub from: i64,
    /// The graph version the change committed.
    pub to: i64,
    /// What changed, in order.
    pub edits: Vec<Edit>,
}

/// Why the cache could not answer; callers fall back to the database.
#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    /// The backing service failed or answered something unexpected.
    #[error("cache unavailable: {0}")]
    Unavailable(String),
}

/// The result of a cache call.
pub type CacheResult<T> = Result<T, CacheError>;

/// What the cache knows of one user relative to another, at one version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Relation {
    /// The user follows the other.
    pub following: bool,
    /// The other follows the user.
    pub followed_by: bool,
}

/// The follow-graph cache; every read is answered only at exactly the asked version.
#[async_trait::async_trait]
pub trait Cache: Send + Sync + 'static {
    /// `(following count, followers count)` of `user` if cached at exactly `version`.
    async fn counts(&self, user: UserId, version: i64) -> CacheResult<Option<(u64, u64)>>;

    /// Whether `user` follows `other` and `other` follows `user`, if cached at exactly `version`.
    async fn relation(
        &self,
        user: UserId,
        version: i64,
        other: UserId,
    ) -> CacheResult<Option<Relation>>;

    /// A page of users in BOTH of `user`'s sets (mutual follows), ordered by the time `user`
    /// followed them (DESC), then user id DESC, strictly after the cursor `(followed_at, id)`;
    /// at most `limit`. Each item is (other user, the time `user` followed them).
    /// None if not cached at exactly `version`.
    async fn mutual(
        &self,
        user: UserId,
        version: i64,
        after: Option<(Millis, UserId)>,
        limit: usize,
    ) -> CacheResult<Option<Vec<(UserId, Millis)>>>;

    /// Stores `sets` for `user` unless an entry at a newer version is already cached.
    async fn fill(&self, user: UserId, sets: FollowSets) -> CacheResult<()>;

    /// Applies committed changes in order (at `from` → edited and moved to `to`; otherwise dropped).
    async fn apply(&self, changes: &[SetChange]) -> CacheResult<()>;

    /// Short name for logs and metrics: "memory" or "redis".
    fn kind(&self) -> &'static str;
}

/// Whether `(t, id)` comes strictly after the cursor in `(followed_at DESC, id DESC)` order.
fn is_after(cursor: Option<(Millis, UserId)>, t: Millis, id: UserId) -> bool {
    cursor.is_none_or(|c| (t, id) < c)
}
