//! One run from start to summary: options → plan, preflight, workers, stop, cleanup,
//! report. The only place that decides exit codes.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tracing::{error, info, warn};

use crate::cli::{Cli, Command, RunArgs};
use crate::client::{Action, Client, Outcome};
use crate::clock::{self, Clock, TimeMap};
use crate::events::{DeleteReason, Event, OpType};
use crate::fleet::{Fleet, Gate};
use crate::plan::Plan;
use crate::report::{self, ClientInfo, RunFacts};
use crate::signal::{self, Interrupts};
use crate::user::{Worker, WorkerEnd};
use crate::{logging, monitor, ops, profile, units};

pub const EXIT_RUN_FAILED: i32 = 1;
pub const EXIT_USAGE: i32 = 2;

pub fn main(cli: Cli) -> i32 {
    // `synth` needs no profile.
    if let Some(Command::Synth { path, size, ext, seed, key }) = &cli.command {
        return match key {
            Some(k) => synth(path, size, crate::synth::ext_of(k), crate::synth::seed_for_key(k)),
            None => synth(path, size, ext, *seed),
        };
    }
    let plan = match load(&cli) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("error: {e}");
            return EXIT_USAGE;
        }
    };
    match cli.command {
        Some(Command::Check) => {
            print!("{}", plan.describe());
            0
        }
        Some(Command::Plan { json }) => {
            let table = plan.hourly_table();
            if json {
                println!("{}", serde_json::to_string_pretty(&table).expect("plain data serializes"));
            } else {
                print!("{}", table.render(&plan));
            }
            0
        }
        Some(Command::Synth { .. }) => unreachable!("handled above"),
        None => match apply_run_args(plan, &cli.run) {
            Ok((plan, opts)) => run(plan, opts),
            Err(e) => {
                eprintln!("error: {e}");
                EXIT_USAGE
            }
        },
    }
}

fn synth(path: &std::path::Path, size: &str, ext: &str, seed: u64) -> i32 {
    let size = match units::parse_size(size) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: --size: {e}");
            return EXIT_USAGE;
        }
    };
    let started = Instant::now();
    match crate::synth::write_file(path, ext, size, seed) {
        Ok(()) => {
            let secs = started.elapsed().as_secs_f64();
            eprintln!(
                "wrote {} ({size} bytes) in {secs:.3}s: {:.0} MB/s",
                path.display(),
                size as f64 / 1e6 / secs.max(1e-9)
            );
            0
        }
        Err(e) => {
            eprintln!("error: writing {}: {e}", path.display());
            EXIT_RUN_FAILED
        }
    }
}

/// The profile with the options every subcommand shares.
fn load(cli: &Cli) -> Result<Plan, String> {
    let mut plan = profile::load(&cli.profiles).map_err(|e| e.to_string())?;
    if !(cli.rate_scale.is_finite() && cli.rate_scale > 0.0) {
        return Err(format!("--rate-scale {}: must be a positive number", cli.rate_scale));
    }
    plan.rates.scale = cli.rate_scale;
    if let Some(ids) = &cli.users {
        let known: Vec<&str> = plan.users.iter().map(|u| u.id.as_str()).collect();
        if let Some(bad) = ids.iter().find(|id| !known.contains(&id.as_str())) {
            return Err(format!(
                "--users: no user {bad:?} in {} (known: {})",
                cli.profiles.display(),
                known.join(", ")
            ));
        }
        plan.users.retain(|u| ids.contains(&u.id));
    }
    Ok(plan)
}

/// Run-only settings that are not part of the plan.
struct RunOpts {
    seed: u64,
    seed_was_random: bool,
    map: TimeMap,
    temp_dir: Option<PathBuf>,
    summary_json: Option<PathBuf>,
    cleanup: bool,
    quiet: bool,
}

fn apply_run_args(mut plan: Plan, a: &RunArgs) -> Result<(Plan, RunOpts), String> {
    if let Some(d) = a.duration {
        plan.duration = d.into();
    }
    if let Some(p) = &a.obsctl {
        plan.client.binary = p.clone();
    }
    if let Some(f) = a.client {
        plan.client.flavor = f;
    }
    if let Some(e) = &a.endpoint {
        plan.client.endpoint = (!e.is_empty()).then(|| e.clone());
    }
    if let Some(r) = &a.region {
        if r.trim().is_empty() {
            return Err("--region: must not be empty (obsctl would fall back to ru-moscow-1)".into());
        }
        plan.client.region = r.clone();
    }
    if let Some(k) = a.arrivals {
        plan.rates.arrivals = k;
    }
    if let Some(d) = a.stats_interval {
        plan.stats_interval = d.into();
    }
    if let Some(p) = &a.log_file {
        plan.log_file = p.clone();
    }
    if let Some(d) = a.grace_period {
        plan.grace_period = d.into();
    }
    if let Some(d) = a.command_timeout {
        plan.command_timeout = d.into();
    }
    if let Some(s) = &a.max_file_size {
        plan.limits.max_file_size = Some(units::parse_size(s).map_err(|e| format!("--max-file-size: {e}"))?);
    }
    for (name, d) in [
        ("--duration", plan.duration),
        ("--stats-interval", plan.stats_interval),
        ("--command-timeout", plan.command_timeout),
    ] {
        if d.is_zero() {
            return Err(format!("{name}: must be longer than zero"));
        }
    }
    if !(a.time_scale.is_finite() && a.time_scale > 0.0) {
        return Err(format!("--time-scale {}: must be a positive number", a.time_scale));
    }
    let now = clock::unix_now();
    let sim_start = match &a.start_at {
        Some(s) => clock::start_at_today(s, now)?,
        None => now,
    };
    let (seed, seed_was_random) = match a.seed.or(plan.seed) {
        Some(s) => (s, false),
        None => (rand::random::<u64>() >> 12, true),
    };
    let opts = RunOpts {
        seed,
        seed_was_random,
        map: TimeMap { sim_start, scale: a.time_scale },
        temp_dir: a.temp_dir.clone(),
        summary_json: a.summary_json.clone(),
        cleanup: a.cleanup,
        quiet: a.quiet,
    };
    Ok((plan, opts))
}

fn run(plan: Plan, opts: RunOpts) -> i32 {
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

    // Preflight: the client must run, and every bucket must exist, before any traffic.
    let version = rt.block_on(client.run(Action::Version));
    if version.outcome != Outcome::Ok {
        error!(
            "cannot run `{} --version` ({} flavor): {}",
            plan.client.binary.display(),
            plan.client.flavor.name(),
            ops::describe(&version)
        );
        return EXIT_USAGE;
    }
    let version_text = version
        .stdout
        .lines()
        .chain(version.stderr_line.iter().map(|s| s.as_str()))
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("unknown")
        .to_string();
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
        return EXIT_RUN_FAILED;
    }

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

    let plan = Arc::new(plan);
    let clock = Clock::start(opts.map);
    let (events_tx, events_rx) = mpsc::channel::<Event>();
    let client_label = format!("{}: {version_text}", plan.client.flavor.name());
    let stats_thread = monitor::spawn(plan.clone(), clock, plan.stats_interval, client_label.clone(), events_rx);
    let fleet = Arc::new(Fleet {
        plan: plan.clone(),
        clock,
        client: client.clone(),
        rt: rt.handle().clone(),
        events: events_tx,
        gate: Gate::new(plan.limits.max_in_flight, plan.limits.upload_memory_budget),
        running: AtomicBool::new(true),
        seed: opts.seed,
    });
    ints.running.store(true, Ordering::SeqCst);

    let mut workers = Vec::new();
    for (i, u) in plan.users.iter().enumerate() {
        let dir = temp.path().join(&u.id);
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

    // Run until the simulated duration has passed or a signal arrives.
    let deadline = Instant::now() + Duration::from_secs_f64(wall);
    let stopped_by = match stop_rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
        Ok(()) => "signal",
        Err(RecvTimeoutError::Timeout) | Err(RecvTimeoutError::Disconnected) => "duration",
    };
    fleet.running.store(false, Ordering::SeqCst);
    let dispatch_s = clock.elapsed();

    // Grace: in-flight commands may finish; then whatever is left is killed.
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
        warn!("grace period over: killing {} commands still running", client.children.running());
    }
    client.children.kill_all();
    let ends: Vec<WorkerEnd> = workers.into_iter().filter_map(|h| h.join().ok()).collect();

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

    let table = report::table(&plan, &clock.map, &stats, &[], 0.0, dispatch_s, &format!("final ({client_label})"));
    info!(target: "report", "{table}");
    let summary = report::summary(
        RunFacts {
            plan: &plan,
            map: clock.map,
            seed: opts.seed,
            client: ClientInfo {
                flavor: plan.client.flavor.name(),
                binary: plan.client.binary.display().to_string(),
                version: version_text,
            },
            dispatch_s,
            duration_s: clock.elapsed(),
            stopped_by,
        },
        &stats,
    );
    if let Some(path) = &opts.summary_json {
        match report::write_json(path, &summary) {
            Ok(()) => info!("summary written to {}", path.display()),
            Err(e) => {
                error!("cannot write the summary to {}: {e}", path.display());
                return EXIT_RUN_FAILED;
            }
        }
    }
    0
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
                    fleet.send(Event::Started { user, op: OpType::Delete, lag: Duration::ZERO });
                    let rec = ops::delete(&fleet, user, &obj, DeleteReason::Cleanup).await;
                    fleet.send(Event::Finished(Box::new(rec)));
                });
            }
        }
        set.join_all().await;
    });
}
