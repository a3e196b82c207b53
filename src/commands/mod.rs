//! One file per subcommand; this one dispatches. A run (no subcommand) is `run/`.

pub mod ab;
pub mod ab_server;
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

use clap::parser::ValueSource;
use clap::{ArgMatches, Args as _};

use crate::cli::{Cli, Command, RunArgs};
use crate::model::error::Error;
use crate::model::verdict::Judgement;

/// Runs the command line's command. `matches` is what clap parsed `cli` from: it tells a
/// run option given from one left at its default. Ok says how a completed command
/// ended (PASS for the commands that judge nothing); `main` turns either into the exit
/// code.
pub fn dispatch(cli: Cli, matches: &ArgMatches) -> Result<Judgement, Error> {
    // Run options mean nothing to a subcommand: refuse them rather than ignore them.
    if let Some(cmd) = &cli.command {
        let given = run_options_given(matches);
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
            // `ab` and `cleanup` take some of them after their own name: say where.
            let takes = subcommand_options(name);
            let (it, them) = if given.len() == 1 { ("it", "is") } else { ("them", "are") };
            if given.iter().all(|g| takes.contains(g)) {
                return Err(Error::Usage(format!(
                    "{} {them} given before `{name}`: put {it} after it (trafficgen {name} {} …)",
                    given.join(", "),
                    given[0]
                )));
            }
            let (what, verb) = if given.len() == 1 { ("is a run option", "it") } else { ("are run options", "them") };
            return Err(Error::Usage(format!(
                "{} {what} (no subcommand); `{name}` does not take {verb}",
                given.join(", ")
            )));
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
        Some(Command::Watchdog) => {
            crate::exec::client::watchdog();
            return Ok(Judgement::Pass);
        }
        _ => {}
    }
    let plan = options::load(&cli)?;
    match cli.command {
        Some(Command::Check) => check::run(&plan),
        Some(Command::Ab(args)) => ab::run(plan, &args),
        Some(Command::Plan { json }) => plan::run(&plan, json),
        Some(Command::Cleanup { all, state_dir, all_shards, target }) => {
            let mut plan = plan;
            options::apply_client(&mut plan, &target)?;
            if all_shards && plan.shard.is_some() {
                return Err(Error::Usage(
                    "--all-shards cleans every shard's state dir, --shard (or $JOB_COMPLETION_INDEX) one: give one of them"
                        .into(),
                ));
            }
            let base = state_dir.unwrap_or_else(|| crate::config::shard::default_state_dir(plan.shard));
            cleanup::run(&plan, cleanup::Dirs { base, all_shards, again: cleanup::again_with_all_shards() }, all)
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
        None => {
            let (plan, opts) = options::apply_run_args(plan, &cli.run)?;
            run::run(plan, opts)
        }
    }
}

/// The long options (`--flag`) the subcommand `name` takes after its own name.
fn subcommand_options(name: &str) -> Vec<String> {
    use clap::CommandFactory as _;
    Cli::command()
        .find_subcommand(name)
        .map(|c| c.get_arguments().filter_map(|a| a.get_long().map(|l| format!("--{l}"))).collect())
        .unwrap_or_default()
}

/// The run options present on the command line (`--flag`, in `RunArgs`' order), read
/// from clap's own list of `RunArgs`' arguments: a new run option is covered by itself.
/// An option given on the command line counts even when its value equals the default.
fn run_options_given(matches: &ArgMatches) -> Vec<String> {
    RunArgs::augment_args(clap::Command::new("run"))
        .get_arguments()
        .filter(|a| matches.value_source(a.get_id().as_str()) == Some(ValueSource::CommandLine))
        .filter_map(|a| a.get_long().map(|l| format!("--{l}")))
        .collect()
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory as _;

    use super::*;

    fn given(args: &[&str]) -> Vec<String> {
        let matches = Cli::command().try_get_matches_from(args).expect("parses");
        run_options_given(&matches)
    }

    #[test]
    fn run_options_are_found_from_clap_not_a_hand_list() {
        assert!(given(&["trafficgen", "check"]).is_empty());
        assert!(given(&["trafficgen", "--profiles", "p.toml", "--rate-scale", "2", "check"]).is_empty());
        assert_eq!(given(&["trafficgen", "--duration", "1m", "-q", "check"]), ["--duration", "--quiet"]);
        // Given is given, even at the default's value.
        assert_eq!(given(&["trafficgen", "--time-scale", "1", "plan"]), ["--time-scale"]);
        // Every run option, each one alone.
        let run = RunArgs::augment_args(clap::Command::new("run"));
        let mut seen = 0;
        for a in run.get_arguments() {
            let Some(long) = a.get_long() else { continue };
            let flag = format!("--{long}");
            let mut line = vec!["trafficgen".to_string(), flag.clone()];
            if a.get_action().takes_values() {
                let duration = a.get_value_names().is_some_and(|n| n.iter().any(|n| n == "DUR"));
                let value = match a.get_possible_values().first() {
                    Some(v) => v.get_name().to_string(),
                    None if duration => "1s".to_string(),
                    None => "1".to_string(),
                };
                line.push(value);
            }
            line.push("check".into());
            let line: Vec<&str> = line.iter().map(String::as_str).collect();
            assert_eq!(given(&line), [flag.as_str()], "{line:?}");
            seen += 1;
        }
        assert!(seen >= 26, "{seen} run options");
    }

    #[test]
    fn a_subcommand_refuses_run_options_by_name() {
        let matches = Cli::command().try_get_matches_from(["trafficgen", "--cleanup", "--seed", "3", "plan"]).unwrap();
        let cli = <Cli as clap::FromArgMatches>::from_arg_matches(&matches).unwrap();
        let e = dispatch(cli, &matches).unwrap_err();
        assert_eq!(e.exit_code(), 2);
        assert_eq!(e.to_string(), "--seed, --cleanup are run options (no subcommand); `plan` does not take them");
    }
}
