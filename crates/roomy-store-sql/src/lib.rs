//! What the SQL backends share: row types that decode identically from SQLite
//! and PostgreSQL (both schemas use the same column names and kinds: BIGINT
//! ids, BIGINT Unix-millisecond instants, boolean flags, TEXT), their
//! conversion into domain records, and error mapping.
//!
//! Architecture invariant: only backend crates depend on this one.

mod accounts;
mod backend;
pub mod chat;
mod chat_store;
pub mod files;
mod files_store;
pub mod invites;
mod invites_store;
pub mod lifecycle;
mod lifecycle_store;
pub mod social;
mod social_store;

pub use backend::{Args, Backend, Col, Conn, DbRow, SqlStore, WriteTx};

use roomy_core::{Role, SessionId, UserId, clock::from_millis};
use roomy_store::{Conflict, Credentials, Session, StoreError, User};

/// A `users` row.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct UserRow {
    pub id: i64,
    pub username: String,
    pub nickname: String,
    pub avatar: Option<String>,
    pub invite_confirm: bool,
    pub read_receipts: bool,
    pub role: String,
    pub password_hash: Option<String>,
    pub disabled: bool,
    pub created_at: i64,
    pub updated_at: i64,
}

impl UserRow {
    /// The account, without its hash.
    pub fn into_user(self) -> Result<User, StoreError> {
        Ok(self.into_credentials()?.user)
    }

    /// The account with its hash.
    pub fn into_credentials(self) -> Result<Credentials, StoreError> {
        let role = Role::parse(&self.role)
            .ok_or_else(|| StoreError::Corrupt(format!("unknown role {:?}", self.role)))?;
        Ok(Credentials {
            user: User {
                id: UserId(self.id),
                username: self.username,
                nickname: self.nickname,
                avatar: self.avatar,
                invite_confirm: self.invite_confirm,
                read_receipts: self.read_receipts,
                role,
                disabled: self.disabled,
                created_at: from_millis(self.created_at),
                updated_at: from_millis(self.updated_at),
            },
            password_hash: self.password_hash,
        })
    }
}

/// A `sessions` row.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SessionRow {
    pub id: i64,
    pub user_id: i64,
    pub created_at: i64,
    pub last_used_at: i64,
    pub expires_at: i64,
    pub revoked_at: Option<i64>,
    pub user_agent: Option<String>,
    pub ip: Option<String>,
}

impl SessionRow {
    /// The domain session.
    pub fn into_session(self) -> Session {
        Session {
            id: SessionId(self.id),
            user_id: UserId(self.user_id),
            created_at: from_millis(self.created_at),
            last_used_at: from_millis(self.last_used_at),
            expires_at: from_millis(self.expires_at),
            revoked_at: self.revoked_at.map(from_millis),
            user_agent: self.user_agent,
            ip: self.ip,
        }
    }
}

/// Columns for [`SessionUserRow`]: session columns prefixed `s_`, then `u.*`.
pub const SESSION_WITH_USER_SELECT: &str = "SELECT s.id AS s_id, s.user_id AS s_user_id, \
     s.created_at AS s_created_at, s.last_used_at AS s_last_used_at, \
     s.expires_at AS s_expires_at, s.revoked_at AS s_revoked_at, \
     s.user_agent AS s_user_agent, s.ip AS s_ip, u.* \
     FROM sessions s JOIN users u ON u.id = s.user_id";

/// A session joined with its user (see [`SESSION_WITH_USER_SELECT`]).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SessionUserRow {
    pub s_id: i64,
    pub s_user_id: i64,
    pub s_created_at: i64,
    pub s_last_used_at: i64,
    pub s_expires_at: i64,
    pub s_revoked_at: Option<i64>,
    pub s_user_agent: Option<String>,
    pub s_ip: Option<String>,
    #[sqlx(flatten)]
    pub user: UserRow,
}

impl SessionUserRow {
    /// The session and its user.
    pub fn into_pair(self) -> Result<(Session, User), StoreError> {
        let session = SessionRow {
            id: self.s_id,
            user_id: self.s_user_id,
            created_at: self.s_created_at,
            last_used_at: self.s_last_used_at,
            expires_at: self.s_expires_at,
            revoked_at: self.s_revoked_at,
            user_agent: self.s_user_agent,
            ip: self.s_ip,
        }
        .into_session();
        Ok((session, self.user.into_user()?))
    }
}

/// Wraps a database failure: `Unavailable` when the database could not be
/// reached, `Rejected` when it refused a value (PostgreSQL's data-exception
/// and integrity classes 22 and 23; SQLite's constraint, too-big, mismatch
/// and range errors, a trigger's `RAISE` included), `Database` otherwise
/// (busy, deadlock, disk full, shutdown...: nothing a row is to blame for).
pub fn db_err(e: impl Into<sqlx::Error>) -> StoreError {
    let e = e.into();
    match &e {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::Protocol(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => StoreError::Unavailable(Box::new(e)),
        sqlx::Error::Database(d) if refuses_a_value(d.code().as_deref()) => {
            StoreError::Rejected(Box::new(e))
        }
        _ => StoreError::Database(Box::new(e)),
    }
}

/// Whether a database error code blames the data written rather than the
/// database. PostgreSQL's SQLSTATEs are always five characters; SQLite's
/// extended result codes are numbers below 10,000 whose low byte is the
/// primary code.
fn refuses_a_value(code: Option<&str>) -> bool {
    match code {
        Some(sqlstate) if sqlstate.len() == 5 => {
            sqlstate.starts_with("22") || sqlstate.starts_with("23")
        }
        // SQLITE_TOOBIG 18, SQLITE_CONSTRAINT 19, SQLITE_MISMATCH 20, SQLITE_RANGE 25.
        Some(sqlite) => sqlite
            .parse::<i32>()
            .is_ok_and(|c| matches!(c & 0xff, 18 | 19 | 20 | 25)),
        None => false,
    }
}

/// A unique violation becomes `Conflict(what)`; anything else a database error.
pub fn conflict_or(e: sqlx::Error, what: Conflict) -> StoreError {
    match e.as_database_error() {
        Some(d) if d.is_unique_violation() => StoreError::Conflict(what),
        _ => db_err(e),
    }
}

/// Sets user $3's `disabled` to $1 at $2, returning the row.
pub const SET_DISABLED: &str =
    "UPDATE users SET disabled = $1, updated_at = $2 WHERE id = $3 RETURNING *";

/// Enabled guests created at or before $1 with no session used after $1, oldest
/// first, at most $2.
pub const IDLE_GUESTS: &str = "SELECT u.id FROM users u
     WHERE u.role = 'guest' AND NOT u.disabled AND u.created_at <= $1
       AND NOT EXISTS (SELECT 1 FROM sessions s
                       WHERE s.user_id = u.id AND s.last_used_at > $1)
     ORDER BY u.id LIMIT $2";

/// Revokes, at $1, every live session of user $2.
pub const REVOKE_SESSIONS: &str =
    "UPDATE sessions SET revoked_at = $1 WHERE user_id = $2 AND revoked_at IS NULL";

/// Escapes `\`, `%` and `_` for a `LIKE ... ESCAPE '\'` pattern.
pub fn escape_like(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '\\' | '%' | '_') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn like_escaping() {
        assert_eq!(super::escape_like(r"a%b_c\d"), r"a\%b\_c\\d");
    }
}

#[cfg(test)]
mod refusal_tests {
    use super::refuses_a_value;

    #[test]
    fn only_data_and_constraint_errors_blame_the_row() {
        for row in [
            "22021", "23505", "23514", "22P05", "19", "1811", "2067", "18", "20",
        ] {
            assert!(refuses_a_value(Some(row)), "{row}");
        }
        // Busy, locked, I/O, full, deadlock, serialization, timeout, shutdown, raise.
        for not in [
            "5", "6", "10", "2314", "13", "40P01", "40001", "57014", "57P01", "25006", "P0001",
        ] {
            assert!(!refuses_a_value(Some(not)), "{not}");
        }
        assert!(!refuses_a_value(None));
    }
}
