//! The upload bench: one large tus upload to a fresh server, timed against
//! the disk's own write speed, with the server's memory watched throughout.
//!
//! ```sh
//! cargo build --release -p roomy-server -p roomy-bench
//! target/release/roomy-bench upload --server-bin target/release/roomy --size-mib 256
//! target/release/roomy-bench upload --server-bin target/release/roomy --size-mib 1024 --checksum
//! ```
//!
//! Run it at two sizes: a server that streams uploads to disk shows the same
//! peak RSS for both; one that buffers grows with the file.

use crate::{
    api::Server,
    disk, files, prng,
    spawn::{self, Running},
    stats::{RssSampler, rss_kib},
    tus,
};
use sha2::{Digest, Sha256};
use std::{
    path::PathBuf,
    time::{Duration, Instant},
};
use tokio::sync::mpsc;

const MIB: u64 = 1 << 20;

/// The share of the disk's write speed an upload should reach.
pub const TARGET_RATIO: f64 = 0.60;

/// `roomy-bench upload`.
#[derive(Debug, Clone, clap::Args)]
pub struct UploadArgs {
    /// The server binary to start (on a free loopback port, with a fresh data folder).
    #[arg(long)]
    pub server_bin: PathBuf,
    /// Folder to make the server's temporary data folder in (default: the
    /// system's temp folder); the disk is measured there too.
    #[arg(long)]
    pub work_dir: Option<PathBuf>,
    /// Upload size in MiB.
    #[arg(long, default_value_t = 1024)]
    pub size_mib: u64,
    /// Bytes per PATCH, in MiB.
    #[arg(long, default_value_t = 8)]
    pub chunk_mib: u64,
    /// Send `Upload-Checksum: sha1 ...` with every PATCH.
    #[arg(long)]
    pub checksum: bool,
    /// Give up after this many seconds, whatever is running.
    #[arg(long, default_value_t = 900)]
    pub timeout_secs: u64,
}

/// What one run measured.
#[derive(Debug, Clone, PartialEq)]
pub struct Measured {
    pub bytes: u64,
    pub disk: Duration,
    pub upload: Duration,
    pub rss_before_kib: u64,
    pub rss_peak_kib: u64,
    pub hwm_kib: u64,
    pub samples: usize,
}

/// Decimal megabytes per second, as `dd` reports them.
pub fn mb_per_s(bytes: u64, took: Duration) -> f64 {
    let secs = took.as_secs_f64();
    if secs <= 0.0 {
        return f64::INFINITY;
    }
    bytes as f64 / 1e6 / secs
}

impl Measured {
    /// The disk's sequential write speed, MB/s.
    pub fn disk_mb_s(&self) -> f64 {
        mb_per_s(self.bytes, self.disk)
    }

    /// The upload's speed, MB/s.
    pub fn upload_mb_s(&self) -> f64 {
        mb_per_s(self.bytes, self.upload)
    }

    /// Upload speed as a share of disk speed.
    pub fn ratio(&self) -> f64 {
        // Equal byte counts: the ratio of speeds is the inverse ratio of times.
        self.disk.as_secs_f64() / self.upload.as_secs_f64().max(f64::MIN_POSITIVE)
    }

    /// The report's lines.
    pub fn lines(&self) -> Vec<String> {
        let mib = |kib: u64| kib as f64 / 1024.0;
        vec![
            format!(
                "disk sequential write: {:.0} MB/s ({} MiB in {:.2} s, fsync included)",
                self.disk_mb_s(),
                self.bytes / MIB,
                self.disk.as_secs_f64()
            ),
            format!(
                "tus upload:            {:.0} MB/s ({} MiB in {:.2} s, POST to last 204)",
                self.upload_mb_s(),
                self.bytes / MIB,
                self.upload.as_secs_f64()
            ),
            format!(
                "upload/disk:           {:.0}% (target >= {:.0}%: {})",
                self.ratio() * 100.0,
                TARGET_RATIO * 100.0,
                if self.ratio() >= TARGET_RATIO {
                    "met"
                } else {
                    "NOT met"
                }
            ),
            format!(
                "server RSS:            {:.1} MiB before, peak {:.1} MiB during ({} samples, +{:.1} MiB), VmHWM {:.1} MiB",
                mib(self.rss_before_kib),
                mib(self.rss_peak_kib),
                self.samples,
                mib(self.rss_peak_kib.saturating_sub(self.rss_before_kib)),
                mib(self.hwm_kib)
            ),
        ]
    }
}

/// One chunk ready to send.
struct Chunk {
    offset: u64,
    data: Vec<u8>,
    checksum: Option<String>,
}

/// Makes the upload's chunks on a thread of its own, two ahead of the
/// sender, so hashing overlaps the network and at most a few chunks are in
/// memory; returns the sha256 (hex) of everything it made.
fn produce(
    stream: prng::Stream,
    total: u64,
    chunk: u64,
    checksum: bool,
) -> (
    mpsc::Receiver<Chunk>,
    std::thread::JoinHandle<Option<String>>,
) {
    let (tx, rx) = mpsc::channel(2);
    let handle = std::thread::spawn(move || {
        let mut sha = Sha256::new();
        for (offset, len) in prng::chunks(total, chunk) {
            let data = stream.chunk(offset, len);
            sha.update(&data);
            let checksum = checksum.then(|| tus::sha1_checksum(&data));
            if tx
                .blocking_send(Chunk {
                    offset,
                    data,
                    checksum,
                })
                .is_err()
            {
                return None; // the sender gave up
            }
        }
        Some(hex::encode(sha.finalize()))
    });
    (rx, handle)
}

/// Runs the bench; true when the server's file matches what was sent.
pub async fn run(args: UploadArgs) -> Result<bool, String> {
    let limit = Duration::from_secs(args.timeout_secs.max(1));
    let work_dir = args.work_dir.clone().unwrap_or_else(std::env::temp_dir);
    let data_dir = tempfile::Builder::new()
        .prefix("roomy-upload-bench-")
        .tempdir_in(&work_dir)
        .map_err(|e| format!("cannot make a data folder in {}: {e}", work_dir.display()))?;
    let bytes = args.size_mib.max(1) * MIB;
    let env = [
        // The server's limits must not be what the bench measures.
        ("ROOMY_MAX_UPLOAD_BYTES", (4 << 30).max(bytes).to_string()),
        (
            "ROOMY_USER_QUOTA_BYTES",
            (8 << 30).max(2 * bytes).to_string(),
        ),
    ];
    let mut running = spawn::start(&args.server_bin, data_dir.path(), None, &env).await?;
    let outcome = tokio::time::timeout(limit, measure(&args, &running, data_dir.path(), bytes))
        .await
        .unwrap_or_else(|_| Err(format!("gave up after {} s", limit.as_secs())));
    // Stop the server before its data folder is removed under it.
    let _ = running.child.start_kill();
    let _ = running.child.wait().await;
    let (measured, problems) = outcome?;
    println!(
        "roomy-bench upload: {} MiB in {} MiB PATCHes{}",
        args.size_mib.max(1),
        args.chunk_mib.max(1),
        if args.checksum {
            ", sha1 Upload-Checksum on each"
        } else {
            ""
        }
    );
    for line in measured.lines() {
        println!("{line}");
    }
    if problems.is_empty() {
        println!("verification: PASSED (the file's meta has the size and sha256 sent)");
    } else {
        println!("verification: FAILED");
        for p in &problems {
            println!("  - {p}");
        }
    }
    Ok(problems.is_empty())
}

async fn measure(
    args: &UploadArgs,
    running: &Running,
    data_dir: &std::path::Path,
    bytes: u64,
) -> Result<(Measured, Vec<String>), String> {
    let server: &Server = &running.server;
    let pid = running.pid().ok_or("the server exited")?;
    eprintln!("measuring the disk: {} MiB...", bytes / MIB);
    let dir = data_dir.to_owned();
    let disk = tokio::task::spawn_blocking(move || disk::sequential_write(&dir, bytes, 8 << 20))
        .await
        .map_err(|e| e.to_string())??;
    let account = server
        .user(&format!("upload_{:08x}", rand::random::<u32>()))
        .await?;
    // Let the disk probe's deletion and the login settle before the baseline.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let rss_before_kib = rss_kib(pid).ok_or("cannot read the server's memory")?.0;

    eprintln!("uploading {} MiB...", bytes / MIB);
    let chunk = args.chunk_mib.max(1) * MIB;
    let (mut chunks, producer) = produce(
        prng::Stream::new(rand::random()),
        bytes,
        chunk,
        args.checksum,
    );
    let sampler = RssSampler::start(pid, Duration::from_millis(20));
    let started = Instant::now();
    let upload = tus::Upload::create(
        server,
        &account.token,
        bytes,
        "upload-bench.bin",
        "application/octet-stream",
    )
    .await?;
    // A new upload holds nothing; one HEAD (well under a millisecond on
    // loopback) checks the server's side of resuming too.
    let mut offset = upload.offset().await?;
    if offset != 0 {
        return Err(format!("a new upload is at offset {offset}, not 0"));
    }
    while let Some(c) = chunks.recv().await {
        // The producer's offsets must follow the server's, or the bench is wrong.
        if c.offset != offset {
            return Err(format!(
                "chunk at {} but the upload is at {offset}",
                c.offset
            ));
        }
        offset = upload.patch(offset, c.data, c.checksum).await?;
    }
    let took = started.elapsed();
    let rss = sampler.stop(pid).await;
    let hwm_kib = rss_kib(pid).map(|r| r.1).unwrap_or_default();
    let sha256 = producer
        .join()
        .ok()
        .flatten()
        .ok_or("the data producer failed")?;
    if offset != bytes {
        return Err(format!("upload ended at {offset} of {bytes} bytes"));
    }

    let meta = files::meta(server, &account.token, &upload.id).await?;
    let problems = files::meta_problems(&meta, &upload.id, bytes, &sha256);
    let measured = Measured {
        bytes,
        disk,
        upload: took,
        rss_before_kib,
        rss_peak_kib: rss.peak_kib,
        hwm_kib,
        samples: rss.samples,
    };
    Ok((measured, problems))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn measured(disk_ms: u64, upload_ms: u64) -> Measured {
        Measured {
            bytes: 1024 * MIB,
            disk: Duration::from_millis(disk_ms),
            upload: Duration::from_millis(upload_ms),
            rss_before_kib: 20 * 1024,
            rss_peak_kib: 36 * 1024,
            hwm_kib: 40 * 1024,
            samples: 100,
        }
    }

    #[test]
    fn speeds_are_decimal_megabytes() {
        assert!((mb_per_s(1_000_000, Duration::from_secs(1)) - 1.0).abs() < 1e-9);
        assert!((mb_per_s(500_000_000, Duration::from_millis(500)) - 1000.0).abs() < 1e-6);
        assert!(mb_per_s(1, Duration::ZERO).is_infinite());
    }

    #[test]
    fn ratio_is_upload_speed_over_disk_speed() {
        let m = measured(2_000, 3_000);
        assert!((m.ratio() - m.upload_mb_s() / m.disk_mb_s()).abs() < 1e-9);
        assert!((m.ratio() - 2.0 / 3.0).abs() < 1e-9);
        assert!(
            m.lines()[2].contains("67% (target >= 60%: met)"),
            "{:?}",
            m.lines()
        );
        let slow = measured(2_000, 4_000);
        assert!(slow.lines()[2].contains("50% (target >= 60%: NOT met)"));
    }

    #[test]
    fn report_shows_memory_growth() {
        let lines = measured(1_000, 1_000).lines();
        assert!(
            lines[3].contains(
                "20.0 MiB before, peak 36.0 MiB during (100 samples, +16.0 MiB), VmHWM 40.0 MiB"
            ),
            "{lines:?}"
        );
    }

    #[test]
    fn producer_hashes_what_it_sends() -> Result<(), String> {
        let stream = prng::Stream::new(9);
        let (mut rx, handle) = produce(stream, 10_000, 3_000, true);
        let mut all = Vec::new();
        let mut offsets = Vec::new();
        while let Some(c) = rx.blocking_recv() {
            offsets.push(c.offset);
            assert_eq!(c.checksum, Some(tus::sha1_checksum(&c.data)));
            all.extend(c.data);
        }
        assert_eq!(offsets, vec![0, 3_000, 6_000, 9_000]);
        assert_eq!(all, stream.chunk(0, 10_000));
        let sha = handle.join().map_err(|_| "producer panicked")?;
        assert_eq!(sha, Some(files::sha256_hex(&all)));
        Ok(())
    }
}
