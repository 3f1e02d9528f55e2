//! Accounts and sessions: registration, login (password and guest), logout,
//! the caller's profile, password and sessions.
//!
//! Tokens, login rate limits and sign-up limits are the adapters' admission
//! concerns: they run before these operations and issue tokens after them.

use crate::{App, passwords::PasswordError};
use rand::distr::{Alphanumeric, SampleString};
use roomy_bus::{Envelope, Event};
use roomy_core::{
    FieldErrors, Role, SessionId, UserId,
    user_fields::{AvatarUrl, Nickname, Password, Username},
};
use roomy_store::{Conflict, NewSession, NewUser, ProfileChanges, Session, StoreError, User};
use time::{Duration, OffsetDateTime};

/// Why an account operation failed.
#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    /// Some fields are invalid; the map says which and why.
    #[error("some fields are invalid")]
    Invalid(FieldErrors),
    /// Another account has this username (case-insensitively).
    #[error("that username is already taken")]
    UsernameTaken,
    /// Wrong username or password, or a disabled account: the same answer for all.
    #[error("wrong username or password")]
    InvalidCredentials,
    /// A guest account has no password to change.
    #[error("guest accounts have no password")]
    NoPassword,
    /// The old password given with a change is not the account's.
    #[error("the old password is not correct")]
    WrongPassword,
    /// The session is not the caller's, or has ended.
    #[error("no such active session of yours")]
    SessionNotFound,
    /// A presented session is not this user's, or does not exist.
    #[error("the token is not valid")]
    UnknownSession,
    /// The account was disabled by an admin.
    #[error("this account has been disabled")]
    AccountDisabled,
    /// The session was revoked, expired, or reached its absolute lifetime.
    #[error("this session has ended; log in again")]
    SessionEnded,
    /// No free guest username could be made.
    #[error("could not pick a free guest username: {0}")]
    GuestName(String),
    /// Hashing or verifying a password could not run.
    #[error(transparent)]
    Password(#[from] PasswordError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A new account's fields, validated.
#[derive(Debug)]
pub struct Registration {
    username: Username,
    password: Password,
    nickname: Nickname,
}

impl Registration {
    /// Validates every field at once; the nickname defaults to the username.
    pub fn parse(
        username: &str,
        password: &str,
        nickname: Option<&str>,
    ) -> Result<Registration, AccountError> {
        let mut errors = FieldErrors::new();
        let parsed_username = errors.check("username", Username::parse(username));
        let password = errors.check("password", Password::parse(password));
        let nickname = errors.check("nickname", Nickname::parse(nickname.unwrap_or(username)));
        match (parsed_username, password, nickname) {
            (Some(username), Some(password), Some(nickname)) if errors.is_empty() => {
                Ok(Registration {
                    username,
                    password,
                    nickname,
                })
            }
            _ => Err(AccountError::Invalid(errors)),
        }
    }
}

/// Whether a login attempt could match an account at all. Over-long input
/// cannot: it is refused without hashing, so adapters may also count it
/// under one shared key (it cannot fill their limiter's memory).
pub fn plausible_login(username: &str, password: &str) -> bool {
    username.len() <= 4 * Username::MAX && password.chars().count() <= Password::MAX
}

/// Who opens a session, as its record keeps them.
#[derive(Debug, Clone)]
pub struct SessionClient {
    /// The client's `User-Agent`, already truncated.
    pub user_agent: Option<String>,
    /// The client's address, as text.
    pub ip: String,
    /// How long the first token lives: the session expires with it unless renewed.
    pub token_ttl: Duration,
}

/// A session just opened for a user.
#[derive(Debug, Clone)]
pub struct StartedSession {
    /// The account logged in.
    pub user: User,
    /// The new session.
    pub session: Session,
    /// When it was opened.
    pub now: OffsetDateTime,
    /// Its absolute end: no renewal carries a token past it.
    pub ends_at: OffsetDateTime,
}

/// Changes to the caller's profile, as asked (absent fields stay).
#[derive(Debug, Clone, Default)]
pub struct ProfileEdit {
    /// A new nickname.
    pub nickname: Option<String>,
    /// `Some(None)` or `Some(Some(""))` removes the avatar.
    pub avatar: Option<Option<String>>,
    /// 1: friend requests need approval; 0: accepted at once.
    pub invite_confirm: Option<u8>,
    /// Whether others may see how far I have read.
    pub read_receipts: Option<bool>,
}

impl ProfileEdit {
    fn parse(self) -> Result<ProfileChanges, AccountError> {
        let mut errors = FieldErrors::new();
        let changes = ProfileChanges {
            nickname: self
                .nickname
                .as_deref()
                .and_then(|n| errors.check("nickname", Nickname::parse(n))),
            avatar: match self.avatar {
                None => None,
                Some(None) => Some(None),
                Some(Some(a)) if a.is_empty() => Some(None),
                Some(Some(a)) => errors.check("avatar", AvatarUrl::parse(&a)).map(Some),
            },
            invite_confirm: match self.invite_confirm {
                None => None,
                Some(0) => Some(false),
                Some(1) => Some(true),
                Some(_) => {
                    errors.add("invite_confirm", "must be 0 or 1");
                    None
                }
            },
            read_receipts: self.read_receipts,
        };
        errors.into_result().map_err(AccountError::Invalid)?;
        Ok(changes)
    }
}

impl App {
    /// Creates an account with a hashed password.
    pub async fn register(&self, new: Registration) -> Result<User, AccountError> {
        let hash = self.passwords.hash(&new.password).await?;
        self.store
            .create_user(
                NewUser {
                    username: new.username,
                    nickname: new.nickname,
                    password_hash: Some(hash),
                    role: Role::User,
                },
                self.clock.now(),
            )
            .await
            .map_err(|e| match e {
                StoreError::Conflict(Conflict::Username) => AccountError::UsernameTaken,
                other => other.into(),
            })
    }

    /// Checks a username and password and opens a session. A disabled
    /// account answers exactly as a wrong password does, so the answer
    /// never tells whether the password was right.
    pub async fn login(
        &self,
        username: &str,
        password: &str,
        client: SessionClient,
    ) -> Result<StartedSession, AccountError> {
        let plausible = plausible_login(username, password);
        let credentials = if plausible {
            self.store.credentials_by_username(username).await?
        } else {
            None
        };
        let hash = credentials.as_ref().and_then(|c| c.password_hash.clone());
        // Unknown users are verified against a decoy: the same time as a wrong password.
        let valid = plausible && self.passwords.verify(hash, password).await?;
        match credentials.filter(|c| valid && !c.user.disabled) {
            Some(c) => self.start_session(c.user, client).await,
            None => Err(AccountError::InvalidCredentials),
        }
    }

    /// Creates a guest account (a random username, no password) and opens a session.
    pub async fn create_guest(
        &self,
        nickname: Nickname,
        client: SessionClient,
    ) -> Result<StartedSession, AccountError> {
        // 10 random alphanumerics: a collision is astronomically rare, but retried anyway.
        for _ in 0..3 {
            let name = format!("guest_{}", Alphanumeric.sample_string(&mut rand::rng(), 10));
            let username =
                Username::parse(&name).map_err(|e| AccountError::GuestName(e.to_string()))?;
            let created = self
                .store
                .create_user(
                    NewUser {
                        username,
                        nickname: nickname.clone(),
                        password_hash: None,
                        role: Role::Guest,
                    },
                    self.clock.now(),
                )
                .await;
            match created {
                Ok(user) => return self.start_session(user, client).await,
                Err(StoreError::Conflict(Conflict::Username)) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(AccountError::GuestName("three collisions".to_owned()))
    }

    async fn start_session(
        &self,
        user: User,
        client: SessionClient,
    ) -> Result<StartedSession, AccountError> {
        let now = self.clock.now();
        let ends_at = now + self.settings.session_max_age;
        let session = self
            .store
            .create_session(NewSession {
                user_id: user.id,
                now,
                expires_at: (now + client.token_ttl).min(ends_at),
                user_agent: client.user_agent,
                ip: Some(client.ip),
            })
            .await?;
        Ok(StartedSession {
            user,
            session,
            now,
            ends_at,
        })
    }

    /// Ends the caller's current session; its live connections close.
    pub async fn logout(&self, me: &User, session: SessionId) -> Result<(), AccountError> {
        self.store
            .revoke_session(me.id, session, self.clock.now())
            .await?;
        self.sessions_ended(me.id, None, Some(session), false).await;
        Ok(())
    }

    /// Edits the caller's profile (the username cannot change).
    pub async fn update_profile(&self, me: &User, edit: ProfileEdit) -> Result<User, AccountError> {
        let changes = edit.parse()?;
        Ok(self
            .store
            .update_profile(me.id, changes, self.clock.now())
            .await?)
    }

    /// Changes the caller's password; every session but `keep` ends.
    pub async fn change_password(
        &self,
        me: &User,
        keep: SessionId,
        old: &str,
        new: Password,
    ) -> Result<(), AccountError> {
        let hash = self
            .store
            .credentials(me.id)
            .await?
            .and_then(|c| c.password_hash);
        if hash.is_none() {
            return Err(AccountError::NoPassword);
        }
        if old.chars().count() > Password::MAX || !self.passwords.verify(hash, old).await? {
            return Err(AccountError::WrongPassword);
        }
        let new_hash = self.passwords.hash(&new).await?;
        self.store
            .set_password(me.id, new_hash, keep, self.clock.now())
            .await?;
        self.sessions_ended(me.id, Some(keep), None, false).await;
        Ok(())
    }

    /// The caller's active sessions, newest first, below `before`; sessions
    /// past their absolute end are left out even if their row still says active.
    pub async fn sessions(
        &self,
        me: &User,
        before: Option<SessionId>,
        limit: u32,
    ) -> Result<Vec<Session>, AccountError> {
        let now = self.clock.now();
        Ok(self
            .store
            .active_sessions(me.id, now)
            .await?
            .into_iter()
            .filter(|s| before.is_none_or(|b| s.id.0 < b.0) && self.session_end(s) > now)
            .take(limit as usize)
            .collect())
    }

    /// Ends one of the caller's sessions; its live connections close.
    pub async fn end_session(&self, me: &User, id: SessionId) -> Result<(), AccountError> {
        if self
            .store
            .revoke_session(me.id, id, self.clock.now())
            .await?
        {
            self.sessions_ended(me.id, None, Some(id), false).await;
            Ok(())
        } else {
            Err(AccountError::SessionNotFound)
        }
    }

    /// Tells every node to close the live connections of ended sessions: all
    /// of `user`'s, all but `except`, or only `only`; `disabled` when the
    /// account was disabled (clients are told why).
    pub(crate) async fn sessions_ended(
        &self,
        user: UserId,
        except: Option<SessionId>,
        only: Option<SessionId>,
        disabled: bool,
    ) {
        roomy_bus::announce(
            &*self.bus,
            Envelope {
                recipients: vec![user],
                event: Event::SessionsEnded {
                    user,
                    except,
                    only,
                    disabled,
                },
                origin: None,
            },
        )
        .await;
    }
}

impl App {
    /// The session `id` with its account, if it is `user`'s, still live and
    /// within its absolute lifetime, and the account is enabled: what every
    /// authenticated request and live connection relies on.
    pub async fn live_session(
        &self,
        id: SessionId,
        user: UserId,
    ) -> Result<(Session, User), AccountError> {
        let now = self.clock.now();
        let (session, owner) = self
            .store
            .session_with_user(id)
            .await?
            .filter(|(s, _)| s.user_id == user)
            .ok_or(AccountError::UnknownSession)?;
        if owner.disabled {
            return Err(AccountError::AccountDisabled);
        }
        if !session.is_active(now) || now >= self.session_end(&session) {
            return Err(AccountError::SessionEnded);
        }
        Ok((session, owner))
    }

    /// When `session` ends, however often its token is renewed.
    pub fn session_end(&self, session: &Session) -> OffsetDateTime {
        session.created_at + self.settings.session_max_age
    }

    /// Records that `session` was used at `now`, and its new expiry when its
    /// token was renewed.
    pub async fn touch_session(
        &self,
        session: SessionId,
        now: OffsetDateTime,
        expires_at: Option<OffsetDateTime>,
    ) -> Result<(), AccountError> {
        Ok(self.store.touch_session(session, now, expires_at).await?)
    }

    /// The newest committed message position: a connection that starts now
    /// gets everything after it live.
    pub async fn stream_position(&self) -> Result<roomy_core::MessageId, StoreError> {
        self.store.stream_position().await
    }

    /// Whether the database answers.
    pub async fn ping(&self) -> Result<(), StoreError> {
        self.store.ping().await
    }
}
