//! The wiring of one run, phase by phase, each in its own file: `preflight` (outputs,
//! state dir, logging, runtime, receiver, client, buckets, leftovers), `dispatch` (the
//! stats thread and the user workers until the duration or a signal), `drain` (grace
//! period, kill, `--cleanup`, the temp dir), `report` (final readings, tables, verdict,
//! summary and exports). This file is the sequence; it ends with how the run ended.

mod bounded;
mod dispatch;
mod drain;
pub mod leftovers;
mod monitor;
mod preflight;
mod report;

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use crate::analysis::server_metrics;
use crate::commands::options::RunOpts;
use crate::commands::run::dispatch::Shown;
use crate::commands::run::preflight::Prepared;
use crate::commands::run::report::{RunEnd, ServerWitness};
use crate::config::plan::Plan;
use crate::model::clock::Clock;
use crate::model::error::Error;
use crate::model::verdict::Judgement;

pub fn run(mut plan: Plan, opts: RunOpts) -> Result<Judgement, Error> {
    let (state, live, _logs) = preflight::open(&plan, &opts)?;
    preflight::cap_in_flight(&mut plan);
    let Prepared {
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
    } = preflight::prepare(&plan, &opts, &state)?;

    let plan = Arc::new(plan);
    let clock = Clock::start(opts.map);
    let label = match &version_b {
        Some(b) => format!("{}: {version} (A), {b} (B)", plan.client.flavor.name()),
        None => format!("{}: {version}", plan.client.flavor.name()),
    };
    let allow = preflight::allowed(&plan, &version, version_b.as_deref());
    let (fleet, events) = dispatch::fleet(&plan, &opts, clock, &rt, &client, journal, &run_id);
    let shown = Shown { label: &label, allow: &allow, receiver: receiver.as_ref(), ops_log, live };
    let (hourly, readings) = plan.server_metrics.as_deref().map(dispatch::server_readings).unzip();
    let stats_thread = dispatch::monitor(&plan, &opts, clock, events, shown, hourly);
    ints.running.store(true, Ordering::SeqCst);

    let workers = dispatch::start_workers(&fleet, temp.path());
    let (mut stopped_by, dispatch_s) = dispatch::wait(&fleet, &stop_rx);
    let ends = drain::drain(&fleet, stopped_by, workers);
    drain::warn_overdue(&ends, clock.sim_now());
    if opts.cleanup {
        stopped_by = drain::cleanup_if_asked(&rt, &fleet, ends, &stop_rx, stopped_by);
    }
    drain::remove_temp(temp, &ints);

    let journal_error = fleet.reporter.journal_error();
    let host = fleet.decider.host.clone();
    drop(fleet);
    host.stop();
    let stats = stats_thread.join().expect("the stats thread does not panic");
    let witness = ServerWitness {
        start: server_start,
        hourly: readings.and_then(|r| r.join().ok()).unwrap_or_default(),
        end: plan.server_metrics.as_deref().map(server_metrics::scrape),
    };
    let telemetry = receiver.map(|r| report::final_telemetry(r, &plan, &label, &allow));
    rt.shutdown_timeout(Duration::from_secs(2));
    let end = RunEnd { stopped_by, dispatch_s, witness, telemetry, host: host.report(), journal_error, run_id };
    report::report(&plan, &opts, clock, &stats, version, &label, end)
}
