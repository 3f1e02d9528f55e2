//! One writer per upload on this node. A new PATCH for an upload asks the
//! one in progress to stop (keeping what it made durable) and takes over:
//! a client that resumes after a cut connection must not wait for the
//! server to notice the old connection died.

use roomy_core::FileId;
use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};
use tokio::sync::{Mutex as AsyncMutex, OwnedMutexGuard};
use tokio_util::sync::CancellationToken;

struct Slot {
    lock: Arc<AsyncMutex<()>>,
    /// Cancelled to ask the current holder to stop.
    current: CancellationToken,
}

/// The per-upload locks.
#[derive(Default)]
pub struct UploadLocks {
    slots: Arc<Mutex<HashMap<FileId, Slot>>>,
}

/// Held while writing to an upload; `stop` fires when another request takes over.
pub struct UploadGuard {
    id: FileId,
    guard: Option<OwnedMutexGuard<()>>,
    slots: Arc<Mutex<HashMap<FileId, Slot>>>,
    /// Cancelled when a newer request for the same upload is waiting.
    pub stop: CancellationToken,
}

impl UploadLocks {
    /// Takes upload `id`'s lock, asking its current holder to let go.
    pub async fn acquire(&self, id: FileId) -> UploadGuard {
        let (lock, holder) = {
            let mut slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
            let slot = slots.entry(id).or_insert_with(|| Slot {
                lock: Arc::new(AsyncMutex::new(())),
                current: CancellationToken::new(),
            });
            (slot.lock.clone(), slot.current.clone())
        };
        holder.cancel();
        let guard = lock.lock_owned().await;
        let stop = CancellationToken::new();
        if let Some(slot) = self
            .slots
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get_mut(&id)
        {
            slot.current = stop.clone();
        }
        UploadGuard {
            id,
            guard: Some(guard),
            slots: self.slots.clone(),
            stop,
        }
    }

    /// Uploads with a lock entry (for tests: entries do not leak).
    pub fn len(&self) -> usize {
        self.slots.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// Whether no upload is locked.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Drop for UploadGuard {
    fn drop(&mut self) {
        let mut slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(guard) = self.guard.take() {
            // The map's reference and this guard's: nobody else is waiting.
            let idle = Arc::strong_count(OwnedMutexGuard::mutex(&guard)) <= 2;
            drop(guard);
            if idle {
                slots.remove(&self.id);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_newcomer_stops_the_holder_and_entries_are_freed() {
        let locks = Arc::new(UploadLocks::default());
        let first = locks.acquire(FileId(1)).await;
        assert!(!first.stop.is_cancelled());
        let l = locks.clone();
        let second = tokio::spawn(async move { l.acquire(FileId(1)).await });
        first.stop.cancelled().await;
        drop(first);
        let second = second.await.expect("joins");
        assert!(!second.stop.is_cancelled());
        assert_eq!(locks.len(), 1);
        drop(second);
        assert!(locks.is_empty());
    }
}
