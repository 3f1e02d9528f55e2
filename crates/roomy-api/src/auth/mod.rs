//! Authentication: access tokens, password hashing, the request guard and
//! login rate limiting and client addresses.

pub mod address;
pub mod guard;
pub mod limiter;
pub mod password;
pub mod token;

pub use guard::{Auth, require_auth};
pub use limiter::LoginLimiter;
pub use password::Passwords;
pub use token::{IssuedToken, Tokens};
