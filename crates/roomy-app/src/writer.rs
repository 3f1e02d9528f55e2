//! The group-commit writer.
//!
//! Batching is adaptive: the task takes the first waiting message, then
//! everything else already queued (up to `max_batch`), and commits. An idle
//! server commits single messages at once (no added latency); under load,
//! messages queue up while a commit runs and the next commit takes them all,
//! so one fsync serves hundreds of senders.
//!
//! Order: the queue is FIFO and one task commits, so messages submitted in
//! some order by one caller get seqs in that order. Other writes that create
//! messages (membership notices) run through the same task as *exclusive*
//! jobs, so events are published in exactly the order they were committed
//! and every client receives each room's messages in seq order.

use roomy_bus::{Bus, Envelope, Event, Origin};
use roomy_core::{Clock, social_fields::DirectPolicy};
use roomy_store::{AppendOutcome, NewMessage, Store, StoreError};
use std::{future::Future, pin::Pin, sync::Arc};
use tokio::sync::{mpsc, oneshot};

/// Why a message could not be written.
#[derive(Debug, Clone, thiserror::Error)]
pub enum WriteError {
    /// The database failed; nothing of the batch was stored.
    #[error("the message could not be stored: {0}")]
    Store(String),
    /// The database refused this message itself (tried alone, apart from
    /// its batch); the rest of the batch was stored.
    #[error("the database refused the message: {0}")]
    Rejected(String),
    /// The writer has stopped (the server is shutting down).
    #[error("the writer has stopped")]
    Stopped,
}

/// Writer settings.
#[derive(Debug, Clone)]
pub struct WriterConfig {
    /// Most messages in one commit.
    pub max_batch: usize,
    /// Messages waiting for a commit before senders are made to wait.
    pub queue: usize,
    /// Who may write in direct rooms.
    pub direct_policy: DirectPolicy,
}

struct MessageJob {
    message: NewMessage,
    origin: Option<Origin>,
    reply: oneshot::Sender<Result<AppendOutcome, WriteError>>,
}

/// A write run alone by the writer task; it answers its caller itself and
/// returns the envelopes to publish.
type Exclusive =
    Box<dyn FnOnce(Arc<dyn Store>) -> Pin<Box<dyn Future<Output = Vec<Envelope>> + Send>> + Send>;

enum Job {
    Message(MessageJob),
    Exclusive(Exclusive),
}

/// Handle to the writer task; cheap to clone.
#[derive(Clone)]
pub struct Writer {
    tx: mpsc::Sender<Job>,
}

impl std::fmt::Debug for Writer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Writer")
    }
}

/// A submitted message's outcome, available once committed.
pub type Pending = oneshot::Receiver<Result<AppendOutcome, WriteError>>;

impl Writer {
    /// Starts the writer task. It stops when every handle is dropped, after
    /// committing what was queued.
    pub fn start(
        store: Arc<dyn Store>,
        bus: Arc<dyn Bus>,
        clock: Arc<dyn Clock>,
        config: WriterConfig,
    ) -> (Writer, tokio::task::JoinHandle<()>) {
        let (tx, rx) = mpsc::channel(config.queue.max(1));
        let task = tokio::spawn(run(rx, store, bus, clock, config));
        (Writer { tx }, task)
    }

    /// Queues a message (waiting for room in the queue) and returns the
    /// receiver of its outcome. Messages queued in order are committed in order.
    pub async fn submit(
        &self,
        message: NewMessage,
        origin: Option<Origin>,
    ) -> Result<Pending, WriteError> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(Job::Message(MessageJob {
                message,
                origin,
                reply,
            }))
            .await
            .map_err(|_| WriteError::Stopped)?;
        Ok(rx)
    }

    /// Runs `f` on the writer task, between two group commits, and publishes
    /// the envelopes it returns along with its result.
    pub async fn exclusive<T, F, Fut>(&self, f: F) -> Result<T, WriteError>
    where
        T: Send + 'static,
        F: FnOnce(Arc<dyn Store>) -> Fut + Send + 'static,
        Fut: Future<Output = (T, Vec<Envelope>)> + Send + 'static,
    {
        let (reply, rx) = oneshot::channel();
        let job: Exclusive = Box::new(move |store| {
            Box::pin(async move {
                let (result, envelopes) = f(store).await;
                let _ = reply.send(result);
                envelopes
            })
        });
        self.tx
            .send(Job::Exclusive(job))
            .await
            .map_err(|_| WriteError::Stopped)?;
        rx.await.map_err(|_| WriteError::Stopped)
    }

    /// Jobs waiting for the writer task (messages and exclusive writes).
    pub fn queued(&self) -> usize {
        self.tx.max_capacity() - self.tx.capacity()
    }

    /// Stores a message and waits for the commit.
    pub async fn write(
        &self,
        message: NewMessage,
        origin: Option<Origin>,
    ) -> Result<AppendOutcome, WriteError> {
        self.submit(message, origin)
            .await?
            .await
            .map_err(|_| WriteError::Stopped)?
    }
}

async fn run(
    mut rx: mpsc::Receiver<Job>,
    store: Arc<dyn Store>,
    bus: Arc<dyn Bus>,
    clock: Arc<dyn Clock>,
    config: WriterConfig,
) {
    let max_batch = config.max_batch.max(1);
    let policy = config.direct_policy;
    let mut jobs: Vec<Job> = Vec::with_capacity(max_batch);
    let mut batch: Vec<MessageJob> = Vec::with_capacity(max_batch);
    while rx.recv_many(&mut jobs, max_batch).await > 0 {
        for job in jobs.drain(..) {
            match job {
                Job::Message(m) => batch.push(m),
                Job::Exclusive(f) => {
                    commit(&mut batch, &*store, &*bus, &*clock, policy).await;
                    for envelope in f(store.clone()).await {
                        roomy_bus::announce(&*bus, envelope).await;
                    }
                }
            }
        }
        commit(&mut batch, &*store, &*bus, &*clock, policy).await;
    }
}

/// Commits the batch in one transaction, publishes, answers; empties `batch`.
///
/// A batch the database refuses for a value in it (`StoreError::Rejected`:
/// a data or constraint error) is split in halves, committed in order, so
/// one row it cannot store (found in about 2·log2(batch) extra
/// transactions) fails alone and everyone else's messages are stored. Any
/// other failure (unreachable, busy, deadlocked, full) is no row's fault:
/// the part fails at once, and its senders retry.
async fn commit(
    batch: &mut Vec<MessageJob>,
    store: &dyn Store,
    bus: &dyn Bus,
    clock: &dyn Clock,
    policy: DirectPolicy,
) {
    if batch.is_empty() {
        return;
    }
    // Parts still to commit, the next one last; each part is a range of
    // `batch`, so halves keep the queue's order.
    let (messages, waiters): (Vec<NewMessage>, Vec<_>) = batch
        .drain(..)
        .map(|j| (j.message, (j.origin, j.reply)))
        .unzip();
    let mut parts: Vec<std::ops::Range<usize>> = Vec::with_capacity(16);
    parts.push(0..messages.len());
    let mut answers: Vec<Option<Result<AppendOutcome, WriteError>>> =
        (0..messages.len()).map(|_| None).collect();
    while let Some(part) = parts.pop() {
        match store
            .append_messages(&messages[part.clone()], policy, clock.now())
            .await
        {
            Ok(outcomes) => {
                for (i, outcome) in part.zip(outcomes) {
                    answers[i] = Some(Ok(outcome));
                }
            }
            Err(e) if !matches!(e, StoreError::Rejected(_)) => {
                tracing::error!(error = %e, batch = part.len(), "group commit failed");
                let msg = e.to_string();
                for i in part {
                    answers[i] = Some(Err(WriteError::Store(msg.clone())));
                }
            }
            Err(e) if part.len() == 1 => {
                tracing::error!(
                    error = %e,
                    room = messages[part.start].room_id.0,
                    sender = messages[part.start].sender_id.0,
                    "the database refused a message; its sender alone is told"
                );
                answers[part.start] = Some(Err(WriteError::Rejected(e.to_string())));
            }
            Err(e) => {
                tracing::warn!(error = %e, batch = part.len(), "group commit refused: splitting the batch");
                let mid = part.start + part.len() / 2;
                parts.push(mid..part.end);
                parts.push(part.start..mid);
            }
        }
    }
    for ((origin, reply), answer) in waiters.into_iter().zip(answers) {
        let answer = answer.unwrap_or(Err(WriteError::Stopped));
        if let Ok(AppendOutcome::Stored {
            message,
            recipients,
        }) = &answer
        {
            roomy_bus::announce(
                bus,
                Envelope {
                    recipients: recipients.clone(),
                    event: Event::Message(message.clone()),
                    origin,
                },
            )
            .await;
        }
        // A sender that went away still has its message stored.
        let _ = reply.send(answer);
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use roomy_bus::InProcessBus;
    use roomy_core::{
        Role, SystemClock,
        chat_fields::{ClientId, MessageBody, MessageKind},
        config::SqliteSynchronous,
        user_fields::{Nickname, Username},
    };
    use roomy_store::NewUser;
    use roomy_store_sqlite::{SqliteOptions, SqliteStore};

    /// A fresh SQLite store in `dir` with two users and their direct room:
    /// the store, its URL, the users' ids and the room.
    async fn two_in_a_room(
        dir: &tempfile::TempDir,
        names: [&str; 2],
    ) -> (
        Arc<dyn Store>,
        String,
        Vec<roomy_core::UserId>,
        roomy_core::RoomId,
    ) {
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("w.db").display());
        let store: Arc<dyn Store> = Arc::new(
            SqliteStore::connect(
                &url,
                SqliteOptions {
                    synchronous: SqliteSynchronous::Normal,
                    max_connections: 2,
                },
            )
            .await
            .unwrap(),
        );
        let mut ids = Vec::new();
        for name in names {
            let u = store
                .create_user(
                    NewUser {
                        username: Username::parse(name).unwrap(),
                        nickname: Nickname::parse(name).unwrap(),
                        password_hash: None,
                        role: Role::User,
                    },
                    time::OffsetDateTime::now_utc(),
                )
                .await
                .unwrap();
            ids.push(u.id);
        }
        let (room, _) = store
            .find_or_create_direct(
                ids[0],
                ids[1],
                DirectPolicy::Anyone,
                time::OffsetDateTime::now_utc(),
            )
            .await
            .unwrap();
        (store, url, ids, room.id)
    }

    #[tokio::test]
    async fn concurrent_senders_get_ordered_gap_free_seqs_and_events_follow_commits() {
        let dir = tempfile::tempdir().unwrap();
        let (store, _, ids, room) = two_in_a_room(&dir, ["writer_a", "writer_b"]).await;
        let bus = Arc::new(InProcessBus::new(1024));
        let mut sub = bus.subscribe();
        let (writer, _task) = Writer::start(
            store.clone(),
            bus.clone(),
            Arc::new(SystemClock),
            WriterConfig {
                max_batch: 16,
                direct_policy: DirectPolicy::Anyone,
                queue: 64,
            },
        );
        let mut pending = Vec::new();
        for i in 0..100 {
            let m = NewMessage {
                room_id: room,
                sender_id: ids[i % 2],
                client_id: Some(ClientId::parse(&format!("c{i}")).unwrap()),
                kind: MessageKind::Text,
                body: Some(MessageBody::parse("hi", 10).unwrap()),
                file: None,
            };
            pending.push(writer.submit(m, None).await.unwrap());
        }
        for (i, p) in pending.into_iter().enumerate() {
            match p.await.unwrap().unwrap() {
                AppendOutcome::Stored { message, .. } => assert_eq!(message.seq, i as i64 + 1),
                other => panic!("{other:?}"),
            }
        }
        for i in 0..100 {
            let env = sub.recv().await.unwrap();
            match &env.event {
                Event::Message(m) => assert_eq!(m.seq, i + 1),
                other => panic!("{other:?}"),
            }
        }
    }

    #[tokio::test]
    async fn a_row_the_database_refuses_fails_alone_and_the_batch_commits() {
        let dir = tempfile::tempdir().unwrap();
        let (store, url, ids, room) = two_in_a_room(&dir, ["poison_a", "poison_b"]).await;
        // The database, not the server's validation, refuses this one body.
        let mut conn = <sqlx::SqliteConnection as sqlx::Connection>::connect(&url)
            .await
            .unwrap();
        sqlx::query(
            "CREATE TRIGGER poison BEFORE INSERT ON messages WHEN NEW.body = 'poison'
             BEGIN SELECT RAISE(ABORT, 'poisoned row'); END",
        )
        .execute(&mut conn)
        .await
        .unwrap();
        let bus = Arc::new(InProcessBus::new(1024));
        let mut sub = bus.subscribe();
        let (writer, _task) = Writer::start(
            store.clone(),
            bus.clone(),
            Arc::new(SystemClock),
            WriterConfig {
                max_batch: 256,
                direct_policy: DirectPolicy::Anyone,
                queue: 512,
            },
        );
        // Hold the writer until all 200 messages wait, so they form one batch.
        let (open, gate) = oneshot::channel::<()>();
        let held = writer.clone();
        let hold = tokio::spawn(async move {
            held.exclusive(|_| async move {
                let _ = gate.await;
                ((), Vec::new())
            })
            .await
        });
        let mut pending = Vec::new();
        for i in 0..200 {
            let m = NewMessage {
                room_id: room,
                sender_id: ids[i % 2],
                client_id: Some(ClientId::parse(&format!("p{i}")).unwrap()),
                kind: MessageKind::Text,
                body: Some(
                    MessageBody::parse(if i == 137 { "poison" } else { "fine" }, 10).unwrap(),
                ),
                file: None,
            };
            pending.push(writer.submit(m, None).await.unwrap());
        }
        open.send(()).unwrap();
        hold.await.unwrap().unwrap();
        let mut seq = 0;
        for (i, p) in pending.into_iter().enumerate() {
            match (i, p.await.unwrap()) {
                (137, Err(WriteError::Rejected(why))) => assert!(why.contains("database"), "{why}"),
                (137, other) => panic!("the poisoned row: {other:?}"),
                (_, Ok(AppendOutcome::Stored { message, .. })) => {
                    seq += 1;
                    assert_eq!(message.seq, seq, "message {i} in order, no gap");
                }
                (_, other) => panic!("message {i}: {other:?}"),
            }
        }
        assert_eq!(seq, 199);
        for i in 1..=199 {
            match &sub.recv().await.unwrap().event {
                Event::Message(m) => assert_eq!(m.seq, i, "published in commit order"),
                other => panic!("{other:?}"),
            }
        }
    }
}
