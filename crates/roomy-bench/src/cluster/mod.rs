//! The cluster test: users in direct rooms and groups on WebSockets through
//! a load balancer in front of several nodes, sending at a steady rate while
//! faults are applied from outside (`deploy/local-cluster.sh` kills a node,
//! stops and freezes the bus), then a verdict on every delivery and on the
//! database ([`check`]), and on presence: users connected only to the node
//! that is killed must be seen offline by a watcher on another node.
//! With `--storm-clients`, a reconnect storm: that many clients start on the
//! node that is killed and must all be back and caught up, timed from the kill.
//!
//! The fault driver and the bench talk through files in `--control-dir`:
//! the bench writes `loaded` once every client is connected and sending,
//! and `presence-done` once the killed node's users were seen offline (or
//! their deadline passed); the driver appends `<unix ms> <what>` lines to
//! `events` as it applies each fault, and writes `done` when it is through.

pub mod check;
mod client;

use crate::{
    api::{Account, Server, each},
    stats::Latencies,
};
use check::{ClientRecord, Msg, Stored, Tally};
use client::{Controls, Settings, Shared, Spec, lock};
use futures_util::StreamExt;
use serde_json::Value;
use std::{
    collections::{BTreeMap, HashMap},
    path::PathBuf,
    sync::{Arc, Mutex},
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};
use tokio_tungstenite::tungstenite::Message;
use tokio_util::sync::CancellationToken;

/// `roomy-bench cluster`.
#[derive(Debug, Clone, clap::Args)]
pub struct ClusterArgs {
    /// The load balancer's base URL (loopback only): every load client goes through it.
    #[arg(long)]
    pub url: String,
    /// The node that will be killed, directly (presence users connect only to it).
    #[arg(long)]
    pub presence_node: Option<String>,
    /// Another node, directly: the presence watcher connects to it.
    #[arg(long)]
    pub watch_node: Option<String>,
    /// Folder of the files shared with the fault driver (see the module doc).
    /// Without it the load runs `--duration` seconds and no fault is expected.
    #[arg(long)]
    pub control_dir: Option<PathBuf>,
    /// Seconds of load without a control folder.
    #[arg(long, default_value_t = 30)]
    pub duration: u64,
    /// Direct rooms (two registered users each).
    #[arg(long, default_value_t = 16)]
    pub direct_rooms: usize,
    /// Groups: a direct room's first user owns each, guests fill it.
    #[arg(long, default_value_t = 4)]
    pub groups: usize,
    /// Members per group, its owner included.
    #[arg(long, default_value_t = 8)]
    pub group_size: usize,
    /// Milliseconds between two sends of one client (every client sends).
    #[arg(long, default_value_t = 1_000)]
    pub interval_ms: u64,
    /// Unacknowledged sends per client at most.
    #[arg(long, default_value_t = 4)]
    pub window: usize,
    /// Users connected only to `--presence-node`.
    #[arg(long, default_value_t = 3)]
    pub presence_users: usize,
    /// Seconds after the kill by which the watcher must see them offline.
    #[arg(long, default_value_t = 60)]
    pub presence_deadline_secs: u64,
    /// The nodes run the in-process bus: presence is not shared between
    /// them, so it is not checked across nodes (messages still are: each
    /// node's hub reads what the others committed from the database).
    #[arg(long)]
    pub in_process_bus: bool,
    /// Clients of the reconnect storm: they connect first to
    /// `--presence-node`, directly, and through the load balancer once it is
    /// killed, with the web client's backoff; the verdict times how long
    /// they take to be back and caught up. 0: no storm.
    #[arg(long, default_value_t = 0)]
    pub storm_clients: usize,
    /// Members per storm group (a registered owner and guests).
    #[arg(long, default_value_t = 50)]
    pub storm_group_size: usize,
    /// Milliseconds between two sends of one storm client.
    #[arg(long, default_value_t = 60_000)]
    pub storm_interval_ms: u64,
    /// Seconds allowed, after the driver is done, for the last acks and
    /// for every client to catch up.
    #[arg(long, default_value_t = 30)]
    pub settle_secs: u64,
    /// The longest the whole run may take, set-up included.
    #[arg(long, default_value_t = 600)]
    pub max_secs: u64,
}

fn unix_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or_default()
}

/// A fault the driver applied: when (Unix ms) and what.
#[derive(Debug, Clone)]
struct Event {
    at_ms: i64,
    what: String,
}

/// The driver's side of the control folder.
struct Control {
    dir: Option<PathBuf>,
}

impl Control {
    fn mark(&self, name: &str) -> Result<(), String> {
        match &self.dir {
            Some(d) => std::fs::write(d.join(name), format!("{}\n", unix_ms()))
                .map_err(|e| format!("cannot write {}: {e}", d.join(name).display())),
            None => Ok(()),
        }
    }

    fn events(&self) -> Vec<Event> {
        let Some(d) = &self.dir else {
            return Vec::new();
        };
        std::fs::read_to_string(d.join("events"))
            .unwrap_or_default()
            .lines()
            .filter_map(|l| {
                let (at, what) = l.trim().split_once(' ')?;
                Some(Event {
                    at_ms: at.parse().ok()?,
                    what: what.trim().to_owned(),
                })
            })
            .collect()
    }

    fn done(&self) -> bool {
        self.dir.as_deref().is_some_and(|d| d.join("done").exists())
    }
}

/// (user, online, Unix ms) of every presence frame the watcher got.
type PresenceFrames = Arc<Mutex<Vec<(i64, bool, i64)>>>;

/// The presence part: a watcher on one node, users on the node that dies.
struct Presence {
    frames: PresenceFrames,
    users: Vec<Account>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Presence {
    fn first(&self, user: i64, online: bool, after_ms: i64) -> Option<i64> {
        self.frames
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .find(|(u, o, at)| *u == user && *o == online && *at >= after_ms)
            .map(|(_, _, at)| *at)
    }

    fn stop(self) {
        for t in self.tasks {
            t.abort();
        }
    }
}

/// Holds a WebSocket open on `server` as `token`; `frames` gets the
/// presence frames it receives. Never reconnects.
async fn hold(
    server: Server,
    token: String,
    frames: Option<PresenceFrames>,
    ready: tokio::sync::oneshot::Sender<()>,
) {
    let Ok((mut ws, _)) = tokio_tungstenite::connect_async(server.ws_url(&token)).await else {
        return;
    };
    let mut ready = Some(ready);
    while let Some(Ok(m)) = ws.next().await {
        let Message::Text(t) = m else { continue };
        let Ok(v) = serde_json::from_str::<Value>(&t) else {
            continue;
        };
        match v["type"].as_str() {
            Some("ready") => {
                if let Some(r) = ready.take() {
                    let _ = r.send(());
                }
            }
            Some("presence") => {
                if let (Some(f), Some(u), Some(o)) =
                    (&frames, v["user_id"].as_i64(), v["online"].as_bool())
                {
                    f.lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .push((u, o, unix_ms()));
                }
            }
            _ => {}
        }
    }
    let _ = ws.close(None).await;
}

async fn start_presence(
    args: &ClusterArgs,
    lb: &Server,
    tag: &str,
) -> Result<Option<Presence>, String> {
    let (Some(victim), Some(watch)) = (&args.presence_node, &args.watch_node) else {
        return Ok(None);
    };
    if args.presence_users == 0 {
        return Ok(None);
    }
    let victim = Server::new(victim)?;
    let watch = Server::new(watch)?;
    let watcher = lb.user(&format!("cw{tag}")).await?;
    let users = each((0..args.presence_users).collect(), 8, |i| async move {
        lb.guest(&format!("p{i}")).await
    })
    .await?;
    lb.group(&watcher, "presence", &users).await?;
    let frames = Arc::new(Mutex::new(Vec::new()));
    let mut tasks = Vec::new();
    let (tx, rx) = tokio::sync::oneshot::channel();
    tasks.push(tokio::spawn(hold(
        watch,
        watcher.token.clone(),
        Some(frames.clone()),
        tx,
    )));
    tokio::time::timeout(Duration::from_secs(10), rx)
        .await
        .map_err(|_| "the presence watcher got no ready in 10 s".to_owned())?
        .map_err(|_| "the presence watcher could not connect".to_owned())?;
    for u in &users {
        let (tx, rx) = tokio::sync::oneshot::channel();
        tasks.push(tokio::spawn(hold(
            victim.clone(),
            u.token.clone(),
            None,
            tx,
        )));
        tokio::time::timeout(Duration::from_secs(10), rx)
            .await
            .map_err(|_| "a presence user got no ready in 10 s".to_owned())?
            .map_err(|_| "a presence user could not connect".to_owned())?;
    }
    Ok(Some(Presence {
        frames,
        users,
        tasks,
    }))
}

/// The load's users, each with its rooms.
async fn setup(
    args: &ClusterArgs,
    lb: &Server,
    tag: &str,
) -> Result<(Vec<Spec>, Vec<i64>), String> {
    let pairs = each((0..args.direct_rooms).collect(), 8, |i| async move {
        let a = lb.user(&format!("ca{tag}_{i:03}")).await?;
        let b = lb.user(&format!("cb{tag}_{i:03}")).await?;
        let room = lb.direct(&a, &b).await?;
        Ok((a, b, room))
    })
    .await?;
    let mut specs: BTreeMap<i64, Spec> = BTreeMap::new();
    let mut rooms = Vec::new();
    let mut add = |a: &Account, name: String, room: i64| {
        specs
            .entry(a.id)
            .or_insert_with(|| Spec {
                user: a.id,
                name,
                token: a.token.clone(),
                rooms: Vec::new(),
                sends: true,
                interval: None,
                first: None,
                web_backoff: false,
            })
            .rooms
            .push(room);
    };
    for (i, (a, b, room)) in pairs.iter().enumerate() {
        add(a, format!("ca{i}"), *room);
        add(b, format!("cb{i}"), *room);
        rooms.push(*room);
    }
    let group_size = args.group_size.max(2);
    let groups = each((0..args.groups).collect(), 4, |g| {
        let owner = pairs.get(g).map(|p| p.0.clone());
        async move {
            let owner = match owner {
                Some(o) => o,
                None => lb.user(&format!("co{tag}_{g:03}")).await?,
            };
            let guests = each((0..group_size - 1).collect(), 8, |j| async move {
                lb.guest(&format!("g{g}_{j}")).await
            })
            .await?;
            let room = lb.group(&owner, "cluster", &guests).await?;
            Ok((g, owner, guests, room))
        }
    })
    .await?;
    for (g, owner, guests, room) in &groups {
        add(owner, format!("co{g}"), *room);
        for (j, guest) in guests.iter().enumerate() {
            add(guest, format!("g{g}x{j}"), *room);
        }
        rooms.push(*room);
    }
    let mut specs: Vec<Spec> = specs.into_values().collect();
    let (storm, storm_rooms) = storm_setup(args, lb, tag).await?;
    specs.extend(storm);
    rooms.extend(storm_rooms);
    Ok((specs, rooms))
}

/// The reconnect storm's users: groups of `--storm-group-size`, each a
/// registered owner and guests, all starting on the node that will die.
async fn storm_setup(
    args: &ClusterArgs,
    lb: &Server,
    tag: &str,
) -> Result<(Vec<Spec>, Vec<i64>), String> {
    if args.storm_clients == 0 {
        return Ok((Vec::new(), Vec::new()));
    }
    let node = args
        .presence_node
        .as_deref()
        .ok_or("--storm-clients needs --presence-node, the node that will be killed")?;
    let node = Server::new(node)?;
    let size = args.storm_group_size.clamp(2, args.storm_clients.max(2));
    let groups = args.storm_clients.div_ceil(size);
    eprintln!(
        "cluster: setting up {} storm clients in {groups} groups...",
        args.storm_clients
    );
    let made = each((0..groups).collect(), 4, |g| async move {
        let owner = lb.user(&format!("so{tag}_{g:04}")).await?;
        let members = size.min(args.storm_clients - g * size);
        let guests = each((0..members - 1).collect(), 16, |j| async move {
            lb.guest(&format!("s{g}_{j}")).await
        })
        .await?;
        let room = lb.group(&owner, "storm", &guests).await?;
        Ok((g, owner, guests, room))
    })
    .await?;
    let interval = Duration::from_millis(args.storm_interval_ms.max(10));
    let mut specs = Vec::new();
    let mut rooms = Vec::new();
    for (g, owner, guests, room) in made {
        for (j, a) in std::iter::once(&owner).chain(&guests).enumerate() {
            specs.push(Spec {
                user: a.id,
                name: format!("s{g}x{j}"),
                token: a.token.clone(),
                rooms: vec![room],
                sends: true,
                interval: Some(interval),
                first: Some(node.clone()),
                web_backoff: true,
            });
        }
        rooms.push(room);
    }
    Ok((specs, rooms))
}

/// Every load room's history, through the load balancer, as a member reads it.
async fn stored(
    lb: &Server,
    rooms: &[i64],
    readers: &HashMap<i64, String>,
) -> Result<Stored, String> {
    let histories = each(rooms.to_vec(), 8, |room| async move {
        let token = readers
            .get(&room)
            .ok_or(format!("no reader for room {room}"))?;
        let history = lb.history(token, room).await?;
        Ok((
            room,
            history
                .iter()
                .filter_map(Msg::from_json)
                .collect::<Vec<_>>(),
        ))
    })
    .await?;
    Ok(Stored {
        rooms: histories.into_iter().collect(),
    })
}

/// Waits (polling) until `ready()` or the deadline; whether it became ready.
async fn until(deadline: Instant, mut ready: impl FnMut() -> bool) -> bool {
    loop {
        if ready() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Runs the cluster test; true when every check passed.
pub async fn run(args: ClusterArgs) -> Result<bool, String> {
    let started = Instant::now();
    let started_ms = unix_ms();
    let hard_end = started + Duration::from_secs(args.max_secs.max(60));
    let lb = Server::new(&args.url)?;
    lb.wait_ready(300).await?;
    let control = Control {
        dir: args.control_dir.clone(),
    };
    // Presence crosses nodes only on a network bus.
    let presence_shared = !args.in_process_bus;
    let mut problems: Vec<String> = Vec::new();
    let tag = format!("{:04x}", rand::random::<u16>());

    eprintln!(
        "cluster: setting up users and rooms through {}...",
        lb.base()
    );
    let (specs, rooms) = setup(&args, &lb, &tag).await?;
    let readers: HashMap<i64, String> = specs
        .iter()
        .flat_map(|s| s.rooms.iter().map(|r| (*r, s.token.clone())))
        .collect();
    let presence = start_presence(&args, &lb, &tag).await?;
    if let Some(p) = &presence
        && presence_shared
    {
        let deadline = Instant::now() + Duration::from_secs(15);
        let ok = until(deadline, || {
            p.users.iter().all(|u| p.first(u.id, true, 0).is_some())
        })
        .await;
        if !ok {
            problems.push(format!(
                "presence: the watcher did not see the {} users of the other node come online within 15 s",
                p.users.len()
            ));
        }
    }

    eprintln!("cluster: connecting {} clients...", specs.len());
    let controls = Controls {
        go: CancellationToken::new(),
        stop_sending: CancellationToken::new(),
        stop: CancellationToken::new(),
    };
    let settings = Settings {
        lb: lb.clone(),
        interval: Duration::from_millis(args.interval_ms.max(10)),
        window: args.window.max(1),
    };
    let mut tasks = Vec::new();
    let mut states: Vec<Shared> = Vec::new();
    for spec in &specs {
        let state: Shared = Arc::default();
        {
            let mut st = lock(&state);
            st.record.user = spec.user;
            st.record.name = spec.name.clone();
            st.record.rooms = spec.rooms.clone();
        }
        states.push(state.clone());
        tasks.push(tokio::spawn(client::run(
            spec.clone(),
            settings.clone(),
            controls.clone(),
            state,
        )));
    }
    // A minute, and more for thousands of handshakes on one node.
    let connect_secs = 60 + specs.len() as u64 / 100;
    let all_connected = until(Instant::now() + Duration::from_secs(connect_secs), || {
        states.iter().all(|s| lock(s).connected)
    })
    .await;
    if !all_connected {
        controls.stop.cancel();
        return Err(format!(
            "not every client could connect in {connect_secs} s"
        ));
    }
    let spread = spread(&states);
    controls.go.cancel();
    let load_started = Instant::now();
    control.mark("loaded")?;
    eprintln!("cluster: load running ({spread})");

    // The faults come from the driver; the presence clock starts at the kill.
    let mut offline: Vec<(i64, Option<i64>)> = Vec::new();
    let mut kill_at: Option<i64> = None;
    let mut presence_done = presence.is_none();
    let no_control_end = Instant::now() + Duration::from_secs(args.duration.clamp(1, 600));
    loop {
        tokio::time::sleep(Duration::from_millis(200)).await;
        if kill_at.is_none() {
            kill_at = control
                .events()
                .iter()
                .find(|e| e.what.starts_with("kill"))
                .map(|e| e.at_ms);
        }
        if !presence_done && let (Some(k), Some(p)) = (kill_at, &presence) {
            let all = p.users.iter().all(|u| p.first(u.id, false, k).is_some());
            let late = unix_ms() > k + args.presence_deadline_secs as i64 * 1000 + 1_000;
            if !presence_shared || all || late {
                offline = p
                    .users
                    .iter()
                    .map(|u| (u.id, p.first(u.id, false, k)))
                    .collect();
                presence_done = true;
                control.mark("presence-done")?;
            }
        }
        let finished = match &control.dir {
            Some(_) => control.done(),
            None => Instant::now() >= no_control_end,
        };
        if finished {
            break;
        }
        if Instant::now() >= hard_end {
            problems.push(format!(
                "the fault driver did not finish within --max-secs {}",
                args.max_secs
            ));
            break;
        }
    }
    let load_secs = load_started.elapsed().as_secs_f64();

    // Settle: no new messages; the last acks; every client catches up.
    eprintln!("cluster: stopping the load, settling...");
    controls.stop_sending.cancel();
    let settle = Duration::from_secs(args.settle_secs.max(1));
    until(Instant::now() + settle, || {
        states.iter().all(|s| lock(s).unacked() == 0)
    })
    .await;
    let caught_up_in = Instant::now();
    let now = stored(&lb, &rooms, &readers).await?;
    let settled = until(Instant::now() + settle, || {
        states.iter().all(|s| lock(s).record.caught_up(&now))
    })
    .await;
    let caught_up_in = caught_up_in.elapsed();
    controls.stop.cancel();
    for t in tasks {
        let _ = tokio::time::timeout(Duration::from_secs(10), t).await;
    }
    if let Some(p) = presence {
        p.stop();
    }

    // The verdict, on the database as it is now.
    let db = stored(&lb, &rooms, &readers).await?;
    check::check_store(&db, &mut problems);
    let mut tally = Tally::default();
    let mut records: Vec<ClientRecord> = Vec::new();
    let mut ack = Latencies::default();
    let mut delivery = Latencies::default();
    let (mut sent, mut resent, mut reconnects, mut reconnected, mut refused, mut resyncs) =
        (0, 0, 0, 0, 0, 0);
    let mut outage = Duration::ZERO;
    let mut errors: BTreeMap<String, u64> = BTreeMap::new();
    // The clients outside the storm (their rooms hold none of its clients):
    // what a storm costs everyone else.
    let (mut others_ack, mut others_delivery) = (Latencies::default(), Latencies::default());
    for (s, spec) in states.iter().zip(&specs) {
        let mut st = lock(s);
        st.finish();
        if spec.first.is_none() {
            others_ack.0.extend_from_slice(&st.ack_latency);
            others_delivery.0.extend_from_slice(&st.delivery_latency);
        }
        sent += st.sent;
        resent += st.resent;
        reconnects += st.reconnects;
        reconnected += u64::from(st.reconnects > 0);
        refused += st.failed_attempts;
        resyncs += st.resyncs;
        outage = outage.max(st.longest_outage);
        for (code, n) in &st.errors {
            *errors.entry(code.clone()).or_default() += n;
        }
        ack.0.extend_from_slice(&st.ack_latency);
        delivery.0.extend_from_slice(&st.delivery_latency);
        records.push(st.record.clone());
    }
    for r in &records {
        check::check_client(r, &db, &mut tally, &mut problems);
    }
    let storm: Vec<&ClientRecord> = specs
        .iter()
        .zip(&records)
        .filter(|(s, _)| s.first.is_some())
        .map(|(_, r)| r)
        .collect();
    let acked: usize = records.iter().map(|r| r.acks.len()).sum();
    let stored_msgs: usize = db.rooms.values().map(Vec::len).sum();

    println!(
        "roomy-bench cluster: {} clients in {} direct rooms and {} groups of {}, through {}, {:.0} s of load, a send per client every {} ms",
        specs.len(),
        args.direct_rooms,
        args.groups,
        args.group_size.max(2),
        lb.base(),
        load_secs,
        args.interval_ms.max(10)
    );
    println!(
        "  clients per node at the start: {spread}; at the end: {}",
        spread_at_end(&records)
    );
    let events = control.events();
    for (i, e) in events.iter().enumerate() {
        let until_ms = events.get(i + 1).map_or(i64::MAX, |n| n.at_ms);
        let reconnects: Vec<i64> = records
            .iter()
            .flat_map(|r| r.connections.iter().skip(1))
            .map(|c| c.ready_at_ms)
            .filter(|t| *t >= e.at_ms && *t < until_ms)
            .collect();
        let after = match reconnects.iter().max() {
            Some(last) => format!(
                "; {} reconnects after it, the last {:.1} s after",
                reconnects.len(),
                (last - e.at_ms) as f64 / 1000.0
            ),
            None => String::new(),
        };
        println!(
            "  fault at +{:.1} s: {}{after}",
            (e.at_ms - started_ms) as f64 / 1000.0,
            e.what
        );
    }
    println!(
        "  messages: {sent} sent, {acked} acks ({resent} sends repeated with their client id), {} never acknowledged; {stored_msgs} stored in {} rooms",
        records.iter().map(|r| r.unacked.len()).sum::<usize>(),
        db.rooms.len()
    );
    println!(
        "  deliveries checked: {} live frames, {} acks of repeated sends, {} from sync",
        tally.live, tally.retry_acks, tally.synced,
    );
    println!(
        "  reconnects: {reconnects} by {reconnected} clients, longest outage {:.1} s, {refused} refused attempts, {resyncs} resyncs; caught up {:.1} s after the last ack{}",
        outage.as_secs_f64(),
        caught_up_in.as_secs_f64(),
        if settled {
            ""
        } else {
            " (NOT caught up in time)"
        }
    );
    if !errors.is_empty() {
        let list: Vec<String> = errors.iter().map(|(c, n)| format!("{c} {n}")).collect();
        println!("  error frames: {}", list.join(", "));
    }
    println!("  ack latency: {}", ack.summary());
    println!(
        "  delivery latency (live, any node): {}",
        delivery.summary()
    );
    if !storm.is_empty() {
        println!(
            "  the {} clients outside the storm: ack {}; delivery {}",
            specs.len() - storm.len(),
            others_ack.summary(),
            others_delivery.summary()
        );
        report_storm(&storm, kill_at, &mut problems);
    }
    match (kill_at, presence_shared, offline.is_empty()) {
        (_, false, _) => println!("  presence: not checked (in-process bus: presence is per node)"),
        (None, _, _) | (_, _, true) => println!("  presence: not checked (no node was killed)"),
        (Some(k), true, false) => {
            let mut worst: f64 = 0.0;
            for (user, at) in &offline {
                let deadline = args.presence_deadline_secs as f64;
                match at.map(|at| (at - k) as f64 / 1000.0) {
                    Some(after) if after <= deadline => worst = worst.max(after),
                    Some(after) => {
                        worst = worst.max(after);
                        problems.push(format!(
                            "presence: user {user} (on the killed node) seen offline only {after:.1} s after the kill"
                        ));
                    }
                    None => problems.push(format!(
                        "presence: user {user} (on the killed node) not seen offline within {} s of the kill",
                        args.presence_deadline_secs
                    )),
                }
            }
            println!(
                "  presence: {} of {} users of the killed node seen offline by the watcher on another node, the last {:.1} s after the kill (deadline {} s)",
                offline.iter().filter(|(_, a)| a.is_some()).count(),
                offline.len(),
                worst,
                args.presence_deadline_secs
            );
        }
    }
    if !settled {
        problems.push(format!(
            "not every client had caught up {} s after the last acknowledgement",
            args.settle_secs
        ));
    }
    println!(
        "  run time: {:.0} s in all",
        started.elapsed().as_secs_f64()
    );
    if problems.is_empty() {
        println!(
            "verdict: PASSED (every acknowledged message stored once, in order; every member got each once, in order, live or by sync)"
        );
    } else {
        println!("verdict: FAILED ({} problems)", problems.len());
        for p in problems.iter().take(40) {
            println!("  - {p}");
        }
    }
    Ok(problems.is_empty())
}

/// What the storm clients did after the kill.
#[derive(Debug, Default)]
struct Storm {
    /// From the kill to the first `ready` on another node, µs, per client.
    back: Latencies,
    /// From the kill to that client's catch-up `sync` done, µs.
    caught_up: Latencies,
    /// Still on their first, direct connection at the end: the killed node
    /// never held them.
    never_lost: usize,
    /// Had already moved off the killed node before the kill (a resync, a
    /// bus fault): not part of the storm.
    moved_before: usize,
    /// Lost their connection at the kill and not back, or back but never
    /// caught up.
    not_back: usize,
    not_caught_up: usize,
}

impl Storm {
    /// Tallies `storm` against a kill at `kill` (Unix ms).
    fn tally(storm: &[&ClientRecord], kill: i64) -> Storm {
        let micros = |t: i64| ((t - kill).max(0) as u64 * 1000).min(u64::from(u32::MAX)) as u32;
        let mut out = Storm::default();
        for r in storm {
            let (before, after): (Vec<&check::Connection>, Vec<&check::Connection>) =
                r.connections.iter().partition(|c| c.ready_at_ms < kill);
            if r.connections.len() == 1 && r.connections[0].open_at_end {
                out.never_lost += 1;
                continue;
            }
            if before
                .last()
                .is_some_and(|c| c.node.as_deref() != Some("direct"))
            {
                out.moved_before += 1;
                continue;
            }
            let Some(first) = after.first() else {
                out.not_back += 1;
                continue;
            };
            out.back.0.push(micros(first.ready_at_ms));
            match after.iter().find_map(|c| c.synced_at_ms) {
                Some(t) => out.caught_up.0.push(micros(t)),
                None => out.not_caught_up += 1,
            }
        }
        out
    }
}

/// The reconnect storm's verdict: every storm client back (a `ready` on
/// another node) and caught up (its `sync` done) after the kill, and how
/// long that took, client by client, from the kill.
fn report_storm(storm: &[&ClientRecord], kill_at: Option<i64>, problems: &mut Vec<String>) {
    let Some(kill) = kill_at else {
        problems.push("storm: no node was killed".into());
        return;
    };
    let mut t = Storm::tally(storm, kill);
    let last = |l: &[u32]| f64::from(l.iter().copied().max().unwrap_or(0)) / 1e6;
    println!(
        "  reconnect storm: {} clients on the killed node; {} back on another node, the last {:.1} s after the kill; {} caught up by sync, the last {:.1} s after the kill",
        storm.len(),
        t.back.0.len(),
        last(&t.back.0),
        t.caught_up.0.len(),
        last(&t.caught_up.0)
    );
    println!("    back (ready) after the kill: {}", t.back.summary());
    println!("    caught up after the kill:    {}", t.caught_up.summary());
    if t.never_lost > 0 {
        problems.push(format!(
            "storm: {} storm clients never lost their first connection (not on the killed node?)",
            t.never_lost
        ));
    }
    if t.moved_before > 0 {
        problems.push(format!(
            "storm: {} storm clients had left the killed node before the kill",
            t.moved_before
        ));
    }
    if t.not_back + t.not_caught_up > 0 {
        problems.push(format!(
            "storm: of {} storm clients, {} did not come back and {} came back but did not catch up",
            storm.len(),
            t.not_back,
            t.not_caught_up
        ));
    }
}

/// "node1 30, node2 29, ..." over the clients' current connections.
fn spread(states: &[Shared]) -> String {
    let mut by: BTreeMap<String, usize> = BTreeMap::new();
    for s in states {
        let st = lock(s);
        let node = st
            .record
            .connections
            .last()
            .and_then(|c| c.node.clone())
            .unwrap_or_else(|| "?".into());
        *by.entry(node).or_default() += 1;
    }
    let list: Vec<String> = by.iter().map(|(n, c)| format!("{n} {c}")).collect();
    list.join(", ")
}

fn spread_at_end(records: &[ClientRecord]) -> String {
    let mut by: BTreeMap<String, usize> = BTreeMap::new();
    for r in records {
        let node = r
            .connections
            .last()
            .and_then(|c| c.node.clone())
            .unwrap_or_else(|| "?".into());
        *by.entry(node).or_default() += 1;
    }
    let list: Vec<String> = by.iter().map(|(n, c)| format!("{n} {c}")).collect();
    list.join(", ")
}

#[cfg(test)]
mod tests {
    use super::{Storm, check::ClientRecord, check::Connection};

    fn conn(node: &str, ready_at_ms: i64, synced_at_ms: Option<i64>, open: bool) -> Connection {
        Connection {
            node: Some(node.to_owned()),
            ready_at_ms,
            synced_at_ms,
            open_at_end: open,
            ..Connection::default()
        }
    }

    fn client(connections: Vec<Connection>) -> ClientRecord {
        ClientRecord {
            connections,
            ..ClientRecord::default()
        }
    }

    #[test]
    fn the_storm_is_timed_from_the_kill_and_every_other_fate_is_told_apart() {
        let kill = 10_000;
        let records = [
            // Back 300 ms after the kill, caught up at 450 ms.
            client(vec![
                conn("direct", 1_000, None, false),
                conn("node2", 10_300, Some(10_450), true),
            ]),
            // Back at once but its first sync failed; the next connection's did.
            client(vec![
                conn("direct", 1_000, None, false),
                conn("node3", 10_100, None, false),
                conn("node2", 11_000, Some(11_200), true),
            ]),
            // Never held by the killed node.
            client(vec![conn("direct", 1_000, None, true)]),
            // Lost at the kill, never back.
            client(vec![conn("direct", 1_000, None, false)]),
            // Back, never caught up.
            client(vec![
                conn("direct", 1_000, None, false),
                conn("node2", 10_200, None, true),
            ]),
            // Had moved through the proxy before the kill.
            client(vec![
                conn("direct", 1_000, None, false),
                conn("node2", 5_000, Some(5_100), true),
            ]),
        ];
        let refs: Vec<&ClientRecord> = records.iter().collect();
        let t = Storm::tally(&refs, kill);
        assert_eq!(t.back.0, vec![300_000, 100_000, 200_000]);
        assert_eq!(t.caught_up.0, vec![450_000, 1_200_000]);
        assert_eq!(
            (t.never_lost, t.moved_before, t.not_back, t.not_caught_up),
            (1, 1, 1, 1)
        );
    }
}
