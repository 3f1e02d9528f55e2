//! The behaviour every [`Cache`] must show, written once and run against
//! [`InProcessCache`] always and [`RedisCache`] when `ROOMY_TEST_REDIS_URL`
//! names a server (with `ROOMY_TEST_REQUIRE_SERVICES=1`, a missing URL fails
//! instead of skipping).

#![allow(clippy::unwrap_used)]

use crate::{
    Cache, Edit, FollowSets, InProcessCache, Millis, RedisCache, Relation, SetChange, UserId,
};
use std::io::Write;
use std::time::{Duration, Instant};

/// Generates one `#[tokio::test]` per contract check. `$make` is an async
/// expression yielding `Option<impl Harness>`; `None` means "service absent, skip".
macro_rules! cache_contract_tests {
    ($make:expr) => {
        cache_contract_tests!(@each $make;
            miss_on_empty_cache,
            fill_then_read_at_the_version,
            another_version_is_a_miss,
            fill_keeps_a_newer_version,
            empty_sets_are_cached,
            apply_at_from_edits_and_moves_the_version,
            refollow_moves_to_the_front,
            removing_every_member_keeps_the_entry,
            apply_at_another_version_drops_the_entry,
            apply_to_an_uncached_user_caches_nothing,
            apply_runs_changes_in_order,
            users_are_independent,
            mutual_pages_break_ties_by_numeric_id,
            mutual_limits_and_empty_results,
            mutual_pages_match_brute_force_either_side_smaller,
            mutual_found_at_the_far_end_of_following,
            hundred_thousand_followers,
            hundred_thousand_following,
        );
    };
    (@each $make:expr; $($name:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                if let Some(cache) = $make.await {
                    $crate::contract::$name(&cache).await;
                    $crate::contract::Harness::cleanup(&cache).await;
                }
            }
        )*
    };
}

/// A cache under test, and how to clear what a test left behind.
pub(crate) trait Harness: Cache {
    /// Removes whatever the test stored outside the process.
    async fn cleanup(&self) {}
}

impl Harness for InProcessCache {}

impl Harness for RedisCache {
    async fn cleanup(&self) {
        let mut con = self.connection();
        let pattern = format!("{}*", self.prefix());
        let mut cursor: u64 = 0;
        loop {
            let (next, keys): (u64, Vec<String>) = redis::cmd("SCAN")
                .arg(cursor)
                .arg("MATCH")
                .arg(&pattern)
                .arg("COUNT")
                .arg(1000)
                .query_async(&mut con)
                .await
                .unwrap();
            if !keys.is_empty() {
                redis::cmd("UNLINK")
                    .arg(&keys)
                    .query_async::<()>(&mut con)
                    .await
                    .unwrap();
            }
            if next == 0 {
                break;
            }
            cursor = next;
        }
    }
}

// ---------------------------------------------------------------- helpers

const T0: Millis = 1_700_000_000_000;

fn u(id: i64) -> UserId {
    UserId(id)
}

fn list(items: &[(i64, Millis)]) -> Vec<(UserId, Millis)> {
    items.iter().map(|&(id, t)| (u(id), t)).collect()
}

fn sets(version: i64, following: &[(i64, Millis)], followers: &[(i64, Millis)]) -> FollowSets {
    FollowSets {
        version,
        following: list(following),
        followers: list(followers),
    }
}

fn rel(following: bool, followed_by: bool) -> Option<Relation> {
    Some(Relation {
        following,
        followed_by,
    })
}

fn change(user: i64, from: i64, to: i64, edits: Vec<Edit>) -> SetChange {
    SetChange {
        user: u(user),
        from,
        to,
        edits,
    }
}

/// The mutual follows of `s`, in page order, computed the obvious way.
fn brute_mutual(s: &FollowSets) -> Vec<(UserId, Millis)> {
    let followers: std::collections::HashSet<UserId> =
        s.followers.iter().map(|&(id, _)| id).collect();
    let mut out: Vec<(UserId, Millis)> = s
        .following
        .iter()
        .copied()
        .filter(|(id, _)| followers.contains(id))
        .collect();
    out.sort_by_key(|&(id, t)| std::cmp::Reverse((t, id)));
    out
}

/// Every page of `user`'s mutual follows at `version`, `limit` at a time, following the cursor.
async fn all_pages(
    c: &impl Cache,
    user: UserId,
    version: i64,
    limit: usize,
) -> Vec<(UserId, Millis)> {
    let mut out = Vec::new();
    let mut after = None;
    loop {
        let page = c
            .mutual(user, version, after, limit)
            .await
            .unwrap()
            .unwrap();
        assert!(page.len() <= limit, "a page holds at most `limit`");
        let Some(&(id, t)) = page.last() else {
            return out;
        };
        let full = page.len() == limit;
        out.extend(page);
        if !full {
            // A short page is the last one: the next is empty.
            let rest = c.mutual(user, version, Some((t, id)), limit).await.unwrap();
            assert_eq!(rest, Some(vec![]));
            return out;
        }
        after = Some((t, id));
    }
}

/// A deterministic pseudo-random sequence, so failures reproduce.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self, below: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % below
    }
}

fn note(line: &str) {
    // Straight to the terminal: the harness captures print!/eprint!.
    let _ = writeln!(std::io::stderr(), "{line}");
}

// ---------------------------------------------------------------- the contract

/// Nothing is cached until something is filled.
pub(crate) async fn miss_on_empty_cache(c: &impl Cache) {
    assert_eq!(c.counts(u(1), 0).await.unwrap(), None);
    assert_eq!(c.counts(u(1), 1).await.unwrap(), None);
    assert_eq!(c.relation(u(1), 1, u(2)).await.unwrap(), None);
    assert_eq!(c.mutual(u(1), 1, None, 10).await.unwrap(), None);
    assert!(["memory", "redis"].contains(&c.kind()));
}

/// A filled user answers counts, relations and mutual follows at its version.
pub(crate) async fn fill_then_read_at_the_version(c: &impl Cache) {
    // 1 follows 2, 3, 4; 2, 3 and 5 follow 1: mutual = {2, 3}.
    let s = sets(
        3,
        &[(2, T0 + 10), (3, T0 + 30), (4, T0 + 20)],
        &[(2, T0 + 5), (3, T0 + 99), (5, T0 + 1)],
    );
    c.fill(u(1), s).await.unwrap();
    assert_eq!(c.counts(u(1), 3).await.unwrap(), Some((3, 3)));
    assert_eq!(c.relation(u(1), 3, u(2)).await.unwrap(), rel(true, true));
    assert_eq!(c.relation(u(1), 3, u(4)).await.unwrap(), rel(true, false));
    assert_eq!(c.relation(u(1), 3, u(5)).await.unwrap(), rel(false, true));
    assert_eq!(c.relation(u(1), 3, u(6)).await.unwrap(), rel(false, false));
    assert_eq!(c.relation(u(1), 3, u(1)).await.unwrap(), rel(false, false));
    // Ordered by when 1 followed them, not when they followed 1.
    assert_eq!(
        c.mutual(u(1), 3, None, 10).await.unwrap(),
        Some(list(&[(3, T0 + 30), (2, T0 + 10)]))
    );
}

/// Reads name the version: any other version, older or newer, is a miss.
pub(crate) async fn another_version_is_a_miss(c: &impl Cache) {
    c.fill(u(1), sets(3, &[(2, T0)], &[(2, T0)])).await.unwrap();
    for v in [0, 2, 4, 1_000, -3] {
        assert_eq!(c.counts(u(1), v).await.unwrap(), None, "version {v}");
        assert_eq!(c.relation(u(1), v, u(2)).await.unwrap(), None);
        assert_eq!(c.mutual(u(1), v, None, 10).await.unwrap(), None);
    }
    assert_eq!(c.counts(u(1), 3).await.unwrap(), Some((1, 1)));
}

/// A slow reader's fill of an older version cannot replace a newer entry; a newer fill can.
pub(crate) async fn fill_keeps_a_newer_version(c: &impl Cache) {
    c.fill(u(1), sets(5, &[(2, T0)], &[])).await.unwrap();
    c.fill(u(1), sets(4, &[(2, T0), (3, T0)], &[(9, T0)]))
        .await
        .unwrap();
    assert_eq!(c.counts(u(1), 5).await.unwrap(), Some((1, 0)));
    assert_eq!(c.counts(u(1), 4).await.unwrap(), None);

    c.fill(u(1), sets(7, &[(2, T0), (3, T0)], &[(3, T0)]))
        .await
        .unwrap();
    assert_eq!(c.counts(u(1), 7).await.unwrap(), Some((2, 1)));
    assert_eq!(c.counts(u(1), 5).await.unwrap(), None);
    assert_eq!(
        c.mutual(u(1), 7, None, 10).await.unwrap(),
        Some(list(&[(3, T0)]))
    );
}

/// A user with no follows at all is cached too (else they would always miss).
pub(crate) async fn empty_sets_are_cached(c: &impl Cache) {
    c.fill(u(1), sets(1, &[], &[])).await.unwrap();
    assert_eq!(c.counts(u(1), 1).await.unwrap(), Some((0, 0)));
    assert_eq!(c.relation(u(1), 1, u(2)).await.unwrap(), rel(false, false));
    assert_eq!(c.mutual(u(1), 1, None, 10).await.unwrap(), Some(vec![]));

    c.apply(&[change(1, 1, 2, vec![Edit::AddFollower(u(2), T0)])])
        .await
        .unwrap();
    assert_eq!(c.counts(u(1), 2).await.unwrap(), Some((0, 1)));
    assert_eq!(c.relation(u(1), 2, u(2)).await.unwrap(), rel(false, true));
}

/// An entry at `from` takes the edits and moves to `to`; `from` then misses.
pub(crate) async fn apply_at_from_edits_and_moves_the_version(c: &impl Cache) {
    c.fill(
        u(1),
        sets(1, &[(2, T0 + 1), (3, T0 + 2)], &[(2, T0), (4, T0)]),
    )
    .await
    .unwrap();
    c.apply(&[change(
        1,
        1,
        2,
        vec![
            Edit::AddFollowing(u(4), T0 + 3),
            Edit::RemoveFollower(u(2)),
            Edit::AddFollower(u(3), T0 + 4),
            Edit::RemoveFollowing(u(99)), // absent: no effect
        ],
    )])
    .await
    .unwrap();
    assert_eq!(c.counts(u(1), 1).await.unwrap(), None);
    assert_eq!(c.counts(u(1), 2).await.unwrap(), Some((3, 2)));
    assert_eq!(c.relation(u(1), 2, u(2)).await.unwrap(), rel(true, false));
    assert_eq!(c.relation(u(1), 2, u(4)).await.unwrap(), rel(true, true));
    assert_eq!(
        c.mutual(u(1), 2, None, 10).await.unwrap(),
        Some(list(&[(4, T0 + 3), (3, T0 + 2)]))
    );

    c.apply(&[change(1, 2, 3, vec![Edit::RemoveFollowing(u(3))])])
        .await
        .unwrap();
    assert_eq!(c.counts(u(1), 3).await.unwrap(), Some((2, 2)));
    assert_eq!(
        c.mutual(u(1), 3, None, 10).await.unwrap(),
        Some(list(&[(4, T0 + 3)]))
    );
}

/// Unfollow then follow again: the new time puts the user at the front.
pub(crate) async fn refollow_moves_to_the_front(c: &impl Cache) {
    c.fill(
        u(1),
        sets(
            1,
            &[(2, T0 + 10), (3, T0 + 20), (4, T0 + 30)],
            &[(2, T0), (3, T0), (4, T0)],
        ),
    )
    .await
    .unwrap();
    assert_eq!(
        c.mutual(u(1), 1, None, 10).await.unwrap(),
        Some(list(&[(4, T0 + 30), (3, T0 + 20), (2, T0 + 10)]))
    );
    c.apply(&[change(
        1,
        1,
        2,
        vec![
            Edit::RemoveFollowing(u(2)),
            Edit::AddFollowing(u(2), T0 + 40),
        ],
    )])
    .await
    .unwrap();
    assert_eq!(
        c.mutual(u(1), 2, None, 10).await.unwrap(),
        Some(list(&[(2, T0 + 40), (4, T0 + 30), (3, T0 + 20)]))
    );
    // An add of a present member replaces its time.
    c.apply(&[change(1, 2, 3, vec![Edit::AddFollowing(u(3), T0 + 50)])])
        .await
        .unwrap();
    assert_eq!(
        c.mutual(u(1), 3, None, 10).await.unwrap(),
        Some(list(&[(3, T0 + 50), (2, T0 + 40), (4, T0 + 30)]))
    );
    assert_eq!(c.counts(u(1), 3).await.unwrap(), Some((3, 3)));
}

/// Sets emptied by edits are still cached (as empty), not lost.
pub(crate) async fn removing_every_member_keeps_the_entry(c: &impl Cache) {
    c.fill(u(1), sets(1, &[(2, T0)], &[(2, T0)])).await.unwrap();
    c.apply(&[change(
        1,
        1,
        2,
        vec![Edit::RemoveFollowing(u(2)), Edit::RemoveFollower(u(2))],
    )])
    .await
    .unwrap();
    assert_eq!(c.counts(u(1), 2).await.unwrap(), Some((0, 0)));
    assert_eq!(c.mutual(u(1), 2, None, 5).await.unwrap(), Some(vec![]));
    c.apply(&[change(1, 2, 3, vec![Edit::AddFollowing(u(5), T0)])])
        .await
        .unwrap();
    assert_eq!(c.counts(u(1), 3).await.unwrap(), Some((1, 0)));
}

/// A change that does not start where the entry is drops it: the next read misses.
pub(crate) async fn apply_at_another_version_drops_the_entry(c: &impl Cache) {
    c.fill(u(1), sets(1, &[(2, T0)], &[(2, T0)])).await.unwrap();
    // A change from 1 to 2 was lost; this one is from 2 to 3.
    c.apply(&[change(1, 2, 3, vec![Edit::AddFollowing(u(3), T0)])])
        .await
        .unwrap();
    assert_eq!(c.counts(u(1), 3).await.unwrap(), None);
    assert_eq!(c.counts(u(1), 1).await.unwrap(), None);
    assert_eq!(c.mutual(u(1), 3, None, 5).await.unwrap(), None);

    // A late change (older than the entry) drops it too.
    c.fill(u(1), sets(5, &[(2, T0)], &[])).await.unwrap();
    c.apply(&[change(1, 3, 4, vec![])]).await.unwrap();
    assert_eq!(c.counts(u(1), 5).await.unwrap(), None);
    assert_eq!(c.counts(u(1), 4).await.unwrap(), None);
}

/// Apply never creates an entry: it has only the edits, not the sets.
pub(crate) async fn apply_to_an_uncached_user_caches_nothing(c: &impl Cache) {
    c.apply(&[change(1, 0, 1, vec![Edit::AddFollowing(u(2), T0)])])
        .await
        .unwrap();
    assert_eq!(c.counts(u(1), 1).await.unwrap(), None);
    assert_eq!(c.counts(u(1), 0).await.unwrap(), None);
    c.apply(&[]).await.unwrap();
}

/// Changes apply in the order given, each from where the previous left the entry.
pub(crate) async fn apply_runs_changes_in_order(c: &impl Cache) {
    c.fill(u(1), sets(1, &[], &[])).await.unwrap();
    c.fill(u(2), sets(7, &[], &[])).await.unwrap();
    // 1 follows 2, then 2 follows 1: each change touches both users.
    c.apply(&[
        change(1, 1, 2, vec![Edit::AddFollowing(u(2), T0)]),
        change(2, 7, 8, vec![Edit::AddFollower(u(1), T0)]),
        change(2, 8, 9, vec![Edit::AddFollowing(u(1), T0 + 1)]),
        change(1, 2, 3, vec![Edit::AddFollower(u(2), T0 + 1)]),
    ])
    .await
    .unwrap();
    assert_eq!(c.counts(u(1), 3).await.unwrap(), Some((1, 1)));
    assert_eq!(c.counts(u(2), 9).await.unwrap(), Some((1, 1)));
    assert_eq!(
        c.mutual(u(1), 3, None, 5).await.unwrap(),
        Some(list(&[(2, T0)]))
    );
    assert_eq!(
        c.mutual(u(2), 9, None, 5).await.unwrap(),
        Some(list(&[(1, T0 + 1)]))
    );
    // Out of order: the second change finds 3, not 4, and drops user 1.
    c.apply(&[
        change(1, 4, 5, vec![]),
        change(1, 3, 4, vec![Edit::RemoveFollower(u(2))]),
    ])
    .await
    .unwrap();
    assert_eq!(c.counts(u(1), 4).await.unwrap(), None);
    assert_eq!(c.counts(u(1), 5).await.unwrap(), None);
    assert_eq!(c.counts(u(2), 9).await.unwrap(), Some((1, 1)));
}

/// One user's fill and apply never touch another's entry.
pub(crate) async fn users_are_independent(c: &impl Cache) {
    c.fill(u(1), sets(1, &[(2, T0)], &[])).await.unwrap();
    c.fill(u(11), sets(1, &[(3, T0), (4, T0)], &[(3, T0)]))
        .await
        .unwrap();
    c.apply(&[change(1, 9, 10, vec![])]).await.unwrap();
    assert_eq!(c.counts(u(1), 1).await.unwrap(), None);
    assert_eq!(c.counts(u(11), 1).await.unwrap(), Some((2, 1)));
}

/// Ties on followed_at are broken by numeric id DESC (10 after 9, not before
/// it as text would have it), and a cursor continues strictly after itself.
pub(crate) async fn mutual_pages_break_ties_by_numeric_id(c: &impl Cache) {
    let ids = [2, 9, 10, 11, 100, 1_000, 99];
    let following: Vec<(i64, Millis)> = ids.iter().map(|&id| (id, T0)).collect();
    let mut followers = following.clone();
    followers.push((5, T0)); // not followed back
    c.fill(u(1), sets(1, &following, &followers)).await.unwrap();
    let expected = list(&[
        (1_000, T0),
        (100, T0),
        (99, T0),
        (11, T0),
        (10, T0),
        (9, T0),
        (2, T0),
    ]);
    assert_eq!(
        c.mutual(u(1), 1, None, 10).await.unwrap(),
        Some(expected.clone())
    );
    for limit in 1..=8 {
        assert_eq!(
            all_pages(c, u(1), 1, limit).await,
            expected,
            "limit {limit}"
        );
    }
    // Strictly after: the cursor's own entry is not repeated.
    assert_eq!(
        c.mutual(u(1), 1, Some((T0, u(11))), 2).await.unwrap(),
        Some(list(&[(10, T0), (9, T0)]))
    );
    // A cursor need not be an entry: (T0, 50) sits between 99 and 11.
    assert_eq!(
        c.mutual(u(1), 1, Some((T0, u(50))), 3).await.unwrap(),
        Some(list(&[(11, T0), (10, T0), (9, T0)]))
    );
    // A later time with a smaller id still comes first.
    c.apply(&[change(1, 1, 2, vec![Edit::AddFollowing(u(2), T0 + 1)])])
        .await
        .unwrap();
    assert_eq!(
        c.mutual(u(1), 2, Some((T0 + 1, u(2))), 2).await.unwrap(),
        Some(list(&[(1_000, T0), (100, T0)]))
    );
    assert_eq!(
        c.mutual(u(1), 2, Some((T0 + 1, u(3))), 1).await.unwrap(),
        Some(list(&[(2, T0 + 1)]))
    );
}

/// Zero limits, cursors past the end and users without mutual follows give empty pages.
pub(crate) async fn mutual_limits_and_empty_results(c: &impl Cache) {
    c.fill(
        u(1),
        sets(1, &[(2, T0 + 2), (3, T0 + 3)], &[(2, T0), (3, T0)]),
    )
    .await
    .unwrap();
    assert_eq!(c.mutual(u(1), 1, None, 0).await.unwrap(), Some(vec![]));
    assert_eq!(
        c.mutual(u(1), 1, None, 1).await.unwrap(),
        Some(list(&[(3, T0 + 3)]))
    );
    assert_eq!(
        c.mutual(u(1), 1, None, 1_000_000).await.unwrap(),
        Some(list(&[(3, T0 + 3), (2, T0 + 2)]))
    );
    assert_eq!(
        c.mutual(u(1), 1, Some((T0 + 2, u(2))), 10).await.unwrap(),
        Some(vec![])
    );
    assert_eq!(
        c.mutual(u(1), 1, Some((T0 - 1_000, u(i64::MAX))), 10)
            .await
            .unwrap(),
        Some(vec![])
    );
    // A cursor before the first entry returns everything.
    assert_eq!(
        c.mutual(u(1), 1, Some((T0 + 3, u(i64::MAX))), 10)
            .await
            .unwrap(),
        Some(list(&[(3, T0 + 3), (2, T0 + 2)]))
    );
    // Follows one way only, in either direction: no mutual follows.
    c.fill(u(7), sets(1, &[(2, T0), (3, T0)], &[(4, T0)]))
        .await
        .unwrap();
    assert_eq!(c.mutual(u(7), 1, None, 10).await.unwrap(), Some(vec![]));
    c.fill(u(8), sets(1, &[(4, T0)], &[(2, T0), (3, T0)]))
        .await
        .unwrap();
    assert_eq!(c.mutual(u(8), 1, None, 10).await.unwrap(), Some(vec![]));
}

/// Pages agree with a brute-force answer whichever set is the smaller one,
/// with many ties on followed_at.
pub(crate) async fn mutual_pages_match_brute_force_either_side_smaller(c: &impl Cache) {
    let mut rng = Lcg(7);
    for (user, n_following, n_followers) in [(1, 300, 120), (2, 120, 300), (3, 200, 200)] {
        let mut pick = |n: usize| {
            let mut ids: Vec<i64> = (0..n).map(|_| 1 + rng.next(400) as i64).collect();
            ids.sort_unstable();
            ids.dedup();
            ids.into_iter()
                .map(|id| (id, T0 + rng.next(6) as i64))
                .collect::<Vec<_>>()
        };
        let s = sets(1, &pick(n_following), &pick(n_followers));
        let expected = brute_mutual(&s);
        assert!(expected.len() > 20, "the test needs mutual follows");
        c.fill(u(user), s).await.unwrap();
        for limit in [1, 3, 7, 50, 1_000] {
            assert_eq!(
                all_pages(c, u(user), 1, limit).await,
                expected,
                "user {user}, limit {limit}"
            );
        }
        // Cursors that are not entries, including ones between tied ids.
        for _ in 0..20 {
            let cursor = (T0 + rng.next(7) as i64, u(rng.next(402) as i64));
            let want: Vec<_> = expected
                .iter()
                .copied()
                .filter(|&(id, t)| (t, id) < cursor)
                .take(5)
                .collect();
            assert_eq!(
                c.mutual(u(user), 1, Some(cursor), 5).await.unwrap(),
                Some(want),
                "user {user}, cursor {cursor:?}"
            );
        }
    }
}

/// A user following many, with a few followers followed back long ago: the
/// mutual follows sit at the far end of the following order.
pub(crate) async fn mutual_found_at_the_far_end_of_following(c: &impl Cache) {
    let following: Vec<(i64, Millis)> = (1..=3_000).map(|i| (i, T0 + i)).collect();
    let followers: Vec<(i64, Millis)> = (1..=12).map(|i| (i * 2, T0)).collect();
    let s = sets(1, &following, &followers);
    let expected = brute_mutual(&s);
    assert_eq!(expected.len(), 12);
    c.fill(u(1), s).await.unwrap();
    for limit in [1, 5, 12, 50] {
        assert_eq!(
            all_pages(c, u(1), 1, limit).await,
            expected,
            "limit {limit}"
        );
    }
}

/// Fills a user with one big set and a half-overlapping smaller one, checks
/// counts and pages against brute force, and prints how long a page takes.
async fn big_user(c: &impl Cache, following_is_big: bool) {
    let user = u(1);
    // 100k on the big side with heavy ties (1,000 distinct times); every
    // other of them also on the small side, plus 1,000 only there.
    let big: Vec<(i64, Millis)> = (1..=100_000).map(|i| (i, T0 + (i % 1_000))).collect();
    let small: Vec<(i64, Millis)> = (1..=100_000)
        .filter(|i| i % 2 == 0)
        .chain(200_001..=201_000)
        .map(|i| (i, T0 + (i * 7) % 5_000))
        .collect();
    let s = if following_is_big {
        sets(1, &big, &small)
    } else {
        sets(1, &small, &big)
    };
    let expected = brute_mutual(&s);
    assert_eq!(expected.len(), 50_000);
    let (n_following, n_followers) = (s.following.len() as u64, s.followers.len() as u64);

    let started = Instant::now();
    c.fill(user, s).await.unwrap();
    let fill_time = started.elapsed();
    assert_eq!(
        c.counts(user, 1).await.unwrap(),
        Some((n_following, n_followers))
    );
    assert_eq!(c.relation(user, 1, u(2)).await.unwrap(), rel(true, true));
    assert_eq!(
        c.relation(user, 1, u(3)).await.unwrap(),
        rel(following_is_big, !following_is_big)
    );

    let mut times = Vec::new();
    for _ in 0..15 {
        let started = Instant::now();
        let page = c.mutual(user, 1, None, 50).await.unwrap().unwrap();
        times.push(started.elapsed());
        assert_eq!(page, expected[..50]);
    }
    // Deep pages: from the middle and near the end.
    for at in [24_999, 49_990] {
        let (id, t) = expected[at];
        let page = c.mutual(user, 1, Some((t, id)), 50).await.unwrap().unwrap();
        assert_eq!(page, expected[at + 1..(at + 51).min(50_000)], "after {at}");
    }
    times.sort();
    let side = if following_is_big {
        "100k following, 51k followers"
    } else {
        "100k followers, 51k following"
    };
    note(&format!(
        "timing: {} cache, {side}: fill {:.1} ms; mutual page of 50: median {:.3} ms, best {:.3} ms",
        c.kind(),
        ms(fill_time),
        ms(times[times.len() / 2]),
        ms(times[0]),
    ));
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1_000.0
}

/// A user with 100,000 followers: fill, counts and mutual pages stay correct (and fast).
pub(crate) async fn hundred_thousand_followers(c: &impl Cache) {
    big_user(c, false).await;
}

/// The mirror case, where following is the big set and followers the small one.
pub(crate) async fn hundred_thousand_following(c: &impl Cache) {
    big_user(c, true).await;
}

// ---------------------------------------------------------------- in-process

mod memory {
    use super::*;

    async fn make() -> Option<InProcessCache> {
        Some(InProcessCache::new(10_000_000))
    }

    cache_contract_tests!(make());

    /// Eviction keeps the members held under the bound, dropping the least recently used user.
    #[tokio::test]
    async fn eviction_keeps_members_under_the_bound() {
        let c = InProcessCache::new(1_000);
        let hundred: Vec<(i64, Millis)> = (1..=100).map(|i| (i, T0)).collect();
        // Each entry weighs 101 (100 members + 1).
        for user in 1..=9 {
            c.fill(u(user), sets(1, &hundred, &[])).await.unwrap();
        }
        assert_eq!(c.members_held(), 909);
        assert!(c.counts(u(1), 1).await.unwrap().is_some()); // 1 is now the most recent
        c.fill(u(10), sets(1, &hundred, &[])).await.unwrap();
        assert!(c.members_held() <= 1_000);
        assert!(c.counts(u(1), 1).await.unwrap().is_some());
        assert!(
            c.counts(u(2), 1).await.unwrap().is_none(),
            "2 was least recent"
        );
        assert!(c.counts(u(10), 1).await.unwrap().is_some());

        for user in 11..=200 {
            c.fill(u(user), sets(1, &hundred, &hundred)).await.unwrap();
            assert!(c.members_held() <= 1_000);
        }
        // Growth through apply is weighed too.
        let c = InProcessCache::new(1_000);
        c.fill(u(1), sets(1, &hundred, &[])).await.unwrap();
        c.fill(u(2), sets(1, &hundred, &[])).await.unwrap();
        let edits = (1..=850).map(|i| Edit::AddFollower(u(i), T0)).collect();
        c.apply(&[change(1, 1, 2, edits)]).await.unwrap();
        assert!(c.members_held() <= 1_000);
    }
}

// ---------------------------------------------------------------- Redis

mod redis_server {
    use super::*;
    use std::hash::{BuildHasher, RandomState};
    use std::sync::Once;

    const URL_VAR: &str = "ROOMY_TEST_REDIS_URL";
    const REQUIRE_VAR: &str = "ROOMY_TEST_REQUIRE_SERVICES";
    static SKIP_NOTICE: Once = Once::new();

    fn url() -> Option<String> {
        match std::env::var(URL_VAR) {
            Ok(url) if !url.is_empty() => Some(url),
            _ if std::env::var(REQUIRE_VAR).as_deref() == Ok("1") => {
                panic!("{URL_VAR} is not set but {REQUIRE_VAR}=1: the Redis cache suite must run")
            }
            _ => {
                SKIP_NOTICE
                    .call_once(|| note(&format!("skipped: redis cache tests ({URL_VAR} unset)")));
                None
            }
        }
    }

    /// A cache on the test server with a prefix of its own, so tests never share keys.
    async fn make() -> Option<RedisCache> {
        let url = url()?;
        let prefix = format!(
            "roomy-test-{:016x}:",
            RandomState::new().hash_one(std::process::id())
        );
        Some(RedisCache::connect(&url, &prefix).await.unwrap())
    }

    cache_contract_tests!(make());

    async fn ttl_ms(c: &RedisCache, key: &str) -> i64 {
        redis::cmd("PTTL")
            .arg(format!("{}{key}", c.prefix()))
            .query_async(&mut c.connection())
            .await
            .unwrap()
    }

    async fn keys(c: &RedisCache) -> Vec<String> {
        let mut k: Vec<String> = redis::cmd("KEYS")
            .arg(format!("{}*", c.prefix()))
            .query_async(&mut c.connection())
            .await
            .unwrap();
        k.sort();
        k
    }

    /// Every key of a user expires, and the version key first.
    #[tokio::test]
    async fn keys_expire_version_first() {
        let Some(c) = make().await else { return };
        c.fill(u(1), sets(1, &[(2, T0)], &[(3, T0)])).await.unwrap();
        let check = async |c: &RedisCache| {
            let ver = ttl_ms(c, "graph:1:ver").await;
            let following = ttl_ms(c, "graph:1:following").await;
            let followers = ttl_ms(c, "graph:1:followers").await;
            assert!(ver > 23 * 3_600_000, "about a day: {ver}");
            assert!(
                following > ver && followers > ver,
                "{ver} {following} {followers}"
            );
        };
        check(&c).await;
        // A set created by apply (there was none) gets a TTL too.
        c.apply(&[change(
            1,
            1,
            2,
            vec![Edit::RemoveFollower(u(3)), Edit::AddFollower(u(4), T0)],
        )])
        .await
        .unwrap();
        check(&c).await;
        c.cleanup().await;
    }

    /// A fill leaves exactly the user's keys behind (no temporaries), also when it loses.
    #[tokio::test]
    async fn fill_leaves_no_temporaries() {
        let Some(c) = make().await else { return };
        let many: Vec<(i64, Millis)> = (1..=2_500).map(|i| (i, T0 + i)).collect();
        c.fill(u(1), sets(2, &many, &many)).await.unwrap();
        c.fill(u(1), sets(1, &many, &[])).await.unwrap();
        let p = c.prefix();
        assert_eq!(
            keys(&c).await,
            [
                format!("{p}graph:1:followers"),
                format!("{p}graph:1:following"),
                format!("{p}graph:1:ver"),
            ]
        );
        assert_eq!(c.counts(u(1), 2).await.unwrap(), Some((2_500, 2_500)));
        // An empty set has no key, but the entry is there.
        c.fill(u(1), sets(3, &many, &[])).await.unwrap();
        assert_eq!(keys(&c).await.len(), 2);
        assert_eq!(c.counts(u(1), 3).await.unwrap(), Some((2_500, 0)));
        c.cleanup().await;
    }

    /// A set evicted on its own (maxmemory) makes the entry a miss, not an empty
    /// set, and a fill at the same version repairs it.
    #[tokio::test]
    async fn a_lost_set_is_a_miss_not_an_empty_set() {
        let Some(c) = make().await else { return };
        let s = sets(4, &[(2, T0)], &[(2, T0), (3, T0)]);
        c.fill(u(1), s.clone()).await.unwrap();
        redis::cmd("DEL")
            .arg(format!("{}graph:1:followers", c.prefix()))
            .query_async::<()>(&mut c.connection())
            .await
            .unwrap();
        assert_eq!(c.counts(u(1), 4).await.unwrap(), None);
        assert_eq!(c.relation(u(1), 4, u(2)).await.unwrap(), None);
        assert_eq!(c.mutual(u(1), 4, None, 5).await.unwrap(), None);
        c.fill(u(1), s).await.unwrap();
        assert_eq!(c.counts(u(1), 4).await.unwrap(), Some((1, 2)));
        // An apply on a damaged entry drops it rather than editing it.
        redis::cmd("DEL")
            .arg(format!("{}graph:1:following", c.prefix()))
            .query_async::<()>(&mut c.connection())
            .await
            .unwrap();
        c.apply(&[change(1, 4, 5, vec![Edit::AddFollowing(u(3), T0)])])
            .await
            .unwrap();
        assert_eq!(c.counts(u(1), 5).await.unwrap(), None);
        assert!(keys(&c).await.is_empty());
        c.cleanup().await;
    }

    /// After the server forgets its scripts (a restart), every call loads them again.
    #[tokio::test]
    async fn scripts_reload_after_a_flush() {
        let Some(c) = make().await else { return };
        c.fill(u(1), sets(1, &[], &[])).await.unwrap();
        redis::cmd("SCRIPT")
            .arg("FLUSH")
            .query_async::<()>(&mut c.connection())
            .await
            .unwrap();
        c.apply(&[change(1, 1, 2, vec![Edit::AddFollowing(u(2), T0)])])
            .await
            .unwrap();
        assert_eq!(c.counts(u(1), 2).await.unwrap(), Some((1, 0)));
        c.cleanup().await;
    }

    /// An unreachable server is an error the caller can fall back on, not a panic or a hang.
    #[tokio::test]
    async fn unreachable_server_is_unavailable() {
        let err = RedisCache::connect("redis://127.0.0.1:1", "x:").await.err();
        assert!(
            matches!(err, Some(crate::CacheError::Unavailable(_))),
            "{err:?}"
        );
        let err = RedisCache::connect("not a url", "x:").await.err();
        assert!(matches!(err, Some(crate::CacheError::Unavailable(_))));
    }
}
