//! Access tokens: HS256 JWTs naming a user and a session. The session id is
//! what makes a JWT revocable: the guard checks it against the store on every
//! request, so logout, password change and disabling take effect at once.

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use roomy_core::{SessionId, UserId, config::Redacted};
use serde::{Deserialize, Serialize};
use time::{Duration, OffsetDateTime};

/// What a token says.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    /// The user id, as a string (JWT's `sub` is a StringOrURI).
    pub sub: String,
    /// The session id.
    pub sid: i64,
    /// Issued at, Unix seconds.
    pub iat: i64,
    /// Expires at, Unix seconds.
    pub exp: i64,
    /// What the token may be used for: absent on access tokens, [`MEDIA_SCOPE`]
    /// on media tokens. Each kind is refused where the other is expected.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
}

/// The scope of a media token: it reads files (`?mt=` on the file GET
/// routes) and nothing else, so a media URL copied out of a page is not a
/// session.
pub const MEDIA_SCOPE: &str = "media";

/// How long a media token lives (at most; never past its session's end).
/// Short, since it travels in URLs; the client renews it at half-life.
pub const MEDIA_TTL: Duration = Duration::hours(1);

impl Claims {
    /// The user the token was issued to (an impossible id if `sub` is not a number).
    pub fn user(&self) -> UserId {
        UserId(self.sub.parse().unwrap_or(-1))
    }

    /// The session the token belongs to.
    pub fn session(&self) -> SessionId {
        SessionId(self.sid)
    }
}

/// A freshly signed token.
#[derive(Debug, Clone)]
pub struct IssuedToken {
    /// The signed JWT; a bearer credential, so never in `Debug`.
    pub token: Redacted,
    /// When it stops being accepted.
    pub expires_at: OffsetDateTime,
}

/// Why a presented token is not accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenError {
    /// Malformed, or signed with another key.
    Invalid,
    /// Correctly signed but past its expiry.
    Expired,
}

/// Signs and checks tokens with one secret and one lifetime.
pub struct Tokens {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    ttl: Duration,
}

impl std::fmt::Debug for Tokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tokens")
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

impl Tokens {
    /// Keys from a secret of at least 32 bytes, tokens living `ttl`.
    pub fn new(secret: &[u8], ttl: Duration) -> Tokens {
        let mut validation = Validation::new(Algorithm::HS256);
        // Expiry is checked against the injected clock in `verify`, not the wall clock.
        validation.validate_exp = false;
        validation.set_required_spec_claims(&["exp", "sub"]);
        Tokens {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
            ttl,
        }
    }

    /// How long a token lives.
    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// Signs a token for `user`'s `session`, valid from `now` for the configured lifetime.
    pub fn issue(&self, user: UserId, session: SessionId, now: OffsetDateTime) -> IssuedToken {
        self.issue_until(user, session, now, now + self.ttl)
    }

    /// As [`issue`](Self::issue), but never valid past `end` (the session's
    /// absolute end), however long the configured lifetime.
    pub fn issue_until(
        &self,
        user: UserId,
        session: SessionId,
        now: OffsetDateTime,
        end: OffsetDateTime,
    ) -> IssuedToken {
        self.sign(user, session, now, now + self.ttl, end, None)
    }

    /// A media token for `user`'s `session`: [`MEDIA_TTL`], never past `end`.
    pub fn issue_media(
        &self,
        user: UserId,
        session: SessionId,
        now: OffsetDateTime,
        end: OffsetDateTime,
    ) -> IssuedToken {
        let ttl = MEDIA_TTL.min(self.ttl);
        self.sign(user, session, now, now + ttl, end, Some(MEDIA_SCOPE))
    }

    fn sign(
        &self,
        user: UserId,
        session: SessionId,
        now: OffsetDateTime,
        until: OffsetDateTime,
        end: OffsetDateTime,
        scope: Option<&str>,
    ) -> IssuedToken {
        let iat = now.unix_timestamp();
        let exp = until.min(end).unix_timestamp();
        // Whole seconds, as inside the token, so the body and the token agree.
        let expires_at = OffsetDateTime::from_unix_timestamp(exp).unwrap_or(until);
        let claims = Claims {
            sub: user.0.to_string(),
            sid: session.0,
            iat,
            exp,
            scope: scope.map(str::to_owned),
        };
        // HS256 signing of a small struct cannot fail: the key is an HMAC secret.
        let token = jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .unwrap_or_default();
        IssuedToken {
            token: token.into(),
            expires_at,
        }
    }

    /// Checks signature and expiry of an access token.
    pub fn verify(&self, token: &str, now: OffsetDateTime) -> Result<Claims, TokenError> {
        self.verify_scoped(token, now, None)
    }

    /// Checks signature and expiry of a media token.
    pub fn verify_media(&self, token: &str, now: OffsetDateTime) -> Result<Claims, TokenError> {
        self.verify_scoped(token, now, Some(MEDIA_SCOPE))
    }

    fn verify_scoped(
        &self,
        token: &str,
        now: OffsetDateTime,
        scope: Option<&str>,
    ) -> Result<Claims, TokenError> {
        let data = jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .map_err(|_| TokenError::Invalid)?;
        if data.claims.scope.as_deref() != scope {
            return Err(TokenError::Invalid);
        }
        if data.claims.exp <= now.unix_timestamp() {
            return Err(TokenError::Expired);
        }
        Ok(data.claims)
    }

    /// Whether a token is past half its lifetime and should be replaced.
    pub fn wants_renewal(&self, claims: &Claims, now: OffsetDateTime) -> bool {
        now.unix_timestamp() - claims.iat >= self.ttl.whole_seconds() / 2
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens() -> Tokens {
        Tokens::new(&[7u8; 32], Duration::hours(24))
    }

    #[test]
    fn round_trip_expiry_and_renewal() {
        let t = tokens();
        let now = OffsetDateTime::now_utc();
        let issued = t.issue(UserId(3), SessionId(9), now);
        let claims = t.verify(&issued.token, now).expect("valid");
        assert_eq!((claims.user(), claims.session()), (UserId(3), SessionId(9)));
        assert!(!t.wants_renewal(&claims, now + Duration::hours(11)));
        assert!(t.wants_renewal(&claims, now + Duration::hours(12)));
        assert_eq!(
            t.verify(&issued.token, now + Duration::hours(24)).err(),
            Some(TokenError::Expired)
        );
    }

    #[test]
    fn a_capped_token_ends_with_its_session() {
        let t = tokens();
        let now = OffsetDateTime::now_utc();
        let end = now + Duration::hours(2);
        let issued = t.issue_until(UserId(3), SessionId(9), now, end);
        assert_eq!(issued.expires_at.unix_timestamp(), end.unix_timestamp());
        assert!(t.verify(&issued.token, now + Duration::hours(1)).is_ok());
        assert_eq!(
            t.verify(&issued.token, end).err(),
            Some(TokenError::Expired)
        );
    }

    #[test]
    fn foreign_or_tampered_tokens_are_invalid() {
        let now = OffsetDateTime::now_utc();
        let other = Tokens::new(&[8u8; 32], Duration::hours(1));
        let forged = other.issue(UserId(1), SessionId(1), now).token;
        assert_eq!(
            tokens().verify(&forged, now).err(),
            Some(TokenError::Invalid)
        );
        assert_eq!(
            tokens().verify("not.a.jwt", now).err(),
            Some(TokenError::Invalid)
        );
    }

    #[test]
    fn media_and_access_tokens_are_not_interchangeable() {
        let t = tokens();
        let now = OffsetDateTime::now_utc();
        let end = now + Duration::hours(24);
        let media = t.issue_media(UserId(3), SessionId(9), now, end);
        assert_eq!(
            media.expires_at.unix_timestamp(),
            (now + MEDIA_TTL).unix_timestamp()
        );
        let claims = t
            .verify_media(&media.token, now)
            .expect("valid media token");
        assert_eq!((claims.user(), claims.session()), (UserId(3), SessionId(9)));
        assert_eq!(t.verify(&media.token, now).err(), Some(TokenError::Invalid));
        let access = t.issue(UserId(3), SessionId(9), now);
        assert_eq!(
            t.verify_media(&access.token, now).err(),
            Some(TokenError::Invalid)
        );
        assert_eq!(
            t.verify_media(&media.token, now + MEDIA_TTL).err(),
            Some(TokenError::Expired)
        );
        let short = t.issue_media(UserId(3), SessionId(9), now, now + Duration::minutes(5));
        assert_eq!(
            short.expires_at.unix_timestamp(),
            (now + Duration::minutes(5)).unix_timestamp()
        );
    }
}
