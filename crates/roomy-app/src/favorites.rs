//! Favorite messages, kept per user. A favorite names a message; message rows
//! only ever change by revocation, so a favorite shows the message as it was
//! favorited, or as revoked, even after its owner left the room. A change is
//! a per-user notice, so the user's other devices follow it, live or by sync.

use crate::{App, MessageError};
use roomy_core::{MessageId, UserId};
use roomy_store::Favorite;

/// A favorite after [`App::add_favorite`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Favorited {
    /// The favorite, as stored.
    pub favorite: Favorite,
    /// False when it was a favorite already.
    pub new: bool,
}

impl App {
    /// Favorites a message `me` can see now, telling their devices; again
    /// is no change and tells nobody.
    pub async fn add_favorite(
        &self,
        me: UserId,
        message: MessageId,
    ) -> Result<Favorited, MessageError> {
        let (favorite, notice) = self
            .store
            .add_favorite(me, message, self.clock.now())
            .await?
            .ok_or(MessageError::MessageNotFound)?;
        let new = notice.is_some();
        self.publish_notices(notice.into_iter().collect(), None)
            .await;
        Ok(Favorited { favorite, new })
    }

    /// Forgets a favorite, telling `me`'s devices (nothing happens when it
    /// was none).
    pub async fn remove_favorite(
        &self,
        me: UserId,
        message: MessageId,
    ) -> Result<(), MessageError> {
        let notice = self
            .store
            .remove_favorite(me, message, self.clock.now())
            .await?;
        self.publish_notices(notice.into_iter().collect(), None)
            .await;
        Ok(())
    }

    /// Up to `limit` of `me`'s favorites, newest first, after the
    /// `(favorited ms, message id)` position.
    pub async fn favorites(
        &self,
        me: UserId,
        after: Option<(i64, MessageId)>,
        limit: u32,
    ) -> Result<Vec<Favorite>, MessageError> {
        Ok(self.store.favorites(me, after, limit).await?)
    }
}
