//! One cluster-test client: a user's WebSocket through the load balancer,
//! reconnecting and catching up the way `docs/protocol.md` tells a client
//! to: `sync` from the last `ready.since` it processed, the history pages a
//! limited sync leaves out, then every unacknowledged send again with its
//! client id.

use super::check::{ClientRecord, Connection, Msg};
use crate::api::Server;
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use std::{
    collections::{BTreeMap, HashMap},
    sync::{Arc, Mutex, MutexGuard},
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};
use tokio_tungstenite::tungstenite::Message;
use tokio_util::sync::CancellationToken;

/// Who the client is and what it does.
#[derive(Debug, Clone)]
pub struct Spec {
    pub user: i64,
    pub name: String,
    pub token: String,
    pub rooms: Vec<i64>,
    /// Whether it sends (else it only receives).
    pub sends: bool,
    /// Its own time between two sends, instead of the run's.
    pub interval: Option<Duration>,
    /// A node its first connection goes to directly, past the load
    /// balancer (the reconnect storm's clients start on the node that dies).
    pub first: Option<Server>,
    /// Reconnects the way the web client does (see [`web_backoff`]) instead
    /// of as fast as the cluster test's clients.
    pub web_backoff: bool,
}

/// The web client's reconnect delay (`backoffDelay` in its gateway): the
/// cap starts at 0.5 s and doubles up to 15 s; the delay is drawn from the
/// cap's upper half. A storm measured with it is the storm users cause.
pub fn web_backoff(attempt: u32) -> Duration {
    let cap = (500u64 << attempt.min(10)).min(15_000);
    Duration::from_millis(cap / 2 + rand::random::<u64>() % (cap / 2 + 1))
}

/// How all clients of a run behave.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The load balancer.
    pub lb: Server,
    /// Time between two sends of one client.
    pub interval: Duration,
    /// Sends in flight (unacknowledged) at most.
    pub window: usize,
}

/// When a client may send and when it must stop.
#[derive(Debug, Clone)]
pub struct Controls {
    /// Cancelled when sending starts (every client connected).
    pub go: CancellationToken,
    /// Cancelled when no new message may be sent (retries go on).
    pub stop_sending: CancellationToken,
    /// Cancelled at the end: close and return.
    pub stop: CancellationToken,
}

/// A send not yet acknowledged.
#[derive(Debug, Clone)]
struct Pending {
    room: i64,
    body: String,
    /// Times it was sent (more than 1: a retry, with the same client id).
    attempts: u32,
    first_sent: Instant,
    /// Sent on the current connection and waiting for its answer.
    in_flight: bool,
    /// Not to be sent again before then (after an error reply).
    not_before: Option<Instant>,
}

/// A client's state, shared with the run that watches and judges it.
#[derive(Debug, Default)]
pub struct State {
    pub record: ClientRecord,
    pending: BTreeMap<String, Pending>,
    /// Messages sent (client ids), and sends repeated with a client id.
    pub sent: u64,
    pub resent: u64,
    /// Connections opened after the first, and the longest time from a
    /// lost connection to the next `ready`.
    pub reconnects: u64,
    pub longest_outage: Duration,
    /// Refused connection attempts (the load balancer had no node ready,
    /// or the node died during the handshake).
    pub failed_attempts: u64,
    /// `error` frames by code, and `resync` frames.
    pub errors: BTreeMap<String, u64>,
    pub resyncs: u64,
    /// Send → ack, and send → `message` frame at another member, in µs.
    pub ack_latency: Vec<u32>,
    pub delivery_latency: Vec<u32>,
    /// Connected now (a `ready` received on the current connection).
    pub connected: bool,
}

impl State {
    /// Sends still waiting for an acknowledgement.
    pub fn unacked(&self) -> usize {
        self.pending.len()
    }

    /// Closes the books: what was never acknowledged goes into the record.
    pub fn finish(&mut self) {
        let unacked: Vec<(i64, String)> = self
            .pending
            .iter()
            .map(|(c, p)| (p.room, c.clone()))
            .collect();
        self.record.unacked = unacked;
    }

    fn conn(&mut self) -> &mut Connection {
        if self.record.connections.is_empty() {
            self.record.connections.push(Connection::default());
        }
        let last = self.record.connections.len() - 1;
        &mut self.record.connections[last]
    }
}

/// A client's state behind its lock.
pub type Shared = Arc<Mutex<State>>;

/// Locks a client's state; a panicked holder leaves data worth reading.
pub fn lock(s: &Shared) -> MutexGuard<'_, State> {
    s.lock().unwrap_or_else(|e| e.into_inner())
}

/// Microseconds since the Unix epoch: message bodies carry their send time
/// so any client (all run on this machine) can time the delivery.
fn unix_micros() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or_default()
}

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Opens a WebSocket through the load balancer (or to one node); the node
/// that took it, and its `ready.since`.
async fn connect(server: &Server, token: &str) -> Result<(Ws, Option<String>, i64), String> {
    let (mut ws, resp) = tokio::time::timeout(
        Duration::from_secs(10),
        tokio_tungstenite::connect_async(server.ws_url(token)),
    )
    .await
    .map_err(|_| "handshake timed out".to_owned())?
    .map_err(|e| e.to_string())?;
    let node = resp
        .headers()
        .get("x-served-by")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let since = tokio::time::timeout(Duration::from_secs(10), async {
        while let Some(Ok(m)) = ws.next().await {
            if let Message::Text(t) = m
                && let Ok(v) = serde_json::from_str::<Value>(&t)
            {
                match v["type"].as_str() {
                    Some("ready") => return v["since"].as_i64(),
                    Some("error") => return None,
                    _ => {}
                }
            }
        }
        None
    })
    .await
    .map_err(|_| "no ready in 10 s".to_owned())?
    .ok_or("closed before ready")?;
    Ok((ws, node, since))
}

/// The messages of room `room` after position `after`, older than seq
/// `before`: what a limited sync left out, from the history pages.
async fn history_gap(
    lb: &Server,
    token: &str,
    room: i64,
    after: i64,
    mut before: i64,
) -> Result<Vec<Msg>, String> {
    let mut out = Vec::new();
    loop {
        let page = lb
            .expect(
                reqwest::Method::GET,
                &format!("/api/v1/rooms/{room}/messages?before_seq={before}&limit=200"),
                Some(token),
                None,
                &[200],
            )
            .await?;
        let items: Vec<Msg> = page["items"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Msg::from_json)
            .collect();
        let Some(first) = items.first().cloned() else {
            break;
        };
        let full = items.len() == 200;
        out.extend(items.into_iter().filter(|m| m.id > after));
        if !full || first.id <= after || first.seq <= 1 {
            break;
        }
        before = first.seq;
    }
    out.sort_by_key(|m| m.seq);
    Ok(out)
}

/// Runs one client until `controls.stop`.
pub async fn run(spec: Spec, settings: Settings, controls: Controls, state: Shared) {
    // The last position processed: the first `ready.since`, then each
    // connection's once its sync is done.
    let mut position: Option<i64> = None;
    let mut lost_at: Option<Instant> = None;
    let mut backoff = Duration::from_millis(100);
    let mut next_request: u64 = 0;
    let mut next_message: u64 = 0;
    let mut next_room = rand::random::<u32>() as usize;
    let stop = &controls.stop;
    let interval = spec.interval.unwrap_or(settings.interval);
    // Pauses taken since the last `ready`: the web client's `attempt`.
    let mut attempt_no: u32 = 0;

    while !stop.is_cancelled() {
        let (server, direct) = match (&spec.first, position) {
            (Some(first), None) => (first, true),
            _ => (&settings.lb, false),
        };
        let attempt = tokio::select! {
            _ = stop.cancelled() => break,
            a = connect(server, &spec.token) => a,
        };
        let (ws, node, since) = match attempt {
            Ok((ws, node, since)) => (ws, node.or(direct.then(|| "direct".to_owned())), since),
            Err(_) => {
                lock(&state).failed_attempts += 1;
                let pause = if spec.web_backoff {
                    attempt_no += 1;
                    web_backoff(attempt_no - 1)
                } else {
                    backoff.mul_f64(0.5 + rand::random::<f64>())
                };
                backoff = (backoff * 2).min(Duration::from_secs(2));
                tokio::select! {
                    _ = stop.cancelled() => break,
                    _ = tokio::time::sleep(pause) => {}
                }
                continue;
            }
        };
        backoff = Duration::from_millis(100);
        attempt_no = 0;
        let (mut sink, mut stream) = ws.split();
        {
            let mut st = lock(&state);
            st.record.connections.push(Connection {
                since,
                node,
                ready_at_ms: (unix_micros() / 1000) as i64,
                ..Connection::default()
            });
            st.connected = true;
            if let Some(at) = lost_at.take() {
                st.reconnects += 1;
                st.longest_outage = st.longest_outage.max(at.elapsed());
            }
            for p in st.pending.values_mut() {
                p.in_flight = false;
                p.not_before = None;
            }
        }
        // Request id → client id of the sends on this connection.
        let mut requests: HashMap<u64, String> = HashMap::new();
        // The sync in flight: its request id and the position it asked from.
        let mut sync: Option<(u64, i64)> = None;
        let mut sync_due: Option<Instant> = None;
        match position {
            None => position = Some(since),
            Some(_) => sync_due = Some(Instant::now()),
        }
        let mut ticker = {
            let offset = interval.mul_f64(rand::random::<f64>());
            let mut t = tokio::time::interval_at(tokio::time::Instant::now() + offset, interval);
            t.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            t
        };
        let mut housekeeping = tokio::time::interval(Duration::from_millis(250));

        let stopped = 'conn: loop {
            // Whatever is due: the sync, then every unacknowledged send
            // not yet sent on this connection.
            let mut out: Vec<String> = Vec::new();
            if let (Some(due), Some(p)) = (sync_due, position)
                && due <= Instant::now()
            {
                next_request += 1;
                out.push(
                    json!({"type": "sync", "id": next_request, "since": p, "limit": 200})
                        .to_string(),
                );
                sync = Some((next_request, p));
                sync_due = None;
            }
            {
                let mut st = lock(&state);
                let now = Instant::now();
                let mut resent = 0;
                for (c, p) in st.pending.iter_mut() {
                    if p.in_flight || p.not_before.is_some_and(|t| t > now) {
                        continue;
                    }
                    next_request += 1;
                    p.attempts += 1;
                    p.in_flight = true;
                    p.not_before = None;
                    resent += 1;
                    requests.insert(next_request, c.clone());
                    out.push(send_frame(next_request, p.room, c, &p.body));
                }
                st.resent += resent;
            }
            for frame in out {
                if sink.send(Message::Text(frame.into())).await.is_err() {
                    break 'conn false;
                }
            }

            let sending =
                spec.sends && controls.go.is_cancelled() && !controls.stop_sending.is_cancelled();
            tokio::select! {
                _ = stop.cancelled() => break 'conn true,
                _ = housekeeping.tick() => {}
                _ = ticker.tick(), if sending => {
                    let frame = {
                        let mut st = lock(&state);
                        (st.pending.len() < settings.window && !spec.rooms.is_empty()).then(|| {
                            next_message += 1;
                            next_request += 1;
                            let room = spec.rooms[next_room % spec.rooms.len()];
                            next_room += 1;
                            let client_id = format!("{}-{next_message}", spec.name);
                            let body = format!("t={} {client_id}", unix_micros());
                            let frame = send_frame(next_request, room, &client_id, &body);
                            st.pending.insert(client_id.clone(), Pending {
                                room,
                                body,
                                attempts: 1,
                                first_sent: Instant::now(),
                                in_flight: true,
                                not_before: None,
                            });
                            st.sent += 1;
                            requests.insert(next_request, client_id);
                            frame
                        })
                    };
                    if let Some(frame) = frame
                        && sink.send(Message::Text(frame.into())).await.is_err()
                    {
                        break 'conn false;
                    }
                }
                next = stream.next() => {
                    let text = match next {
                        Some(Ok(Message::Text(t))) => t,
                        Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break 'conn false,
                        Some(Ok(_)) => continue,
                    };
                    let Ok(v) = serde_json::from_str::<Value>(&text) else {
                        *lock(&state).errors.entry("unreadable frame".into()).or_default() += 1;
                        continue;
                    };
                    match v["type"].as_str().unwrap_or_default() {
                        "message" => {
                            let Some(m) = Msg::from_json(&v["message"]) else { continue };
                            let sent_us = v["message"]["body"]
                                .as_str()
                                .and_then(|b| b.strip_prefix("t="))
                                .and_then(|b| b.split(' ').next())
                                .and_then(|t| t.parse::<u64>().ok());
                            let mut st = lock(&state);
                            if let Some(t) = sent_us {
                                let us = unix_micros().saturating_sub(t);
                                st.delivery_latency.push(us.min(u64::from(u32::MAX)) as u32);
                            }
                            st.conn().live.push(m);
                        }
                        "ack" => {
                            let Some(m) = Msg::from_json(&v["message"]) else { continue };
                            let client_id = v["id"].as_u64().and_then(|id| requests.remove(&id));
                            let mut st = lock(&state);
                            let pending = client_id.and_then(|c| st.pending.remove(&c));
                            match pending {
                                Some(p) if p.attempts > 1 => st.conn().retry_acks.push(m.clone()),
                                Some(p) => {
                                    let us = p.first_sent.elapsed().as_micros();
                                    st.ack_latency.push(us.min(u128::from(u32::MAX)) as u32);
                                    st.conn().live.push(m.clone());
                                }
                                // The answer to a send already answered: a
                                // retry crossed its first ack.
                                None => st.conn().retry_acks.push(m.clone()),
                            }
                            st.record.acks.push(m);
                        }
                        "sync" => {
                            let Some((id, from)) = sync else { continue };
                            if v["id"].as_u64() != Some(id) {
                                continue;
                            }
                            sync = None;
                            let mut got: Vec<Msg> = Vec::new();
                            let mut limited: Vec<(i64, i64)> = Vec::new();
                            if let Some(rooms) = v["rooms"].as_object() {
                                for r in rooms.values() {
                                    let events: Vec<Msg> = r["events"]
                                        .as_array()
                                        .into_iter()
                                        .flatten()
                                        .filter_map(Msg::from_json)
                                        .collect();
                                    if r["limited"].as_bool() == Some(true)
                                        && let Some(first) = events.first()
                                    {
                                        limited.push((first.room, first.seq));
                                    }
                                    got.extend(events);
                                }
                            }
                            // A limited room's older part comes from history
                            // pages, as a client fills it.
                            let mut filled = true;
                            for (room, first) in limited {
                                match history_gap(&settings.lb, &spec.token, room, from, first).await {
                                    Ok(older) => got.extend(older),
                                    Err(e) => {
                                        *lock(&state).errors.entry(format!("history: {e}")).or_default() += 1;
                                        filled = false;
                                    }
                                }
                            }
                            // The web client then reloads its room list (unread
                            // counts, last messages): part of what a storm costs.
                            if filled && spec.web_backoff
                                && let Err(e) = settings
                                    .lb
                                    .expect(
                                        reqwest::Method::GET,
                                        "/api/v1/rooms?limit=200",
                                        Some(&spec.token),
                                        None,
                                        &[200],
                                    )
                                    .await
                            {
                                *lock(&state).errors.entry(format!("rooms: {e}")).or_default() += 1;
                            }
                            {
                                let mut st = lock(&state);
                                let conn = st.conn();
                                conn.synced.extend(got);
                                if filled {
                                    conn.synced_at_ms = Some((unix_micros() / 1000) as i64);
                                }
                            }
                            if filled {
                                position = Some(since);
                            } else {
                                sync_due = Some(Instant::now() + Duration::from_secs(1));
                            }
                        }
                        "error" => {
                            let code = v["error"]["code"].as_str().unwrap_or("?").to_owned();
                            let id = v["id"].as_u64();
                            let mut st = lock(&state);
                            *st.errors.entry(code).or_default() += 1;
                            if let Some(c) = id.and_then(|id| requests.remove(&id)) {
                                if let Some(p) = st.pending.get_mut(&c) {
                                    p.in_flight = false;
                                    p.not_before = Some(Instant::now() + Duration::from_secs(1));
                                }
                            } else if let Some((sid, _)) = sync
                                && id == Some(sid)
                            {
                                sync = None;
                                sync_due = Some(Instant::now() + Duration::from_secs(1));
                            }
                        }
                        "resync" => lock(&state).resyncs += 1,
                        _ => {}
                    }
                }
            }
        };
        {
            let mut st = lock(&state);
            st.connected = false;
            if stopped {
                st.conn().open_at_end = true;
            }
        }
        if stopped {
            let _ = tokio::time::timeout(Duration::from_secs(2), sink.close()).await;
            break;
        }
        lost_at = Some(Instant::now());
        let pause = if spec.web_backoff {
            attempt_no += 1;
            web_backoff(attempt_no - 1)
        } else {
            Duration::from_millis(50 + rand::random::<u64>() % 200)
        };
        tokio::select! {
            _ = stop.cancelled() => break,
            _ = tokio::time::sleep(pause) => {}
        }
    }
    lock(&state).finish();
}

fn send_frame(id: u64, room: i64, client_id: &str, body: &str) -> String {
    json!({
        "type": "send",
        "id": id,
        "room_id": room,
        "client_id": client_id,
        "kind": "text",
        "body": body,
    })
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::web_backoff;
    use std::time::Duration;

    /// The bounds of the web client's `backoffDelay` (web/src/state/gateway.ts).
    #[test]
    fn web_backoff_draws_from_the_upper_half_of_a_doubling_cap() {
        for _ in 0..200 {
            let first = web_backoff(0);
            assert!(first >= Duration::from_millis(250) && first <= Duration::from_millis(500));
            let third = web_backoff(2);
            assert!(third >= Duration::from_millis(1_000) && third <= Duration::from_millis(2_000));
            for late in [5, 10, 40] {
                let d = web_backoff(late);
                assert!(d >= Duration::from_millis(7_500) && d <= Duration::from_millis(15_000));
            }
        }
    }
}
