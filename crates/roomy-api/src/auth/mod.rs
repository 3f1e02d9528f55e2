//! Authentication's parts that need no request state: access tokens, login
//! rate limiting and client addresses. The request guard is the `guard` module.

pub mod address;
pub mod limiter;
pub mod token;

pub use limiter::LoginLimiter;
pub use token::{IssuedToken, Tokens};
