//! Starting a Roomy server binary of our own on a free loopback port.

use crate::api::Server;
use std::{path::Path, process::Stdio, time::Duration};
use tokio::{
    io::{AsyncBufReadExt, BufReader},
    process::{Child, Command},
};

/// A server process this bench started; killed when dropped.
pub struct Running {
    pub child: Child,
    pub server: Server,
}

impl Running {
    /// The server's process id (for its memory in /proc).
    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }
}

/// Settings every server this bench starts runs with: the bench makes
/// thousands of accounts from one loopback address and sends as fast as
/// acks allow, which the per-address sign-up limits and the per-user send
/// limits exist to stop. `env` may override them.
pub const BENCH_ENV: &[(&str, &str)] = &[
    ("ROOMY_REGISTRATIONS_PER_HOUR", "0"),
    ("ROOMY_GUESTS_PER_HOUR", "0"),
    ("ROOMY_SENDS_PER_SEC", "0"),
];

/// Starts `bin` on 127.0.0.1 with port 0 (the kernel picks a free one, so
/// runs never collide), learns the port from its JSON log, and waits until
/// it is ready. `env` adds settings (`ROOMY_*`) for this run only, after
/// [`BENCH_ENV`].
pub async fn start(
    bin: &Path,
    data_dir: &Path,
    database_url: Option<&str>,
    env: &[(&str, String)],
) -> Result<Running, String> {
    let mut cmd = Command::new(bin);
    cmd.arg("--listen")
        .arg("127.0.0.1:0")
        .arg("--data-dir")
        .arg(data_dir)
        .env("ROOMY_LOG_FORMAT", "json")
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    if let Some(url) = database_url {
        cmd.arg("--database-url").arg(url);
    }
    for (key, value) in BENCH_ENV {
        cmd.env(key, value);
    }
    for (key, value) in env {
        cmd.env(key, value);
    }
    let mut child = cmd
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", bin.display()))?;
    let stderr = child.stderr.take().ok_or("no stderr")?;
    let mut lines = BufReader::new(stderr).lines();
    let addr = tokio::time::timeout(Duration::from_secs(30), async {
        while let Ok(Some(line)) = lines.next_line().await {
            if let Ok(v) = serde_json::from_str::<serde_json::Value>(&line)
                && v["fields"]["message"] == "roomy is serving"
            {
                return v["fields"]["listen"].as_str().map(str::to_owned);
            }
        }
        None
    })
    .await
    .map_err(|_| "the server did not start in 30 s".to_owned())?
    .ok_or("the server exited before serving")?;
    // Keep draining the log so the server never blocks on a full pipe.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    let server = Server::new(&format!("http://{addr}"))?;
    server.wait_ready(100).await?;
    Ok(Running { child, server })
}
