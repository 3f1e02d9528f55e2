//! The binary: configuration layering, `print-config`, `admin create-user`,
//! zero-configuration start and graceful shutdown.

use crate::harness::{Backend, TestApp};
use roomy_core::Config;
use roomy_server::config::{ConfigError, FlagOverrides, load};
use std::process::Stdio;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

const BIN: &str = env!("CARGO_BIN_EXE_roomy");

#[test]
#[allow(clippy::result_large_err)] // figment's Jail dictates the closure's error type
fn configuration_layers_defaults_file_environment_flags() {
    figment::Jail::expect_with(|jail| {
        jail.create_file(
            "roomy.toml",
            "listen = \"127.0.0.1:7000\"\ntoken_ttl_secs = 600\nmax_json_bytes = 4096\n",
        )?;
        jail.set_env("ROOMY_TOKEN_TTL_SECS", "900");
        jail.set_env("ROOMY_LISTEN", "127.0.0.1:7001");
        jail.set_env("ROOMY_SOMETHING_UNRELATED", "ignored");
        let flags = FlagOverrides {
            listen: Some("127.0.0.1:7002".parse().expect("addr")),
            ..FlagOverrides::default()
        };
        let c = load(None, &flags).expect("loads");
        assert_eq!(c.listen.port(), 7002, "flags win");
        assert_eq!(c.token_ttl_secs, 900, "environment beats the file");
        assert_eq!(c.max_json_bytes, 4096, "the file beats the defaults");
        assert_eq!(
            c.data_dir,
            Config::default().data_dir,
            "defaults fill the rest"
        );
        let c = load(None, &FlagOverrides::default()).expect("loads");
        assert_eq!(c.listen.port(), 7001);

        jail.create_file("typo.toml", "token_tll_secs = 5\n")?;
        assert!(matches!(
            load(Some("typo.toml".into()), &FlagOverrides::default()),
            Err(ConfigError::Invalid(_))
        ));
        assert!(matches!(
            load(Some("absent.toml".into()), &FlagOverrides::default()),
            Err(ConfigError::MissingFile(_))
        ));
        jail.set_env("ROOMY_TOKEN_TTL_SECS", "5");
        assert!(matches!(
            load(None, &FlagOverrides::default()),
            Err(ConfigError::Rule(_))
        ));
        Ok(())
    });
}

#[test]
fn print_config_prints_a_loadable_example() {
    let out = std::process::Command::new(BIN)
        .arg("print-config")
        .output()
        .expect("run");
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).expect("utf8");
    assert!(text.contains("# ") && text.contains("listen = \"127.0.0.1:8080\""));
    let parsed: Config = toml::from_str(&text).expect("valid");
    assert_eq!(parsed, Config::default());
}

crate::backend_tests!(admin_create_user_makes_an_administrator);

async fn admin_create_user_makes_an_administrator(app: TestApp) {
    let mut cmd = tokio::process::Command::new(BIN);
    cmd.arg("--data-dir").arg(&app.config.data_dir);
    if let Some(url) = &app.config.database_url {
        cmd.arg("--database-url").arg(url.expose());
    }
    let mut child = cmd
        .args(["admin", "create-user", "--username", "chief_01", "--admin"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut stdin = child.stdin.take().expect("stdin");
    stdin
        .write_all(b"from-standard-input\n")
        .await
        .expect("write");
    drop(stdin);
    let out = child.wait_with_output().await.expect("wait");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let admin = app.login("chief_01", "from-standard-input").await;
    let me = app.get("/api/v1/me", Some(&admin.token)).await.json();
    assert_eq!(me["role"], "admin");

    // The same name twice is refused, with the password as a flag this time.
    let mut again = std::process::Command::new(BIN);
    again.arg("--data-dir").arg(&app.config.data_dir);
    if let Some(url) = &app.config.database_url {
        again.arg("--database-url").arg(url.expose());
    }
    let out = again
        .args([
            "admin",
            "create-user",
            "--username",
            "CHIEF_01",
            "--password",
            "another-password",
        ])
        .output()
        .expect("run");
    assert!(!out.status.success());
}

#[tokio::test]
async fn zero_configuration_start_and_graceful_shutdown() {
    let _ = Backend::Sqlite;
    let cwd = tempfile::tempdir().expect("tempdir");
    let (mut child, addr, mut lines) = start_in(cwd.path()).await;
    let health = reqwest::get(format!("http://{addr}/healthz"))
        .await
        .expect("healthz");
    assert_eq!(health.status(), 200);
    let data = cwd.path().join("roomy-data");
    assert!(data.join("roomy.db").exists(), "SQLite in ./roomy-data");
    assert!(
        data.join("jwt-secret").exists(),
        "a generated signing secret"
    );

    let pid = child.id().expect("pid").to_string();
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill");
    assert!(killed.success());
    let status = tokio::time::timeout(std::time::Duration::from_secs(20), child.wait())
        .await
        .expect("stops within 20 s")
        .expect("wait");
    assert!(status.success(), "{status:?}");
    let mut stopped = false;
    while let Some(line) = lines.next_line().await.expect("read log") {
        stopped |= line.contains("roomy stopped");
    }
    assert!(stopped, "logged its shutdown");
}

/// The log lines of a started binary.
type LogLines = tokio::io::Lines<BufReader<tokio::process::ChildStderr>>;

/// Starts the binary with no configuration in `cwd`; the child, the address
/// it announced, and the rest of its log.
async fn start_in(cwd: &std::path::Path) -> (tokio::process::Child, String, LogLines) {
    let mut child = tokio::process::Command::new(BIN)
        .args(["--listen", "127.0.0.1:0"])
        .current_dir(cwd)
        .env("ROOMY_LOG_FORMAT", "json")
        .env_remove("ROOMY_DATABASE_URL")
        .env_remove("ROOMY_DATA_DIR")
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn");
    let mut lines = BufReader::new(child.stderr.take().expect("stderr")).lines();
    let mut addr = None;
    while let Some(line) = lines.next_line().await.expect("read log") {
        let v: serde_json::Value = serde_json::from_str(&line).expect("json log line");
        if v["fields"]["message"] == "roomy is serving" {
            addr = v["fields"]["listen"].as_str().map(str::to_owned);
            break;
        }
    }
    (child, addr.expect("server announced its address"), lines)
}

/// The database, its journal, the secret, stored files and unfinished
/// uploads are readable by the server's account only.
#[tokio::test]
async fn the_data_folder_is_private() {
    use std::os::unix::fs::PermissionsExt;
    let cwd = tempfile::tempdir().expect("tempdir");
    let (_child, addr, _lines) = start_in(cwd.path()).await;
    let http = reqwest::Client::new();
    let url = |p: &str| format!("http://{addr}{p}");
    let registered = http
        .post(url("/api/v1/auth/register"))
        .json(&serde_json::json!({"username": "private_1", "password": "a-long-password"}))
        .send()
        .await
        .expect("register");
    assert_eq!(registered.status(), 201);
    let login: serde_json::Value = http
        .post(url("/api/v1/auth/login"))
        .json(&serde_json::json!({"username": "private_1", "password": "a-long-password"}))
        .send()
        .await
        .expect("login")
        .json()
        .await
        .expect("json");
    let token = login["token"].as_str().expect("token");
    let form = reqwest::multipart::Form::new().part(
        "file",
        reqwest::multipart::Part::bytes(b"hello, file".to_vec()).file_name("a.txt"),
    );
    let stored = http
        .post(url("/api/v1/files"))
        .bearer_auth(token)
        .multipart(form)
        .send()
        .await
        .expect("upload");
    assert_eq!(stored.status(), 201);
    let started = http
        .post(url("/api/v1/uploads"))
        .bearer_auth(token)
        .header("tus-resumable", "1.0.0")
        .header("upload-length", "100")
        .send()
        .await
        .expect("tus create");
    assert_eq!(started.status(), 201);

    let data = cwd.path().join("roomy-data");
    let mut seen = Vec::new();
    let mut todo = vec![data.clone()];
    while let Some(path) = todo.pop() {
        let meta = std::fs::metadata(&path).expect("metadata");
        let mode = meta.permissions().mode() & 0o777;
        assert_eq!(mode & 0o077, 0, "{} is {mode:o}", path.display());
        if meta.is_dir() {
            for entry in std::fs::read_dir(&path).expect("read_dir") {
                todo.push(entry.expect("entry").path());
            }
        }
        seen.push(
            path.strip_prefix(&data)
                .expect("inside")
                .display()
                .to_string(),
        );
    }
    for expected in [
        "",
        "roomy.db",
        "roomy.db-wal",
        "jwt-secret",
        "files",
        "uploads",
    ] {
        assert!(seen.iter().any(|s| s == expected), "{expected} in {seen:?}");
    }
    assert!(
        seen.iter().any(|s| s.ends_with(".part")),
        "an upload in {seen:?}"
    );
    assert!(
        seen.iter()
            .any(|s| s.starts_with("files/") && s.ends_with(".txt")),
        "a file in {seen:?}"
    );
}
