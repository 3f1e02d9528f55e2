//! Reading the follow graph: the store is the truth, the [`Cache`] makes it fast.
//!
//! Every read first asks the store for the user's graph version (one
//! primary-key lookup), then asks the cache for data *at that version*. A
//! miss loads both sets from the store in one statement, answers from them
//! and fills the cache. Writers bump the version in the same transaction as
//! the change and hand the deltas to [`FollowGraph::applied`], which edits
//! the cached sets in place. A lost or failed cache update can never be
//! served: the next read names a version the cache does not have.

use roomy_cache::{Cache, Edit, FollowSets, SetChange};
use roomy_core::UserId;
use roomy_store::{GraphDelta, GraphEdit, GraphSnapshot, Store, StoreError};
use std::{collections::HashSet, sync::Arc};

pub use roomy_cache::Relation;

/// Why a graph read failed.
#[derive(Debug, thiserror::Error)]
pub enum GraphError {
    /// The store failed (the cache failing only costs speed).
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What a read asks of one user's sets.
enum Query {
    Counts,
    Relation(UserId),
    Mutual(Option<(i64, UserId)>, usize),
}

/// The answer to a [`Query`].
enum Answer {
    Counts(u64, u64),
    Relation(Relation),
    Mutual(Vec<(UserId, i64)>),
}

/// The follow-graph reader (and cache maintainer) shared by the API.
#[derive(Clone)]
pub struct FollowGraph {
    store: Arc<dyn Store>,
    cache: Arc<dyn Cache>,
}

impl std::fmt::Debug for FollowGraph {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "FollowGraph({})", self.cache.kind())
    }
}

impl FollowGraph {
    /// A reader over `store` caching in `cache`.
    pub fn new(store: Arc<dyn Store>, cache: Arc<dyn Cache>) -> FollowGraph {
        FollowGraph { store, cache }
    }

    /// `(following, followers)` counts; `None` for a missing user.
    pub async fn counts(&self, user: UserId) -> Result<Option<(u64, u64)>, GraphError> {
        Ok(match self.read(user, Query::Counts).await? {
            Some(Answer::Counts(a, b)) => Some((a, b)),
            _ => None,
        })
    }

    /// Whether `user` follows `other` and `other` follows `user`.
    pub async fn relation(&self, user: UserId, other: UserId) -> Result<Relation, GraphError> {
        Ok(match self.read(user, Query::Relation(other)).await? {
            Some(Answer::Relation(r)) => r,
            _ => Relation {
                following: false,
                followed_by: false,
            },
        })
    }

    /// A page of `user`'s mutual follows (newest follow by `user` first,
    /// strictly after the `(ms, id)` cursor), with the time `user` followed
    /// each; `None` for a missing user.
    pub async fn mutual(
        &self,
        user: UserId,
        after: Option<(i64, UserId)>,
        limit: usize,
    ) -> Result<Option<Vec<(UserId, i64)>>, GraphError> {
        Ok(match self.read(user, Query::Mutual(after, limit)).await? {
            Some(Answer::Mutual(v)) => Some(v),
            _ => None,
        })
    }

    /// Brings cached sets along with committed changes. Failures are logged:
    /// readers compare versions, so a missed update is only a later miss.
    pub async fn applied(&self, deltas: &[GraphDelta]) {
        if deltas.is_empty() {
            return;
        }
        let changes: Vec<SetChange> = deltas.iter().map(set_change).collect();
        if let Err(e) = self.cache.apply(&changes).await {
            tracing::warn!(error = %e, cache = self.cache.kind(), "follow cache update failed");
        }
    }

    async fn read(&self, user: UserId, query: Query) -> Result<Option<Answer>, GraphError> {
        let Some(version) = self.store.graph_version(user).await? else {
            return Ok(None);
        };
        match self.ask_cache(user, version, &query).await {
            Ok(Some(answer)) => return Ok(Some(answer)),
            Ok(None) => {}
            Err(e) => {
                tracing::warn!(error = %e, cache = self.cache.kind(), "follow cache read failed");
            }
        }
        let Some(snapshot) = self.store.graph_snapshot(user).await? else {
            return Ok(None);
        };
        let answer = answer_from(&snapshot, &query);
        if let Err(e) = self.cache.fill(user, follow_sets(snapshot)).await {
            tracing::warn!(error = %e, cache = self.cache.kind(), "follow cache fill failed");
        }
        Ok(Some(answer))
    }

    async fn ask_cache(
        &self,
        user: UserId,
        version: i64,
        query: &Query,
    ) -> roomy_cache::CacheResult<Option<Answer>> {
        Ok(match query {
            Query::Counts => self
                .cache
                .counts(user, version)
                .await?
                .map(|(a, b)| Answer::Counts(a, b)),
            Query::Relation(other) => self
                .cache
                .relation(user, version, *other)
                .await?
                .map(Answer::Relation),
            Query::Mutual(after, limit) => self
                .cache
                .mutual(user, version, *after, *limit)
                .await?
                .map(Answer::Mutual),
        })
    }
}

/// Answers from sets loaded from the store (a cache miss or a cache failure).
fn answer_from(s: &GraphSnapshot, query: &Query) -> Answer {
    match query {
        Query::Counts => Answer::Counts(s.following.len() as u64, s.followers.len() as u64),
        Query::Relation(other) => Answer::Relation(Relation {
            following: s.following.iter().any(|(u, _)| u == other),
            followed_by: s.followers.iter().any(|(u, _)| u == other),
        }),
        Query::Mutual(after, limit) => {
            let followers: HashSet<UserId> = s.followers.iter().map(|(u, _)| *u).collect();
            let mut both: Vec<(UserId, i64)> = s
                .following
                .iter()
                .filter(|(u, _)| followers.contains(u))
                .copied()
                .collect();
            both.sort_by_key(|e| std::cmp::Reverse((e.1, e.0)));
            Answer::Mutual(
                both.into_iter()
                    .filter(|(u, ms)| after.is_none_or(|(ams, au)| (*ms, *u) < (ams, au)))
                    .take(*limit)
                    .collect(),
            )
        }
    }
}

fn follow_sets(s: GraphSnapshot) -> FollowSets {
    FollowSets {
        version: s.version,
        following: s.following,
        followers: s.followers,
    }
}

fn set_change(d: &GraphDelta) -> SetChange {
    SetChange {
        user: d.user,
        from: d.from,
        to: d.to,
        edits: d
            .edits
            .iter()
            .map(|e| match *e {
                GraphEdit::AddFollowing(u, ms) => Edit::AddFollowing(u, ms),
                GraphEdit::RemoveFollowing(u) => Edit::RemoveFollowing(u),
                GraphEdit::AddFollower(u, ms) => Edit::AddFollower(u, ms),
                GraphEdit::RemoveFollower(u) => Edit::RemoveFollower(u),
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mutual_from_a_snapshot_orders_and_pages() {
        let s = GraphSnapshot {
            version: 3,
            following: vec![
                (UserId(2), 10),
                (UserId(3), 20),
                (UserId(4), 20),
                (UserId(5), 5),
            ],
            followers: vec![
                (UserId(3), 1),
                (UserId(4), 1),
                (UserId(2), 1),
                (UserId(9), 1),
            ],
        };
        let Answer::Mutual(all) = answer_from(&s, &Query::Mutual(None, 10)) else {
            panic!("mutual answer expected");
        };
        assert_eq!(all, vec![(UserId(4), 20), (UserId(3), 20), (UserId(2), 10)]);
        let Answer::Mutual(rest) = answer_from(&s, &Query::Mutual(Some((20, UserId(4))), 1)) else {
            panic!("mutual answer expected");
        };
        assert_eq!(rest, vec![(UserId(3), 20)]);
    }
}
