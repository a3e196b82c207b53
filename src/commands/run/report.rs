//! The end of a run: the final readings (server counters, telemetry), then the final
//! table, the verdict, the summary and the other exports. Decides how the run ended.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use tracing::{info, warn};

use crate::analysis::server_metrics;
use crate::analysis::stats::Stats;
use crate::analysis::summary::{self, RunFacts};
use crate::analysis::telemetry;
use crate::analysis::telemetry::receiver::Receiver as OtlpReceiver;
use crate::analysis::verdict;
use crate::commands::options::RunOpts;
use crate::config::plan::Plan;
use crate::model::clock::Clock;
use crate::model::error::Error;
use crate::model::summary::{ClientInfo, StopCause};
use crate::model::verdict::Judgement;
use crate::output::logging::logged;

/// How the run went, beyond the counters.
pub struct RunEnd {
    pub stopped_by: StopCause,
    pub dispatch_s: f64,
    pub witness: ServerWitness,
    pub telemetry: Option<crate::model::telemetry::Report>,
    pub host: crate::model::host::HostReport,
    /// The state journal's first failure: uploads stopped there.
    pub journal_error: Option<String>,
    pub run_id: String,
}

/// The server's counters read before and after the run.
pub struct ServerWitness {
    pub start: Option<server_metrics::Counts>,
    /// The readings at simulated hour boundaries, with the commands ended by then.
    pub hourly: Vec<server_metrics::Snapshot>,
    pub end: Option<Result<server_metrics::Counts, server_metrics::Unreadable>>,
}

/// The telemetry reconciliation once the last exports are in (or their wait is over).
pub fn final_telemetry(
    r: OtlpReceiver,
    plan: &Plan,
    label: &str,
    allow: &telemetry::Allowances,
) -> crate::model::telemetry::Report {
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
    let t = telemetry::with_build_samples(telemetry::reconcile(label, &store, counts, &users, allow), &store);
    if t.lost_exports > 0 {
        warn!(
            "telemetry: {} children that exited never exported (each waited {})",
            t.lost_exports,
            humantime::format_duration(plan.telemetry.wait)
        );
    }
    t
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

/// The final table, the verdict, the summary and the other exports; the verdict's
/// judgement, or the export that could not be written.
pub fn report(
    plan: &Plan,
    opts: &RunOpts,
    clock: Clock,
    stats: &Stats,
    version: String,
    client_label: &str,
    end: RunEnd,
) -> Result<Judgement, Error> {
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
            let sync_files = crate::model::events::SYNC_FILES as u64;
            let mut r = server_metrics::report(url, &start, &end, &summary.ops, sync_files);
            // The windows run from the first reading to the last, through the hourly ones.
            if !witness.hourly.is_empty() {
                let first =
                    server_metrics::Snapshot { sim_unix: clock.map.sim_start, counts: start, ops: Default::default() };
                let last = server_metrics::Snapshot {
                    sim_unix: clock.map.sim_at(clock.elapsed()),
                    counts: end,
                    ops: summary.ops.clone(),
                };
                let all: Vec<_> = std::iter::once(first).chain(witness.hourly).chain(std::iter::once(last)).collect();
                r.windows = server_metrics::windows(&all, sync_files);
            }
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
    if v.result == Judgement::Pass {
        info!(target: "report", "{}", verdict::render(&v));
    } else {
        warn!(target: "report", "{}", verdict::render(&v));
    }
    let judgement = v.result;
    summary.verdict = Some(v);
    for p in opts.exports.finish(&summary).map_err(logged)? {
        info!("written: {}", p.display());
    }
    if let Some(ab) = &opts.ab {
        *ab.summary.lock().unwrap_or_else(|e| e.into_inner()) = Some(summary);
    }
    Ok(judgement)
}
