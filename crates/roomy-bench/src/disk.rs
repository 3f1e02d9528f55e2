//! The disk's own sequential write speed, the yardstick for upload speed.

use crate::prng;
use std::{
    fs::OpenOptions,
    io::Write,
    path::Path,
    time::{Duration, Instant},
};

/// Writes `total` bytes in `block`-byte writes to a new file in `dir`, then
/// fsyncs it, and deletes it: the time `dd bs=8M conv=fsync` would report.
/// The fsync is inside the timing because an upload is only safe once on
/// disk, and without it this would time the page cache, not the disk. The
/// block is random so that a compressing filesystem gets no easier work than
/// the upload gives it; it is made once, outside the timing, so only the
/// writes are timed.
pub fn sequential_write(dir: &Path, total: u64, block: usize) -> Result<Duration, String> {
    let path = dir.join(".roomy-bench-disk-probe");
    let data = prng::Stream::new(rand::random()).chunk(0, block.max(1));
    let result = (|| {
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .map_err(|e| format!("cannot create {}: {e}", path.display()))?;
        let started = Instant::now();
        for (_, len) in prng::chunks(total, data.len() as u64) {
            file.write_all(&data[..len])
                .map_err(|e| format!("writing {}: {e}", path.display()))?;
        }
        file.sync_all()
            .map_err(|e| format!("fsync {}: {e}", path.display()))?;
        Ok(started.elapsed())
    })();
    // Removed whatever happened: a GiB left behind would skew the next run.
    let _ = std::fs::remove_file(&path);
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_times_and_cleans_up() -> Result<(), String> {
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let took = sequential_write(dir.path(), 3 << 20, 1 << 20)?;
        assert!(took > Duration::ZERO);
        let left = std::fs::read_dir(dir.path())
            .map_err(|e| e.to_string())?
            .count();
        assert_eq!(left, 0, "the probe file must be removed");
        Ok(())
    }
}
