//! The Redis cache: the follow graph shared by every node.
//!
//! Per user, three keys: `{prefix}graph:{user}:following` and `:followers`
//! (sorted sets, member = user id, score = followed_at ms) and `:ver`, a
//! string `"{version}:{following count}:{followers count}"`. The version key
//! is what makes an entry cached: an empty set has no key of its own, which
//! Redis cannot store anyway.
//!
//! Every version check runs in the same Lua script as the read or write it
//! guards, so no other client can slip a change between check and use.
//!
//! A set key that vanished while the version key stayed would read as an
//! empty set, a wrong answer served as the truth. Two guards:
//! - expiry: the version key expires [`DATA_GRACE`] before the set keys, so
//!   an abandoned entry disappears version first;
//! - eviction (`maxmemory` with an `allkeys-*` or `volatile-*` policy, normal
//!   for a cache Redis, picks keys one by one): the counts in the version key
//!   must match the sets' ZCARDs, or the entry is treated as absent (a miss,
//!   and the next fill replaces it even at the same version).

use crate::{
    Cache, CacheError, CacheResult, Edit, FollowSets, Millis, Relation, SetChange, UserId,
};
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{AsyncCommands, ErrorKind, RedisError, Script, ServerErrorKind};
use std::hash::{BuildHasher, RandomState};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// How long an untouched user stays cached; refreshed by every fill and apply.
const ENTRY_TTL: Duration = Duration::from_secs(24 * 60 * 60);
/// How much longer the set keys outlive the version key (see the module doc).
const DATA_GRACE: Duration = Duration::from_secs(60);
/// Temporaries of a fill that died half-way clean themselves up after this.
const TEMP_TTL: Duration = Duration::from_secs(10 * 60);
/// Members per ZADD while filling: big enough to be quick, small enough not to
/// stall the server (or the shared connection) on one command.
const FILL_CHUNK: usize = 1_000;
/// ZADDs per pipeline (one round trip) while filling.
const FILL_CHUNKS_PER_ROUND: usize = 16;

/// Compares two canonical decimal integers (as Redis hands them to Lua) without
/// turning them into doubles, which would lose precision above 2^53.
const LUA_NUM_LT: &str = r"
local function num_lt(a, b)
  local na, nb = string.sub(a, 1, 1) == '-', string.sub(b, 1, 1) == '-'
  if na ~= nb then return na end
  if a == b then return false end
  local shorter
  if #a ~= #b then shorter = #a < #b else shorter = a < b end
  if na then return not shorter end
  return shorter
end
";

/// KEYS[1..3] of every script: ver, following, followers. `intact_version()`
/// is the cached version, or nil when there is no entry or one of its sets
/// is not what the version key recorded (see the module doc).
const LUA_INTACT: &str = r"
local function intact_version()
  local v = redis.call('GET', KEYS[1])
  if not v then return nil end
  local ver, nf, nr = string.match(v, '^(-?%d+):(%d+):(%d+)$')
  if not ver then return nil end
  if tonumber(nf) ~= redis.call('ZCARD', KEYS[2]) then return nil end
  if tonumber(nr) ~= redis.call('ZCARD', KEYS[3]) then return nil end
  return ver
end
local function set_version(ver, ttl)
  local v = ver .. ':' .. redis.call('ZCARD', KEYS[2]) .. ':' .. redis.call('ZCARD', KEYS[3])
  redis.call('SET', KEYS[1], v, 'PX', ttl)
end
";

/// KEYS: ver, following, followers. Returns the intact cached version or nil.
const VERSION: &str = r"
return intact_version()
";

/// KEYS: ver, following, followers. ARGV: version.
const COUNTS: &str = r"
if intact_version() ~= ARGV[1] then return false end
return {redis.call('ZCARD', KEYS[2]), redis.call('ZCARD', KEYS[3])}
";

/// KEYS: ver, following, followers. ARGV: version, other.
const RELATION: &str = r"
if intact_version() ~= ARGV[1] then return false end
local following = redis.call('ZSCORE', KEYS[2], ARGV[2]) and 1 or 0
local followed_by = redis.call('ZSCORE', KEYS[3], ARGV[2]) and 1 or 0
return {following, followed_by}
";

/// KEYS: ver, following, followers.
/// ARGV: version, limit, cursor followed_at ('' for none), cursor id.
/// Returns the page as a flat [member, score, ...] list, or nil on a miss.
///
/// Never looks at more than about twice the smaller set, usually far less:
/// 1. walk following from the cursor in page order, probing followers with
///    ZMSCORE, and stop as soon as the page is full (plus the rest of the
///    last score's ties, since Redis orders ties by member *text*, not by
///    id). With mutual follows dense, a page costs a few hundred lookups
///    whatever the sizes. When following is the smaller set this is the whole
///    algorithm; otherwise the walk gets a budget of |followers| lookups, and
/// 2. if that runs out, iterate the (smaller) followers set, probe following
///    for the times and keep the best `limit` in a heap.
///
/// ZINTER would compute every mutual follow and hand them all to Lua (or the
/// client) for every page: 50k pairs to return 50.
const MUTUAL: &str = r"
if intact_version() ~= ARGV[1] then return false end
local limit = tonumber(ARGV[2])
local has_cur = ARGV[3] ~= ''
local cur_s = tonumber(ARGV[3])
local cur_id = ARGV[4]
local out = {}
if limit <= 0 then return out end
local nf = redis.call('ZCARD', KEYS[2])
local nr = redis.call('ZCARD', KEYS[3])
if nf == 0 or nr == 0 then return out end

local function after(m, s)
  if not has_cur then return true end
  return s < cur_s or (s == cur_s and num_lt(m, cur_id))
end
-- true when a comes before b in the page order (score DESC, id DESC)
local function before(a, b)
  if a[2] ~= b[2] then return a[2] > b[2] end
  return num_lt(b[1], a[1])
end

-- The page from walking following, or nil when `budget` lookups did not suffice.
local function walk(budget)
  local found = {}
  local rank = 0
  if has_cur then rank = redis.call('ZCOUNT', KEYS[2], '(' .. ARGV[3], '+inf') end
  local batch = math.min(math.max(2 * limit, 100), 1000)
  local boundary = nil
  local scanned = 0
  while true do
    if scanned >= budget then return nil end
    local r = redis.call('ZREVRANGE', KEYS[2], rank, rank + batch - 1, 'WITHSCORES')
    if #r == 0 then return found end
    local ms = {}
    for i = 1, #r, 2 do ms[#ms + 1] = r[i] end
    scanned = scanned + #ms
    local probe = redis.call('ZMSCORE', KEYS[3], unpack(ms))
    for i = 1, #ms do
      local m, raw = ms[i], r[2 * i]
      local s = tonumber(raw)
      if boundary and s < boundary then return found end
      if probe[i] and after(m, s) then
        found[#found + 1] = {m, s, raw}
        if #found == limit then boundary = s end
      end
    end
    rank = rank + batch
  end
end

-- The page from every follower: the best `limit` kept in a heap whose top is the worst.
local function scan_followers()
  local heap = {}
  local function worse(i, j) return before(heap[j], heap[i]) end
  local function swap(i, j) heap[i], heap[j] = heap[j], heap[i] end
  local function push(e)
    heap[#heap + 1] = e
    local i = #heap
    while i > 1 do
      local p = math.floor(i / 2)
      if worse(i, p) then swap(i, p); i = p else break end
    end
  end
  local function replace_top(e)
    heap[1] = e
    local i, n = 1, #heap
    while true do
      local l, r, w = 2 * i, 2 * i + 1, i
      if l <= n and worse(l, w) then w = l end
      if r <= n and worse(r, w) then w = r end
      if w == i then break end
      swap(i, w); i = w
    end
  end
  local rank = 0
  while true do
    local ms = redis.call('ZRANGE', KEYS[3], rank, rank + 999)
    if #ms == 0 then return heap end
    local probe = redis.call('ZMSCORE', KEYS[2], unpack(ms))
    for i = 1, #ms do
      local raw = probe[i]
      if raw then
        local e = {ms[i], tonumber(raw), raw}
        if after(e[1], e[2]) then
          if #heap < limit then push(e)
          elseif before(e, heap[1]) then replace_top(e) end
        end
      end
    end
    rank = rank + 1000
  end
end

local found
if nf <= nr then found = walk(math.huge) else found = walk(nr) or scan_followers() end
table.sort(found, before)
for i = 1, math.min(limit, #found) do
  out[#out + 1] = found[i][1]
  out[#out + 1] = found[i][3]
end
return out
";

/// KEYS: ver, following, followers, temporary following, temporary followers.
/// ARGV: version, ver ttl ms, set ttl ms.
/// Moves the temporaries into place unless the cached version is the same or newer.
const FILL_COMMIT: &str = r"
local cur = intact_version()
if cur and not num_lt(cur, ARGV[1]) then
  redis.call('UNLINK', KEYS[4], KEYS[5])
  return 0
end
-- UNLINK frees a replaced 100k-member set off the main thread; RENAME would free it inline.
redis.call('UNLINK', KEYS[2], KEYS[3])
for i = 2, 3 do
  if redis.call('EXISTS', KEYS[i + 2]) == 1 then
    redis.call('RENAME', KEYS[i + 2], KEYS[i])
    redis.call('PEXPIRE', KEYS[i], ARGV[3])
  end
end
set_version(ARGV[1], ARGV[2])
return 1
";

/// KEYS: ver, following, followers.
/// ARGV: from, to, ver ttl ms, set ttl ms, then (op, member, score) per edit.
const APPLY: &str = r"
if intact_version() ~= ARGV[1] then
  redis.call('UNLINK', KEYS[1], KEYS[2], KEYS[3])
  return 0
end
for i = 5, #ARGV, 3 do
  local op, m, s = ARGV[i], ARGV[i + 1], ARGV[i + 2]
  if op == '+following' then redis.call('ZADD', KEYS[2], s, m)
  elseif op == '-following' then redis.call('ZREM', KEYS[2], m)
  elseif op == '+follower' then redis.call('ZADD', KEYS[3], s, m)
  elseif op == '-follower' then redis.call('ZREM', KEYS[3], m)
  end
end
set_version(ARGV[2], ARGV[3])
redis.call('PEXPIRE', KEYS[2], ARGV[4])
redis.call('PEXPIRE', KEYS[3], ARGV[4])
return 1
";

fn unavailable(e: RedisError) -> CacheError {
    CacheError::Unavailable(e.to_string())
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// A fresh suffix for one fill's temporary keys: concurrent fills of the
/// same user (on any node) must never write into each other's temporaries.
fn nonce() -> u64 {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    // RandomState is seeded randomly per process, so nodes differ too.
    RandomState::new().hash_one(COUNTER.fetch_add(1, Ordering::Relaxed))
}

/// Parses a score as Redis prints it ("1700000000000"), without panicking on anything else.
fn parse_score(raw: &str) -> Option<Millis> {
    raw.parse::<i64>()
        .ok()
        .or_else(|| raw.parse::<f64>().ok().map(|f| f as i64))
}

/// The three keys of one user.
struct Keys {
    ver: String,
    following: String,
    followers: String,
}

/// The follow-graph cache in Redis, shared by every node.
#[derive(Clone)]
pub struct RedisCache {
    con: ConnectionManager,
    prefix: String,
    version: Script,
    counts: Script,
    relation: Script,
    mutual: Script,
    fill_commit: Script,
    apply: Script,
}

impl std::fmt::Debug for RedisCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisCache")
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

impl RedisCache {
    /// Connects to `url`; every key starts with `prefix`.
    pub async fn connect(url: &str, prefix: &str) -> CacheResult<RedisCache> {
        let client = redis::Client::open(url).map_err(unavailable)?;
        // A cache that is slow is worse than one that is down: callers fall
        // back to the database on error, so fail fast rather than queue up.
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(Duration::from_secs(2)))
            .set_response_timeout(Some(Duration::from_secs(2)))
            .set_number_of_retries(2);
        let con = client
            .get_connection_manager_with_config(config)
            .await
            .map_err(unavailable)?;
        let script = |body: &str| Script::new(&format!("{LUA_NUM_LT}{LUA_INTACT}{body}"));
        Ok(RedisCache {
            con,
            prefix: prefix.to_owned(),
            version: script(VERSION),
            counts: script(COUNTS),
            relation: script(RELATION),
            mutual: script(MUTUAL),
            fill_commit: script(FILL_COMMIT),
            apply: script(APPLY),
        })
    }

    fn keys(&self, user: UserId) -> Keys {
        let base = format!("{}graph:{}", self.prefix, user.0);
        Keys {
            ver: format!("{base}:ver"),
            following: format!("{base}:following"),
            followers: format!("{base}:followers"),
        }
    }

    /// Writes `members` into the temporary sorted set `key`, a chunk per ZADD.
    async fn write_temporary(&self, key: &str, members: &[(UserId, Millis)]) -> CacheResult<()> {
        let mut con = self.con.clone();
        let chunks: Vec<_> = members.chunks(FILL_CHUNK).collect();
        for (round, group) in chunks.chunks(FILL_CHUNKS_PER_ROUND).enumerate() {
            let mut pipe = redis::pipe();
            for chunk in group {
                let items: Vec<(Millis, i64)> = chunk.iter().map(|&(id, t)| (t, id.0)).collect();
                pipe.zadd_multiple(key, &items).ignore();
            }
            if round == 0 {
                pipe.pexpire(key, millis(TEMP_TTL) as i64).ignore();
            }
            pipe.query_async::<()>(&mut con)
                .await
                .map_err(unavailable)?;
        }
        Ok(())
    }

    #[cfg(test)]
    pub(crate) fn connection(&self) -> ConnectionManager {
        self.con.clone()
    }

    #[cfg(test)]
    pub(crate) fn prefix(&self) -> &str {
        &self.prefix
    }
}

#[async_trait::async_trait]
impl Cache for RedisCache {
    async fn counts(&self, user: UserId, version: i64) -> CacheResult<Option<(u64, u64)>> {
        let k = self.keys(user);
        self.counts
            .key(&k.ver)
            .key(&k.following)
            .key(&k.followers)
            .arg(version)
            .invoke_async(&mut self.con.clone())
            .await
            .map_err(unavailable)
    }

    async fn relation(
        &self,
        user: UserId,
        version: i64,
        other: UserId,
    ) -> CacheResult<Option<Relation>> {
        let k = self.keys(user);
        let found: Option<(i64, i64)> = self
            .relation
            .key(&k.ver)
            .key(&k.following)
            .key(&k.followers)
            .arg(version)
            .arg(other.0)
            .invoke_async(&mut self.con.clone())
            .await
            .map_err(unavailable)?;
        Ok(found.map(|(following, followed_by)| Relation {
            following: following == 1,
            followed_by: followed_by == 1,
        }))
    }

    async fn mutual(
        &self,
        user: UserId,
        version: i64,
        after: Option<(Millis, UserId)>,
        limit: usize,
    ) -> CacheResult<Option<Vec<(UserId, Millis)>>> {
        let k = self.keys(user);
        let (cur_t, cur_id) = match after {
            Some((t, id)) => (t.to_string(), id.0.to_string()),
            None => (String::new(), String::new()),
        };
        let flat: Option<Vec<String>> = self
            .mutual
            .key(&k.ver)
            .key(&k.following)
            .key(&k.followers)
            .arg(version)
            .arg(limit)
            .arg(cur_t)
            .arg(cur_id)
            .invoke_async(&mut self.con.clone())
            .await
            .map_err(unavailable)?;
        let Some(flat) = flat else {
            return Ok(None);
        };
        flat.chunks_exact(2)
            .map(
                |pair| match (pair[0].parse::<i64>(), parse_score(&pair[1])) {
                    (Ok(id), Some(t)) => Ok((UserId(id), t)),
                    _ => Err(CacheError::Unavailable(format!(
                        "unexpected mutual entry from redis: {pair:?}"
                    ))),
                },
            )
            .collect::<CacheResult<Vec<_>>>()
            .map(Some)
    }

    async fn fill(&self, user: UserId, sets: FollowSets) -> CacheResult<()> {
        let k = self.keys(user);
        let mut con = self.con.clone();
        // Cheap early exit before writing up to 100k members for nothing;
        // the commit script checks again, atomically.
        let cached: Option<i64> = self
            .version
            .key(&k.ver)
            .key(&k.following)
            .key(&k.followers)
            .invoke_async(&mut con)
            .await
            .map_err(unavailable)?;
        if cached.is_some_and(|v| v >= sets.version) {
            return Ok(());
        }
        let nonce = nonce();
        let tmp_following = format!("{}:fill:{nonce:016x}", k.following);
        let tmp_followers = format!("{}:fill:{nonce:016x}", k.followers);
        let written = async {
            self.write_temporary(&tmp_following, &sets.following)
                .await?;
            self.write_temporary(&tmp_followers, &sets.followers)
                .await?;
            let stored: i64 = self
                .fill_commit
                .key(&k.ver)
                .key(&k.following)
                .key(&k.followers)
                .key(&tmp_following)
                .key(&tmp_followers)
                .arg(sets.version)
                .arg(millis(ENTRY_TTL))
                .arg(millis(ENTRY_TTL + DATA_GRACE))
                .invoke_async(&mut con.clone())
                .await
                .map_err(unavailable)?;
            if stored == 0 {
                tracing::debug!(%user, version = sets.version, "graph cache: fill skipped, same or newer version cached");
            }
            Ok(())
        }
        .await;
        if written.is_err() {
            // Best effort: the temporaries expire on their own anyway.
            let _: Result<(), _> = con.unlink(&[&tmp_following, &tmp_followers]).await;
        }
        written
    }

    async fn apply(&self, changes: &[SetChange]) -> CacheResult<()> {
        if changes.is_empty() {
            return Ok(());
        }
        let mut pipe = redis::pipe();
        for change in changes {
            let k = self.keys(change.user);
            let mut call = self.apply.prepare_invoke();
            call.key(&k.ver)
                .key(&k.following)
                .key(&k.followers)
                .arg(change.from)
                .arg(change.to)
                .arg(millis(ENTRY_TTL))
                .arg(millis(ENTRY_TTL + DATA_GRACE));
            for edit in &change.edits {
                let (op, id, t) = match *edit {
                    Edit::AddFollowing(id, t) => ("+following", id, t),
                    Edit::RemoveFollowing(id) => ("-following", id, 0),
                    Edit::AddFollower(id, t) => ("+follower", id, t),
                    Edit::RemoveFollower(id) => ("-follower", id, 0),
                };
                call.arg(op).arg(id.0).arg(t);
            }
            pipe.invoke_script(&call).ignore();
        }
        // One round trip for all changes, in order. A pipeline does not load
        // scripts by itself: after a Redis restart, load and send once more.
        // Replaying is safe: a change already applied finds its `to`, not
        // its `from`, and drops the entry.
        let mut con = self.con.clone();
        match pipe.query_async::<()>(&mut con).await {
            Err(e) if e.kind() == ErrorKind::Server(ServerErrorKind::NoScript) => {
                self.apply
                    .prepare_invoke()
                    .load_async(&mut con)
                    .await
                    .map_err(unavailable)?;
                pipe.query_async::<()>(&mut con).await.map_err(unavailable)
            }
            other => other.map_err(unavailable),
        }
    }

    fn kind(&self) -> &'static str {
        "redis"
    }
}
