//! The bus over NATS core pub/sub (`async-nats`), on subject `<channel>.events`.
//!
//! The connection never echoes this node's own publishes back (`no_echo`),
//! reconnects forever, and pings every `ping_interval`, so a server that
//! stops answering with its TCP connection up (a stopped process) is dropped
//! after a few missed pongs and connected to again when it answers. NATS
//! re-sends the subscription on every reconnect; once a round trip shows the
//! server has it, every subscription hears [`RecvError::Interrupted`](crate::RecvError::Interrupted).

use crate::BusError;
use crate::network::{Inbound, NetworkBus, NetworkOptions, Transport};
use async_nats::client::RequestErrorKind;
use async_nats::connection::State;
use async_nats::{Client, Event, Subject, Subscriber};
use async_trait::async_trait;
use bytes::Bytes;
use futures_util::StreamExt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;
use tokio::sync::Notify;
use tokio::time::{Instant, timeout};
use tokio_util::sync::CancellationToken;

/// Pause between two attempts of the first connection.
const FIRST_RETRY: Duration = Duration::from_millis(250);

/// What the client's event callback tells the receiving task.
#[derive(Debug, Default)]
struct Signals {
    connects: AtomicU64,
    reconnected: AtomicBool,
    overflow: AtomicBool,
    wake: Notify,
}

impl Signals {
    fn on(&self, event: Event) {
        match event {
            Event::Connected => {
                // The first is the start-up connection itself.
                if self.connects.fetch_add(1, Ordering::SeqCst) > 0 {
                    tracing::info!("connected to NATS again");
                    self.reconnected.store(true, Ordering::SeqCst);
                    self.wake.notify_one();
                }
            }
            Event::Disconnected => {
                tracing::warn!("lost the connection to NATS; reconnecting");
            }
            Event::SlowConsumer(_) => {
                if !self.overflow.swap(true, Ordering::SeqCst) {
                    tracing::warn!(
                        "the incoming bus queue overflowed; events from other nodes were dropped"
                    );
                }
                self.wake.notify_one();
            }
            Event::ServerError(error) => tracing::warn!(%error, "NATS server error"),
            Event::ClientError(error) => tracing::warn!(%error, "NATS client error"),
            other => tracing::info!(event = %other, "NATS"),
        }
    }
}

impl NetworkBus {
    /// Connects to the NATS server at `url` (`nats://host:4222`, with
    /// credentials if the server wants them), subscribed to
    /// `<channel>.events`. Fails when the server cannot be reached within
    /// `connect_timeout`; after that it reconnects forever.
    pub async fn nats(url: &str, options: NetworkOptions) -> Result<NetworkBus, BusError> {
        let start = NetworkBus::prepare(&options);
        let subject = Subject::from(format!("{}.events", options.channel));
        let signals = Arc::new(Signals::default());
        let client = connect(url, &options, start.inbound.node(), &signals).await?;
        let subscriber = client
            .subscribe(subject.clone())
            .await
            .map_err(|e| BusError::Unavailable(format!("cannot subscribe on NATS: {e}")))?;
        // The subscription is in place at the server once a round trip is done,
        // so the bus is returned ready to hear what other nodes publish next.
        round_trip(&client, options.connect_timeout).await?;
        tokio::spawn(receive(
            subscriber,
            client.clone(),
            signals,
            start.inbound.clone(),
            start.stop.clone(),
            options.check_timeout,
        ));
        let transport = Arc::new(Nats {
            client,
            subject,
            timeout: options.check_timeout,
        });
        Ok(NetworkBus::start(start, transport, &options))
    }
}

/// The first connection, tried until `connect_timeout` has passed (a server
/// starting beside this node may need a moment).
async fn connect(
    url: &str,
    options: &NetworkOptions,
    node: u64,
    signals: &Arc<Signals>,
) -> Result<Client, BusError> {
    let deadline = Instant::now() + options.connect_timeout;
    loop {
        let callback_signals = signals.clone();
        let attempt = async_nats::ConnectOptions::new()
            .name(format!("roomy-{node:016x}"))
            .no_echo()
            .ping_interval(options.ping_interval)
            .connection_timeout(options.connect_timeout)
            .max_reconnects(None)
            .subscription_capacity(options.incoming.max(1))
            .reconnect_delay_callback(reconnect_delay)
            .event_callback(move |event| {
                let signals = callback_signals.clone();
                async move { signals.on(event) }
            })
            .connect(url);
        let left = deadline.saturating_duration_since(Instant::now());
        let error = match timeout(left, attempt).await {
            Ok(Ok(client)) => return Ok(client),
            Ok(Err(e)) => e.to_string(),
            Err(_) => "no answer".to_owned(),
        };
        if Instant::now() + FIRST_RETRY >= deadline {
            return Err(BusError::Unavailable(format!(
                "cannot reach NATS within {:?}: {error}",
                options.connect_timeout
            )));
        }
        tokio::time::sleep(FIRST_RETRY).await;
    }
}

/// Waits between reconnection attempts: at once, then doubling from 100 ms to 2 s.
fn reconnect_delay(attempts: usize) -> Duration {
    if attempts <= 1 {
        return Duration::ZERO;
    }
    let shift = (attempts - 2).min(5) as u32;
    Duration::from_millis(100 << shift).min(Duration::from_secs(2))
}

/// A round trip through the server on this connection: everything sent
/// before it (a subscription, say) has been processed. (`flush` only writes
/// the socket.) A request to a subject nobody listens on is answered by the
/// server itself with "no responders".
async fn round_trip(client: &Client, limit: Duration) -> Result<(), BusError> {
    match timeout(limit, client.request(client.new_inbox(), Bytes::new())).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) if e.kind() == RequestErrorKind::NoResponders => Ok(()),
        Ok(Err(e)) => Err(BusError::Unavailable(format!("NATS: {e}"))),
        Err(_) => Err(BusError::Unavailable(format!(
            "NATS did not answer within {limit:?}"
        ))),
    }
}

/// Hands what arrives to the subscribers, and tells them when events may
/// have been lost: after a reconnection (once the subscription is back) or
/// when the incoming queue overflowed.
async fn receive(
    mut subscriber: Subscriber,
    client: Client,
    signals: Arc<Signals>,
    inbound: Arc<Inbound>,
    stop: CancellationToken,
    check_timeout: Duration,
) {
    loop {
        tokio::select! {
            biased;
            _ = stop.cancelled() => return,
            _ = signals.wake.notified() => {
                let reconnected = signals.reconnected.swap(false, Ordering::SeqCst);
                if reconnected && let Err(e) = round_trip(&client, check_timeout).await {
                    // Lost again: the next reconnection interrupts once more.
                    tracing::warn!(error = %e, "NATS did not confirm the subscription");
                }
                let overflowed = signals.overflow.swap(false, Ordering::SeqCst);
                if reconnected || overflowed {
                    inbound.interrupted();
                }
            }
            message = subscriber.next() => match message {
                Some(message) => inbound.deliver(&message.payload),
                None => return,
            },
        }
    }
}

/// The sending side.
struct Nats {
    client: Client,
    subject: Subject,
    timeout: Duration,
}

#[async_trait]
impl Transport for Nats {
    async fn send(&self, batch: &[Bytes]) -> Result<(), (usize, String)> {
        let mut failed = 0;
        let mut last = None;
        let all = async {
            for payload in batch {
                if let Err(e) = self
                    .client
                    .publish(self.subject.clone(), payload.clone())
                    .await
                {
                    failed += 1;
                    last = Some(e.to_string());
                }
            }
        };
        // The client's own buffer is full while a silent server is not yet
        // given up on: drop the batch rather than hold every later event.
        if timeout(self.timeout, all).await.is_err() {
            return Err((batch.len(), "NATS is not taking events".to_owned()));
        }
        match last {
            None => Ok(()),
            Some(error) => Err((failed, error)),
        }
    }

    async fn check(&self) -> Result<(), BusError> {
        if !self.connected() {
            return Err(BusError::Unavailable("not connected to NATS".into()));
        }
        round_trip(&self.client, self.timeout).await
    }

    fn connected(&self) -> bool {
        self.client.connection_state() == State::Connected
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reconnection_backs_off_to_two_seconds() {
        let delays: Vec<u64> = (1..=9)
            .map(|a| reconnect_delay(a).as_millis() as u64)
            .collect();
        assert_eq!(delays, [0, 100, 200, 400, 800, 1600, 2000, 2000, 2000]);
    }
}
