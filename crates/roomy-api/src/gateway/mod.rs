//! The WebSocket gateway (`GET /api/v1/ws`, protocol in docs/protocol.md).
//!
//! Architecture invariant: delivery never reads the store. Events come from
//! the bus with their recipients; the store is read only to authenticate,
//! to answer `sync`, and by the writer to commit.

pub mod connection;
pub mod frames;

use crate::error::ErrorCode;
use crate::{error::ApiError, extract::Query, protocol, state::AppState};
use axum::{
    body::Body,
    extract::{FromRequestParts, Request, State, WebSocketUpgrade},
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;
use roomy_core::config::Redacted;
use serde::Deserialize;
use tokio_tungstenite::{
    WebSocketStream,
    tungstenite::protocol::{Role, WebSocketConfig},
};

/// `?token=` on the upgrade request (browsers cannot set headers on WebSockets).
#[derive(Debug, Deserialize)]
pub struct WsQuery {
    /// Never printed: `Debug` shows it redacted.
    pub token: Option<Redacted>,
}

/// A server-side WebSocket as the gateway serves it.
pub type Socket = WebSocketStream<frames::Watched<TokioIo<hyper::upgrade::Upgraded>>>;

/// `GET /api/v1/ws`: upgrades, then authenticates by `?token=` or a first `auth` frame.
///
/// The upgrade is taken from hyper here rather than through axum's
/// `on_upgrade`, so the socket can be wrapped in [`frames::Watched`] (the
/// deadline of an unfinished message) before the WebSocket library reads it.
pub async fn upgrade(
    State(st): State<AppState>,
    Query(q): Query<WsQuery>,
    request: Request,
) -> Response {
    let (mut parts, _) = request.into_parts();
    let on_upgrade = parts.extensions.get::<OnUpgrade>().cloned();
    // axum's extractor checks the handshake's headers and names what is wrong.
    if let Err(e) = WebSocketUpgrade::from_request_parts(&mut parts, &st).await {
        return websocket_required(e.body_text());
    }
    let (Some(on_upgrade), Some(key)) = (on_upgrade, parts.headers.get(header::SEC_WEBSOCKET_KEY))
    else {
        return websocket_required("an HTTP/1.1 upgrade with Sec-WebSocket-Key is required".into());
    };
    let accept = accept_key(key.as_bytes());
    // Small buffers keep idle connections cheap. A message is capped at the
    // protocol's 64 KiB however it is fragmented; a bigger one closes the
    // connection with 1009.
    let config = WebSocketConfig::default()
        .read_buffer_size(1024)
        .write_buffer_size(16 * 1024)
        .max_message_size(Some(protocol::MAX_CLIENT_FRAME))
        .max_frame_size(Some(protocol::MAX_CLIENT_FRAME));
    let limit = st.settings.ws_message_timeout;
    tokio::spawn(async move {
        let upgraded = match on_upgrade.await {
            Ok(u) => u,
            Err(e) => {
                tracing::debug!(error = %e, "websocket upgrade failed");
                return;
            }
        };
        let io = frames::Watched::new(TokioIo::new(upgraded), limit);
        let socket = WebSocketStream::from_raw_socket(io, Role::Server, Some(config)).await;
        connection::serve(st, socket, q.token).await;
    });
    let mut response = Response::new(Body::empty());
    *response.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let headers = response.headers_mut();
    headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
    headers.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
    headers.insert(header::SEC_WEBSOCKET_ACCEPT, accept);
    response
}

fn websocket_required(message: String) -> Response {
    ApiError::BadRequest {
        code: ErrorCode::WebsocketRequired,
        message,
    }
    .into_response()
}

/// `Sec-WebSocket-Accept` for a `Sec-WebSocket-Key` (RFC 6455 §4.2.2).
fn accept_key(key: &[u8]) -> HeaderValue {
    let accept = tokio_tungstenite::tungstenite::handshake::derive_accept_key(key);
    HeaderValue::from_str(&accept).unwrap_or_else(|_| HeaderValue::from_static(""))
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_accept_key_is_rfc_6455s() {
        // The example of RFC 6455 §1.3.
        assert_eq!(
            super::accept_key(b"dGhlIHNhbXBsZSBub25jZQ=="),
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
    }
}
