//! trafficgen: realistic, sustained S3 load through the real obsctl binary.
//!
//! Data flows one way, and so do the imports (docs/design.md, enforced by
//! tests/layering.rs): `model` (plain data) ← `config` ← `exec` ← `work`; `analysis`
//! reads `model` and `config`; `output` reads `model` and `analysis`; `commands` (and
//! `cli`) sit on top. `main` parses, hands over, and is the only place that exits.

mod analysis;
mod cli;
mod commands;
mod config;
mod exec;
mod model;
mod output;
mod work;

use clap::Parser;

fn main() {
    let cli = cli::Cli::parse();
    std::process::exit(commands::dispatch(cli));
}
