//! Everything a person reads: per-operation log lines, the periodic and final tables,
//! and the JSON summary. Built from `Stats` only.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use serde::Serialize;

use crate::clock::{TimeMap, civil};
use crate::events::{DeleteReason, OpRecord, OpType};
use crate::plan::Plan;
use crate::schedule;
use crate::stats::{Counters, Latency, Stats, TimelinePoint};
use crate::units::human_bytes;

/// The seed generator's log shape: `[alice-dev] Uploaded key (55911 bytes)`.
/// Returns (is_warning, line).
pub fn op_line(plan: &Plan, r: &OpRecord) -> (bool, String) {
    let user = &plan.users[r.user].id;
    match (&r.result, r.op) {
        (Ok(()), OpType::Upload) => (false, format!("[{user}] Uploaded {} ({} bytes)", r.key, r.bytes)),
        (Ok(()), OpType::Download) => (false, format!("[{user}] Downloaded {} ({} bytes)", r.key, r.bytes)),
        (Ok(()), OpType::Probe) => (
            false,
            format!(
                "[{user}] Error probe: download of missing {} failed as it should: {}",
                r.key,
                r.error.as_deref().unwrap_or("")
            ),
        ),
        (Ok(()), OpType::Delete) => {
            let why = match r.delete_reason {
                Some(DeleteReason::Cleanup) => "cleanup",
                _ => "TTL expired",
            };
            (false, format!("[{user}] Deleted {} ({why})", r.key))
        }
        (Err(class), op) => {
            let verb = match op {
                OpType::Upload => "Upload",
                OpType::Download => "Download",
                OpType::Delete => "Delete",
                OpType::Probe => "Error probe (download of a missing key)",
            };
            let err = r.error.as_deref().unwrap_or("no error output");
            let class = match r.exit_code {
                Some(code) => format!("{} exit {code}", class.name()),
                None => class.name().to_string(),
            };
            (true, format!("[{user}] {verb} of {} failed ({}, {:.2}s): {err}", r.key, class, r.duration.as_secs_f64()))
        }
    }
}

/// Target operations for one user between two wall offsets.
pub fn target_ops(plan: &Plan, map: &TimeMap, user: usize, from: f64, to: f64) -> f64 {
    let u = &plan.users[user];
    schedule::expected_ops(map, |h| plan.user_rate(u, h), from, to)
}

/// The periodic (and final) table. `prev` holds the counters at the previous report,
/// so the ops/min columns show this interval, not the average since start.
pub fn table(plan: &Plan, map: &TimeMap, stats: &Stats, prev: &[Counters], from: f64, to: f64, title: &str) -> String {
    let minutes = ((to - from) / 60.0).max(1e-9);
    let mut out = String::new();
    let sim = civil(map.sim_at(to));
    let _ = writeln!(out, "{title}: {:.0}s elapsed, simulated {} {} UTC", to, sim.date(), sim.hhmm());
    let _ = writeln!(
        out,
        "{:<16}{:>9}{:>9}{:>8}{:>8}{:>8}{:>7}{:>7}{:>7}{:>7}{:>11}{:>11}",
        "user", "target/m", "actual/m", "up", "down", "del", "fail", "short", "live", "busy", "sent", "received"
    );
    let mut total_target = 0.0;
    let mut total_started = 0u64;
    let row = |out: &mut String, name: &str, target: f64, started: u64, c: &Counters| {
        let _ = writeln!(
            out,
            "{:<16}{:>9.1}{:>9.1}{:>8}{:>8}{:>8}{:>7}{:>7}{:>7}{:>7}{:>11}{:>11}",
            name,
            target / minutes,
            started as f64 / minutes,
            c.uploads,
            c.downloads,
            c.deletes,
            c.failures,
            c.shortfall,
            c.live_objects,
            c.in_flight(),
            human_bytes(c.bytes_up),
            human_bytes(c.bytes_down)
        );
    };
    for (i, c) in stats.users.iter().enumerate() {
        let target = target_ops(plan, map, i, from, to);
        let started = c.started - prev.get(i).map_or(0, |p| p.started);
        total_target += target;
        total_started += started;
        row(&mut out, &plan.users[i].id, target, started, c);
    }
    let t = stats.totals();
    row(&mut out, "TOTAL", total_target, total_started, &t);
    if t.failures > 0 {
        let classes: Vec<String> =
            t.failures_by_class.iter().filter(|(_, v)| **v > 0).map(|(k, v)| format!("{k} {v}")).collect();
        let _ = writeln!(out, "failures: {}", classes.join(", "));
    }
    if t.shortfall > 0 {
        let reasons: Vec<String> =
            t.shortfall_by_reason.iter().filter(|(_, v)| **v > 0).map(|(k, v)| format!("{k} {v}")).collect();
        let _ = writeln!(out, "shortfall (slots not started): {}", reasons.join(", "));
    }
    for op in OpType::ALL {
        let l = stats.latency(op);
        if l.count > 0 {
            let _ = writeln!(
                out,
                "{:<12} p50 {:>8.0} ms  p90 {:>8.0} ms  p99 {:>8.0} ms  max {:>8.0} ms  (n={})",
                op.name(),
                l.p50_ms,
                l.p90_ms,
                l.p99_ms,
                l.max_ms,
                l.count
            );
        }
    }
    let _ = write!(out, "files created {} ({} large), in flight {}", t.files_created, t.large_files, t.in_flight());
    out
}

#[derive(Debug, Serialize)]
pub struct ClientInfo {
    pub flavor: &'static str,
    pub binary: String,
    pub version: String,
}

/// The `--summary-json` document. Schema documented in README.md.
#[derive(Debug, Serialize)]
pub struct Summary {
    pub trafficgen_version: &'static str,
    pub seed: u64,
    pub client: ClientInfo,
    /// Wall seconds from start to the end of the run (including drain and cleanup).
    pub duration_s: f64,
    /// Wall seconds during which operations were scheduled.
    pub dispatch_s: f64,
    pub time_scale: f64,
    pub rate_scale: f64,
    pub sim_start: String,
    pub sim_end: String,
    /// The same instants as UNIX seconds.
    pub sim_start_unix: f64,
    pub sim_end_unix: f64,
    /// "duration" or "signal".
    pub stopped_by: &'static str,
    pub target_ops: f64,
    pub achieved_ops: u64,
    pub target_ops_per_min: f64,
    pub achieved_ops_per_min: f64,
    pub live_objects_at_exit: u64,
    pub failure_rate: f64,
    pub latency_ms: BTreeMap<&'static str, Latency>,
    pub start_lag_ms: Latency,
    /// One point per stats interval (and one for the end).
    pub timeline: Vec<TimelinePoint>,
    pub totals: UserSummary,
    pub users: BTreeMap<String, UserSummary>,
}

#[derive(Debug, Serialize)]
pub struct UserSummary {
    pub target_ops: f64,
    pub achieved_ops: u64,
    #[serde(flatten)]
    pub counters: Counters,
    pub in_flight: u64,
}

pub struct RunFacts<'a> {
    pub plan: &'a Plan,
    pub map: TimeMap,
    pub seed: u64,
    pub client: ClientInfo,
    pub dispatch_s: f64,
    pub duration_s: f64,
    pub stopped_by: &'static str,
}

pub fn summary(f: RunFacts, stats: &Stats) -> Summary {
    let iso = |s: f64| {
        let c = civil(s);
        format!("{}T{:02}:{:02}:{:02}Z", c.date(), c.hour, c.minute, c.second)
    };
    let mut users = BTreeMap::new();
    for (i, c) in stats.users.iter().enumerate() {
        let target = target_ops(f.plan, &f.map, i, 0.0, f.dispatch_s);
        users.insert(
            f.plan.users[i].id.clone(),
            UserSummary {
                target_ops: round1(target),
                achieved_ops: c.started,
                counters: c.clone(),
                in_flight: c.in_flight(),
            },
        );
    }
    let t = stats.totals();
    let target: f64 = users.values().map(|u| u.target_ops).sum();
    let minutes = (f.dispatch_s / 60.0).max(1e-9);
    let attempted = t.uploads + t.downloads + t.deletes + t.error_probes + t.failures;
    let latency_ms = OpType::ALL.iter().map(|op| (op.name(), stats.latency(*op))).collect();
    Summary {
        trafficgen_version: env!("CARGO_PKG_VERSION"),
        seed: f.seed,
        client: f.client,
        duration_s: round1(f.duration_s),
        dispatch_s: round1(f.dispatch_s),
        time_scale: f.map.scale,
        rate_scale: f.plan.rates.scale,
        sim_start: iso(f.map.sim_start),
        sim_end: iso(f.map.sim_at(f.dispatch_s)),
        sim_start_unix: f.map.sim_start.floor(),
        sim_end_unix: f.map.sim_at(f.dispatch_s).floor(),
        stopped_by: f.stopped_by,
        target_ops: round1(target),
        achieved_ops: t.started,
        target_ops_per_min: round1(target / minutes),
        achieved_ops_per_min: round1(t.started as f64 / minutes),
        live_objects_at_exit: t.live_objects,
        failure_rate: if attempted == 0 { 0.0 } else { t.failures as f64 / attempted as f64 },
        latency_ms,
        start_lag_ms: stats.start_lag(),
        timeline: stats.timeline.clone(),
        totals: UserSummary {
            target_ops: round1(target),
            achieved_ops: t.started,
            in_flight: t.in_flight(),
            counters: t,
        },
        users,
    }
}

fn round1(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

pub fn write_json(path: &Path, s: &Summary) -> std::io::Result<()> {
    let text = serde_json::to_string_pretty(s).map_err(std::io::Error::other)?;
    // Write then rename, so a reader never sees half a summary.
    let tmp = path.with_extension("json.partial");
    std::fs::write(&tmp, text + "\n")?;
    std::fs::rename(&tmp, path)
}
