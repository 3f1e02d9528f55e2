//! Roomy's HTTP API. [`router`] builds the whole application from an
//! [`AppState`]; the server crate only binds it to sockets. This is the only
//! crate that knows JSON or HTTP.

pub mod auth;
pub mod codes;
pub mod dto;
pub mod error;
mod errors;
pub mod extract;
pub mod gateway;
pub mod guard;
pub mod hub;
pub mod limits;
pub mod metrics;
pub mod pagination;
pub mod protocol;
mod range;
pub mod routes;
pub mod sequencer;
pub mod state;
pub mod wire_ts;

pub use error::ApiError;
pub use state::{ApiSettings, AppState};

use crate::error::ErrorCode;
use axum::{
    Router,
    body::Body,
    extract::DefaultBodyLimit,
    http::{Request, Response},
    middleware,
    response::IntoResponse,
    routing::get,
};
use routes::{
    accounts, admin, favorites, friends, lifecycle, me, messages, ops, rooms, social, users,
};
use std::sync::Arc;
use tower_http::{catch_panic::CatchPanicLayer, trace::TraceLayer};
use utoipa::{
    Modify, OpenApi,
    openapi::security::{Http, HttpAuthScheme, SecurityScheme},
};
use utoipa_axum::{router::OpenApiRouter, routes};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Roomy",
        description = "Self-hosted real-time chat and social server: HTTP API."
    ),
    modifiers(&BearerAuth),
    tags(
        (name = "accounts", description = "Registration, login, logout"),
        (name = "me", description = "The caller's own account"),
        (name = "users", description = "Other users"),
        (name = "social", description = "Follows, mutual follows and blocks"),
        (name = "friends", description = "Friend requests and friends"),
        (name = "admin", description = "Administration"),
        (name = "rooms", description = "Direct rooms, groups and members"),
        (name = "messages", description = "Sending, history and sync (see docs/protocol.md for the WebSocket)"),
        (name = "operations", description = "Health and readiness"),
        (name = "invites", description = "Invite links to groups and their QR codes"),
    )
)]
struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
        );
    }
}

/// Routes and their OpenAPI description. With a state, the authenticated
/// routes get the guard; without one the result only serves to build the document.
fn api_routes(state: Option<&AppState>) -> OpenApiRouter<AppState> {
    let public = OpenApiRouter::new()
        .routes(routes!(accounts::register))
        .routes(routes!(accounts::login))
        .routes(routes!(accounts::guest))
        .routes(routes!(ops::healthz))
        .routes(routes!(ops::readyz))
        .routes(routes!(routes::invites::qr_svg))
        .routes(routes!(routes::invites::qr_png))
        .merge(
            OpenApiRouter::new()
                .routes(routes!(routes::uploads::options))
                .layer(middleware::from_fn(routes::uploads::tus_layer)),
        );
    let mut authenticated = OpenApiRouter::new()
        .routes(routes!(accounts::logout))
        .routes(routes!(accounts::media_token))
        .routes(routes!(me::get_me, me::patch_me))
        .routes(routes!(me::change_password))
        .routes(routes!(me::list_sessions))
        .routes(routes!(me::end_session))
        .routes(routes!(users::get_user))
        .routes(routes!(users::search_users))
        .routes(routes!(social::follow, social::unfollow))
        .routes(routes!(social::block, social::unblock))
        .routes(routes!(social::list_blocks))
        .routes(routes!(social::following))
        .routes(routes!(social::followers))
        .routes(routes!(social::mutual))
        .routes(routes!(friends::send_request, friends::list_requests))
        .routes(routes!(friends::answer_request))
        .routes(routes!(friends::list_friends))
        .routes(routes!(friends::patch_friend, friends::unfriend))
        .routes(routes!(admin::patch_user))
        .routes(routes!(admin::messages))
        .routes(routes!(admin::remove_message))
        .routes(routes!(admin::audit))
        .routes(routes!(rooms::open_direct))
        .routes(routes!(rooms::create_group, rooms::list_rooms))
        .routes(routes!(rooms::get_room, rooms::patch_room, rooms::dissolve))
        .routes(routes!(rooms::list_members, rooms::add_members))
        .routes(routes!(rooms::remove_member, rooms::patch_member))
        .routes(routes!(rooms::list_bans))
        .routes(routes!(rooms::lift_ban))
        .routes(routes!(messages::send_message, messages::history))
        .routes(routes!(messages::sync))
        .routes(routes!(lifecycle::read))
        .routes(routes!(lifecycle::revoke))
        .routes(routes!(lifecycle::delete_for_me))
        .routes(routes!(lifecycle::delete_batch))
        .routes(routes!(lifecycle::sent))
        .routes(routes!(lifecycle::received))
        .routes(routes!(favorites::list))
        .routes(routes!(favorites::add, favorites::remove))
        .routes(routes!(
            routes::invites::create_invite,
            routes::invites::list_invites
        ))
        .routes(routes!(routes::invites::revoke_invite))
        .routes(routes!(routes::invites::preview_invite))
        .routes(routes!(routes::invites::join_invite))
        .routes(routes!(routes::files::meta))
        // Bodies of any size, streamed: the limits are the files' own.
        .merge(
            OpenApiRouter::new()
                .routes(routes!(routes::files::upload))
                .layer(DefaultBodyLimit::disable()),
        )
        .merge(
            OpenApiRouter::new()
                .routes(routes!(routes::uploads::create))
                .routes(routes!(
                    routes::uploads::head,
                    routes::uploads::patch,
                    routes::uploads::terminate
                ))
                .layer(DefaultBodyLimit::disable())
                .layer(middleware::from_fn(routes::uploads::tus_layer)),
        );
    // What `<img>` and `<video>` load: a bearer token or a media token.
    let mut media = OpenApiRouter::new()
        .routes(routes!(routes::files::download))
        .routes(routes!(routes::files::thumbnail))
        .routes(routes!(routes::files::cover));
    if let Some(state) = state {
        authenticated = authenticated.route_layer(middleware::from_fn_with_state(
            state.clone(),
            guard::require_auth,
        ));
        media = media.route_layer(middleware::from_fn_with_state(
            state.clone(),
            guard::require_file_auth,
        ));
    }
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(public)
        .merge(authenticated)
        .merge(media)
}

/// The OpenAPI document of the HTTP API, generated from the handlers.
pub fn openapi() -> utoipa::openapi::OpenApi {
    let mut doc = api_routes(None).into_openapi();
    // The version follows the crate so clients can tell builds apart.
    doc.info.version = env!("CARGO_PKG_VERSION").to_owned();
    doc.info.license = None;
    doc
}

/// What no route matched: the web client's files and client-side routes
/// (`roomy-web`), else a JSON 404.
async fn fallback(req: Request<Body>) -> Response<Body> {
    roomy_web::respond(req.method(), req.uri().path(), req.headers()).unwrap_or_else(|| {
        ApiError::not_found(ErrorCode::RouteNotFound, "no such route").into_response()
    })
}

async fn method_not_allowed() -> ApiError {
    ApiError::MethodNotAllowed
}

fn panic_response(_: Box<dyn std::any::Any + Send + 'static>) -> Response<Body> {
    ApiError::internal(std::io::Error::other("handler panicked")).into_response()
}

/// The whole HTTP application.
pub fn router(state: AppState) -> Router {
    let (api, _) = api_routes(Some(&state)).split_for_parts();
    let doc = Arc::new(openapi());
    let mut app = api.route(
        "/api/v1/openapi.json",
        get(move || {
            let doc = doc.clone();
            async move { axum::Json((*doc).clone()) }
        }),
    );
    // The WebSocket authenticates itself (query token or first frame).
    app = app.route("/api/v1/ws", get(gateway::upgrade));
    if state.settings.metrics_on_main {
        app = app.route("/metrics", get(ops::main_metrics));
    }
    app.fallback(fallback)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(state.settings.max_json_bytes))
        .layer(middleware::from_fn_with_state(
            state.metrics.clone(),
            metrics::track,
        ))
        .layer(
            TraceLayer::new_for_http().make_span_with(|req: &Request<Body>| {
                tracing::info_span!("http", method = %req.method(), path = %req.uri().path())
            }),
        )
        .layer(CatchPanicLayer::custom(panic_response))
        .layer(middleware::from_fn(security_headers))
        .with_state(state)
}

/// Headers every response carries unless its handler chose otherwise: no
/// type sniffing, no framing, no referrer, no caching (API answers are
/// per-user and may carry tokens), and a CSP that lets a JSON answer opened
/// in a browser run nothing. A response carrying a renewed token is never
/// stored, whatever its handler said.
async fn security_headers(req: Request<Body>, next: middleware::Next) -> Response<Body> {
    use axum::http::{HeaderValue, header};
    let mut resp = next.run(req).await;
    let h = resp.headers_mut();
    for (name, value) in [
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::REFERRER_POLICY, "no-referrer"),
        (header::CACHE_CONTROL, "no-store"),
        (
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; frame-ancestors 'none'",
        ),
    ] {
        h.entry(name).or_insert(HeaderValue::from_static(value));
    }
    if h.contains_key(header::AUTHORIZATION) {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    resp
}

/// A router serving only `/metrics`, for a separate metrics listener.
pub fn metrics_router(state: AppState) -> Router {
    Router::new()
        .route("/metrics", get(ops::metrics))
        .with_state(state)
}
