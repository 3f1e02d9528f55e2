//! Looking up and searching other users.

use crate::{App, GraphError};
use roomy_core::{Role, UserId};
use roomy_store::{StoreError, User};

/// Longest search query.
const MAX_QUERY: usize = 64;
/// Shortest search query: shorter ones would list nearly everyone.
const MIN_QUERY: usize = 3;
/// Shortest query in a script whose characters are words or syllables
/// (张伟, 김민): two of them say as much as three Latin letters.
const MIN_QUERY_WIDE: usize = 2;

/// Why a user lookup or search failed.
#[derive(Debug, thiserror::Error)]
pub enum UserError {
    /// The user does not exist.
    #[error("no such user")]
    UserNotFound,
    /// Guests may not search users.
    #[error("guests may not search users")]
    GuestForbidden,
    /// The search query is too short or too long (the field is `q`).
    #[error("must be {MIN_QUERY} to {MAX_QUERY} characters (2 in Chinese, Japanese or Korean)")]
    QueryLength,
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<GraphError> for UserError {
    fn from(e: GraphError) -> Self {
        match e {
            GraphError::Store(e) => UserError::Store(e),
        }
    }
}

/// How the caller stands with another user.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Relationship {
    /// The caller follows them.
    pub following: bool,
    /// They follow the caller.
    pub followed_by: bool,
    /// They are the caller's friend.
    pub friend: bool,
    /// The caller blocked them.
    pub blocked: bool,
}

/// A user's public profile as the caller sees it.
#[derive(Debug, Clone)]
pub struct Profile {
    /// The account.
    pub user: User,
    /// How many users they follow.
    pub following_count: u64,
    /// How many users follow them.
    pub followers_count: u64,
    /// How the caller stands with them (all false for the caller themselves).
    pub relationship: Relationship,
}

/// A user search query, checked: the caller may search, and its length fits.
#[derive(Debug, Clone)]
pub struct UserQuery(String);

impl UserQuery {
    /// Refuses guests, then checks the trimmed query's length.
    pub fn parse(me: &User, q: Option<&str>) -> Result<UserQuery, UserError> {
        if me.role == Role::Guest {
            return Err(UserError::GuestForbidden);
        }
        let q = q.map(str::trim).unwrap_or_default();
        let min = if q.chars().any(|c| u32::from(c) >= 0x1100) {
            MIN_QUERY_WIDE
        } else {
            MIN_QUERY
        };
        if !(min..=MAX_QUERY).contains(&q.chars().count()) {
            return Err(UserError::QueryLength);
        }
        Ok(UserQuery(q.to_owned()))
    }
}

impl App {
    /// A user's public profile, follow counts, and how the caller stands with them.
    pub async fn user_profile(&self, me: &User, id: UserId) -> Result<Profile, UserError> {
        let user = self.store.user(id).await?.ok_or(UserError::UserNotFound)?;
        let (following_count, followers_count) =
            self.graph.counts(user.id).await?.unwrap_or((0, 0));
        let relationship = if me.id == user.id {
            Relationship::default()
        } else {
            let follows = self.graph.relation(me.id, user.id).await?;
            let facts = self.store.pair_facts(me.id, user.id).await?;
            Relationship {
                following: follows.following,
                followed_by: follows.followed_by,
                friend: facts.friend,
                blocked: facts.blocked,
            }
        };
        Ok(Profile {
            user,
            following_count,
            followers_count,
            relationship,
        })
    }

    /// Users whose username or nickname contains the query, by id, after `after`.
    pub async fn search_users(
        &self,
        me: &User,
        query: &UserQuery,
        after: Option<UserId>,
        limit: u32,
    ) -> Result<Vec<User>, UserError> {
        if me.role == Role::Guest {
            return Err(UserError::GuestForbidden);
        }
        Ok(self.store.search_users(&query.0, after, limit).await?)
    }
}
