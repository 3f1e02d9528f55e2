//! The command line: `roomy [serve]`, `roomy print-config`, `roomy openapi`,
//! `roomy admin create-user`.

use crate::config::FlagOverrides;
use clap::{Args, Parser, Subcommand};
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
    pub database_url: Option<String>,
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
        password: Option<String>,
        /// Give the account the admin role.
        #[arg(long)]
        admin: bool,
        /// Display name (defaults to the username).
        #[arg(long)]
        nickname: Option<String>,
    },
}
