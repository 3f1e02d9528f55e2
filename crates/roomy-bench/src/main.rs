//! `roomy-bench`: drives a Roomy server on loopback and reports what it saw.
//!
//! - `load`: N WebSocket clients in rooms of a chosen size send at a target
//!   rate or as fast as acks allow; every delivery is checked (order, no loss,
//!   no duplicate) and ack/delivery latencies and server RSS are reported;
//!   with `--node-url` the clients go straight to a cluster's nodes, the
//!   members of a room on different nodes (or, `--local-rooms`, the same).
//! - `idle`: N idle connections; server memory per connection.
//! - `crash`: load, `kill -9` the server, restart, verify every acknowledged
//!   message is stored exactly once, in order, with gap-free seqs; repeat.
//! - `cluster`: clients through a load balancer in front of several nodes
//!   while a driver kills a node and stops or freezes the bus; verifies
//!   every delivery (order, no gap, no duplicate, live or after sync), the
//!   database, and that the killed node's users are seen offline; with
//!   `--storm-clients`, times thousands of the killed node's clients coming back.
//! - `graph`: one user with many followers; follower pages, mutual pages and
//!   the profile's counts, timed one request at a time.
//! - `upload`: one large tus upload to a fresh server, against the disk's own
//!   write speed, with the server's RSS sampled throughout; verifies the file.
//! - `tus-interop`: the reference tus client (npm's tus-js-client) uploads,
//!   is cut off, resumes and finishes; verifies the resume and the file.
//!
//! It refuses any server that is not on a loopback address, and every run is
//! bounded in time.

mod api;
mod cluster;
mod crash;
mod disk;
mod files;
mod graph;
mod idle;
mod interop;
mod load;
mod prng;
mod spawn;
mod stats;
mod tus;
mod upload;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

/// Roomy's load generator.
#[derive(Debug, Parser)]
#[command(name = "roomy-bench")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Clients in rooms sending messages; verifies and measures every delivery.
    Load(load::LoadArgs),
    /// Idle connections; server memory per connection.
    Idle(idle::IdleArgs),
    /// Kill -9 the server under load, restart, verify nothing acknowledged was lost.
    Crash(crash::CrashArgs),
    /// Clients through a load balancer in front of several nodes while faults
    /// are applied; verifies every delivery, the database and presence.
    Cluster(cluster::ClusterArgs),
    /// Many followers on one user; list, mutual and profile latencies.
    Graph(graph::GraphArgs),
    /// One large tus upload: speed against the disk's, server RSS, file verified.
    Upload(upload::UploadArgs),
    /// tus-js-client uploads, is cut off, resumes; the resume and file verified.
    TusInterop(interop::InteropArgs),
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    // Thousands of connections need more descriptors than the usual soft
    // limit of 1,024: take what the hard limit allows, as the server does.
    if let Err(e) = rlimit::increase_nofile_limit(u64::MAX) {
        eprintln!("roomy-bench: cannot raise the open-files limit: {e}");
    }
    let result = match cli.command {
        Command::Load(a) => load::run(a).await.map(|r| r.passed()),
        Command::Idle(a) => idle::run(a).await.map(|()| true),
        Command::Crash(a) => crash::run(a).await,
        Command::Cluster(a) => cluster::run(a).await,
        Command::Graph(a) => graph::run(a).await,
        Command::Upload(a) => upload::run(a).await,
        Command::TusInterop(a) => interop::run(a).await,
    };
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => {
            eprintln!("roomy-bench: verification FAILED");
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("roomy-bench: {e}");
            ExitCode::FAILURE
        }
    }
}
