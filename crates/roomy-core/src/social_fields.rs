//! Validated fields and small enums of the social graph: friend requests,
//! remarks and who may open a direct conversation.

use serde::{Deserialize, Serialize};

/// The note sent with a friend request: 0-50 characters after trimming
/// (empty means none), no control characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FriendNote(String);

impl FriendNote {
    /// Longest allowed note, in characters.
    pub const MAX: usize = 50;

    /// Trims and checks; `None` for an empty note.
    pub fn parse(s: &str) -> Result<Option<FriendNote>, String> {
        optional_text(s, Self::MAX).map(|t| t.map(FriendNote))
    }

    /// The trimmed note.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The name a user gives a friend in their own list: 0-32 characters after
/// trimming (empty clears it), no control characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Remark(String);

impl Remark {
    /// Longest allowed remark, in characters.
    pub const MAX: usize = 32;

    /// Trims and checks; `None` for an empty remark.
    pub fn parse(s: &str) -> Result<Option<Remark>, String> {
        optional_text(s, Self::MAX).map(|t| t.map(Remark))
    }

    /// The trimmed remark.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

fn optional_text(s: &str, max: usize) -> Result<Option<String>, String> {
    if s.trim().is_empty() {
        return Ok(None);
    }
    crate::user_fields::display_text(s, max).map(Some)
}

/// Where a friend request stands (pending, then accepted, refused or ignored by its target).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema, ts_rs::TS,
)]
#[serde(rename_all = "snake_case")]
pub enum RequestStatus {
    Pending,
    Agree,
    Refuse,
    Ignore,
}

impl RequestStatus {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            RequestStatus::Pending => "pending",
            RequestStatus::Agree => "agree",
            RequestStatus::Refuse => "refuse",
            RequestStatus::Ignore => "ignore",
        }
    }

    /// Parses a stored or client-given name.
    pub fn parse(s: &str) -> Option<RequestStatus> {
        match s {
            "pending" => Some(RequestStatus::Pending),
            "agree" => Some(RequestStatus::Agree),
            "refuse" => Some(RequestStatus::Refuse),
            "ignore" => Some(RequestStatus::Ignore),
            _ => None,
        }
    }
}

/// One user's relation towards another (none, follows, or blocks; stored as 0, 1, 2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RelationState {
    /// No relation (never had one, or it was undone).
    Deleted = 0,
    Follow = 1,
    /// Blocked: the other cannot follow, friend-request or message this user.
    Blacklist = 2,
}

impl RelationState {
    /// Parses the stored number.
    pub fn from_i64(v: i64) -> Option<RelationState> {
        match v {
            0 => Some(RelationState::Deleted),
            1 => Some(RelationState::Follow),
            2 => Some(RelationState::Blacklist),
            _ => None,
        }
    }
}

/// Who may open a direct room with whom and send in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DirectPolicy {
    /// Only friends (the default); a block always stops it.
    #[default]
    Friends,
    /// Any two non-guest users who have not blocked each other.
    Anyone,
}

impl DirectPolicy {
    /// Whether direct rooms need the pair to be friends.
    pub fn requires_friendship(self) -> bool {
        self == DirectPolicy::Friends
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notes_and_remarks() {
        assert_eq!(FriendNote::parse("  ").expect("empty ok"), None);
        assert_eq!(
            FriendNote::parse(" hi ").expect("ok").map(|n| n.0),
            Some("hi".into())
        );
        assert!(FriendNote::parse(&"你".repeat(50)).is_ok());
        assert!(FriendNote::parse(&"你".repeat(51)).is_err());
        assert!(Remark::parse(&"r".repeat(33)).is_err());
        assert!(Remark::parse("a\u{0}b").is_err());
        assert_eq!(RequestStatus::parse("agree"), Some(RequestStatus::Agree));
        assert_eq!(RelationState::from_i64(2), Some(RelationState::Blacklist));
        assert!(DirectPolicy::default().requires_friendship());
    }
}
