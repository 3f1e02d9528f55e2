//! A minimal tus 1.0 client (core protocol plus creation and checksum), as
//! much as the upload bench needs; the interop check uses the reference
//! client from npm instead, so the two cannot share a misreading of the spec.

use crate::api::{Result, Server};
use base64::{Engine, engine::general_purpose::STANDARD};
use reqwest::{Method, header::HeaderMap};
use std::time::Duration;

/// The protocol version every request names.
pub const VERSION: &str = "1.0.0";

/// Where uploads are created.
pub const ENDPOINT: &str = "/api/v1/uploads";

/// Longest wait for one request; a stuck server fails the run instead of hanging it.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(120);

/// `Upload-Metadata`: comma-separated `key base64(value)` pairs.
pub fn metadata(pairs: &[(&str, &str)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| format!("{k} {}", STANDARD.encode(v)))
        .collect::<Vec<_>>()
        .join(",")
}

/// `Upload-Checksum` for a chunk: `sha1 base64(digest)`.
pub fn sha1_checksum(data: &[u8]) -> String {
    use sha1::Digest;
    format!("sha1 {}", STANDARD.encode(sha1::Sha1::digest(data)))
}

/// The id in an upload's path: its last segment, which the finished file keeps.
pub fn id_of(path: &str) -> Result<String> {
    let id = path
        .strip_prefix(ENDPOINT)
        .and_then(|rest| rest.strip_prefix('/'))
        .filter(|id| !id.is_empty() && !id.contains('/'))
        .ok_or_else(|| format!("{path:?} is not an upload under {ENDPOINT}/"))?;
    Ok(id.to_owned())
}

fn offset_header(headers: &HeaderMap) -> Result<u64> {
    headers
        .get("upload-offset")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse().ok())
        .ok_or_else(|| "no valid Upload-Offset in the answer".to_owned())
}

/// An upload created on a server.
pub struct Upload<'a> {
    server: &'a Server,
    token: &'a str,
    /// The path the server's `Location` named.
    pub path: String,
    /// Its id (the file's id once complete).
    pub id: String,
}

impl<'a> Upload<'a> {
    /// `POST` to the endpoint: a new upload of `length` bytes.
    pub async fn create(
        server: &'a Server,
        token: &'a str,
        length: u64,
        filename: &str,
        filetype: &str,
    ) -> Result<Upload<'a>> {
        let resp = server
            .request(Method::POST, ENDPOINT)
            .bearer_auth(token)
            .header("Tus-Resumable", VERSION)
            .header("Upload-Length", length)
            .header(
                "Upload-Metadata",
                metadata(&[("filename", filename), ("filetype", filetype)]),
            )
            .timeout(REQUEST_TIMEOUT)
            .send()
            .await
            .map_err(|e| format!("POST {ENDPOINT}: {e}"))?;
        let status = resp.status().as_u16();
        let location = resp
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        if status != 201 {
            let body = resp.text().await.unwrap_or_default();
            return Err(format!("POST {ENDPOINT}: HTTP {status} (want 201): {body}"));
        }
        let location = location.ok_or("POST created an upload but sent no Location")?;
        let path = server.local_path(&location)?;
        let id = id_of(&path)?;
        Ok(Upload {
            server,
            token,
            path,
            id,
        })
    }

    /// `HEAD`: how many bytes the server holds.
    pub async fn offset(&self) -> Result<u64> {
        let resp = self
            .server
            .request(Method::HEAD, &self.path)
            .bearer_auth(self.token)
            .header("Tus-Resumable", VERSION)
            .timeout(REQUEST_TIMEOUT)
            .send()
            .await
            .map_err(|e| format!("HEAD {}: {e}", self.path))?;
        if !resp.status().is_success() {
            return Err(format!("HEAD {}: HTTP {}", self.path, resp.status()));
        }
        offset_header(resp.headers()).map_err(|e| format!("HEAD {}: {e}", self.path))
    }

    /// `PATCH` one chunk at `offset`; the new offset, which must be `offset +
    /// data.len()` (the bench never sends past what the server said it holds).
    pub async fn patch(&self, offset: u64, data: Vec<u8>, checksum: Option<String>) -> Result<u64> {
        let len = data.len() as u64;
        let mut req = self
            .server
            .request(Method::PATCH, &self.path)
            .bearer_auth(self.token)
            .header("Tus-Resumable", VERSION)
            .header("Content-Type", "application/offset+octet-stream")
            .header("Upload-Offset", offset)
            .timeout(REQUEST_TIMEOUT);
        if let Some(c) = checksum {
            req = req.header("Upload-Checksum", c);
        }
        let resp = req
            .body(data)
            .send()
            .await
            .map_err(|e| format!("PATCH {} at {offset}: {e}", self.path))?;
        let status = resp.status().as_u16();
        if status != 204 {
            let body = resp.text().await.unwrap_or_default();
            return Err(format!(
                "PATCH {} at {offset}: HTTP {status} (want 204): {body}",
                self.path
            ));
        }
        let new = offset_header(resp.headers())
            .map_err(|e| format!("PATCH {} at {offset}: {e}", self.path))?;
        if new != offset + len {
            return Err(format!(
                "PATCH {} at {offset} with {len} bytes: server says offset {new}",
                self.path
            ));
        }
        Ok(new)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_is_base64_pairs() {
        assert_eq!(
            metadata(&[
                ("filename", "a b.bin"),
                ("filetype", "application/octet-stream")
            ]),
            "filename YSBiLmJpbg==,filetype YXBwbGljYXRpb24vb2N0ZXQtc3RyZWFt"
        );
    }

    #[test]
    fn checksum_is_sha1_in_base64() {
        // sha1("abc") = a9993e36 4706816a ba3e2571 7850c26c 9cd0d89d
        assert_eq!(sha1_checksum(b"abc"), "sha1 qZk+NkcGgWq6PiVxeFDCbJzQ2J0=");
    }

    #[test]
    fn ids_come_from_upload_paths_only() {
        assert_eq!(
            id_of("/api/v1/uploads/abc123").ok().as_deref(),
            Some("abc123")
        );
        assert!(id_of("/api/v1/uploads/").is_err());
        assert!(id_of("/api/v1/uploads/a/b").is_err());
        assert!(id_of("/api/v1/files/abc").is_err());
    }
}
