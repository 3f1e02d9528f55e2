//! Which connections the listeners take: the open-files budget and the cap
//! per client address.
//!
//! Every accepted connection holds a [`Permit`] for as long as its socket
//! lives (through a WebSocket upgrade too); dropping it gives the place back.
//! A connection over either limit is closed at once by the accept loop,
//! which never waits for a place.

use std::{
    collections::HashMap,
    net::IpAddr,
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering},
    },
};

/// Descriptors kept aside whatever the limit: the listeners, standard
/// streams, the runtime's epoll and event descriptors, logs, the signing
/// secret, the Redis and object-store connections, ffmpeg's pipes.
const FIXED_RESERVE: u64 = 64;
/// Descriptors one database connection may hold (SQLite: the database, its
/// WAL and its shared-memory file; PostgreSQL: one socket).
const PER_DB_CONNECTION: u64 = 3;
/// The share of the limit kept for files that requests open while they run
/// (uploads being written, downloads being read): one eighth.
const FILES_SHARE: u64 = 8;

/// How many client connections fit in `nofile` descriptors once the server's
/// own needs are set aside; at least one, so a tiny limit still serves.
pub fn connection_budget(nofile: u64, db_connections: u32) -> usize {
    let reserve =
        FIXED_RESERVE + PER_DB_CONNECTION * u64::from(db_connections) + nofile / FILES_SHARE;
    usize::try_from(nofile.saturating_sub(reserve).max(1)).unwrap_or(usize::MAX)
}

/// Raises the soft open-files limit to the hard one and returns the limit
/// now in force. The usual soft limit of 1,024 would cap the server at about
/// a thousand clients; the hard limit is what the administrator allows.
pub fn raise_nofile_limit() -> std::io::Result<u64> {
    rlimit::increase_nofile_limit(u64::MAX)
}

/// The soft open-files limit in force (`u64::MAX` where there is none).
pub fn nofile_limit() -> u64 {
    rlimit::Resource::NOFILE
        .get()
        .map(|(soft, _)| soft)
        .unwrap_or(u64::MAX)
}

/// Why a connection was turned away.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The open-files budget is spent.
    Budget,
    /// Its address already has `max_connections_per_ip` connections.
    PerAddress,
}

/// The connections open on this server's listeners, in total and by address.
#[derive(Debug)]
pub struct Admission {
    budget: usize,
    per_address: usize,
    limit_loopback: bool,
    open: AtomicUsize,
    by_address: Mutex<HashMap<IpAddr, usize>>,
}

impl Admission {
    /// At most `budget` connections in all, and `per_address` (0: any number)
    /// from one address; loopback addresses count only if `limit_loopback`.
    pub fn new(budget: usize, per_address: usize, limit_loopback: bool) -> Arc<Admission> {
        Arc::new(Admission {
            budget: budget.max(1),
            per_address,
            limit_loopback,
            open: AtomicUsize::new(0),
            by_address: Mutex::new(HashMap::new()),
        })
    }

    /// The most connections open at once.
    pub fn budget(&self) -> usize {
        self.budget
    }

    /// Connections open now.
    pub fn open(&self) -> usize {
        self.open.load(Ordering::Relaxed)
    }

    /// Takes a place for a connection from `ip`, or says why there is none.
    pub fn admit(self: &Arc<Self>, ip: IpAddr) -> Result<Permit, Refusal> {
        let loopback = ip.to_canonical().is_loopback();
        let ip = roomy_api::auth::address::limit_key(ip);
        let before = self.open.fetch_add(1, Ordering::AcqRel);
        if before >= self.budget {
            self.open.fetch_sub(1, Ordering::AcqRel);
            return Err(Refusal::Budget);
        }
        let counted = self.per_address > 0 && (self.limit_loopback || !loopback);
        if counted {
            let mut map = self.map();
            let n = map.entry(ip).or_insert(0);
            if *n >= self.per_address {
                drop(map);
                self.open.fetch_sub(1, Ordering::AcqRel);
                return Err(Refusal::PerAddress);
            }
            *n += 1;
        }
        Ok(Permit {
            admission: self.clone(),
            address: counted.then_some(ip),
        })
    }

    fn map(&self) -> std::sync::MutexGuard<'_, HashMap<IpAddr, usize>> {
        self.by_address.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// One connection's place; given back when dropped.
#[derive(Debug)]
pub struct Permit {
    admission: Arc<Admission>,
    /// The address it was counted against, if it was.
    address: Option<IpAddr>,
}

impl Drop for Permit {
    fn drop(&mut self) {
        if let Some(ip) = self.address {
            let mut map = self.admission.map();
            if let Some(n) = map.get_mut(&ip) {
                *n -= 1;
                if *n == 0 {
                    map.remove(&ip);
                }
            }
        }
        self.admission.open.fetch_sub(1, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_budget_keeps_room_for_the_database_and_open_files() {
        // 1,024 descriptors with 16 database connections: 64 fixed, 48 for
        // the pool, 128 for files in use.
        assert_eq!(connection_budget(1_024, 16), 1_024 - 64 - 48 - 128);
        // A usual hard limit leaves room for far more than 10,000 clients.
        assert_eq!(connection_budget(20_000, 16), 20_000 - 64 - 48 - 2_500);
        assert!(connection_budget(20_000, 16) > 10_000);
        assert_eq!(
            connection_budget(1 << 20, 100),
            (1 << 20) - 64 - 300 - (1 << 17)
        );
        // A limit smaller than the reserve still serves one client, and no limit does not overflow.
        assert_eq!(connection_budget(50, 16), 1);
        assert!(connection_budget(u64::MAX, u32::MAX) > 1 << 40);
    }

    #[test]
    fn places_are_counted_per_address_and_given_back() {
        let a: IpAddr = "203.0.113.7".parse().expect("ip");
        let b: IpAddr = "203.0.113.8".parse().expect("ip");
        let gate = Admission::new(100, 2, false);
        let first = gate.admit(a).expect("first");
        let _second = gate.admit(a).expect("second");
        assert_eq!(gate.admit(a).expect_err("third"), Refusal::PerAddress);
        // The same address written as IPv4-mapped IPv6 is the same client.
        let mapped: IpAddr = "::ffff:203.0.113.7".parse().expect("ip");
        assert_eq!(gate.admit(mapped).expect_err("mapped"), Refusal::PerAddress);
        let _other = gate.admit(b).expect("another address");
        assert_eq!(gate.open(), 3);
        // An IPv6 client counts by its /64: rotating the low bits gains nothing.
        let v6 = |s: &str| s.parse::<IpAddr>().expect("ip");
        let _x = gate.admit(v6("2001:db8:7:7::1")).expect("first v6");
        let _y = gate.admit(v6("2001:db8:7:7:ffff::2")).expect("second v6");
        assert_eq!(
            gate.admit(v6("2001:db8:7:7:1234::3"))
                .expect_err("same /64"),
            Refusal::PerAddress
        );
        let _z = gate.admit(v6("2001:db8:7:8::1")).expect("another /64");
        drop(first);
        let _again = gate.admit(a).expect("a place was given back");
        assert_eq!(gate.open(), 6);
    }

    #[test]
    fn loopback_is_exempt_unless_asked_and_the_budget_binds_everyone() {
        let lo: IpAddr = "127.0.0.1".parse().expect("ip");
        let lo6: IpAddr = "::1".parse().expect("ip");
        let gate = Admission::new(3, 1, false);
        let held: Vec<Permit> = (0..3).map(|_| gate.admit(lo).expect("exempt")).collect();
        assert_eq!(gate.admit(lo6).expect_err("budget"), Refusal::Budget);
        drop(held);
        assert_eq!(gate.open(), 0);
        let strict = Admission::new(10, 1, true);
        let _one = strict.admit(lo).expect("one");
        assert_eq!(strict.admit(lo).expect_err("two"), Refusal::PerAddress);
        // No cap at all with 0.
        let open = Admission::new(10, 0, true);
        let _many: Vec<Permit> = (0..10).map(|_| open.admit(lo).expect("no cap")).collect();
    }
}
