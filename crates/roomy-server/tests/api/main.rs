//! Integration tests: the real server on a random port, a fresh database per
//! test, real HTTP. Every test runs on SQLite and, when configured, PostgreSQL.

mod harness;

mod accounts;
mod admin;
mod authz;
mod bus;
mod cli;
mod cluster;
mod errors;
mod files;
mod friends;
mod gateway;
mod input;
mod invites;
mod lifecycle;
mod limits;
mod messages;
mod ops;
mod presence;
mod rooms;
mod sessions;
mod social;
mod users;
mod web;
