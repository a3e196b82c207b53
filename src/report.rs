//! Everything a person reads: per-operation log lines, the periodic and final tables,
//! and the JSON summary. Built from `Stats` only.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;

use crate::clock::{TimeMap, civil};
use crate::events::{Confirmation, DeleteReason, OpRecord, OpType, SizeClass};
use crate::fidelity::{self, Fidelity};
use crate::ops;
use crate::plan::Plan;
use crate::schedule;
use crate::stats::{Counters, Latency, OpCount, PersonaPoint, Stats, TimelinePoint};
use crate::units::human_bytes;
use crate::verdict::Verdict;

/// The seed generator's log shape: `[alice-dev] Uploaded key (55911 bytes)`.
/// Returns (is_warning, line).
pub fn op_line(plan: &Plan, r: &OpRecord) -> (bool, String) {
    let user = &plan.users[r.user].id;
    let checked = match r.confirmation {
        Some(Confirmation::Confirmed) => ", confirmed",
        Some(Confirmation::Unconfirmed) => ", unconfirmed",
        None => "",
    };
    match (&r.result, r.op) {
        (Ok(()), OpType::Upload) => (false, format!("[{user}] Uploaded {} ({} bytes{checked})", r.key, r.bytes)),
        (Ok(()), OpType::Download) => (false, format!("[{user}] Downloaded {} ({} bytes)", r.key, r.bytes)),
        (Ok(()), OpType::Delete) => {
            let why = match r.delete_reason {
                Some(DeleteReason::Cleanup) => "cleanup",
                _ => "TTL expired",
            };
            (false, format!("[{user}] Deleted {} ({why}{checked})", r.key))
        }
        (Ok(()), op) if op.is_expected_failure() => (
            false,
            format!(
                "[{user}] Expected failure: {} {} failed as it should: {}",
                ops::describe_expected(op),
                r.key,
                r.error.as_deref().unwrap_or("")
            ),
        ),
        (Ok(()), op) => {
            let what = if r.key.is_empty() { String::new() } else { format!(" {}", r.key) };
            (false, format!("[{user}] {}{what} ok ({:.2}s)", op.name(), r.duration.as_secs_f64()))
        }
        (Err(class), op) => {
            let verb = match op {
                OpType::Upload => "Upload".to_string(),
                OpType::Download => "Download".to_string(),
                OpType::Delete => "Delete".to_string(),
                op if op.is_expected_failure() => format!("Expected failure ({})", ops::describe_expected(op)),
                op => op.name().to_string(),
            };
            let err = r.error.as_deref().unwrap_or("no error output");
            let class = match r.exit_code {
                Some(code) => format!("{} exit {code}", class.name()),
                None => class.name().to_string(),
            };
            let target = if r.key.is_empty() { String::new() } else { format!(" of {}", r.key) };
            (true, format!("[{user}] {verb}{target} failed ({}, {:.2}s): {err}", class, r.duration.as_secs_f64()))
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
    // Wide enough for `frank-research x100`.
    let w = plan
        .persona_groups()
        .iter()
        .map(|g| g.name.len() + if g.users.len() > 1 { 6 } else { 0 })
        .max()
        .unwrap_or(0)
        .max(16);
    let _ = writeln!(
        out,
        "{:<w$}{:>9}{:>9}{:>8}{:>8}{:>8}{:>7}{:>7}{:>7}{:>7}{:>11}{:>11}",
        "user", "target/m", "actual/m", "up", "down", "del", "fail", "short", "live", "busy", "sent", "received"
    );
    let mut total_target = 0.0;
    let mut total_started = 0u64;
    let row = |out: &mut String, name: &str, target: f64, started: u64, c: &Counters| {
        let _ = writeln!(
            out,
            "{:<w$}{:>9.1}{:>9.1}{:>8}{:>8}{:>8}{:>7}{:>7}{:>7}{:>7}{:>11}{:>11}",
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
    // Replicas fold into one row per persona unless `--expand-replicas`.
    for (persona, members) in plan.columns() {
        let mut c = Counters::default();
        let (mut target, mut started) = (0.0, 0);
        for &i in &members {
            c.add(&stats.users[i]);
            target += target_ops(plan, map, i, from, to);
            started += stats.users[i].started - prev.get(i).map_or(0, |p| p.started);
        }
        total_target += target;
        total_started += started;
        let name = if members.len() == 1 {
            plan.users[members[0]].id.clone()
        } else {
            format!("{persona} x{}", members.len())
        };
        row(&mut out, &name, target, started, &c);
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
    let pairs: Vec<_> = plan.users.iter().zip(stats.users.iter()).collect();
    let f = fidelity::measure(plan, &pairs, &t);
    if f.operations > 0 {
        let pct = |x: Option<f64>| x.map_or("-".to_string(), |v| format!("{:.1}%", v * 100.0));
        let pts = |x: Option<f64>| x.map_or("-".to_string(), |v| format!("{:.1}", v * 100.0));
        let _ = writeln!(
            out,
            "mix vs profile: downloads {} ({}), expected failures {} ({}), other commands off by {} pts, kinds by {} pts, size bands by {} pts; reads with no object yet {}",
            pct(f.download_share.achieved),
            pct(Some(f.download_share.target)),
            pct(f.error_share.achieved),
            pct(Some(f.error_share.target)),
            pts(f.extras_share_error),
            pts(f.kind_share_error),
            pts(f.size_band_error),
            f.no_object
        );
    }
    if t.integrity_failures > 0 {
        let classes: Vec<String> =
            t.integrity.iter().filter(|(_, v)| **v > 0).map(|(k, v)| format!("{k} {v}")).collect();
        let _ = writeln!(out, "INTEGRITY (the client's word contradicted): {}", classes.join(", "));
    }
    let expected: u64 = t.expected_failures.values().sum();
    let unexpected: u64 = t.unexpected_success.values().sum();
    if expected + unexpected > 0 {
        let _ = writeln!(out, "expected failures: {expected} failed as they should, {unexpected} succeeded (defects)");
    }
    if t.confirmed_uploads + t.confirmed_deletes + t.unconfirmed > 0 {
        let _ = writeln!(
            out,
            "confirmed by head-object: {} uploads, {} deletes ({} checks undecided)",
            t.confirmed_uploads, t.confirmed_deletes, t.unconfirmed
        );
    }
    let _ = writeln!(
        out,
        "{:<22}{:>7}{:>10}{:>10}{:>10}{:>10}{:>10}{:>10}{:>10}",
        "latency (ms)", "n", "min", "p50", "p90", "p95", "p99", "max", "failed"
    );
    let line = |out: &mut String, name: &str, l: &Latency, failed: u64| {
        let _ = writeln!(
            out,
            "{:<22}{:>7}{:>10.0}{:>10.0}{:>10.0}{:>10.0}{:>10.0}{:>10.0}{:>10}",
            name, l.count, l.min_ms, l.p50_ms, l.p90_ms, l.p95_ms, l.p99_ms, l.max_ms, failed
        );
    };
    for op in OpType::ALL {
        let l = stats.latency(op);
        let failed = t.ops.get(op.name()).map_or(0, |c| c.failed);
        if l.count + failed == 0 {
            continue;
        }
        line(&mut out, op.name(), &l, failed);
        for class in SizeClass::ALL {
            let ls = stats.latency_by_size(op, class);
            // One class alone repeats the line above.
            if ls.count > 0 && ls.count < l.count {
                line(&mut out, &format!("  {}", class.label()), &ls, 0);
            }
        }
    }
    let _ = write!(
        out,
        "files created {} ({} large), in flight {}, live objects {}, maybe live {}",
        t.files_created,
        t.large_files,
        t.in_flight(),
        t.live_objects,
        t.maybe_live_objects
    );
    out
}

#[derive(Debug, Serialize)]
pub struct ClientInfo {
    pub flavor: &'static str,
    pub binary: String,
    pub version: String,
}

/// Per expected-failure kind.
#[derive(Debug, Serialize)]
pub struct ExpectedCount {
    pub failed_as_expected: u64,
    pub unexpected_success: u64,
}

/// What part of its profile a run ran, so `merge` combines only runs of one selection and
/// judges them against what they were asked for.
#[derive(Debug, Clone, Serialize, serde::Deserialize, PartialEq)]
pub struct Selection {
    /// `--users` as given (sorted); null = every user of the profile.
    pub users: Option<Vec<String>>,
    /// `--shard`'s N; null when unsharded (the index is in `shard`).
    pub shards: Option<u32>,
    pub rate_scale: f64,
    pub time_scale: f64,
    pub max_file_size: Option<u64>,
}

/// The `--summary-json` document. Schema documented in README.md.
#[derive(Debug, Serialize)]
pub struct Summary {
    pub trafficgen_version: &'static str,
    /// This run's id (in its scratch bucket names and telemetry identity); a merge has none.
    pub run_id: Option<String>,
    /// `sha256:HEX` of the profile file the run read.
    pub profile_digest: String,
    pub selection: Selection,
    pub seed: u64,
    pub client: ClientInfo,
    /// Wall seconds from start to the end of the run (including drain and cleanup).
    pub duration_s: f64,
    /// Wall seconds during which operations were scheduled.
    pub dispatch_s: f64,
    pub time_scale: f64,
    pub rate_scale: f64,
    /// `--max-file-size`, when sizes were capped (the size bands then say what was drawn).
    pub max_file_size: Option<u64>,
    pub sim_start: String,
    pub sim_end: String,
    /// The same instants as UNIX seconds.
    pub sim_start_unix: f64,
    pub sim_end_unix: f64,
    /// "duration" or "signal".
    pub stopped_by: &'static str,
    pub target_ops: f64,
    /// Scheduled operations started (uploads, downloads, expected failures, other
    /// commands of the mix; not TTL deletes or confirmations).
    pub achieved_ops: u64,
    pub target_ops_per_min: f64,
    pub achieved_ops_per_min: f64,
    pub live_objects_at_exit: u64,
    /// Objects that may exist: uploads killed after they may have stored their object
    /// (at the command timeout or the end of the grace period), and the like. They are
    /// in the journal, deleted at expiry, by `--cleanup`, or by the next run.
    pub maybe_live_objects_at_exit: u64,
    /// Failed commands / all commands that ended.
    pub failure_rate: f64,
    /// Every command that ended, by kind.
    pub ops: BTreeMap<&'static str, OpCount>,
    pub latency_ms: BTreeMap<&'static str, Latency>,
    /// Latency by obsctl size class (small < 1 MiB, medium < 100 MiB, large < 1 GiB,
    /// xlarge), for the commands that move an object.
    pub latency_by_size_ms: BTreeMap<&'static str, BTreeMap<&'static str, Latency>>,
    pub start_lag_ms: Latency,
    pub integrity_failures: u64,
    pub integrity: BTreeMap<&'static str, u64>,
    pub expected_failures: BTreeMap<&'static str, ExpectedCount>,
    pub fidelity: Fidelity,
    /// Whether this machine was the bottleneck: while saturated, slots were held back
    /// (shortfall `host`) and results measure the load generator too.
    pub host: crate::host::HostReport,
    /// The state journal's first failure (a write or fsync error, the journal replaced,
    /// the state dir removed), or null. From then on no upload started (shortfall
    /// `journal`), and the verdict fails.
    pub journal_error: Option<String>,
    /// obsctl's telemetry reconciled against what ran (`--verify-telemetry`).
    pub telemetry: Option<crate::telemetry::Report>,
    /// The server's own request counts beside trafficgen's (`--server-metrics`).
    pub server_metrics: Option<crate::server_metrics::Report>,
    /// Thresholds and integrity: the run's verdict and exit code.
    pub verdict: Option<Verdict>,
    /// One point per stats interval (and one for the end).
    pub timeline: Vec<TimelinePoint>,
    pub totals: UserSummary,
    pub users: BTreeMap<String, UserSummary>,
    /// Per persona (its replicas summed), when the profile has replicas.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub personas: BTreeMap<String, UserSummary>,
    /// `--shard I/N`: this instance's part (absent when unsharded).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shard: Option<crate::shard::Shard>,
    /// The shard summaries a `merge` combined.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub merged_from: Vec<String>,
    /// Every latency distribution as recorded buckets, so `merge` adds them exactly.
    pub histograms: crate::stats::Histograms,
}

#[derive(Debug, Serialize)]
pub struct UserSummary {
    /// The profile user this one was built from (itself, unless it is a replica).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub persona: Option<String>,
    pub target_ops: f64,
    pub achieved_ops: u64,
    #[serde(flatten)]
    pub counters: Counters,
    pub in_flight: u64,
    pub fidelity: Fidelity,
}

pub struct RunFacts<'a> {
    pub plan: &'a Plan,
    pub run_id: Option<String>,
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
        let u = &f.plan.users[i];
        users.insert(
            u.id.clone(),
            UserSummary {
                persona: Some(u.persona.clone()),
                target_ops: round1(target),
                achieved_ops: c.started,
                counters: c.clone(),
                in_flight: c.in_flight(),
                fidelity: fidelity::measure(f.plan, &[(u, c)], c),
            },
        );
    }
    let t = stats.totals();
    let pairs: Vec<_> = f.plan.users.iter().zip(stats.users.iter()).collect();
    let fleet_fidelity = fidelity::measure(f.plan, &pairs, &t);
    let target: f64 = users.values().map(|u| u.target_ops).sum();
    let minutes = (f.dispatch_s / 60.0).max(1e-9);
    let attempted: u64 = t.ops.values().map(|o| o.ok + o.failed).sum();
    let latency_ms = OpType::ALL.iter().map(|op| (op.name(), stats.latency(*op))).collect();
    let mut latency_by_size_ms = BTreeMap::new();
    for op in OpType::ALL {
        let classes: BTreeMap<&'static str, Latency> = SizeClass::ALL
            .iter()
            .map(|c| (c.name(), stats.latency_by_size(op, *c)))
            .filter(|(_, l)| l.count > 0)
            .collect();
        if !classes.is_empty() {
            latency_by_size_ms.insert(op.name(), classes);
        }
    }
    let expected_failures = OpType::EXPECTED_FAILURES
        .iter()
        .map(|op| {
            let n = |m: &BTreeMap<&'static str, u64>| m.get(op.name()).copied().unwrap_or(0);
            (
                op.name(),
                ExpectedCount {
                    failed_as_expected: n(&t.expected_failures),
                    unexpected_success: n(&t.unexpected_success),
                },
            )
        })
        .collect();
    Summary {
        trafficgen_version: env!("CARGO_PKG_VERSION"),
        run_id: f.run_id,
        profile_digest: f.plan.profile_digest.clone(),
        selection: Selection {
            users: f.plan.selected_users.clone(),
            shards: f.plan.shard.map(|s| s.count),
            rate_scale: f.plan.rates.scale,
            time_scale: f.map.scale,
            max_file_size: f.plan.limits.max_file_size,
        },
        seed: f.seed,
        client: f.client,
        duration_s: round1(f.duration_s),
        dispatch_s: round1(f.dispatch_s),
        time_scale: f.map.scale,
        rate_scale: f.plan.rates.scale,
        max_file_size: f.plan.limits.max_file_size,
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
        maybe_live_objects_at_exit: t.maybe_live_objects,
        failure_rate: if attempted == 0 { 0.0 } else { t.failures as f64 / attempted as f64 },
        ops: t.ops.clone(),
        latency_ms,
        latency_by_size_ms,
        start_lag_ms: stats.start_lag(),
        integrity_failures: t.integrity_failures,
        integrity: t.integrity.clone(),
        expected_failures,
        fidelity: fleet_fidelity.clone(),
        host: Default::default(),
        journal_error: None,
        telemetry: None,
        server_metrics: None,
        verdict: None,
        timeline: timeline(f.plan, &f.map, f.dispatch_s, stats),
        personas: personas(f.plan, &users, stats),
        shard: f.plan.shard,
        merged_from: Vec::new(),
        histograms: stats.histograms(),
        totals: UserSummary {
            persona: None,
            target_ops: round1(target),
            achieved_ops: t.started,
            in_flight: t.in_flight(),
            counters: t,
            fidelity: fleet_fidelity,
        },
        users,
    }
}

/// Replicas summed under their persona; empty when no persona has replicas.
fn personas(plan: &Plan, users: &BTreeMap<String, UserSummary>, stats: &Stats) -> BTreeMap<String, UserSummary> {
    if plan.users.iter().all(|u| u.persona == u.id) {
        return BTreeMap::new();
    }
    let mut out: BTreeMap<String, UserSummary> = BTreeMap::new();
    for p in plan.persona_groups() {
        let mut c = Counters::default();
        let mut target = 0.0;
        for &i in &p.users {
            c.add(&stats.users[i]);
            target += users[&plan.users[i].id].target_ops;
        }
        let members: Vec<_> = p.users.iter().map(|&i| (&plan.users[i], &stats.users[i])).collect();
        let fidelity = fidelity::measure(plan, &members, &c);
        out.insert(
            p.name.clone(),
            UserSummary {
                persona: None,
                target_ops: round1(target),
                achieved_ops: c.started,
                in_flight: c.in_flight(),
                counters: c,
                fidelity,
            },
        );
    }
    out
}

/// The stats thread's timeline with the plan's targets filled in: what each persona
/// (and the fleet) was asked for in each interval, up to the end of dispatch.
fn timeline(plan: &Plan, map: &TimeMap, dispatch_s: f64, stats: &Stats) -> Vec<TimelinePoint> {
    let names = stats.persona_names();
    let persona_of = stats.persona_of();
    let mut out = Vec::with_capacity(stats.timeline.len());
    let mut from = 0.0_f64;
    for p in &stats.timeline {
        let mut p = p.clone();
        let (a, b) = (from.min(dispatch_s), p.end_s.min(dispatch_s));
        let mut targets = vec![0.0; names.len()];
        for (i, persona) in persona_of.iter().enumerate().take(plan.users.len()) {
            targets[*persona] += target_ops(plan, map, i, a, b);
        }
        p.target = round3(targets.iter().sum());
        p.personas = names
            .iter()
            .zip(&targets)
            .zip(&p.scheduled_by_persona)
            .map(|((name, t), n)| (name.clone(), PersonaPoint { target: round3(*t), scheduled: *n }))
            .collect();
        from = p.end_s;
        out.push(p);
    }
    out
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

fn round1(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}
