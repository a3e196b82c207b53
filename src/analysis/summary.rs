//! The `--summary-json` document and its assembly from the run's facts and `Stats`.
//! The tables a person reads are `output::tables`.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::analysis::fidelity::{self, Fidelity};
use crate::analysis::stats::{Counters, Latency, OpCount, PersonaPoint, Stats, TimelinePoint};
use crate::config::plan::Plan;
use crate::model::clock::{TimeMap, civil};
use crate::model::events::{OpType, SizeClass};
use crate::model::verdict::Verdict;

/// Target operations for one user between two wall offsets.
fn target_ops(plan: &Plan, map: &TimeMap, user: usize, from: f64, to: f64) -> f64 {
    let u = &plan.users[user];
    map.expected_ops(|h| plan.user_rate(u, h), from, to)
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
    pub host: crate::model::host::HostReport,
    /// The state journal's first failure (a write or fsync error, the journal replaced,
    /// the state dir removed), or null. From then on no upload started (shortfall
    /// `journal`), and the verdict fails.
    pub journal_error: Option<String>,
    /// obsctl's telemetry reconciled against what ran (`--verify-telemetry`).
    pub telemetry: Option<crate::analysis::telemetry::Report>,
    /// The server's own request counts beside trafficgen's (`--server-metrics`).
    pub server_metrics: Option<crate::analysis::server_metrics::Report>,
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
    pub shard: Option<crate::config::plan::Shard>,
    /// The shard summaries a `merge` combined.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub merged_from: Vec<String>,
    /// Every latency distribution as recorded buckets, so `merge` adds them exactly.
    pub histograms: crate::analysis::stats::Histograms,
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
