//! The guard in front of every authenticated route: checks the bearer token,
//! then its session and user in the store, and renews tokens past half their
//! lifetime through the `Authorization` response header (sliding renewal).

use crate::error::ErrorCode;
use crate::{error::ApiError, state::AppState};
use axum::{
    extract::{FromRequestParts, Request, State},
    http::{HeaderMap, HeaderValue, header, request::Parts},
    middleware::Next,
    response::Response,
};
use roomy_store::{Session, User};
use time::Duration;

use crate::auth::token::TokenError;

/// Sessions record their last use at most this often, to keep reads read-only.
const TOUCH_EVERY: Duration = Duration::minutes(1);

/// The authenticated caller, put in place by [`require_auth`].
#[derive(Debug, Clone)]
pub struct Auth {
    pub user: User,
    pub session: Session,
}

impl<S: Send + Sync> FromRequestParts<S> for Auth {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        parts.extensions.get::<Auth>().cloned().ok_or_else(|| {
            ApiError::internal(std::io::Error::other(
                "route uses Auth without the require_auth layer",
            ))
        })
    }
}

fn unauthenticated(code: ErrorCode, message: &'static str) -> ApiError {
    ApiError::Unauthenticated { code, message }
}

/// The token of an `Authorization: Bearer <token>` header.
pub fn bearer(headers: &HeaderMap) -> Result<&str, ApiError> {
    let value = headers.get(header::AUTHORIZATION).ok_or_else(|| {
        unauthenticated(ErrorCode::Unauthenticated, "missing Authorization header")
    })?;
    let value = value
        .to_str()
        .map_err(|_| unauthenticated(ErrorCode::InvalidToken, "malformed Authorization header"))?;
    match value.split_once(' ') {
        Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") && !token.is_empty() => {
            Ok(token.trim())
        }
        _ => Err(unauthenticated(
            ErrorCode::InvalidToken,
            "expected Authorization: Bearer <token>",
        )),
    }
}

fn token_refused(e: TokenError) -> ApiError {
    match e {
        TokenError::Expired => unauthenticated(ErrorCode::TokenExpired, "the token has expired"),
        TokenError::Invalid => unauthenticated(ErrorCode::InvalidToken, "the token is not valid"),
    }
}

/// Authenticates a token: valid signature, unexpired, live session, enabled user.
/// Returns the caller and, when the token is past half its life, its replacement.
pub async fn authenticate(st: &AppState, token: &str) -> Result<(Auth, Option<String>), ApiError> {
    let now = st.app.clock.now();
    let claims = st.tokens.verify(token, now).map_err(token_refused)?;
    let (session, user) = st.app.live_session(claims.session(), claims.user()).await?;
    let end = st.app.session_end(&session);
    // A token that already ends with the session has nothing to gain from renewal.
    let renewed = if st.tokens.wants_renewal(&claims, now) && claims.exp < end.unix_timestamp() {
        let fresh = st.tokens.issue_until(user.id, session.id, now, end);
        st.app
            .touch_session(session.id, now, Some(fresh.expires_at))
            .await?;
        Some(fresh.token.expose().to_owned())
    } else {
        if now - session.last_used_at >= TOUCH_EVERY {
            st.app.touch_session(session.id, now, None).await?;
        }
        None
    };
    Ok((Auth { user, session }, renewed))
}

/// Middleware for authenticated routes: 401 without a valid token, and a
/// renewed token in the response's `Authorization` header when due.
pub async fn require_auth(
    State(st): State<AppState>,
    mut req: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let token = bearer(req.headers())?.to_owned();
    let (auth, renewed) = authenticate(&st, &token).await?;
    req.extensions_mut().insert(auth);
    let mut resp = next.run(req).await;
    if let Some(v) = renewed.and_then(|t| HeaderValue::from_str(&format!("Bearer {t}")).ok()) {
        resp.headers_mut().insert(header::AUTHORIZATION, v);
    }
    Ok(resp)
}

/// The query parameter carrying a media token.
const MEDIA_PARAM: &str = "mt";

/// Middleware for the file GET routes, which `<img>` and `<video>` load
/// and which therefore cannot send a header: a bearer token as everywhere,
/// or a media token in `?mt=` (see `POST /api/v1/auth/media-token`). A
/// media token renews nothing and is taken out of the query before the
/// handler parses it.
pub async fn require_file_auth(
    State(st): State<AppState>,
    mut req: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let media = take_media_param(req.uri());
    if let Some((_, rest)) = &media {
        // Whichever credential is used, the handler never sees `mt`.
        let path = req.uri().path();
        let path_and_query = if rest.is_empty() {
            path.to_owned()
        } else {
            format!("{path}?{rest}")
        };
        let mut parts = req.uri().clone().into_parts();
        parts.path_and_query = Some(path_and_query.parse().map_err(ApiError::internal)?);
        *req.uri_mut() = axum::http::Uri::from_parts(parts).map_err(ApiError::internal)?;
    }
    if req.headers().contains_key(header::AUTHORIZATION) {
        return require_auth(State(st), req, next).await;
    }
    let Some((token, _)) = media else {
        return Err(unauthenticated(
            ErrorCode::Unauthenticated,
            "missing Authorization header or media token",
        ));
    };
    let now = st.app.clock.now();
    let claims = st.tokens.verify_media(&token, now).map_err(token_refused)?;
    let (session, user) = st.app.live_session(claims.session(), claims.user()).await?;
    req.extensions_mut().insert(Auth { user, session });
    Ok(next.run(req).await)
}

/// The media token of a URI's query and the query without it, if it has one.
fn take_media_param(uri: &axum::http::Uri) -> Option<(String, String)> {
    let query = uri.query()?;
    let mut token = None;
    let mut rest = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in url::form_urlencoded::parse(query.as_bytes()) {
        if k == MEDIA_PARAM {
            token.get_or_insert_with(|| v.into_owned());
        } else {
            rest.append_pair(&k, &v);
        }
    }
    Some((token?, rest.finish()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_media_token_leaves_the_query() {
        let uri: axum::http::Uri = "/api/v1/files/3/cover?t=1000&mt=abc.def&w=64"
            .parse()
            .expect("uri");
        assert_eq!(
            take_media_param(&uri),
            Some(("abc.def".to_owned(), "t=1000&w=64".to_owned()))
        );
        let bare: axum::http::Uri = "/api/v1/files/3?mt=x".parse().expect("uri");
        assert_eq!(
            take_media_param(&bare),
            Some(("x".to_owned(), String::new()))
        );
        let none: axum::http::Uri = "/api/v1/files/3?t=1".parse().expect("uri");
        assert_eq!(take_media_param(&none), None);
    }
}
