//! Typing indicators: [`App::typing`] forwards a member's typing to the
//! room's other members, at most once per user and room per
//! [`TYPING_WINDOW`] (the [`TypingLimiter`], judged on the injected clock).
//!
//! Counted in this process: with several nodes, a user typing on two nodes
//! at once may be forwarded once per node.

use crate::App;
use roomy_bus::{Envelope, Event};
use roomy_core::{RoomId, UserId, clock::to_millis};
use roomy_store::StoreError;
use std::{collections::HashMap, sync::Mutex};
use time::{Duration, OffsetDateTime};

/// Why a typing indicator was not forwarded.
#[derive(Debug, thiserror::Error)]
pub enum TypingError {
    /// The user's previous one in the room was forwarded less than a window ago.
    #[error("one typing frame per room every 2 seconds")]
    Limited,
    /// Not a member of the room (or no such room).
    #[error("no such room")]
    NotMember,
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl App {
    /// Forwards `user`'s typing in `room` to the room's other members (all
    /// their devices, on every node), within the limit of [`TypingLimiter`].
    pub async fn typing(&self, user: UserId, room: RoomId) -> Result<(), TypingError> {
        let now = self.clock.now();
        // The limit is judged before the store is read, so a flood costs no queries.
        if !self.typing.try_take(user, room, now) {
            return Err(TypingError::Limited);
        }
        let members = match self.member_ids(room).await {
            Ok(m) if m.contains(&user) => m,
            other => {
                self.typing.give_back(user, room, now);
                return Err(match other {
                    Err(e) => TypingError::Store(e),
                    Ok(_) => TypingError::NotMember,
                });
            }
        };
        let recipients: Vec<UserId> = members.into_iter().filter(|m| *m != user).collect();
        if !recipients.is_empty() {
            roomy_bus::announce(
                &*self.bus,
                Envelope {
                    recipients,
                    event: Event::Typing { room, user },
                    origin: None,
                },
            )
            .await;
        }
        Ok(())
    }

    /// Every member of `room`: one query for any room within `max_group_members`
    /// (pages of that size; a room can only outgrow it if the limit was lowered).
    async fn member_ids(&self, room: RoomId) -> Result<Vec<UserId>, StoreError> {
        let page = u32::try_from(self.settings.max_group_members.max(2)).unwrap_or(u32::MAX);
        let mut ids = Vec::new();
        let mut after = None;
        loop {
            let members = self.store.members(room, after, page).await?;
            let full = members.len() >= page as usize;
            ids.extend(members.into_iter().map(|m| m.user.id));
            if !full {
                return Ok(ids);
            }
            after = ids.last().copied();
        }
    }
}

/// How often one user's typing in one room is forwarded at most.
pub const TYPING_WINDOW: Duration = Duration::seconds(2);
/// Map size below which stale entries are left alone.
const SWEEP_ABOVE: usize = 10_000;

/// When each user last had a typing frame forwarded, per room.
#[derive(Debug, Default)]
pub struct TypingLimiter {
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    /// Unix ms of the last forwarded frame.
    last: HashMap<(UserId, RoomId), i64>,
    sweep_at: usize,
}

fn window_ms() -> i64 {
    TYPING_WINDOW.whole_milliseconds() as i64
}

/// Whether a frame at `then` still holds the slot at `now`. A clock that
/// went back frees it rather than blocking the user until it catches up.
fn holds(then: i64, now: i64) -> bool {
    (0..window_ms()).contains(&(now - then))
}

impl TypingLimiter {
    /// A limiter that has seen nothing.
    pub fn new() -> TypingLimiter {
        TypingLimiter::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Takes `user`'s slot in `room` at `now`; false when a frame was
    /// forwarded less than a window ago.
    pub fn try_take(&self, user: UserId, room: RoomId, now: OffsetDateTime) -> bool {
        let now = to_millis(now);
        let mut s = self.lock();
        // Sweeping costs O(entries): only once the map has doubled since the
        // last sweep, so taking a slot stays O(1) amortised and the map holds
        // little more than the last window's entries.
        if s.last.len() > s.sweep_at.max(SWEEP_ABOVE) {
            s.last.retain(|_, then| holds(*then, now));
            s.sweep_at = s.last.len() * 2;
        }
        match s.last.get(&(user, room)) {
            Some(&then) if holds(then, now) => false,
            _ => {
                s.last.insert((user, room), now);
                true
            }
        }
    }

    /// Gives back a slot taken at `now` whose frame was not forwarded after
    /// all (not a member), so it does not count against the user.
    pub fn give_back(&self, user: UserId, room: RoomId, now: OffsetDateTime) {
        let now = to_millis(now);
        let mut s = self.lock();
        if s.last.get(&(user, room)) == Some(&now) {
            s.last.remove(&(user, room));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_frame_per_user_and_room_per_window() {
        let l = TypingLimiter::new();
        let t = OffsetDateTime::now_utc();
        let (a, b, r1, r2) = (UserId(1), UserId(2), RoomId(10), RoomId(20));
        assert!(l.try_take(a, r1, t));
        assert!(!l.try_take(a, r1, t + Duration::milliseconds(1_999)));
        assert!(l.try_take(a, r2, t), "another room");
        assert!(l.try_take(b, r1, t), "another user");
        assert!(l.try_take(a, r1, t + TYPING_WINDOW));
        assert!(l.try_take(b, r1, t - Duration::hours(1)), "clock went back");
    }

    #[test]
    fn a_slot_given_back_is_free_again() {
        let l = TypingLimiter::new();
        let t = OffsetDateTime::now_utc();
        assert!(l.try_take(UserId(1), RoomId(1), t));
        l.give_back(UserId(1), RoomId(1), t);
        assert!(l.try_take(UserId(1), RoomId(1), t));
        // Only the taker's own slot is given back.
        l.give_back(UserId(1), RoomId(1), t - Duration::seconds(1));
        assert!(!l.try_take(UserId(1), RoomId(1), t));
    }

    #[test]
    fn old_entries_are_forgotten() {
        let l = TypingLimiter::new();
        let t = OffsetDateTime::now_utc();
        for i in 0..=SWEEP_ABOVE as i64 {
            assert!(l.try_take(UserId(i), RoomId(1), t));
        }
        assert!(l.try_take(UserId(0), RoomId(2), t + TYPING_WINDOW));
        assert_eq!(l.lock().last.len(), 1, "only the new entry is left");
    }
}
