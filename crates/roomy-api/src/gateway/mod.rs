//! The WebSocket gateway (`GET /api/v1/ws`, protocol in docs/protocol.md).
//!
//! Architecture invariant: delivery never reads the store. Events come from
//! the bus with their recipients; the store is read only to authenticate,
//! to answer `sync`, and by the writer to commit.

pub mod connection;
pub mod hub;
mod presence;
pub mod protocol;
pub mod typing;

pub use hub::Hub;

use crate::{error::ApiError, extract::Query, state::AppState};
use axum::{
    extract::{State, WebSocketUpgrade, ws::rejection::WebSocketUpgradeRejection},
    response::{IntoResponse, Response},
};
use serde::Deserialize;

/// `?token=` on the upgrade request (browsers cannot set headers on WebSockets).
#[derive(Debug, Deserialize)]
pub struct WsQuery {
    pub token: Option<String>,
}

/// `GET /api/v1/ws`: upgrades, then authenticates by `?token=` or a first `auth` frame.
pub async fn upgrade(
    State(st): State<AppState>,
    Query(q): Query<WsQuery>,
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    let ws = match ws {
        Ok(ws) => ws,
        Err(e) => {
            return ApiError::BadRequest {
                code: "websocket_required",
                message: e.body_text(),
            }
            .into_response();
        }
    };
    // Small buffers keep idle connections cheap; frames are capped well
    // above the protocol's own 64 KiB limit so oversize frames get a clear error.
    ws.read_buffer_size(1024)
        .write_buffer_size(16 * 1024)
        .max_message_size(1 << 20)
        .max_frame_size(1 << 20)
        .on_upgrade(move |socket| connection::serve(st, socket, q.token))
}
