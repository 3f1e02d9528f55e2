//! Validated account fields ("parse, don't validate"): once a value has one of
//! these types it satisfies SPEC §1's rules, so later layers need not re-check.

use std::fmt;

/// Username: 6-30 characters of `[a-zA-Z0-9#$%_-]`; unique (case-insensitively) and immutable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Username(String);

impl Username {
    /// Shortest allowed username.
    pub const MIN: usize = 6;
    /// Longest allowed username.
    pub const MAX: usize = 30;

    /// Checks the length and character rules.
    pub fn parse(s: &str) -> Result<Username, String> {
        let len = s.chars().count();
        if !(Self::MIN..=Self::MAX).contains(&len) {
            return Err(format!(
                "must be {} to {} characters long",
                Self::MIN,
                Self::MAX
            ));
        }
        if let Some(bad) = s
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || "#$%_-".contains(*c)))
        {
            return Err(format!(
                "may contain only letters, digits and # $ % _ - (found {bad:?})"
            ));
        }
        Ok(Username(s.to_owned()))
    }

    /// The username as typed at registration.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A plaintext password on its way to the hasher; never printed.
#[derive(Clone)]
pub struct Password(String);

impl Password {
    /// Shortest allowed password, in characters.
    pub const MIN: usize = 8;
    /// Longest allowed password, in characters (bounds the hashing work).
    pub const MAX: usize = 128;

    /// Checks the length rule.
    pub fn parse(s: &str) -> Result<Password, String> {
        let len = s.chars().count();
        if !(Self::MIN..=Self::MAX).contains(&len) {
            return Err(format!(
                "must be {} to {} characters long",
                Self::MIN,
                Self::MAX
            ));
        }
        Ok(Password(s.to_owned()))
    }

    /// The secret itself, for the hasher only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(<redacted>)")
    }
}

/// A name people read (nickname, group name): trimmed, 1 to `max`
/// characters, no control characters.
pub(crate) fn display_text(s: &str, max: usize) -> Result<String, String> {
    let t = s.trim();
    if t.is_empty() {
        return Err("must not be empty".into());
    }
    if t.chars().count() > max {
        return Err(format!("must be at most {max} characters long"));
    }
    if t.chars().any(char::is_control) {
        return Err("must not contain control characters".into());
    }
    Ok(t.to_owned())
}

/// Display name: 1-30 characters after trimming, no control characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Nickname(String);

impl Nickname {
    /// Longest allowed nickname, in characters.
    pub const MAX: usize = 30;

    /// Trims, then checks length and characters.
    pub fn parse(s: &str) -> Result<Nickname, String> {
        display_text(s, Self::MAX).map(Nickname)
    }

    /// The trimmed nickname.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Avatar location: an absolute http(s) URL or a path to a file served by this
/// server (`/api/v1/files/...`), at most 1000 characters. Anything else (for
/// example `javascript:` or `file:` URLs) is refused so clients can render it safely.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AvatarUrl(String);

impl AvatarUrl {
    /// Longest allowed avatar URL, in characters.
    pub const MAX: usize = 1000;

    /// Checks length, scheme and characters.
    pub fn parse(s: &str) -> Result<AvatarUrl, String> {
        if s.chars().count() > Self::MAX {
            return Err(format!("must be at most {} characters long", Self::MAX));
        }
        if s.chars().any(|c| c.is_control() || c.is_whitespace()) {
            return Err("must not contain spaces or control characters".into());
        }
        if s.starts_with("/api/v1/files/") && !s.contains("..") {
            return Ok(AvatarUrl(s.to_owned()));
        }
        match url::Url::parse(s) {
            Ok(u) if (u.scheme() == "https" || u.scheme() == "http") && u.host().is_some() => {
                Ok(AvatarUrl(s.to_owned()))
            }
            _ => Err("must be an http(s) URL or a /api/v1/files/ path".into()),
        }
    }

    /// The URL as given.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames() {
        assert!(Username::parse("alice_01").is_ok());
        assert!(Username::parse("a#$%_-b").is_ok());
        assert!(Username::parse("short").is_err());
        assert!(Username::parse(&"x".repeat(31)).is_err());
        assert!(Username::parse("has space").is_err());
        assert!(Username::parse("ümlauts1").is_err());
    }

    #[test]
    fn passwords_count_characters_and_never_print() {
        assert!(Password::parse("1234567").is_err());
        assert!(Password::parse("ééééééééé").is_ok());
        assert!(Password::parse(&"p".repeat(129)).is_err());
        let p = Password::parse("secret-password").expect("valid");
        assert!(!format!("{p:?}").contains("secret"));
    }

    #[test]
    fn nicknames_are_trimmed() {
        assert_eq!(Nickname::parse("  Bob ").expect("valid").as_str(), "Bob");
        assert!(Nickname::parse("   ").is_err());
        assert!(Nickname::parse(&"n".repeat(31)).is_err());
        assert!(Nickname::parse("a\u{7}b").is_err());
    }

    #[test]
    fn avatars_are_http_urls_or_local_files() {
        assert!(AvatarUrl::parse("https://example.com/a.png").is_ok());
        assert!(AvatarUrl::parse("/api/v1/files/12").is_ok());
        assert!(AvatarUrl::parse("javascript:alert(1)").is_err());
        assert!(AvatarUrl::parse("file:///etc/passwd").is_err());
        assert!(AvatarUrl::parse("/api/v1/files/../../etc").is_err());
        assert!(AvatarUrl::parse(&format!("https://e.com/{}", "a".repeat(1000))).is_err());
    }
}
