//! Guest accounts are temporary. A guest has no password, so once its
//! sessions are gone nobody can ever sign in as it again; a guest with no
//! sign of life (creation or a session's use) for `guest_ttl_secs` is
//! retired, the way chat products deactivate and erase an account:
//!
//! - its sessions are deleted (live connections close);
//! - it is disabled and renamed "Former guest", its avatar removed, so
//!   rooms and member lists keep a neutral name where it was;
//! - its files, their thumbnails and covers, and its unfinished uploads are
//!   deleted, releasing the disk; its messages stay in their rooms (the
//!   others' conversation stays readable), media ones without their file.
//!
//! Memberships, follows and friend requests are left as they are: a
//! disabled account already cannot act, and receives nothing.
//!
//! A sweep runs hourly on every node (judged by the injected clock; the
//! retirement re-checks idleness in its transaction, so nodes racing on
//! one guest do it once). Deleting the bytes comes after the commit: a
//! crash in between leaves unreferenced objects behind, never a row
//! pointing at missing bytes.

use crate::App;
use roomy_blob::ObjectKey;
use roomy_store::StoreError;
use std::time::Duration as StdDuration;
use tokio_util::sync::CancellationToken;

/// The name a retired guest is shown under.
const RETIRED_NICKNAME: &str = "Former guest";
/// Time between sweeps.
const SWEEP_EVERY: StdDuration = StdDuration::from_secs(3600);
/// Guests retired per store query.
const BATCH: u32 = 100;

/// Sweeps every hour until `shutdown`; does nothing when `ttl` is `None`.
pub(crate) fn spawn_sweeper(cx: App, ttl: Option<time::Duration>, shutdown: CancellationToken) {
    let Some(ttl) = ttl else { return };
    tokio::spawn(async move {
        let mut every = tokio::time::interval(SWEEP_EVERY);
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = every.tick() => {}
            }
            match cx.sweep_idle_guests(ttl).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(retired = n, "retired idle guest accounts"),
                Err(e) => tracing::warn!(error = %e, "guest sweep failed"),
            }
        }
    });
}

impl App {
    /// Retires every guest idle for `ttl` at the clock's now; how many.
    pub async fn sweep_idle_guests(&self, ttl: time::Duration) -> Result<usize, StoreError> {
        sweep(self, ttl).await
    }
}

async fn sweep(cx: &App, ttl: time::Duration) -> Result<usize, StoreError> {
    let now = cx.clock.now();
    let idle_since = now - ttl;
    let mut retired = 0;
    loop {
        let ids = cx.store.idle_guests(idle_since, BATCH).await?;
        let full = ids.len() == BATCH as usize;
        let mut progressed = false;
        for id in ids {
            // One guest that cannot be retired must not keep the others.
            let left = match cx
                .store
                .retire_guest(id, idle_since, RETIRED_NICKNAME, now)
                .await
            {
                Ok(Some(left)) => left,
                Ok(None) => continue,
                Err(e) => {
                    tracing::warn!(user = id.0, error = %e, "cannot retire an idle guest");
                    continue;
                }
            };
            progressed = true;
            retired += 1;
            roomy_bus::announce(
                &*cx.bus,
                roomy_bus::Envelope {
                    recipients: vec![id],
                    event: roomy_bus::Event::SessionsEnded {
                        user: id,
                        except: None,
                        only: None,
                        disabled: false,
                    },
                    origin: None,
                },
            )
            .await;
            for key in &left.keys {
                let deleted = match ObjectKey::parse(key) {
                    Ok(k) => cx.files.blob.delete(&k).await.map_err(|e| e.to_string()),
                    Err(e) => Err(e.to_string()),
                };
                if let Err(e) = deleted {
                    tracing::warn!(key = %key, error = %e, "cannot delete a retired guest's object");
                }
            }
            for upload in left.uploads {
                if let Err(e) = cx.files.spool.remove(upload).await {
                    tracing::warn!(upload = upload.0, error = %e, "cannot delete a retired guest's upload");
                }
                cx.files.keep_hash(upload, None);
            }
        }
        if !full || !progressed {
            return Ok(retired);
        }
    }
}
