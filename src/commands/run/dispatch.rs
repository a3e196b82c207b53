//! Traffic: the stats thread, the fleet every user shares, a thread per user, and the
//! wait until the simulated duration has passed or a signal asks to stop.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tracing::error;

use crate::analysis::server_metrics;
use crate::analysis::stats::Stats;
use crate::analysis::telemetry;
use crate::analysis::telemetry::receiver::Receiver as OtlpReceiver;
use crate::commands::options::RunOpts;
use crate::commands::run::monitor;
use crate::commands::run::monitor::Hourly;
use crate::config::plan::Plan;
use crate::exec::client::Client;
use crate::model::clock::Clock;
use crate::model::counts::{Name, OpCount};
use crate::model::events::Event;
use crate::model::summary::StopCause;
use crate::output::export::opslog::OpsLog;
use crate::output::live::Live;
use crate::work::fleet::{Fleet, Gate};
use crate::work::host::Host;
use crate::work::state::Journal;
use crate::work::user::{Worker, WorkerEnd};

/// What the monitor shows beside the counters.
pub struct Shown<'a> {
    /// The client and its version, in every table's title.
    pub label: &'a str,
    /// The telemetry deviations allowed for this client version.
    pub allow: &'a telemetry::Allowances,
    pub receiver: Option<&'a OtlpReceiver>,
    pub ops_log: Option<OpsLog>,
    pub live: Option<Live>,
}

/// The server's counters read at each simulated hour boundary (`--server-metrics`), with
/// the commands that had ended by then: a thread of its own, so a slow server never
/// holds up the stats thread. It ends when the stats thread does.
pub fn server_readings(url: &str) -> (Hourly, JoinHandle<Vec<server_metrics::Snapshot>>) {
    let (tx, rx) = std::sync::mpsc::sync_channel::<(f64, BTreeMap<Name, OpCount>)>(1);
    let url = url.to_string();
    let handle = std::thread::spawn(move || {
        let mut out = Vec::new();
        for (sim_unix, ops) in rx {
            match server_metrics::scrape(&url) {
                Ok(counts) => out.push(server_metrics::Snapshot { sim_unix, counts, ops }),
                // A reading missed: its window joins the next one.
                Err(e) => tracing::warn!("--server-metrics: an hourly reading failed: {e}"),
            }
        }
        out
    });
    (tx, handle)
}

/// Starts the stats thread, the single consumer of `events`; returns it.
pub fn monitor(
    plan: &Arc<Plan>,
    opts: &RunOpts,
    clock: Clock,
    events: Receiver<Event>,
    shown: Shown,
    hourly: Option<Hourly>,
) -> JoinHandle<Stats> {
    if let Some(r) = shown.receiver {
        // Children are reconciled by the simulated hour they start in.
        r.store.lock().unwrap_or_else(|e| e.into_inner()).ledger.set_clock(clock);
    }
    // With verification, every periodic table ends with where the reconciliation stands.
    let telemetry_line = shown.receiver.map(|r| {
        let (store, users, allow, label) = (
            r.store.clone(),
            plan.users.iter().map(|u| u.id.clone()).collect::<Vec<_>>(),
            shown.allow.clone(),
            shown.label.to_string(),
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
    monitor::spawn(monitor::Feeds {
        plan: plan.clone(),
        clock,
        interval: plan.stats_interval,
        timeline_every: crate::analysis::stats::timeline_interval(
            plan.duration.div_f64(opts.map.scale.max(1e-9)),
            plan.stats_interval,
        ),
        client: shown.label.to_string(),
        rx: events,
        ops_log: shown.ops_log,
        extra: telemetry_line,
        live: shown.live.map(|l| (l, plan.duration.as_secs_f64() / opts.map.scale)),
        hourly,
    })
}

/// The fleet every user shares, running; the host sampler watches the machine when the
/// profile asks.
pub fn fleet(
    plan: &Arc<Plan>,
    opts: &RunOpts,
    clock: Clock,
    rt: &tokio::runtime::Runtime,
    client: &Arc<Client>,
    journal: Journal,
    run_id: &str,
) -> (Arc<Fleet>, mpsc::Receiver<Event>) {
    let (events_tx, events_rx) = mpsc::channel::<Event>();
    let host = Arc::new(Host::default());
    if plan.limits.host_guard {
        host.watch();
    }
    let fleet = Arc::new(Fleet::new(crate::work::fleet::Setup {
        plan: plan.clone(),
        clock,
        client: client.clone(),
        rt: rt.handle().clone(),
        events: events_tx,
        gate: Gate::new(plan.limits.max_in_flight, plan.limits.upload_memory_budget),
        seed: crate::config::shard::seed(opts.seed, plan.shard),
        missing_bucket: format!("trafficgen-missing-{run_id}"),
        scratch_prefix: format!("trafficgen-scratch-{run_id}"),
        journal,
        run_id: run_id.to_string(),
        host,
        ab: opts.ab.clone(),
    }));
    (fleet, events_rx)
}

/// A thread per user. A user whose dir or thread cannot be made stops the fleet (the
/// others then end at once).
pub fn start_workers(fleet: &Arc<Fleet>, temp: &Path) -> Vec<JoinHandle<WorkerEnd>> {
    let mut workers = Vec::new();
    for (i, u) in fleet.decider.plan.users.iter().enumerate() {
        let dir = temp.join(&u.id);
        if let Err(e) = std::fs::create_dir_all(&dir) {
            error!("cannot create {}: {e}", dir.display());
            fleet.stop();
            break;
        }
        let w = Worker::new(fleet.clone(), i, dir);
        let spawned = std::thread::Builder::new().name(format!("user-{}", u.id)).spawn(move || w.run());
        match spawned {
            Ok(h) => workers.push(h),
            Err(e) => {
                error!("cannot start the thread for {}: {e}", u.id);
                fleet.stop();
            }
        }
    }
    workers
}

/// Runs until the simulated duration has passed or a signal arrives, then stops the
/// fleet; returns what stopped it and the seconds of dispatch.
pub fn wait(fleet: &Fleet, stop_rx: &Receiver<()>) -> (StopCause, f64) {
    let wall = fleet.decider.plan.duration.as_secs_f64() / fleet.decider.clock.map.scale;
    let deadline = Instant::now() + Duration::from_secs_f64(wall);
    let stopped_by = match stop_rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
        Ok(()) => StopCause::Signal,
        Err(RecvTimeoutError::Timeout) | Err(RecvTimeoutError::Disconnected) => StopCause::Duration,
    };
    fleet.stop();
    (stopped_by, fleet.decider.clock.elapsed())
}
