//! One writer per upload on this node. A new PATCH (or HEAD) for an upload
//! asks the one in progress to stop (keeping what it made durable) and
//! takes over: a client that resumes after a cut connection must not wait
//! for the server to notice the old connection died. The newest request
//! always wins: one that was overtaken while it waited starts stopped.

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
    /// Requests holding or waiting for the lock; the slot goes at zero.
    users: usize,
    /// The number of the newest request.
    newest: u64,
}

type Slots = Arc<Mutex<HashMap<FileId, Slot>>>;

/// The per-upload locks.
#[derive(Default)]
pub struct UploadLocks {
    slots: Slots,
}

/// A request's place in an upload's queue; leaving it (holding the lock or
/// not, even by being dropped while waiting) frees the slot when it was the last.
struct Ticket {
    id: FileId,
    slots: Slots,
}

impl Drop for Ticket {
    fn drop(&mut self) {
        let mut slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(slot) = slots.get_mut(&self.id) {
            slot.users -= 1;
            if slot.users == 0 {
                slots.remove(&self.id);
            }
        }
    }
}

/// Held while writing to an upload; `stop` fires when another request takes over.
pub struct UploadGuard {
    // Field order is drop order: the lock is released before the ticket.
    _guard: OwnedMutexGuard<()>,
    _ticket: Ticket,
    /// Cancelled when a newer request for the same upload is waiting.
    pub stop: CancellationToken,
}

impl UploadLocks {
    /// Takes upload `id`'s lock, asking its current holder to let go.
    pub async fn acquire(&self, id: FileId) -> UploadGuard {
        let (lock, mine) = {
            let mut slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
            let slot = slots.entry(id).or_insert_with(|| Slot {
                lock: Arc::new(AsyncMutex::new(())),
                current: CancellationToken::new(),
                users: 0,
                newest: 0,
            });
            slot.users += 1;
            slot.newest += 1;
            slot.current.cancel();
            (slot.lock.clone(), slot.newest)
        };
        let ticket = Ticket {
            id,
            slots: self.slots.clone(),
        };
        let guard = lock.lock_owned().await;
        let stop = CancellationToken::new();
        {
            let mut slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(slot) = slots.get_mut(&id) {
                if slot.newest == mine {
                    slot.current = stop.clone();
                } else {
                    // A newer request is waiting behind this one: yield at once.
                    stop.cancel();
                }
            }
        }
        UploadGuard {
            _guard: guard,
            _ticket: ticket,
            stop,
        }
    }

    /// Whether a request holds or waits for upload `id` on this node.
    pub fn busy(&self, id: FileId) -> bool {
        self.slots
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .contains_key(&id)
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
        assert!(locks.busy(FileId(1)));
        drop(second);
        assert!(locks.is_empty());
    }

    #[tokio::test]
    async fn the_newest_waiter_wins_and_dropped_waiters_free_their_place() {
        let locks = Arc::new(UploadLocks::default());
        let holder = locks.acquire(FileId(1)).await;
        let (l1, l2) = (locks.clone(), locks.clone());
        let older = tokio::spawn(async move { l1.acquire(FileId(1)).await });
        holder.stop.cancelled().await;
        // Wait until the first waiter has queued (it bumped the count).
        while locks.slots.lock().expect("lock")[&FileId(1)].users < 2 {
            tokio::task::yield_now().await;
        }
        let newer = tokio::spawn(async move { l2.acquire(FileId(1)).await });
        while locks.slots.lock().expect("lock")[&FileId(1)].users < 3 {
            tokio::task::yield_now().await;
        }
        drop(holder);
        let older = older.await.expect("joins");
        assert!(older.stop.is_cancelled(), "overtaken while waiting");
        drop(older);
        let newer = newer.await.expect("joins");
        assert!(!newer.stop.is_cancelled());
        // A waiter dropped before it got the lock leaves no entry behind.
        let l3 = locks.clone();
        let waiting = tokio::spawn(async move { l3.acquire(FileId(1)).await });
        while locks.slots.lock().expect("lock")[&FileId(1)].users < 2 {
            tokio::task::yield_now().await;
        }
        waiting.abort();
        let _ = waiting.await;
        drop(newer);
        assert!(locks.is_empty());
    }
}
