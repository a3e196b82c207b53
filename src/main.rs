//! trafficgen: realistic, sustained S3 load through the real obsctl binary.
//!
//! Data flows one way, and so do the imports (docs/design.md, enforced by
//! tests/layering.rs): `model` (plain data) ← `config` ← `exec` ← `work`; `analysis`
//! reads `model` and `config`; `output` reads `model` and `analysis`; `commands` (and
//! `cli`) sit on top. `main` parses, hands over, and is the only place that exits.

// A panic is not an error message: outside tests, a failure is an `Error` with its exit
// code, never an `unwrap`.
#![cfg_attr(not(test), deny(clippy::unwrap_used))]

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
    let from_env = cli::env_options(&cli::Cli::command());
    // An empty variable is an unset one, as with `${VAR:-}`: a CI job that passes a blank
    // input through (`TRAFFICGEN_DURATION: ""`) gets the default, not clap's "value was
    // empty" on every command.
    for (_, var) in &from_env {
        if std::env::var_os(var).is_some_and(|v| v.is_empty()) {
            // SAFETY: main has started no thread yet.
            unsafe { std::env::remove_var(var) };
        }
    }
    // As `Cli::parse()`, keeping the matches: they tell an option given from a default.
    // (Made after the clean-up above: clap reads the variables as it builds the command.)
    let mut command = cli::Cli::command();
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let matches = command.try_get_matches_from_mut(&args).unwrap_or_else(|e| {
        if let Some(note) = cli::env_note(&from_env, &e, &args) {
            eprintln!("{note}");
        }
        e.exit()
    });
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
