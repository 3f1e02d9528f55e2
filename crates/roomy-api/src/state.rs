//! Shared request state: cheap handles only (STYLE habit 3).

use crate::{
    auth::{LoginLimiter, Passwords, Tokens},
    metrics::Metrics,
};
use roomy_core::Clock;
use roomy_store::Store;
use std::sync::Arc;
use time::Duration;

/// Settings the HTTP layer needs from the configuration.
#[derive(Debug, Clone)]
pub struct ApiSettings {
    /// Access-token lifetime.
    pub token_ttl: Duration,
    /// Largest JSON body accepted.
    pub max_json_bytes: usize,
    /// Serve `/metrics` on the main router (false when a separate listener serves it).
    pub metrics_on_main: bool,
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
}

impl AppState {
    /// State over `store`, signing tokens with `jwt_secret`.
    pub fn new(
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        jwt_secret: &[u8],
        settings: ApiSettings,
    ) -> AppState {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        AppState {
            store,
            clock,
            tokens: Arc::new(Tokens::new(jwt_secret, settings.token_ttl)),
            passwords: Passwords::new(cores * 2),
            limiter: Arc::new(LoginLimiter::new()),
            metrics: Arc::new(Metrics::new()),
            settings: Arc::new(settings),
        }
    }
}
