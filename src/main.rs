//! trafficgen: realistic, sustained S3 load through the real obsctl binary.
//!
//! Data flows one way: profile → plan → clock → user workers (schedule, synthesize,
//! drive the client) → events → stats → reports.

mod cli;
mod client;
mod clock;
mod events;
mod fleet;
mod inventory;
mod logging;
mod monitor;
mod ops;
mod plan;
mod profile;
mod report;
mod run;
mod schedule;
mod signal;
mod stats;
mod synth;
mod units;
mod user;
mod workload;

use clap::Parser;

fn main() {
    let cli = cli::Cli::parse();
    std::process::exit(run::main(cli));
}
