//! The background job runner: thumbnails of images, cover frames of videos,
//! and the removal of abandoned uploads (and of what finished ones left). Jobs are rows in the database,
//! written in the same transaction as the file or upload they are about, so
//! a restart (or a crash) loses none: a claimed job is leased, and a lease
//! that runs out (its runner died) makes the job due again.

use super::{COVERS_PREFIX, THUMBS_PREFIX};
use crate::App;
use roomy_blob::{Blob, ObjectKey};
use roomy_bus::{Envelope, Event};
use roomy_core::FileId;
use roomy_media::{FrameFormat, FrameRequest, MediaError, ThumbLimits};
use roomy_store::{Job, JobKind, MediaClass, StoreError, StoredFile, UploadExpiry};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// How long a claimed job is leased to its runner.
const LEASE: time::Duration = time::Duration::minutes(10);
/// Runs before a failing job is given up on.
const MAX_ATTEMPTS: i64 = 5;
/// How often an idle runner looks for due jobs it was not woken for
/// (expiry checks, retries, other nodes' jobs).
const POLL: Duration = Duration::from_secs(2);
/// Where covers are taken: a second in (the first frame is often black),
/// or the first frame of shorter videos.
const COVER_AT_MS: [u64; 2] = [1000, 0];
/// Width of stored covers (height keeps the aspect ratio).
const COVER_WIDTH: u32 = 640;

/// Why a job run failed.
#[derive(Debug, thiserror::Error)]
enum JobError {
    /// Worth another try later (storage or database trouble).
    #[error("{0}")]
    Transient(String),
}

impl From<StoreError> for JobError {
    fn from(e: StoreError) -> Self {
        JobError::Transient(format!("store: {e}"))
    }
}

impl From<roomy_blob::BlobError> for JobError {
    fn from(e: roomy_blob::BlobError) -> Self {
        JobError::Transient(format!("storage: {e}"))
    }
}

impl From<std::io::Error> for JobError {
    fn from(e: std::io::Error) -> Self {
        JobError::Transient(format!("i/o: {e}"))
    }
}

/// Starts `n` runners that stop with `shutdown`.
pub(crate) fn spawn_runners(cx: App, n: usize, shutdown: CancellationToken) {
    for _ in 0..n {
        let cx = cx.clone();
        let shutdown = shutdown.clone();
        tokio::spawn(async move {
            loop {
                if let Err(e) = run_due(&cx).await {
                    tracing::warn!(error = %e, "job runner: store unavailable");
                }
                tokio::select! {
                    _ = shutdown.cancelled() => break,
                    _ = cx.files.jobs_wake.notified() => {}
                    _ = tokio::time::sleep(POLL) => {}
                }
            }
        });
    }
}

impl App {
    /// Runs file jobs until none is due; how many ran. The runners call it
    /// when woken; tests call it to see jobs done at once.
    pub async fn run_due_jobs(&self) -> Result<usize, StoreError> {
        run_due(self).await
    }
}

/// Runs jobs until none is due; how many ran.
async fn run_due(cx: &App) -> Result<usize, StoreError> {
    let mut ran = 0;
    loop {
        let now = cx.clock.now();
        let Some(job) = cx.store.claim_job(now, now + LEASE).await? else {
            return Ok(ran);
        };
        ran += 1;
        match run(cx, &job).await {
            Ok(Next::Done) => cx.store.complete_job(job.id).await?,
            Ok(Next::At(at)) => cx.store.defer_job(job.id, Some(at), None).await?,
            Err(JobError::Transient(why)) => {
                tracing::warn!(job = job.id, kind = job.kind.as_str(), attempts = job.attempts, %why, "job failed");
                let retry = (job.attempts < MAX_ATTEMPTS).then(|| {
                    cx.clock.now() + time::Duration::seconds(10 * job.attempts * job.attempts)
                });
                cx.store.defer_job(job.id, retry, Some(&why)).await?;
            }
        }
    }
}

/// What to do with a job after a run.
enum Next {
    Done,
    /// Run again at this time.
    At(time::OffsetDateTime),
}

async fn run(cx: &App, job: &Job) -> Result<Next, JobError> {
    match job.kind {
        JobKind::ExpireUpload => expire(cx, FileId(job.subject)).await,
        JobKind::Derive => {
            let Some(file) = cx.store.file(FileId(job.subject)).await? else {
                return Ok(Next::Done);
            };
            let made = match file.media {
                MediaClass::Image if file.thumbnail.is_none() => thumbnail(cx, &file).await?,
                MediaClass::Video if file.cover.is_none() => cover(cx, &file).await?,
                _ => false,
            };
            if made {
                announce(cx, file.id).await?;
            }
            Ok(Next::Done)
        }
    }
}

/// Removes an upload nobody finished in time: its record (releasing its
/// quota reservation) first, then its bytes, so a crash in between leaves
/// only bytes that the job, run again, removes.
async fn expire(cx: &App, id: FileId) -> Result<Next, JobError> {
    // A chunk still arriving (one long PATCH) extends the upload when it
    // ends: look again later rather than pull its file from under it.
    if cx.files.locks.busy(id) {
        return Ok(Next::At(cx.clock.now() + time::Duration::minutes(1)));
    }
    match cx.store.expire_upload(id, cx.clock.now()).await? {
        UploadExpiry::Extended(at) => Ok(Next::At(at)),
        UploadExpiry::Expired(key) => {
            // Bytes already moved to storage by a finish that never completed.
            if let Some(key) = key {
                cx.files.blob.delete(&stored_key(&key)?).await?;
            }
            cx.files.discard_upload_bytes(id).await?;
            Ok(Next::Done)
        }
        // Finished, terminated, or its owner retired: whatever bytes are
        // left (a finish's chunks it could not delete, a chunk whose writer
        // died before its record) go now.
        UploadExpiry::Gone => {
            cx.files.discard_upload_bytes(id).await?;
            Ok(Next::Done)
        }
    }
}

/// Makes and stores an image's thumbnail; false when the image cannot have
/// one (undecodable, or over the pixel cap): that is final, not retried.
async fn thumbnail(cx: &App, file: &StoredFile) -> Result<bool, JobError> {
    let key = stored_key(&file.key)?;
    let (path, _tmp) = cx.files.local_copy(&key).await?;
    let made =
        tokio::task::spawn_blocking(move || roomy_media::thumbnail(&path, &ThumbLimits::default()))
            .await
            .map_err(|e| JobError::Transient(format!("thumbnail task: {e}")))?;
    let thumb = match made {
        Ok(t) => t,
        Err(MediaError::Io(e)) => return Err(e.into()),
        Err(e) => {
            tracing::info!(file = %file.id, error = %e, "no thumbnail");
            return Ok(false);
        }
    };
    let ext = if thumb.mime == "image/png" {
        "png"
    } else {
        "jpg"
    };
    let out = ObjectKey::generate(THUMBS_PREFIX, cx.clock.now(), Some(ext));
    put(&cx.files.blob, &out, thumb.bytes).await?;
    cx.store
        .set_derivative(file.id, false, out.as_str(), thumb.mime)
        .await?;
    Ok(true)
}

/// Takes and stores a video's cover frame; false when there can be none
/// (no ffmpeg on this server, or no frame in the file): final.
async fn cover(cx: &App, file: &StoredFile) -> Result<bool, JobError> {
    if !cx.files.ffmpeg.available().await {
        return Ok(false);
    }
    let key = stored_key(&file.key)?;
    let (path, _tmp) = cx.files.local_copy(&key).await?;
    let mut frame = None;
    for at_ms in COVER_AT_MS {
        let req = FrameRequest {
            at_ms,
            width: Some(COVER_WIDTH),
            height: None,
            format: FrameFormat::Jpg,
        };
        match cx.files.ffmpeg.frame(&path, &req).await {
            Ok(bytes) => {
                frame = Some(bytes);
                break;
            }
            Err(MediaError::NoFrame) => continue,
            Err(MediaError::Io(e)) => return Err(e.into()),
            Err(e) => {
                tracing::info!(file = %file.id, error = %e, "no cover");
                return Ok(false);
            }
        }
    }
    let Some(bytes) = frame else {
        return Ok(false);
    };
    let out = ObjectKey::generate(COVERS_PREFIX, cx.clock.now(), Some("jpg"));
    put(&cx.files.blob, &out, bytes).await?;
    cx.store
        .set_derivative(file.id, true, out.as_str(), "image/jpeg")
        .await?;
    Ok(true)
}

/// A key read back from the database.
fn stored_key(key: &str) -> Result<ObjectKey, JobError> {
    ObjectKey::parse(key).map_err(|e| JobError::Transient(format!("stored key: {e}")))
}

async fn put(blob: &Blob, key: &ObjectKey, bytes: Vec<u8>) -> Result<(), JobError> {
    let mut w = blob.writer(key).await?;
    w.write(bytes.into()).await?;
    w.close().await?;
    Ok(())
}

/// Tells the file's owner and the members of the rooms it was sent in.
async fn announce(cx: &App, id: FileId) -> Result<(), JobError> {
    let Some(file) = cx.store.file(id).await? else {
        return Ok(());
    };
    let recipients = cx.store.file_audience(id).await?;
    roomy_bus::announce(
        &*cx.bus,
        Envelope {
            recipients,
            event: Event::FileUpdated(file.attachment()),
            origin: None,
        },
    )
    .await;
    Ok(())
}
