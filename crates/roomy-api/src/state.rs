//! Shared request state: cheap handles only, cloned into every request.

use crate::{
    auth::{LoginLimiter, Tokens},
    hub::Hub,
    metrics::Metrics,
};
use roomy_app::{App, LocalPresence, Presence};
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
    pub metrics_token: Option<roomy_core::config::Redacted>,
    /// Interval of WebSocket pings; silence for two intervals drops a connection.
    pub ws_heartbeat: StdDuration,
    /// Frames queued per WebSocket connection before it must resync.
    pub ws_send_queue: usize,
    /// How long a user whose last connection closed still counts as online.
    pub presence_grace: StdDuration,
    /// Rate limits, login thresholds, trusted proxies, session and guest lifetimes.
    pub abuse: crate::limits::AbuseSettings,
    /// Live WebSocket connections per user on this node (0: no cap).
    pub ws_max_connections_per_user: usize,
    /// Time a client has to finish a WebSocket message once begun.
    pub ws_message_timeout: StdDuration,
}

impl From<&roomy_core::Config> for ApiSettings {
    fn from(c: &roomy_core::Config) -> ApiSettings {
        ApiSettings {
            token_ttl: Duration::seconds(c.token_ttl_secs as i64),
            max_json_bytes: c.max_json_bytes,
            metrics_on_main: c.metrics_listen.is_none(),
            metrics_token: c.metrics_token.clone(),
            ws_heartbeat: StdDuration::from_secs(c.ws_heartbeat_secs),
            ws_send_queue: c.ws_send_queue,
            presence_grace: StdDuration::from_secs(c.presence_grace_secs),
            abuse: crate::limits::AbuseSettings::from_config(c),
            ws_max_connections_per_user: c.ws_max_connections_per_user,
            ws_message_timeout: StdDuration::from_secs(c.ws_message_timeout_secs),
        }
    }
}

/// Everything a handler may reach.
#[derive(Clone)]
pub struct AppState {
    /// The service layer: every operation goes through it.
    pub app: App,
    pub tokens: Arc<Tokens>,
    pub limiter: Arc<LoginLimiter>,
    pub metrics: Arc<Metrics>,
    pub settings: Arc<ApiSettings>,
    pub hub: Arc<Hub>,
    /// Who is online; the gateway reports connections to it.
    pub presence: Arc<dyn Presence>,
    /// Per-user and per-address rate limits (sends, syncs, sign-ups, ...).
    pub limits: Arc<crate::limits::Limits>,
    /// Fires when the server stops: live connections close.
    pub shutdown: CancellationToken,
}

impl AppState {
    /// Builds the state over `app` and starts the background tasks (the
    /// gateway's bus subscriber, then the app's file job runners and guest
    /// sweeper).
    pub fn start(
        app: App,
        jwt_secret: &[u8],
        settings: ApiSettings,
        shutdown: CancellationToken,
    ) -> AppState {
        let mut metrics = Metrics::new();
        metrics.watch_bus(app.bus.clone());
        let metrics = Arc::new(metrics);
        let presence: Arc<dyn Presence> = LocalPresence::start(
            app.store.clone(),
            app.bus.clone(),
            settings.presence_grace,
            shutdown.clone(),
        );
        let hub = Hub::start(
            app.bus.subscribe(),
            app.clone(),
            presence.clone(),
            metrics.clone(),
            shutdown.clone(),
        );
        app.start_background(settings.abuse.guest_ttl, shutdown.clone());
        AppState {
            app,
            tokens: Arc::new(Tokens::new(jwt_secret, settings.token_ttl)),
            limiter: Arc::new(LoginLimiter::new(
                settings.abuse.login_failures_per_minute,
                settings.abuse.login_failures_per_hour,
            )),
            limits: Arc::new(crate::limits::Limits::new(&settings.abuse)),
            metrics,
            settings: Arc::new(settings),
            hub,
            presence,
            shutdown,
        }
    }
}
