//! The crash test: load, `kill -9`, restart, verify, repeat.
//!
//! What must hold after every restart, for every room:
//! - seqs are 1..=n without a gap or a repeat;
//! - every acknowledged message is stored exactly once, with the seq its ack gave;
//! - no client id appears twice for one sender;
//! - resending the unacknowledged messages with their client ids stores each
//!   at most once (they may or may not have been committed before the kill).

use crate::{
    api::{RoomSetup, make_rooms},
    load,
    spawn::{self, Running},
};
use std::{
    collections::{HashMap, HashSet},
    path::PathBuf,
    time::Duration,
};

/// `roomy-bench crash`.
#[derive(Debug, Clone, clap::Args)]
pub struct CrashArgs {
    /// The server binary to start and kill.
    #[arg(long)]
    pub server_bin: PathBuf,
    /// Data folder kept across restarts (created if missing).
    #[arg(long)]
    pub data_dir: PathBuf,
    /// Database URL (default: SQLite in the data folder).
    #[arg(long)]
    pub database_url: Option<String>,
    /// Kill/restart cycles.
    #[arg(long, default_value_t = 5)]
    pub cycles: u32,
    /// Direct rooms under load (2 clients each, both sending).
    #[arg(long, default_value_t = 50)]
    pub rooms: usize,
    /// Longest time under load before the kill, in milliseconds (the kill comes at a random point).
    #[arg(long, default_value_t = 2_000)]
    pub max_load_ms: u64,
}

async fn start_server(args: &CrashArgs) -> Result<Running, String> {
    spawn::start(
        &args.server_bin,
        &args.data_dir,
        args.database_url.as_deref(),
        &[],
    )
    .await
}

/// What the clients were told: per room, acked (seq, client id), and unacked client ids.
#[derive(Default)]
struct Ledger {
    acked: HashMap<i64, Vec<(i64, String)>>,
    unacked: HashMap<i64, Vec<(String, usize)>>,
}

fn check_room(
    room: i64,
    history: &[serde_json::Value],
    acked: &[(i64, String)],
    problems: &mut Vec<String>,
) {
    for (i, m) in history.iter().enumerate() {
        if m["seq"].as_i64() != Some(i as i64 + 1) {
            problems.push(format!(
                "room {room}: seq {} at position {}",
                m["seq"],
                i + 1
            ));
            return;
        }
    }
    let mut seen = HashSet::new();
    let mut by_client: HashMap<String, i64> = HashMap::new();
    for m in history {
        if let Some(c) = m["client_id"].as_str() {
            let key = format!("{}/{c}", m["sender"]["id"]);
            if !seen.insert(key) {
                problems.push(format!("room {room}: client id {c} stored twice"));
            }
            by_client.insert(c.to_owned(), m["seq"].as_i64().unwrap_or_default());
        }
    }
    for (seq, client_id) in acked {
        match by_client.get(client_id) {
            Some(s) if s == seq => {}
            Some(s) => problems.push(format!(
                "room {room}: {client_id} acked as seq {seq} but stored as {s}"
            )),
            None => problems.push(format!(
                "room {room}: acknowledged message {client_id} (seq {seq}) was lost"
            )),
        }
    }
}

/// Runs the cycles; true when every check passed.
pub async fn run(args: CrashArgs) -> Result<bool, String> {
    std::fs::create_dir_all(&args.data_dir).map_err(|e| e.to_string())?;
    let mut running = start_server(&args).await?;
    let tag = format!("{:04x}", rand::random::<u16>());
    let rooms: Vec<RoomSetup> = make_rooms(&running.server, args.rooms, 2, &tag).await?;
    let mut ledger = Ledger::default();
    let mut problems = Vec::new();
    let mut total_acked = 0usize;
    for cycle in 1..=args.cycles {
        let load = load::start(&running.server, &[], false, &rooms, 2, 0, 4, 64).await;
        let wait = rand::random::<u64>() % args.max_load_ms.max(1) + 100;
        tokio::time::sleep(Duration::from_millis(wait)).await;
        let acked_at_kill = load
            .counters
            .acked
            .load(std::sync::atomic::Ordering::Relaxed);
        running
            .child
            .start_kill()
            .map_err(|e| format!("kill -9: {e}"))?;
        let _ = running.child.wait().await;
        let logs = load.finish().await;
        let mut cycle_acked = 0;
        let members = rooms
            .iter()
            .flat_map(|r| (0..r.members.len()).map(move |i| (r.id, i)));
        for ((room, member), (_, log)) in members.zip(logs) {
            for (seq, c) in log.acked.get(&room).into_iter().flatten() {
                ledger
                    .acked
                    .entry(room)
                    .or_default()
                    .push((*seq, c.clone()));
                cycle_acked += 1;
            }
            for (_, c) in log.unacked {
                ledger.unacked.entry(room).or_default().push((c, member));
            }
        }
        total_acked += cycle_acked;
        running = start_server(&args).await?;
        // Resend what was never acknowledged, with the same client ids.
        for r in &rooms {
            for (c, sender) in ledger.unacked.remove(&r.id).unwrap_or_default() {
                let who = &r.members[sender];
                let m = running.server.send(&who.token, r.id, &c, "retry").await?;
                let seq = m["seq"].as_i64().unwrap_or_default();
                ledger.acked.entry(r.id).or_default().push((seq, c));
            }
        }
        let mut cycle_problems = Vec::new();
        for r in &rooms {
            let history = running.server.history(&r.members[0].token, r.id).await?;
            let acked = ledger.acked.get(&r.id).cloned().unwrap_or_default();
            check_room(r.id, &history, &acked, &mut cycle_problems);
        }
        println!(
            "cycle {cycle}: killed after {wait} ms with {acked_at_kill}+ acks; {cycle_acked} acked this cycle; after restart: {}",
            if cycle_problems.is_empty() {
                "all present, once, in order, gap-free".to_owned()
            } else {
                format!("{} problems", cycle_problems.len())
            }
        );
        problems.extend(cycle_problems);
    }
    let _ = running.child.start_kill();
    println!(
        "roomy-bench crash: {} cycles, {} acknowledged messages checked, {}",
        args.cycles,
        total_acked,
        if problems.is_empty() {
            "PASSED".to_owned()
        } else {
            format!("FAILED ({} problems)", problems.len())
        }
    );
    for p in problems.iter().take(20) {
        println!("  - {p}");
    }
    Ok(problems.is_empty())
}
