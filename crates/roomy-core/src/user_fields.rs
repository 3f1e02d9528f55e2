//! Validated account fields ("parse, don't validate"): once a value has one of
//! these types it satisfies the account rules written on each type (lengths,
//! characters, no invisible or bidi text), so later layers need not re-check.

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

/// Characters that reorder or hide text (bidi embeddings, overrides and
/// isolates, marks, line and paragraph separators, the BOM, zero-width and
/// invisible operators): in a name they make one user look like another or
/// flip the text around it, so names refuse them. Messages keep them; the
/// client shows messages isolated.
fn spoofing(c: char) -> bool {
    matches!(c,
        '\u{061C}' | '\u{200B}' | '\u{200E}' | '\u{200F}'
        | '\u{202A}'..='\u{202E}' | '\u{2028}' | '\u{2029}'
        | '\u{2060}'..='\u{2064}' | '\u{2066}'..='\u{206F}'
        | '\u{FEFF}' | '\u{FFF9}'..='\u{FFFB}' | '\u{180E}' | '\u{00AD}' | '\u{034F}'
    )
}

/// Characters that show nothing on their own: a name made only of these
/// (and spaces) looks empty. The joiners and variation selectors stay
/// allowed, since emoji sequences and some scripts need them.
fn blank(c: char) -> bool {
    c.is_whitespace()
        || matches!(c,
            '\u{200C}' | '\u{200D}' | '\u{FE00}'..='\u{FE0F}' | '\u{E0100}'..='\u{E01EF}'
            | '\u{115F}' | '\u{1160}' | '\u{3164}' | '\u{FFA0}' | '\u{2800}'
        )
}

/// A name people read (nickname, group name, remark): trimmed, 1 to `max`
/// characters, no control, bidi or invisible characters, and at least one
/// visible one.
pub(crate) fn display_text(s: &str, max: usize) -> Result<String, String> {
    crate::validation::storable(s)?;
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
    if let Some(c) = t.chars().find(|&c| spoofing(c)) {
        return Err(format!(
            "must not contain invisible or text-direction characters (found U+{:04X})",
            c as u32
        ));
    }
    if t.chars().all(blank) {
        return Err("must contain a visible character".into());
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
        assert!(Nickname::parse("a\u{0}b").is_err());
    }

    #[test]
    fn names_refuse_spoofing_and_invisible_text() {
        for bad in [
            "evil\u{202E}gnp.exe",
            "\u{2066}bob\u{2069}",
            "\u{FEFF}admin",
            "two\u{2028}lines",
            "a\u{200F}b",
            "\u{200B}\u{200B}",
            "\u{3164}",
            "\u{200D} \u{FE0F}",
        ] {
            assert!(Nickname::parse(bad).is_err(), "{bad:?}");
        }
        for good in [
            "张伟",
            "José",
            "👨\u{200D}👩\u{200D}👧",
            "❤\u{FE0F}",
            "می\u{200C}خواهم",
        ] {
            assert!(Nickname::parse(good).is_ok(), "{good:?}");
        }
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
