//! The server's configuration values and their defaults. Loading them (file,
//! environment, flags) is the server crate's job; this is only the shape.

use serde::{Deserialize, Serialize};
use std::{fmt, net::SocketAddr, path::PathBuf};

/// Every setting, with the embedded defaults (the README's Configuration table lists them).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Address of the main HTTP listener.
    pub listen: SocketAddr,
    /// Folder for the SQLite database, the signing key and (later) files.
    pub data_dir: PathBuf,
    /// `sqlite://...` or `postgres://...`; unset means SQLite in `data_dir`.
    pub database_url: Option<Redacted>,
    /// Serve `/metrics` on this separate listener instead of the main one.
    pub metrics_listen: Option<SocketAddr>,
    /// Bearer token that opens `/metrics` on the main listener to clients
    /// other than loopback; unset: loopback only.
    pub metrics_token: Option<Redacted>,
    /// Access-token lifetime; tokens past half of it are renewed.
    pub token_ttl_secs: u64,
    /// HS256 signing secret shared by all nodes; unset means a random one kept in `data_dir`.
    pub jwt_secret: Option<Redacted>,
    /// Largest accepted JSON request body.
    pub max_json_bytes: usize,
    /// SQLite durability: `full` survives power loss, `normal` survives a process crash.
    pub sqlite_synchronous: SqliteSynchronous,
    /// Upper bound of the database connection pool.
    pub db_max_connections: u32,
    /// `text` for people, `json` for log collectors.
    pub log_format: LogFormat,
    /// Longest text message body, in characters (after trimming).
    pub max_message_chars: usize,
    /// Largest number of members of a group.
    pub max_group_members: usize,
    /// Most messages committed together in one group commit.
    pub write_batch_max: usize,
    /// Seconds between WebSocket pings; a connection silent for two intervals is dropped.
    pub ws_heartbeat_secs: u64,
    /// Frames queued for one WebSocket connection before it is told to resync and closed.
    pub ws_send_queue: usize,
    /// `redis://...`: the follow-graph cache lives in Redis (shared by all
    /// nodes); unset means an in-process cache. With PostgreSQL and no
    /// `nats_url`, Redis pub/sub is also the bus between nodes.
    pub redis_url: Option<Redacted>,
    /// `nats://...`: events cross between nodes over this NATS server (core
    /// pub/sub); unset: Redis (see `redis_url`) or in-process (one node).
    pub nats_url: Option<Redacted>,
    /// The name the nodes of one cluster share on the bus server, so several
    /// clusters can use one server.
    pub bus_channel: String,
    /// With a network bus and `storage = "fs"`: the files folder
    /// (`data_dir/files`) and the upload folder are on storage every node
    /// mounts, so nodes may serve each other's files.
    pub shared_files: bool,
    /// Follow-set members the in-process cache holds before evicting users.
    pub cache_max_members: u64,
    /// Who may open direct rooms and send in them: `friends` or `anyone`.
    pub direct_messages: crate::social_fields::DirectPolicy,
    /// How long after sending a sender may revoke a message (seconds).
    pub revoke_window_secs: u64,
    /// Seconds a user whose last WebSocket closed still counts as online, so
    /// a quick reconnect announces nothing.
    pub presence_grace_secs: u64,
    /// The address clients reach this server at (`https://chat.example.com`),
    /// which invite links and their QR codes carry; unset means `http://<listen>`.
    pub public_url: Option<String>,
    /// Where files live: `fs` (under `data_dir/files`), `s3` or `oss`.
    pub storage: StorageKind,
    /// S3-compatible endpoint (`https://s3.eu-west-1.amazonaws.com`, a MinIO URL, ...).
    pub s3_endpoint: Option<String>,
    /// S3 bucket.
    pub s3_bucket: Option<String>,
    /// S3 region (`us-east-1` when unset).
    pub s3_region: Option<String>,
    /// S3 access key id.
    pub s3_access_key_id: Option<Redacted>,
    /// S3 secret access key.
    pub s3_secret_access_key: Option<Redacted>,
    /// Aliyun OSS endpoint (`https://oss-cn-hangzhou.aliyuncs.com`).
    pub oss_endpoint: Option<String>,
    /// Aliyun OSS bucket.
    pub oss_bucket: Option<String>,
    /// Aliyun OSS access key id.
    pub oss_access_key_id: Option<Redacted>,
    /// Aliyun OSS access key secret.
    pub oss_access_key_secret: Option<Redacted>,
    /// Folder where resumable uploads are assembled; unset means `data_dir/uploads`.
    /// Nodes that share uploads share this folder.
    pub upload_dir: Option<PathBuf>,
    /// Largest file accepted, in bytes; refused before any byte is stored.
    pub max_upload_bytes: u64,
    /// Bytes each user may keep in files and unfinished uploads.
    pub user_quota_bytes: u64,
    /// Seconds an unfinished upload lives after its last chunk.
    pub upload_expiry_secs: u64,
    /// The ffmpeg program that makes video covers; videos get none when it cannot run.
    pub ffmpeg: PathBuf,
    /// Background job runners on this node (thumbnails, covers, upload expiry); 0 runs none.
    pub job_workers: usize,
    /// Reverse proxies (addresses or CIDRs) whose `X-Forwarded-For` names the client; none by default.
    #[serde(deserialize_with = "list_or_commas")]
    pub trusted_proxies: Vec<String>,
    /// Failed logins per minute for one account from one address before 429 (3x per address over all accounts).
    pub login_failures_per_minute: u32,
    /// Failed logins per hour for one account from every address together (its owner's known addresses are exempt).
    pub login_failures_per_hour: u32,
    /// Accounts registered per hour from one address (0: no limit).
    pub registrations_per_hour: u32,
    /// Guest accounts created per hour from one address (0: no limit).
    pub guests_per_hour: u32,
    /// Bytes each guest may keep in files and unfinished uploads.
    pub guest_quota_bytes: u64,
    /// Seconds a guest account may go unused before it is retired with its files (0: never).
    pub guest_ttl_secs: u64,
    /// Longest a session lives from its login, however often its token is renewed.
    pub session_max_age_secs: u64,
    /// Messages one user may send per second, sustained (0: no limit).
    pub sends_per_sec: u32,
    /// Messages one user may send in a burst above the sustained rate.
    pub send_burst: u32,
    /// Friend requests one user may send per hour (0: no limit).
    pub friend_requests_per_hour: u32,
    /// User searches one user may run per minute (0: no limit).
    pub searches_per_minute: u32,
    /// Syncs one user may run per minute, HTTP and WebSocket together (0: no limit).
    pub syncs_per_minute: u32,
    /// Seconds a client has to send a whole request head, from the connection's
    /// opening or from the first byte of the head.
    pub http_header_timeout_secs: u64,
    /// Seconds an HTTP connection may wait for its next request before it is closed.
    pub http_idle_timeout_secs: u64,
    /// Largest request head (request line and headers), in bytes; larger ones get 431.
    pub http_max_header_bytes: usize,
    /// Open connections per client address (0: no cap); loopback addresses
    /// are exempt unless `connection_limit_loopback`.
    pub max_connections_per_ip: usize,
    /// Whether `max_connections_per_ip` applies to loopback addresses too.
    pub connection_limit_loopback: bool,
    /// Live WebSocket connections per user on this node (0: no cap).
    pub ws_max_connections_per_user: usize,
    /// Seconds a client has to finish a WebSocket message once its first byte arrived.
    pub ws_message_timeout_secs: u64,
}

impl Config {
    /// Keys accepted in `roomy.toml` and (upper-cased, prefixed with `ROOMY_`) in the environment.
    pub const KEYS: &'static [&'static str] = &[
        "listen",
        "data_dir",
        "database_url",
        "metrics_listen",
        "metrics_token",
        "token_ttl_secs",
        "jwt_secret",
        "max_json_bytes",
        "sqlite_synchronous",
        "db_max_connections",
        "log_format",
        "max_message_chars",
        "max_group_members",
        "write_batch_max",
        "ws_heartbeat_secs",
        "ws_send_queue",
        "redis_url",
        "nats_url",
        "bus_channel",
        "shared_files",
        "cache_max_members",
        "direct_messages",
        "revoke_window_secs",
        "presence_grace_secs",
        "public_url",
        "storage",
        "s3_endpoint",
        "s3_bucket",
        "s3_region",
        "s3_access_key_id",
        "s3_secret_access_key",
        "oss_endpoint",
        "oss_bucket",
        "oss_access_key_id",
        "oss_access_key_secret",
        "upload_dir",
        "max_upload_bytes",
        "user_quota_bytes",
        "upload_expiry_secs",
        "ffmpeg",
        "job_workers",
        "trusted_proxies",
        "login_failures_per_minute",
        "login_failures_per_hour",
        "registrations_per_hour",
        "guests_per_hour",
        "guest_quota_bytes",
        "guest_ttl_secs",
        "session_max_age_secs",
        "sends_per_sec",
        "send_burst",
        "friend_requests_per_hour",
        "searches_per_minute",
        "syncs_per_minute",
        "http_header_timeout_secs",
        "http_idle_timeout_secs",
        "http_max_header_bytes",
        "max_connections_per_ip",
        "connection_limit_loopback",
        "ws_max_connections_per_user",
        "ws_message_timeout_secs",
    ];

    /// The database URL in effect: the configured one, or SQLite in the data folder.
    pub fn effective_database_url(&self) -> String {
        match &self.database_url {
            Some(url) => url.expose().to_owned(),
            None => format!(
                "sqlite://{}?mode=rwc",
                self.data_dir.join("roomy.db").display()
            ),
        }
    }

    /// The public URL in effect: the configured one, or `http://<listen>`.
    pub fn effective_public_url(&self) -> String {
        match &self.public_url {
            Some(url) => url.clone(),
            None => format!("http://{}", self.listen),
        }
    }

    /// The folder resumable uploads are assembled in.
    pub fn effective_upload_dir(&self) -> PathBuf {
        self.upload_dir
            .clone()
            .unwrap_or_else(|| self.data_dir.join("uploads"))
    }

    /// The networks of `trusted_proxies` (a bare address is a /32 or /128).
    pub fn trusted_proxy_nets(&self) -> Result<Vec<ipnet::IpNet>, String> {
        self.trusted_proxies
            .iter()
            .map(|s| {
                let s = s.trim();
                s.parse::<ipnet::IpNet>()
                    .or_else(|_| s.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
                    .map_err(|_| {
                        format!("trusted_proxies: {s:?} is not an IP address or CIDR network")
                    })
            })
            .collect()
    }

    /// The bus in effect: NATS when `nats_url` is set; else Redis when
    /// `redis_url` is set and the database is not SQLite; else in-process.
    ///
    /// `redis_url` named only the follow-graph cache before there was a
    /// network bus, and SQLite with a Redis cache is a working setup (and a
    /// tested one): SQLite is one node's database, so a bus to other nodes
    /// would serve nobody there, and would make such a node refuse to start
    /// (see [`check_cluster`](Self::check_cluster)). With PostgreSQL, a
    /// Redis URL is what several nodes share, so it carries the bus as well.
    pub fn bus(&self) -> BusChoice<'_> {
        if let Some(url) = &self.nats_url {
            return BusChoice::Nats(url.expose());
        }
        match &self.redis_url {
            Some(url) if !self.database_is_sqlite() => BusChoice::Redis(url.expose()),
            _ => BusChoice::InProcess,
        }
    }

    /// Whether the database in effect is SQLite.
    fn database_is_sqlite(&self) -> bool {
        self.effective_database_url().starts_with("sqlite:")
    }

    /// Refuses a node that joins others over a network bus in a way that
    /// cannot work: every node must reach the same database, the same files
    /// and the same token secret.
    pub fn check_cluster(&self) -> Result<(), String> {
        let bus = match self.bus() {
            BusChoice::InProcess => return Ok(()),
            BusChoice::Nats(_) => "nats_url",
            BusChoice::Redis(_) => "redis_url (with PostgreSQL, Redis is the bus between nodes)",
        };
        if self.database_is_sqlite() {
            return Err(format!(
                "{bus} makes this node one of several, but the database is SQLite, which only \
                 this node can use: set database_url to a PostgreSQL database all nodes share, \
                 or unset nats_url to run one node"
            ));
        }
        if self.storage == StorageKind::Fs && !self.shared_files {
            return Err(format!(
                "{bus} makes this node one of several, but storage = \"fs\" keeps files on \
                 this node's disk: use storage = \"s3\" or \"oss\", or set shared_files = true \
                 if <data_dir>/files and the upload folder (upload_dir) are on storage every \
                 node mounts"
            ));
        }
        if self.jwt_secret.is_none() {
            return Err(format!(
                "{bus} makes this node one of several, but jwt_secret is unset: each node \
                 would sign tokens with a random secret of its own and refuse the others'; \
                 set the same jwt_secret (at least 32 bytes) on every node"
            ));
        }
        Ok(())
    }

    /// Rejects values no server could run with.
    pub fn check(&self) -> Result<(), String> {
        if self
            .metrics_token
            .as_ref()
            .is_some_and(|t| t.expose().len() < 16)
        {
            return Err("metrics_token must be at least 16 characters".into());
        }
        // Lifetimes beyond this only overflow date arithmetic; "never" is 0.
        const TEN_YEARS: u64 = 10 * 366 * 24 * 3600;
        if self.session_max_age_secs > TEN_YEARS || self.guest_ttl_secs > TEN_YEARS {
            return Err(
                "session_max_age_secs and guest_ttl_secs must be at most ten years (315100800)"
                    .into(),
            );
        }
        self.trusted_proxy_nets()?;
        if self.login_failures_per_minute == 0 || self.login_failures_per_hour == 0 {
            return Err(
                "login_failures_per_minute and login_failures_per_hour must be positive".into(),
            );
        }
        if self.sends_per_sec > 0 && self.send_burst == 0 {
            return Err("send_burst must be positive when sends_per_sec is".into());
        }
        if self.session_max_age_secs < 60 {
            return Err("session_max_age_secs must be at least 60".into());
        }
        if self.token_ttl_secs < 60 {
            return Err("token_ttl_secs must be at least 60".into());
        }
        if self.max_json_bytes < 1024 {
            return Err("max_json_bytes must be at least 1024".into());
        }
        if self.max_message_chars == 0 || self.max_group_members < 2 {
            return Err(
                "max_message_chars must be positive and max_group_members at least 2".into(),
            );
        }
        // A connection's queue must hold the acks of all its sends in flight (64).
        if self.write_batch_max == 0 || self.ws_send_queue < 128 || self.ws_heartbeat_secs == 0 {
            return Err(
                "write_batch_max and ws_heartbeat_secs must be positive, ws_send_queue at least 128"
                    .into(),
            );
        }
        if self.redis_url.as_ref().is_some_and(|u| {
            !u.expose().starts_with("redis://") && !u.expose().starts_with("rediss://")
        }) {
            return Err("redis_url must start with redis:// or rediss://".into());
        }
        if self.nats_url.as_ref().is_some_and(|u| {
            !u.expose().starts_with("nats://") && !u.expose().starts_with("tls://")
        }) {
            return Err("nats_url must start with nats:// or tls://".into());
        }
        check_bus_channel(&self.bus_channel)?;
        self.check_cluster()?;
        if self.revoke_window_secs > 7 * 24 * 3600 {
            return Err("revoke_window_secs must be at most 604800 (a week)".into());
        }
        if self.db_max_connections == 0 {
            return Err("db_max_connections must be at least 1".into());
        }
        if self
            .jwt_secret
            .as_ref()
            .is_some_and(|s| s.expose().len() < 32)
        {
            return Err("jwt_secret must be at least 32 bytes".into());
        }
        if let Some(url) = &self.public_url {
            check_public_url(url)?;
        }
        if self.max_upload_bytes == 0 || self.max_upload_bytes > 1 << 40 {
            return Err("max_upload_bytes must be between 1 and 1 TiB".into());
        }
        if self.upload_expiry_secs < 60 {
            return Err("upload_expiry_secs must be at least 60".into());
        }
        fn missing(what: &[(&'static str, bool)]) -> Vec<&'static str> {
            what.iter()
                .filter(|(_, set)| !set)
                .map(|(k, _)| *k)
                .collect()
        }
        let unset = match self.storage {
            StorageKind::Fs => vec![],
            StorageKind::S3 => missing(&[
                ("s3_bucket", self.s3_bucket.is_some()),
                ("s3_access_key_id", self.s3_access_key_id.is_some()),
                ("s3_secret_access_key", self.s3_secret_access_key.is_some()),
            ]),
            StorageKind::Oss => missing(&[
                ("oss_endpoint", self.oss_endpoint.is_some()),
                ("oss_bucket", self.oss_bucket.is_some()),
                ("oss_access_key_id", self.oss_access_key_id.is_some()),
                (
                    "oss_access_key_secret",
                    self.oss_access_key_secret.is_some(),
                ),
            ]),
        };
        if !unset.is_empty() {
            return Err(format!(
                "storage {:?} needs {}",
                self.storage,
                unset.join(", ")
            ));
        }
        if self.http_header_timeout_secs == 0
            || self.http_idle_timeout_secs == 0
            || self.ws_message_timeout_secs == 0
        {
            return Err(
                "http_header_timeout_secs, http_idle_timeout_secs and ws_message_timeout_secs must be positive"
                    .into(),
            );
        }
        if !(4096..=1 << 20).contains(&self.http_max_header_bytes) {
            return Err("http_max_header_bytes must be between 4096 and 1048576".into());
        }
        Ok(())
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            data_dir: PathBuf::from("./roomy-data"),
            database_url: None,
            metrics_listen: None,
            metrics_token: None,
            token_ttl_secs: 86_400,
            jwt_secret: None,
            max_json_bytes: 1024 * 1024,
            sqlite_synchronous: SqliteSynchronous::Full,
            db_max_connections: 16,
            log_format: LogFormat::Text,
            max_message_chars: 10_000,
            max_group_members: 2_000,
            write_batch_max: 4_096,
            ws_heartbeat_secs: 30,
            ws_send_queue: 1_024,
            redis_url: None,
            nats_url: None,
            bus_channel: "roomy".to_owned(),
            shared_files: false,
            cache_max_members: 4_000_000,
            direct_messages: crate::social_fields::DirectPolicy::Friends,
            revoke_window_secs: 300,
            presence_grace_secs: 5,
            public_url: None,
            storage: StorageKind::Fs,
            s3_endpoint: None,
            s3_bucket: None,
            s3_region: None,
            s3_access_key_id: None,
            s3_secret_access_key: None,
            oss_endpoint: None,
            oss_bucket: None,
            oss_access_key_id: None,
            oss_access_key_secret: None,
            upload_dir: None,
            max_upload_bytes: 2 * 1024 * 1024 * 1024,
            user_quota_bytes: 20 * 1024 * 1024 * 1024,
            upload_expiry_secs: 86_400,
            ffmpeg: PathBuf::from("ffmpeg"),
            job_workers: 1,
            trusted_proxies: Vec::new(),
            login_failures_per_minute: 10,
            login_failures_per_hour: 100,
            registrations_per_hour: 20,
            guests_per_hour: 60,
            guest_quota_bytes: 50 * 1024 * 1024,
            guest_ttl_secs: 7 * 24 * 3600,
            session_max_age_secs: 30 * 24 * 3600,
            sends_per_sec: 200,
            send_burst: 600,
            friend_requests_per_hour: 100,
            searches_per_minute: 120,
            syncs_per_minute: 240,
            http_header_timeout_secs: 10,
            http_idle_timeout_secs: 75,
            http_max_header_bytes: 32 * 1024,
            max_connections_per_ip: 256,
            connection_limit_loopback: false,
            ws_max_connections_per_user: 32,
            ws_message_timeout_secs: 30,
        }
    }
}

/// An http(s) URL of a host (and maybe a path) that `/invite/<token>` can be
/// appended to: no trailing slash, query, fragment or credentials.
fn check_public_url(s: &str) -> Result<(), String> {
    let bad = |why: &str| {
        Err(format!(
            "public_url must be an http(s) URL {why} (got {s:?})"
        ))
    };
    let Ok(url) = url::Url::parse(s) else {
        return bad("such as https://chat.example.com");
    };
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none_or(str::is_empty) {
        return bad("with a host, such as https://chat.example.com");
    }
    if s.ends_with('/') {
        return bad("without a trailing slash");
    }
    if url.query().is_some() || url.fragment().is_some() || s.contains(char::is_whitespace) {
        return bad("without a query, fragment or spaces");
    }
    if !url.username().is_empty() || url.password().is_some() {
        return bad("without credentials");
    }
    Ok(())
}

/// A name usable as a NATS subject token and in a Redis channel: letters,
/// digits, `-` and `_`, in dot-separated parts.
fn check_bus_channel(s: &str) -> Result<(), String> {
    let part_ok = |p: &str| {
        !p.is_empty()
            && p.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    };
    if s.len() > 100 || !s.split('.').all(part_ok) {
        return Err(format!(
            "bus_channel must be letters, digits, '-' and '_' in dot-separated parts, at most 100 characters (got {s:?})"
        ));
    }
    Ok(())
}

/// A list, or one string of comma-separated items (as an environment
/// variable naturally is: `ROOMY_TRUSTED_PROXIES=10.0.0.1,10.1.0.0/16`).
fn list_or_commas<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum ListOrCommas {
        List(Vec<String>),
        One(String),
    }
    Ok(match ListOrCommas::deserialize(d)? {
        ListOrCommas::List(l) => l,
        ListOrCommas::One(s) => s
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect(),
    })
}

/// Which bus carries events between nodes ([`Config::bus`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BusChoice<'a> {
    /// One node: events stay in the process.
    InProcess,
    /// NATS core pub/sub at this URL.
    Nats(&'a str),
    /// Redis pub/sub at this URL.
    Redis(&'a str),
}

impl BusChoice<'_> {
    /// A short name for logs.
    pub fn name(self) -> &'static str {
        match self {
            BusChoice::InProcess => "in-process",
            BusChoice::Nats(_) => "nats",
            BusChoice::Redis(_) => "redis",
        }
    }
}

/// SQLite's `synchronous` pragma, as far as Roomy lets it be chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SqliteSynchronous {
    /// fsync on every commit: an acknowledged write survives a power loss.
    Full,
    /// fsync at checkpoints: survives a process crash, may lose the last commits on power loss.
    Normal,
}

/// Where files are stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StorageKind {
    /// Local disk under the data folder.
    Fs,
    /// An S3-compatible object store.
    S3,
    /// Aliyun OSS.
    Oss,
}

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

/// A string that must not appear in logs or `Debug` output (secrets, URLs with passwords).
///
/// On the wire and in files it is the plain string (`serde(transparent)`), so
/// a field can hold one without changing its JSON; OpenAPI fields holding one
/// say `#[schema(value_type = String)]`. It has no `Display`: formatting the
/// secret takes an explicit [`expose`](Self::expose).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Redacted(String);

impl Redacted {
    /// Wraps a secret value.
    pub fn new(s: impl Into<String>) -> Self {
        Redacted(s.into())
    }

    /// The secret itself.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Redacted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

// Code that consumes a secret (hashing a password, writing a header) takes
// `&str`; deref lets it read one as it read the plain `String` before, while
// `Debug` and the absent `Display` still keep it out of logs.
impl std::ops::Deref for Redacted {
    type Target = str;

    fn deref(&self) -> &str {
        &self.0
    }
}

impl From<String> for Redacted {
    fn from(s: String) -> Self {
        Redacted(s)
    }
}

/// Parsing never fails: it is how command-line flags become secrets.
impl std::str::FromStr for Redacted {
    type Err = std::convert::Infallible;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Redacted::new(s))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_match_the_contract() {
        let c = Config::default();
        assert_eq!(c.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(c.token_ttl_secs, 86_400);
        assert!(
            c.effective_database_url()
                .starts_with("sqlite://./roomy-data/roomy.db")
        );
        assert!(c.check().is_ok());
    }

    #[test]
    fn public_urls_are_http_without_a_trailing_slash() {
        let with = |url: &str| Config {
            public_url: Some(url.to_owned()),
            ..Config::default()
        };
        assert_eq!(
            Config::default().effective_public_url(),
            "http://127.0.0.1:8080"
        );
        for good in [
            "https://chat.example.com",
            "http://10.0.0.5:8080",
            "https://example.com/roomy",
        ] {
            assert!(with(good).check().is_ok(), "{good}");
            assert_eq!(with(good).effective_public_url(), good);
        }
        for bad in [
            "https://chat.example.com/",
            "ftp://chat.example.com",
            "chat.example.com",
            "https://",
            "https://chat.example.com?x=1",
            "https://chat.example.com#top",
            "https://user:pw@chat.example.com",
            "",
        ] {
            let err = with(bad).check().expect_err(bad);
            assert!(err.contains("public_url"), "{err}");
        }
    }

    #[test]
    fn trusted_proxies_are_addresses_or_networks() {
        let with = |list: &[&str]| Config {
            trusted_proxies: list.iter().map(|s| (*s).to_owned()).collect(),
            ..Config::default()
        };
        let nets = with(&["10.0.0.1", "10.1.0.0/16", "::1"])
            .trusted_proxy_nets()
            .expect("valid");
        assert_eq!(nets.len(), 3);
        assert!(nets[0].contains(&"10.0.0.1".parse::<std::net::IpAddr>().expect("ip")));
        assert!(!nets[0].contains(&"10.0.0.2".parse::<std::net::IpAddr>().expect("ip")));
        assert!(nets[1].contains(&"10.1.9.9".parse::<std::net::IpAddr>().expect("ip")));
        let err = with(&["proxy.example.com"])
            .check()
            .expect_err("not an address");
        assert!(err.contains("trusted_proxies"), "{err}");
    }

    /// A node of a working cluster: PostgreSQL, S3, one secret, NATS.
    fn cluster_node() -> Config {
        Config {
            database_url: Some(Redacted::new("postgres://roomy@db/roomy")),
            storage: StorageKind::S3,
            s3_bucket: Some("files".into()),
            s3_access_key_id: Some(Redacted::new("id")),
            s3_secret_access_key: Some(Redacted::new("key")),
            jwt_secret: Some(Redacted::new("0123456789abcdef0123456789abcdef")),
            nats_url: Some(Redacted::new("nats://10.0.0.2:4222")),
            ..Config::default()
        }
    }

    #[test]
    fn the_bus_is_nats_then_redis_with_postgres_then_in_process() {
        let redis = Some(Redacted::new("redis://cache:6379"));
        assert_eq!(Config::default().bus(), BusChoice::InProcess);
        let both = Config {
            redis_url: redis.clone(),
            ..cluster_node()
        };
        assert_eq!(both.bus(), BusChoice::Nats("nats://10.0.0.2:4222"));
        let redis_pg = Config {
            nats_url: None,
            ..both.clone()
        };
        assert_eq!(redis_pg.bus(), BusChoice::Redis("redis://cache:6379"));
        assert!(redis_pg.check().is_ok());
        // SQLite with a Redis cache stays one node with an in-process bus.
        let redis_sqlite = Config {
            redis_url: redis,
            ..Config::default()
        };
        assert_eq!(redis_sqlite.bus(), BusChoice::InProcess);
        assert!(redis_sqlite.check().is_ok());
        assert!(cluster_node().check().is_ok());
    }

    #[test]
    fn a_network_bus_with_sqlite_is_refused() {
        let c = Config {
            database_url: None,
            ..cluster_node()
        };
        let err = c.check().expect_err("SQLite is one node's");
        assert!(err.contains("nats_url") && err.contains("SQLite"), "{err}");
        let explicit = Config {
            database_url: Some(Redacted::new("sqlite:///srv/roomy.db")),
            ..cluster_node()
        };
        assert!(explicit.check_cluster().is_err());
    }

    #[test]
    fn a_network_bus_with_files_on_local_disk_needs_shared_files() {
        let local = Config {
            storage: StorageKind::Fs,
            ..cluster_node()
        };
        let err = local.check().expect_err("files on one node's disk");
        assert!(
            err.contains("storage = \"fs\"") && err.contains("shared_files"),
            "{err}"
        );
        let shared = Config {
            shared_files: true,
            ..local.clone()
        };
        assert!(shared.check().is_ok());
        // The Redis bus is held to the same rule.
        let redis = Config {
            nats_url: None,
            redis_url: Some(Redacted::new("redis://cache:6379")),
            ..local
        };
        let err = redis.check().expect_err("files on one node's disk");
        assert!(
            err.contains("redis_url") && err.contains("shared_files"),
            "{err}"
        );
    }

    #[test]
    fn a_network_bus_needs_a_shared_jwt_secret() {
        let c = Config {
            jwt_secret: None,
            ..cluster_node()
        };
        let err = c.check().expect_err("each node its own secret");
        assert!(err.contains("jwt_secret"), "{err}");
    }

    #[test]
    fn bus_urls_and_channels_are_checked() {
        let nats = |url: &str| Config {
            nats_url: Some(Redacted::new(url)),
            ..cluster_node()
        };
        assert!(nats("tls://nats.example.com:4222").check().is_ok());
        let err = nats("http://nats:4222").check().expect_err("not NATS");
        assert!(err.contains("nats_url"), "{err}");
        let channel = |name: &str| Config {
            bus_channel: name.to_owned(),
            ..Config::default()
        };
        for good in ["roomy", "prod-eu_1", "team.chat"] {
            assert!(channel(good).check().is_ok(), "{good}");
        }
        for bad in ["", "a b", "roomy.*", "roomy.>", "a..b", ".roomy", "roomy:x"] {
            let err = channel(bad).check().expect_err(bad);
            assert!(err.contains("bus_channel"), "{err}");
        }
    }

    #[test]
    fn secrets_do_not_leak_through_debug() {
        let c = Config {
            jwt_secret: Some(Redacted::new("s3cr3t-s3cr3t-s3cr3t-s3cr3t-s3cr3t")),
            database_url: Some(Redacted::new("postgres://u:hunter2@db/x")),
            ..Config::default()
        };
        let dbg = format!("{c:?}");
        assert!(!dbg.contains("s3cr3t") && !dbg.contains("hunter2"));
    }
}
