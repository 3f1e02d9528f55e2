//! Object keys: made by the server, never taken from a client.

use crate::BlobError;
use std::fmt;
use time::OffsetDateTime;

/// The longest key [`ObjectKey::parse`] accepts; generated keys are far shorter.
const MAX_KEY_LEN: usize = 256;

/// A server-generated object key, never derived from client input.
///
/// Its text is `<prefix>/<yyyymmdd>/<unix_ms>_<12 random hex>[.<ext>]`: only
/// `[a-z0-9_./-]`, no empty segment and no segment starting with `.`, so it
/// is also a safe relative path under the file-system root (it can name
/// neither a parent directory nor the hidden directory of partial writes).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ObjectKey(String);

impl ObjectKey {
    /// A new key `<prefix>/<yyyymmdd>/<unix_ms>_<12 random hex>.<ext>`, e.g.
    /// `files/20261121/1763720000000_a1b2c3d4e5f6.mp4`.
    ///
    /// `prefix` is a fixed server constant (`files`, `thumbs`): one segment
    /// of `[a-z0-9_-]`. The date is `now`'s, in UTC. `ext` comes from the
    /// sniffed content type; anything but `[a-z0-9]{1,8}` is dropped (no
    /// extension) rather than trusted.
    pub fn generate(prefix: &str, now: OffsetDateTime, ext: Option<&str>) -> ObjectKey {
        debug_assert!(
            is_prefix(prefix),
            "object key prefix {prefix:?} must be one segment of [a-z0-9_-]"
        );
        let now = now.to_offset(time::UtcOffset::UTC);
        let date = now.date();
        // Millisecond precision is enough to sort; the random part makes keys unique.
        let unix_ms = now.unix_timestamp_nanos().div_euclid(1_000_000);
        let random = rand::random::<u64>() & 0xffff_ffff_ffff;
        let mut key = format!(
            "{prefix}/{:04}{:02}{:02}/{unix_ms}_{random:012x}",
            date.year(),
            u8::from(date.month()),
            date.day()
        );
        if let Some(ext) = ext.filter(|e| is_ext(e)) {
            key.push('.');
            key.push_str(ext);
        }
        ObjectKey(key)
    }

    /// Reads back a key this crate generated (from the database).
    ///
    /// Accepts `[a-z0-9_./-]` only, at most 256 bytes, with no leading or
    /// trailing `/`, no empty segment and no segment starting with `.`
    /// (so no `.` or `..`). It checks shape, not origin: any key it accepts
    /// is safe to join under a storage root.
    pub fn parse(stored: &str) -> Result<ObjectKey, BlobError> {
        let invalid = |why: &str| Err(BlobError::InvalidKey(format!("{stored:?}: {why}")));
        if stored.is_empty() {
            return invalid("empty");
        }
        if stored.len() > MAX_KEY_LEN {
            return invalid("too long");
        }
        if !stored.bytes().all(is_key_byte) {
            return invalid("only a-z, 0-9, '_', '.', '/' and '-' are allowed");
        }
        for segment in stored.split('/') {
            if segment.is_empty() {
                return invalid("empty path segment");
            }
            if segment.starts_with('.') {
                return invalid("path segment starting with '.'");
            }
        }
        Ok(ObjectKey(stored.to_owned()))
    }

    /// The key's text, as stored in the database and used as the object path.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ObjectKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

fn is_key_byte(b: u8) -> bool {
    matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'_' | b'.' | b'/' | b'-')
}

fn is_prefix(prefix: &str) -> bool {
    !prefix.is_empty()
        && prefix
            .bytes()
            .all(|b| matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'_' | b'-'))
}

fn is_ext(ext: &str) -> bool {
    (1..=8).contains(&ext.len())
        && ext
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use time::macros::datetime;

    /// Checks `key` is `<prefix>/<date>/<13 digits>_<12 hex>` plus `tail`, and returns the millis.
    fn check_shape(key: &ObjectKey, prefix: &str, date: &str, tail: &str) -> i128 {
        let rest = key
            .as_str()
            .strip_prefix(&format!("{prefix}/{date}/"))
            .unwrap_or_else(|| panic!("{key} should start with {prefix}/{date}/"));
        let rest = rest
            .strip_suffix(tail)
            .unwrap_or_else(|| panic!("{key} should end with {tail:?}"));
        let (ms, random) = rest.split_once('_').unwrap();
        assert!(ms.bytes().all(|b| b.is_ascii_digit()), "{key}");
        assert_eq!(random.len(), 12, "{key}");
        assert!(
            random
                .bytes()
                .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')),
            "{key}"
        );
        assert_eq!(ObjectKey::parse(key.as_str()).unwrap(), *key);
        ms.parse().unwrap()
    }

    #[test]
    fn generate_has_the_documented_shape() {
        let now = datetime!(2026-11-21 10:13:20.123 UTC);
        let key = ObjectKey::generate("files", now, Some("mp4"));
        let ms = check_shape(&key, "files", "20261121", ".mp4");
        assert_eq!(ms, now.unix_timestamp_nanos() / 1_000_000);
        assert_eq!(ms % 1000, 123);

        let key = ObjectKey::generate("thumbs", now, None);
        check_shape(&key, "thumbs", "20261121", "");
        assert!(!key.as_str().contains('.'), "{key}");
    }

    #[test]
    fn generate_dates_in_utc() {
        // 23:30 on the 21st at -05:00 is already the 22nd in UTC.
        let now = datetime!(2026-11-21 23:30 -5);
        let key = ObjectKey::generate("files", now, Some("png"));
        check_shape(&key, "files", "20261122", ".png");
    }

    #[test]
    fn generate_drops_an_invalid_extension() {
        let now = datetime!(2026-01-02 00:00 UTC);
        for bad in ["", "MP4", "toolongext", "a.b", "../x", "p/g", "é"] {
            let key = ObjectKey::generate("files", now, Some(bad));
            check_shape(&key, "files", "20260102", "");
            assert!(!key.as_str().contains('.'), "{bad:?} gave {key}");
        }
        let key = ObjectKey::generate("files", now, Some("12345678"));
        check_shape(&key, "files", "20260102", ".12345678");
    }

    #[test]
    fn generated_keys_differ() {
        let now = datetime!(2026-01-02 00:00 UTC);
        let a = ObjectKey::generate("files", now, None);
        let b = ObjectKey::generate("files", now, None);
        assert_ne!(a, b);
    }

    #[test]
    fn parse_accepts_generated_shapes() {
        for ok in [
            "files/20261121/1763720000000_a1b2c3d4e5f6.mp4",
            "thumbs/20261121/1763720000000_a1b2c3d4e5f6",
            "a",
            "a-b_c/d.e",
        ] {
            assert_eq!(ObjectKey::parse(ok).unwrap().as_str(), ok);
        }
    }

    #[test]
    fn parse_rejects_anything_else() {
        let long = "a".repeat(MAX_KEY_LEN + 1);
        for bad in [
            "",
            "../x",
            "a/../b",
            "a/..",
            "..",
            "./a",
            "a/./b",
            "a/.tmp/b",
            "/abs",
            "a//b",
            "a/",
            "a/%2e%2e/b",
            "a\0b",
            "Files/x",
            "a\\b",
            "..\\x",
            "a b",
            "a/é",
            "a?b",
            &long,
        ] {
            let err = ObjectKey::parse(bad).unwrap_err();
            assert!(matches!(err, BlobError::InvalidKey(_)), "{bad:?}: {err:?}");
        }
        assert!(ObjectKey::parse(&"a".repeat(MAX_KEY_LEN)).is_ok());
    }
}
