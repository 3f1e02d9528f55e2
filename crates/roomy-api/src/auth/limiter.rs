//! Login abuse control. Failed logins (and wrong old passwords) are counted:
//!
//! - per (account, address): `per_minute` in a minute, then that address is
//!   refused for that account. Someone guessing from one address locks out
//!   only themselves; the owner elsewhere still gets in.
//! - per address over all accounts: 3 × `per_minute` in a minute (one
//!   address trying many accounts).
//! - per account over all addresses: `per_hour` in an hour bounds a
//!   guess spread over many addresses. Addresses the owner logged in from in
//!   the last 30 days are exempt from this one, so a distributed guess cannot
//!   lock the owner out of their usual places either (OWASP ASVS V6,
//!   "known devices").
//!
//! Counters live in this process: with several nodes each node enforces the
//! limits on its own share of the traffic.

use std::collections::{HashMap, VecDeque};
use std::hash::Hash;
use std::sync::Mutex;
use time::OffsetDateTime;

const MINUTE_MS: i64 = 60_000;
const HOUR_MS: i64 = 3_600_000;
/// How long an address the owner logged in from stays known.
const KNOWN_FOR_MS: i64 = 30 * 24 * HOUR_MS;
/// Known addresses kept per account (the most recent).
const KNOWN_PER_ACCOUNT: usize = 8;
/// Map size above which stale entries are swept.
const SWEEP_ABOVE: usize = 10_000;

/// Failure timestamps (Unix ms, oldest first) by account, by address and by pair.
#[derive(Debug)]
pub struct LoginLimiter {
    per_minute: usize,
    per_hour: usize,
    state: Mutex<State>,
}

#[derive(Debug)]
struct State {
    pairs: Window<(String, String)>,
    accounts: Window<String>,
    addresses: Window<String>,
    /// Per account, the addresses of recent successful logins and when.
    known: HashMap<String, Vec<(String, i64)>>,
    /// Size of `known` at which its stale entries are next swept.
    known_sweep_at: usize,
}

/// Timestamps by key, and the size at which stale keys are next swept.
#[derive(Debug)]
struct Window<K> {
    times: HashMap<K, VecDeque<i64>>,
    sweep_at: usize,
}

impl Default for State {
    fn default() -> Self {
        State {
            pairs: Window::default(),
            accounts: Window::default(),
            addresses: Window::default(),
            known: HashMap::new(),
            known_sweep_at: SWEEP_ABOVE,
        }
    }
}

impl<K> Default for Window<K> {
    fn default() -> Self {
        Window {
            times: HashMap::new(),
            sweep_at: SWEEP_ABOVE,
        }
    }
}

/// Seconds until the `n`-th most recent failure leaves a `window`, if `n` are in it.
fn wait(failures: Option<&VecDeque<i64>>, n: usize, window: i64, now: i64) -> Option<i64> {
    let f = failures?;
    let in_window = f.iter().rev().take_while(|&&t| t > now - window).count();
    if in_window < n {
        return None;
    }
    let nth = f[f.len() - n];
    Some(((nth + window - now) + 999) / 1000)
}

impl<K: Hash + Eq> Window<K> {
    fn push(&mut self, key: K, now: i64, keep: usize, window: i64) {
        // Sweeping costs O(keys): do it only when the map has doubled since the
        // last sweep, so recording a failure stays O(1) amortised.
        if self.times.len() > self.sweep_at {
            self.times
                .retain(|_, f| f.back().is_some_and(|&t| t > now - window));
            self.sweep_at = (self.times.len() * 2).max(SWEEP_ABOVE);
        }
        let f = self.times.entry(key).or_default();
        f.push_back(now);
        while f.len() > keep || f.front().is_some_and(|&t| t <= now - window) {
            f.pop_front();
        }
    }
}

impl LoginLimiter {
    /// A limiter with no history: `per_minute` failures per (account,
    /// address), `per_hour` per account.
    pub fn new(per_minute: usize, per_hour: usize) -> Self {
        LoginLimiter {
            per_minute: per_minute.max(1),
            per_hour: per_hour.max(1),
            state: Mutex::default(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// `Err(seconds)` when an attempt for `account` from `address` must be refused now.
    pub fn check(&self, account: &str, address: &str, now: OffsetDateTime) -> Result<(), u64> {
        let now = roomy_core::clock::to_millis(now);
        let s = self.lock();
        let pair = (account.to_owned(), address.to_owned());
        let known = s.known.get(account).is_some_and(|a| {
            a.iter()
                .any(|(addr, at)| addr == address && *at > now - KNOWN_FOR_MS)
        });
        let account_wide = if known {
            None
        } else {
            wait(s.accounts.times.get(account), self.per_hour, HOUR_MS, now)
        };
        let waits = [
            wait(s.pairs.times.get(&pair), self.per_minute, MINUTE_MS, now),
            wait(
                s.addresses.times.get(address),
                self.per_minute * 3,
                MINUTE_MS,
                now,
            ),
            account_wide,
        ];
        match waits.into_iter().flatten().max() {
            Some(secs) => Err(secs.max(1) as u64),
            None => Ok(()),
        }
    }

    /// Counts a failed attempt against the pair, the account and the address.
    pub fn record_failure(&self, account: &str, address: &str, now: OffsetDateTime) {
        let now = roomy_core::clock::to_millis(now);
        let mut s = self.lock();
        let (per_minute, per_hour) = (self.per_minute, self.per_hour);
        s.pairs.push(
            (account.to_owned(), address.to_owned()),
            now,
            per_minute,
            MINUTE_MS,
        );
        s.accounts.push(account.to_owned(), now, per_hour, HOUR_MS);
        s.addresses
            .push(address.to_owned(), now, per_minute * 3, MINUTE_MS);
    }

    /// The account's owner proved the password from `address`: that pair's
    /// failures no longer count, and the address becomes known (exempt from
    /// the account-wide hourly limit). The account-wide count stays, so a
    /// guess spread over other addresses stays bounded.
    pub fn record_success(&self, account: &str, address: &str, now: OffsetDateTime) {
        let now = roomy_core::clock::to_millis(now);
        let mut s = self.lock();
        s.pairs
            .times
            .remove(&(account.to_owned(), address.to_owned()));
        // Swept like the failure maps, once the map has doubled.
        if s.known.len() > s.known_sweep_at {
            let cutoff = now - KNOWN_FOR_MS;
            s.known.retain(|_, a| a.iter().any(|(_, at)| *at > cutoff));
            s.known_sweep_at = (s.known.len() * 2).max(SWEEP_ABOVE);
        }
        let list = s.known.entry(account.to_owned()).or_default();
        list.retain(|(a, _)| a != address);
        list.push((address.to_owned(), now));
        if list.len() > KNOWN_PER_ACCOUNT {
            list.remove(0);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::Duration;

    fn limiter() -> LoginLimiter {
        LoginLimiter::new(10, 100)
    }

    #[test]
    fn ten_failures_lock_the_pair_not_the_account() {
        let l = limiter();
        let t = OffsetDateTime::now_utc();
        for _ in 0..10 {
            assert!(l.check("acct", "attacker", t).is_ok());
            l.record_failure("acct", "attacker", t);
        }
        assert_eq!(l.check("acct", "attacker", t), Err(60));
        assert!(l.check("acct", "owner", t).is_ok());
        assert!(
            l.check("acct", "attacker", t + Duration::seconds(59))
                .is_err()
        );
        assert!(
            l.check("acct", "attacker", t + Duration::seconds(60))
                .is_ok()
        );
    }

    #[test]
    fn per_address_limit_spans_accounts() {
        let l = limiter();
        let t = OffsetDateTime::now_utc();
        for i in 0..30 {
            l.record_failure(&format!("acct{i}"), "1.2.3.4", t);
        }
        assert!(l.check("someone-else", "1.2.3.4", t).is_err());
        assert!(l.check("someone-else", "5.6.7.8", t).is_ok());
    }

    #[test]
    fn hundred_an_hour_per_account_except_from_known_addresses() {
        let l = limiter();
        let t = OffsetDateTime::now_utc();
        l.record_success("acct", "home", t);
        for i in 0..100 {
            l.record_failure("acct", &format!("ip{i}"), t);
        }
        assert_eq!(l.check("acct", "new", t), Err(3600));
        assert!(l.check("acct", "home", t).is_ok(), "the owner's address");
        assert!(l.check("acct", "new", t + Duration::hours(1)).is_ok());
        // Known addresses are forgotten after 30 days.
        let later = t + Duration::days(31);
        for i in 0..100 {
            l.record_failure("acct", &format!("ip{i}"), later);
        }
        assert!(l.check("acct", "home", later).is_err());
    }

    #[test]
    fn success_clears_the_pair_but_not_the_address_or_account() {
        let l = limiter();
        let t = OffsetDateTime::now_utc();
        for i in 0..30 {
            l.record_failure("acct", "ip", t + Duration::milliseconds(i));
        }
        l.record_success("acct", "ip", t);
        assert!(
            l.check("other", "ip", t).is_err(),
            "the address still counts"
        );
        let l = limiter();
        for _ in 0..10 {
            l.record_failure("acct", "ip", t);
        }
        l.record_success("acct", "ip", t);
        assert!(l.check("acct", "ip", t).is_ok());
    }
}
