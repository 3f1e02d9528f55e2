//! The finished file's side: its metadata and its bytes, checked against
//! what the bench sent.

use crate::api::{Result, Server};
use reqwest::Method;
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::time::Duration;

/// Longest wait for one download: the bench's files are at most a few GiB on loopback.
const DOWNLOAD_TIMEOUT: Duration = Duration::from_secs(300);

/// `GET /api/v1/files/{id}/meta`.
pub async fn meta(server: &Server, token: &str, id: &str) -> Result<Value> {
    server
        .expect(
            Method::GET,
            &format!("/api/v1/files/{id}/meta"),
            Some(token),
            None,
            &[200],
        )
        .await
}

/// What is wrong with `meta` for file `id` of `size` bytes hashing to
/// `sha256` (hex); empty when it matches.
pub fn meta_problems(meta: &Value, id: &str, size: u64, sha256: &str) -> Vec<String> {
    let mut problems = Vec::new();
    // The id may be served as a string or a number; either way it is the upload's.
    let served_id = match &meta["id"] {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    if served_id != id {
        problems.push(format!(
            "meta id {} but the upload's id is {id}",
            meta["id"]
        ));
    }
    match meta["size"].as_u64() {
        Some(s) if s == size => {}
        _ => problems.push(format!(
            "meta size {} but {size} bytes were sent",
            meta["size"]
        )),
    }
    match meta["sha256"].as_str() {
        Some(h) if h.eq_ignore_ascii_case(sha256) => {}
        _ => problems.push(format!(
            "meta sha256 {} but the bytes sent hash to {sha256}",
            meta["sha256"]
        )),
    }
    problems
}

/// Downloads `GET /api/v1/files/{id}` (a byte range when given, inclusive
/// as HTTP has it), streaming: (status, length, sha256 hex).
pub async fn download(
    server: &Server,
    token: &str,
    id: &str,
    range: Option<(u64, u64)>,
) -> Result<(u16, u64, String)> {
    let path = format!("/api/v1/files/{id}");
    let mut req = server
        .request(Method::GET, &path)
        .bearer_auth(token)
        .timeout(DOWNLOAD_TIMEOUT);
    if let Some((first, last)) = range {
        req = req.header("Range", format!("bytes={first}-{last}"));
    }
    let mut resp = req.send().await.map_err(|e| format!("GET {path}: {e}"))?;
    let status = resp.status().as_u16();
    let mut hasher = Sha256::new();
    let mut len = 0u64;
    while let Some(chunk) = resp.chunk().await.map_err(|e| format!("GET {path}: {e}"))? {
        len += chunk.len() as u64;
        hasher.update(&chunk);
    }
    Ok((status, len, hex::encode(hasher.finalize())))
}

/// The sha256 (hex) of a byte slice.
pub fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn hex_is_lowercase_pairs() {
        assert_eq!(hex::encode([0x00, 0xab, 0x0f]), "00ab0f");
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn meta_must_match_size_and_hash() {
        let good = json!({"id": "x", "size": 3, "sha256": "BA7816BF8F01CFEA414140DE5DAE2223B00361A396177A9CB410FF61F20015AD"});
        assert!(meta_problems(&good, "x", 3, &sha256_hex(b"abc")).is_empty());
        let numeric = json!({"id": 17, "size": 3, "sha256": sha256_hex(b"abc")});
        assert!(meta_problems(&numeric, "17", 3, &sha256_hex(b"abc")).is_empty());
        let bad = json!({"id": "y", "size": 4, "sha256": "00"});
        assert_eq!(meta_problems(&bad, "x", 3, &sha256_hex(b"abc")).len(), 3);
        assert_eq!(meta_problems(&json!({}), "x", 3, "00").len(), 3);
    }
}
