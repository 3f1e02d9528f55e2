//! The `roomy` server: loads configuration, opens the store its URL names,
//! and serves the API until told to stop. `main.rs` is a thin shell over this,
//! and integration tests drive the same functions on random ports.

pub mod admission;
pub mod backend;
pub mod cli;
pub mod config;
pub mod http;
pub mod secret;
pub mod server;
pub mod telemetry;

pub use server::{StartError, admission, build_state, run, serve};
