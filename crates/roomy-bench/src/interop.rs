//! Interop with the reference tus client: `clients/tus-interop/interop.mjs`
//! (tus-js-client from npm) uploads a file to a fresh server, is cut off
//! part-way, resumes, and finishes; this side then checks the stored file.
//!
//! ```sh
//! npm ci --prefix clients/tus-interop
//! target/release/roomy-bench tus-interop --server-bin target/release/roomy \
//!     --node-dir clients/tus-interop
//! ```

use crate::{files, prng, spawn, tus};
use serde::Deserialize;
use std::{path::PathBuf, process::Stdio, time::Duration};
use tokio::process::Command;

/// `roomy-bench tus-interop`.
#[derive(Debug, Clone, clap::Args)]
pub struct InteropArgs {
    /// The server binary to start (on a free loopback port, with a fresh data folder).
    #[arg(long)]
    pub server_bin: PathBuf,
    /// The folder of interop.mjs, with its node_modules installed (`npm ci`).
    #[arg(long, default_value = "clients/tus-interop")]
    pub node_dir: PathBuf,
    /// The Node.js executable.
    #[arg(long, default_value = "node")]
    pub node: PathBuf,
    /// Size of the uploaded file in KiB (the client sends 256 KiB chunks).
    #[arg(long, default_value_t = 5 * 1024)]
    pub size_kib: u64,
    /// Folder for the temporary data folder and file (default: the system's temp folder).
    #[arg(long)]
    pub work_dir: Option<PathBuf>,
    /// Give up after this many seconds, whatever is running.
    #[arg(long, default_value_t = 180)]
    pub timeout_secs: u64,
}

/// The JSON line interop.mjs prints on success.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ClientReport {
    /// The upload's URL, as the client resolved the server's `Location`.
    pub url: String,
    /// The offset the resumed upload started from (the server's `HEAD`).
    pub resumed_from: u64,
    /// The file's size as the client saw it.
    pub size: u64,
}

/// The last line of `stdout` that is the client's JSON report.
pub fn parse_report(stdout: &str) -> Result<ClientReport, String> {
    stdout
        .lines()
        .rev()
        .find_map(|l| serde_json::from_str(l.trim()).ok())
        .ok_or_else(|| format!("no JSON report in the client's output: {stdout:?}"))
}

/// What is wrong with the client's report for a file of `size` bytes.
pub fn report_problems(report: &ClientReport, size: u64) -> Vec<String> {
    let mut problems = Vec::new();
    if report.size != size {
        problems.push(format!(
            "the client uploaded {} bytes of a {size}-byte file",
            report.size
        ));
    }
    // 0 would mean the second upload started over: nothing was resumed.
    if report.resumed_from == 0 || report.resumed_from >= size {
        problems.push(format!(
            "resumed from offset {} (want inside 1..{size})",
            report.resumed_from
        ));
    }
    problems
}

/// Runs the client against a fresh server; true when everything matched.
pub async fn run(args: InteropArgs) -> Result<bool, String> {
    let script = args.node_dir.join("interop.mjs");
    if !script.is_file() {
        return Err(format!("no {}", script.display()));
    }
    if !args.node_dir.join("node_modules").is_dir() {
        return Err(format!(
            "{} has no node_modules: run `npm ci --prefix {}` first",
            args.node_dir.display(),
            args.node_dir.display()
        ));
    }
    let work_dir = args.work_dir.clone().unwrap_or_else(std::env::temp_dir);
    let work = tempfile::Builder::new()
        .prefix("roomy-tus-interop-")
        .tempdir_in(&work_dir)
        .map_err(|e| format!("cannot make a folder in {}: {e}", work_dir.display()))?;
    let data_dir = work.path().join("data");
    std::fs::create_dir(&data_dir).map_err(|e| e.to_string())?;
    let env = [
        ("ROOMY_MAX_UPLOAD_BYTES", (1u64 << 30).to_string()),
        ("ROOMY_USER_QUOTA_BYTES", (2u64 << 30).to_string()),
    ];
    let mut running = spawn::start(&args.server_bin, &data_dir, None, &env).await?;
    let limit = Duration::from_secs(args.timeout_secs.max(1));
    let outcome = tokio::time::timeout(limit, check(&args, &running.server, work.path()))
        .await
        .unwrap_or_else(|_| Err(format!("gave up after {} s", limit.as_secs())));
    let _ = running.child.start_kill();
    let _ = running.child.wait().await;
    let problems = outcome?;
    if problems.is_empty() {
        println!("roomy-bench tus-interop: PASSED");
    } else {
        println!("roomy-bench tus-interop: FAILED");
        for p in &problems {
            println!("  - {p}");
        }
    }
    Ok(problems.is_empty())
}

async fn check(
    args: &InteropArgs,
    server: &crate::api::Server,
    work: &std::path::Path,
) -> Result<Vec<String>, String> {
    let account = server
        .user(&format!("interop_{:08x}", rand::random::<u32>()))
        .await?;
    let size = args.size_kib.max(1) * 1024;
    let name = "interop-upload.bin";
    let file = work.join(name);
    let data = prng::Stream::new(rand::random()).chunk(0, size as usize);
    std::fs::write(&file, &data).map_err(|e| format!("writing {}: {e}", file.display()))?;
    let sha256 = files::sha256_hex(&data);

    eprintln!(
        "running {} interop.mjs on a {size}-byte file...",
        args.node.display()
    );
    let out = Command::new(&args.node)
        .arg("interop.mjs")
        .current_dir(&args.node_dir)
        .env("ROOMY_URL", server.base())
        .env("ROOMY_TOKEN", &account.token)
        .env("ROOMY_FILE", &file)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // Dropped on the time limit: the client must not outlive the run.
        .kill_on_drop(true)
        .output()
        .await
        .map_err(|e| format!("cannot run {}: {e}", args.node.display()))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    // Passed on whatever happened: retries and warnings matter on success too.
    eprint!("{}", String::from_utf8_lossy(&out.stderr));
    if !out.status.success() {
        return Err(format!(
            "interop.mjs failed ({}){}",
            out.status,
            if stdout.trim().is_empty() {
                String::new()
            } else {
                format!("; its output: {stdout}")
            }
        ));
    }
    let report = parse_report(&stdout)?;
    println!(
        "tus-js-client: {} bytes to {}, cut and resumed from offset {}",
        report.size, report.url, report.resumed_from
    );
    let mut problems = report_problems(&report, size);
    let id = tus::id_of(&server.local_path(&report.url)?)?;

    let meta = files::meta(server, &account.token, &id).await?;
    problems.extend(files::meta_problems(&meta, &id, size, &sha256));
    if meta["name"].as_str() != Some(name) {
        problems.push(format!("meta name {} (want {name:?})", meta["name"]));
    }
    let (status, len, hash) = files::download(server, &account.token, &id, None).await?;
    if (status, len, hash.as_str()) != (200, size, sha256.as_str()) {
        problems.push(format!(
            "download: HTTP {status}, {len} bytes, sha256 {hash} (want 200, {size}, {sha256})"
        ));
    }
    // A range from the middle, across the 256 KiB chunk boundaries the client used.
    let (first, last) = (size / 3, (size / 3 + 300_000).min(size - 1));
    let want = files::sha256_hex(&data[first as usize..=last as usize]);
    let (status, len, hash) =
        files::download(server, &account.token, &id, Some((first, last))).await?;
    if (status, len, hash.as_str()) != (206, last - first + 1, want.as_str()) {
        problems.push(format!(
            "Range bytes={first}-{last}: HTTP {status}, {len} bytes, sha256 {hash} (want 206, {}, {want})",
            last - first + 1
        ));
    }
    println!(
        "checked: the file's meta (size, sha256, name), a full download, Range bytes={first}-{last}"
    );
    Ok(problems)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_report_is_the_last_json_line() -> Result<(), String> {
        let out = "noise\n{\"url\":\"http://127.0.0.1:1/api/v1/uploads/ab\",\"resumed_from\":5,\"size\":9,\"patches\":3}\n\n";
        let r = parse_report(out)?;
        assert_eq!(
            r,
            ClientReport {
                url: "http://127.0.0.1:1/api/v1/uploads/ab".into(),
                resumed_from: 5,
                size: 9
            }
        );
        assert!(parse_report("no json here\n").is_err());
        Ok(())
    }

    #[test]
    fn a_resume_must_start_inside_the_file() {
        let r = |resumed_from, size| ClientReport {
            url: String::new(),
            resumed_from,
            size,
        };
        assert!(report_problems(&r(4, 10), 10).is_empty());
        assert_eq!(report_problems(&r(0, 10), 10).len(), 1);
        assert_eq!(report_problems(&r(10, 10), 10).len(), 1);
        assert_eq!(report_problems(&r(4, 9), 10).len(), 1);
    }
}
