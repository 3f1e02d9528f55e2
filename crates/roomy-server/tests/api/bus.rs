//! Two nodes on one PostgreSQL database and one network bus (NATS, then
//! Redis): a node configured for a cluster starts with the bus its settings
//! choose, what one node commits reaches a WebSocket on the other, a token
//! from one node opens the other, and `/readyz` speaks for the bus.
//! Skipped without PostgreSQL and the bus server (`ROOMY_TEST_NATS_URL`,
//! `ROOMY_TEST_REDIS_URL`), failing instead under `ROOMY_TEST_REQUIRE_SERVICES=1`.

use crate::harness::{Backend, PASSWORD, TestApp, cluster_node};
use roomy_core::Config;
use roomy_core::config::Redacted;
use std::time::Duration;

/// Which network bus the nodes share.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Net {
    Nats,
    Redis,
}

/// The bus server's URL for `net`, or `None` (skip) when unset.
pub(crate) fn bus_url(net: Net) -> Option<String> {
    let var = match net {
        Net::Nats => "ROOMY_TEST_NATS_URL",
        Net::Redis => "ROOMY_TEST_REDIS_URL",
    };
    match std::env::var(var) {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            assert!(
                std::env::var("ROOMY_TEST_REQUIRE_SERVICES").as_deref() != Ok("1"),
                "{var} is unset but services are required"
            );
            eprintln!("skipped: two-node bus test ({var} unset)");
            None
        }
    }
}

/// Points `c` at the bus server `url`.
pub(crate) fn on_bus(c: &mut Config, net: Net, url: &str) {
    match net {
        Net::Nats => c.nats_url = Some(Redacted::new(url)),
        Net::Redis => c.redis_url = Some(Redacted::new(url)),
    }
}

/// Node A on a fresh database, and node B on A's database, secret and channel.
async fn two_nodes(net: Net) -> Option<(TestApp, TestApp)> {
    let url = bus_url(net)?;
    let a = TestApp::spawn_with(Backend::Postgres, |c| {
        cluster_node(c);
        on_bus(c, net, &url);
    })
    .await?;
    let shared = a.config.clone();
    let b = TestApp::spawn_with(Backend::Postgres, |c| {
        c.database_url = shared.database_url.clone();
        c.jwt_secret = shared.jwt_secret.clone();
        c.shared_files = true;
        c.bus_channel = shared.bus_channel.clone();
        on_bus(c, net, &url);
    })
    .await?;
    Some((a, b))
}

async fn a_message_crosses_to_the_other_node(net: Net) {
    let Some((a, b)) = two_nodes(net).await else {
        return;
    };
    let alice = a.user("bus_alice").await;
    a.register("bus_bobby").await;
    // Logged in on B, with the token used on A too: one secret, one database.
    let bob = b.login("bus_bobby", PASSWORD).await;
    let room = a.direct(&alice, &bob).await;
    let (mut bob_on_b, _) = b.ws(&bob.token).await;
    let (mut alice_on_a, _) = a.ws(&alice.token).await;
    let ack = alice_on_a
        .send_text("s1", room, "c-1", "over the bus")
        .await;
    let (message, _) = bob_on_b.until("message").await;
    assert_eq!(message["message"]["body"], "over the bus", "{message}");
    assert_eq!(message["message"], ack["message"], "{ack}");
    for node in [&a, &b] {
        let r = node.get("/readyz", None).await;
        assert_eq!(
            (r.status, r.json()["status"].clone()),
            (200, "ready".into())
        );
    }
}

#[tokio::test]
async fn a_message_crosses_to_the_other_node_over_nats() {
    a_message_crosses_to_the_other_node(Net::Nats).await;
}

#[tokio::test]
async fn a_message_crosses_to_the_other_node_over_redis() {
    a_message_crosses_to_the_other_node(Net::Redis).await;
}

/// A `nats-server` of this test's own on a free port, killed when dropped.
pub(crate) struct OwnNats {
    child: std::process::Child,
    program: &'static str,
    pub(crate) port: u16,
}

impl OwnNats {
    /// `None` (skip, unless services are required) without `nats-server`.
    pub(crate) fn start() -> Option<OwnNats> {
        let program = ["/usr/sbin/nats-server", "/usr/bin/nats-server"]
            .into_iter()
            .find(|p| std::path::Path::new(p).is_file());
        let Some(program) = program else {
            assert!(
                std::env::var("ROOMY_TEST_REQUIRE_SERVICES").as_deref() != Ok("1"),
                "nats-server is not installed but services are required"
            );
            eprintln!("skipped: readiness with a lost bus (nats-server not installed)");
            return None;
        };
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .expect("a free port")
            .local_addr()
            .expect("addr")
            .port();
        Some(OwnNats {
            child: Self::spawn(program, port),
            program,
            port,
        })
    }

    fn spawn(program: &str, port: u16) -> std::process::Child {
        std::process::Command::new(program)
            .args(["-a", "127.0.0.1", "-p", &port.to_string()])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("start nats-server")
    }

    /// Its URL, for a node's `nats_url`.
    pub(crate) fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// Kills the server and starts a new one on the same port: every
    /// client loses its connection and comes back to a server that knows
    /// nothing of what was sent meanwhile.
    pub(crate) fn restart(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.child = Self::spawn(self.program, self.port);
    }
}

impl Drop for OwnNats {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `/readyz` answers 503 once the bus server is gone.
#[tokio::test]
async fn readiness_fails_while_the_bus_is_lost() {
    let Some(nats) = OwnNats::start() else {
        return;
    };
    let url = nats.url();
    // The node's first connection waits for the server to listen (a few seconds at most).
    let Some(app) = TestApp::spawn_with(Backend::Postgres, |c| {
        cluster_node(c);
        c.nats_url = Some(Redacted::new(url));
    })
    .await
    else {
        return;
    };
    assert_eq!(app.get("/readyz", None).await.status, 200);
    drop(nats);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let r = app.get("/readyz", None).await;
        if r.status == 503 {
            r.assert_error(503, "unavailable");
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "still {}", r.status);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
