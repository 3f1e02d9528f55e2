//! Validated room and message fields, and the small enums of the chat model.

use serde::{Deserialize, Serialize};

/// Whether a room is a two-person conversation or a group.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema, ts_rs::TS,
)]
#[serde(rename_all = "snake_case")]
pub enum RoomKind {
    Direct,
    Group,
}

impl RoomKind {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            RoomKind::Direct => "direct",
            RoomKind::Group => "group",
        }
    }

    /// Parses a stored name.
    pub fn parse(s: &str) -> Option<RoomKind> {
        match s {
            "direct" => Some(RoomKind::Direct),
            "group" => Some(RoomKind::Group),
            _ => None,
        }
    }
}

/// A member's role in a room.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
    ts_rs::TS,
)]
#[serde(rename_all = "snake_case")]
pub enum MemberRole {
    Member,
    Admin,
    Owner,
}

impl MemberRole {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            MemberRole::Member => "member",
            MemberRole::Admin => "admin",
            MemberRole::Owner => "owner",
        }
    }

    /// Parses a stored name.
    pub fn parse(s: &str) -> Option<MemberRole> {
        match s {
            "member" => Some(MemberRole::Member),
            "admin" => Some(MemberRole::Admin),
            "owner" => Some(MemberRole::Owner),
            _ => None,
        }
    }

    /// Owners and admins manage a group's members and profile.
    pub fn manages(self) -> bool {
        self >= MemberRole::Admin
    }
}

/// What a message carries. Media kinds reference an uploaded file.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema, ts_rs::TS,
)]
#[serde(rename_all = "snake_case")]
pub enum MessageKind {
    /// Text, emoji included.
    Text,
    Image,
    File,
    Video,
    /// A notice written by the server ("alice joined").
    System,
}

impl MessageKind {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            MessageKind::Text => "text",
            MessageKind::Image => "image",
            MessageKind::File => "file",
            MessageKind::Video => "video",
            MessageKind::System => "system",
        }
    }

    /// Parses a stored or client-given name; "emoji" is text.
    pub fn parse(s: &str) -> Option<MessageKind> {
        match s {
            "text" | "emoji" => Some(MessageKind::Text),
            "image" => Some(MessageKind::Image),
            "file" => Some(MessageKind::File),
            "video" => Some(MessageKind::Video),
            "system" => Some(MessageKind::System),
            _ => None,
        }
    }
}

/// A group name: 1-50 characters after trimming, no control characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoomName(String);

impl RoomName {
    /// Longest allowed name, in characters.
    pub const MAX: usize = 50;

    /// Trims, then checks length and characters.
    pub fn parse(s: &str) -> Result<RoomName, String> {
        crate::user_fields::display_text(s, Self::MAX).map(RoomName)
    }

    /// The trimmed name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A text message body: trimmed, then 1 to `max_chars` characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageBody(String);

impl MessageBody {
    /// Default longest body, in characters.
    pub const DEFAULT_MAX: usize = 10_000;

    /// Trims surrounding whitespace, then checks the length and that the
    /// text can be stored.
    pub fn parse(s: &str, max_chars: usize) -> Result<MessageBody, String> {
        crate::validation::storable(s)?;
        let t = s.trim();
        if t.is_empty() {
            return Err("must not be empty".into());
        }
        if t.chars().count() > max_chars {
            return Err(format!("must be at most {max_chars} characters long"));
        }
        Ok(MessageBody(t.to_owned()))
    }

    /// A body written by the server itself (system notices).
    pub fn system(text: String) -> MessageBody {
        MessageBody(text)
    }

    /// The trimmed body.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The body, owned.
    pub fn into_string(self) -> String {
        self.0
    }
}

/// The sender's id for a message, making retries idempotent: 1-64 printable
/// ASCII characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ClientId(String);

impl ClientId {
    /// Longest allowed client id.
    pub const MAX: usize = 64;

    /// Checks length and characters.
    pub fn parse(s: &str) -> Result<ClientId, String> {
        if s.is_empty() || s.len() > Self::MAX {
            return Err(format!("must be 1 to {} characters long", Self::MAX));
        }
        if !s.bytes().all(|b| b.is_ascii_graphic()) {
            return Err("must be printable ASCII without spaces".into());
        }
        Ok(ClientId(s.to_owned()))
    }

    /// The id as given.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_are_trimmed_and_bounded() {
        assert_eq!(
            MessageBody::parse("  hi 👋 ", 10).expect("ok").as_str(),
            "hi 👋"
        );
        assert!(MessageBody::parse(" \n\t ", 10).is_err());
        assert!(MessageBody::parse(&"é".repeat(10), 10).is_ok());
        assert!(MessageBody::parse(&"é".repeat(11), 10).is_err());
        assert!(MessageBody::parse("a\u{0}b", 10).is_err());
        assert!(MessageBody::parse("tabs\tand\nlines stay", 100).is_ok());
    }

    #[test]
    fn client_ids_and_names() {
        assert!(ClientId::parse("c-123_abc").is_ok());
        assert!(ClientId::parse("").is_err());
        assert!(ClientId::parse("has space").is_err());
        assert!(ClientId::parse(&"x".repeat(65)).is_err());
        assert!(RoomName::parse("  Team ").is_ok());
        assert!(RoomName::parse(&"n".repeat(51)).is_err());
        assert_eq!(MessageKind::parse("emoji"), Some(MessageKind::Text));
        assert!(MemberRole::Owner.manages() && !MemberRole::Member.manages());
    }
}
