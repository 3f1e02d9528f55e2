//! The `roomy` binary: parses the command line and hands over to the library.

use clap::Parser;
use roomy_core::{
    Role, SystemClock,
    user_fields::{Nickname, Password, Username},
};
use roomy_server::{
    backend::open_store,
    cli::{AdminCommand, Cli, Command},
    config, telemetry,
};
use roomy_store::NewUser;
use std::{process::ExitCode, sync::Arc};
use tokio_util::sync::CancellationToken;

// mimalloc returns freed memory to the system promptly: with glibc's malloc,
// argon2's 19 MiB blocks (one per login) stay in per-thread arenas and the
// resident size of a server that saw a few hundred logins sits near 1 GiB.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> ExitCode {
    // Everything the server creates (the database and its journal, files,
    // uploads, the signing secret) holds users' data: readable by this
    // account only, whatever the umask it was started with.
    rustix::process::umask(rustix::fs::Mode::from_raw_mode(0o077));
    let cli = Cli::parse();
    match cli.command {
        Some(Command::PrintConfig) => {
            print!("{}", config::example());
            return ExitCode::SUCCESS;
        }
        Some(Command::Openapi) => {
            match serde_json::to_string_pretty(&roomy_api::openapi()) {
                Ok(doc) => println!("{doc}"),
                Err(e) => return fail(&e),
            }
            return ExitCode::SUCCESS;
        }
        _ => {}
    }
    let config = match config::load(cli.config.clone(), &cli.flags.overrides()) {
        Ok(c) => c,
        Err(e) => return fail(&e),
    };
    telemetry::init(config.log_format);
    let result = match cli.command {
        Some(Command::Admin(AdminCommand::CreateUser {
            username,
            password,
            admin,
            nickname,
        })) => create_user(&config, username, password, admin, nickname).await,
        _ => serve(config).await,
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(e.as_ref()),
    }
}

fn fail(e: &dyn std::error::Error) -> ExitCode {
    let mut msg = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        msg.push_str(&format!(": {c}"));
        cause = c.source();
    }
    eprintln!("roomy: {msg}");
    ExitCode::FAILURE
}

type BoxError = Box<dyn std::error::Error>;

async fn serve(config: roomy_core::Config) -> Result<(), BoxError> {
    let shutdown = CancellationToken::new();
    tokio::spawn(on_signal(shutdown.clone()));
    roomy_server::serve(config, Arc::new(SystemClock), shutdown).await?;
    tracing::info!("roomy stopped");
    Ok(())
}

/// Cancels `shutdown` on Ctrl-C or SIGTERM.
async fn on_signal(shutdown: CancellationToken) {
    let ctrl_c = tokio::signal::ctrl_c();
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = ctrl_c => {}
        _ = term => {}
    }
    tracing::info!("shutting down: finishing requests in flight");
    shutdown.cancel();
}

async fn create_user(
    config: &roomy_core::Config,
    username: String,
    password: Option<roomy_core::config::Redacted>,
    admin: bool,
    nickname: Option<String>,
) -> Result<(), BoxError> {
    let password = match password {
        Some(p) => p.expose().to_owned(),
        None => {
            let mut line = String::new();
            std::io::stdin().read_line(&mut line)?;
            line.trim_end_matches(['\r', '\n']).to_owned()
        }
    };
    let username = Username::parse(&username).map_err(|e| format!("username {e}"))?;
    let password = Password::parse(&password).map_err(|e| format!("password {e}"))?;
    let nickname = Nickname::parse(nickname.as_deref().unwrap_or(username.as_str()))
        .map_err(|e| format!("nickname {e}"))?;
    std::fs::create_dir_all(&config.data_dir)?;
    let store = open_store(config).await?;
    let hash = roomy_app::Passwords::new(1)
        .hash(&password)
        .await
        .map_err(|e| e.to_string())?;
    let role = if admin { Role::Admin } else { Role::User };
    let user = store
        .create_user(
            NewUser {
                username,
                nickname,
                password_hash: Some(hash),
                role,
            },
            time::OffsetDateTime::now_utc(),
        )
        .await?;
    println!(
        "created user {} (id {}, role {})",
        user.username,
        user.id,
        role.as_str()
    );
    Ok(())
}
