//! The web client as the binary serves it: the page at `/` and at every
//! client-side route, its headers, and the server's own paths untouched.

use crate::backend_tests;
use crate::harness::TestApp;
use reqwest::Method;

backend_tests!(the_client_is_served_beside_the_api);

async fn the_client_is_served_beside_the_api(app: TestApp) {
    for path in ["/", "/rooms/12", "/invite/abcDEF_123-x", "/friends"] {
        let page = app.send_raw(app.request(Method::GET, path, None)).await;
        assert_eq!(page.status, 200, "{path}");
        assert!(
            page.header("content-type")
                .is_some_and(|t| t.starts_with("text/html"))
        );
        assert_eq!(page.header("cache-control"), Some("no-cache"), "{path}");
        assert_eq!(page.header("x-content-type-options"), Some("nosniff"));
        let csp = page.header("content-security-policy").expect("a CSP");
        for rule in [
            "script-src 'self'",
            "frame-ancestors 'none'",
            "object-src 'none'",
        ] {
            assert!(csp.contains(rule), "{csp}");
        }
        assert!(!csp.contains("unsafe-inline"), "{csp}");
        let html = String::from_utf8_lossy(&page.body);
        assert!(html.contains("<script type=\"module\""), "{html}");
    }
    // The page's own script, immutable under its hashed name.
    let page = app.send_raw(app.request(Method::GET, "/", None)).await;
    let html = String::from_utf8_lossy(&page.body).into_owned();
    let src = html
        .split("src=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("a script src");
    let script = app.send_raw(app.request(Method::GET, src, None)).await;
    assert_eq!(script.status, 200, "{src}");
    assert_eq!(
        script.header("cache-control"),
        Some("public, max-age=31536000, immutable")
    );
    assert!(
        script
            .header("content-type")
            .is_some_and(|t| t.contains("javascript"))
    );
    // The server's paths keep their JSON answers; a missing asset is no page.
    app.get("/api/v1/nothing-here", None)
        .await
        .assert_error(404, "route_not_found");
    app.send_raw(app.request(Method::GET, "/assets/gone-0000.js", None))
        .await
        .assert_error(404, "route_not_found");
    app.send_raw(app.request(Method::POST, "/rooms/12", None))
        .await
        .assert_error(404, "route_not_found");
}
