//! Health, readiness, metrics and the served OpenAPI document.

use crate::harness::{Backend, TestApp};

crate::backend_tests!(
    health_and_readiness_answer,
    metrics_count_requests_by_route,
    openapi_is_served,
);

async fn health_and_readiness_answer(app: TestApp) {
    let h = app.get("/healthz", None).await;
    assert_eq!((h.status, h.json()["status"].clone()), (200, "ok".into()));
    let r = app.get("/readyz", None).await;
    assert_eq!(
        (r.status, r.json()["status"].clone()),
        (200, "ready".into())
    );
}

async fn metrics_count_requests_by_route(app: TestApp) {
    app.register("metric_1").await;
    app.get("/api/v1/me", None).await;
    let m = app.get("/metrics", None).await;
    assert_eq!(m.status, 200);
    assert!(
        m.headers["content-type"]
            .to_str()
            .unwrap_or_default()
            .starts_with("text/plain")
    );
    assert!(
        m.text.contains(
            r#"roomy_http_requests_total{method="POST",route="/api/v1/auth/register",status="201"} 1"#
        ),
        "{}",
        m.text
    );
    assert!(
        m.text.contains(r#"route="/api/v1/me",status="401"} 1"#),
        "{}",
        m.text
    );
    assert!(
        m.text
            .contains("roomy_http_request_duration_seconds_bucket")
    );
}

async fn openapi_is_served(app: TestApp) {
    let r = app.get("/api/v1/openapi.json", None).await;
    assert_eq!(r.status, 200);
    let served = r.json();
    let generated = serde_json::to_value(roomy_api::openapi()).expect("json");
    assert_eq!(served, generated);
    assert!(served["paths"]["/api/v1/auth/register"]["post"].is_object());
}

#[tokio::test]
async fn metrics_can_move_to_their_own_listener() {
    let Some(app) = TestApp::spawn_with(Backend::Sqlite, |c| {
        c.metrics_listen = Some("127.0.0.1:0".parse().expect("addr"));
    })
    .await
    else {
        return;
    };
    app.get("/metrics", None)
        .await
        .assert_error(404, "route_not_found");
    let addr = app.config.metrics_listen.expect("bound");
    let text = reqwest::get(format!("http://{addr}/metrics"))
        .await
        .expect("metrics listener")
        .text()
        .await
        .expect("body");
    assert!(text.contains("roomy_http_requests_total"), "{text}");
}
