//! The command line: `roomy [serve]`, `roomy print-config`, `roomy openapi`,
//! `roomy admin create-user`.

use crate::config::FlagOverrides;
use clap::{Args, Parser, Subcommand};
use roomy_core::config::Redacted;
use std::{net::SocketAddr, path::PathBuf};

/// Roomy: self-hosted real-time chat and social server.
#[derive(Debug, Parser)]
#[command(name = "roomy", version)]
pub struct Cli {
    /// Configuration file (default: ./roomy.toml if present, or $ROOMY_CONFIG).
    #[arg(long, global = true)]
    pub config: Option<PathBuf>,
    #[command(flatten)]
    pub flags: Flags,
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Flags that override configuration keys.
#[derive(Debug, Args)]
pub struct Flags {
    /// Address to listen on (ROOMY_LISTEN).
    #[arg(long, global = true)]
    pub listen: Option<SocketAddr>,
    /// Data folder (ROOMY_DATA_DIR).
    #[arg(long, global = true)]
    pub data_dir: Option<PathBuf>,
    /// Database URL, sqlite://... or postgres://... (ROOMY_DATABASE_URL).
    #[arg(long, global = true)]
    pub database_url: Option<Redacted>,
    /// Separate listener for /metrics (ROOMY_METRICS_LISTEN).
    #[arg(long, global = true)]
    pub metrics_listen: Option<SocketAddr>,
}

impl Flags {
    /// The flags as a configuration layer.
    pub fn overrides(&self) -> FlagOverrides {
        FlagOverrides {
            listen: self.listen,
            data_dir: self.data_dir.clone(),
            database_url: self.database_url.clone(),
            metrics_listen: self.metrics_listen,
        }
    }
}

/// What to do.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the server (the default).
    Serve,
    /// Print a commented example roomy.toml with every default.
    PrintConfig,
    /// Print the OpenAPI document of the HTTP API.
    Openapi,
    /// Administrative tasks.
    #[command(subcommand)]
    Admin(AdminCommand),
}

/// Administrative tasks.
#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// Create an account (the password is read from standard input when not given).
    CreateUser {
        #[arg(long)]
        username: String,
        #[arg(long)]
        password: Option<Redacted>,
        /// Give the account the admin role.
        #[arg(long)]
        admin: bool,
        /// Display name (defaults to the username).
        #[arg(long)]
        nickname: Option<String>,
    },
}

#[cfg(test)]
mod tests {
    use super::*;
    use roomy_core::Config;

    const SECRET: &str = "hunter2-sekrit";

    #[test]
    fn secrets_given_as_flags_or_configuration_do_not_leak_through_debug() {
        let url = format!("postgres://roomy:{SECRET}@db/roomy");
        let cli = Cli::try_parse_from([
            "roomy",
            "--database-url",
            &url,
            "admin",
            "create-user",
            "--username",
            "alice_01",
            "--password",
            SECRET,
        ])
        .expect("parses");
        let overrides = cli.flags.overrides();
        assert_eq!(overrides.database_url.as_deref(), Some(url.as_str()));
        let Some(Command::Admin(AdminCommand::CreateUser { password, .. })) = &cli.command else {
            panic!("create-user expected: {cli:?}");
        };
        assert_eq!(password.as_deref(), Some(SECRET));

        let secret = || Some(Redacted::new(SECRET));
        let config = Config {
            database_url: Some(Redacted::new(url.clone())),
            metrics_token: secret(),
            jwt_secret: secret(),
            redis_url: Some(Redacted::new(format!("redis://:{SECRET}@cache"))),
            s3_access_key_id: secret(),
            s3_secret_access_key: secret(),
            oss_access_key_id: secret(),
            oss_access_key_secret: secret(),
            ..Config::default()
        };
        for shown in [
            format!("{cli:?}"),
            format!("{overrides:?}"),
            format!("{config:?}"),
        ] {
            assert!(!shown.contains(SECRET), "secret shown: {shown}");
            assert!(shown.contains("<redacted>"), "{shown}");
        }
    }
}
