//! One file per subcommand; this one dispatches. A run (no subcommand) is `run.rs`.

pub mod check;
pub mod compare;
pub mod plan;
pub mod synth;

use crate::cli::{Cli, Command};
use crate::{options, run};

pub const EXIT_RUN_FAILED: i32 = 1;
pub const EXIT_USAGE: i32 = 2;

pub fn dispatch(cli: Cli) -> i32 {
    // These need no profile.
    match &cli.command {
        Some(Command::Synth { path, size, ext, seed, key }) => {
            return synth::run(path, size, ext, *seed, key.as_deref());
        }
        Some(Command::Compare(args)) => return compare::run(args),
        _ => {}
    }
    let plan = match options::load(&cli) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("error: {e}");
            return EXIT_USAGE;
        }
    };
    match cli.command {
        Some(Command::Check) => check::run(&plan),
        Some(Command::Plan { json }) => plan::run(&plan, json),
        Some(Command::Synth { .. } | Command::Compare(_)) => unreachable!("handled above"),
        None => match options::apply_run_args(plan, &cli.run) {
            Ok((plan, opts)) => run::run(plan, opts),
            Err(e) => {
                eprintln!("error: {e}");
                EXIT_USAGE
            }
        },
    }
}
