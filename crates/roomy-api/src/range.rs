//! HTTP `Range: bytes=...` for downloads (RFC 9110 §14): one range is served
//! as 206; several, or a syntax we do not read, fall back to the whole file
//! (which the RFC allows), and a range past the end is 416.

use std::ops::Range;

/// What to send for a `Range` header against a file of `size` bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RangeAnswer {
    /// 200 with everything.
    Whole,
    /// 206 with these bytes.
    Part(Range<u64>),
    /// 416: no byte of the range exists.
    Unsatisfiable,
}

/// Reads a `Range` header value.
pub fn parse_range(header: Option<&str>, size: u64) -> RangeAnswer {
    let Some(spec) = header.and_then(|h| h.trim().strip_prefix("bytes=")) else {
        return RangeAnswer::Whole;
    };
    if spec.contains(',') {
        return RangeAnswer::Whole;
    }
    let Some((first, last)) = spec.trim().split_once('-') else {
        return RangeAnswer::Whole;
    };
    let num = |s: &str| -> Option<u64> {
        let s = s.trim();
        (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
            .then(|| s.parse().ok())
            .flatten()
    };
    match (first.trim().is_empty(), num(first), num(last)) {
        // `bytes=-N`: the last N bytes.
        (true, _, Some(n)) => {
            if n == 0 || size == 0 {
                RangeAnswer::Unsatisfiable
            } else {
                RangeAnswer::Part(size.saturating_sub(n)..size)
            }
        }
        (false, Some(start), end) if last.trim().is_empty() || end.is_some() => {
            if start >= size {
                return RangeAnswer::Unsatisfiable;
            }
            match end {
                Some(end) if end < start => RangeAnswer::Whole,
                Some(end) => RangeAnswer::Part(start..end.min(size - 1) + 1),
                None => RangeAnswer::Part(start..size),
            }
        }
        _ => RangeAnswer::Whole,
    }
}

#[cfg(test)]
mod tests {
    use super::{RangeAnswer::*, parse_range};

    #[test]
    fn single_ranges() {
        assert_eq!(parse_range(Some("bytes=0-99"), 1000), Part(0..100));
        assert_eq!(parse_range(Some("bytes=900-"), 1000), Part(900..1000));
        assert_eq!(parse_range(Some("bytes=-100"), 1000), Part(900..1000));
        assert_eq!(parse_range(Some("bytes=-5000"), 1000), Part(0..1000));
        assert_eq!(parse_range(Some("bytes=990-5000"), 1000), Part(990..1000));
        assert_eq!(parse_range(Some("bytes=999-999"), 1000), Part(999..1000));
    }

    #[test]
    fn unsatisfiable_and_fallbacks() {
        assert_eq!(parse_range(Some("bytes=1000-"), 1000), Unsatisfiable);
        assert_eq!(parse_range(Some("bytes=-0"), 1000), Unsatisfiable);
        assert_eq!(parse_range(Some("bytes=0-"), 0), Unsatisfiable);
        assert_eq!(parse_range(None, 1000), Whole);
        assert_eq!(parse_range(Some("bytes=0-1,5-6"), 1000), Whole);
        assert_eq!(parse_range(Some("items=0-1"), 1000), Whole);
        assert_eq!(parse_range(Some("bytes=5-1"), 1000), Whole);
        assert_eq!(parse_range(Some("bytes=a-b"), 1000), Whole);
        assert_eq!(parse_range(Some("bytes=+1-2"), 1000), Whole);
    }
}
