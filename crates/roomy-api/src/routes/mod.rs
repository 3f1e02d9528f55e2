//! HTTP handlers, one module per area of the API. Handlers parse input into
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

/// Where a request came from: the client's address (see
/// [`client_address`](crate::auth::address::client_address)) and its `User-Agent`.
#[derive(Debug, Clone)]
pub struct ClientInfo {
    /// The client's address; unspecified (`0.0.0.0`) when the peer is unknown.
    pub addr: std::net::IpAddr,
    /// `addr` as text, as sessions record it.
    pub ip: String,
    /// `addr` as per-address limits key on it (IPv6 by its /64).
    pub limited: std::net::IpAddr,
    pub user_agent: Option<String>,
}

/// Longest `User-Agent` kept with a session.
const MAX_USER_AGENT: usize = 256;

impl FromRequestParts<crate::state::AppState> for ClientInfo {
    type Rejection = Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        st: &crate::state::AppState,
    ) -> Result<Self, Infallible> {
        let addr = parts.extensions.get::<ConnectInfo<SocketAddr>>().map_or(
            std::net::IpAddr::from([0, 0, 0, 0]),
            |c| {
                crate::auth::address::client_address(
                    c.0.ip(),
                    &parts.headers,
                    &st.settings.abuse.trusted_proxies,
                )
            },
        );
        let user_agent = parts
            .headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(|s| s.chars().take(MAX_USER_AGENT).collect());
        Ok(ClientInfo {
            addr,
            ip: addr.to_string(),
            limited: crate::auth::address::limit_key(addr),
            user_agent,
        })
    }
}
