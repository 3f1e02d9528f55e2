//! Authentication: access tokens, the request guard and
//! login rate limiting, client addresses and the retirement of idle guests.

pub mod address;
pub mod guard;
pub mod guests;
pub mod limiter;
pub mod token;

pub use guard::{Auth, require_auth};
pub use limiter::LoginLimiter;
pub use token::{IssuedToken, Tokens};
