//! Router-level tests: the application driven in-process with `oneshot`, no
//! socket. The OpenAPI drift check lives here too.

use axum::{
    body::Body,
    http::{Request, StatusCode, header},
};
use http_body_util::BodyExt;
use roomy_api::{ApiSettings, AppState, router};
use roomy_bus::InProcessBus;
use roomy_core::{SystemClock, config::SqliteSynchronous};
use roomy_store_sqlite::{SqliteOptions, SqliteStore};
use std::sync::Arc;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

async fn state(max_json_bytes: usize) -> (AppState, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("r.db").display());
    let store = SqliteStore::connect(
        &url,
        SqliteOptions {
            synchronous: SqliteSynchronous::Normal,
            max_connections: 2,
        },
    )
    .await
    .expect("sqlite");
    let config = roomy_core::Config::default();
    let settings = ApiSettings {
        max_json_bytes,
        ..ApiSettings::from(&config)
    };
    let app = roomy_app::App::start(
        Arc::new(store),
        Arc::new(InProcessBus::new(64)),
        Arc::new(roomy_cache::InProcessCache::new(10_000)),
        Arc::new(SystemClock),
        roomy_app::AppSettings::from(&config),
        roomy_app::Files::new(
            roomy_blob::Blob::open(&roomy_blob::BlobConfig::Fs {
                root: dir.path().join("files"),
            })
            .expect("blob"),
            roomy_app::FileSettings {
                upload_dir: dir.path().join("uploads"),
                ..roomy_app::FileSettings::from(&config)
            },
        )
        .expect("files"),
    );
    let state = AppState::start(app, &[1u8; 32], settings, CancellationToken::new());
    (state, dir)
}

async fn send(state: &AppState, req: Request<Body>) -> (StatusCode, serde_json::Value) {
    let resp = router(state.clone())
        .oneshot(req)
        .await
        .expect("infallible");
    let status = resp.status();
    let bytes = resp.into_body().collect().await.expect("body").to_bytes();
    let json = serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null);
    (status, json)
}

fn post_json(path: &str, body: impl Into<Body>) -> Request<Body> {
    Request::post(path)
        .header(header::CONTENT_TYPE, "application/json")
        .body(body.into())
        .expect("request")
}

#[tokio::test]
async fn body_cap_is_configurable() {
    let (st, _dir) = state(2048).await;
    let body = format!(
        r#"{{"username":"someone_1","password":"{}"}}"#,
        "p".repeat(4096)
    );
    let (status, json) = send(&st, post_json("/api/v1/auth/register", body)).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(json["error"]["code"], "payload_too_large");
}

#[tokio::test]
async fn wrong_types_name_the_field() {
    let (st, _dir) = state(1 << 20).await;
    let (status, json) = send(
        &st,
        post_json(
            "/api/v1/auth/register",
            r#"{"username":["x"],"password":"p"}"#,
        ),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(json["error"]["code"], "invalid_body");
    assert!(
        json["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("username")
    );
}

#[tokio::test]
async fn guarded_routes_need_a_token() {
    let (st, _dir) = state(1 << 20).await;
    for (method, path) in [
        ("GET", "/api/v1/me"),
        ("PATCH", "/api/v1/me"),
        ("PUT", "/api/v1/me/password"),
        ("GET", "/api/v1/me/sessions"),
        ("DELETE", "/api/v1/me/sessions/1"),
        ("POST", "/api/v1/auth/logout"),
        ("GET", "/api/v1/users/1"),
        ("GET", "/api/v1/users?q=a"),
        ("PATCH", "/api/v1/admin/users/1"),
    ] {
        let req = Request::builder()
            .method(method)
            .uri(path)
            .body(Body::empty())
            .expect("request");
        let (status, json) = send(&st, req).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{method} {path}");
        assert_eq!(json["error"]["code"], "unauthenticated", "{method} {path}");
    }
}

/// The committed `docs/openapi.json` must match what the handlers generate.
/// After changing the API, regenerate it: `cargo run -- openapi > docs/openapi.json`.
#[test]
fn openapi_document_matches_the_committed_copy() {
    let generated = serde_json::to_value(roomy_api::openapi()).expect("serialize");
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/openapi.json");
    let committed: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).expect("docs/openapi.json exists"))
            .expect("docs/openapi.json is JSON");
    assert!(
        generated == committed,
        "docs/openapi.json is out of date: run `cargo run -- openapi > docs/openapi.json`"
    );
}

/// The committed `web/src/api/wire.ts` must match the types the server
/// derives; with `ROOMY_WRITE_WIRE_TYPES=1` this test writes it instead.
#[test]
fn wire_types_match_the_committed_copy() {
    let generated = roomy_api::wire_ts::typescript().unwrap_or_else(|e| panic!("{e}"));
    let path = format!(
        "{}/../../{}",
        env!("CARGO_MANIFEST_DIR"),
        roomy_api::wire_ts::PATH
    );
    if std::env::var_os("ROOMY_WRITE_WIRE_TYPES").is_some_and(|v| v == "1") {
        let dir = std::path::Path::new(&path).parent().expect("a folder");
        std::fs::create_dir_all(dir).expect("create the folder");
        std::fs::write(&path, &generated).expect("write wire.ts");
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        generated == committed,
        "{} is out of date: run `{}`",
        roomy_api::wire_ts::PATH,
        roomy_api::wire_ts::REGENERATE
    );
}
