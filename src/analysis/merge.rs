//! Summaries of N shard processes as one run: counters summed per user, latency
//! distributions re-recorded from their buckets (exact, never averaged percentiles), the
//! summary and verdict rebuilt by the code a run uses, on the profile part the shards ran;
//! the timelines, hosts, telemetry windows and server counts combined. Pure: typed
//! summaries in, the fleet's summary and verdict out.
//!
//! Inputs are not trusted: every summary must carry the digest of the profile given to
//! merge and one selection (`--users`, `--shard` N, scales), each run must appear once,
//! and a sum that does not fit in 64 bits is refused, never wrapped.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::analysis::stats::Stats;
use crate::analysis::summary::{self, RunFacts};
use crate::analysis::verdict;
use crate::config::plan::Plan;
use crate::config::threshold;
use crate::model::clock::TimeMap;
use crate::model::counts::{IntervalLatency, PersonaPoint, TimelinePoint};
use crate::model::error::Error;
use crate::model::host::{HostReport, OtherProcess, Party};
use crate::model::server::Report as ServerReport;
use crate::model::summary::{
    ClientInfo, MergedTelemetry, Selection, ServerSection, StopCause, Summary, TelemetrySection,
};
use crate::model::telemetry::{Agreement, Family, Report, Window};
use crate::model::verdict::Verdict;

/// Why the summaries cannot be merged. Whichever check refused them, they are bad input
/// (exit 2).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Refused(String);

impl From<Refused> for Error {
    fn from(r: Refused) -> Error {
        Error::Usage(r.0)
    }
}

/// One shard's summary, read, and the file it was read from (every message names it).
pub struct Part {
    pub file: String,
    pub s: Summary,
}

impl Part {
    /// Its telemetry reconciliation, when it is a run's.
    fn telemetry(&self) -> Option<&Report> {
        self.s.telemetry.as_ref()?.run()
    }
}

/// The fleet as merge judges it: the plan narrowed to what the shards ran, their counters
/// added, the summary rebuilt from them (without its verdict yet, nor the sections
/// `combine_sections` adds) and its verdict.
pub struct Fleet {
    pub plan: Plan,
    pub stats: Stats,
    pub summary: Summary,
    pub map: TimeMap,
    pub verdict: Verdict,
}

/// The shards checked, added up and judged; `given` are merge's own `--threshold`s.
pub fn fleet(mut plan: Plan, parts: &[Part], given: &[String]) -> Result<Fleet, Refused> {
    check_shards(parts)?;
    let selection = check_origin(parts, &plan)?;
    check_sums(parts)?;
    narrow(&mut plan, &selection, parts)?;
    let stats = add_up(&plan, parts)?;
    let (mut summary, map) = rebuild(&plan, parts, &stats);
    let thresholds = thresholds(parts, &plan, given)?;
    // The fleet was host-limited wherever one of its machines was: the verdict weighs it so.
    summary.host = fleet_host(parts);
    let verdict = verdict::judge_by(&summary, &thresholds, |name| match name {
        "telemetry_mismatches" => telemetry_sum(parts, |t| t.mismatches).map(|n| n as f64),
        "telemetry.lost_exports" => telemetry_sum(parts, |t| t.lost_exports).map(|n| n as f64),
        "telemetry.out_of_contract" => telemetry_sum(parts, |t| t.out_of_contract.len() as u64).map(|n| n as f64),
        _ => verdict::lookup(&summary, name),
    });
    Ok(Fleet { plan, stats, summary, map, verdict })
}

/// The plan as the runs ran it: judged against what they were asked for (a `--users`
/// run against its users, not the whole profile), at their scales, which must agree.
fn narrow(plan: &mut Plan, selection: &Selection, parts: &[Part]) -> Result<(), Refused> {
    if let Some(ids) = &selection.users {
        plan.users.retain(|u| ids.contains(&u.id) || ids.contains(&u.persona));
        plan.selected_users = Some(ids.clone());
    }
    let first = &parts[0];
    plan.rates.scale = first.s.rate_scale;
    plan.limits.max_file_size = first.s.max_file_size;
    for p in &parts[1..] {
        if p.s.rate_scale != first.s.rate_scale || p.s.time_scale != first.s.time_scale {
            return Err(Refused(format!(
                "{} ran with another --rate-scale or --time-scale than {}",
                p.file, first.file
            )));
        }
    }
    Ok(())
}

/// Every user's counters and every latency distribution, added (the sums were checked).
fn add_up(plan: &Plan, parts: &[Part]) -> Result<Stats, Refused> {
    let bands: Vec<usize> = plan.kinds.iter().map(|k| k.bands.len()).collect();
    let mut stats = Stats::new(plan.users.len(), &bands);
    for p in parts {
        for (id, u) in &p.s.users {
            let i = plan.users.iter().position(|x| &x.id == id).ok_or_else(|| {
                Refused(format!(
                    "{}: user {id:?} is not in {}; merge with the profile the shards ran",
                    p.file,
                    plan.source.display()
                ))
            })?;
            stats.users[i].add(&u.counters);
        }
        stats.add_histograms(&p.s.histograms);
    }
    Ok(stats)
}

/// The fleet's summary, built by the code a run uses, from the shards' facts: the
/// longest of their spans, the first's client and seed, a signal if any was stopped by one.
fn rebuild(plan: &Plan, parts: &[Part], stats: &Stats) -> (Summary, TimeMap) {
    let max = |f: fn(&Summary) -> f64| parts.iter().map(|p| f(&p.s)).fold(0.0, f64::max);
    let sim_start = parts.iter().map(|p| p.s.sim_start_unix).fold(f64::INFINITY, f64::min);
    let map = TimeMap { sim_start: if sim_start.is_finite() { sim_start } else { 0.0 }, scale: max(|s| s.time_scale) };
    let first = &parts[0].s;
    let facts = RunFacts {
        plan,
        run_id: None,
        map,
        seed: first.seed,
        client: ClientInfo {
            flavor: if first.client.flavor == "aws" { "aws" } else { "obsctl" }.to_string(),
            binary: first.client.binary.clone(),
            version: first.client.version.clone(),
        },
        dispatch_s: max(|s| s.dispatch_s),
        duration_s: max(|s| s.duration_s),
        stopped_by: if parts.iter().any(|p| p.s.stopped_by == StopCause::Signal) {
            StopCause::Signal
        } else {
            StopCause::Duration
        },
    };
    let mut summary = summary::summary(facts, stats);
    summary.merged_from = parts.iter().map(|p| p.file.clone()).collect();
    // A shard whose journal failed fails the fleet: its uploads stopped there.
    let journal_errors: Vec<String> =
        parts.iter().filter_map(|p| p.s.journal_error.as_ref().map(|e| format!("{}: {e}", p.file))).collect();
    summary.journal_error = (!journal_errors.is_empty()).then(|| journal_errors.join("; "));
    (summary, map)
}

/// The thresholds the shards were judged by (their command lines included), else the
/// profile's; then any given here.
fn thresholds(parts: &[Part], plan: &Plan, given: &[String]) -> Result<Vec<threshold::Threshold>, Refused> {
    let mut thresholds = Vec::new();
    for p in parts {
        for o in p.s.verdict.iter().flat_map(|v| &v.thresholds) {
            let t = &o.threshold;
            let t = threshold::parse(t, threshold::unit_of)
                .map_err(|e| Refused(format!("{}: threshold {t:?}: {e}", p.file)))?;
            if !thresholds.iter().any(|x: &threshold::Threshold| x.text == t.text) {
                thresholds.push(t);
            }
        }
    }
    if thresholds.is_empty() {
        thresholds = plan.thresholds.clone();
    }
    for expr in given {
        thresholds.push(threshold::parse(expr, threshold::unit_of).map_err(|e| Refused(format!("--threshold: {e}")))?);
    }
    Ok(thresholds)
}

/// Telemetry is reconciled by each shard against its own children; the fleet's counts
/// are the shards' summed (a family wrong on two shards counts twice). None unless every
/// shard reconciled.
fn telemetry_sum(parts: &[Part], count: impl Fn(&Report) -> u64) -> Option<u64> {
    parts.iter().try_fold(0u64, |sum, p| Some(sum.saturating_add(count(p.telemetry()?))))
}

/// The sections a merge combines rather than rebuilds: the timelines point by point, the
/// hosts, and (when every shard has one) telemetry; server counts side by side.
pub fn combine_sections(summary: &mut Summary, parts: &[Part]) {
    summary.timeline = merge_points(parts.iter().map(|p| p.s.timeline.as_slice()));
    summary.host = merge_host(parts);
    let runs: Option<Vec<&Report>> = parts.iter().map(Part::telemetry).collect();
    if let Some(runs) = runs {
        let sum = |count: fn(&Report) -> u64| runs.iter().map(|t| count(t)).fold(0u64, u64::saturating_add);
        summary.telemetry = Some(TelemetrySection::Merged(MergedTelemetry {
            mismatches: sum(|t| t.mismatches),
            lost_exports: sum(|t| t.lost_exports),
            children_ended: sum(|t| t.children_ended),
            children_reported: sum(|t| t.children_reported),
            export_requests: sum(|t| t.export_requests),
            foreign_requests: sum(|t| t.foreign_requests),
            windows: merge_windows(runs.iter().map(|t| t.windows.as_slice())),
            per_shard: runs.into_iter().cloned().collect(),
        }));
    }
    let server: Vec<Option<ServerReport>> = parts
        .iter()
        .map(|p| match &p.s.server_metrics {
            Some(ServerSection::Run(r)) => Some(r.clone()),
            _ => None,
        })
        .collect();
    if server.iter().any(Option::is_some) {
        summary.server_metrics = Some(ServerSection::PerShard(server));
    }
}

/// Either every summary is one shard of the same N and each index appears once and all
/// are there, or none is a shard (independent runs, summed).
fn check_shards(parts: &[Part]) -> Result<(), Refused> {
    let shards: Vec<Option<(u32, u32)>> = parts.iter().map(|p| p.s.shard.map(|s| (s.index, s.count))).collect();
    if shards.iter().all(Option::is_none) {
        return Ok(());
    }
    if let Some(i) = shards.iter().position(Option::is_none) {
        return Err(Refused(format!("{} is not a shard's summary, but others are", parts[i].file)));
    }
    let count = shards[0].map_or(0, |s| s.1);
    let mut seen: BTreeMap<u32, &str> = BTreeMap::new();
    for (p, s) in parts.iter().zip(&shards) {
        let (i, n) = s.unwrap_or_default();
        if n != count {
            return Err(Refused(format!("{} is shard {i} of {n}, {} of {count}", p.file, parts[0].file)));
        }
        if let Some(other) = seen.insert(i, &p.file) {
            return Err(Refused(format!("{} and {other} are both shard {i}", p.file)));
        }
    }
    let missing: Vec<String> = (0..count).filter(|i| !seen.contains_key(i)).map(|i| i.to_string()).collect();
    if !missing.is_empty() {
        return Err(Refused(format!(
            "shards {} of {count} are missing; merge needs every shard's summary",
            missing.join(", ")
        )));
    }
    Ok(())
}

/// Every summary ran the profile given to merge (its digest), with one selection, and
/// each run appears once; whole (unsharded) runs are not summed with each other: two of
/// them are two runs of the whole profile, not one. Returns the selection.
fn check_origin(parts: &[Part], plan: &Plan) -> Result<Selection, Refused> {
    for p in parts {
        let d = &p.s.profile_digest;
        if d.is_empty() {
            return Err(Refused(format!(
                "{}: no profile_digest (written by an older trafficgen?): cannot tell which profile it ran",
                p.file
            )));
        }
        if *d != plan.profile_digest {
            return Err(Refused(format!(
                "{} ran another profile than {} ({d}, not {}); merge only summaries of the profile given to merge",
                p.file,
                plan.source.display(),
                plan.profile_digest
            )));
        }
    }
    let first = parts[0].s.selection.clone();
    for p in &parts[1..] {
        let s = &p.s.selection;
        if *s != first {
            let show = |s: &Selection| serde_json::to_string(s).unwrap_or_default();
            return Err(Refused(format!(
                "{} and {} ran different selections ({} vs {}); merge only the shards of one run",
                parts[0].file,
                p.file,
                show(&first),
                show(s)
            )));
        }
    }
    // `merge --users` must name what the runs ran, or nothing.
    if plan.selected_users.is_some() && plan.selected_users != first.users {
        return Err(Refused(format!(
            "merge --users {} but {} ran {}",
            plan.selected_users.as_deref().unwrap_or_default().join(","),
            parts[0].file,
            first.users.as_ref().map_or("every user".to_string(), |u| format!("--users {}", u.join(",")))
        )));
    }
    let mut runs: BTreeMap<&str, &str> = BTreeMap::new();
    for p in parts {
        let Some(id) = p.s.run_id.as_deref() else {
            return Err(Refused(format!(
                "{}: no run_id (a merged summary, or an older trafficgen's): merge takes run summaries",
                p.file
            )));
        };
        if let Some(other) = runs.insert(id, &p.file) {
            return Err(Refused(format!(
                "{} and {other} are the same run ({id}); give each shard's summary once",
                p.file
            )));
        }
    }
    if first.shards.is_none() && parts.len() > 1 {
        let files: Vec<&str> = parts.iter().map(|p| p.file.as_str()).collect();
        return Err(Refused(format!(
            "{} are whole runs, not shards (--shard I/N): each already ran the whole selection, so their sum is no run; merge the shards of one run",
            files.join(", ")
        )));
    }
    Ok(first)
}

/// Every count the merge adds, summed first with checked_add: the users' counters (per
/// user and for the fleet) and each histogram's total. A sum beyond 64 bits is refused
/// with the field's name; wrapped to a small number it would pass `failures==0`.
fn check_sums(parts: &[Part]) -> Result<(), Refused> {
    let mut sums: BTreeMap<String, u64> = BTreeMap::new();
    let mut add = |file: &str, path: String, n: u64| -> Result<(), Refused> {
        let sum = sums.entry(path.clone()).or_insert(0);
        *sum = sum.checked_add(n).ok_or_else(|| {
            Refused(format!(
                "{file}: {path}: the sum over the summaries does not fit in 64 bits; refusing rather than wrapping"
            ))
        })?;
        Ok(())
    };
    for p in parts {
        for (id, u) in &p.s.users {
            let mut leaves = Vec::new();
            whole_numbers(&serde_json::to_value(u).map_err(|e| Refused(e.to_string()))?, String::new(), &mut leaves);
            for (path, n) in leaves {
                add(&p.file, format!("users.{id}{path}"), n)?;
                add(&p.file, format!("totals{path}"), n)?;
            }
        }
        let mut leaves = Vec::new();
        let histograms = serde_json::to_value(&p.s.histograms).map_err(|e| Refused(e.to_string()))?;
        whole_numbers(&histograms, String::new(), &mut leaves);
        for (path, n) in leaves {
            // A bucket is [value, count]: its count adds to its histogram's total.
            if let Some(hist) = path.strip_suffix("[1]").and_then(|h| h.rsplit_once('[')).map(|(h, _)| h) {
                add(&p.file, format!("histograms{hist}"), n)?;
            }
        }
    }
    Ok(())
}

/// The whole numbers under `v` (a part of a summary, as written), by path (`.ops.upload.ok`, `.start_lag[3][1]`).
fn whole_numbers(v: &Value, path: String, out: &mut Vec<(String, u64)>) {
    match v {
        Value::Number(n) => {
            if let Some(n) = n.as_u64() {
                out.push((path, n));
            }
        }
        Value::Object(m) => {
            for (k, c) in m {
                whole_numbers(c, format!("{path}.{k}"), out);
            }
        }
        Value::Array(a) => {
            for (i, c) in a.iter().enumerate() {
                whole_numbers(c, format!("{path}[{i}]"), out);
            }
        }
        _ => {}
    }
}

/// Timelines point by point: counts add; times, interval lengths and latency percentiles
/// (`*_ms`) take the largest shard's value (a percentile of a union is not a sum; the
/// worst shard bounds it). A longer timeline's extra points are kept as they are.
fn merge_points<'a>(timelines: impl Iterator<Item = &'a [TimelinePoint]>) -> Vec<TimelinePoint> {
    let mut out: Vec<TimelinePoint> = Vec::new();
    for t in timelines {
        for (i, point) in t.iter().enumerate() {
            match out.get_mut(i) {
                Some(acc) => add_point(acc, point),
                None => out.push(point.clone()),
            }
        }
    }
    out
}

fn add_point(acc: &mut TimelinePoint, p: &TimelinePoint) {
    acc.t_s = acc.t_s.max(p.t_s);
    acc.interval_s = acc.interval_s.max(p.interval_s);
    acc.sim_unix = acc.sim_unix.max(p.sim_unix);
    for (mine, theirs) in [
        (&mut acc.started, p.started),
        (&mut acc.ok, p.ok),
        (&mut acc.failed, p.failed),
        (&mut acc.shortfall, p.shortfall),
        (&mut acc.scheduled, p.scheduled),
    ] {
        *mine = mine.saturating_add(theirs);
    }
    acc.target += p.target;
    for (name, theirs) in &p.personas {
        let mine = acc.personas.entry(name.clone()).or_insert(PersonaPoint { target: 0.0, scheduled: 0 });
        mine.target += theirs.target;
        mine.scheduled = mine.scheduled.saturating_add(theirs.scheduled);
    }
    for (mine, theirs) in
        [(&mut acc.failures_by_class, &p.failures_by_class), (&mut acc.shortfall_by_reason, &p.shortfall_by_reason)]
    {
        for (k, n) in theirs {
            let m = mine.entry(*k).or_insert(0);
            *m = m.saturating_add(*n);
        }
    }
    for (kind, theirs) in &p.latency_ms {
        let mine =
            acc.latency_ms.entry(*kind).or_insert(IntervalLatency { count: 0, p50_ms: 0.0, p95_ms: 0.0, p99_ms: 0.0 });
        mine.count = mine.count.saturating_add(theirs.count);
        mine.p50_ms = mine.p50_ms.max(theirs.p50_ms);
        mine.p95_ms = mine.p95_ms.max(theirs.p95_ms);
        mine.p99_ms = mine.p99_ms.max(theirs.p99_ms);
    }
}

/// The host as the fleet's verdict weighs it: the longest saturation of any machine, and
/// its party ("other" if any machine was busy with other work, which no slot held back
/// explains), with that machine's figures.
fn fleet_host(parts: &[Part]) -> HostReport {
    let mut h = HostReport::default();
    for p in parts {
        let theirs = &p.s.host;
        let (held, other) = (theirs.saturated_s, theirs.other_busy_s);
        if held.max(other) <= h.saturated_s.max(h.other_busy_s) {
            continue;
        }
        h.saturated_s = held;
        h.other_busy_s = other;
        // A summary that names no party: held back means trafficgen, else nobody.
        h.party = match theirs.party {
            Some(party) => Some(party),
            None if held > 0.0 => Some(Party::Trafficgen),
            None => None,
        };
        h.own_cpu_share = theirs.own_cpu_share;
        h.other_cpu_share = theirs.other_cpu_share;
        h.cpu_busy = theirs.cpu_busy;
        h.runnable = theirs.runnable;
        h.cores = theirs.cores;
        h.others =
            theirs.others.iter().map(|o| OtherProcess { pid: o.pid, name: o.name.clone(), share: o.share }).collect();
    }
    h
}

/// The fleet was host-limited wherever one of its machines was.
fn merge_host(parts: &[Part]) -> HostReport {
    let saturated = parts.iter().map(|p| p.s.host.saturated_s).fold(0.0, f64::max);
    let warnings: Vec<String> =
        parts.iter().filter_map(|p| p.s.host.warning.as_ref().map(|w| format!("{}: {w}", p.file))).collect();
    let mut by_reason = BTreeMap::new();
    for p in parts {
        for (reason, s) in &p.s.host.by_reason {
            *by_reason.entry(*reason).or_insert(0.0) += s;
        }
    }
    HostReport {
        saturated_s: saturated,
        by_reason,
        warning: (!warnings.is_empty()).then(|| warnings.join("; ")),
        ..fleet_host(parts)
    }
}

/// The shards' telemetry windows added hour by hour: counts and each family's expected
/// and reported summed; a family mismatches in an hour when it does on any shard (each
/// shard judged its own children), is allowed or n/a when it is on any, else matches.
fn merge_windows<'a>(shards: impl Iterator<Item = &'a [Window]>) -> Vec<Window> {
    let mut hours: BTreeMap<i64, Window> = BTreeMap::new();
    for windows in shards {
        for w in windows {
            let acc = hours.entry(w.start_unix).or_insert_with(|| Window {
                start_unix: w.start_unix,
                children_ended: 0,
                children_reported: 0,
                lost_exports: 0,
                mismatches: 0,
                families: BTreeMap::new(),
            });
            acc.children_ended = acc.children_ended.saturating_add(w.children_ended);
            acc.children_reported = acc.children_reported.saturating_add(w.children_reported);
            acc.lost_exports = acc.lost_exports.saturating_add(w.lost_exports);
            for (name, f) in &w.families {
                let cell = acc.families.entry(name.clone()).or_insert(Family {
                    expected: 0.0,
                    reported: 0.0,
                    diff: 0.0,
                    verdict: Agreement::Match,
                    server: None,
                    note: None,
                });
                cell.expected += f.expected;
                cell.reported += f.reported;
                cell.diff = cell.reported - cell.expected;
                // Agreement is ordered from the mildest to the worst.
                cell.verdict = cell.verdict.max(f.verdict);
            }
        }
    }
    hours
        .into_values()
        .map(|mut w| {
            w.mismatches = w.families.values().filter(|c| c.verdict == Agreement::Mismatch).count() as u64;
            w
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn shards_windows_add_up_hour_by_hour() {
        let w = |start: i64, exp: f64, rep: f64, verdict: &str| {
            json!({"start_unix": start, "children_ended": 5, "children_reported": 4, "lost_exports": 1, "mismatches": 0,
                   "families": {"uploads_total": {"expected": exp, "reported": rep, "diff": rep - exp, "verdict": verdict}}})
        };
        let windows = |v: Value| -> Vec<Window> { serde_json::from_value(v).unwrap() };
        let a = windows(json!([w(3600, 5.0, 5.0, "match"), w(7200, 5.0, 4.0, "MISMATCH")]));
        let b = windows(json!([w(7200, 5.0, 5.0, "match"), w(10_800, 2.0, 2.0, "match")]));
        let m = serde_json::to_value(merge_windows([a.as_slice(), b.as_slice()].into_iter())).unwrap();
        let m = m.as_array().unwrap();
        assert_eq!(m.len(), 3);
        assert_eq!(m[1]["start_unix"], 7200);
        assert_eq!(m[1]["children_ended"], 10);
        assert_eq!(m[1]["lost_exports"], 2);
        let f = &m[1]["families"]["uploads_total"];
        assert_eq!(
            (f["expected"].as_f64(), f["reported"].as_f64(), f["diff"].as_f64()),
            (Some(10.0), Some(9.0), Some(-1.0))
        );
        assert_eq!(f["verdict"], "MISMATCH");
        assert_eq!(m[1]["mismatches"], 1);
        assert_eq!(m[0]["mismatches"], 0);
    }

    /// A whole summary with `v`'s fields laid over it; each of `v`'s users laid over the
    /// template's totals, and only those users.
    fn part(file: &str, v: Value) -> Part {
        fn lay(base: &mut Value, top: &Value) {
            match (base, top) {
                (Value::Object(b), Value::Object(t)) => {
                    for (k, tv) in t {
                        match b.get_mut(k) {
                            Some(bv) => lay(bv, tv),
                            None => {
                                b.insert(k.clone(), tv.clone());
                            }
                        }
                    }
                }
                (b, t) => *b = t.clone(),
            }
        }
        let mut base = serde_json::to_value(crate::analysis::summary::example(&plan())).unwrap();
        if let Some(users) = v.get("users").and_then(Value::as_object) {
            let totals = base["totals"].clone();
            let users = users.iter().map(|(id, u)| {
                let mut whole = totals.clone();
                lay(&mut whole, u);
                (id.clone(), whole)
            });
            base["users"] = Value::Object(users.collect());
        }
        let mut top = v.clone();
        if let Some(o) = top.as_object_mut() {
            o.remove("users");
        }
        lay(&mut base, &top);
        Part { file: file.to_string(), s: serde_json::from_value(base).unwrap() }
    }

    fn plan() -> Plan {
        crate::config::profile::shipped()
    }

    fn run(plan: &Plan, id: &str, shards: Option<u32>, users: Option<Vec<&str>>) -> Value {
        json!({
            "run_id": id,
            "profile_digest": plan.profile_digest,
            "selection": {"users": users, "shards": shards, "rate_scale": 1.0, "time_scale": 1.0, "max_file_size": null},
        })
    }

    #[test]
    fn only_shards_of_one_run_of_the_given_profile_once() {
        let p = plan();
        let ok = [part("a", run(&p, "1", Some(2), None)), part("b", run(&p, "2", Some(2), None))];
        assert_eq!(check_origin(&ok, &p).unwrap().shards, Some(2));
        let twice = [part("a", run(&p, "1", Some(2), None)), part("b", run(&p, "1", Some(2), None))];
        assert!(check_origin(&twice, &p).unwrap_err().0.contains("the same run"));
        let whole = [part("a", run(&p, "1", None, None)), part("b", run(&p, "2", None, None))];
        assert!(check_origin(&whole, &p).unwrap_err().0.contains("not shards"));
        let alone = [part("a", run(&p, "1", None, Some(vec!["henry-ops"])))];
        assert_eq!(check_origin(&alone, &p).unwrap().users, Some(vec!["henry-ops".to_string()]));
        let mut other = run(&p, "2", Some(2), None);
        other["profile_digest"] = json!("sha256:00");
        let mixed = [part("a", run(&p, "1", Some(2), None)), part("b", other)];
        assert!(check_origin(&mixed, &p).unwrap_err().0.starts_with("b ran another profile"));
        let users = [part("a", run(&p, "1", Some(2), None)), part("b", run(&p, "2", Some(2), Some(vec!["x"])))];
        assert!(check_origin(&users, &p).unwrap_err().0.contains("different selections"));
        let mut henry = plan();
        henry.selected_users = Some(vec!["henry-ops".into()]);
        assert!(check_origin(&ok, &henry).unwrap_err().0.contains("merge --users henry-ops but a ran every user"));
        let old = [part("a", json!({"users": {}, "profile_digest": ""}))];
        assert!(check_origin(&old, &p).unwrap_err().0.contains("no profile_digest"));
    }

    #[test]
    fn the_fleet_is_host_limited_as_its_most_limited_machine_and_names_its_party() {
        let idle = part("a", json!({"host": {"saturated_s": 0.0, "other_busy_s": 0.0, "party": null}}));
        let busy = part(
            "b",
            json!({"host": {"saturated_s": 0.0, "other_busy_s": 12.5, "party": "other", "own_cpu_share": 0.1,
                "others": [{"pid": 7, "name": "moto_server", "share": 0.61}], "cpu_busy": 0.99, "runnable": 5.0, "cores": 2.0}}),
        );
        let h = fleet_host(&[idle, busy]);
        assert_eq!((h.other_busy_s, h.party), (12.5, Some(crate::model::host::Party::Other)));
        assert!(h.limited());
        assert!(h.describe().unwrap().starts_with("host busy with other work: moto_server 61 %"), "{h:?}");
        let merged =
            serde_json::to_value(merge_host(&[part("b", json!({"host": {"other_busy_s": 3.0, "party": "other"}}))]))
                .unwrap();
        assert_eq!(merged["party"], "other");
        // Older summaries without the fields: held back means trafficgen, else nothing.
        let old = fleet_host(&[part("a", json!({"host": {"saturated_s": 4.0}}))]);
        assert_eq!(old.party, Some(crate::model::host::Party::Trafficgen));
        assert_eq!(fleet_host(&[part("a", json!({"host": {"saturated_s": 0.0}}))]).party, None);
    }

    #[test]
    fn sums_that_do_not_fit_are_refused_not_wrapped() {
        let a = part("a", json!({"users": {"u1": {"failures": u64::MAX, "ops": {"upload": {"ok": 1}}}}}));
        let b = part("b", json!({"users": {"u2": {"failures": 1}}}));
        let e = check_sums(&[a, b]).unwrap_err().0;
        assert!(e.starts_with("b: totals.failures:") && e.contains("does not fit"), "{e}");
        let h = |n: u64| part("h", json!({"users": {}, "histograms": {"start_lag": [[10, n], [20, 1]]}}));
        assert!(check_sums(&[h(u64::MAX - 1), h(0)]).unwrap_err().0.contains("histograms.start_lag"));
        assert!(check_sums(&[h(5), h(6)]).is_ok());
        let mut leaves = Vec::new();
        whole_numbers(&json!({"a": [1, {"b": 2}], "c": 1.5, "d": "x"}), String::new(), &mut leaves);
        assert_eq!(leaves, [(".a[0]".to_string(), 1), (".a[1].b".to_string(), 2)]);
    }
}
