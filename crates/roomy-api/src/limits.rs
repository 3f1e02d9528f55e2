//! Rate limits on what one user or one address may do: token buckets on the
//! injected clock. Sends, friend requests, searches and syncs are limited
//! per user; registrations and guest accounts per client address. Refusals
//! are 429 `rate_limited` with `Retry-After` (WebSocket: an `error` frame
//! with the request id).
//!
//! A bucket holds at most `burst` tokens and gains `rate` per second; each
//! action takes one. A bucket that has filled up again says no more than a
//! missing one, so full buckets are swept once the map has doubled: memory
//! stays bounded by the users (or addresses) active within one refill time.
//! Counters live in this process: with several nodes, each node enforces the
//! limits on its own share of the traffic.

use crate::error::ApiError;
use roomy_core::{Config, UserId};
use std::{collections::HashMap, hash::Hash, net::IpAddr, sync::Mutex};
use time::OffsetDateTime;

/// Keys tracked before full buckets are first swept.
const SWEEP_ABOVE: usize = 10_000;

/// A limit: `burst` actions at once, refilled at `rate` per second.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rate {
    /// Actions allowed at once, after a quiet period.
    pub burst: f64,
    /// Actions regained per second.
    pub rate: f64,
}

impl Rate {
    /// `burst` at once, `rate` per second after; `None` (no limit) when either is 0.
    pub fn new(burst: u32, rate: f64) -> Option<Rate> {
        (burst > 0 && rate > 0.0).then_some(Rate {
            burst: f64::from(burst),
            rate,
        })
    }

    /// `n` per `secs` seconds, all of them at once if saved up; 0: no limit.
    pub fn per(n: u32, secs: u32) -> Option<Rate> {
        Rate::new(n, f64::from(n) / f64::from(secs.max(1)))
    }
}

/// One bucket: the tokens it held at `at` (Unix ms).
#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: i64,
}

/// Token buckets by key, all with one [`Rate`] (or none: everything passes).
#[derive(Debug)]
pub struct Buckets<K> {
    rate: Option<Rate>,
    state: Mutex<(HashMap<K, Bucket>, usize)>,
}

impl<K: Hash + Eq + Clone> Buckets<K> {
    /// Buckets refilling at `rate`; `None` never refuses.
    pub fn new(rate: Option<Rate>) -> Self {
        Buckets {
            rate,
            state: Mutex::new((HashMap::new(), SWEEP_ABOVE)),
        }
    }

    /// Takes one token for `key`, or says in how many seconds one will be there.
    pub fn take(&self, key: &K, now: OffsetDateTime) -> Result<(), u64> {
        let Some(Rate { burst, rate }) = self.rate else {
            return Ok(());
        };
        let now = roomy_core::clock::to_millis(now);
        let level = |b: &Bucket| {
            let elapsed = (now - b.at).max(0) as f64 / 1000.0;
            (b.tokens + elapsed * rate).min(burst)
        };
        let mut guard = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let (map, sweep_at) = &mut *guard;
        // Sweeping costs O(keys): only when the map has doubled since the
        // last sweep, so a take stays O(1) amortised.
        if map.len() >= *sweep_at {
            map.retain(|_, b| level(b) < burst);
            *sweep_at = (map.len() * 2).max(SWEEP_ABOVE);
        }
        let bucket = map.entry(key.clone()).or_insert(Bucket {
            tokens: burst,
            at: now,
        });
        let tokens = level(bucket);
        if tokens >= 1.0 {
            *bucket = Bucket {
                tokens: tokens - 1.0,
                at: now,
            };
            Ok(())
        } else {
            Err((((1.0 - tokens) / rate).ceil() as u64).max(1))
        }
    }

    /// Keys currently tracked (for tests of the sweep).
    pub fn tracked(&self) -> usize {
        self.state.lock().unwrap_or_else(|e| e.into_inner()).0.len()
    }
}

/// What a user does that is limited per user.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// A message sent, over HTTP or the WebSocket.
    Send,
    /// A friend request sent.
    FriendRequest,
    /// A user search.
    Search,
    /// A sync, over HTTP or the WebSocket.
    Sync,
}

/// What is limited per client address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signup {
    /// A registration.
    Register,
    /// A new guest account.
    Guest,
}

/// The limits of one [`AppState`](crate::AppState).
#[derive(Debug)]
pub struct Limits {
    sends: Buckets<UserId>,
    friend_requests: Buckets<UserId>,
    searches: Buckets<UserId>,
    syncs: Buckets<UserId>,
    registrations: Buckets<IpAddr>,
    guests: Buckets<IpAddr>,
}

/// The abuse limits of the configuration: rates, login thresholds, trusted
/// proxies, session and guest lifetimes.
#[derive(Debug, Clone, PartialEq)]
pub struct AbuseSettings {
    pub sends: Option<Rate>,
    pub friend_requests: Option<Rate>,
    pub searches: Option<Rate>,
    pub syncs: Option<Rate>,
    pub registrations: Option<Rate>,
    pub guests: Option<Rate>,
    /// Failed logins per minute for one (account, address).
    pub login_failures_per_minute: usize,
    /// Failed logins per hour for one account.
    pub login_failures_per_hour: usize,
    /// Peers whose `X-Forwarded-For` is believed.
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// Idle time after which a guest account is retired; `None`: never.
    pub guest_ttl: Option<time::Duration>,
}

impl AbuseSettings {
    /// The limits `config` asks for (`config.check()` has vetted it).
    pub fn from_config(c: &Config) -> AbuseSettings {
        AbuseSettings {
            sends: Rate::new(c.send_burst, f64::from(c.sends_per_sec)),
            friend_requests: Rate::per(c.friend_requests_per_hour, 3600),
            searches: Rate::per(c.searches_per_minute, 60),
            syncs: Rate::per(c.syncs_per_minute, 60),
            registrations: Rate::per(c.registrations_per_hour, 3600),
            guests: Rate::per(c.guests_per_hour, 3600),
            login_failures_per_minute: c.login_failures_per_minute.max(1) as usize,
            login_failures_per_hour: c.login_failures_per_hour.max(1) as usize,
            trusted_proxies: c.trusted_proxy_nets().unwrap_or_default(),
            guest_ttl: (c.guest_ttl_secs > 0).then(|| {
                time::Duration::seconds(i64::try_from(c.guest_ttl_secs).unwrap_or(i64::MAX / 1000))
            }),
        }
    }
}

fn limited(retry_after_secs: u64) -> ApiError {
    ApiError::RateLimited { retry_after_secs }
}

impl Limits {
    /// Empty buckets with the given rates.
    pub fn new(s: &AbuseSettings) -> Limits {
        Limits {
            sends: Buckets::new(s.sends),
            friend_requests: Buckets::new(s.friend_requests),
            searches: Buckets::new(s.searches),
            syncs: Buckets::new(s.syncs),
            registrations: Buckets::new(s.registrations),
            guests: Buckets::new(s.guests),
        }
    }

    /// 429 unless `user` may do `action` now; it counts when allowed.
    pub fn user(&self, action: Action, user: UserId, now: OffsetDateTime) -> Result<(), ApiError> {
        let buckets = match action {
            Action::Send => &self.sends,
            Action::FriendRequest => &self.friend_requests,
            Action::Search => &self.searches,
            Action::Sync => &self.syncs,
        };
        buckets.take(&user, now).map_err(limited)
    }

    /// 429 unless `address` may create another account of this kind now.
    pub fn signup(
        &self,
        kind: Signup,
        address: IpAddr,
        now: OffsetDateTime,
    ) -> Result<(), ApiError> {
        let buckets = match kind {
            Signup::Register => &self.registrations,
            Signup::Guest => &self.guests,
        };
        buckets.take(&address, now).map_err(limited)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::Duration;

    #[test]
    fn a_burst_then_the_sustained_rate() {
        let b = Buckets::new(Rate::new(3, 2.0));
        let t = OffsetDateTime::now_utc();
        for _ in 0..3 {
            assert!(b.take(&1, t).is_ok());
        }
        assert_eq!(b.take(&1, t), Err(1));
        assert!(b.take(&2, t).is_ok(), "another key has its own bucket");
        // 2 per second: one token every 500 ms.
        assert_eq!(b.take(&1, t + Duration::milliseconds(499)), Err(1));
        assert!(b.take(&1, t + Duration::milliseconds(500)).is_ok());
        assert!(b.take(&1, t + Duration::milliseconds(500)).is_err());
        // A long pause refills to the burst, never beyond it.
        let later = t + Duration::hours(1);
        for _ in 0..3 {
            assert!(b.take(&1, later).is_ok());
        }
        assert!(b.take(&1, later).is_err());
    }

    #[test]
    fn retry_after_counts_whole_seconds_to_the_next_token() {
        let b = Buckets::new(Rate::per(10, 3600));
        let t = OffsetDateTime::now_utc();
        for _ in 0..10 {
            assert!(b.take(&"ip", t).is_ok());
        }
        assert_eq!(b.take(&"ip", t), Err(360));
        assert!(b.take(&"ip", t + Duration::seconds(360)).is_ok());
    }

    #[test]
    fn no_rate_never_refuses() {
        let b = Buckets::new(Rate::new(0, 5.0));
        let t = OffsetDateTime::now_utc();
        for _ in 0..10_000 {
            assert!(b.take(&1, t).is_ok());
        }
        assert_eq!(b.tracked(), 0);
    }

    #[test]
    fn full_buckets_are_swept_so_memory_stays_bounded() {
        let b = Buckets::new(Rate::new(5, 1.0));
        let t = OffsetDateTime::now_utc();
        for k in 0..SWEEP_ABOVE {
            assert!(b.take(&k, t).is_ok());
        }
        assert_eq!(b.tracked(), SWEEP_ABOVE);
        // One second later every bucket is full again: the next new key sweeps them.
        assert!(b.take(&usize::MAX, t + Duration::seconds(1)).is_ok());
        assert_eq!(b.tracked(), 1);
        // Buckets still refilling are kept.
        let b = Buckets::new(Rate::new(5, 1.0));
        for k in 0..SWEEP_ABOVE {
            assert!(b.take(&k, t).is_ok());
        }
        assert!(b.take(&usize::MAX, t + Duration::milliseconds(500)).is_ok());
        assert_eq!(b.tracked(), SWEEP_ABOVE + 1);
    }
}
