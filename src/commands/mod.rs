//! One file per subcommand; this one dispatches. A run (no subcommand) is `run/`.

pub mod ab;
pub mod check;
pub mod cleanup;
pub mod compare;
pub mod describe;
pub mod merge;
pub mod options;
pub mod plan;
pub mod report;
pub mod run;
pub mod synth;

use crate::cli::{Cli, Command, RunArgs};

use crate::model::exit;

pub fn dispatch(cli: Cli) -> i32 {
    // Run options mean nothing to a subcommand: refuse them rather than ignore them.
    if let Some(cmd) = &cli.command {
        let given = run_options_given(&cli.run);
        if !given.is_empty() {
            let name = match cmd {
                Command::Check => "check",
                Command::Plan { .. } => "plan",
                Command::Synth { .. } => "synth",
                Command::Compare(_) => "compare",
                Command::Ab(_) => "ab",
                Command::Report { .. } => "report",
                Command::Cleanup { .. } => "cleanup",
                Command::Merge { .. } => "merge",
                Command::Watchdog => "watchdog",
            };
            let (what, verb) = if given.len() == 1 { ("is a run option", "it") } else { ("are run options", "them") };
            eprintln!("error: {} {what} (no subcommand); `{name}` does not take {verb}", given.join(", "));
            return exit::USAGE;
        }
    }
    // A report piped into `head` ends quietly, as `ls | head` does (a run keeps Rust's
    // default: its sockets and pipes must not kill it).
    if cli.command.as_ref().is_some_and(|c| !matches!(c, Command::Watchdog | Command::Cleanup { .. })) {
        // SAFETY: restoring a signal's default disposition, before any thread exists.
        unsafe {
            libc::signal(libc::SIGPIPE, libc::SIG_DFL);
        }
    }
    // These need no profile.
    match &cli.command {
        Some(Command::Synth { path, size, ext, seed, key }) => {
            return synth::run(path, size, ext, *seed, key.as_deref());
        }
        Some(Command::Compare(args)) => return compare::run(args),
        Some(Command::Report { summary, html }) => return report::run(summary, html),
        Some(Command::Watchdog) => return crate::exec::client::watchdog(),
        _ => {}
    }
    let plan = match options::load(&cli) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("error: {e}");
            return exit::USAGE;
        }
    };
    match cli.command {
        Some(Command::Check) => check::run(&plan),
        Some(Command::Ab(args)) => ab::run(plan, &args),
        Some(Command::Plan { json }) => plan::run(&plan, json),
        Some(Command::Cleanup { all, state_dir }) => {
            cleanup::run(&plan, state_dir.unwrap_or_else(|| crate::config::shard::default_state_dir(plan.shard)), all)
        }
        Some(Command::Merge { files, summary_json, junit, thresholds }) => merge::run(
            plan,
            merge::MergeArgs {
                files: &files,
                summary_json: summary_json.as_deref(),
                junit: junit.as_deref(),
                thresholds: &thresholds,
            },
        ),
        Some(Command::Synth { .. } | Command::Compare(_) | Command::Report { .. } | Command::Watchdog) => {
            unreachable!("handled above")
        }
        None => match options::apply_run_args(plan, &cli.run) {
            Ok((plan, opts)) => run::run(plan, opts),
            Err(e) => {
                eprintln!("error: {e}");
                exit::USAGE
            }
        },
    }
}

/// The run options present on a command line.
fn run_options_given(a: &RunArgs) -> Vec<&'static str> {
    let mut v = Vec::new();
    let flags: [(&'static str, bool); 26] = [
        ("--duration", a.duration.is_some()),
        ("--obsctl", a.obsctl.is_some()),
        ("--client", a.client.is_some()),
        ("--endpoint", a.endpoint.is_some()),
        ("--region", a.region.is_some()),
        ("--seed", a.seed.is_some()),
        ("--time-scale", a.time_scale != 1.0),
        ("--arrivals", a.arrivals.is_some()),
        ("--start-at", a.start_at.is_some()),
        ("--stats-interval", a.stats_interval.is_some()),
        ("--log-file", a.log_file.is_some()),
        ("--temp-dir", a.temp_dir.is_some()),
        ("--state-dir", a.state_dir.is_some()),
        ("--summary-json", a.summary_json.is_some()),
        ("--html", a.html.is_some()),
        ("--junit", a.junit.is_some()),
        ("--ops-log", a.ops_log.is_some()),
        ("--server-metrics", a.server_metrics.is_some()),
        ("--verify-telemetry", a.verify_telemetry),
        ("--threshold", !a.thresholds.is_empty()),
        ("--cleanup", a.cleanup),
        ("--grace-period", a.grace_period.is_some()),
        ("--command-timeout", a.command_timeout.is_some()),
        ("--max-file-size", a.max_file_size.is_some()),
        ("--quiet", a.quiet),
        ("--no-live", a.no_live),
    ];
    for (name, on) in flags {
        if on {
            v.push(name);
        }
    }
    v
}
