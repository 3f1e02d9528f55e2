//! Registration, login (password and guest) and logout over HTTP. The
//! accounts' rules live in `roomy_app::accounts`; sign-up and login limits
//! and tokens are this layer's.

use super::ClientInfo;
use crate::{
    dto::{GuestRequest, LoggedIn, LoginRequest, Me, MediaToken, RegisterRequest, Registered},
    error::{ApiError, ErrorBody},
    extract::Json,
    guard::Auth,
    limits::Signup,
    state::AppState,
};
use axum::{
    extract::State,
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use roomy_app::{
    AccountError,
    accounts::{Registration, SessionClient, StartedSession, plausible_login},
};
use roomy_core::user_fields::Nickname;

/// Create an account.
#[utoipa::path(post, path = "/api/v1/auth/register", tag = "accounts",
    request_body = RegisterRequest,
    responses(
        (status = 201, body = Registered),
        (status = 409, description = "username taken", body = ErrorBody),
        (status = 422, description = "invalid fields", body = ErrorBody),
        (status = 429, description = "too many registrations from this address", body = ErrorBody),
    ))]
pub async fn register(
    State(st): State<AppState>,
    client: ClientInfo,
    Json(req): Json<RegisterRequest>,
) -> Result<(StatusCode, axum::Json<Registered>), ApiError> {
    let registration = Registration::parse(&req.username, &req.password, req.nickname.as_deref())?;
    // Judged after validation, so a typo does not cost an attempt, and before
    // the hash, so a flood costs no CPU.
    st.limits
        .signup(Signup::Register, client.limited, st.app.clock.now())?;
    let user = st.app.register(registration).await?;
    Ok((
        StatusCode::CREATED,
        axum::Json(Registered { user: user.into() }),
    ))
}

/// What the app records of the client with a new session.
fn session_client(st: &AppState, client: ClientInfo) -> SessionClient {
    SessionClient {
        user_agent: client.user_agent,
        ip: client.ip,
        token_ttl: st.tokens.ttl(),
    }
}

/// Answers a new session with its token (body and header).
fn logged_in(st: &AppState, started: StartedSession) -> Result<Response, ApiError> {
    let StartedSession {
        user,
        session,
        now,
        ends_at,
    } = started;
    let issued = st.tokens.issue_until(user.id, session.id, now, ends_at);
    let header_value = HeaderValue::from_str(&format!("Bearer {}", issued.token.expose()))
        .map_err(ApiError::internal)?;
    let body = LoggedIn {
        token: issued.token,
        expires_at: issued.expires_at,
        session_id: session.id,
        user: Me::from(user),
    };
    let mut resp = (StatusCode::OK, axum::Json(body)).into_response();
    resp.headers_mut()
        .insert(header::AUTHORIZATION, header_value);
    Ok(resp)
}

/// Log in with username and password.
#[utoipa::path(post, path = "/api/v1/auth/login", tag = "accounts",
    request_body = LoginRequest,
    responses(
        (status = 200, body = LoggedIn, headers(("Authorization" = String, description = "Bearer <token>"))),
        (status = 401, description = "wrong username or password, or a disabled account (the same answer for all)", body = ErrorBody),
        (status = 429, description = "too many failed attempts for this account from this address", body = ErrorBody),
    ))]
pub async fn login(
    State(st): State<AppState>,
    client: ClientInfo,
    Json(req): Json<LoginRequest>,
) -> Result<Response, ApiError> {
    // Implausible input is counted under one shared key so it cannot fill
    // the limiter's memory.
    let account = if plausible_login(&req.username, &req.password) {
        req.username.to_lowercase()
    } else {
        "\u{0}implausible".to_owned()
    };
    let ip = client.limited.to_string();
    st.limiter
        .check(&account, &ip, st.app.clock.now())
        .map_err(|retry_after_secs| ApiError::RateLimited { retry_after_secs })?;
    let client = session_client(&st, client);
    match st.app.login(&req.username, &req.password, client).await {
        Ok(started) => {
            st.limiter.record_success(&account, &ip, st.app.clock.now());
            logged_in(&st, started)
        }
        Err(e) => {
            // A disabled account counts as a failure too, so the limiter
            // tells no more than the answer does.
            if matches!(e, AccountError::InvalidCredentials) {
                st.limiter.record_failure(&account, &ip, st.app.clock.now());
            }
            Err(e.into())
        }
    }
}

/// Log in as a guest: a new guest account with only a nickname.
#[utoipa::path(post, path = "/api/v1/auth/guest", tag = "accounts",
    request_body = GuestRequest,
    responses(
        (status = 200, body = LoggedIn, headers(("Authorization" = String, description = "Bearer <token>"))),
        (status = 422, description = "invalid nickname", body = ErrorBody),
        (status = 429, description = "too many guest accounts from this address", body = ErrorBody),
    ))]
pub async fn guest(
    State(st): State<AppState>,
    client: ClientInfo,
    Json(req): Json<GuestRequest>,
) -> Result<Response, ApiError> {
    let nickname = Nickname::parse(&req.nickname).map_err(|e| ApiError::field("nickname", e))?;
    st.limits
        .signup(Signup::Guest, client.limited, st.app.clock.now())?;
    let started = st
        .app
        .create_guest(nickname, session_client(&st, client))
        .await?;
    logged_in(&st, started)
}

/// A media token for this session, for file URLs that cannot carry a header
/// (`<img>`, `<video>`): `GET /api/v1/files/{id}[/thumbnail|/cover]?mt=<token>`.
/// It lives an hour at most, never past the session, and ends with it.
#[utoipa::path(post, path = "/api/v1/auth/media-token", tag = "accounts",
    security(("bearer" = [])),
    responses((status = 200, body = MediaToken), (status = 401, body = ErrorBody)))]
pub async fn media_token(State(st): State<AppState>, auth: Auth) -> axum::Json<MediaToken> {
    let now = st.app.clock.now();
    let end = st.app.session_end(&auth.session);
    let issued = st
        .tokens
        .issue_media(auth.user.id, auth.session.id, now, end);
    axum::Json(MediaToken {
        token: issued.token,
        expires_at: issued.expires_at,
    })
}

/// End the current session; its token stops working.
#[utoipa::path(post, path = "/api/v1/auth/logout", tag = "accounts",
    security(("bearer" = [])),
    responses((status = 204), (status = 401, body = ErrorBody)))]
pub async fn logout(State(st): State<AppState>, auth: Auth) -> Result<StatusCode, ApiError> {
    st.app.logout(&auth.user, auth.session.id).await?;
    Ok(StatusCode::NO_CONTENT)
}
