//! The follow graph and blocks: follow, unfollow, block, unblock, and the
//! follow, block and mutual lists.

use crate::{App, GraphError};
use roomy_core::{UserId, clock::from_millis};
use roomy_store::{Missing, Refusal, Related, StoreError, User};
use std::collections::HashMap;

/// Why a follow-graph operation failed.
#[derive(Debug, thiserror::Error)]
pub enum SocialError {
    /// Nobody follows or blocks themselves.
    #[error("you cannot {} yourself", .0.verb())]
    NotYourself(GraphChange),
    /// The user does not exist.
    #[error("no such user")]
    UserNotFound,
    /// The other user blocked the caller.
    #[error("this user has blocked you")]
    Blocked,
    /// The caller blocked the other user (unblock first).
    #[error("you have blocked this user; unblock them first")]
    YouBlockedUser,
    /// A rule of the social graph not named above.
    #[error("refused: {0:?}")]
    Refused(Refusal),
    /// The store failed.
    #[error(transparent)]
    Store(StoreError),
}

impl From<StoreError> for SocialError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Refused(Refusal::Blocked) => SocialError::Blocked,
            StoreError::Refused(Refusal::YouBlocked) => SocialError::YouBlockedUser,
            StoreError::Refused(other) => SocialError::Refused(other),
            other => SocialError::Store(other),
        }
    }
}

impl From<GraphError> for SocialError {
    fn from(e: GraphError) -> Self {
        match e {
            GraphError::Store(e) => e.into(),
        }
    }
}

/// Maps the store's missing user (the target) to "no such user".
fn missing_user(e: StoreError) -> SocialError {
    match e {
        StoreError::NotFound(Missing::User) => SocialError::UserNotFound,
        other => other.into(),
    }
}

/// A change of the caller's edges in the graph.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GraphChange {
    /// Start following (again changes nothing).
    Follow,
    /// Stop following (not following changes nothing).
    Unfollow,
    /// Block: follows both ways end, and the other can no longer reach the caller.
    Block,
    /// Lift a block.
    Unblock,
}

impl GraphChange {
    /// The verb, as messages say it.
    pub fn verb(self) -> &'static str {
        match self {
            GraphChange::Follow => "follow",
            GraphChange::Unfollow => "unfollow",
            GraphChange::Block => "block",
            GraphChange::Unblock => "unblock",
        }
    }
}

/// Which follow list to page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FollowList {
    /// Whom the user follows.
    Following,
    /// Who follows the user.
    Followers,
}

impl App {
    /// Changes the caller's edge to `target` and brings the graph cache along.
    pub async fn change_graph(
        &self,
        me: &User,
        target: UserId,
        change: GraphChange,
    ) -> Result<(), SocialError> {
        let me = me.id;
        if target == me {
            return Err(SocialError::NotYourself(change));
        }
        let now = self.clock.now();
        let deltas = match change {
            GraphChange::Follow => self.store.follow(me, target, now).await,
            GraphChange::Unfollow => self.store.unfollow(me, target, now).await,
            GraphChange::Block => self.store.block(me, target, now).await,
            GraphChange::Unblock => self
                .store
                .unblock(me, target, now)
                .await
                .map(|()| Vec::new()),
        }
        .map_err(missing_user)?;
        self.graph.applied(&deltas).await;
        Ok(())
    }

    /// Users the caller blocked, newest first, after the `(ms, id)` cursor.
    pub async fn blocks(
        &self,
        me: &User,
        after: Option<(i64, UserId)>,
        limit: u32,
    ) -> Result<Vec<Related>, SocialError> {
        Ok(self.store.blocks(me.id, after, limit).await?)
    }

    /// A user's following or followers, newest follow first.
    pub async fn follow_list(
        &self,
        _me: &User,
        user: UserId,
        list: FollowList,
        after: Option<(i64, UserId)>,
        limit: u32,
    ) -> Result<Vec<Related>, SocialError> {
        let user = self
            .store
            .user(user)
            .await?
            .ok_or(SocialError::UserNotFound)?
            .id;
        Ok(match list {
            FollowList::Following => self.store.following(user, after, limit).await?,
            FollowList::Followers => self.store.followers(user, after, limit).await?,
        })
    }

    /// Users who follow `user` and whom `user` follows back, newest follow
    /// by `user` first.
    pub async fn mutual(
        &self,
        _me: &User,
        user: UserId,
        after: Option<(i64, UserId)>,
        limit: u32,
    ) -> Result<Vec<Related>, SocialError> {
        let ids = self
            .graph
            .mutual(user, after, limit as usize)
            .await?
            .ok_or(SocialError::UserNotFound)?;
        let users = self
            .store
            .users_by_ids(&ids.iter().map(|(u, _)| *u).collect::<Vec<_>>())
            .await?;
        let mut by_id: HashMap<UserId, User> = users.into_iter().map(|u| (u.id, u)).collect();
        Ok(ids
            .into_iter()
            .filter_map(|(u, ms)| {
                by_id.remove(&u).map(|user| Related {
                    user,
                    at: from_millis(ms),
                })
            })
            .collect())
    }
}
