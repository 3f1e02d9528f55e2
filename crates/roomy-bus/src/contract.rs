//! The behaviour every [`Bus`] must show, written once and run against
//! [`InProcessBus`] always, and [`NetworkBus`] over NATS when
//! `ROOMY_TEST_NATS_URL` names a server and over Redis when
//! `ROOMY_TEST_REDIS_URL` does (with `ROOMY_TEST_REQUIRE_SERVICES=1`, a
//! missing URL fails instead of skipping). Each check gets two buses on one
//! channel ("two nodes"; the in-process bus is one node, so both are the
//! same bus), on a channel of its own.
//!
//! The network buses also lose their server on purpose: a `nats-server` or
//! `redis-server` of the test's own, on a free port, is killed, restarted
//! or stopped (SIGSTOP), and every subscription must hear `Interrupted`
//! once, then events again.

#![allow(clippy::unwrap_used)]

use crate::samples::every_event;
use crate::{
    Bus, Envelope, Event, InProcessBus, NetworkBus, NetworkOptions, RecvError, Subscription,
};
use roomy_core::{RoomId, UserId};
use std::io::Write;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::{Instant, timeout};

/// Longest any single expected event may take.
const WAIT: Duration = Duration::from_secs(10);

const REQUIRE_VAR: &str = "ROOMY_TEST_REQUIRE_SERVICES";

/// Generates one `#[tokio::test]` per check. `$make` is an async expression
/// yielding `Option<Pair>`; `None` means "service absent, skip".
macro_rules! bus_contract_tests {
    ($make:expr) => {
        bus_contract_tests!(@each $make;
            an_event_reaches_both_nodes_exactly_once,
            one_publishers_events_arrive_in_order,
            every_event_crosses_intact,
            local_events_stay_on_their_node,
            a_subscription_gets_what_is_published_after_it,
            check_answers,
        );
    };
    (@each $make:expr; $($name:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                if let Some(pair) = $make.await {
                    $crate::contract::$name(pair).await;
                }
            }
        )*
    };
}

/// Two nodes' buses on one channel.
pub(crate) struct Pair {
    a: Arc<dyn Bus>,
    b: Arc<dyn Bus>,
    /// Both are one bus in one process (the in-process bus).
    one_node: bool,
}

// ---------------------------------------------------------------- helpers

/// Prints a line the test runner shows even for passing tests.
fn note(line: &str) {
    let _ = writeln!(std::io::stderr(), "{line}");
}

/// A typing event whose user id says who sent it and its number.
fn numbered(n: i64) -> Envelope {
    Envelope {
        recipients: vec![UserId(1)],
        event: Event::Typing {
            room: RoomId(1),
            user: UserId(n),
        },
        origin: None,
    }
}

/// The number of a [`numbered`] event.
fn number(env: &Envelope) -> i64 {
    match env.event {
        Event::Typing { user, .. } => user.0,
        ref other => panic!("not a numbered event: {other:?}"),
    }
}

/// The next envelope, which must come within [`WAIT`].
async fn next(sub: &mut Box<dyn Subscription>) -> Arc<Envelope> {
    match timeout(WAIT, sub.recv()).await {
        Ok(Ok(env)) => env,
        Ok(Err(e)) => panic!("expected an event, got {e}"),
        Err(_) => panic!("no event within {WAIT:?}"),
    }
}

/// The numbers of the next `n` events.
async fn numbers(sub: &mut Box<dyn Subscription>, n: usize) -> Vec<i64> {
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        out.push(number(&*next(sub).await));
    }
    out
}

/// Proves nothing more is on its way to `subs` from before: each node
/// publishes a fence once it has everything, and a duplicate or an echo of
/// an earlier event would reach each subscriber before the other node's fence.
async fn fences_come_next(pair: &Pair, subs: &mut [&mut Box<dyn Subscription>]) {
    const FENCE_A: i64 = -1;
    const FENCE_B: i64 = -2;
    pair.a.publish(numbered(FENCE_A)).await.unwrap();
    pair.b.publish(numbered(FENCE_B)).await.unwrap();
    for sub in subs.iter_mut() {
        let mut got = numbers(sub, 2).await;
        got.sort_unstable();
        assert_eq!(got, [FENCE_B, FENCE_A], "something arrived twice or late");
    }
}

// ---------------------------------------------------------------- checks

pub(crate) async fn an_event_reaches_both_nodes_exactly_once(pair: Pair) {
    let mut a1 = pair.a.subscribe();
    let mut a2 = pair.a.subscribe();
    let mut b1 = pair.b.subscribe();
    pair.a.publish(numbered(1)).await.unwrap();
    pair.a.publish(numbered(2)).await.unwrap();
    for sub in [&mut a1, &mut a2, &mut b1] {
        assert_eq!(numbers(sub, 2).await, [1, 2]);
    }
    fences_come_next(&pair, &mut [&mut a1, &mut a2, &mut b1]).await;
}

pub(crate) async fn one_publishers_events_arrive_in_order(pair: Pair) {
    const N: i64 = 2_000;
    const B_BASE: i64 = 1_000_000;
    let mut a1 = pair.a.subscribe();
    let mut b1 = pair.b.subscribe();
    let from_a = async {
        for i in 0..N {
            pair.a.publish(numbered(i)).await.unwrap();
        }
    };
    let from_b = async {
        for i in 0..N {
            pair.b.publish(numbered(B_BASE + i)).await.unwrap();
        }
    };
    tokio::join!(from_a, from_b);
    for sub in [&mut a1, &mut b1] {
        let got = numbers(sub, 2 * N as usize).await;
        let (a, b): (Vec<i64>, Vec<i64>) = got.into_iter().partition(|&n| n < B_BASE);
        assert_eq!(
            a,
            (0..N).collect::<Vec<_>>(),
            "node A's events out of order"
        );
        assert_eq!(
            b,
            (B_BASE..B_BASE + N).collect::<Vec<_>>(),
            "node B's events out of order"
        );
    }
    fences_come_next(&pair, &mut [&mut a1, &mut b1]).await;
}

pub(crate) async fn every_event_crosses_intact(pair: Pair) {
    let mut a1 = pair.a.subscribe();
    let mut b1 = pair.b.subscribe();
    let all = every_event();
    for env in &all {
        pair.a.publish(env.clone()).await.unwrap();
    }
    for sub in [&mut a1, &mut b1] {
        for env in &all {
            assert_eq!(&*next(sub).await, env);
        }
    }
}

pub(crate) async fn local_events_stay_on_their_node(pair: Pair) {
    let mut a1 = pair.a.subscribe();
    let mut b1 = pair.b.subscribe();
    pair.a.publish_local(numbered(1));
    pair.a.publish(numbered(2)).await.unwrap();
    assert_eq!(numbers(&mut a1, 2).await, [1, 2]);
    let expected: &[i64] = if pair.one_node { &[1, 2] } else { &[2] };
    assert_eq!(numbers(&mut b1, expected.len()).await, expected);
    fences_come_next(&pair, &mut [&mut a1, &mut b1]).await;
}

pub(crate) async fn a_subscription_gets_what_is_published_after_it(pair: Pair) {
    let mut early = pair.a.subscribe();
    pair.a.publish(numbered(1)).await.unwrap();
    let mut late = pair.a.subscribe();
    pair.a.publish(numbered(2)).await.unwrap();
    assert_eq!(numbers(&mut early, 2).await, [1, 2]);
    assert_eq!(numbers(&mut late, 1).await, [2]);
}

pub(crate) async fn check_answers(pair: Pair) {
    pair.a.check().await.unwrap();
    pair.b.check().await.unwrap();
}

// ---------------------------------------------------------------- in-process

mod in_process {
    use super::*;

    async fn make() -> Option<Pair> {
        let bus = Arc::new(InProcessBus::new(65_536));
        Some(Pair {
            a: bus.clone(),
            b: bus,
            one_node: true,
        })
    }

    bus_contract_tests!(make());
}

// ---------------------------------------------------------------- network

/// A channel no other test uses.
fn fresh_channel() -> String {
    format!("roomy-test-{:016x}", rand::random::<u64>())
}

/// The test server URL in `var`, or `None` (skip, said once) when unset.
fn service_url(var: &str, what: &str, notice: &std::sync::Once) -> Option<String> {
    match std::env::var(var) {
        Ok(url) if !url.is_empty() => Some(url),
        _ if std::env::var(REQUIRE_VAR).as_deref() == Ok("1") => {
            panic!("{var} is not set but {REQUIRE_VAR}=1: the {what} bus suite must run")
        }
        _ => {
            notice.call_once(|| note(&format!("skipped: {what} bus tests ({var} unset)")));
            None
        }
    }
}

/// Which network bus.
#[derive(Debug, Clone, Copy)]
enum Kind {
    Nats,
    Redis,
}

async fn connect(kind: Kind, url: &str, options: NetworkOptions) -> NetworkBus {
    match kind {
        Kind::Nats => NetworkBus::nats(url, options).await.unwrap(),
        Kind::Redis => NetworkBus::redis(url, options).await.unwrap(),
    }
}

/// Options that notice a lost server quickly.
fn quick(channel: &str) -> NetworkOptions {
    NetworkOptions {
        connect_timeout: Duration::from_secs(2),
        ping_interval: Duration::from_millis(300),
        check_timeout: Duration::from_secs(1),
        ..NetworkOptions::new(channel)
    }
}

/// Waits (polling, within a deadline) until `done` holds.
async fn until(what: &str, limit: Duration, mut done: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !done().await {
        assert!(Instant::now() < deadline, "{what}: not within {limit:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The next outcome, which must be `Interrupted`.
async fn interrupted(sub: &mut Box<dyn Subscription>) {
    match timeout(Duration::from_secs(30), sub.recv()).await {
        Ok(Err(RecvError::Interrupted)) => {}
        Ok(other) => panic!("expected Interrupted, got {other:?}"),
        Err(_) => panic!("no Interrupted within 30 s"),
    }
}

/// A payload on the channel that is not an event is dropped; what follows
/// still arrives.
async fn garbage_is_dropped(kind: Kind, url: &str) {
    let channel = fresh_channel();
    let a = connect(kind, url, NetworkOptions::new(&channel)).await;
    let b = connect(kind, url, NetworkOptions::new(&channel)).await;
    let mut b1 = b.subscribe();
    // Published from a third connection, and processed by the server before
    // node A publishes, so it reaches B first.
    match kind {
        Kind::Nats => {
            let raw = async_nats::connect(url).await.unwrap();
            raw.publish(format!("{channel}.events"), "{not json".into())
                .await
                .unwrap();
            raw.flush().await.unwrap();
        }
        Kind::Redis => {
            let mut raw = redis::Client::open(url)
                .unwrap()
                .get_multiplexed_async_connection()
                .await
                .unwrap();
            redis::cmd("PUBLISH")
                .arg(format!("{channel}:events"))
                .arg("{not json")
                .query_async::<()>(&mut raw)
                .await
                .unwrap();
        }
    }
    a.publish(numbered(7)).await.unwrap();
    assert_eq!(numbers(&mut b1, 1).await, [7]);
    assert_eq!(b.stats().undecodable, 1);
}

/// Events a node could not take in (an incoming queue of one, under a
/// burst) are never lost silently: a subscription that misses some hears
/// `Interrupted` before the next event it gets.
async fn an_overflow_interrupts_instead_of_losing_silently(kind: Kind, url: &str) {
    const N: i64 = 20_000;
    const MARKER: i64 = 1_000_000;
    let channel = fresh_channel();
    let a = connect(kind, url, NetworkOptions::new(&channel)).await;
    let tiny = NetworkOptions {
        incoming: 1,
        ..NetworkOptions::new(&channel)
    };
    let b = connect(kind, url, tiny).await;
    let mut b1 = b.subscribe();
    for i in 0..N {
        a.publish(numbered(i)).await.unwrap();
    }
    // Markers until one gets through (the queue may be full when one comes).
    let reader = async {
        let mut expected = 0;
        let mut warned = false;
        loop {
            match timeout(WAIT, b1.recv())
                .await
                .expect("an event or Interrupted")
            {
                Err(RecvError::Interrupted) => warned = true,
                Ok(env) if number(&env) >= MARKER => return (expected, warned),
                Ok(env) => {
                    let n = number(&env);
                    assert!(n >= expected, "{n} after {expected}: out of order");
                    assert!(
                        n == expected || warned,
                        "{expected}..{n} lost without Interrupted"
                    );
                    expected = n + 1;
                    warned = false;
                }
                Err(e) => panic!("{e}"),
            }
        }
    };
    let markers = async {
        for m in MARKER.. {
            a.publish(numbered(m)).await.unwrap();
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    let (last, _) = tokio::select! {
        done = reader => done,
        _ = markers => unreachable!(),
    };
    note(&format!(
        "{kind:?} burst of {N} into a queue of 1: {} interruptions, last number {}",
        b.stats().interruptions,
        last - 1
    ));
}

/// A bus whose server does not answer refuses to start, quickly and clearly.
async fn an_unreachable_server_fails_the_start(kind: Kind) {
    let port = free_port();
    let url = match kind {
        Kind::Nats => format!("nats://127.0.0.1:{port}"),
        Kind::Redis => format!("redis://127.0.0.1:{port}"),
    };
    let options = NetworkOptions {
        connect_timeout: Duration::from_millis(600),
        ..NetworkOptions::new(fresh_channel())
    };
    let began = Instant::now();
    let result = match kind {
        Kind::Nats => NetworkBus::nats(&url, options).await,
        Kind::Redis => NetworkBus::redis(&url, options).await,
    };
    let error = result.expect_err("no server there").to_string();
    assert!(
        began.elapsed() < Duration::from_secs(5),
        "{:?}",
        began.elapsed()
    );
    let name = match kind {
        Kind::Nats => "NATS",
        Kind::Redis => "Redis",
    };
    assert!(error.contains(&format!("cannot reach {name}")), "{error}");
}

/// A port nothing listens on (for a moment).
/// A free port no other test of this process was given: a port released by
/// one test's probe (or its killed server, to be restarted on it) could
/// otherwise be handed to another test, whose server then fails to bind
/// while its readiness check reaches the first test's server.
fn free_port() -> u16 {
    static GIVEN: std::sync::Mutex<Vec<u16>> = std::sync::Mutex::new(Vec::new());
    let mut given = GIVEN.lock().unwrap_or_else(|e| e.into_inner());
    loop {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        if !given.contains(&port) {
            given.push(port);
            return port;
        }
    }
}

/// A server process of the test's own, on a free port; killed when dropped.
struct OwnServer {
    program: std::path::PathBuf,
    args: Vec<String>,
    port: u16,
    child: Option<std::process::Child>,
}

impl OwnServer {
    /// `program` (an absolute path, or a name looked up in `PATH`), or
    /// `None` (skip, unless services are required) when it is not installed.
    async fn start(candidates: &[&str], args: impl Fn(u16) -> Vec<String>) -> Option<OwnServer> {
        let Some(program) = find_program(candidates) else {
            if std::env::var(REQUIRE_VAR).as_deref() == Ok("1") {
                panic!(
                    "{candidates:?} not found but {REQUIRE_VAR}=1: the reconnection tests must run"
                );
            }
            note(&format!(
                "skipped: bus reconnection test ({} not installed)",
                candidates[0]
            ));
            return None;
        };
        let port = free_port();
        let mut server = OwnServer {
            program,
            args: args(port),
            port,
            child: None,
        };
        server.run().await;
        Some(server)
    }

    /// Starts the process and waits until it accepts connections.
    async fn run(&mut self) {
        let child = std::process::Command::new(&self.program)
            .args(&self.args)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        self.child = Some(child);
        let port = self.port;
        until(
            "the test server to listen",
            Duration::from_secs(10),
            async || {
                tokio::net::TcpStream::connect(("127.0.0.1", port))
                    .await
                    .is_ok()
            },
        )
        .await;
        let exited = self
            .child
            .as_mut()
            .and_then(|c| c.try_wait().ok().flatten());
        assert!(
            exited.is_none(),
            "the test server on port {port} exited at start ({exited:?})"
        );
    }

    /// Kills the process (SIGKILL) and reaps it.
    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Sends `signal` to the process.
    fn signal(&self, signal: rustix::process::Signal) {
        let child = self.child.as_ref().unwrap();
        rustix::process::kill_process(rustix::process::Pid::from_child(child), signal).unwrap();
    }
}

impl Drop for OwnServer {
    fn drop(&mut self) {
        // SIGKILL ends a stopped process too.
        self.kill();
    }
}

/// The first of `candidates` that exists: absolute paths as they are, names in `PATH`.
fn find_program(candidates: &[&str]) -> Option<std::path::PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    candidates.iter().find_map(|c| {
        let c = std::path::Path::new(c);
        if c.is_absolute() {
            return c.is_file().then(|| c.to_path_buf());
        }
        std::env::split_paths(&path)
            .map(|dir| dir.join(c))
            .find(|p| p.is_file())
    })
}

/// Two buses on a server of the test's own.
async fn own_pair(kind: Kind) -> Option<(OwnServer, NetworkBus, NetworkBus)> {
    let server = match kind {
        Kind::Nats => {
            OwnServer::start(&["/usr/sbin/nats-server", "nats-server"], |port| {
                vec![
                    "-a".into(),
                    "127.0.0.1".into(),
                    "-p".into(),
                    port.to_string(),
                ]
            })
            .await?
        }
        Kind::Redis => {
            OwnServer::start(&["redis-server", "/usr/bin/redis-server"], |port| {
                [
                    "--bind",
                    "127.0.0.1",
                    "--port",
                    &port.to_string(),
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                ]
                .map(str::to_owned)
                .to_vec()
            })
            .await?
        }
    };
    let url = match kind {
        Kind::Nats => format!("nats://127.0.0.1:{}", server.port),
        Kind::Redis => format!("redis://127.0.0.1:{}", server.port),
    };
    let channel = fresh_channel();
    let a = connect(kind, &url, quick(&channel)).await;
    let b = connect(kind, &url, quick(&channel)).await;
    Some((server, a, b))
}

/// After the connection was lost and came back, every subscription on both
/// nodes hears `Interrupted` once, and events flow again.
async fn after_a_loss_every_subscription_hears_interrupted_once(
    a: &NetworkBus,
    b: &NetworkBus,
    a1: &mut Box<dyn Subscription>,
    b1: &mut Box<dyn Subscription>,
) {
    interrupted(a1).await;
    interrupted(b1).await;
    a.publish(numbered(2)).await.unwrap();
    assert_eq!(numbers(a1, 1).await, [2]);
    assert_eq!(numbers(b1, 1).await, [2]);
    assert_eq!(a.stats().interruptions, 1);
    assert_eq!(b.stats().interruptions, 1);
    a.check().await.unwrap();
    b.check().await.unwrap();
}

/// Events cross before the fault.
async fn crossing(a: &NetworkBus, a1: &mut Box<dyn Subscription>, b1: &mut Box<dyn Subscription>) {
    a.publish(numbered(1)).await.unwrap();
    assert_eq!(numbers(a1, 1).await, [1]);
    assert_eq!(numbers(b1, 1).await, [1]);
}

/// The server is killed and started again on the same port.
async fn a_restarted_server_interrupts_once(kind: Kind) {
    let Some((mut server, a, b)) = own_pair(kind).await else {
        return;
    };
    let (mut a1, mut b1) = (a.subscribe(), b.subscribe());
    crossing(&a, &mut a1, &mut b1).await;
    server.kill();
    until(
        "both buses to notice",
        Duration::from_secs(20),
        async || !a.connected() && !b.connected(),
    )
    .await;
    assert!(a.check().await.is_err());
    server.run().await;
    after_a_loss_every_subscription_hears_interrupted_once(&a, &b, &mut a1, &mut b1).await;
}

/// The server stops answering with its connections open (SIGSTOP), and answers again.
async fn a_silent_server_is_noticed_and_interrupts_once(kind: Kind) {
    let Some((server, a, b)) = own_pair(kind).await else {
        return;
    };
    let (mut a1, mut b1) = (a.subscribe(), b.subscribe());
    crossing(&a, &mut a1, &mut b1).await;
    server.signal(rustix::process::Signal::STOP);
    until(
        "both buses to notice",
        Duration::from_secs(20),
        async || !a.connected() && !b.connected(),
    )
    .await;
    server.signal(rustix::process::Signal::CONT);
    after_a_loss_every_subscription_hears_interrupted_once(&a, &b, &mut a1, &mut b1).await;
}

/// The suite of a bus over a server: `$kind` on the server `$var` names.
macro_rules! network_bus_tests {
    ($module:ident, $kind:expr, $var:literal, $name:literal $(, $extra:item)*) => {
        mod $module {
            use super::*;

            static SKIP_NOTICE: std::sync::Once = std::sync::Once::new();

            fn url() -> Option<String> {
                service_url($var, $name, &SKIP_NOTICE)
            }

            async fn make() -> Option<Pair> {
                let url = url()?;
                let channel = fresh_channel();
                let a = connect($kind, &url, NetworkOptions::new(&channel)).await;
                let b = connect($kind, &url, NetworkOptions::new(&channel)).await;
                Some(Pair {
                    a: Arc::new(a),
                    b: Arc::new(b),
                    one_node: false,
                })
            }

            bus_contract_tests!(make());

            #[tokio::test]
            async fn garbage_is_dropped() {
                if let Some(url) = url() {
                    super::garbage_is_dropped($kind, &url).await;
                }
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn an_overflow_interrupts_instead_of_losing_silently() {
                if let Some(url) = url() {
                    super::an_overflow_interrupts_instead_of_losing_silently($kind, &url).await;
                }
            }

            #[tokio::test]
            async fn an_unreachable_server_fails_the_start() {
                super::an_unreachable_server_fails_the_start($kind).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn a_restarted_server_interrupts_once() {
                super::a_restarted_server_interrupts_once($kind).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn a_silent_server_is_noticed_and_interrupts_once() {
                super::a_silent_server_is_noticed_and_interrupts_once($kind).await;
            }

            $($extra)*
        }
    };
}

network_bus_tests!(nats_server, Kind::Nats, "ROOMY_TEST_NATS_URL", "NATS");

network_bus_tests!(
    redis_server,
    Kind::Redis,
    "ROOMY_TEST_REDIS_URL",
    "Redis",
    /// `CLIENT KILL TYPE pubsub` drops the receiving connections.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn killed_subscriptions_interrupt_once() {
        let Some((server, a, b)) = own_pair(Kind::Redis).await else {
            return;
        };
        let (mut a1, mut b1) = (a.subscribe(), b.subscribe());
        crossing(&a, &mut a1, &mut b1).await;
        let mut admin = redis::Client::open(format!("redis://127.0.0.1:{}", server.port))
            .unwrap()
            .get_multiplexed_async_connection()
            .await
            .unwrap();
        let killed: i64 = redis::cmd("CLIENT")
            .arg("KILL")
            .arg("TYPE")
            .arg("pubsub")
            .query_async(&mut admin)
            .await
            .unwrap();
        assert_eq!(killed, 2, "one receiving connection per bus");
        after_a_loss_every_subscription_hears_interrupted_once(&a, &b, &mut a1, &mut b1).await;
    }
);
