//! How each area's domain error reaches the wire: one `From<AreaError> for
//! ApiError` per area, choosing the status and the [`ErrorCode`](crate::error::ErrorCode).
mod accounts;
mod files;
mod friends;
mod invites;
mod messages;
mod moderation;
mod rooms;
mod social;
mod typing;
mod users;
