//! The `--summary-json` document and its assembly from the run's facts and `Stats`.
//! The tables a person reads are `output::tables`.

use std::collections::BTreeMap;

use crate::analysis::fidelity;
use crate::analysis::stats::Stats;
use crate::config::plan::Plan;
use crate::model::clock::{TimeMap, civil};
use crate::model::counts::{Counters, Latency, Name, PersonaPoint, TimelinePoint};
use crate::model::events::{OpType, SizeClass};
use crate::model::roster::Roster;
use crate::model::summary::{ClientInfo, ExpectedCount, SCHEMA_VERSION, Selection, Summary, UserSummary};

pub struct RunFacts<'a> {
    pub plan: &'a Plan,
    pub run_id: Option<String>,
    pub map: TimeMap,
    pub seed: u64,
    pub client: ClientInfo,
    pub dispatch_s: f64,
    pub duration_s: f64,
    pub stopped_by: crate::model::summary::StopCause,
}

pub fn summary(f: RunFacts, stats: &Stats) -> Summary {
    let iso = |s: f64| {
        let c = civil(s);
        format!("{}T{:02}:{:02}:{:02}Z", c.date(), c.hour, c.minute, c.second)
    };
    // The plan's hourly targets, computed once for every user and timeline point.
    let roster = f.plan.roster();
    let users = users(&f, &roster, stats);
    let t = stats.totals();
    let pairs: Vec<_> = f.plan.users.iter().zip(stats.users.iter()).collect();
    let fleet_fidelity = fidelity::measure(f.plan, &pairs, &t);
    let target: f64 = users.values().map(|u| u.target_ops).sum();
    let minutes = (f.dispatch_s / 60.0).max(1e-9);
    let attempted: u64 = t.ops.values().map(|o| o.ok + o.failed).sum();
    let (latency_ms, latency_by_size_ms) = latencies(stats);
    let expected_failures = expected_failures(&t);
    Summary {
        schema_version: SCHEMA_VERSION,
        trafficgen_version: env!("CARGO_PKG_VERSION").into(),
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
        timeline: timeline(&roster, &f.map, f.dispatch_s, stats),
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

/// Each user's part, by id.
fn users(f: &RunFacts, roster: &Roster, stats: &Stats) -> BTreeMap<String, UserSummary> {
    let mut users = BTreeMap::new();
    for (i, c) in stats.users.iter().enumerate() {
        let target = roster.target_ops(&f.map, i, 0.0, f.dispatch_s);
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
    users
}

/// Latency per kind (every kind, 0s when it never ran), and per kind and size class
/// (only the classes that occurred, only the kinds with any).
type ByKind = BTreeMap<Name, Latency>;
fn latencies(stats: &Stats) -> (ByKind, BTreeMap<Name, ByKind>) {
    let latency_ms = OpType::ALL.into_iter().map(|op| (op.into(), stats.latency(op))).collect();
    let mut latency_by_size_ms = BTreeMap::new();
    for op in OpType::ALL {
        let classes: ByKind = SizeClass::ALL
            .into_iter()
            .map(|c| (c.into(), stats.latency_by_size(op, c)))
            .filter(|(_, l)| l.count > 0)
            .collect();
        if !classes.is_empty() {
            latency_by_size_ms.insert(op.into(), classes);
        }
    }
    (latency_ms, latency_by_size_ms)
}

/// Per expected-failure kind: failed as it should, and succeeded although it must fail.
fn expected_failures(t: &Counters) -> BTreeMap<Name, ExpectedCount> {
    OpType::EXPECTED_FAILURES
        .iter()
        .map(|op| {
            let n = |m: &BTreeMap<Name, u64>| m.get(op.name()).copied().unwrap_or(0);
            (
                Name::from(*op),
                ExpectedCount {
                    failed_as_expected: n(&t.expected_failures),
                    unexpected_success: n(&t.unexpected_success),
                },
            )
        })
        .collect()
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
fn timeline(roster: &Roster, map: &TimeMap, dispatch_s: f64, stats: &Stats) -> Vec<TimelinePoint> {
    let names = stats.persona_names();
    let persona_of = stats.persona_of();
    let mut out = Vec::with_capacity(stats.timeline.len());
    let mut from = 0.0_f64;
    for p in &stats.timeline {
        let mut p = p.clone();
        let (a, b) = (from.min(dispatch_s), p.end_s.min(dispatch_s));
        let mut targets = vec![0.0; names.len()];
        for (i, persona) in persona_of.iter().enumerate().take(roster.users.len()) {
            targets[*persona] += roster.target_ops(map, i, a, b);
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

/// A summary of a run that ran nothing, whole in every field: what tests lay their own
/// fields over.
#[cfg(test)]
pub(crate) fn example(plan: &Plan) -> Summary {
    let bands: Vec<usize> = plan.kinds.iter().map(|k| k.bands.len()).collect();
    let stats = Stats::new(plan.users.len(), &bands);
    let facts = RunFacts {
        plan,
        run_id: Some("example".into()),
        map: TimeMap { sim_start: 0.0, scale: 1.0 },
        seed: 42,
        client: ClientInfo { flavor: "obsctl".into(), binary: "obsctl".into(), version: "obsctl 0.3.0".into() },
        dispatch_s: 600.0,
        duration_s: 610.0,
        stopped_by: crate::model::summary::StopCause::Duration,
    };
    summary(facts, &stats)
}
