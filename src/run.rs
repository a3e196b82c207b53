//! The wiring of one run, phase by phase: preflight (outputs, client, buckets),
//! dispatch (the user workers until the duration or a signal), drain (grace period,
//! then kill), cleanup, report (tables, summary, verdict). Decides the exit code.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tracing::{error, info, warn};

use crate::client::{Action, Client, Outcome};
use crate::clock::{self, Clock};
use crate::commands::{EXIT_RUN_FAILED, EXIT_USAGE};
use crate::events::{DeleteReason, Event, OpType};
use crate::export::opslog::OpsLog;
use crate::fleet::{Fleet, Gate};
use crate::options::RunOpts;
use crate::plan::Plan;
use crate::report::{self, ClientInfo, RunFacts};
use crate::signal::{self, Interrupts};
use crate::stats::Stats;
use crate::user::{Worker, WorkerEnd};
use crate::{logging, monitor, ops, server_metrics, verdict};

pub fn run(plan: Plan, opts: RunOpts) -> i32 {
    // Outputs first: a path that cannot be written fails before anything starts.
    if let Err(e) = opts.exports.prepare() {
        eprintln!("error: {e}");
        return EXIT_USAGE;
    }
    let _logs = match logging::init(&plan.log_file, opts.quiet) {
        Ok(g) => g,
        Err(e) => {
            eprintln!("error: {e}");
            return EXIT_USAGE;
        }
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .max_blocking_threads(32)
        .thread_name("trafficgen-io")
        .enable_all()
        .build()
        .expect("building the runtime");
    let client = Arc::new(Client::new(&plan.client, plan.command_timeout));
    let ints =
        Arc::new(Interrupts { client: client.clone(), temp_root: Mutex::new(None), running: AtomicBool::new(false) });
    let (stop_tx, stop_rx) = mpsc::channel::<()>();
    if let Err(e) = signal::install(ints.clone(), stop_tx) {
        error!("{e}");
        return EXIT_RUN_FAILED;
    }

    let version = match preflight(&rt, &plan, &opts, &client) {
        Ok(v) => v,
        Err(code) => return code,
    };
    // The server's counters before the first operation: a URL that does not serve them
    // is bad input, found before any traffic.
    let server_start = match &plan.server_metrics {
        Some(url) => match server_metrics::scrape(url) {
            Ok(c) => Some(c),
            Err(e) => {
                error!("--server-metrics: {e}");
                return EXIT_USAGE;
            }
        },
        None => None,
    };
    let temp = {
        let base = opts.temp_dir.clone().unwrap_or_else(std::env::temp_dir);
        match tempfile::Builder::new().prefix("trafficgen-").tempdir_in(&base) {
            Ok(t) => t,
            Err(e) => {
                error!("cannot create a temp dir in {}: {e}", base.display());
                return EXIT_RUN_FAILED;
            }
        }
    };
    *ints.temp_root.lock().unwrap_or_else(|e| e.into_inner()) = Some(temp.path().to_path_buf());
    let ops_log = match &opts.exports.ops_log {
        Some(p) => match OpsLog::create(p) {
            Ok(l) => Some(l),
            Err(e) => {
                error!("--ops-log {}: {e}", p.display());
                return EXIT_USAGE;
            }
        },
        None => None,
    };

    let plan = Arc::new(plan);
    let clock = Clock::start(opts.map);
    let (events_tx, events_rx) = mpsc::channel::<Event>();
    let client_label = format!("{}: {version}", plan.client.flavor.name());
    let stats_thread =
        monitor::spawn(plan.clone(), clock, plan.stats_interval, client_label.clone(), events_rx, ops_log);
    // Names no one else uses: a run id in the missing and scratch bucket names.
    let run_id = rand::random::<u32>();
    let fleet = Arc::new(Fleet {
        plan: plan.clone(),
        clock,
        client: client.clone(),
        rt: rt.handle().clone(),
        events: events_tx,
        gate: Gate::new(plan.limits.max_in_flight, plan.limits.upload_memory_budget),
        running: AtomicBool::new(true),
        seed: opts.seed,
        missing_bucket: format!("trafficgen-missing-{run_id:08x}"),
        scratch_prefix: format!("trafficgen-scratch-{run_id:08x}"),
    });
    ints.running.store(true, Ordering::SeqCst);

    let (ends, stopped_by, dispatch_s) = dispatch(&fleet, temp.path().to_path_buf(), &stop_rx);
    if opts.cleanup {
        client.children.accept_new();
        cleanup(&rt, &fleet, ends);
    }

    let temp_path = temp.path().to_path_buf();
    if let Err(e) = temp.close() {
        warn!("could not remove temp dir {}: {e}", temp_path.display());
    }
    ints.temp_root.lock().unwrap_or_else(|e| e.into_inner()).take();

    drop(fleet);
    rt.shutdown_timeout(Duration::from_secs(2));
    let stats = stats_thread.join().expect("the stats thread does not panic");
    let witness =
        ServerWitness { start: server_start, end: plan.server_metrics.as_deref().map(server_metrics::scrape) };
    report(&plan, &opts, clock, &stats, version, stopped_by, dispatch_s, &client_label, witness)
}

/// The server's counters read before and after the run.
struct ServerWitness {
    start: Option<server_metrics::Counts>,
    end: Option<Result<server_metrics::Counts, String>>,
}

/// The client must run, and every bucket must exist, before any traffic. Returns the
/// client's version line, or the exit code.
fn preflight(rt: &tokio::runtime::Runtime, plan: &Plan, opts: &RunOpts, client: &Arc<Client>) -> Result<String, i32> {
    let version = rt.block_on(client.run(Action::Version));
    if version.outcome != Outcome::Ok {
        error!(
            "cannot run `{} --version` ({} flavor): {}",
            plan.client.binary.display(),
            plan.client.flavor.name(),
            ops::describe(&version)
        );
        return Err(EXIT_USAGE);
    }
    let version_text = version
        .stdout
        .lines()
        .chain(version.stderr_line.iter().map(|s| s.as_str()))
        .map(str::trim)
        .find(|l| !l.is_empty())
        .map(|l| client.redact(l))
        .unwrap_or_else(|| "unknown".into());
    let seed_note = if opts.seed_was_random { " (random; pass --seed to repeat)" } else { "" };
    let wall = plan.duration.as_secs_f64() / opts.map.scale;
    let rates: Vec<f64> = plan.hourly_table().hours.iter().map(|h| h.total).collect();
    info!(
        "trafficgen {} starting: {} users, client {} ({}), endpoint {}, region {}, seed {}{seed_note}",
        env!("CARGO_PKG_VERSION"),
        plan.users.len(),
        version_text,
        plan.client.binary.display(),
        plan.client.endpoint.as_deref().unwrap_or("(client default)"),
        plan.client.region,
        opts.seed
    );
    info!(
        "run: {} simulated at {}x = {} wall, from {} UTC; fleet target {:.0}-{:.0} ops/min",
        humantime::format_duration(plan.duration),
        opts.map.scale,
        humantime::format_duration(Duration::from_secs_f64(wall.round())),
        clock::civil(opts.map.sim_start).hhmm(),
        rates.iter().cloned().fold(f64::INFINITY, f64::min),
        rates.iter().cloned().fold(0.0, f64::max)
    );
    if !plan.thresholds.is_empty() {
        let list: Vec<&str> = plan.thresholds.iter().map(|t| t.text.as_str()).collect();
        info!("thresholds: {}", list.join(", "));
    }
    let ensured = rt.block_on(async {
        let mut set = tokio::task::JoinSet::new();
        for u in &plan.users {
            let (c, b) = (client.clone(), u.bucket.clone());
            set.spawn(async move { (b.clone(), ops::ensure_bucket(&c, &b).await) });
        }
        set.join_all().await
    });
    let mut failed = false;
    for (bucket, r) in ensured {
        if let Err(e) = r {
            error!("bucket {bucket} could not be ensured: {e}");
            failed = true;
        }
    }
    if failed {
        return Err(EXIT_RUN_FAILED);
    }
    Ok(version_text)
}

/// Starts a thread per user and runs until the simulated duration has passed or a
/// signal arrives; then the grace period, then whatever is left is killed.
fn dispatch(fleet: &Arc<Fleet>, temp: PathBuf, stop_rx: &Receiver<()>) -> (Vec<WorkerEnd>, &'static str, f64) {
    let plan = &fleet.plan;
    let mut workers = Vec::new();
    for (i, u) in plan.users.iter().enumerate() {
        let dir = temp.join(&u.id);
        if let Err(e) = std::fs::create_dir_all(&dir) {
            error!("cannot create {}: {e}", dir.display());
            fleet.running.store(false, Ordering::SeqCst);
            break;
        }
        let w = Worker::new(fleet.clone(), i, dir);
        let spawned = std::thread::Builder::new().name(format!("user-{}", u.id)).spawn(move || w.run());
        match spawned {
            Ok(h) => workers.push(h),
            Err(e) => {
                error!("cannot start the thread for {}: {e}", u.id);
                fleet.running.store(false, Ordering::SeqCst);
            }
        }
    }

    let wall = plan.duration.as_secs_f64() / fleet.clock.map.scale;
    let deadline = Instant::now() + Duration::from_secs_f64(wall);
    let stopped_by = match stop_rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
        Ok(()) => "signal",
        Err(RecvTimeoutError::Timeout) | Err(RecvTimeoutError::Disconnected) => "duration",
    };
    fleet.running.store(false, Ordering::SeqCst);
    let dispatch_s = fleet.clock.elapsed();

    // Drain: in-flight commands may finish; then whatever is left is killed.
    let in_flight = fleet.gate.in_flight();
    if in_flight > 0 {
        info!(
            "stopping ({stopped_by}): waiting up to {} for {in_flight} operations in flight",
            humantime::format_duration(plan.grace_period)
        );
    }
    let grace_end = Instant::now() + plan.grace_period;
    while fleet.gate.in_flight() > 0 && Instant::now() < grace_end {
        std::thread::sleep(Duration::from_millis(20));
    }
    if fleet.gate.in_flight() > 0 {
        warn!("grace period over: killing {} commands still running", fleet.client.children.running());
    }
    fleet.client.children.kill_all();
    let ends = workers.into_iter().filter_map(|h| h.join().ok()).collect();
    (ends, stopped_by, dispatch_s)
}

/// `--cleanup`: deletes every object this run left, as many at once as the global cap.
fn cleanup(rt: &tokio::runtime::Runtime, fleet: &Arc<Fleet>, ends: Vec<WorkerEnd>) {
    let total: usize = ends.iter().map(|e| e.objects.len()).sum();
    if total == 0 {
        return;
    }
    info!("cleanup: deleting {total} objects left by this run");
    let limit = Arc::new(tokio::sync::Semaphore::new(fleet.plan.limits.max_in_flight as usize));
    rt.block_on(async {
        let mut set = tokio::task::JoinSet::new();
        for end in ends {
            for obj in end.objects {
                let (fleet, limit) = (fleet.clone(), limit.clone());
                let user = end.user;
                set.spawn(async move {
                    let _permit = limit.acquire().await;
                    fleet.send(Event::Started { user, op: OpType::Delete, lag: None, upload: None });
                    for rec in ops::delete(&fleet, user, &obj, DeleteReason::Cleanup, false).await {
                        fleet.send(Event::Finished(Box::new(rec)));
                    }
                });
            }
        }
        set.join_all().await;
    });
}

/// The final table, the verdict, the summary and the other exports.
#[allow(clippy::too_many_arguments)]
fn report(
    plan: &Plan,
    opts: &RunOpts,
    clock: Clock,
    stats: &Stats,
    version: String,
    stopped_by: &'static str,
    dispatch_s: f64,
    client_label: &str,
    witness: ServerWitness,
) -> i32 {
    let table = report::table(plan, &clock.map, stats, &[], 0.0, dispatch_s, &format!("final ({client_label})"));
    info!(target: "report", "{table}");
    let mut summary = report::summary(
        RunFacts {
            plan,
            map: clock.map,
            seed: opts.seed,
            client: ClientInfo {
                flavor: plan.client.flavor.name(),
                binary: plan.client.binary.display().to_string(),
                version,
            },
            dispatch_s,
            duration_s: clock.elapsed(),
            stopped_by,
        },
        stats,
    );
    match (witness.start, witness.end, &plan.server_metrics) {
        (Some(start), Some(Ok(end)), Some(url)) => {
            let r = server_metrics::report(url, &start, &end, &summary.ops, crate::user::SYNC_FILES as u64);
            info!(target: "report", "{}", server_metrics::render(&r));
            summary.server_metrics = Some(r);
        }
        (_, Some(Err(e)), _) => warn!("--server-metrics: the final reading failed, so no server counts: {e}"),
        _ => {}
    }
    let v = verdict::judge(&summary, &plan.thresholds);
    if v.passed {
        info!(target: "report", "{}", verdict::render(&v));
    } else {
        warn!(target: "report", "{}", verdict::render(&v));
    }
    let code = v.exit_code;
    summary.verdict = Some(v);
    match opts.exports.finish(&summary) {
        Ok(paths) => {
            for p in paths {
                info!("written: {}", p.display());
            }
        }
        Err(e) => {
            error!("{e}");
            return EXIT_RUN_FAILED;
        }
    }
    code
}
