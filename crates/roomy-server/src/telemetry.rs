//! Structured logs via `tracing`; `RUST_LOG` refines the default filter.

use roomy_core::config::LogFormat;
use tracing_subscriber::EnvFilter;

/// Installs the global log subscriber (once per process).
pub fn init(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,tower_http=info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    let _ = match format {
        LogFormat::Json => builder.json().try_init(),
        LogFormat::Text => builder.try_init(),
    };
}
