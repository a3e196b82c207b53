//! The wiring of one run, phase by phase: preflight (outputs, client, buckets),
//! dispatch (the user workers until the duration or a signal), drain (grace period,
//! then kill), cleanup, report (tables, summary, verdict). Decides the exit code.

mod monitor;

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tracing::{error, info, warn};

use crate::analysis::server_metrics;
use crate::analysis::stats::Stats;
use crate::analysis::summary::{self, RunFacts};
use crate::analysis::telemetry;
use crate::analysis::telemetry::receiver::Receiver as OtlpReceiver;
use crate::analysis::verdict;
use crate::commands::options::RunOpts;
use crate::config::plan::Plan;
use crate::exec::client::{Action, Client, Outcome, Telemetry};
use crate::exec::signal::{self, Interrupts};
use crate::model::clock::{self, Clock};
use crate::model::events::{DeleteReason, Event, OpType};
use crate::model::exit;
use crate::model::summary::ClientInfo;
use crate::model::summary::StopCause;
use crate::output::export::opslog::OpsLog;
use crate::output::logging;
use crate::work::fleet::{Fleet, Gate};
use crate::work::ops;
use crate::work::state::{Entry, Journal, State};
use crate::work::user::{Worker, WorkerEnd};

/// Bucket checks at start running at once.
const PREFLIGHT_CONCURRENCY: usize = 16;
/// File descriptors trafficgen needs per child in flight (two pipes, the pidfd or
/// process handle, a spare), and for everything else.
const FDS_PER_CHILD: u64 = 4;
const FDS_RESERVED: u64 = 128;

/// Raises the open-files soft limit to the hard limit and returns how many children
/// may run at once within it.
fn raise_nofile() -> u64 {
    let mut lim = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: plain getrlimit/setrlimit on our own process.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 {
            return u64::MAX;
        }
        if lim.rlim_cur < lim.rlim_max {
            let raised = libc::rlimit { rlim_cur: lim.rlim_max, rlim_max: lim.rlim_max };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                lim.rlim_cur = lim.rlim_max;
            }
        }
    }
    (lim.rlim_cur as u64).saturating_sub(FDS_RESERVED) / FDS_PER_CHILD
}

pub fn run(mut plan: Plan, opts: RunOpts) -> i32 {
    // Outputs first: a path that cannot be written, or that is an input, fails before
    // anything starts (and before any file is created or emptied).
    if let Err(e) = opts.exports.prepare().and_then(|()| check_outputs(&plan, &opts)) {
        eprintln!("error: {e}");
        return exit::USAGE;
    }
    // One run per state dir, before anything else happens.
    let state = match State::open(&opts.state_dir) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return exit::USAGE;
        }
    };
    let live = crate::output::live::Live::start(opts.live);
    let _logs = match logging::init(&plan.log_file, opts.quiet, live.as_ref()) {
        Ok(g) => g,
        Err(e) => {
            eprintln!("error: {e}");
            return exit::USAGE;
        }
    };
    let fd_cap = raise_nofile();
    if u64::from(plan.limits.max_in_flight) > fd_cap {
        warn!(
            "limits.max_in_flight {} is more than the open-files limit allows; capped at {fd_cap}",
            plan.limits.max_in_flight
        );
        plan.limits.max_in_flight = fd_cap.max(1) as u32;
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .max_blocking_threads(32)
        .thread_name("trafficgen-io")
        .enable_all()
        .build()
        .expect("building the runtime");
    // Names no one else uses: a run id in the missing and scratch bucket names and in
    // every child's telemetry identity.
    let run_id = rand::random::<u32>();
    // Only children holding a token made with this key count at the receiver.
    let key = crate::config::token::Key::random();
    let receiver = if plan.telemetry.verify {
        // The profile's own collector keeps receiving everything our children export:
        // every such export is forwarded to it, with the profile's own headers.
        let env = |name: &str| plan.client.env.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
        let (upstream, headers) = (env("OTEL_EXPORTER_OTLP_ENDPOINT"), env("OTEL_EXPORTER_OTLP_HEADERS"));
        match rt.block_on(OtlpReceiver::start(upstream, headers.as_deref(), key.clone())) {
            Ok(r) => {
                r.store.lock().unwrap_or_else(|e| e.into_inner()).ledger =
                    telemetry::ledger::Ledger::new(plan.telemetry.wait, opts.map.sim_start);
                Some(r)
            }
            Err(e) => {
                error!("{e}");
                return exit::RUN_FAILED;
            }
        }
    } else {
        None
    };
    let client = Client::new(&plan.client, plan.command_timeout).with_telemetry(Telemetry {
        run_id: format!("{run_id:08x}"),
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
    if let Err(e) = signal::install(ints.clone(), stop_tx) {
        error!("{e}");
        return exit::RUN_FAILED;
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
                return exit::USAGE;
            }
        },
        None => None,
    };
    let open_journal = || {
        state.journal().map_err(|e| {
            error!("cannot open the journal in {}: {e}", state.dir.display());
            exit::RUN_FAILED
        })
    };
    let journal = match open_journal() {
        Ok(j) => j,
        Err(code) => return code,
    };
    let leftovers = leftovers(&rt, &plan, &opts, &client, &state, &journal);
    // The leftovers' compaction replaced the journal file: this run appends to the new
    // one (appends to the old one were lost, and a kill -9 then leaked this run's objects).
    drop(journal);
    let journal = match open_journal() {
        Ok(j) => j,
        Err(code) => return code,
    };
    let temp = {
        let base = opts.temp_dir.clone().unwrap_or_else(std::env::temp_dir);
        let stale = crate::work::state::remove_stale_temp_dirs(&base);
        if stale > 0 {
            info!("removed {stale} temp dirs of earlier runs that died");
        }
        match tempfile::Builder::new().prefix("trafficgen-").tempdir_in(&base) {
            Ok(t) => t,
            Err(e) => {
                error!("cannot create a temp dir in {}: {e}", base.display());
                return exit::RUN_FAILED;
            }
        }
    };
    *ints.temp_root.lock().unwrap_or_else(|e| e.into_inner()) = Some(temp.path().to_path_buf());
    // Whose dir this is: a later run removes it if this process dies without doing so.
    let _ = std::fs::write(temp.path().join("owner.pid"), std::process::id().to_string());
    let ops_log = match &opts.exports.ops_log {
        Some(p) => match OpsLog::create(p) {
            Ok(l) => Some(l),
            Err(e) => {
                error!("--ops-log {}: {e}", p.display());
                return exit::USAGE;
            }
        },
        None => None,
    };

    let plan = Arc::new(plan);
    let clock = Clock::start(opts.map);
    if let Some(r) = &receiver {
        // Children are reconciled by the simulated hour they start in.
        r.store.lock().unwrap_or_else(|e| e.into_inner()).ledger.set_clock(clock);
    }
    let (events_tx, events_rx) = mpsc::channel::<Event>();
    let client_label = format!("{}: {version}", plan.client.flavor.name());
    let allow: telemetry::Allow = plan
        .telemetry
        .allow
        .iter()
        .filter(|(v, _)| version.contains(v.as_str()))
        .flat_map(|(_, m)| m.clone())
        .collect();
    // With verification, every periodic table ends with where the reconciliation stands.
    let telemetry_line = receiver.as_ref().map(|r| {
        let (store, users, allow, label) = (
            r.store.clone(),
            plan.users.iter().map(|u| u.id.clone()).collect::<Vec<_>>(),
            allow.clone(),
            client_label.clone(),
        );
        Box::new(move || {
            let mut store = store.lock().unwrap_or_else(|e| e.into_inner());
            store.sweep(Instant::now());
            let t = telemetry::reconcile(&label, &store, (0, 0, 0), &users, &allow);
            let live = store.ledger.live();
            drop(store);
            telemetry::running_line(&t, live)
        }) as Box<dyn Fn() -> String + Send>
    });
    let stats_thread = monitor::spawn(
        plan.clone(),
        clock,
        plan.stats_interval,
        crate::analysis::stats::timeline_interval(plan.duration.div_f64(opts.map.scale.max(1e-9)), plan.stats_interval),
        client_label.clone(),
        events_rx,
        ops_log,
        telemetry_line,
        live.map(|l| (l, plan.duration.as_secs_f64() / opts.map.scale)),
    );
    let host = Arc::new(crate::work::host::Host::default());
    if plan.limits.host_guard {
        host.watch();
    }
    let fleet = Arc::new(Fleet {
        plan: plan.clone(),
        clock,
        client: client.clone(),
        rt: rt.handle().clone(),
        events: events_tx,
        gate: Gate::new(plan.limits.max_in_flight, plan.limits.upload_memory_budget),
        running: AtomicBool::new(true),
        seed: crate::config::shard::seed(opts.seed, plan.shard),
        missing_bucket: format!("trafficgen-missing-{run_id:08x}"),
        scratch_prefix: format!("trafficgen-scratch-{run_id:08x}"),
        journal,
        run_id: format!("{run_id:08x}"),
        host: host.clone(),
        ab: opts.ab.clone(),
        wakers: Default::default(),
    });
    ints.running.store(true, Ordering::SeqCst);

    let (ends, mut stopped_by, dispatch_s) = dispatch(&fleet, temp.path().to_path_buf(), &stop_rx, leftovers);
    if opts.cleanup && stopped_by == StopCause::Signal {
        // Stop when asked: the grace period is spent; the objects are in the journal.
        let left: usize = ends.iter().map(|e| e.objects.len()).sum();
        if left > 0 {
            warn!(
                "cleanup skipped: the run was stopped by a signal; its {left} objects stay in the journal for the next run or `trafficgen cleanup`"
            );
        }
    } else if opts.cleanup {
        client.children.accept_new();
        if cleanup(&rt, &fleet, ends, &stop_rx) {
            stopped_by = StopCause::Signal;
        }
    }

    let temp_path = temp.path().to_path_buf();
    if let Err(e) = temp.close() {
        warn!("could not remove temp dir {}: {e}", temp_path.display());
    }
    ints.temp_root.lock().unwrap_or_else(|e| e.into_inner()).take();

    let journal_error = fleet.journal.error();
    drop(fleet);
    host.stop();
    let stats = stats_thread.join().expect("the stats thread does not panic");
    let witness =
        ServerWitness { start: server_start, end: plan.server_metrics.as_deref().map(server_metrics::scrape) };
    let telemetry = receiver.map(|r| {
        await_exports(&r, plan.telemetry.wait);
        let mut store = r.store.lock().unwrap_or_else(|e| e.into_inner());
        store.settle_all();
        let c = &r.counters;
        let counts = (
            c.requests.load(Ordering::Relaxed),
            c.forwarded.load(Ordering::Relaxed),
            c.forward_failures.load(Ordering::Relaxed),
        );
        let users: Vec<String> = plan.users.iter().map(|u| u.id.clone()).collect();
        let t = telemetry::reconcile(&client_label, &store, counts, &users, &allow);
        if t.lost_exports > 0 {
            warn!(
                "telemetry: {} children that exited never exported (each waited {})",
                t.lost_exports,
                humantime::format_duration(plan.telemetry.wait)
            );
        }
        t
    });
    rt.shutdown_timeout(Duration::from_secs(2));
    let end = RunEnd {
        stopped_by,
        dispatch_s,
        witness,
        telemetry,
        host: host.report(),
        journal_error,
        run_id: format!("{run_id:08x}"),
    };
    report(&plan, &opts, clock, &stats, version, &client_label, end)
}

/// No output is the profile, the client binary (a path with a folder; a bare name is
/// looked up on PATH) or a file of the state dir, and no two outputs are one file.
fn check_outputs(plan: &Plan, opts: &RunOpts) -> Result<(), String> {
    let (journal, lock) = (opts.state_dir.join("objects.jsonl"), opts.state_dir.join("lock"));
    let mut inputs: Vec<(&str, &std::path::Path)> = vec![
        ("the profile", plan.source.as_path()),
        ("the state dir's journal", &journal),
        ("the state dir's lock", &lock),
    ];
    if plan.client.binary.components().count() > 1 {
        inputs.push(("the client", plan.client.binary.as_path()));
    }
    crate::output::export::check_distinct(&inputs, &opts.exports.paths())
}

/// How the run went, beyond the counters.
struct RunEnd {
    stopped_by: StopCause,
    dispatch_s: f64,
    witness: ServerWitness,
    telemetry: Option<crate::model::telemetry::Report>,
    host: crate::model::host::HostReport,
    /// The state journal's first failure: uploads stopped there.
    journal_error: Option<String>,
    run_id: String,
}

/// obsctl exports at exit, inside its 2.5 s exit sleep: the last children's exports
/// may still be on their way when the run ends. Waits, bounded, until every child that
/// exited by itself has been heard from or its export deadline has passed.
fn await_exports(r: &OtlpReceiver, wait: Duration) {
    let end = Instant::now() + wait;
    while r.awaiting() > 0 && Instant::now() < end {
        std::thread::sleep(Duration::from_millis(50));
    }
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
        return Err(exit::USAGE);
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
    // Bounded: 10,000 users once opened every bucket check at once and ran out of files.
    let limit = Arc::new(tokio::sync::Semaphore::new(PREFLIGHT_CONCURRENCY));
    let ensured = rt.block_on(async {
        let mut set = tokio::task::JoinSet::new();
        for b in plan.buckets() {
            let (c, b, limit) = (client.clone(), b.to_string(), limit.clone());
            set.spawn(async move {
                let _permit = limit.acquire().await;
                (b.clone(), ops::ensure_bucket(&c, &b).await)
            });
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
        return Err(exit::RUN_FAILED);
    }
    Ok(version_text)
}

/// Objects earlier runs on this state dir may have left: those whose TTL has passed
/// are deleted now; those of this run's users that are still due are handed to their
/// users, on schedule (by index). The journal is then rewritten with what stays.
fn leftovers(
    rt: &tokio::runtime::Runtime,
    plan: &Plan,
    opts: &RunOpts,
    client: &Arc<Client>,
    state: &State,
    journal: &Journal,
) -> Vec<Vec<(String, u64, f64)>> {
    let read = state.read();
    for w in &read.warnings {
        warn!("{w}");
    }
    let complete = read.complete;
    let live = read.live;
    let mut per_user: Vec<Vec<(String, u64, f64)>> = vec![Vec::new(); plan.users.len()];
    if live.is_empty() {
        return per_user;
    }
    let now = clock::unix_now();
    let (due, keep): (Vec<Entry>, Vec<Entry>) = live.into_iter().partition(|e| e.expires_unix <= now);
    let due_count = due.len();
    let deleted = delete_entries(rt, client, journal, &due);
    let mut kept = 0;
    for e in &keep {
        if let Some(i) = plan.users.iter().position(|u| u.bucket == e.bucket) {
            // Its expiry on this run's simulated clock (which starts now).
            let sim = opts.map.sim_at((e.expires_unix - now).max(0.0));
            per_user[i].push((e.key.clone(), e.size, sim));
            kept += 1;
        }
    }
    let mut still: Vec<Entry> = keep;
    still.extend(due.into_iter().filter(|e| !deleted.contains(&(e.bucket.clone(), e.key.clone()))));
    // The delete marks are written before the file is replaced, never into the old one.
    journal.flush();
    if !complete {
        warn!("the journal in {} was not read to its end: it is kept as it is", state.dir.display());
    } else if let Err(e) = state.compact(&still) {
        warn!("could not compact the journal in {}: {e}", state.dir.display());
    }
    let failed = due_count - deleted.len();
    info!(
        "state {}: {} objects of earlier runs were due and deleted ({failed} could not be), {kept} kept on schedule, {} of other buckets left for a later run",
        state.dir.display(),
        deleted.len(),
        still.len().saturating_sub(kept + failed)
    );
    per_user
}

/// Deletes journal entries, 16 at a time; returns the (bucket, key) pairs deleted.
pub fn delete_entries(
    rt: &tokio::runtime::Runtime,
    client: &Arc<Client>,
    journal: &Journal,
    entries: &[Entry],
) -> std::collections::HashSet<(String, String)> {
    let limit = Arc::new(tokio::sync::Semaphore::new(PREFLIGHT_CONCURRENCY));
    let results = rt.block_on(async {
        let mut set = tokio::task::JoinSet::new();
        for e in entries.iter().cloned() {
            let (client, limit, journal) = (client.clone(), limit.clone(), journal.clone());
            set.spawn(async move {
                let _permit = limit.acquire().await;
                let ok = client.run(Action::Delete { bucket: &e.bucket, key: &e.key }).await.outcome == Outcome::Ok;
                if ok {
                    journal.del(&e.bucket, &e.key);
                }
                (ok, e.bucket, e.key)
            });
        }
        set.join_all().await
    });
    results.into_iter().filter(|(ok, _, _)| *ok).map(|(_, b, k)| (b, k)).collect()
}

/// Starts a thread per user and runs until the simulated duration has passed or a
/// signal arrives; then the grace period, then whatever is left is killed.
fn dispatch(
    fleet: &Arc<Fleet>,
    temp: PathBuf,
    stop_rx: &Receiver<()>,
    mut leftovers: Vec<Vec<(String, u64, f64)>>,
) -> (Vec<WorkerEnd>, StopCause, f64) {
    let plan = &fleet.plan;
    let mut workers = Vec::new();
    for (i, u) in plan.users.iter().enumerate() {
        let dir = temp.join(&u.id);
        if let Err(e) = std::fs::create_dir_all(&dir) {
            error!("cannot create {}: {e}", dir.display());
            fleet.stop();
            break;
        }
        let w = Worker::new(fleet.clone(), i, dir, std::mem::take(&mut leftovers[i]));
        let spawned = std::thread::Builder::new().name(format!("user-{}", u.id)).spawn(move || w.run());
        match spawned {
            Ok(h) => workers.push(h),
            Err(e) => {
                error!("cannot start the thread for {}: {e}", u.id);
                fleet.stop();
            }
        }
    }

    let wall = plan.duration.as_secs_f64() / fleet.clock.map.scale;
    let deadline = Instant::now() + Duration::from_secs_f64(wall);
    let stopped_by = match stop_rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
        Ok(()) => StopCause::Signal,
        Err(RecvTimeoutError::Timeout) | Err(RecvTimeoutError::Disconnected) => StopCause::Duration,
    };
    fleet.stop();
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

/// `--cleanup`: deletes every object this run left, at most the global in-flight cap at
/// once. Stops when asked: after a signal (before or during it) no new delete starts,
/// those in flight get at most the grace period and are then killed, and what was not
/// deleted stays in the journal for the next run or `trafficgen cleanup`. Returns
/// whether a signal stopped it.
///
/// While this machine is saturated, a new delete waits for one of ours to end, never for
/// the host alone: a per-object wait for admission once made 9 deletes take 283 s, past
/// any stop timeout, since the sampler judged the machine by others' load.
fn cleanup(rt: &tokio::runtime::Runtime, fleet: &Arc<Fleet>, ends: Vec<WorkerEnd>, stop_rx: &Receiver<()>) -> bool {
    let total: usize = ends.iter().map(|e| e.objects.len()).sum();
    if total == 0 {
        return false;
    }
    info!("cleanup: deleting {total} objects left by this run");
    let cap = (fleet.plan.limits.max_in_flight as usize).max(1);
    let limit = Arc::new(tokio::sync::Semaphore::new(cap));
    let grace = fleet.plan.grace_period;
    let asked = || stop_rx.try_recv().is_ok();
    let (started, stopped) = rt.block_on(async {
        let mut set = tokio::task::JoinSet::new();
        let mut started = 0usize;
        let mut stopped = false;
        'objects: for end in ends {
            for obj in end.objects {
                let permit = loop {
                    if asked() {
                        stopped = true;
                        break 'objects;
                    }
                    let idle = limit.available_permits() == cap;
                    if (idle || fleet.host.admits())
                        && let Ok(p) = limit.clone().try_acquire_owned()
                    {
                        break p;
                    }
                    tokio::time::sleep(Duration::from_millis(20)).await;
                };
                let fleet = fleet.clone();
                let user = end.user;
                started += 1;
                set.spawn(async move {
                    let _permit = permit;
                    fleet.send(Event::Started { user, op: OpType::Delete, lag: None, upload: None });
                    for rec in ops::delete(&fleet, user, &obj, DeleteReason::Cleanup, false).await {
                        fleet.send(Event::Finished(Box::new(rec)));
                    }
                });
                // A few ms apart, so each delete counts as in flight before the next is weighed.
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }
        // The deletes in flight: all of them, unless a stop comes; then the grace period.
        let mut deadline: Option<tokio::time::Instant> = stopped.then(|| tokio::time::Instant::now() + grace);
        if stopped {
            info!(
                "cleanup stopping (signal): waiting up to {} for {} deletes in flight",
                humantime::format_duration(grace),
                cap - limit.available_permits()
            );
        }
        loop {
            tokio::select! {
                next = set.join_next() => if next.is_none() { break },
                _ = tokio::time::sleep(Duration::from_millis(50)) => {
                    if deadline.is_none() && asked() {
                        stopped = true;
                        deadline = Some(tokio::time::Instant::now() + grace);
                        info!("cleanup stopping (signal): waiting up to {} for the deletes in flight", humantime::format_duration(grace));
                    }
                    if deadline.is_some_and(|d| tokio::time::Instant::now() >= d) {
                        warn!("grace period over: killing {} deletes still running", fleet.client.children.running());
                        fleet.client.children.kill_all();
                        // Killed children end at once; their deletes are recorded as cancelled.
                        set.join_all().await;
                        break;
                    }
                }
            }
        }
        (started, stopped)
    });
    if stopped {
        let left = total - started;
        warn!(
            "cleanup stopped by a signal: {left} objects not tried (and any delete killed at the grace period) stay in the journal for the next run or `trafficgen cleanup`"
        );
    }
    stopped
}

/// The final table, the verdict, the summary and the other exports.
fn report(
    plan: &Plan,
    opts: &RunOpts,
    clock: Clock,
    stats: &Stats,
    version: String,
    client_label: &str,
    end: RunEnd,
) -> i32 {
    let RunEnd { stopped_by, dispatch_s, witness, telemetry, host, journal_error, run_id } = end;
    let (roster, fidelity) = (plan.roster(), crate::analysis::fidelity::fleet(plan, stats));
    let view = crate::output::tables::View { roster: &roster, map: &clock.map, fidelity: &fidelity };
    let table = crate::output::tables::table(&view, stats, &[], 0.0, dispatch_s, &format!("final ({client_label})"));
    info!(target: "report", "{table}");
    let mut summary = summary::summary(
        RunFacts {
            plan,
            run_id: Some(run_id),
            map: clock.map,
            seed: opts.seed,
            client: ClientInfo {
                flavor: plan.client.flavor.name().to_string(),
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
            let r = server_metrics::report(url, &start, &end, &summary.ops, crate::model::events::SYNC_FILES as u64);
            info!(target: "report", "{}", server_metrics::render(&r));
            summary.server_metrics = Some(crate::model::summary::ServerSection::Run(r));
        }
        (_, Some(Err(e)), _) => warn!("--server-metrics: the final reading failed, so no server counts: {e}"),
        _ => {}
    }
    if let Some(mut t) = telemetry {
        if let Some(crate::model::summary::ServerSection::Run(server)) = &summary.server_metrics {
            telemetry::add_server(&mut t, server);
        }
        if t.mismatches > 0 {
            warn!(target: "report", "{}", telemetry::render(&t));
        } else {
            info!(target: "report", "{}", telemetry::render(&t));
        }
        summary.telemetry = Some(crate::model::summary::TelemetrySection::Run(Box::new(t)));
    }
    if let Some(w) = &host.warning {
        // The party: trafficgen's own processes (slots held back) or other work.
        let who = host.describe().unwrap_or_default();
        warn!(
            target: "report",
            "HOST LIMITED for {:.1}s of the run: {who}. {w}. Shortfall `host` counts the slots held back; capacity thresholds it missed are INCONCLUSIVE.",
            host.saturated_s.max(host.other_busy_s)
        );
    }
    summary.host = host;
    if let Some(e) = &journal_error {
        warn!(
            target: "report",
            "STATE JOURNAL FAILED: {e}. Uploads stopped there (shortfall `journal`); objects stored before it are in the journal"
        );
    }
    summary.journal_error = journal_error;
    let v = verdict::judge(&summary, &plan.thresholds);
    if v.result == crate::model::verdict::Judgement::Pass {
        info!(target: "report", "{}", verdict::render(&v));
    } else {
        warn!(target: "report", "{}", verdict::render(&v));
    }
    let code = v.exit_code;
    summary.verdict = Some(v);
    if let Some(ab) = &opts.ab {
        *ab.summary.lock().unwrap_or_else(|e| e.into_inner()) = serde_json::to_value(&summary).ok();
    }
    match opts.exports.finish(&summary) {
        Ok(paths) => {
            for p in paths {
                info!("written: {}", p.display());
            }
        }
        Err(e) => {
            error!("{e}");
            return exit::RUN_FAILED;
        }
    }
    code
}
