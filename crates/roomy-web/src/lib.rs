//! The web client as the server sends it. Vite builds `web/` into
//! `web/dist` (committed, so building the server needs no Node); the files
//! are embedded here at compile time and answered by [`respond`].
//!
//! - A path naming a built file gets that file. Hashed files under
//!   `/assets/` never change under their name: cached as immutable. The
//!   others (`index.html`, icons) are revalidated by their ETag.
//! - Any other `GET` outside the server's own prefixes is a client-side
//!   route (`/rooms/12`, `/invite/<token>`) and gets `index.html`, except a
//!   missing `/assets/` file or a name with an extension, which get nothing
//!   (the caller's 404): a stale script must fail loudly, not parse HTML.
//! - Every answer carries the client's Content-Security-Policy: scripts,
//!   styles and connections from this origin only, no inline code, no
//!   framing.

use axum::{
    body::Body,
    http::{HeaderMap, HeaderValue, Method, Response, StatusCode, header},
};
use flate2::{Compression, write::GzEncoder};
use rust_embed::Embed;
use std::{collections::HashMap, io::Write, sync::LazyLock};

#[derive(Embed)]
#[folder = "../../web/dist"]
struct Dist;

/// The client's policy. `blob:` and `data:` images are the client's own
/// previews of a file being sent; `connect-src 'self'` covers the
/// WebSocket on the same host.
pub const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
img-src 'self' blob: data:; media-src 'self' blob:; connect-src 'self'; font-src 'self'; \
worker-src 'self'; manifest-src 'self'; object-src 'none'; base-uri 'none'; \
form-action 'self'; frame-ancestors 'none'";

/// Where the hashed, immutable files live.
const ASSETS: &str = "assets/";

/// Paths that belong to the server, never to the client's routes.
const SERVER_PREFIXES: [&str; 4] = ["/api", "/healthz", "/readyz", "/metrics"];

/// The answer to a request for `path`, or `None` when it is not the
/// client's (the caller answers its own 404 or 405).
pub fn respond(method: &Method, path: &str, headers: &HeaderMap) -> Option<Response<Body>> {
    if method != Method::GET && method != Method::HEAD {
        return None;
    }
    if SERVER_PREFIXES.iter().any(|p| {
        path.strip_prefix(p)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
    }) {
        return None;
    }
    let name = path.trim_start_matches('/');
    let (name, file) = match Dist::get(name).filter(|_| !name.is_empty()) {
        Some(file) => (name, file),
        None if name.starts_with(ASSETS) || has_extension(name) => return None,
        None => ("index.html", Dist::get("index.html")?),
    };
    let etag = format!("\"{}\"", hex(&file.metadata.sha256_hash()[..16]));
    let immutable = name.starts_with(ASSETS);
    let mut resp = Response::builder()
        .header(header::CONTENT_SECURITY_POLICY, CSP)
        .header(header::VARY, "accept-encoding")
        .header(header::ETAG, &etag)
        .header(
            header::CACHE_CONTROL,
            if immutable {
                "public, max-age=31536000, immutable"
            } else {
                "no-cache"
            },
        );
    // Weak comparison (RFC 9110 13.1.2): a proxy may have weakened the tag.
    let matches = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(',')
                .map(|t| t.trim().trim_start_matches("W/"))
                .any(|t| t == etag || t == "*")
        });
    if matches {
        return resp
            .status(StatusCode::NOT_MODIFIED)
            .body(Body::empty())
            .ok();
    }
    resp = resp.header(header::CONTENT_TYPE, file.metadata.mimetype());
    let body = match GZIPPED.get(name).filter(|_| accepts_gzip(headers)) {
        Some(gz) => {
            resp = resp.header(header::CONTENT_ENCODING, "gzip");
            gz.clone()
        }
        None => file.data.into_owned(),
    };
    resp = resp.header(header::CONTENT_LENGTH, HeaderValue::from(body.len()));
    let body = if method == Method::HEAD {
        Body::empty()
    } else {
        Body::from(body)
    };
    resp.body(body).ok()
}

/// Whether the last segment of a path names a file (`app.js`, `icon.png`).
fn has_extension(name: &str) -> bool {
    name.rsplit('/')
        .next()
        .is_some_and(|last| last.contains('.'))
}

/// Whether `Accept-Encoding` takes gzip: named with a non-zero weight, or
/// left to `*` when gzip itself is not named (RFC 9110 12.5.3).
fn accepts_gzip(headers: &HeaderMap) -> bool {
    let mut named = None;
    let mut any = None;
    for enc in headers
        .get_all(header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
    {
        let mut parts = enc.split(';');
        let coding = parts.next().unwrap_or_default().trim();
        let refused = parts.any(|p| matches!(p.trim(), "q=0" | "q=0.0" | "q=0.00" | "q=0.000"));
        if coding.eq_ignore_ascii_case("gzip") {
            named = Some(!refused);
        } else if coding == "*" {
            any = Some(!refused);
        }
    }
    named.or(any).unwrap_or(false)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The text files, gzipped once at first use (the client is a few hundred
/// kilobytes; compressing per request would spend CPU on every cold load).
static GZIPPED: LazyLock<HashMap<String, Vec<u8>>> = LazyLock::new(|| {
    Dist::iter()
        .filter_map(|name| {
            let file = Dist::get(&name)?;
            let mime = file.metadata.mimetype();
            let text = mime.starts_with("text/")
                || mime.contains("javascript")
                || mime.contains("json")
                || mime.contains("svg");
            if !text || file.data.len() < 1024 {
                return None;
            }
            let mut enc = GzEncoder::new(Vec::new(), Compression::best());
            enc.write_all(&file.data).ok()?;
            Some((name.into_owned(), enc.finish().ok()?))
        })
        .collect()
});

#[cfg(test)]
mod tests {
    use super::*;

    fn get(path: &str, headers: &HeaderMap) -> Option<Response<Body>> {
        respond(&Method::GET, path, headers)
    }

    fn header(resp: &Response<Body>, name: header::HeaderName) -> &str {
        resp.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    }

    #[test]
    fn client_routes_fall_back_to_the_page_and_server_paths_do_not() {
        let none = HeaderMap::new();
        for path in ["/", "/rooms/12", "/invite/abc_DEF-1", "/friends"] {
            let resp = get(path, &none).expect("the page");
            assert_eq!(resp.status(), StatusCode::OK, "{path}");
            assert_eq!(header(&resp, header::CONTENT_TYPE), "text/html", "{path}");
            assert_eq!(header(&resp, header::CACHE_CONTROL), "no-cache", "{path}");
            assert_eq!(header(&resp, header::CONTENT_SECURITY_POLICY), CSP);
        }
        for path in [
            "/api",
            "/api/v1/nope",
            "/healthz",
            "/readyz",
            "/metrics",
            "/assets/gone-1234.js",
            "/favicon-missing.ico",
        ] {
            assert!(get(path, &none).is_none(), "{path}");
        }
        assert!(respond(&Method::POST, "/rooms/1", &none).is_none());
    }

    #[test]
    fn hashed_assets_are_immutable_and_revalidation_works() {
        let none = HeaderMap::new();
        let asset = Dist::iter()
            .find(|n| n.starts_with(ASSETS) && n.ends_with(".js"))
            .expect("the build has a script under assets/");
        let resp = get(&format!("/{asset}"), &none).expect("the script");
        assert_eq!(
            header(&resp, header::CACHE_CONTROL),
            "public, max-age=31536000, immutable"
        );
        assert!(header(&resp, header::CONTENT_TYPE).contains("javascript"));
        let etag = header(&resp, header::ETAG).to_owned();
        let mut again = HeaderMap::new();
        again.insert(header::IF_NONE_MATCH, etag.parse().expect("etag"));
        let resp = get(&format!("/{asset}"), &again).expect("not modified");
        assert_eq!(resp.status(), StatusCode::NOT_MODIFIED);
        again.insert(
            header::IF_NONE_MATCH,
            format!("W/{etag}").parse().expect("etag"),
        );
        let resp = get(&format!("/{asset}"), &again).expect("not modified");
        assert_eq!(resp.status(), StatusCode::NOT_MODIFIED);
    }

    #[test]
    fn gzip_only_when_accepted() {
        let page = Dist::iter()
            .find(|n| GZIPPED.contains_key(n.as_ref()))
            .expect("a compressible file");
        let mut gz = HeaderMap::new();
        gz.insert(header::ACCEPT_ENCODING, "br, gzip".parse().expect("h"));
        let resp = get(&format!("/{page}"), &gz).expect("file");
        assert_eq!(header(&resp, header::CONTENT_ENCODING), "gzip");
        for refused in ["gzip;q=0, br", "gzip;q=0, *", "br"] {
            gz.insert(header::ACCEPT_ENCODING, refused.parse().expect("h"));
            let resp = get(&format!("/{page}"), &gz).expect("file");
            assert_eq!(header(&resp, header::CONTENT_ENCODING), "", "{refused}");
        }
        gz.insert(header::ACCEPT_ENCODING, "br, *".parse().expect("h"));
        let resp = get(&format!("/{page}"), &gz).expect("file");
        assert_eq!(header(&resp, header::CONTENT_ENCODING), "gzip");
    }
}
