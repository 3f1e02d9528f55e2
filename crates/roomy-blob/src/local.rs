//! The fs backend's own file work: durability (fsync of files and
//! directories), moving ingested files in, and clearing abandoned partial
//! writes. Everything here blocks; callers run it on the blocking pool.

use std::fs::{self, File};
use std::io;
use std::path::Path;
use std::time::{Duration, SystemTime};

/// The directory under the root holding partial writes (OpenDAL's
/// `atomic_write_dir` and our cross-device copies). Inside the root so a
/// finished write is a rename on the same file system; object keys cannot
/// name it (no key segment starts with `.`).
pub(crate) const PARTIAL_DIR: &str = ".partial";

/// Partial files older than this were abandoned by a crashed process.
const ABANDONED_AFTER: Duration = Duration::from_secs(24 * 3600);

/// Creates the root and its partial-write directory; returns the root made absolute.
pub(crate) fn prepare_root(root: &Path) -> io::Result<std::path::PathBuf> {
    fs::create_dir_all(root.join(PARTIAL_DIR))?;
    // Absolute, so `local_path` hands other programs a path that works from any directory.
    let root = root.canonicalize()?;
    sweep_abandoned(&root.join(PARTIAL_DIR));
    Ok(root)
}

/// Removes partial files a crashed process left behind. Best effort: a
/// failure here costs disk space, not correctness.
fn sweep_abandoned(dir: &Path) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    let now = SystemTime::now();
    for entry in entries.flatten() {
        let old = entry
            .metadata()
            .and_then(|m| m.modified())
            .is_ok_and(|t| now.duration_since(t).is_ok_and(|age| age > ABANDONED_AFTER));
        if old {
            let _ = fs::remove_file(entry.path());
        }
    }
}

/// Makes a file that now sits at `target` durable: its data, and the
/// directory entries leading to it from `root` (the date directory may
/// have just been created, and a rename is only durable once its directory is).
pub(crate) fn sync_file_and_dirs(root: &Path, target: &Path) -> io::Result<()> {
    File::open(target)?.sync_all()?;
    sync_dirs(root, target)
}

/// fsyncs every directory from `target`'s parent up to `root`, inclusive.
pub(crate) fn sync_dirs(root: &Path, target: &Path) -> io::Result<()> {
    for dir in target.ancestors().skip(1) {
        sync_dir(dir)?;
        if dir == root {
            break;
        }
    }
    Ok(())
}

#[cfg(unix)]
fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

// Directories cannot be opened (or need not be synced) elsewhere.
#[cfg(not(unix))]
fn sync_dir(_dir: &Path) -> io::Result<()> {
    Ok(())
}

/// Moves the finished file `local` to `target` under `root` and makes it durable.
///
/// A rename when both are on one file system (no copy, whatever the size);
/// otherwise a copy into the partial directory, fsync, rename into place,
/// and removal of `local`. On failure `local` is left where it was.
pub(crate) fn move_in(root: &Path, local: &Path, target: &Path) -> io::Result<()> {
    if let Some(parent) = target.parent() {
        fs::create_dir_all(parent)?;
    }
    match fs::rename(local, target) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::CrossesDevices => {
            let mut copy = tempfile::Builder::new()
                .prefix("ingest-")
                .tempfile_in(root.join(PARTIAL_DIR))?;
            io::copy(&mut File::open(local)?, copy.as_file_mut())?;
            copy.as_file().sync_all()?;
            copy.persist(target).map_err(|e| e.error)?;
            fs::remove_file(local)?;
        }
        Err(e) => return Err(e),
    }
    // The uploader may never have synced the data; a rename does not either.
    sync_file_and_dirs(root, target)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn sweep_removes_only_old_files() {
        let dir = tempfile::tempdir().unwrap();
        let old = dir.path().join("old");
        let new = dir.path().join("new");
        fs::write(&old, b"x").unwrap();
        fs::write(&new, b"x").unwrap();
        let long_ago = SystemTime::now() - 2 * ABANDONED_AFTER;
        File::options()
            .write(true)
            .open(&old)
            .unwrap()
            .set_modified(long_ago)
            .unwrap();
        sweep_abandoned(dir.path());
        assert!(!old.exists());
        assert!(new.exists());
    }

    #[test]
    fn sync_dirs_stops_at_the_root() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("root");
        let target = root.join("a/b/file");
        fs::create_dir_all(target.parent().unwrap()).unwrap();
        fs::write(&target, b"x").unwrap();
        sync_file_and_dirs(&root, &target).unwrap();
    }
}
