//! The bus over Redis pub/sub, on channel `<channel>:events`, for
//! deployments that already run Redis.
//!
//! Events are received on a connection of their own speaking RESP3, whose
//! pushes go into a bounded queue (the client library's own pub/sub
//! connection buffers without a bound); events are published through a
//! `ConnectionManager`. Redis delivers a node's publishes back to it too, so
//! payloads carry the sender's node id and a node drops its own. The
//! receiving connection is probed with PING every `ping_interval`; when it
//! is lost or silent it is made again with backoff, and once it is
//! subscribed again every subscription hears
//! [`RecvError::Interrupted`](crate::RecvError::Interrupted).

use crate::BusError;
use crate::network::{Inbound, NetworkBus, NetworkOptions, Transport};
use async_trait::async_trait;
use bytes::Bytes;
use redis::aio::{ConnectionManager, ConnectionManagerConfig, MultiplexedConnection};
use redis::{
    AsyncConnectionConfig, Client, IntoConnectionInfo, ProtocolVersion, PushInfo, PushKind, Value,
};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;
use tokio::sync::{Notify, mpsc};
use tokio::time::{Instant, timeout};
use tokio_util::sync::CancellationToken;

/// Pause between two attempts of the first connection.
const FIRST_RETRY: Duration = Duration::from_millis(250);
/// Bounds of the pause between reconnection attempts.
const BACKOFF_MIN: Duration = Duration::from_millis(100);
const BACKOFF_MAX: Duration = Duration::from_secs(5);

/// What the receiving connection's push handler tells the receiving task.
#[derive(Debug, Default)]
struct Signals {
    /// The receiving connection is subscribed.
    connected: AtomicBool,
    /// Which receiving connection is current: a late word from one already
    /// replaced is ignored.
    generation: AtomicU64,
    lost: AtomicBool,
    overflow: AtomicBool,
    wake: Notify,
}

impl NetworkBus {
    /// Connects to the Redis server at `url` (`redis://` or `rediss://`,
    /// Redis 6 or newer for RESP3), subscribed to `<channel>:events`. Fails
    /// when the server cannot be reached within `connect_timeout`; after
    /// that it reconnects forever.
    pub async fn redis(url: &str, options: NetworkOptions) -> Result<NetworkBus, BusError> {
        let start = NetworkBus::prepare(&options);
        let channel = format!("{}:events", options.channel);
        let client = resp3_client(url)?;
        let signals = Arc::new(Signals::default());
        let (push_tx, push_rx) = mpsc::channel(options.incoming.max(1));
        let deadline = Instant::now() + options.connect_timeout;
        let receiving = first(deadline, &options, || {
            subscribe(&client, &channel, &push_tx, &signals, &options)
        })
        .await?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(options.connect_timeout))
            .set_response_timeout(Some(options.check_timeout))
            .set_number_of_retries(2);
        let manager = first(deadline, &options, || {
            client.get_connection_manager_with_config(config.clone())
        })
        .await?;
        tokio::spawn(receive(
            Receiver {
                client: client.clone(),
                channel: channel.clone(),
                push_tx,
                push_rx,
                signals: signals.clone(),
                inbound: start.inbound.clone(),
                options: options.clone(),
            },
            receiving,
            start.stop.clone(),
        ));
        let transport = Arc::new(Redis {
            manager,
            channel,
            signals,
            timeout: options.check_timeout,
        });
        Ok(NetworkBus::start(start, transport, &options))
    }
}

/// A client for `url` that speaks RESP3 (pushes on a normal connection).
fn resp3_client(url: &str) -> Result<Client, BusError> {
    let invalid = |e: redis::RedisError| BusError::Unavailable(format!("invalid Redis URL: {e}"));
    let info = url.into_connection_info().map_err(invalid)?;
    let settings = info
        .redis_settings()
        .clone()
        .set_protocol(ProtocolVersion::RESP3);
    Client::open(info.set_redis_settings(settings)).map_err(invalid)
}

/// Runs `attempt` until it succeeds or `deadline` passes (a server starting
/// beside this node may need a moment).
async fn first<T, F, Fut>(
    deadline: Instant,
    options: &NetworkOptions,
    mut attempt: F,
) -> Result<T, BusError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = redis::RedisResult<T>>,
{
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let error = match timeout(left, attempt()).await {
            Ok(Ok(value)) => return Ok(value),
            Ok(Err(e)) => e.to_string(),
            Err(_) => "no answer".to_owned(),
        };
        if Instant::now() + FIRST_RETRY >= deadline {
            return Err(BusError::Unavailable(format!(
                "cannot reach Redis (6 or newer) within {:?}: {error}",
                options.connect_timeout
            )));
        }
        tokio::time::sleep(FIRST_RETRY).await;
    }
}

/// A receiving connection, subscribed to `channel`, whose pushes go to
/// `push_tx` (dropped and flagged when it is full).
async fn subscribe(
    client: &Client,
    channel: &str,
    push_tx: &mpsc::Sender<Bytes>,
    signals: &Arc<Signals>,
    options: &NetworkOptions,
) -> redis::RedisResult<MultiplexedConnection> {
    let generation = signals.generation.fetch_add(1, Ordering::SeqCst) + 1;
    // Word of an earlier connection's end is old news from here on.
    signals.lost.store(false, Ordering::SeqCst);
    let tx = push_tx.clone();
    let flags = signals.clone();
    let on_push = move |push: PushInfo| -> Result<(), ()> {
        match push.kind {
            PushKind::Message => {
                // [channel, payload]
                if let Some(Value::BulkString(payload)) = push.data.into_iter().nth(1)
                    && tx.try_send(Bytes::from(payload)).is_err()
                {
                    if !flags.overflow.swap(true, Ordering::SeqCst) {
                        tracing::warn!(
                            "the incoming bus queue overflowed; events from other nodes were dropped"
                        );
                    }
                    flags.wake.notify_one();
                }
            }
            PushKind::Disconnection if flags.generation.load(Ordering::SeqCst) == generation => {
                flags.lost.store(true, Ordering::SeqCst);
                flags.wake.notify_one();
            }
            _ => {}
        }
        Ok(())
    };
    let config = AsyncConnectionConfig::new()
        .set_connection_timeout(Some(options.connect_timeout))
        .set_response_timeout(Some(options.check_timeout))
        .set_push_sender(on_push);
    let mut con = client
        .get_multiplexed_async_connection_with_config(&config)
        .await?;
    con.subscribe(channel).await?;
    signals.connected.store(true, Ordering::SeqCst);
    Ok(con)
}

/// What the receiving task owns.
struct Receiver {
    client: Client,
    channel: String,
    /// Kept so the queue stays open between connections.
    push_tx: mpsc::Sender<Bytes>,
    push_rx: mpsc::Receiver<Bytes>,
    signals: Arc<Signals>,
    inbound: Arc<Inbound>,
    options: NetworkOptions,
}

/// Hands what arrives to the subscribers; makes the connection again when it
/// is lost or stops answering, then tells the subscribers.
async fn receive(mut r: Receiver, mut con: MultiplexedConnection, stop: CancellationToken) {
    let mut ping = tokio::time::interval(r.options.ping_interval);
    ping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let ping_timeout = r.options.ping_interval * 2;
    loop {
        loop {
            tokio::select! {
                biased;
                _ = stop.cancelled() => return,
                _ = r.signals.wake.notified() => {
                    if r.signals.lost.swap(false, Ordering::SeqCst) {
                        break;
                    }
                    if r.signals.overflow.swap(false, Ordering::SeqCst) {
                        r.inbound.interrupted();
                    }
                }
                Some(payload) = r.push_rx.recv() => r.inbound.deliver(&payload),
                _ = ping.tick() => {
                    let pong = timeout(ping_timeout, redis::cmd("PING").query_async::<()>(&mut con)).await;
                    if !matches!(pong, Ok(Ok(()))) {
                        break;
                    }
                }
            }
        }
        r.signals.connected.store(false, Ordering::SeqCst);
        tracing::warn!("lost the Redis bus connection; reconnecting");
        drop(con);
        let mut backoff = BACKOFF_MIN;
        con = loop {
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tokio::time::sleep(backoff) => {}
            }
            let attempt = subscribe(&r.client, &r.channel, &r.push_tx, &r.signals, &r.options);
            match timeout(r.options.connect_timeout, attempt).await {
                Ok(Ok(con)) => break con,
                Ok(Err(error)) => tracing::debug!(%error, "Redis bus reconnection failed"),
                Err(_) => tracing::debug!("Redis bus reconnection timed out"),
            }
            backoff = (backoff * 2).min(BACKOFF_MAX);
        };
        tracing::info!("connected to the Redis bus again");
        // This interruption covers any overflow before it.
        r.signals.overflow.store(false, Ordering::SeqCst);
        ping.reset();
        r.inbound.interrupted();
    }
}

/// The sending side.
struct Redis {
    manager: ConnectionManager,
    channel: String,
    signals: Arc<Signals>,
    timeout: Duration,
}

#[async_trait]
impl Transport for Redis {
    async fn send(&self, batch: &[Bytes]) -> Result<(), (usize, String)> {
        let mut pipe = redis::pipe();
        for payload in batch {
            pipe.cmd("PUBLISH")
                .arg(&self.channel)
                .arg(payload.as_ref())
                .ignore();
        }
        let mut con = self.manager.clone();
        match timeout(self.timeout, pipe.query_async::<()>(&mut con)).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err((batch.len(), e.to_string())),
            Err(_) => Err((batch.len(), "Redis did not answer".to_owned())),
        }
    }

    async fn check(&self) -> Result<(), BusError> {
        if !self.connected() {
            return Err(BusError::Unavailable(
                "not subscribed on the Redis bus".into(),
            ));
        }
        let mut con = self.manager.clone();
        match timeout(self.timeout, redis::cmd("PING").query_async::<()>(&mut con)).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(BusError::Unavailable(format!("Redis: {e}"))),
            Err(_) => Err(BusError::Unavailable(format!(
                "Redis did not answer within {:?}",
                self.timeout
            ))),
        }
    }

    fn connected(&self) -> bool {
        self.signals.connected.load(Ordering::SeqCst)
    }
}
