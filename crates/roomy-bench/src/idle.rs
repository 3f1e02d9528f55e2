//! Idle connections and the server memory they cost.

use crate::{
    api::{Server, each},
    stats::rss_kib,
};
use futures_util::StreamExt;
use std::time::Duration;
use tokio_tungstenite::tungstenite::Message;

/// `roomy-bench idle`.
#[derive(Debug, Clone, clap::Args)]
pub struct IdleArgs {
    /// Server base URL (loopback only).
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    pub url: String,
    /// Connections to open.
    #[arg(long, default_value_t = 10_000)]
    pub connections: usize,
    /// Server process id (required: memory is the point).
    #[arg(long)]
    pub server_pid: u32,
    /// Seconds to hold the connections open after the last one is ready.
    #[arg(long, default_value_t = 5)]
    pub hold: u64,
}

/// Opens the connections, measures, closes.
pub async fn run(args: IdleArgs) -> Result<(), String> {
    let server = Server::new(&args.url)?;
    eprintln!("creating {} guest accounts...", args.connections);
    let accounts = each((0..args.connections).collect(), 64, |i| {
        let server = server.clone();
        async move { server.guest(&format!("idle{i}")).await }
    })
    .await?;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let before = rss_kib(args.server_pid).ok_or("cannot read the server's memory")?;
    eprintln!("opening {} connections...", args.connections);
    let sockets = each(accounts, 256, |a| {
        let server = server.clone();
        async move {
            let (mut ws, _) = tokio_tungstenite::connect_async(server.ws_url(&a.token))
                .await
                .map_err(|e| {
                    format!("connect: {e} (the hard open-files limit may be too low: ulimit -Hn)")
                })?;
            while let Some(m) = ws.next().await {
                if let Ok(Message::Text(t)) = m
                    && t.contains("\"ready\"")
                {
                    return Ok(ws);
                }
            }
            Err("closed before ready".to_owned())
        }
    })
    .await?;
    tokio::time::sleep(Duration::from_secs(args.hold.clamp(1, 60))).await;
    let after = rss_kib(args.server_pid).ok_or("cannot read the server's memory")?;
    let n = sockets.len() as f64;
    println!(
        "roomy-bench idle: {} connections; server RSS {:.1} MiB before, {:.1} MiB with them ({:.1} KiB per connection); peak {:.1} MiB",
        sockets.len(),
        before.0 as f64 / 1024.0,
        after.0 as f64 / 1024.0,
        (after.0.saturating_sub(before.0)) as f64 / n,
        after.1 as f64 / 1024.0,
    );
    drop(sockets);
    Ok(())
}
