//! Authentication: access tokens, the request guard, login rate limiting
//! and client addresses.

pub mod address;
pub mod guard;
pub mod limiter;
pub mod token;

pub use guard::{Auth, require_auth};
pub use limiter::LoginLimiter;
pub use token::{IssuedToken, Tokens};
