//! Configuration loading: defaults < `roomy.toml` < environment (`ROOMY_*`) <
//! command-line flags, and the commented example `roomy print-config` prints.

use figment::{
    Figment,
    providers::{Env, Format, Serialized, Toml},
};
use roomy_core::Config;
use serde::Serialize;
use std::{net::SocketAddr, path::PathBuf};

/// Settings given as command-line flags; `None` leaves lower layers in force.
#[derive(Debug, Clone, Default, Serialize)]
pub struct FlagOverrides {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub listen: Option<SocketAddr>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data_dir: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub database_url: Option<roomy_core::config::Redacted>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metrics_listen: Option<SocketAddr>,
}

/// Why the configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("configuration file {0} does not exist")]
    MissingFile(PathBuf),
    #[error("invalid configuration: {0}")]
    Invalid(#[from] Box<figment::Error>),
    #[error("invalid configuration: {0}")]
    Rule(String),
}

/// Loads the layered configuration. `file` is an explicit `--config` path
/// (it must exist); otherwise `ROOMY_CONFIG`, else `./roomy.toml` if present.
pub fn load(file: Option<PathBuf>, flags: &FlagOverrides) -> Result<Config, ConfigError> {
    let explicit = file.or_else(|| std::env::var_os("ROOMY_CONFIG").map(PathBuf::from));
    let mut figment = Figment::from(Serialized::defaults(Config::default()));
    match explicit {
        Some(path) if !path.exists() => return Err(ConfigError::MissingFile(path)),
        Some(path) => figment = figment.merge(Toml::file_exact(path)),
        None if PathBuf::from("roomy.toml").exists() => {
            figment = figment.merge(Toml::file_exact("roomy.toml"))
        }
        None => {}
    }
    let config: Config = figment
        .merge(Env::prefixed("ROOMY_").only(Config::KEYS))
        .merge(Serialized::defaults(flags))
        .extract()
        .map_err(Box::new)?;
    config.check().map_err(ConfigError::Rule)?;
    Ok(config)
}

/// A commented `roomy.toml` showing every key with its default.
pub fn example() -> String {
    let d = Config::default();
    format!(
        r#"# roomy.toml: Roomy's configuration. Every key can also be set in the
# environment as ROOMY_<KEY> (for example ROOMY_LISTEN), and some as flags
# (roomy --help). Flags win over the environment, which wins over this file,
# which wins over the built-in defaults shown here.

# Address of the HTTP listener (API, WebSocket gateway, web client).
listen = "{listen}"

# Folder for the SQLite database, the token signing key and uploaded files.
data_dir = "{data_dir}"

# Database. Unset: SQLite at <data_dir>/roomy.db. For PostgreSQL:
# database_url = "postgres://roomy@127.0.0.1:5432/roomy"

# Serve /metrics on a separate listener instead of the main one.
# metrics_listen = "127.0.0.1:9090"

# On the main listener /metrics answers loopback clients only; with this
# token it also answers "Authorization: Bearer <token>" from anywhere.
# metrics_token = "a long random string"

# Access-token lifetime in seconds. Tokens past half of it are renewed in
# the Authorization header of the next response.
token_ttl_secs = {ttl}

# Secret for signing tokens (at least 32 bytes); all nodes of a cluster must
# share it. Unset: a random secret is generated once into <data_dir>/jwt-secret.
# jwt_secret = "..."

# Largest JSON request body, in bytes.
max_json_bytes = {json}

# SQLite durability: "full" (an acknowledged write survives a power loss) or
# "normal" (survives a crash of the process, not of the machine).
sqlite_synchronous = "full"

# Largest number of database connections.
db_max_connections = {conns}

# Log format: "text" or "json".
log_format = "text"

# Longest text message, in characters after trimming.
max_message_chars = {max_chars}

# Largest number of members of a group.
max_group_members = {max_members}

# Most messages committed together in one group commit (one fsync).
write_batch_max = {batch}

# Seconds between WebSocket pings; a connection silent for two intervals is dropped.
ws_heartbeat_secs = {heartbeat}

# Frames queued for one WebSocket connection before it is told to resync and closed.
ws_send_queue = {queue}

# Cache of the follow graph. Unset: in-process (one node). Set it to share
# one cache between nodes:
# redis_url = "redis://127.0.0.1:6379"
# With PostgreSQL (and no nats_url), Redis pub/sub is also the bus between
# nodes; Redis 6 or newer.

# The bus that carries events between nodes: NATS core pub/sub. Unset: Redis
# (above) or in-process (one node). A node on a network bus refuses to start
# with SQLite, without jwt_secret, or with storage = "fs" unless shared_files.
# nats_url = "nats://127.0.0.1:4222"

# The name the nodes of one cluster share on the NATS or Redis server
# (subject <bus_channel>.events, channel <bus_channel>:events), so several
# clusters can share one server.
bus_channel = "{bus_channel}"

# With a network bus and storage = "fs": <data_dir>/files and the upload
# folder are on storage every node mounts (NFS, a cluster file system).
shared_files = false

# Follow-set members the in-process cache holds before evicting users.
cache_max_members = {cache_members}

# Who may open a direct conversation and write in it: "friends" (after a
# friend request was agreed) or "anyone". A block always stops it.
direct_messages = "friends"

# Seconds after sending during which a sender may revoke a message
# (0: never). Judged by the server's clock.
revoke_window_secs = {revoke}

# Seconds a user whose last WebSocket connection closed still counts as
# online: reconnecting within them announces nothing to the others.
presence_grace_secs = {presence_grace}

# The address clients reach this server at, without a trailing slash: invite
# links (and their QR codes) are <public_url>/invite/<token>. Unset:
# http://<listen>, which only suits a server used where it runs.
# public_url = "https://chat.example.com"

# Where files live: "fs" (under <data_dir>/files), "s3" or "oss". An object
# store needs its bucket and keys:
storage = "fs"
# s3_endpoint = "https://s3.eu-west-1.amazonaws.com"
# s3_bucket = "roomy-files"
# s3_region = "eu-west-1"
# s3_access_key_id = "..."
# s3_secret_access_key = "..."
# oss_endpoint = "https://oss-cn-hangzhou.aliyuncs.com"
# oss_bucket = "roomy-files"
# oss_access_key_id = "..."
# oss_access_key_secret = "..."

# Where resumable uploads are assembled; nodes that share uploads share it.
# Unset: <data_dir>/uploads.
# upload_dir = "/srv/roomy/uploads"

# Largest file accepted, in bytes (refused before any byte is stored).
max_upload_bytes = {max_upload}

# Bytes each user may keep in files and unfinished uploads.
user_quota_bytes = {quota}

# Seconds an unfinished upload lives after its last chunk.
upload_expiry_secs = {expiry}

# The ffmpeg program that takes video cover frames; without it, videos have no cover.
ffmpeg = "{ffmpeg}"

# Background runners on this node for thumbnails, covers and upload expiry (0: none).
job_workers = {workers}

# Reverse proxies (addresses or CIDR networks) in front of this server. Only
# when the connecting peer is one of them is X-Forwarded-For read, from the
# right: the first address that is not a trusted proxy is the client's.
# Unset: the TCP peer is the client (behind a proxy, everyone would share
# the proxy's address for login and sign-up limits).
# trusted_proxies = ["127.0.0.1", "10.0.0.0/8"]

# Failed logins per minute for one account from one address before it is
# refused there (429); one address over all accounts gets three times that.
login_failures_per_minute = {login_minute}

# Failed logins per hour for one account from all addresses together; the
# addresses its owner logged in from in the last 30 days are exempt.
login_failures_per_hour = {login_hour}

# Accounts registered, and guest accounts created, per hour from one
# address (0: no limit).
registrations_per_hour = {registrations}
guests_per_hour = {guests}

# Bytes each guest may keep in files and unfinished uploads.
guest_quota_bytes = {guest_quota}

# Seconds a guest account may go unused before it is retired: disabled,
# renamed "Former guest", its sessions and files deleted (0: never).
guest_ttl_secs = {guest_ttl}

# Longest a session lives from its login, however often its token is renewed.
session_max_age_secs = {session_max_age}

# Per-user limits (0: no limit). Messages: a burst of send_burst, then
# sends_per_sec sustained, over HTTP and the WebSocket together.
sends_per_sec = {sends}
send_burst = {send_burst}
friend_requests_per_hour = {friend_requests}
searches_per_minute = {searches}
syncs_per_minute = {syncs}
# Seconds a client has to send a whole request head (request line and
# headers), counted from the connection's opening or from the head's first byte.
http_header_timeout_secs = {header_timeout}

# Seconds a kept-alive HTTP connection may wait for its next request.
http_idle_timeout_secs = {idle_timeout}

# Largest request head in bytes; a larger one is answered 431 and closed.
http_max_header_bytes = {max_header}

# Open connections per client address (0: no cap). Loopback addresses are
# exempt unless connection_limit_loopback = true: benchmarks and a reverse
# proxy on the same machine connect from there. Behind a proxy on another
# machine every client shares the proxy's address: raise this or set 0 there
# and let the proxy limit its clients.
max_connections_per_ip = {per_ip}
connection_limit_loopback = false

# Live WebSocket connections per user on this node (0: no cap).
ws_max_connections_per_user = {ws_per_user}

# Seconds a client has to finish a WebSocket message once it began sending it.
ws_message_timeout_secs = {ws_message_timeout}
"#,
        listen = d.listen,
        data_dir = d.data_dir.display(),
        ttl = d.token_ttl_secs,
        json = d.max_json_bytes,
        conns = d.db_max_connections,
        revoke = d.revoke_window_secs,
        max_chars = d.max_message_chars,
        max_members = d.max_group_members,
        batch = d.write_batch_max,
        heartbeat = d.ws_heartbeat_secs,
        queue = d.ws_send_queue,
        cache_members = d.cache_max_members,
        bus_channel = d.bus_channel,
        presence_grace = d.presence_grace_secs,
        max_upload = d.max_upload_bytes,
        quota = d.user_quota_bytes,
        expiry = d.upload_expiry_secs,
        ffmpeg = d.ffmpeg.display(),
        workers = d.job_workers,
        login_minute = d.login_failures_per_minute,
        login_hour = d.login_failures_per_hour,
        registrations = d.registrations_per_hour,
        guests = d.guests_per_hour,
        guest_quota = d.guest_quota_bytes,
        guest_ttl = d.guest_ttl_secs,
        session_max_age = d.session_max_age_secs,
        sends = d.sends_per_sec,
        send_burst = d.send_burst,
        friend_requests = d.friend_requests_per_hour,
        searches = d.searches_per_minute,
        syncs = d.syncs_per_minute,
        header_timeout = d.http_header_timeout_secs,
        idle_timeout = d.http_idle_timeout_secs,
        max_header = d.http_max_header_bytes,
        per_ip = d.max_connections_per_ip,
        ws_per_user = d.ws_max_connections_per_user,
        ws_message_timeout = d.ws_message_timeout_secs,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_example_parses_back_to_the_defaults() {
        let parsed: Config = toml::from_str(&example()).expect("example is valid TOML");
        assert_eq!(parsed, Config::default());
    }
}
