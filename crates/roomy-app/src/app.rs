//! [`App`]: the handle every adapter (HTTP routes, the WebSocket gateway,
//! the CLI) calls. Operations live in one module per area (`rooms`,
//! `messages`, ...), each as methods on `App` that take typed input and the
//! acting user, check the rights, write through the writer or the store,
//! publish their events, and return a typed result or the area's error.

use crate::{FollowGraph, Passwords, Writer, WriterConfig, files::Files, typing::TypingLimiter};
use roomy_bus::Bus;
use roomy_cache::Cache;
use roomy_core::{Clock, Config, social_fields::DirectPolicy};
use roomy_store::Store;
use std::sync::Arc;
use time::Duration;
use tokio_util::sync::CancellationToken;

/// The rules' numbers, from the configuration.
#[derive(Debug, Clone)]
pub struct AppSettings {
    /// Longest text message, in characters.
    pub max_message_chars: usize,
    /// Largest group.
    pub max_group_members: usize,
    /// Most messages per group commit.
    pub write_batch_max: usize,
    /// Who may open direct rooms and write in them.
    pub direct_messages: DirectPolicy,
    /// How long after sending a sender may revoke a message.
    pub revoke_window: Duration,
    /// Where clients reach the server (no trailing slash): invite links start with it.
    pub public_url: String,
    /// How long after its login a session ends, however often it was renewed.
    pub session_max_age: Duration,
}

impl From<&Config> for AppSettings {
    fn from(c: &Config) -> AppSettings {
        AppSettings {
            max_message_chars: c.max_message_chars,
            max_group_members: c.max_group_members,
            write_batch_max: c.write_batch_max,
            direct_messages: c.direct_messages,
            revoke_window: Duration::seconds(c.revoke_window_secs as i64),
            public_url: c.effective_public_url(),
            session_max_age: Duration::seconds(
                i64::try_from(c.session_max_age_secs).unwrap_or(i64::MAX / 1000),
            ),
        }
    }
}

/// The service layer: cheap to clone, one per process.
#[derive(Clone)]
pub struct App {
    /// The database. Adapters read sessions through it; rules never run outside `App`.
    pub store: Arc<dyn Store>,
    /// Now, injectable for tests.
    pub clock: Arc<dyn Clock>,
    /// Where committed events go out to every node's connections.
    pub bus: Arc<dyn Bus>,
    /// The group-commit writer: messages, and changes that must be ordered with them.
    pub writer: Writer,
    /// Follow-graph reads through the cache.
    pub graph: FollowGraph,
    /// The rules' numbers.
    pub settings: Arc<AppSettings>,
    /// The argon2id hasher: accounts' passwords never leave the app unhashed.
    pub passwords: Passwords,
    /// Blob storage, the upload folder, file limits and the job runners' wake-up.
    pub files: Files,
    /// The limit on forwarded typing indicators.
    pub typing: Arc<TypingLimiter>,
}

impl App {
    /// Builds the app over its parts and starts the group-commit writer.
    pub fn start(
        store: Arc<dyn Store>,
        bus: Arc<dyn Bus>,
        cache: Arc<dyn Cache>,
        clock: Arc<dyn Clock>,
        settings: AppSettings,
        files: Files,
    ) -> App {
        let (writer, _) = Writer::start(
            store.clone(),
            bus.clone(),
            clock.clone(),
            WriterConfig {
                max_batch: settings.write_batch_max,
                queue: settings.write_batch_max * 2,
                direct_policy: settings.direct_messages,
            },
        );
        App {
            graph: FollowGraph::new(store.clone(), cache),
            store,
            clock,
            bus,
            writer,
            settings: Arc::new(settings),
            passwords: Passwords::new(
                std::thread::available_parallelism().map_or(2, |n| n.get()) * 2,
            ),
            files,
            typing: Arc::new(TypingLimiter::new()),
        }
    }

    /// Starts the background work that stops with `shutdown`: the file job
    /// runners, then the sweeper retiring guests idle for `guest_ttl`.
    pub fn start_background(&self, guest_ttl: Option<Duration>, shutdown: CancellationToken) {
        crate::files::jobs::spawn_runners(
            self.clone(),
            self.files.settings.job_workers,
            shutdown.clone(),
        );
        crate::guests::spawn_sweeper(self.clone(), guest_ttl, shutdown);
    }
}
