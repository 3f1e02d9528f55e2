//! The load engine: clients on WebSockets sending and receiving, with every
//! delivery checked and timed.

use crate::{
    api::{RoomSetup, Server, make_rooms},
    stats::{Latencies, rss_kib},
};
use futures_util::{SinkExt, StreamExt};
use serde::Deserialize;
use std::{
    collections::HashMap,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};
use tokio::sync::{Mutex, Semaphore};
use tokio_tungstenite::tungstenite::Message;
use tokio_util::sync::CancellationToken;

/// `roomy-bench load`.
#[derive(Debug, Clone, clap::Args)]
pub struct LoadArgs {
    /// Server base URL (loopback only).
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    pub url: String,
    /// Number of rooms.
    #[arg(long, default_value_t = 500)]
    pub rooms: usize,
    /// Members per room (2 = direct rooms).
    #[arg(long, default_value_t = 2)]
    pub room_size: usize,
    /// Senders per room (the first members).
    #[arg(long, default_value_t = 2)]
    pub senders_per_room: usize,
    /// Seconds of sending (at most 600).
    #[arg(long, default_value_t = 10)]
    pub duration: u64,
    /// Total messages per second to aim for; 0 = as fast as acks allow.
    #[arg(long, default_value_t = 0)]
    pub rate: u64,
    /// Messages in flight per sender (sent, not yet acked).
    #[arg(long, default_value_t = 4)]
    pub window: usize,
    /// Server process id, to report its memory.
    #[arg(long)]
    pub server_pid: Option<u32>,
    /// Message body size in bytes (at least 32).
    #[arg(long, default_value_t = 64)]
    pub body_bytes: usize,
    /// Nodes of a cluster (loopback only), given once each: the members of
    /// a room connect to different nodes in turn, so with rooms no larger
    /// than the node count every delivery crosses nodes. Set-up still goes
    /// through `--url`.
    #[arg(long = "node-url")]
    pub node_urls: Vec<String>,
    /// With `--node-url`: every member of a room on the same node instead
    /// (rooms spread over the nodes in turn), so no delivery crosses nodes:
    /// the baseline for the crossing latency.
    #[arg(long, requires = "node_urls")]
    pub local_rooms: bool,
}

/// What one client saw.
#[derive(Debug, Default)]
pub struct ClientLog {
    /// Seqs of `message` frames per room, in arrival order.
    pub received: HashMap<i64, Vec<i64>>,
    /// (seq, client_id) of acked sends per room.
    pub acked: HashMap<i64, Vec<(i64, String)>>,
    /// Client ids sent but never acked.
    pub unacked: Vec<(i64, String)>,
    pub ack_latency: Latencies,
    pub delivery_latency: Latencies,
    pub errors: u64,
    pub resyncs: u64,
}

/// The verdict of a run.
#[derive(Debug, Default)]
pub struct Report {
    pub sent: u64,
    pub acked: u64,
    pub delivered: u64,
    pub errors: u64,
    pub resyncs: u64,
    pub problems: Vec<String>,
}

impl Report {
    /// True when every delivery checked out.
    pub fn passed(&self) -> bool {
        self.problems.is_empty()
    }
}

#[derive(Deserialize)]
struct Frame<'a> {
    #[serde(rename = "type")]
    ty: &'a str,
    id: Option<u64>,
    message: Option<Msg<'a>>,
}

#[derive(Deserialize)]
struct Msg<'a> {
    room_id: i64,
    seq: i64,
    #[serde(borrow)]
    body: Option<&'a str>,
    #[serde(borrow)]
    client_id: Option<&'a str>,
}

/// Microseconds since the run started, as carried in message bodies.
fn micros(start: Instant) -> u64 {
    start.elapsed().as_micros() as u64
}

/// Shared counters of a run.
#[derive(Debug, Default)]
pub struct Counters {
    pub sent: AtomicU64,
    pub acked: AtomicU64,
    pub delivered: AtomicU64,
}

/// One client: connects, then reads (and, if a sender, sends) until `stop`.
#[allow(clippy::too_many_arguments)]
async fn client(
    server: Server,
    token: String,
    room: i64,
    send: bool,
    interval: Option<Duration>,
    window: usize,
    body_bytes: usize,
    start: Instant,
    gate: CancellationToken,
    stop_sending: CancellationToken,
    stop: CancellationToken,
    counters: Arc<Counters>,
    connected: Arc<Semaphore>,
) -> ClientLog {
    let log = Arc::new(Mutex::new(ClientLog::default()));
    let Ok((ws, _)) = tokio_tungstenite::connect_async(server.ws_url(&token)).await else {
        log.lock().await.errors += 1;
        connected.add_permits(1);
        return take(log).await;
    };
    let (mut sink, mut stream) = ws.split();
    // Wait for ready before counting as connected.
    while let Some(Ok(m)) = stream.next().await {
        if let Message::Text(t) = m
            && t.contains("\"ready\"")
        {
            break;
        }
    }
    connected.add_permits(1);
    let permits = Arc::new(Semaphore::new(window));
    let pending: Arc<std::sync::Mutex<HashMap<u64, (Instant, String)>>> = Arc::default();

    let reader = {
        let log = log.clone();
        let permits = permits.clone();
        let pending = pending.clone();
        let counters = counters.clone();
        let stop = stop.clone();
        tokio::spawn(async move {
            loop {
                let next = tokio::select! {
                    _ = stop.cancelled() => break,
                    n = stream.next() => n,
                };
                let Some(Ok(Message::Text(t))) = next else {
                    match next {
                        Some(Ok(_)) => continue,
                        _ => break,
                    }
                };
                let Ok(f) = serde_json::from_str::<Frame>(&t) else {
                    log.lock().await.errors += 1;
                    continue;
                };
                let now_us = micros(start);
                let mut l = log.lock().await;
                match (f.ty, f.message) {
                    ("message", Some(m)) => {
                        l.received.entry(m.room_id).or_default().push(m.seq);
                        if let Some(sent_us) = m
                            .body
                            .and_then(|b| b.strip_prefix("t="))
                            .and_then(|b| b.split(' ').next())
                            .and_then(|t| t.parse::<u64>().ok())
                        {
                            l.delivery_latency
                                .0
                                .push(now_us.saturating_sub(sent_us) as u32);
                        }
                        counters.delivered.fetch_add(1, Ordering::Relaxed);
                    }
                    ("ack", Some(m)) => {
                        let sent = f.id.and_then(|id| {
                            pending
                                .lock()
                                .unwrap_or_else(|e| e.into_inner())
                                .remove(&id)
                        });
                        if let Some((at, _)) = sent {
                            l.ack_latency.0.push(at.elapsed().as_micros() as u32);
                        }
                        l.acked
                            .entry(m.room_id)
                            .or_default()
                            .push((m.seq, m.client_id.unwrap_or_default().to_owned()));
                        counters.acked.fetch_add(1, Ordering::Relaxed);
                        permits.add_permits(1);
                    }
                    ("error", _) => {
                        l.errors += 1;
                        if let Some(id) = f.id {
                            pending
                                .lock()
                                .unwrap_or_else(|e| e.into_inner())
                                .remove(&id);
                        }
                        permits.add_permits(1);
                    }
                    ("resync", _) => l.resyncs += 1,
                    _ => {}
                }
            }
        })
    };

    // Senders start together, once every client is connected.
    let go = tokio::select! {
        _ = gate.cancelled() => true,
        _ = stop_sending.cancelled() => false,
    };
    if send && go {
        let pad = "x".repeat(body_bytes.saturating_sub(24));
        // Senders are spread evenly over the interval, not all at its start:
        // synchronised tickers would turn a steady rate into bursts.
        let mut ticker = interval.map(|i| {
            let offset = i.mul_f64(rand::random::<f64>());
            let mut t = tokio::time::interval_at(tokio::time::Instant::now() + offset, i);
            t.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            t
        });
        let mut n: u64 = 0;
        loop {
            if let Some(t) = ticker.as_mut() {
                tokio::select! {
                    _ = stop_sending.cancelled() => break,
                    _ = t.tick() => {}
                }
            }
            let permit = tokio::select! {
                _ = stop_sending.cancelled() => break,
                p = permits.clone().acquire_owned() => p,
            };
            let Ok(permit) = permit else { break };
            permit.forget();
            n += 1;
            let client_id = format!("{}-{n}", &token[token.len() - 12..]);
            let frame = format!(
                r#"{{"type":"send","id":{n},"room_id":{room},"client_id":"{client_id}","kind":"text","body":"t={} {pad}"}}"#,
                micros(start)
            );
            pending
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(n, (Instant::now(), client_id));
            if sink.send(Message::Text(frame.into())).await.is_err() {
                break;
            }
            counters.sent.fetch_add(1, Ordering::Relaxed);
        }
        // Let the acks of what is in flight arrive.
        let _ = tokio::time::timeout(Duration::from_secs(10), permits.acquire_many(window as u32))
            .await;
    }
    let _ = reader.await;
    let _ = sink.close().await;
    let unacked: Vec<(i64, String)> = pending
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .drain()
        .map(|(_, (_, c))| (room, c))
        .collect();
    log.lock().await.unacked = unacked;
    take(log).await
}

async fn take(log: Arc<Mutex<ClientLog>>) -> ClientLog {
    std::mem::take(&mut *log.lock().await)
}

/// A running load: clients connected and sending until stopped.
pub struct Running {
    pub counters: Arc<Counters>,
    pub stop_sending: CancellationToken,
    pub stop: CancellationToken,
    tasks: Vec<(i64, tokio::task::JoinHandle<ClientLog>)>,
}

/// Connects every member of `rooms` and starts the senders: member `i` of
/// room `r` to `nodes[(r + i) % nodes.len()]` (`nodes[r % nodes.len()]`
/// with `local_rooms`), or all to `server`.
#[allow(clippy::too_many_arguments)]
pub async fn start(
    server: &Server,
    nodes: &[Server],
    local_rooms: bool,
    rooms: &[RoomSetup],
    senders_per_room: usize,
    rate: u64,
    window: usize,
    body_bytes: usize,
) -> Running {
    let counters = Arc::new(Counters::default());
    let stop_sending = CancellationToken::new();
    let stop = CancellationToken::new();
    let start = Instant::now();
    let total_senders = (rooms.len() * senders_per_room).max(1) as u64;
    let interval = (rate > 0).then(|| Duration::from_secs_f64(total_senders as f64 / rate as f64));
    let connected = Arc::new(Semaphore::new(0));
    let gate = CancellationToken::new();
    let mut tasks = Vec::new();
    let mut count = 0u32;
    for (r, room) in rooms.iter().enumerate() {
        for (i, member) in room.members.iter().enumerate() {
            let send = i < senders_per_room;
            let server = match nodes.len() {
                0 => server.clone(),
                n if local_rooms => nodes[r % n].clone(),
                n => nodes[(r + i) % n].clone(),
            };
            let token = member.token.clone();
            let (sending, stop_all, counters, connected, gate) = (
                stop_sending.child_token(),
                stop.clone(),
                counters.clone(),
                connected.clone(),
                gate.clone(),
            );
            let room_id = room.id;
            tasks.push((
                room.id,
                tokio::spawn(client(
                    server, token, room_id, send, interval, window, body_bytes, start, gate,
                    sending, stop_all, counters, connected,
                )),
            ));
            count += 1;
        }
    }
    // All connected (or failed) before sending is measured.
    let _ = connected.acquire_many(count).await;
    gate.cancel();
    Running {
        counters,
        stop_sending,
        stop,
        tasks,
    }
}

impl Running {
    /// Stops sending, waits for deliveries to settle, and collects the logs
    /// in the order the clients were started (room by room, member by member).
    pub async fn finish(self) -> Vec<(i64, ClientLog)> {
        self.stop_sending.cancel();
        // Wait (bounded) until every acked message reached every other member.
        let deadline = Instant::now() + Duration::from_secs(15);
        let mut last = u64::MAX;
        while Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(200)).await;
            let delivered = self.counters.delivered.load(Ordering::Relaxed);
            let acked = self.counters.acked.load(Ordering::Relaxed);
            let sent = self.counters.sent.load(Ordering::Relaxed);
            if acked == sent && delivered == last {
                break;
            }
            last = delivered;
        }
        self.stop.cancel();
        let mut out = Vec::new();
        // In start order: room by room, member by member.
        for (room, t) in self.tasks {
            out.push((room, t.await.unwrap_or_default()));
        }
        out
    }
}

/// Checks order, loss and duplicates room by room.
pub fn verify(logs: &[(i64, ClientLog)], rooms: &[RoomSetup], report: &mut Report) {
    let mut by_room: HashMap<i64, Vec<&ClientLog>> = HashMap::new();
    for (room, log) in logs {
        by_room.entry(*room).or_default().push(log);
    }
    for room in rooms {
        let members = by_room.get(&room.id).cloned().unwrap_or_default();
        let mut all: Vec<i64> = members
            .iter()
            .flat_map(|l| l.acked.get(&room.id).into_iter().flatten().map(|(s, _)| *s))
            .collect();
        all.sort_unstable();
        let before = all.len();
        all.dedup();
        if all.len() != before {
            report
                .problems
                .push(format!("room {}: a seq was acked twice", room.id));
        }
        for log in &members {
            let received = log.received.get(&room.id).cloned().unwrap_or_default();
            if received.windows(2).any(|w| w[1] <= w[0]) {
                report
                    .problems
                    .push(format!("room {}: deliveries out of order", room.id));
            }
            let mut got: Vec<i64> = received.clone();
            got.extend(
                log.acked
                    .get(&room.id)
                    .into_iter()
                    .flatten()
                    .map(|(s, _)| *s),
            );
            got.sort_unstable();
            let n = got.len();
            got.dedup();
            if got.len() != n {
                report
                    .problems
                    .push(format!("room {}: a message arrived twice", room.id));
            }
            if log.resyncs == 0 && got != all {
                let missing = all.iter().filter(|s| got.binary_search(s).is_err()).count();
                report.problems.push(format!(
                    "room {}: a member is missing {missing} of {} messages",
                    room.id,
                    all.len()
                ));
            }
        }
        if let (Some(first), Some(last)) = (all.first(), all.last())
            && (last - first + 1) as usize != all.len()
        {
            report
                .problems
                .push(format!("room {}: acked seqs have gaps", room.id));
        }
    }
    report.problems.truncate(20);
}

/// `roomy-bench load`.
pub async fn run(args: LoadArgs) -> Result<Report, String> {
    let server = Server::new(&args.url)?;
    let nodes = args
        .node_urls
        .iter()
        .map(|u| Server::new(u))
        .collect::<Result<Vec<_>, _>>()?;
    let duration = Duration::from_secs(args.duration.clamp(1, 600));
    let tag = format!("{:04x}", rand::random::<u16>());
    eprintln!(
        "setting up {} rooms of {} members...",
        args.rooms, args.room_size
    );
    let rooms = make_rooms(&server, args.rooms, args.room_size, &tag).await?;
    let clients: usize = rooms.iter().map(|r| r.members.len()).sum();
    let rss_before = args.server_pid.and_then(rss_kib);
    eprintln!("connecting {clients} clients...");
    let running = start(
        &server,
        &nodes,
        args.local_rooms,
        &rooms,
        args.senders_per_room.min(args.room_size),
        args.rate,
        args.window.max(1),
        args.body_bytes.max(32),
    )
    .await;
    let rss_connected = args.server_pid.and_then(rss_kib);
    eprintln!("sending for {} s...", duration.as_secs());
    let counters = running.counters.clone();
    let t0 = Instant::now();
    let (s0, a0, d0) = (
        counters.sent.load(Ordering::Relaxed),
        counters.acked.load(Ordering::Relaxed),
        counters.delivered.load(Ordering::Relaxed),
    );
    tokio::time::sleep(duration).await;
    let elapsed = t0.elapsed().as_secs_f64();
    let (s1, a1, d1) = (
        counters.sent.load(Ordering::Relaxed),
        counters.acked.load(Ordering::Relaxed),
        counters.delivered.load(Ordering::Relaxed),
    );
    let rss_end = args.server_pid.and_then(rss_kib);
    let logs = running.finish().await;

    let mut report = Report::default();
    let mut ack = Latencies::default();
    let mut delivery = Latencies::default();
    for (_, l) in &logs {
        report.errors += l.errors;
        report.resyncs += l.resyncs;
        report.acked += l.acked.values().map(|v| v.len() as u64).sum::<u64>();
        report.delivered += l.received.values().map(|v| v.len() as u64).sum::<u64>();
        ack.0.extend_from_slice(&l.ack_latency.0);
        delivery.0.extend_from_slice(&l.delivery_latency.0);
    }
    report.sent = counters.sent.load(Ordering::Relaxed);
    verify(&logs, &rooms, &mut report);

    println!(
        "roomy-bench load: {} rooms x {} members ({clients} clients), {} senders, {} s, rate {}, window {}, body {} B",
        args.rooms,
        args.room_size,
        args.rooms * args.senders_per_room.min(args.room_size),
        duration.as_secs(),
        if args.rate == 0 {
            "max".to_owned()
        } else {
            format!("{}/s", args.rate)
        },
        args.window,
        args.body_bytes.max(32),
    );
    if args.local_rooms {
        println!(
            "rooms spread over {} nodes in turn, each room's members on one node: no delivery crosses nodes",
            nodes.len()
        );
    } else if !nodes.is_empty() {
        let cross = args.room_size <= nodes.len();
        println!(
            "members spread over {} nodes in turn: {}",
            nodes.len(),
            if cross {
                "every delivery crosses nodes"
            } else {
                "rooms are larger than the node count, some deliveries stay on their node"
            }
        );
    }
    println!(
        "during the window: sent {:.0}/s, acked {:.0}/s, delivered {:.0}/s",
        (s1 - s0) as f64 / elapsed,
        (a1 - a0) as f64 / elapsed,
        (d1 - d0) as f64 / elapsed
    );
    println!(
        "totals: sent {}, acked {}, delivered {}, errors {}, resyncs {}",
        report.sent, report.acked, report.delivered, report.errors, report.resyncs
    );
    println!("ack latency:      {}", ack.summary());
    println!("delivery latency: {}", delivery.summary());
    if let (Some(b), Some(c), Some(e)) = (rss_before, rss_connected, rss_end) {
        println!(
            "server RSS: {:.1} MiB before connecting, {:.1} MiB connected, {:.1} MiB at the end, peak {:.1} MiB",
            b.0 as f64 / 1024.0,
            c.0 as f64 / 1024.0,
            e.0 as f64 / 1024.0,
            e.1 as f64 / 1024.0
        );
    }
    if report.passed() {
        println!("verification: OK (every delivery in order, none lost, none twice)");
    } else {
        println!("verification: FAILED");
        for p in &report.problems {
            println!("  - {p}");
        }
    }
    Ok(report)
}
