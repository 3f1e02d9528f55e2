//! Account and session shapes.

use roomy_core::{Role, SessionId, UserId, config::Redacted};
use roomy_store::{Session, User};
use serde::{Deserialize, Deserializer, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;

/// `POST /auth/register`.
#[derive(Debug, Deserialize, ToSchema, ts_rs::TS)]
#[ts(optional_fields = nullable)]
#[serde(deny_unknown_fields)]
pub struct RegisterRequest {
    /// 6-30 characters of `[a-zA-Z0-9#$%_-]`.
    pub username: String,
    /// 8-128 characters.
    #[schema(value_type = String)]
    #[ts(type = "string")]
    pub password: Redacted,
    /// Up to 30 characters; defaults to the username.
    pub nickname: Option<String>,
}

/// `POST /auth/login`.
#[derive(Debug, Deserialize, ToSchema, ts_rs::TS)]
#[ts(optional_fields = nullable)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    pub username: String,
    #[schema(value_type = String)]
    #[ts(type = "string")]
    pub password: Redacted,
}

/// `POST /auth/guest`.
#[derive(Debug, Deserialize, ToSchema, ts_rs::TS)]
#[ts(optional_fields = nullable)]
#[serde(deny_unknown_fields)]
pub struct GuestRequest {
    pub nickname: String,
}

/// `PATCH /me`. Absent fields stay; `avatar: null` removes the avatar.
#[derive(Debug, Default, Deserialize, ToSchema, ts_rs::TS)]
#[ts(optional_fields = nullable)]
#[serde(deny_unknown_fields)]
pub struct ProfilePatch {
    pub nickname: Option<String>,
    #[serde(default, deserialize_with = "present")]
    #[ts(optional)]
    #[schema(value_type = Option<String>, nullable)]
    pub avatar: Option<Option<String>>,
    /// 1: friend requests need my approval; 0: accepted at once.
    pub invite_confirm: Option<u8>,
    /// false: others do not see how far I have read (no read receipts,
    /// no `read_seq` in member lists).
    pub read_receipts: Option<bool>,
}

/// Distinguishes `"avatar": null` (Some(None)) from an absent field (None).
pub(crate) fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

/// `PUT /me/password`.
#[derive(Debug, Deserialize, ToSchema, ts_rs::TS)]
#[ts(optional_fields = nullable)]
#[serde(deny_unknown_fields)]
pub struct PasswordChange {
    #[schema(value_type = String)]
    #[ts(type = "string")]
    pub old_password: Redacted,
    #[schema(value_type = String)]
    #[ts(type = "string")]
    pub new_password: Redacted,
}

/// `PATCH /admin/users/{id}`.
#[derive(Debug, Deserialize, ToSchema, ts_rs::TS)]
#[ts(optional_fields = nullable)]
#[serde(deny_unknown_fields)]
pub struct AdminUserPatch {
    pub disabled: Option<bool>,
    /// Why, for the audit log (at most 500 characters).
    pub reason: Option<String>,
}

/// `GET /users?q=`.
#[derive(Debug, Deserialize, utoipa::IntoParams, ts_rs::TS)]
#[ts(optional_fields)]
#[into_params(parameter_in = Query)]
pub struct UserSearch {
    /// Part of a username or nickname, 1 to 64 characters.
    pub q: Option<String>,
    pub limit: Option<u32>,
    pub cursor: Option<String>,
}

/// The caller's own account (`GET /me`).
#[derive(Debug, Serialize, ToSchema, ts_rs::TS)]
pub struct Me {
    pub id: UserId,
    pub username: String,
    pub nickname: String,
    pub avatar: Option<String>,
    /// 1: friend requests need approval; 0: accepted at once.
    pub invite_confirm: u8,
    /// Whether others see how far I have read.
    pub read_receipts: bool,
    pub role: Role,
    #[serde(with = "time::serde::rfc3339")]
    #[ts(type = "string")]
    pub created_at: OffsetDateTime,
}

impl From<User> for Me {
    fn from(u: User) -> Me {
        Me {
            id: u.id,
            username: u.username,
            nickname: u.nickname,
            avatar: u.avatar,
            invite_confirm: u8::from(u.invite_confirm),
            read_receipts: u.read_receipts,
            role: u.role,
            created_at: u.created_at,
        }
    }
}

/// Another user, as anyone may see them.
#[derive(Debug, Serialize, ToSchema, ts_rs::TS)]
pub struct PublicUser {
    pub id: UserId,
    pub username: String,
    pub nickname: String,
    pub avatar: Option<String>,
    pub role: Role,
    #[serde(with = "time::serde::rfc3339")]
    #[ts(type = "string")]
    pub created_at: OffsetDateTime,
}

impl From<User> for PublicUser {
    fn from(u: User) -> PublicUser {
        PublicUser {
            id: u.id,
            username: u.username,
            nickname: u.nickname,
            avatar: u.avatar,
            role: u.role,
            created_at: u.created_at,
        }
    }
}

/// A user as administrators see them.
#[derive(Debug, Serialize, ToSchema, ts_rs::TS)]
pub struct AdminUser {
    #[serde(flatten)]
    pub user: Me,
    pub disabled: bool,
}

impl From<User> for AdminUser {
    fn from(u: User) -> AdminUser {
        let disabled = u.disabled;
        AdminUser {
            user: u.into(),
            disabled,
        }
    }
}

/// `201` answer to registration.
#[derive(Debug, Serialize, ToSchema, ts_rs::TS)]
pub struct Registered {
    pub user: Me,
}

/// Answer to login and guest login; the token is also in the `Authorization` header.
#[derive(Debug, Serialize, ToSchema, ts_rs::TS)]
pub struct LoggedIn {
    #[schema(value_type = String)]
    #[ts(type = "string")]
    pub token: Redacted,
    #[serde(with = "time::serde::rfc3339")]
    #[ts(type = "string")]
    pub expires_at: OffsetDateTime,
    pub session_id: SessionId,
    pub user: Me,
}

/// A media token: it reads files (`?mt=` on the file GET routes) and nothing else.
#[derive(Debug, Serialize, ToSchema, ts_rs::TS)]
pub struct MediaToken {
    #[schema(value_type = String)]
    #[ts(type = "string")]
    pub token: Redacted,
    #[serde(with = "time::serde::rfc3339")]
    #[ts(type = "string")]
    pub expires_at: OffsetDateTime,
}

/// One of my login sessions.
#[derive(Debug, Serialize, ToSchema, ts_rs::TS)]
pub struct SessionView {
    pub id: SessionId,
    #[serde(with = "time::serde::rfc3339")]
    #[ts(type = "string")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    #[ts(type = "string")]
    pub last_used_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    #[ts(type = "string")]
    pub expires_at: OffsetDateTime,
    pub user_agent: Option<String>,
    pub ip: Option<String>,
    /// True for the session of the token that asked.
    pub current: bool,
}

impl SessionView {
    /// The view of `s`, marking it current when it is `current`.
    pub fn new(s: Session, current: SessionId) -> SessionView {
        SessionView {
            current: s.id == current,
            id: s.id,
            created_at: s.created_at,
            last_used_at: s.last_used_at,
            expires_at: s.expires_at,
            user_agent: s.user_agent,
            ip: s.ip,
        }
    }
}

/// Liveness and readiness answers.
#[derive(Debug, Serialize, ToSchema, ts_rs::TS)]
pub struct Status {
    pub status: &'static str,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{auth::IssuedToken, dto::InviteView};

    const SECRET: &str = "hunter2-sekrit";

    fn assert_hidden(what: &str, value: &impl std::fmt::Debug) {
        let shown = format!("{value:?}");
        assert!(!shown.contains(SECRET), "{what} shows its secret: {shown}");
        assert!(shown.contains("<redacted>"), "{what}: {shown}");
    }

    fn me() -> Me {
        Me {
            id: UserId(1),
            username: "alice_01".into(),
            nickname: "Alice".into(),
            avatar: None,
            invite_confirm: 0,
            read_receipts: true,
            role: Role::User,
            created_at: OffsetDateTime::UNIX_EPOCH,
        }
    }

    #[test]
    fn secrets_do_not_leak_through_debug_but_travel_as_plain_strings() {
        let register: RegisterRequest = serde_json::from_value(serde_json::json!({
            "username": "alice_01", "password": SECRET,
        }))
        .expect("register");
        assert_eq!(register.password.expose(), SECRET);
        assert_hidden("RegisterRequest", &register);

        let login: LoginRequest = serde_json::from_value(serde_json::json!({
            "username": "alice_01", "password": SECRET,
        }))
        .expect("login");
        assert_eq!(login.password.expose(), SECRET);
        assert_hidden("LoginRequest", &login);

        let change: PasswordChange = serde_json::from_value(serde_json::json!({
            "old_password": SECRET, "new_password": SECRET,
        }))
        .expect("change");
        assert_eq!(change.new_password.expose(), SECRET);
        assert_hidden("PasswordChange", &change);

        let issued = IssuedToken {
            token: Redacted::new(SECRET),
            expires_at: OffsetDateTime::UNIX_EPOCH,
        };
        assert_hidden("IssuedToken", &issued);

        let logged_in = LoggedIn {
            token: issued.token,
            expires_at: issued.expires_at,
            session_id: SessionId(7),
            user: me(),
        };
        assert_hidden("LoggedIn", &logged_in);
        let wire = serde_json::to_value(&logged_in).expect("json");
        assert_eq!(wire["token"], SECRET);

        let invite = InviteView {
            id: 3,
            token: Some(Redacted::new(SECRET)),
            url: Some(Redacted::new(format!(
                "https://chat.example.com/invite/{SECRET}"
            ))),
            expires_at: OffsetDateTime::UNIX_EPOCH,
            max_uses: None,
            uses: 0,
            created_by: UserId(1),
            created_at: OffsetDateTime::UNIX_EPOCH,
            state: crate::dto::InviteStateView::Active,
        };
        assert_hidden("InviteView", &invite);
        let wire = serde_json::to_value(&invite).expect("json");
        assert_eq!(wire["token"], SECRET);
        assert_eq!(
            wire["url"],
            format!("https://chat.example.com/invite/{SECRET}")
        );
    }
}
