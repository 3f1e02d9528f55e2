//! Login abuse control: failed logins are counted per account and per client
//! address. Refused (429 with `Retry-After`) once an account has 10 failures
//! within a minute or 100 within an hour, or an address has 10 within a minute.
//!
//! Counters live in this process: with several nodes each node enforces the
//! limits on its own share of the traffic.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use time::OffsetDateTime;

const MINUTE_MS: i64 = 60_000;
const HOUR_MS: i64 = 3_600_000;
/// Failures per minute tolerated on one account or one address.
pub const PER_MINUTE: usize = 10;
/// Failures per hour tolerated on one account.
pub const ACCOUNT_PER_HOUR: usize = 100;
/// Map size above which stale entries are swept.
const SWEEP_ABOVE: usize = 10_000;

/// Failure timestamps (Unix ms, oldest first), keyed by account and by address.
#[derive(Debug, Default)]
pub struct LoginLimiter {
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    accounts: Window,
    addresses: Window,
}

/// Failures by key, and the size at which stale keys are next swept.
#[derive(Debug, Default)]
struct Window {
    failures: HashMap<String, VecDeque<i64>>,
    sweep_at: usize,
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

fn push(w: &mut Window, key: &str, now: i64, keep: usize, window: i64) {
    // Sweeping costs O(keys): do it only when the map has doubled since the
    // last sweep, so recording a failure stays O(1) amortised.
    if w.failures.len() > w.sweep_at.max(SWEEP_ABOVE) {
        w.failures
            .retain(|_, f| f.back().is_some_and(|&t| t > now - window));
        w.sweep_at = w.failures.len() * 2;
    }
    let f = w.failures.entry(key.to_owned()).or_default();
    f.push_back(now);
    while f.len() > keep || f.front().is_some_and(|&t| t <= now - window) {
        f.pop_front();
    }
}

impl LoginLimiter {
    /// A limiter with no history.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// `Err(seconds)` when an attempt for `account` from `address` must be refused now.
    pub fn check(&self, account: &str, address: &str, now: OffsetDateTime) -> Result<(), u64> {
        let now = roomy_core::clock::to_millis(now);
        let s = self.lock();
        let acct = s.accounts.failures.get(account);
        let waits = [
            wait(acct, PER_MINUTE, MINUTE_MS, now),
            wait(acct, ACCOUNT_PER_HOUR, HOUR_MS, now),
            wait(
                s.addresses.failures.get(address),
                PER_MINUTE,
                MINUTE_MS,
                now,
            ),
        ];
        match waits.into_iter().flatten().max() {
            Some(secs) => Err(secs.max(1) as u64),
            None => Ok(()),
        }
    }

    /// Counts a failed attempt against both the account and the address.
    pub fn record_failure(&self, account: &str, address: &str, now: OffsetDateTime) {
        let now = roomy_core::clock::to_millis(now);
        let mut s = self.lock();
        push(&mut s.accounts, account, now, ACCOUNT_PER_HOUR, HOUR_MS);
        push(&mut s.addresses, address, now, PER_MINUTE, MINUTE_MS);
    }

    /// The account's owner proved the password: its failures no longer count.
    /// The address keeps its record, so one good login cannot launder a guessing run.
    pub fn record_success(&self, account: &str) {
        self.lock().accounts.failures.remove(account);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::Duration;

    #[test]
    fn ten_failures_a_minute_then_refused_until_the_window_passes() {
        let l = LoginLimiter::new();
        let t = OffsetDateTime::now_utc();
        for i in 0..10 {
            assert!(l.check("acct", &format!("ip{i}"), t).is_ok());
            l.record_failure("acct", &format!("ip{i}"), t);
        }
        let secs = l.check("acct", "fresh-ip", t).expect_err("refused");
        assert_eq!(secs, 60);
        assert!(l.check("acct", "x", t + Duration::seconds(59)).is_err());
        assert!(l.check("acct", "x", t + Duration::seconds(60)).is_ok());
    }

    #[test]
    fn per_address_limit_spans_accounts() {
        let l = LoginLimiter::new();
        let t = OffsetDateTime::now_utc();
        for i in 0..10 {
            l.record_failure(&format!("acct{i}"), "1.2.3.4", t);
        }
        assert!(l.check("someone-else", "1.2.3.4", t).is_err());
        assert!(l.check("someone-else", "5.6.7.8", t).is_ok());
    }

    #[test]
    fn hundred_an_hour_per_account() {
        let l = LoginLimiter::new();
        let mut t = OffsetDateTime::now_utc();
        let start = t;
        for i in 0..100 {
            // 9 a minute stays under the minute rule.
            if i % 9 == 0 {
                t += Duration::seconds(61);
            }
            l.record_failure("acct", &format!("ip{i}"), t);
        }
        let secs = l.check("acct", "new", t).expect_err("hour rule");
        let first = start + Duration::seconds(61);
        assert_eq!(
            secs as i64,
            (first + Duration::hours(1) - t).whole_seconds()
        );
    }

    #[test]
    fn success_clears_the_account_but_not_the_address() {
        let l = LoginLimiter::new();
        let t = OffsetDateTime::now_utc();
        for _ in 0..10 {
            l.record_failure("acct", "ip", t);
        }
        l.record_success("acct");
        assert!(l.check("acct", "other-ip", t).is_ok());
        assert!(l.check("acct", "ip", t).is_err());
    }
}
