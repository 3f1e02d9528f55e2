//! Shared request state: cheap handles only (STYLE habit 3).

use crate::{
    auth::{LoginLimiter, Passwords, Tokens},
    gateway::{Hub, typing::TypingLimiter},
    metrics::Metrics,
};
use roomy_bus::Bus;
use roomy_cache::Cache;
use roomy_chat::FollowGraph;
use roomy_chat::{Writer, WriterConfig};
use roomy_core::{Clock, social_fields::DirectPolicy};
use roomy_store::Store;
use std::{sync::Arc, time::Duration as StdDuration};
use time::Duration;
use tokio_util::sync::CancellationToken;

/// Settings the HTTP and WebSocket layers need from the configuration.
#[derive(Debug, Clone)]
pub struct ApiSettings {
    /// Access-token lifetime.
    pub token_ttl: Duration,
    /// Largest JSON body accepted.
    pub max_json_bytes: usize,
    /// Serve `/metrics` on the main router (false when a separate listener serves it).
    pub metrics_on_main: bool,
    /// Opens `/metrics` on the main listener to non-loopback clients that present it.
    pub metrics_token: Option<String>,
    /// Longest text message, in characters.
    pub max_message_chars: usize,
    /// Largest group.
    pub max_group_members: usize,
    /// Most messages per group commit.
    pub write_batch_max: usize,
    /// Interval of WebSocket pings; silence for two intervals drops a connection.
    pub ws_heartbeat: StdDuration,
    /// Frames queued per WebSocket connection before it must resync.
    pub ws_send_queue: usize,
    /// Who may open direct rooms and write in them.
    pub direct_messages: DirectPolicy,
    /// How long after sending a sender may revoke a message.
    pub revoke_window: Duration,
    /// How long a user whose last connection closed still counts as online.
    pub presence_grace: StdDuration,
    /// Where clients reach the server (no trailing slash): invite links start with it.
    pub public_url: String,
    /// Rate limits, login thresholds, trusted proxies, session and guest lifetimes.
    pub abuse: crate::limits::AbuseSettings,
    /// Live WebSocket connections per user on this node (0: no cap).
    pub ws_max_connections_per_user: usize,
    /// Time a client has to finish a WebSocket message once begun.
    pub ws_message_timeout: StdDuration,
}

impl ApiSettings {
    /// Settings with the configuration's defaults and the given token lifetime.
    pub fn defaults(token_ttl: Duration) -> ApiSettings {
        let c = roomy_core::Config::default();
        ApiSettings {
            token_ttl,
            max_json_bytes: c.max_json_bytes,
            metrics_on_main: true,
            metrics_token: None,
            max_message_chars: c.max_message_chars,
            max_group_members: c.max_group_members,
            write_batch_max: c.write_batch_max,
            ws_heartbeat: StdDuration::from_secs(c.ws_heartbeat_secs),
            ws_send_queue: c.ws_send_queue,
            direct_messages: c.direct_messages,
            revoke_window: Duration::seconds(c.revoke_window_secs as i64),
            presence_grace: StdDuration::from_secs(c.presence_grace_secs),
            public_url: c.effective_public_url(),
            abuse: crate::limits::AbuseSettings::from_config(&c),
            ws_max_connections_per_user: c.ws_max_connections_per_user,
            ws_message_timeout: StdDuration::from_secs(c.ws_message_timeout_secs),
        }
    }
}

/// Everything a handler may reach.
#[derive(Clone)]
pub struct AppState {
    pub store: Arc<dyn Store>,
    pub clock: Arc<dyn Clock>,
    pub tokens: Arc<Tokens>,
    pub passwords: Passwords,
    pub limiter: Arc<LoginLimiter>,
    pub metrics: Arc<Metrics>,
    pub settings: Arc<ApiSettings>,
    pub bus: Arc<dyn Bus>,
    pub writer: Writer,
    pub hub: Arc<Hub>,
    /// The limit on forwarded `typing` frames.
    pub typing: Arc<TypingLimiter>,
    /// Per-user and per-address rate limits (sends, syncs, sign-ups, ...).
    pub limits: Arc<crate::limits::Limits>,
    /// Follow-graph reads through the cache; call `applied` after graph writes.
    pub graph: FollowGraph,
    /// Blob storage, the upload folder and file limits.
    pub files: crate::files::Files,
    /// Fires when the server stops: live connections close.
    pub shutdown: CancellationToken,
}

impl AppState {
    /// Builds the state over `store` and `bus` and starts its background
    /// tasks (the group-commit writer, the gateway's bus subscriber, the
    /// file job runners).
    #[allow(clippy::too_many_arguments)]
    pub fn start(
        store: Arc<dyn Store>,
        bus: Arc<dyn Bus>,
        cache: Arc<dyn Cache>,
        clock: Arc<dyn Clock>,
        jwt_secret: &[u8],
        settings: ApiSettings,
        files: crate::files::Files,
        shutdown: CancellationToken,
    ) -> AppState {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
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
        let metrics = Arc::new(Metrics::new());
        let hub = Hub::start(
            bus.subscribe(),
            store.clone(),
            bus.clone(),
            settings.presence_grace,
            metrics.clone(),
            shutdown.clone(),
        );
        crate::files::jobs::spawn_runners(
            crate::files::jobs::JobContext {
                store: store.clone(),
                clock: clock.clone(),
                bus: bus.clone(),
                files: files.clone(),
            },
            files.settings.job_workers,
            shutdown.clone(),
        );
        crate::auth::guests::spawn_sweeper(
            crate::files::jobs::JobContext {
                store: store.clone(),
                clock: clock.clone(),
                bus: bus.clone(),
                files: files.clone(),
            },
            settings.abuse.guest_ttl,
            shutdown.clone(),
        );
        AppState {
            files,
            graph: FollowGraph::new(store.clone(), cache),
            store,
            clock,
            tokens: Arc::new(Tokens::new(jwt_secret, settings.token_ttl)),
            passwords: Passwords::new(cores * 2),
            limiter: Arc::new(LoginLimiter::new(
                settings.abuse.login_failures_per_minute,
                settings.abuse.login_failures_per_hour,
            )),
            limits: Arc::new(crate::limits::Limits::new(&settings.abuse)),
            metrics,
            settings: Arc::new(settings),
            bus,
            writer,
            hub,
            typing: Arc::new(TypingLimiter::new()),
            shutdown,
        }
    }
}

impl AppState {
    /// What the file job runners work with; tests run due jobs through it.
    pub fn job_context(&self) -> crate::files::jobs::JobContext {
        crate::files::jobs::JobContext {
            store: self.store.clone(),
            clock: self.clock.clone(),
            bus: self.bus.clone(),
            files: self.files.clone(),
        }
    }
}
