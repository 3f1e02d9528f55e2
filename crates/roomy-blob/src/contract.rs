//! The behaviour every [`Blob`] backend must show, written once and run
//! against the fs backend (in a temp directory) always, and against a real
//! S3-compatible server when `ROOMY_TEST_S3_URL` names one, e.g.
//! `http://127.0.0.1:9100` (with `ROOMY_TEST_REQUIRE_SERVICES=1`, a missing
//! URL fails instead of skipping).
//!
//! The S3 suite signs with the fixed test credentials `roomy-test` /
//! `roomy-test-secret` in region `us-east-1`, path-style, and uses the bucket
//! `roomy-test`, which it creates itself (an unsigned `PUT /roomy-test`,
//! which moto's server accepts; an existing bucket is fine). `.ci/run`
//! starts moto on port 9100. Every test writes under a key prefix of its
//! own, so tests share no objects and may run in parallel.

#![allow(clippy::unwrap_used)]

use crate::{Blob, BlobConfig, BlobError, ObjectKey, local};
use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use sha2::{Digest, Sha256};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;
use tempfile::TempDir;
use time::OffsetDateTime;

/// Generates one `#[tokio::test]` per contract check. `$make` is an async
/// expression yielding `Option<Harness>`; `None` means "service absent, skip".
macro_rules! blob_contract_tests {
    ($make:expr) => {
        blob_contract_tests!(@each $make;
            backend_names_itself,
            write_then_read_all,
            empty_object,
            read_range_middle_tail_and_end,
            ingest_a_large_file,
            size_and_not_found,
            delete_is_idempotent,
            list_and_delete_under_a_directory,
            read_all_over_max_is_too_large,
            abort_leaves_nothing,
            abort_after_a_part_leaves_nothing,
            dropped_writer_leaves_nothing,
            local_path_matches_the_backend,
        );
    };
    (@each $make:expr; $($name:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                if let Some(h) = $make.await {
                    $crate::contract::$name(&h).await;
                }
            }
        )*
    };
}

/// A backend under test, the key prefix of this test, and a local scratch directory.
pub(crate) struct Harness {
    blob: Blob,
    /// Unique per test: objects of different tests never meet.
    prefix: String,
    /// Local files: sources to ingest, temp-file downloads (and the fs root).
    scratch: TempDir,
    /// `"fs"` or `"s3"`: what `Blob::backend` must say.
    expect_backend: &'static str,
    /// The S3 server's url, to look for unfinished multipart uploads.
    s3_url: Option<String>,
}

impl Harness {
    fn key(&self, ext: Option<&str>) -> ObjectKey {
        ObjectKey::generate(&self.prefix, OffsetDateTime::now_utc(), ext)
    }

    /// The fs backend's root, if that is the backend.
    fn fs_root(&self) -> Option<PathBuf> {
        (self.expect_backend == "fs").then(|| self.scratch.path().join("root"))
    }

    /// What unfinished writes left behind: files in the fs backend's
    /// partial-write directory, or multipart uploads still open on S3
    /// under this test's prefix.
    async fn leftovers(&self) -> Vec<String> {
        if let Some(root) = self.fs_root() {
            return std::fs::read_dir(root.join(local::PARTIAL_DIR))
                .unwrap()
                .map(|e| e.unwrap().path().display().to_string())
                .collect();
        }
        let Some(url) = &self.s3_url else {
            return Vec::new();
        };
        // ListMultipartUploads, unsigned: the test server does not check signatures.
        let body = reqwest::Client::new()
            .get(format!(
                "{url}/{}?uploads&prefix={}/",
                s3_server::BUCKET,
                self.prefix
            ))
            .send()
            .await
            .unwrap()
            .error_for_status()
            .unwrap()
            .text()
            .await
            .unwrap();
        body.split("<UploadId>")
            .skip(1)
            .map(|rest| rest.split('<').next().unwrap_or_default().to_owned())
            .collect()
    }
}

// ---------------------------------------------------------------- helpers

fn unique_prefix() -> String {
    format!("t{:016x}", rand::random::<u64>())
}

/// `len` bytes of a deterministic, non-repeating pattern (so a misplaced
/// range shows), from a xorshift generator.
fn pattern(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(len);
    out
}

async fn put(h: &Harness, key: &ObjectKey, data: &[u8]) {
    let mut w = h.blob.writer(key).await.unwrap();
    // Uneven pieces, as an HTTP body arrives.
    for piece in data.chunks(7_919) {
        w.write(Bytes::copy_from_slice(piece)).await.unwrap();
    }
    w.close().await.unwrap();
}

async fn collect(stream: impl Stream<Item = std::io::Result<Bytes>>) -> Vec<u8> {
    let mut stream = std::pin::pin!(stream);
    let mut out = Vec::new();
    while let Some(chunk) = stream.next().await {
        out.extend_from_slice(&chunk.unwrap());
    }
    out
}

async fn range(h: &Harness, key: &ObjectKey, r: std::ops::Range<u64>) -> Vec<u8> {
    collect(h.blob.read_range(key, r).await.unwrap()).await
}

fn assert_not_found<T: std::fmt::Debug>(r: Result<T, BlobError>) {
    match r {
        Err(BlobError::NotFound) => {}
        other => panic!("expected NotFound, got {other:?}"),
    }
}

fn note(line: &str) {
    // Straight to the terminal: the harness captures print!/eprint!.
    let _ = writeln!(std::io::stderr(), "{line}");
}

// ---------------------------------------------------------------- the contract

/// `backend()` names the backend.
pub(crate) async fn backend_names_itself(h: &Harness) {
    assert_eq!(h.blob.backend(), h.expect_backend);
}

/// What a writer wrote, closed, reads back whole.
pub(crate) async fn write_then_read_all(h: &Harness) {
    let key = h.key(Some("jpg"));
    let data = pattern(100_003, 1);
    put(h, &key, &data).await;
    assert_eq!(h.blob.size(&key).await.unwrap(), data.len() as u64);
    assert_eq!(h.blob.read_all(&key, 1 << 20).await.unwrap(), data);
    // A clone is the same storage.
    let clone = h.blob.clone();
    assert_eq!(clone.read_all(&key, 1 << 20).await.unwrap(), data);
}

/// A writer closed without data makes an empty object.
pub(crate) async fn empty_object(h: &Harness) {
    let key = h.key(None);
    h.blob.writer(&key).await.unwrap().close().await.unwrap();
    assert_eq!(h.blob.size(&key).await.unwrap(), 0);
    assert_eq!(h.blob.read_all(&key, 0).await.unwrap(), Vec::<u8>::new());
    assert_eq!(range(h, &key, 0..0).await, Vec::<u8>::new());
}

/// Ranges read exactly their bytes: the middle, the tail, up to the exact end.
pub(crate) async fn read_range_middle_tail_and_end(h: &Harness) {
    let key = h.key(Some("mp4"));
    let data = pattern(300_000, 2);
    let len = data.len() as u64;
    put(h, &key, &data).await;
    for r in [
        10..20,
        1_000..250_000,
        len - 10..len,
        len - 1..len,
        0..len,
        0..1,
        77..78,
    ] {
        let got = range(h, &key, r.clone()).await;
        assert_eq!(
            got,
            data[r.start as usize..r.end as usize],
            "range {r:?} of {len}"
        );
    }
    assert!(range(h, &key, len..len).await.is_empty());
    assert!(range(h, &key, 5..5).await.is_empty());
}

/// A 20 MiB local file moves in whole (on S3 as a multipart upload) and the local file is gone.
pub(crate) async fn ingest_a_large_file(h: &Harness) {
    let key = h.key(Some("mp4"));
    let data = pattern(20 * 1024 * 1024 + 12_345, 3);
    let sha = Sha256::digest(&data);
    let local = h.scratch.path().join("upload.part");
    std::fs::write(&local, &data).unwrap();
    drop(data);

    h.blob.ingest_file(&key, &local).await.unwrap();
    assert!(!local.exists(), "the local file is removed");
    let len = 20 * 1024 * 1024 + 12_345;
    assert_eq!(h.blob.size(&key).await.unwrap(), len);

    let streamed = range(h, &key, 0..len).await;
    assert_eq!(Sha256::digest(&streamed), sha);
    drop(streamed);

    let downloads = h.scratch.path().join("downloads");
    std::fs::create_dir(&downloads).unwrap();
    let temp = h.blob.download_to_temp(&key, &downloads).await.unwrap();
    assert_eq!(temp.path().parent().unwrap(), downloads);
    assert_eq!(
        temp.path().extension().and_then(|e| e.to_str()),
        Some("mp4")
    );
    assert_eq!(Sha256::digest(std::fs::read(temp.path()).unwrap()), sha);
    drop(temp);
    assert_eq!(std::fs::read_dir(&downloads).unwrap().count(), 0);
    assert_eq!(h.leftovers().await, Vec::<String>::new());
}

/// Every read of a missing object is `NotFound`, reported before any stream starts.
pub(crate) async fn size_and_not_found(h: &Harness) {
    let key = h.key(Some("png"));
    assert_not_found(h.blob.size(&key).await);
    assert_not_found(h.blob.read_all(&key, 1 << 20).await);
    assert_not_found(h.blob.read_range(&key, 0..10).await.map(drop));
    assert_not_found(h.blob.read_range(&key, 0..0).await.map(drop));
    let downloads = h.scratch.path().join("downloads");
    std::fs::create_dir(&downloads).unwrap();
    assert_not_found(h.blob.download_to_temp(&key, &downloads).await);
    assert_eq!(
        std::fs::read_dir(&downloads).unwrap().count(),
        0,
        "no temp file left behind"
    );

    put(h, &key, b"four").await;
    assert_eq!(h.blob.size(&key).await.unwrap(), 4);
}

/// Deleting removes the object; deleting again, or something never written, succeeds.
pub(crate) async fn delete_is_idempotent(h: &Harness) {
    let key = h.key(None);
    put(h, &key, b"doomed").await;
    h.blob.delete(&key).await.unwrap();
    assert_not_found(h.blob.size(&key).await);
    h.blob.delete(&key).await.unwrap();
    h.blob.delete(&h.key(Some("gif"))).await.unwrap();
    if let Some(path) = h.blob.local_path(&key) {
        assert!(!path.exists());
    }
}

/// `list_under` and `delete_under` take the objects under a directory key
/// and nothing beside it (`up/1` is not `up/10`); an empty or missing
/// directory lists nothing and deletes fine.
pub(crate) async fn list_and_delete_under_a_directory(h: &Harness) {
    let key = |rest: &str| ObjectKey::parse(&format!("{}/{rest}", h.prefix)).unwrap();
    let dir = key("up/1");
    let inside = [key("up/1/0_a"), key("up/1/5_b"), key("up/1/deeper/c")];
    let beside = [key("up/10/0_a"), key("up/1x")];
    for (i, k) in inside.iter().chain(&beside).enumerate() {
        put(h, k, &pattern(10 + i, i as u64)).await;
    }
    let mut listed = h.blob.list_under(&dir).await.unwrap();
    listed.sort_by(|a, b| a.as_str().cmp(b.as_str()));
    assert_eq!(listed, inside.to_vec());
    h.blob.delete_under(&dir).await.unwrap();
    assert_eq!(h.blob.list_under(&dir).await.unwrap(), vec![]);
    for k in &inside {
        assert_not_found(h.blob.size(k).await);
    }
    for k in &beside {
        assert!(h.blob.size(k).await.is_ok(), "{k} was beside, not under");
    }
    h.blob.delete_under(&dir).await.unwrap();
    let missing = key("never/written");
    assert_eq!(h.blob.list_under(&missing).await.unwrap(), vec![]);
    h.blob.delete_under(&missing).await.unwrap();
}

/// `read_all` refuses an object over its bound, and accepts one exactly at it.
pub(crate) async fn read_all_over_max_is_too_large(h: &Harness) {
    let key = h.key(Some("webp"));
    let data = pattern(1_000, 4);
    put(h, &key, &data).await;
    match h.blob.read_all(&key, 999).await {
        Err(BlobError::TooLarge) => {}
        other => panic!("expected TooLarge, got {other:?}"),
    }
    assert_eq!(h.blob.read_all(&key, 1_000).await.unwrap(), data);
}

/// An aborted writer leaves no object, and on fs no partial file.
pub(crate) async fn abort_leaves_nothing(h: &Harness) {
    let key = h.key(Some("png"));
    let mut w = h.blob.writer(&key).await.unwrap();
    w.write(Bytes::from(pattern(50_000, 5))).await.unwrap();
    w.abort().await.unwrap();
    assert_not_found(h.blob.size(&key).await);
    assert_eq!(h.leftovers().await, Vec::<String>::new());
    if let Some(path) = h.blob.local_path(&key) {
        assert!(!path.exists());
    }
    // Aborting before any write works too.
    let w = h.blob.writer(&key).await.unwrap();
    w.abort().await.unwrap();
    assert_not_found(h.blob.size(&key).await);
}

/// An abort after whole parts went out (S3: a started multipart upload) leaves nothing either.
pub(crate) async fn abort_after_a_part_leaves_nothing(h: &Harness) {
    let key = h.key(Some("mp4"));
    let mut w = h.blob.writer(&key).await.unwrap();
    // Past two 8 MiB parts: the first is held back (a single part would be
    // a plain PUT), the second starts the multipart upload.
    for i in 0..5 {
        w.write(Bytes::from(pattern(4 * 1024 * 1024, 10 + i)))
            .await
            .unwrap();
    }
    if h.s3_url.is_some() {
        assert_eq!(h.leftovers().await.len(), 1, "a multipart upload is open");
    }
    w.abort().await.unwrap();
    assert_not_found(h.blob.size(&key).await);
    assert_eq!(h.leftovers().await, Vec::<String>::new());
}

/// A writer dropped mid-way (a cancelled upload) leaves no object, and its
/// partial file or multipart upload goes away in the background.
pub(crate) async fn dropped_writer_leaves_nothing(h: &Harness) {
    let key = h.key(None);
    let mut w = h.blob.writer(&key).await.unwrap();
    for i in 0..5 {
        w.write(Bytes::from(pattern(4 * 1024 * 1024, 20 + i)))
            .await
            .unwrap();
    }
    assert_eq!(h.leftovers().await.len(), 1, "a write is in progress");
    drop(w);
    assert_not_found(h.blob.size(&key).await);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let left = h.leftovers().await;
        if left.is_empty() {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "still there: {left:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_not_found(h.blob.size(&key).await);
}

/// fs gives other programs a real path under the root; object stores give none.
pub(crate) async fn local_path_matches_the_backend(h: &Harness) {
    let key = h.key(Some("mp4"));
    put(h, &key, b"frames").await;
    match h.fs_root() {
        Some(root) => {
            let path = h.blob.local_path(&key).unwrap();
            assert!(path.is_absolute());
            assert!(path.starts_with(root.canonicalize().unwrap()));
            assert!(path.ends_with(key.as_str()));
            assert_eq!(std::fs::read(&path).unwrap(), b"frames");
        }
        None => assert_eq!(h.blob.local_path(&key), None),
    }
}

// ---------------------------------------------------------------- fs

mod fs_backend {
    use super::*;

    async fn make() -> Option<Harness> {
        let scratch = tempfile::tempdir().unwrap();
        let blob = Blob::open(&BlobConfig::Fs {
            root: scratch.path().join("root"),
        })
        .unwrap();
        Some(Harness {
            blob,
            prefix: unique_prefix(),
            scratch,
            expect_backend: "fs",
            s3_url: None,
        })
    }

    blob_contract_tests!(make());

    /// Ingesting on one file system is a rename: the same inode, no copy.
    #[cfg(unix)]
    #[tokio::test]
    async fn ingest_on_one_file_system_is_a_rename() {
        use std::os::unix::fs::MetadataExt;
        let h = make().await.unwrap();
        let local = h.scratch.path().join("upload.part");
        std::fs::write(&local, b"moved, not copied").unwrap();
        let inode = std::fs::metadata(&local).unwrap().ino();
        let key = h.key(Some("bin"));
        h.blob.ingest_file(&key, &local).await.unwrap();
        let path = h.blob.local_path(&key).unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().ino(), inode);
        assert!(!local.exists());
    }

    /// Ingesting from another file system copies, and still removes the source.
    /// Runs when /dev/shm is a different file system from the temp directory.
    #[cfg(unix)]
    #[tokio::test]
    async fn ingest_across_file_systems_copies() {
        use std::os::unix::fs::MetadataExt;
        let h = make().await.unwrap();
        let Ok(other) = tempfile::tempdir_in("/dev/shm") else {
            note("note: cross-device ingest test skipped (no /dev/shm)");
            return;
        };
        let dev = |p: &Path| std::fs::metadata(p).unwrap().dev();
        if dev(other.path()) == dev(h.scratch.path()) {
            note("note: cross-device ingest test skipped (/dev/shm is on the temp file system)");
            return;
        }
        let data = pattern(3 * 1024 * 1024 + 1, 7);
        let local = other.path().join("upload.part");
        std::fs::write(&local, &data).unwrap();
        let key = h.key(None);
        h.blob.ingest_file(&key, &local).await.unwrap();
        assert!(!local.exists());
        assert_eq!(h.blob.read_all(&key, 1 << 30).await.unwrap(), data);
        assert_eq!(h.leftovers().await, Vec::<String>::new());
    }

    /// A failed ingest leaves the local file where it was.
    #[tokio::test]
    async fn failed_ingest_keeps_the_local_file() {
        let h = make().await.unwrap();
        let missing = h.scratch.path().join("missing.part");
        assert!(matches!(
            h.blob.ingest_file(&h.key(None), &missing).await,
            Err(BlobError::Io(_))
        ));
    }

    /// Opening creates the root (and parents); an empty root is a configuration error.
    #[tokio::test]
    async fn open_creates_the_root() {
        let scratch = tempfile::tempdir().unwrap();
        let root = scratch.path().join("a/b/root");
        let blob = Blob::open(&BlobConfig::Fs { root: root.clone() }).unwrap();
        assert!(root.is_dir());
        assert_eq!(blob.backend(), "fs");
        assert!(matches!(
            Blob::open(&BlobConfig::Fs {
                root: PathBuf::new()
            }),
            Err(BlobError::Config(_))
        ));
    }

    /// Object-store settings are checked when opening, without contacting anything.
    #[tokio::test]
    async fn object_store_configuration_is_checked() {
        let s3 = |bucket: &str| BlobConfig::S3 {
            endpoint: Some("http://127.0.0.1:1".into()),
            bucket: bucket.into(),
            region: "us-east-1".into(),
            access_key_id: "id".into(),
            secret_access_key: "secret".into(),
        };
        assert_eq!(Blob::open(&s3("b")).unwrap().backend(), "s3");
        assert!(matches!(Blob::open(&s3("")), Err(BlobError::Config(_))));
        let oss = |endpoint: &str| BlobConfig::Oss {
            endpoint: endpoint.into(),
            bucket: "b".into(),
            access_key_id: "id".into(),
            access_key_secret: "secret".into(),
        };
        assert_eq!(
            Blob::open(&oss("https://oss-cn-hangzhou.aliyuncs.com"))
                .unwrap()
                .backend(),
            "oss"
        );
        assert!(matches!(Blob::open(&oss("")), Err(BlobError::Config(_))));
    }
}

// ---------------------------------------------------------------- S3

mod s3_server {
    use super::*;
    use std::sync::Once;
    use tokio::sync::OnceCell;

    const URL_VAR: &str = "ROOMY_TEST_S3_URL";
    const REQUIRE_VAR: &str = "ROOMY_TEST_REQUIRE_SERVICES";
    pub(super) const BUCKET: &str = "roomy-test";
    static SKIP_NOTICE: Once = Once::new();
    static BUCKET_READY: OnceCell<()> = OnceCell::const_new();

    fn url() -> Option<String> {
        match std::env::var(URL_VAR) {
            Ok(url) if !url.is_empty() => Some(url),
            _ if std::env::var(REQUIRE_VAR).as_deref() == Ok("1") => {
                panic!("{URL_VAR} is not set but {REQUIRE_VAR}=1: the S3 suite must run")
            }
            _ => {
                SKIP_NOTICE
                    .call_once(|| note(&format!("note: S3 tests skipped ({URL_VAR} unset)")));
                None
            }
        }
    }

    /// Creates the test bucket once per test binary; an existing bucket is fine.
    async fn ensure_bucket(url: &str) {
        BUCKET_READY
            .get_or_init(|| async {
                let resp = reqwest::Client::new()
                    .put(format!("{}/{BUCKET}", url.trim_end_matches('/')))
                    .send()
                    .await
                    .unwrap_or_else(|e| panic!("cannot reach the S3 server at {URL_VAR}: {e}"));
                let status = resp.status();
                let body = resp.text().await.unwrap_or_default();
                // 409: BucketAlreadyOwnedByYou / BucketAlreadyExists.
                assert!(
                    status.is_success() || status.as_u16() == 409,
                    "creating bucket {BUCKET}: {status} {body}"
                );
            })
            .await;
    }

    fn config(url: &str) -> BlobConfig {
        BlobConfig::S3 {
            endpoint: Some(url.to_owned()),
            bucket: BUCKET.into(),
            region: "us-east-1".into(),
            access_key_id: "roomy-test".into(),
            secret_access_key: "roomy-test-secret".into(),
        }
    }

    async fn make() -> Option<Harness> {
        let url = url()?;
        ensure_bucket(&url).await;
        Some(Harness {
            blob: Blob::open(&config(&url)).unwrap(),
            prefix: unique_prefix(),
            scratch: tempfile::tempdir().unwrap(),
            expect_backend: "s3",
            s3_url: Some(url.trim_end_matches('/').to_owned()),
        })
    }

    blob_contract_tests!(make());

    /// A bucket that does not exist is an error at the first operation, not `NotFound`
    /// (which would read as "this file was deleted").
    #[tokio::test]
    async fn missing_bucket_is_a_storage_error() {
        let Some(url) = url() else { return };
        let mut config = config(&url);
        if let BlobConfig::S3 { bucket, .. } = &mut config {
            *bucket = format!("roomy-missing-{:08x}", rand::random::<u32>());
        }
        let blob = Blob::open(&config).unwrap();
        let key = ObjectKey::generate("files", OffsetDateTime::now_utc(), None);
        let mut w = blob.writer(&key).await.unwrap();
        w.write(Bytes::from_static(b"x")).await.unwrap();
        let err = w.close().await.unwrap_err();
        match &err {
            BlobError::Storage(e) => assert_eq!(e.kind(), opendal::ErrorKind::ConfigInvalid, "{e}"),
            other => panic!("expected Storage, got {other:?}"),
        }
    }
}
