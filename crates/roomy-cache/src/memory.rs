//! The in-process cache: one node's follow graph in a bounded LRU.
//!
//! Entries live behind `Arc<RwLock<..>>` so that `apply` edits a 100k-member
//! set in place instead of cloning it, and readers of one user never block
//! readers of another. Every lock is taken and released inside one
//! synchronous call: none is ever held across an `.await`.

use crate::{Cache, CacheResult, Edit, FollowSets, Millis, Relation, SetChange, UserId, is_after};
use moka::ops::compute::Op;
use moka::policy::EvictionPolicy;
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};

/// A multiply-shift hash for user ids. Ids are assigned by the server, never
/// chosen by a client, so hash flooding is not a concern here, and SipHash
/// would make the 100k probes of a mutual page several times slower.
#[derive(Default)]
struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        // Only reached if `UserId`'s `Hash` ever stops being a single i64.
        for &b in bytes {
            self.write_u64(u64::from(b));
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0.rotate_left(5) ^ n).wrapping_mul(0x517c_c1b7_2722_0a95);
    }

    fn write_i64(&mut self, n: i64) {
        self.write_u64(n as u64);
    }
}

type IdMap = HashMap<UserId, Millis, BuildHasherDefault<IdHasher>>;

/// One user's sets at one version.
struct Entry {
    version: i64,
    following: IdMap,
    followers: IdMap,
}

impl Entry {
    fn from_sets(sets: FollowSets) -> Self {
        fn map(list: Vec<(UserId, Millis)>) -> IdMap {
            let mut m = IdMap::with_capacity_and_hasher(list.len(), Default::default());
            m.extend(list);
            m
        }
        Self {
            version: sets.version,
            following: map(sets.following),
            followers: map(sets.followers),
        }
    }

    /// The cache's weight: members held, plus one so that empty entries still
    /// count against the bound.
    fn weight(&self) -> u32 {
        let members = 1 + self.following.len() + self.followers.len();
        u32::try_from(members).unwrap_or(u32::MAX)
    }

    fn edit(&mut self, edit: &Edit) {
        match *edit {
            Edit::AddFollowing(id, t) => {
                self.following.insert(id, t);
            }
            Edit::RemoveFollowing(id) => {
                self.following.remove(&id);
            }
            Edit::AddFollower(id, t) => {
                self.followers.insert(id, t);
            }
            Edit::RemoveFollower(id) => {
                self.followers.remove(&id);
            }
        }
    }

    fn mutual(&self, after: Option<(Millis, UserId)>, limit: usize) -> Vec<(UserId, Millis)> {
        if limit == 0 {
            return Vec::new();
        }
        // Iterate the smaller set and probe the larger: a user with 100k
        // followers who follows 200 people costs 200 lookups, not 100k.
        let mut hits: Vec<(Millis, UserId)> = if self.following.len() <= self.followers.len() {
            self.following
                .iter()
                .filter(|&(id, &t)| is_after(after, t, *id) && self.followers.contains_key(id))
                .map(|(&id, &t)| (t, id))
                .collect()
        } else {
            self.followers
                .keys()
                .filter_map(|id| self.following.get(id).map(|&t| (t, *id)))
                .filter(|&(t, id)| is_after(after, t, id))
                .collect()
        };
        // Select the page in linear time and sort only the page, not every hit.
        if hits.len() > limit {
            hits.select_nth_unstable_by(limit - 1, |a, b| b.cmp(a));
            hits.truncate(limit);
        }
        hits.sort_unstable_by(|a, b| b.cmp(a));
        hits.into_iter().map(|(t, id)| (id, t)).collect()
    }
}

type Slot = Arc<RwLock<Entry>>;

// A panic while holding the lock cannot leave an entry half-edited in a way
// that matters more than a poisoned cache would, so poisoning is ignored
// rather than turned into a panic on every later read.
fn read(slot: &Slot) -> RwLockReadGuard<'_, Entry> {
    slot.read().unwrap_or_else(|e| e.into_inner())
}

fn write(slot: &Slot) -> RwLockWriteGuard<'_, Entry> {
    slot.write().unwrap_or_else(|e| e.into_inner())
}

/// The follow-graph cache of one process, bounded by the set members it holds.
pub struct InProcessCache {
    entries: moka::sync::Cache<UserId, Slot>,
}

impl std::fmt::Debug for InProcessCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InProcessCache")
            .field("users", &self.entries.entry_count())
            .field("members", &self.entries.weighted_size())
            .finish()
    }
}

impl InProcessCache {
    /// A cache holding at most about `max_members` set members (plus one per user), evicting least-recently-used users.
    pub fn new(max_members: u64) -> Self {
        let entries = moka::sync::Cache::builder()
            .max_capacity(max_members)
            .weigher(|_: &UserId, slot: &Slot| read(slot).weight())
            // Plain LRU: TinyLFU's admission filter could refuse a freshly
            // loaded user, making the very next read miss again.
            .eviction_policy(EvictionPolicy::lru())
            .build();
        Self { entries }
    }

    /// Members currently held (after pending evictions have run), for metrics and tests.
    pub fn members_held(&self) -> u64 {
        self.entries.run_pending_tasks();
        self.entries.weighted_size()
    }

    /// Runs `f` on `user`'s entry if it is cached at exactly `version`.
    fn at<T>(&self, user: UserId, version: i64, f: impl FnOnce(&Entry) -> T) -> Option<T> {
        let slot = self.entries.get(&user)?;
        let entry = read(&slot);
        (entry.version == version).then(|| f(&entry))
    }
}

#[async_trait::async_trait]
impl Cache for InProcessCache {
    async fn counts(&self, user: UserId, version: i64) -> CacheResult<Option<(u64, u64)>> {
        Ok(self.at(user, version, |e| {
            (e.following.len() as u64, e.followers.len() as u64)
        }))
    }

    async fn relation(
        &self,
        user: UserId,
        version: i64,
        other: UserId,
    ) -> CacheResult<Option<Relation>> {
        Ok(self.at(user, version, |e| Relation {
            following: e.following.contains_key(&other),
            followed_by: e.followers.contains_key(&other),
        }))
    }

    async fn mutual(
        &self,
        user: UserId,
        version: i64,
        after: Option<(Millis, UserId)>,
        limit: usize,
    ) -> CacheResult<Option<Vec<(UserId, Millis)>>> {
        Ok(self.at(user, version, |e| e.mutual(after, limit)))
    }

    async fn fill(&self, user: UserId, sets: FollowSets) -> CacheResult<()> {
        let version = sets.version;
        // An entry at the same version holds the same sets: keep it rather
        // than rebuild 100k-member maps for nothing.
        let is_current = |slot: &Slot| read(slot).version >= version;
        if self.entries.get(&user).is_some_and(|s| is_current(&s)) {
            return Ok(());
        }
        // Built outside the per-key lock, so a concurrent apply waits for a swap, not a build.
        let fresh: Slot = Arc::new(RwLock::new(Entry::from_sets(sets)));
        self.entries
            .entry(user)
            .and_compute_with(|current| match current {
                Some(e) if is_current(e.value()) => Op::Nop,
                _ => Op::Put(fresh),
            });
        Ok(())
    }

    async fn apply(&self, changes: &[SetChange]) -> CacheResult<()> {
        for change in changes {
            // The per-key compute makes the version check and the edit one
            // step with respect to fills and other applies of this user.
            self.entries
                .entry(change.user)
                .and_compute_with(|current| {
                    let Some(current) = current else {
                        return Op::Nop;
                    };
                    let slot = current.into_value();
                    {
                        let mut entry = write(&slot);
                        if entry.version != change.from {
                            tracing::debug!(user = %change.user, cached = entry.version, from = change.from, "graph cache: dropping entry at another version");
                            return Op::Remove;
                        }
                        for edit in &change.edits {
                            entry.edit(edit);
                        }
                        entry.version = change.to;
                    }
                    // Re-putting the same Arc (no copy) makes the cache re-weigh the entry.
                    Op::Put(slot)
                });
        }
        Ok(())
    }

    fn kind(&self) -> &'static str {
        "memory"
    }
}
