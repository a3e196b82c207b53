//! trafficgen: realistic, sustained S3 load through the real obsctl binary.
//!
//! Data flows one way: profile → plan → clock → user workers (schedule, synthesize,
//! drive the client) → events → stats → reports and verdict.

mod ab;
mod abstats;
mod cli;
mod client;
mod clock;
mod commands;
mod events;
mod export;
mod fidelity;
mod fleet;
mod host;
mod html;
mod inventory;
mod keytag;
mod live;
mod logging;
mod monitor;
mod ops;
mod options;
mod plan;
mod profile;
mod report;
mod run;
mod schedule;
mod secrets;
mod server_metrics;
mod shard;
mod signal;
mod state;
mod stats;
mod synth;
mod telemetry;
mod terminal;
mod units;
mod user;
mod verdict;
mod workload;

use clap::Parser;

fn main() {
    let cli = cli::Cli::parse();
    std::process::exit(commands::dispatch(cli));
}
