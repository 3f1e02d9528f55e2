//! HTTP handlers, one module per area of API.md. Handlers parse input into
//! domain types, call the store, and shape the answer; they never see SQL.

pub mod accounts;
pub mod admin;
pub mod favorites;
pub mod files;
pub mod friends;
pub mod invites;
pub mod lifecycle;
pub mod me;
pub mod messages;
pub mod ops;
pub mod rooms;
pub mod social;
pub mod uploads;
pub mod users;

use axum::{
    extract::{ConnectInfo, FromRequestParts},
    http::{header, request::Parts},
};
use std::{convert::Infallible, net::SocketAddr};

/// Where a request came from: the peer address and its `User-Agent`.
#[derive(Debug, Clone)]
pub struct ClientInfo {
    pub ip: String,
    pub user_agent: Option<String>,
}

/// Longest `User-Agent` kept with a session.
const MAX_USER_AGENT: usize = 256;

impl<S: Send + Sync> FromRequestParts<S> for ClientInfo {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Infallible> {
        let ip = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map_or_else(|| "unknown".to_owned(), |c| c.0.ip().to_string());
        let user_agent = parts
            .headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(|s| s.chars().take(MAX_USER_AGENT).collect());
        Ok(ClientInfo { ip, user_agent })
    }
}

/// Tells every node to close the live connections of ended sessions: all of
/// `user`'s, all but `except`, or only `only`.
pub(crate) fn announce_sessions_ended(
    st: &crate::state::AppState,
    user: roomy_core::UserId,
    except: Option<roomy_core::SessionId>,
    only: Option<roomy_core::SessionId>,
) {
    st.bus.publish(roomy_bus::Envelope {
        recipients: vec![user],
        event: roomy_bus::Event::SessionsEnded { user, except, only },
        origin: None,
    });
}
