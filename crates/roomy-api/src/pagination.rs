//! List paging: `?limit=` (default 50, max 200) and an opaque `?cursor=`.

use crate::error::ApiError;
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use serde::{Deserialize, Serialize};

/// Default page size.
pub const DEFAULT_LIMIT: u32 = 50;
/// Largest page size a client may ask for.
pub const MAX_LIMIT: u32 = 200;

/// One page of a list.
#[derive(Debug, Serialize, utoipa::ToSchema, ts_rs::TS)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// Pass as `?cursor=` for the next page; null on the last page.
    pub next_cursor: Option<String>,
}

/// The paging parameters of a list request.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams, ts_rs::TS)]
#[ts(optional_fields)]
#[into_params(parameter_in = Query)]
pub struct PageParams {
    /// Page size, 1 to 200 (default 50).
    pub limit: Option<u32>,
    /// Opaque cursor from a previous page's `next_cursor`.
    pub cursor: Option<String>,
}

impl PageParams {
    /// The page size, checked.
    pub fn limit(&self) -> Result<u32, ApiError> {
        match self.limit {
            None => Ok(DEFAULT_LIMIT),
            Some(n) if (1..=MAX_LIMIT).contains(&n) => Ok(n),
            Some(_) => Err(ApiError::field(
                "limit",
                format!("must be between 1 and {MAX_LIMIT}"),
            )),
        }
    }

    /// The position after which the page starts, if a cursor was given.
    pub fn after(&self) -> Result<Option<i64>, ApiError> {
        self.cursor.as_deref().map(decode_cursor).transpose()
    }
}

/// The `(time ms, id)` after which a page ordered by time then id starts.
pub fn after_pair(params: &PageParams) -> Result<Option<(i64, i64)>, ApiError> {
    params
        .cursor
        .as_deref()
        .map(|s| {
            URL_SAFE_NO_PAD
                .decode(s)
                .ok()
                .and_then(|b| String::from_utf8(b).ok())
                .and_then(|s| {
                    let (a, b) = s.strip_prefix('t')?.split_once('.')?;
                    Some((a.parse().ok()?, b.parse().ok()?))
                })
                .ok_or_else(|| ApiError::field("cursor", "is not a cursor this server issued"))
        })
        .transpose()
}

/// Makes an opaque cursor for a `(time ms, id)` pair.
pub fn encode_pair_cursor(ms: i64, id: i64) -> String {
    URL_SAFE_NO_PAD.encode(format!("t{ms}.{id}"))
}

/// Makes an opaque cursor for a position.
pub fn encode_cursor(position: i64) -> String {
    URL_SAFE_NO_PAD.encode(format!("p{position}"))
}

fn decode_cursor(s: &str) -> Result<i64, ApiError> {
    URL_SAFE_NO_PAD
        .decode(s)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .and_then(|s| s.strip_prefix('p').and_then(|n| n.parse().ok()))
        .ok_or_else(|| ApiError::field("cursor", "is not a cursor this server issued"))
}

/// Builds a page from `limit + 1` fetched rows: the extra row only says there is more.
pub fn page_of<R, T>(
    rows: Vec<R>,
    limit: u32,
    position: impl Fn(&R) -> i64,
    view: impl Fn(R) -> T,
) -> Page<T> {
    page_with(rows, limit, |r| encode_cursor(position(r)), view)
}

/// As [`page_of`], with the cursor of the last row made by `cursor`.
pub fn page_with<R, T>(
    mut rows: Vec<R>,
    limit: u32,
    cursor: impl Fn(&R) -> String,
    view: impl Fn(R) -> T,
) -> Page<T> {
    let more = rows.len() > limit as usize;
    rows.truncate(limit as usize);
    let next_cursor = if more { rows.last().map(cursor) } else { None };
    Page {
        items: rows.into_iter().map(view).collect(),
        next_cursor,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_reject_garbage() {
        let p = PageParams {
            limit: None,
            cursor: Some(encode_cursor(42)),
        };
        assert_eq!(p.after().ok().flatten(), Some(42));
        let bad = PageParams {
            limit: Some(500),
            cursor: Some("!!".into()),
        };
        assert!(bad.after().is_err());
        assert!(bad.limit().is_err());
    }

    #[test]
    fn pages_know_when_there_is_more() {
        let page = page_of(vec![1, 2, 3], 2, |r| *r, |r| r * 10);
        assert_eq!(page.items, vec![10, 20]);
        assert_eq!(page.next_cursor, Some(encode_cursor(2)));
        let last = page_of(vec![1, 2], 2, |r| *r, |r| r);
        assert!(last.next_cursor.is_none());
    }

    #[test]
    fn pair_cursors_round_trip() {
        let p = PageParams {
            limit: None,
            cursor: Some(encode_pair_cursor(1_700_000_000_000, 42)),
        };
        assert_eq!(after_pair(&p).ok().flatten(), Some((1_700_000_000_000, 42)));
        let plain = PageParams {
            limit: None,
            cursor: Some(encode_cursor(42)),
        };
        assert!(after_pair(&plain).is_err());
    }
}
