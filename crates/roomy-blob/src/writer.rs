//! Streaming bytes into a new object.

use crate::{BlobError, local};
use bytes::Bytes;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Bytes on their way into a new object, which appears on [`close`](Self::close).
///
/// Dropping a writer without closing it aborts it (in the background), so a
/// cancelled upload leaves neither a partial file nor an unfinished
/// multipart upload behind.
pub struct BlobWriter {
    /// `None` once closed or aborted.
    inner: Option<opendal::Writer>,
    /// fs backend: the root and the object's file, synced to disk on close.
    fs_target: Option<(Arc<Path>, PathBuf)>,
}

impl BlobWriter {
    pub(crate) fn new(inner: opendal::Writer, fs_target: Option<(Arc<Path>, PathBuf)>) -> Self {
        BlobWriter {
            inner: Some(inner),
            fs_target,
        }
    }

    /// Appends `bytes` to the object being written.
    pub async fn write(&mut self, bytes: Bytes) -> Result<(), BlobError> {
        let inner = self.inner.as_mut().ok_or_else(finished)?;
        Ok(inner.write(bytes).await?)
    }

    /// Finishes the object: from now on it can be read, and on the fs
    /// backend it is on disk (file and directory entries fsynced).
    pub async fn close(mut self) -> Result<(), BlobError> {
        let mut inner = self.inner.take().ok_or_else(finished)?;
        if let Err(e) = inner.close().await {
            // A failed close published nothing (fs renames last): clear what
            // it left, the partial file or the multipart upload, as an abort would.
            let _ = inner.abort().await;
            return Err(e.into());
        }
        if let Some((root, target)) = self.fs_target.take() {
            // OpenDAL fsyncs the file before renaming it into place, but not
            // the directories: without this the rename could be lost in a crash.
            crate::blocking(move || local::sync_dirs(&root, &target)).await?;
        }
        Ok(())
    }

    /// Abandons the object: nothing of it remains (fs: the partial file is
    /// removed; object stores: the multipart upload is aborted).
    pub async fn abort(mut self) -> Result<(), BlobError> {
        let mut inner = self.inner.take().ok_or_else(finished)?;
        Ok(inner.abort().await?)
    }
}

impl Drop for BlobWriter {
    fn drop(&mut self) {
        let Some(mut inner) = self.inner.take() else {
            return;
        };
        // A dropped writer is a cancelled upload (the client went away):
        // clean up without making the dropping task wait.
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move {
                if let Err(e) = inner.abort().await {
                    tracing::warn!(error = %e, "blob: aborting a dropped writer failed");
                }
            });
        }
    }
}

/// The error for using a writer after it finished; `close` and `abort`
/// consume the writer, so only a bug inside this crate gets here.
fn finished() -> BlobError {
    BlobError::Storage(opendal::Error::new(
        opendal::ErrorKind::Unexpected,
        "blob writer already finished",
    ))
}
