//! Everything before the first operation, in order: the outputs and the state dir (one
//! run per dir), logging, the open-files cap, the runtime, the telemetry receiver, the
//! client (with its watchdog and the signal handler), the client's version and every
//! bucket, the server's first counters, the earlier runs' leftovers, the temp dir and
//! the ops log. Whatever can refuse a run refuses it here, before any traffic.
//!
//! Errors before logging is set up are left to `main` to print; after it, each is
//! logged here (to the log file and the console) and marked as said.

use std::sync::atomic::AtomicBool;
use std::sync::mpsc::{self, Receiver};
use std::sync::{Arc, Mutex};

use tracing::{error, info, warn};

use crate::analysis::server_metrics;
use crate::analysis::telemetry;
use crate::analysis::telemetry::receiver::Receiver as OtlpReceiver;
use crate::commands::options::{self, RunOpts};
use crate::commands::run::bounded;
use crate::commands::run::leftovers;
use crate::config::plan::Plan;
use crate::config::versions;
use crate::exec::client::{self, Action, Client, Outcome, Telemetry};
use crate::exec::signal::{self, Interrupts};
use crate::model::clock;
use crate::model::error::Error;
use crate::model::events::Build;
use crate::output::export::Reads;
use crate::output::export::opslog::OpsLog;
use crate::output::live::Live;
use crate::output::logging::{self, LogGuards, logged};
use crate::work::ops;
use crate::work::state::{Journal, State};

/// Bucket checks at start running at once.
const PREFLIGHT_CONCURRENCY: usize = 16;
/// File descriptors trafficgen needs per child in flight (two pipes, the pidfd or
/// process handle, a spare), and for everything else.
const FDS_PER_CHILD: u64 = 4;
const FDS_RESERVED: u64 = 128;

/// What the run starts with once preflight has passed.
pub struct Prepared {
    pub rt: tokio::runtime::Runtime,
    pub client: Arc<Client>,
    /// With telemetry verification: the OTLP receiver every child exports to.
    pub receiver: Option<OtlpReceiver>,
    pub ints: Arc<Interrupts>,
    /// A message on the first Ctrl+C (or SIGTERM) once traffic runs.
    pub stop_rx: Receiver<()>,
    /// Names no one else uses: in the missing and scratch bucket names and in every
    /// child's telemetry identity.
    pub run_id: String,
    /// The client's version line.
    pub version: String,
    /// Under `ab`: build B's version line.
    pub version_b: Option<String>,
    /// The server's counters before the first operation (with `--server-metrics`).
    pub server_start: Option<server_metrics::Counts>,
    pub journal: Journal,
    pub temp: tempfile::TempDir,
    pub ops_log: Option<OpsLog>,
}

/// Outputs first: a path that cannot be written, or that is an input, fails before
/// anything starts (and before any file is created or emptied). Then the state dir,
/// one run per dir, and logging (with the live status, when shown).
pub fn open(plan: &Plan, opts: &RunOpts) -> Result<(State, Option<Live>, LogGuards), Error> {
    check_outputs(plan, opts)?;
    let state = State::open(&opts.state_dir)?;
    let live = Live::start(opts.live);
    let logs = logging::init(&plan.log_file, opts.quiet, live.as_ref())?;
    Ok((state, live, logs))
}

/// No output is the profile, the client binary or a file of the state dir, and no two
/// outputs are one file (`output::export::check_outputs`).
fn check_outputs(plan: &Plan, opts: &RunOpts) -> Result<(), Error> {
    let mut reads = Reads { files: vec![("the profile", plan.source.as_path())], state_dir: Some(&opts.state_dir) };
    if plan.client.binary.components().count() > 1 {
        reads.files.push(("the client", plan.client.binary.as_path()));
    }
    crate::output::export::check_outputs(&reads, &opts.exports.paths())
}

/// Raises the open-files soft limit to the hard limit, and caps the children in flight
/// at what it allows.
pub fn cap_in_flight(plan: &mut Plan) {
    let fd_cap =
        client::raise_open_files_limit().map_or(u64::MAX, |limit| limit.saturating_sub(FDS_RESERVED) / FDS_PER_CHILD);
    if u64::from(plan.limits.max_in_flight) > fd_cap {
        warn!(
            "limits.max_in_flight {} is more than the open-files limit allows; capped at {fd_cap}",
            plan.limits.max_in_flight
        );
        plan.limits.max_in_flight = fd_cap.max(1) as u32;
    }
}

/// The rest of preflight, once logging runs; every error is logged.
pub fn prepare(plan: &Plan, opts: &RunOpts, state: &State) -> Result<Prepared, Error> {
    let rt = client::runtime().map_err(logged)?;
    let run_id = format!("{:08x}", rand::random::<u32>());
    let Connected { receiver, client, ints, stop_rx } = connect(&rt, plan, opts, &run_id)?;
    let (version, version_b) = check_client_and_buckets(&rt, plan, opts, &client)?;
    // The server's counters before the first operation: a URL that does not serve them
    // is bad input, found before any traffic.
    let server_start = match &plan.server_metrics {
        Some(url) => {
            Some(server_metrics::scrape(url).map_err(|e| logged(Error::Usage(format!("--server-metrics: {e}"))))?)
        }
        None => None,
    };
    let journal = leftovers::take(&rt, &client, state)?;
    let temp = temp_dir(opts, &ints)?;
    let ops_log = match &opts.exports.ops_log {
        Some(p) => {
            Some(OpsLog::create(p).map_err(|e| logged(Error::Usage(format!("--ops-log {}: {e}", p.display()))))?)
        }
        None => None,
    };
    Ok(Prepared {
        rt,
        client,
        receiver,
        ints,
        stop_rx,
        run_id,
        version,
        version_b,
        server_start,
        journal,
        temp,
        ops_log,
    })
}

/// The receiver, the client and the signal handler, as `Prepared` holds them.
struct Connected {
    receiver: Option<OtlpReceiver>,
    client: Arc<Client>,
    ints: Arc<Interrupts>,
    stop_rx: Receiver<()>,
}

/// The receiver (with verification), the client, its watchdog and the signal handler.
fn connect(rt: &tokio::runtime::Runtime, plan: &Plan, opts: &RunOpts, run_id: &str) -> Result<Connected, Error> {
    // Only children holding a token made with this key count at the receiver.
    let key = crate::config::token::Key::random();
    let receiver = if plan.telemetry.verify {
        // The profile's own collector keeps receiving everything our children export:
        // every such export is forwarded to it, with the profile's own headers.
        let env = |name: &str| plan.client.env.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
        let (upstream, headers) = (env("OTEL_EXPORTER_OTLP_ENDPOINT"), env("OTEL_EXPORTER_OTLP_HEADERS"));
        let r = rt.block_on(OtlpReceiver::start(upstream, headers.as_deref(), key.clone())).map_err(logged)?;
        r.store.lock().unwrap_or_else(|e| e.into_inner()).ledger =
            telemetry::ledger::Ledger::new(plan.telemetry.wait, opts.map.sim_start);
        Some(r)
    } else {
        None
    };
    let client = Client::new(&plan.client, plan.command_timeout).with_telemetry(Telemetry {
        run_id: run_id.to_string(),
        identity: plan.telemetry.identity,
        users: plan.users.iter().map(|u| u.id.clone()).collect(),
        receiver: receiver.as_ref().map(|r| r.endpoint()),
        key: Some(key),
        ledger: receiver.as_ref().map(|r| r.store.clone() as std::sync::Arc<dyn crate::model::contract::ChildWatch>),
    });
    let client = match &opts.ab {
        Some(ab) => client.with_binary_b(ab.binary_b.clone()),
        None => client,
    };
    if let Err(e) = client.children.start_watchdog() {
        warn!("{e}: clients may outlive trafficgen if it is killed");
    }
    let client = Arc::new(client);
    let ints =
        Arc::new(Interrupts { client: client.clone(), temp_root: Mutex::new(None), running: AtomicBool::new(false) });
    let (stop_tx, stop_rx) = mpsc::channel::<()>();
    signal::install(ints.clone(), stop_tx).map_err(logged)?;
    Ok(Connected { receiver, client, ints, stop_rx })
}

/// The client must run, and every bucket must exist, before any traffic. Returns the
/// client's version line (and build B's, under `ab`).
fn check_client_and_buckets(
    rt: &tokio::runtime::Runtime,
    plan: &Plan,
    opts: &RunOpts,
    client: &Arc<Client>,
) -> Result<(String, Option<String>), Error> {
    let version_text = version_line(rt, plan, client, Build::A, &plan.client.binary, opts.ab.is_some())?;
    let version_b = match &opts.ab {
        Some(split) => Some(version_line(rt, plan, client, Build::B, &split.binary_b, true)?),
        None => None,
    };
    let shown = match &version_b {
        Some(b) => format!("{version_text} (A), {b} (B)"),
        None => version_text.clone(),
    };
    announce(plan, opts, &shown);
    // Bounded: 10,000 users once opened every bucket check at once and ran out of files.
    let buckets = plan.buckets().into_iter().map(str::to_string);
    let ensured = rt.block_on(bounded::each(buckets, PREFLIGHT_CONCURRENCY, |b| {
        let c = client.clone();
        async move {
            let r = ops::ensure_bucket(&c, &b).await;
            (b, r)
        }
    }));
    let mut failed = 0;
    for (bucket, r) in ensured {
        if let Err(e) = r {
            error!("bucket {bucket} could not be ensured: {e}");
            failed += 1;
        }
    }
    if failed > 0 {
        // Each was logged above, by name.
        return Err(Error::Failed(format!("{failed} buckets could not be ensured")).reported());
    }
    Ok((version_text, version_b))
}

/// One build's `--version` line: the first line it prints (redacted), or the error
/// that refuses the run.
fn version_line(
    rt: &tokio::runtime::Runtime,
    plan: &Plan,
    client: &Arc<Client>,
    build: Build,
    binary: &std::path::Path,
    under_ab: bool,
) -> Result<String, Error> {
    let version = rt.block_on(client.run_with(Action::Version, client::Tag { build, ..Default::default() }));
    if version.outcome != Outcome::Ok {
        // `ab` names its builds with --a and --b (it refuses --obsctl).
        let fix = match build {
            Build::A if !under_ab => options::CLIENT_FIX,
            Build::A => "give build A with --a PATH",
            Build::B => "give build B with --b PATH",
        };
        return Err(logged(Error::Usage(options::cannot_run(plan, binary, &version, fix))));
    }
    Ok(version
        .stdout
        .lines()
        .chain(version.stderr_line.iter().map(|s| s.as_str()))
        .map(str::trim)
        .find(|l| !l.is_empty())
        .map(|l| client.redact(l))
        .unwrap_or_else(|| "unknown".into()))
}

/// The run's first lines: what runs against what, how fast, and the thresholds.
fn announce(plan: &Plan, opts: &RunOpts, version: &str) {
    let seed_note = if opts.seed_was_random { " (random; pass --seed to repeat)" } else { "" };
    let wall = plan.duration.as_secs_f64() / opts.map.scale;
    let rates: Vec<f64> = plan.hourly_table().hours.iter().map(|h| h.total).collect();
    info!(
        "trafficgen {} starting: {} users, client {} ({}), endpoint {}, region {}, seed {}{seed_note}",
        env!("CARGO_PKG_VERSION"),
        plan.users.len(),
        version,
        plan.client.binary.display(),
        crate::commands::options::endpoint_text(&plan.client),
        plan.client.region,
        opts.seed
    );
    info!(
        "run: {} simulated at {}x = {} wall, from {} UTC; fleet target {:.0}-{:.0} ops/min",
        humantime::format_duration(plan.duration),
        opts.map.scale,
        humantime::format_duration(std::time::Duration::from_secs_f64(wall.round())),
        clock::civil(opts.map.sim_start).hhmm(),
        rates.iter().cloned().fold(f64::INFINITY, f64::min),
        rates.iter().cloned().fold(0.0, f64::max)
    );
    if !plan.thresholds.is_empty() {
        let list: Vec<&str> = plan.thresholds.iter().map(|t| t.text.as_str()).collect();
        info!("thresholds: {}", list.join(", "));
    }
}

/// This run's temp dir, after removing those of earlier runs that died; registered for
/// removal on an abort, and marked with our pid.
fn temp_dir(opts: &RunOpts, ints: &Interrupts) -> Result<tempfile::TempDir, Error> {
    let base = opts.temp_dir.clone().unwrap_or_else(std::env::temp_dir);
    let stale = crate::work::state::remove_stale_temp_dirs(&base);
    if stale > 0 {
        info!("removed {stale} temp dirs of earlier runs that died");
    }
    let temp = tempfile::Builder::new()
        .prefix("trafficgen-")
        .tempdir_in(&base)
        .map_err(|e| logged(Error::Failed(format!("cannot create a temp dir in {}: {e}", base.display()))))?;
    *ints.temp_root.lock().unwrap_or_else(|e| e.into_inner()) = Some(temp.path().to_path_buf());
    // Whose dir this is: a later run removes it if this process dies without doing so.
    let _ = std::fs::write(temp.path().join("owner.pid"), std::process::id().to_string());
    Ok(temp)
}

/// The telemetry deviations the profile allows for this client's version (each build's
/// for its own children under `ab`; the run as a whole, both builds' children together,
/// with what either build's version allows). A deviation allowed only for an earlier
/// version is taken as known since then, with a warning to bring the profile up to date.
pub fn allowed(plan: &Plan, version: &str, version_b: Option<&str>) -> telemetry::Allowances {
    let of = |line: &str| {
        let (allow, since) = versions::allowances(&plan.telemetry.allow, line);
        if plan.telemetry.verify && !since.is_empty() {
            warn!(
                "telemetry: {line} is newer than the profile's [telemetry.allow] versions that list {}: each is allowed as known since then; list them for this version once confirmed",
                since.join(", ")
            );
        }
        allow
    };
    let a = of(version);
    let Some(b) = version_b.map(of) else { return telemetry::Allowances { run: a, builds: Default::default() } };
    let mut run = b.clone();
    run.extend(a.clone());
    telemetry::Allowances { run, builds: [(Build::A, a), (Build::B, b)].into() }
}
