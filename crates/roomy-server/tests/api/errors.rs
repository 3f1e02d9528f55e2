//! The error model: every failure is JSON with a stable code and the right status.

use crate::harness::TestApp;
use serde_json::json;

crate::backend_tests!(
    oversized_bodies_are_413,
    unreadable_bodies_are_4xx_with_a_clear_message,
    unknown_routes_and_methods_are_json,
);

async fn oversized_bodies_are_413(app: TestApp) {
    let big = "x".repeat(app.config.max_json_bytes + 1);
    let r = app
        .post(
            "/api/v1/auth/register",
            None,
            json!({"username": "someone_1", "password": big}),
        )
        .await;
    r.assert_error(413, "payload_too_large");
}

async fn unreadable_bodies_are_4xx_with_a_clear_message(app: TestApp) {
    let client = reqwest::Client::new();
    let send = |body: &'static str, content_type: Option<&'static str>| {
        let mut req = client.post(app.url("/api/v1/auth/login")).body(body);
        if let Some(ct) = content_type {
            req = req.header("content-type", ct);
        }
        async move {
            let r = req.send().await.expect("send");
            let status = r.status().as_u16();
            let body: serde_json::Value = r.json().await.expect("JSON error body");
            (
                status,
                body["error"]["code"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
            )
        }
    };
    let json = Some("application/json");
    assert_eq!(
        send("{\"username\": ", json).await,
        (400, "malformed_json".into())
    );
    assert_eq!(send("", json).await.0, 400);
    assert_eq!(
        send(r#"{"username": 5, "password": "x"}"#, json).await,
        (422, "invalid_body".into())
    );
    assert_eq!(
        send(r#"{"username": "a", "password": "b", "admin": true}"#, json).await,
        (422, "invalid_body".into())
    );
    assert_eq!(
        send(r#"{"username": "a", "password": "b"}"#, Some("text/plain")).await,
        (415, "unsupported_media_type".into())
    );
    assert_eq!(
        send(r#"{"username": "a", "password": "b"}"#, None).await,
        (415, "unsupported_media_type".into())
    );
}

async fn unknown_routes_and_methods_are_json(app: TestApp) {
    app.get("/api/v1/nothing-here", None)
        .await
        .assert_error(404, "route_not_found");
    app.delete("/api/v1/auth/login", None)
        .await
        .assert_error(405, "method_not_allowed");
}
