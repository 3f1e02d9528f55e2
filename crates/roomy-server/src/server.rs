//! The server's lifecycle: build the state, bind, serve until the shutdown
//! token fires, then drain in-flight requests.

use crate::{
    admission::{Admission, connection_budget, nofile_limit, raise_nofile_limit},
    backend::{BackendError, open_store},
    http::{self, Limits},
    secret,
};
use roomy_api::{ApiSettings, AppState};
use roomy_app::{App, AppSettings, FileSettings, Files};
use roomy_blob::{Blob, BlobConfig};
use roomy_bus::{Bus, InProcessBus, NetworkBus, NetworkOptions};
use roomy_cache::{Cache, InProcessCache, RedisCache};
use roomy_core::config::{BusChoice, StorageKind};
use roomy_core::{Clock, Config};
use std::{net::SocketAddr, sync::Arc};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("cannot create the data folder {path}: {source}")]
    DataDir {
        path: String,
        source: std::io::Error,
    },
    #[error("cannot load or create the token signing secret: {0}")]
    Secret(#[source] std::io::Error),
    #[error(transparent)]
    Backend(#[from] BackendError),
    #[error("cannot reach the Redis cache at redis_url: {0}")]
    Cache(#[source] roomy_cache::CacheError),
    #[error("refusing to start: {0}")]
    Cluster(String),
    #[error("cannot connect to the bus at {setting}")]
    Bus {
        setting: &'static str,
        #[source]
        source: roomy_bus::BusError,
    },
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("cannot open file storage: {0}")]
    Storage(#[source] roomy_blob::BlobError),
    #[error("cannot create the upload folder {path}: {source}")]
    UploadDir {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("server error: {0}")]
    Serve(#[source] std::io::Error),
}

/// Opens the store, loads the signing secret, and starts the API state and
/// its background tasks, which stop with `shutdown`.
pub async fn build_state(
    config: &Config,
    clock: Arc<dyn Clock>,
    shutdown: CancellationToken,
) -> Result<AppState, StartError> {
    // Before anything is opened: a node that cannot work beside the others
    // says so first (configurations built in code skip `Config::check`).
    config.check_cluster().map_err(StartError::Cluster)?;
    private_dir(&config.data_dir).map_err(|source| StartError::DataDir {
        path: config.data_dir.display().to_string(),
        source,
    })?;
    let secret = secret::load_or_create(config).map_err(StartError::Secret)?;
    let store = open_store(config).await?;
    let cache = open_cache(config, &*store).await?;
    let bus = open_bus(config).await?;
    let files = open_files(config)?;
    let app = App::start(store, bus, cache, clock, AppSettings::from(config), files);
    Ok(AppState::start(
        app,
        &secret,
        ApiSettings::from(config),
        shutdown,
    ))
}

/// Creates `dir` (and its parents) readable by this account only; an
/// existing folder open to others is only warned about, since the operator
/// may share it on purpose.
fn private_dir(dir: &std::path::Path) -> std::io::Result<()> {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)?;
    let mode = std::fs::metadata(dir)?.permissions().mode();
    if mode & 0o077 != 0 {
        tracing::warn!(
            data_dir = %dir.display(),
            mode = format!("{:o}", mode & 0o777),
            "the data folder is open to other local users; chmod 700 it"
        );
    }
    Ok(())
}

/// Blob storage as configured (disk under the data folder by default) and
/// the upload folder.
pub fn open_files(config: &Config) -> Result<Files, StartError> {
    let expose = |s: &Option<roomy_core::config::Redacted>| {
        s.as_ref()
            .map(|s| s.expose().to_owned())
            .unwrap_or_default()
    };
    let blob_config = match config.storage {
        StorageKind::Fs => BlobConfig::Fs {
            root: config.data_dir.join("files"),
        },
        StorageKind::S3 => BlobConfig::S3 {
            endpoint: config.s3_endpoint.clone(),
            bucket: config.s3_bucket.clone().unwrap_or_default(),
            region: config
                .s3_region
                .clone()
                .unwrap_or_else(|| "us-east-1".to_owned()),
            access_key_id: expose(&config.s3_access_key_id),
            secret_access_key: expose(&config.s3_secret_access_key),
        },
        StorageKind::Oss => BlobConfig::Oss {
            endpoint: config.oss_endpoint.clone().unwrap_or_default(),
            bucket: config.oss_bucket.clone().unwrap_or_default(),
            access_key_id: expose(&config.oss_access_key_id),
            access_key_secret: expose(&config.oss_access_key_secret),
        },
    };
    let blob = Blob::open(&blob_config).map_err(StartError::Storage)?;
    let settings = FileSettings::from(config);
    let upload_dir = settings.upload_dir.clone();
    Files::new(blob, settings).map_err(|source| StartError::UploadDir {
        path: upload_dir.display().to_string(),
        source,
    })
}

/// The follow-graph cache: Redis when `redis_url` is set (keys under
/// `roomy:<database instance id>:`), otherwise in-process.
async fn open_cache(
    config: &Config,
    store: &dyn roomy_store::Store,
) -> Result<Arc<dyn Cache>, StartError> {
    let Some(url) = &config.redis_url else {
        return Ok(Arc::new(InProcessCache::new(config.cache_max_members)));
    };
    let instance = store
        .instance_id()
        .await
        .map_err(|e| StartError::Backend(BackendError::Store(e)))?;
    let cache = RedisCache::connect(url.expose(), &format!("roomy:{instance}:"))
        .await
        .map_err(StartError::Cache)?;
    Ok(Arc::new(cache))
}

/// The bus `config` chooses ([`Config::bus`]). Each node's local buffer (and
/// a network bus's queues) absorbs bursts while the hub catches up; past it
/// the hub resyncs its connections rather than block writers.
async fn open_bus(config: &Config) -> Result<Arc<dyn Bus>, StartError> {
    const BUFFER: usize = 65_536;
    let options = || NetworkOptions {
        outgoing: BUFFER,
        incoming: BUFFER,
        local: BUFFER,
        ..NetworkOptions::new(&config.bus_channel)
    };
    let bus: Arc<dyn Bus> = match config.bus() {
        BusChoice::InProcess => Arc::new(InProcessBus::new(BUFFER)),
        BusChoice::Nats(url) => Arc::new(NetworkBus::nats(url, options()).await.map_err(
            |source| StartError::Bus {
                setting: "nats_url",
                source,
            },
        )?),
        BusChoice::Redis(url) => Arc::new(NetworkBus::redis(url, options()).await.map_err(
            |source| StartError::Bus {
                setting: "redis_url",
                source,
            },
        )?),
    };
    Ok(bus)
}

/// Serves on already-bound listeners until `shutdown` fires, then waits for
/// the requests in flight. Both listeners share `admission` (one process,
/// one open-files limit).
pub async fn run(
    listener: TcpListener,
    metrics_listener: Option<TcpListener>,
    state: AppState,
    limits: Limits,
    admission: Arc<Admission>,
    shutdown: CancellationToken,
) -> Result<(), StartError> {
    let metrics = metrics_listener.map(|ml| {
        let app = roomy_api::metrics_router(state.clone());
        tokio::spawn(http::serve(
            ml,
            app,
            limits.clone(),
            admission.clone(),
            shutdown.clone(),
        ))
    });
    let bus = state.app.bus.clone();
    let presence_node = state.presence.node();
    let app = roomy_api::router(state);
    http::serve(listener, app, limits, admission, shutdown).await;
    if let Some(m) = metrics {
        let _ = m.await;
    }
    // This node's users are offline for the other nodes now, not when its
    // lease would have run out.
    roomy_app::hand_back_lease(&*bus, presence_node).await;
    Ok(())
}

/// The admission of a server configured by `config`, within the open-files
/// limit now in force.
pub fn admission(config: &Config) -> Arc<Admission> {
    Admission::new(
        connection_budget(nofile_limit(), config.db_max_connections),
        config.max_connections_per_ip,
        config.connection_limit_loopback,
    )
}

async fn bind(addr: SocketAddr) -> Result<TcpListener, StartError> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| StartError::Bind { addr, source })
}

/// Builds everything from `config` and serves on its addresses until `shutdown`.
pub async fn serve(
    config: Config,
    clock: Arc<dyn Clock>,
    shutdown: CancellationToken,
) -> Result<(), StartError> {
    match raise_nofile_limit() {
        Ok(limit) => tracing::info!(open_files = limit, "open-files limit"),
        Err(e) => {
            tracing::warn!(error = %e, limit = nofile_limit(), "cannot raise the open-files limit")
        }
    }
    let state = build_state(&config, clock, shutdown.clone()).await?;
    let listener = bind(config.listen).await?;
    let metrics = match config.metrics_listen {
        Some(addr) => Some(bind(addr).await?),
        None => None,
    };
    let bound = listener.local_addr().map_err(StartError::Serve)?;
    let admission = admission(&config);
    tracing::info!(
        listen = %bound,
        max_connections = admission.budget(),
        database = config.effective_database_url().split(':').next().unwrap_or_default(),
        bus = config.bus().name(),
        data_dir = %config.data_dir.display(),
        "roomy is serving"
    );
    let limits = Limits::from_config(&config);
    run(listener, metrics, state, limits, admission, shutdown).await
}
