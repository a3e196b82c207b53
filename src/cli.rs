//! The command line (clap definitions only; `commands::options` turns them into a plan
//! and run options).

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::config::plan::{Arrivals, Flavor};
use crate::model::units::Percent;

#[derive(Debug, Parser)]
#[command(
    name = "trafficgen",
    version,
    about = "Realistic, sustained S3 load through the real obsctl binary",
    long_about = "Realistic, sustained S3 load through the real obsctl binary.\n\n\
        Ten users (profiles.toml) each run on their own thread, write synthetic files of \
        realistic kinds and sizes, and run `obsctl cp` (upload/download) and `obsctl rm` \
        (TTL expiry) open-loop at their target rates, passing the profile's telemetry \
        environment to every child. Ctrl+C stops cleanly (twice, or once before traffic starts: at once, exit 130).",
    after_help = "Examples:\n  \
        trafficgen --profiles profiles.toml\n  \
        trafficgen check\n  \
        trafficgen plan --json\n  \
        trafficgen --duration 8h --time-scale 960 --start-at 06:00 --summary-json s.json --cleanup\n  \
        trafficgen report s.json --html report.html\n  \
        trafficgen --profiles scripts/ci-smoke.toml ab --a obsctl-old --b obsctl-new --markdown ab.md   (two builds interleaved in one run)\n  \
        trafficgen --shard 1/4 --summary-json s1.json   (one of 4 machines; then: trafficgen merge s0.json s1.json s2.json s3.json)\n\n\
        Exit codes: 0 done and the verdict passed (also after one Ctrl+C once traffic runs), 1 run failed (e.g. a bucket \
        could not be ensured), 2 bad profile, options or client, 3 a threshold failed or the client's word \
        was contradicted (integrity), 4 inconclusive: nothing failed but something was not measured (a rate over \
        no commands, a percentile of an empty histogram, a run in which no command ran) or a capacity threshold \
        could not be judged (this machine was saturated, by trafficgen or by other work, which the verdict names; or \
        the run was too short to tell a miss from chance), 130 interrupted twice, or once before traffic started."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,

    /// Profile file
    #[arg(long, global = true, default_value = "profiles.toml", value_name = "FILE")]
    pub profiles: PathBuf,

    /// Multiply every user's target rate (plan and run)
    // A negative value must reach the validation, which says what is wrong with it,
    // instead of clap's "unexpected argument '-1'". The environment variable lets a CI
    // job's caller shorten a documented step without editing it.
    #[arg(
        long,
        global = true,
        default_value_t = 1.0,
        value_name = "F",
        allow_negative_numbers = true,
        env = "TRAFFICGEN_RATE_SCALE"
    )]
    pub rate_scale: f64,

    /// Run only these users (comma-separated ids; a persona's id selects all its replicas)
    #[arg(long, global = true, value_delimiter = ',', value_name = "IDS")]
    pub users: Option<Vec<String>>,

    /// Run shard I of N (I from 0): a deterministic share of the users, or of every user's
    /// rate when N exceeds the users (plan and run) [default: $JOB_COMPLETION_INDEX of
    /// $TRAFFICGEN_SHARDS when both are set]
    #[arg(long, global = true, value_name = "I/N")]
    pub shard: Option<String>,

    /// Show each replica on its own row in tables and `plan` (default: one row per persona)
    #[arg(long, global = true)]
    pub expand_replicas: bool,

    #[command(flatten)]
    pub run: RunArgs,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Validate the profile and print a one-screen summary (exit 0, or 2 on errors)
    Check,
    /// Print each user's target ops per wall-clock minute for every UTC hour
    Plan {
        /// Print JSON: {"hours": [{"hour": 0, "users": {...}, "total": ...}, ...]}
        #[arg(long)]
        json: bool,
    },
    /// Write one synthetic file the way uploads do (to inspect content or time the writer)
    Synth {
        /// Output file
        #[arg(value_name = "PATH")]
        path: PathBuf,
        /// Size, e.g. 1GiB
        #[arg(long, default_value = "1MiB", value_name = "SIZE")]
        size: String,
        /// Extension that decides the format, e.g. .mp4, .py, .pdf
        #[arg(long, default_value = ".bin", value_name = "EXT")]
        ext: String,
        /// Content seed
        #[arg(long, default_value_t = 1, value_name = "N")]
        seed: u64,
        /// Regenerate the exact bytes of an uploaded object from its key (sets seed and ext)
        #[arg(long, value_name = "KEY")]
        key: Option<String>,
    },
    /// Compare two run summaries (--summary-json) per operation; exit 3 on a regression, 4 when nothing was compared
    Compare(CompareArgs),
    /// Two client builds interleaved per operation in one run: is B slower, noisier or wronger
    /// than A? (exit 0 PASS, 3 FAIL, 4 INCONCLUSIVE)
    Ab(Box<AbArgs>),
    /// Merge the summaries of shard processes (--shard) into one, with exactly merged latency
    /// distributions, and judge the profile's thresholds on it (exit 3 when one fails, 4 when one is not measured)
    Merge {
        /// Summaries written by `--summary-json`, one per shard
        #[arg(value_name = "SUMMARY", required = true, num_args = 1..)]
        files: Vec<PathBuf>,
        /// Write the merged summary as JSON
        #[arg(long = "summary-json", value_name = "PATH")]
        summary_json: Option<PathBuf>,
        /// Write the merged verdict as JUnit XML
        #[arg(long = "junit", value_name = "PATH")]
        junit: Option<PathBuf>,
        /// Extra pass/fail rule (repeatable; adds to the profile's [thresholds])
        #[arg(long = "threshold", value_name = "EXPR")]
        thresholds: Vec<String>,
    },
    /// Make the HTML report of a finished run from its summary (--summary-json)
    Report {
        /// The run's summary
        #[arg(value_name = "SUMMARY.json")]
        summary: PathBuf,
        /// Where to write the HTML report
        #[arg(long, required = true, value_name = "PATH")]
        html: PathBuf,
    },
    /// (internal) Kills the clients of a trafficgen that died
    #[command(hide = true)]
    Watchdog,
    /// Delete every object earlier runs may have left (from the state dir's journal)
    Cleanup {
        /// Also every object in the profile's buckets whose key carries trafficgen's mark
        /// (listed first; all in DIR/cleanup-all.txt)
        #[arg(long)]
        all: bool,
        /// State directory (with --shard I/N, the default's folder shard-I-of-N, as a run's)
        /// [default: ${XDG_DATA_HOME:-~/.local/share}/trafficgen]
        #[arg(long, value_name = "DIR")]
        state_dir: Option<PathBuf>,
        /// Also every shard's state dir in it: its folders shard-I-of-N, which `--shard I/N`
        /// runs on this machine used (each locked in turn, as a run locks it)
        #[arg(long)]
        all_shards: bool,
        // The client that deletes, with the options a run takes for it.
        #[command(flatten)]
        target: ClientArgs,
    },
}

/// Which client runs the commands and where it points: a run's options, and
/// `cleanup`'s, meaning the same in both (`commands::options::apply_client`).
#[derive(Debug, Args)]
pub struct ClientArgs {
    /// Client binary; a bare name is looked up on PATH [default: the profile's obsctl.binary]
    #[arg(long, value_name = "PATH")]
    pub obsctl: Option<PathBuf>,

    /// Client flavor [default: the profile's obsctl.flavor]
    #[arg(long, value_enum, value_name = "FLAVOR")]
    pub client: Option<ClientFlavor>,

    /// S3 endpoint URL [default: $AWS_ENDPOINT_URL when set and not empty, else the profile's obsctl.endpoint]
    #[arg(long, value_name = "URL")]
    pub endpoint: Option<String>,

    /// S3 region, always passed to the client [default: the profile's obsctl.region]
    #[arg(long, value_name = "NAME")]
    pub region: Option<String>,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// How long to run, in simulated time [default: the profile's run.duration]
    // From the environment too, so a CI job's step (a run or `ab`) can be shortened
    // without editing it; a subcommand does not refuse it there (only the command line
    // counts as given).
    #[arg(long, value_name = "DUR", env = "TRAFFICGEN_DURATION")]
    pub duration: Option<humantime::Duration>,

    #[command(flatten)]
    pub target: ClientArgs,

    /// Seed for every random choice [default: the profile's run.seed, else random and logged]
    #[arg(long, value_name = "N")]
    pub seed: Option<u64>,

    /// Simulated seconds per wall second (720 runs a day in 2 minutes); rates stay per wall minute
    #[arg(long, default_value_t = 1.0, value_name = "F", allow_negative_numbers = true)]
    pub time_scale: f64,

    /// Arrival process [default: the profile's rates.arrivals]
    #[arg(long, value_enum, value_name = "KIND")]
    pub arrivals: Option<ArrivalProcess>,

    /// Simulated UTC time of day at start, HH:MM [default: now]
    #[arg(long, value_name = "HH:MM")]
    pub start_at: Option<String>,

    /// Wall time between statistics reports [default: the profile's run.stats_interval]
    #[arg(long, value_name = "DUR")]
    pub stats_interval: Option<humantime::Duration>,

    /// Log file, rotated daily as STEM.YYYY-MM-DD.EXT [default: the profile's run.log_file]
    #[arg(long, value_name = "PATH")]
    pub log_file: Option<PathBuf>,

    /// Crash-safe journal of this run's objects, and its lock (one run per dir); with --shard
    /// I/N, the default's folder shard-I-of-N, so shards side by side each have their own
    /// [default: ${XDG_DATA_HOME:-~/.local/share}/trafficgen]
    #[arg(long, value_name = "DIR")]
    pub state_dir: Option<PathBuf>,

    /// Where the per-user temp dirs go [default: the system temp dir]
    #[arg(long, value_name = "DIR")]
    pub temp_dir: Option<PathBuf>,

    /// Write the final summary as JSON
    #[arg(long, value_name = "PATH")]
    pub summary_json: Option<PathBuf>,

    /// Write a self-contained HTML report: charts over simulated time, mix, latency, verdict
    #[arg(long, value_name = "PATH")]
    pub html: Option<PathBuf>,

    /// Write the verdict as JUnit XML (one test case per threshold and integrity class)
    #[arg(long, value_name = "PATH")]
    pub junit: Option<PathBuf>,

    /// Write one JSON line per finished command (time, user, op, key, size, outcome)
    #[arg(long, value_name = "PATH")]
    pub ops_log: Option<PathBuf>,

    /// The server's Prometheus metrics (Garage from scripts/local-s3: http://127.0.0.1:9003/metrics), read at the
    /// start and end to set its request counts beside trafficgen's [default: run.server_metrics]
    #[arg(long, value_name = "URL")]
    pub server_metrics: Option<String>,

    /// Receive obsctl's OTLP metrics in-process and reconcile every family against what
    /// really ran [default: the profile's telemetry.verify]
    #[arg(long)]
    pub verify_telemetry: bool,

    /// Pass/fail rule, e.g. 'failure_rate<1%' or 'upload.p95<8s' (repeatable; adds to the
    /// profile's [thresholds]); a failed one makes the run exit 3, a capacity one missed on
    /// a saturated host or within chance exit 4
    #[arg(long = "threshold", value_name = "EXPR")]
    pub thresholds: Vec<String>,

    /// At the end, delete every object this run uploaded that is still live
    #[arg(long)]
    pub cleanup: bool,

    /// Wall time in-flight commands get to finish after a stop [default: the profile's run.grace_period]
    #[arg(long, value_name = "DUR")]
    pub grace_period: Option<humantime::Duration>,

    /// Kill a client command after this wall time [default: the profile's run.command_timeout]
    #[arg(long, value_name = "DUR")]
    pub command_timeout: Option<humantime::Duration>,

    /// Cap every file size, e.g. 1MiB for smoke runs [default: the profile's bands decide]
    #[arg(long, value_name = "SIZE")]
    pub max_file_size: Option<String>,

    /// Console shows warnings and reports only (the log file keeps every operation)
    #[arg(short, long)]
    pub quiet: bool,

    /// No live status on a terminal: print the periodic tables and every operation instead
    #[arg(long)]
    pub no_live: bool,
}

/// `trafficgen compare`.
#[derive(Debug, clap::Args)]
pub struct CompareArgs {
    /// Summary of the baseline run
    #[arg(value_name = "BASE.json")]
    pub base: PathBuf,
    /// Summary of the new run
    #[arg(value_name = "NEW.json")]
    pub new: PathBuf,
    /// Fail (exit 3) when any operation's p50/p95/p99 grows, or its throughput drops, by more
    /// than this (e.g. 20%); failure rate may grow by at most this many percentage points
    #[arg(long, value_name = "PCT")]
    pub max_regression: Option<Percent>,
    /// Print JSON instead of a table
    #[arg(long)]
    pub json: bool,
}

/// `trafficgen ab`.
#[derive(Debug, clap::Args)]
pub struct AbArgs {
    /// Build A, the baseline client binary (e.g. the previous release)
    #[arg(long = "a", value_name = "PATH", required = true)]
    pub a: PathBuf,
    /// Build B, the client binary under test [required unless --calibrate]
    #[arg(long = "b", value_name = "PATH", required_unless_present = "calibrate")]
    pub b: Option<PathBuf>,
    /// Largest latency shift of B against A (relative to A's median) that still passes
    #[arg(long, default_value = "10%", value_name = "PCT")]
    pub tolerance: Percent,
    /// Largest rise of B's failure rate over A's (percentage points) that still passes
    #[arg(long, default_value = "1%", value_name = "PCT")]
    pub max_failure_delta: Percent,
    /// Run A against A: measure this run's noise and print the minimum detectable effect
    #[arg(long)]
    pub calibrate: bool,
    /// Bootstrap resamples per comparison
    #[arg(long, default_value_t = 1000, value_name = "N")]
    pub resamples: usize,
    /// With --server-metrics: wall time dealt whole to one build before the server is
    /// read again (the server cannot tell the builds apart), 1s to 1h
    #[arg(long, default_value = "15s", value_name = "DUR")]
    pub block: humantime::Duration,
    /// Write the comparison as GitHub-flavoured markdown (for $GITHUB_STEP_SUMMARY)
    #[arg(long, value_name = "PATH")]
    pub markdown: Option<PathBuf>,
    #[command(flatten)]
    pub run: RunArgs,
}

/// The options that may also come from the environment, as (`--flag`, variable), read
/// from clap's own definitions (the `env = …` above), subcommands' included.
pub fn env_options(cmd: &clap::Command) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    for a in cmd.get_arguments() {
        if let (Some(long), Some(var)) = (a.get_long(), a.get_env()) {
            let pair = (format!("--{long}"), var.to_string_lossy().into_owned());
            if !out.contains(&pair) {
                out.push(pair);
            }
        }
    }
    for sub in cmd.get_subcommands() {
        for pair in env_options(sub) {
            if !out.contains(&pair) {
                out.push(pair);
            }
        }
    }
    out
}

/// For a value clap refused that came from the environment, not the command line
/// (`args`): a line naming the variable, since clap's message names only the flag.
pub fn env_note(from_env: &[(String, String)], e: &clap::Error, args: &[std::ffi::OsString]) -> Option<String> {
    use clap::error::{ContextKind, ContextValue};
    let Some(ContextValue::String(arg)) = e.get(ContextKind::InvalidArg) else { return None };
    let long = arg.split_whitespace().next()?;
    let (_, var) = from_env.iter().find(|(flag, _)| flag == long)?;
    let given = args.iter().filter_map(|a| a.to_str()).any(|a| a == long || a.starts_with(&format!("{long}=")));
    let value = std::env::var_os(var)?;
    (!given).then(|| format!("trafficgen: {long} comes from the environment here: {var}={value:?}"))
}

/// `--client`'s values: the parser's own enum, mapped onto the configuration's `Flavor`
/// (which carries no clap derive). Its doc comments are the `--help` text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ClientFlavor {
    /// obsctl: `obsctl --debug error --endpoint E --region R cp SRC DST`
    Obsctl,
    /// The AWS CLI: `aws s3 cp SRC DST --endpoint-url E --region R --only-show-errors`
    Aws,
}

impl From<ClientFlavor> for Flavor {
    fn from(f: ClientFlavor) -> Flavor {
        match f {
            ClientFlavor::Obsctl => Flavor::Obsctl,
            ClientFlavor::Aws => Flavor::Aws,
        }
    }
}

/// `--arrivals`' values, mapped onto the configuration's `Arrivals`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ArrivalProcess {
    /// Random (exponential gaps), like real users
    Poisson,
    /// Evenly spaced, like k6's constant-arrival-rate (steadier for short runs)
    Uniform,
}

impl From<ArrivalProcess> for Arrivals {
    fn from(a: ArrivalProcess) -> Arrivals {
        match a {
            ArrivalProcess::Poisson => Arrivals::Poisson,
            ArrivalProcess::Uniform => Arrivals::Uniform,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::ValueEnum;

    /// The command line takes the names the profile takes, each meaning the same thing.
    #[test]
    fn flag_values_are_the_profile_names() {
        let names = |v: Vec<Option<clap::builder::PossibleValue>>| -> Vec<String> {
            v.into_iter().flatten().map(|p| p.get_name().to_string()).collect()
        };
        let flags = names(ClientFlavor::value_variants().iter().map(|f| f.to_possible_value()).collect());
        let profile: Vec<&str> = Flavor::ALL.iter().map(|(n, _)| *n).collect();
        assert_eq!(flags, profile);
        for f in ClientFlavor::value_variants() {
            let name = f.to_possible_value().map(|p| p.get_name().to_string());
            assert_eq!(name.as_deref(), Some(Flavor::from(*f).name()));
        }
        let flags = names(ArrivalProcess::value_variants().iter().map(|a| a.to_possible_value()).collect());
        let profile: Vec<&str> = Arrivals::ALL.iter().map(|(n, _)| *n).collect();
        assert_eq!(flags, profile);
        for a in ArrivalProcess::value_variants() {
            let name = a.to_possible_value().map(|p| p.get_name().to_string());
            assert_eq!(name.as_deref(), Some(Arrivals::from(*a).name()));
        }
    }
}
