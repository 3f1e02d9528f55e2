//! Health, readiness, metrics and the served OpenAPI document.

use crate::harness::{Backend, TestApp};

crate::backend_tests!(
    health_and_readiness_answer,
    metrics_count_requests_by_route,
    openapi_is_served,
    every_response_carries_the_security_headers,
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
    // One node on the in-process bus: no network bus to report on, but the
    // hub's own count of interruptions is there.
    assert!(!m.text.contains("roomy_bus_sent"), "{}", m.text);
    assert!(
        m.text.contains("roomy_bus_interruptions_total 0"),
        "{}",
        m.text
    );
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

#[tokio::test]
async fn made_up_methods_cannot_grow_the_metrics() {
    let Some(app) = TestApp::spawn(Backend::Sqlite).await else {
        return;
    };
    app.get("/healthz", None).await;
    let before = app.get("/metrics", None).await.text.len();
    for i in 0..200 {
        let method = reqwest::Method::from_bytes(format!("X{i:04}{}", "M".repeat(1000)).as_bytes())
            .expect("a token");
        let path = if i % 2 == 0 {
            "/healthz"
        } else {
            "/no/such/path"
        };
        app.send_raw(app.request(method, path, None)).await;
    }
    let after = app.get("/metrics", None).await.text;
    assert!(!after.contains("MMMM"), "no method name is a label");
    assert!(after.contains(r#"method="other""#), "{after}");
    // The 200 requests fall into a handful of series: a few lines, not 200.
    assert!(
        after.len() < before + 8 * 1024,
        "{} bytes before, {} after",
        before,
        after.len()
    );
}

#[tokio::test]
async fn metrics_on_the_main_listener_are_for_loopback_or_the_token() {
    let Some(app) = TestApp::spawn_with(Backend::Sqlite, |c| {
        c.metrics_token = Some(roomy_core::config::Redacted::new(
            "a-metrics-token-for-scrapers",
        ));
    })
    .await
    else {
        return;
    };
    let via_proxy = |token: Option<&str>| {
        app.request(reqwest::Method::GET, "/metrics", token)
            .header("x-forwarded-for", "203.0.113.9")
    };
    app.send_raw(via_proxy(None))
        .await
        .assert_error(404, "route_not_found");
    app.send_raw(via_proxy(Some("a-wrong-token")))
        .await
        .assert_error(404, "route_not_found");
    let scraped = app
        .send_raw(via_proxy(Some("a-metrics-token-for-scrapers")))
        .await;
    assert_eq!(scraped.status, 200);
    assert_eq!(
        app.get("/metrics", None).await.status,
        200,
        "loopback, no proxy"
    );
}

async fn every_response_carries_the_security_headers(app: TestApp) {
    app.register("headers_1").await;
    let login = app
        .post(
            "/api/v1/auth/login",
            None,
            serde_json::json!({"username": "headers_1", "password": crate::harness::PASSWORD}),
        )
        .await;
    assert_eq!(login.status, 200, "{}", login.text);
    let token = login.json()["token"].as_str().expect("token").to_owned();
    let me = app.get("/api/v1/me", Some(&token)).await;
    let missing = app.get("/api/v1/nothing/here", None).await;
    let refused = app.get("/api/v1/me", None).await;
    for (what, r) in [
        ("login", &login),
        ("me", &me),
        ("404", &missing),
        ("401", &refused),
    ] {
        let h = |name: &str| {
            r.headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned()
        };
        assert_eq!(h("x-content-type-options"), "nosniff", "{what}");
        assert_eq!(h("cache-control"), "no-store", "{what}");
        assert_eq!(h("x-frame-options"), "DENY", "{what}");
        assert_eq!(h("referrer-policy"), "no-referrer", "{what}");
        assert!(
            h("content-security-policy").contains("frame-ancestors 'none'"),
            "{what}"
        );
    }
}
