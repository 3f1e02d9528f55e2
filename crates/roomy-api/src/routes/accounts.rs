//! Registration, login (password and guest) and logout.

use super::ClientInfo;
use crate::error::ErrorCode;
use crate::{
    auth::Auth,
    dto::{GuestRequest, LoggedIn, LoginRequest, Me, RegisterRequest, Registered},
    error::{ApiError, ErrorBody},
    extract::Json,
    limits::Signup,
    state::AppState,
};
use axum::{
    extract::State,
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use rand::distr::{Alphanumeric, SampleString};
use roomy_core::{
    FieldErrors, Role,
    user_fields::{Nickname, Password, Username},
};
use roomy_store::{NewSession, NewUser, StoreError, User};

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
    let mut errors = FieldErrors::new();
    let username = errors.check("username", Username::parse(&req.username));
    let password = errors.check("password", Password::parse(&req.password));
    let nickname = errors.check(
        "nickname",
        Nickname::parse(req.nickname.as_deref().unwrap_or(&req.username)),
    );
    errors.into_result()?;
    // Judged after validation, so a typo does not cost an attempt, and before
    // the hash, so a flood costs no CPU.
    st.limits
        .signup(Signup::Register, client.limited, st.app.clock.now())?;
    let (Some(username), Some(password), Some(nickname)) = (username, password, nickname) else {
        return Err(ApiError::internal(std::io::Error::other(
            "validated fields missing",
        )));
    };
    let hash = st.passwords.hash(&password).await?;
    let user = st
        .app
        .store
        .create_user(
            NewUser {
                username,
                nickname,
                password_hash: Some(hash),
                role: Role::User,
            },
            st.app.clock.now(),
        )
        .await?;
    Ok((
        StatusCode::CREATED,
        axum::Json(Registered { user: user.into() }),
    ))
}

/// Starts a session for `user` and answers with its token (body and header).
async fn start_session(
    st: &AppState,
    user: User,
    client: ClientInfo,
    status: StatusCode,
) -> Result<Response, ApiError> {
    let now = st.app.clock.now();
    // The session's absolute end: renewals never carry a token past it.
    let end = now + st.settings.abuse.session_max_age;
    let session = st
        .app
        .store
        .create_session(NewSession {
            user_id: user.id,
            now,
            expires_at: (now + st.tokens.ttl()).min(end),
            user_agent: client.user_agent,
            ip: Some(client.ip),
        })
        .await?;
    let issued = st.tokens.issue_until(user.id, session.id, now, end);
    let header_value = HeaderValue::from_str(&format!("Bearer {}", issued.token.expose()))
        .map_err(ApiError::internal)?;
    let body = LoggedIn {
        token: issued.token,
        expires_at: issued.expires_at,
        session_id: session.id,
        user: Me::from(user),
    };
    let mut resp = (status, axum::Json(body)).into_response();
    resp.headers_mut()
        .insert(header::AUTHORIZATION, header_value);
    Ok(resp)
}

fn bad_credentials() -> ApiError {
    ApiError::Unauthenticated {
        code: ErrorCode::InvalidCredentials,
        message: "wrong username or password",
    }
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
    // Over-long input cannot match any account: refuse it without hashing,
    // and count it under one shared key so it cannot fill the limiter's memory.
    let plausible =
        req.username.len() <= 4 * Username::MAX && req.password.chars().count() <= Password::MAX;
    let account = if plausible {
        req.username.to_lowercase()
    } else {
        "\u{0}implausible".to_owned()
    };
    st.limiter
        .check(&account, &client.limited.to_string(), st.app.clock.now())
        .map_err(|retry_after_secs| ApiError::RateLimited { retry_after_secs })?;

    let credentials = if plausible {
        st.app.store.credentials_by_username(&req.username).await?
    } else {
        None
    };
    let hash = credentials.as_ref().and_then(|c| c.password_hash.clone());
    let valid = plausible && st.passwords.verify(hash, &req.password).await?;
    // A disabled account answers exactly as a wrong password does, and
    // counts as a failure, so neither the answer nor the limiter tells
    // whether the password was right.
    let Some(credentials) = credentials.filter(|c| valid && !c.user.disabled) else {
        st.limiter
            .record_failure(&account, &client.limited.to_string(), st.app.clock.now());
        return Err(bad_credentials());
    };
    st.limiter
        .record_success(&account, &client.limited.to_string(), st.app.clock.now());
    start_session(&st, credentials.user, client, StatusCode::OK).await
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
    // 10 random alphanumerics: a collision is astronomically rare, but retried anyway.
    for _ in 0..3 {
        let name = format!("guest_{}", Alphanumeric.sample_string(&mut rand::rng(), 10));
        let username = Username::parse(&name).map_err(|e| {
            ApiError::internal(std::io::Error::other(format!("guest username: {e}")))
        })?;
        let created = st
            .app
            .store
            .create_user(
                NewUser {
                    username,
                    nickname: nickname.clone(),
                    password_hash: None,
                    role: Role::Guest,
                },
                st.app.clock.now(),
            )
            .await;
        match created {
            Ok(user) => return start_session(&st, user, client, StatusCode::OK).await,
            Err(StoreError::Conflict(_)) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(ApiError::internal(std::io::Error::other(
        "could not pick a free guest username",
    )))
}

/// End the current session; its token stops working.
#[utoipa::path(post, path = "/api/v1/auth/logout", tag = "accounts",
    security(("bearer" = [])),
    responses((status = 204), (status = 401, body = ErrorBody)))]
pub async fn logout(State(st): State<AppState>, auth: Auth) -> Result<StatusCode, ApiError> {
    st.app
        .store
        .revoke_session(auth.user.id, auth.session.id, st.app.clock.now())
        .await?;
    super::announce_sessions_ended(&st, auth.user.id, None, Some(auth.session.id));
    Ok(StatusCode::NO_CONTENT)
}
