//! Operations endpoints: liveness, readiness, metrics.

use crate::error::ErrorCode;
use crate::{dto::Status, error::ApiError, state::AppState};
use axum::{
    extract::State,
    http::header,
    response::{IntoResponse, Response},
};
use sha2::{Digest, Sha256};

/// The process is up.
#[utoipa::path(get, path = "/healthz", tag = "operations",
    responses((status = 200, body = Status)))]
pub async fn healthz() -> axum::Json<Status> {
    axum::Json(Status { status: "ok" })
}

/// The process can serve: the database and the bus to the other nodes answer.
#[utoipa::path(get, path = "/readyz", tag = "operations",
    responses((status = 200, body = Status), (status = 503, body = crate::error::ErrorBody)))]
pub async fn readyz(State(st): State<AppState>) -> Result<axum::Json<Status>, ApiError> {
    // Both at once: a silent bus server costs its timeout, not more.
    let (database, bus) = tokio::join!(st.app.ping(), st.app.bus.check());
    database.map_err(|e| ApiError::Unavailable(Box::new(e)))?;
    bus.map_err(|e| ApiError::Unavailable(Box::new(e)))?;
    Ok(axum::Json(Status { status: "ready" }))
}

/// `/metrics` on the main listener: for loopback clients that came through
/// no proxy (no trusted proxy, no forwarding header), or anyone presenting
/// `metrics_token` as a bearer token; 404 for everyone else, as if it were
/// not there.
pub async fn main_metrics(State(st): State<AppState>, req: axum::extract::Request) -> Response {
    const FORWARDING: [&str; 4] = ["x-forwarded-for", "forwarded", "x-real-ip", "via"];
    let direct_loopback = req
        .extensions()
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map(|c| c.0.ip().to_canonical())
        .is_some_and(|ip| {
            ip.is_loopback()
                && !st
                    .settings
                    .abuse
                    .trusted_proxies
                    .iter()
                    .any(|n| n.contains(&ip))
        })
        && !FORWARDING.iter().any(|h| req.headers().contains_key(*h));
    let token_ok = st
        .settings
        .metrics_token
        .as_deref()
        .is_some_and(|want: &str| {
            req.headers()
                .get(header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.strip_prefix("Bearer "))
                // Digests compared, so the time taken says nothing of the token.
                .is_some_and(|given| {
                    !want.is_empty()
                        && Sha256::digest(given.as_bytes()) == Sha256::digest(want.as_bytes())
                })
        });
    if direct_loopback || token_ok {
        metrics(State(st)).await
    } else {
        ApiError::not_found(ErrorCode::RouteNotFound, "no such route").into_response()
    }
}

/// Prometheus text exposition.
pub async fn metrics(State(st): State<AppState>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        st.metrics.render(),
    )
        .into_response()
}
