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

use clap::{CommandFactory as _, FromArgMatches as _};

fn main() {
    // As `Cli::parse()`, keeping the matches: they tell an option given from a default.
    let matches = cli::Cli::command().get_matches();
    let cli = cli::Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.format(&mut cli::Cli::command()).exit());
    let code = match commands::dispatch(cli, &matches) {
        Ok(judgement) => judgement.exit_code(),
        Err(e) => {
            // An error the run already logged (to its log file and the console) is not
            // said twice.
            if !e.is_reported() {
                eprintln!("error: {e}");
            }
            e.exit_code()
        }
    };
    std::process::exit(code);
}
