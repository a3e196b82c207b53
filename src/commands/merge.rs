//! `trafficgen merge S1.json … SN.json`: the summaries of N shard processes (`--shard I/N`)
//! as one run. Counters are summed per user, latency distributions are re-recorded from
//! their buckets (exact, never averaged percentiles), and the summary, fidelity and
//! verdict are rebuilt by the same code a run uses, on the profile part the shards ran.
//!
//! Inputs are not trusted: every summary must carry the digest of the profile given to
//! merge and one selection (`--users`, `--shard` N, scales), each run must appear once,
//! and a sum that does not fit in 64 bits is refused, never wrapped.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use crate::analysis::stats::Stats;
use crate::analysis::summary::{self, RunFacts};
use crate::analysis::verdict;
use crate::config::plan::Plan;
use crate::config::threshold;
use crate::model::clock::TimeMap;
use crate::model::counts::{Counters, Histograms};
use crate::model::error::Error;
use crate::model::summary::{ClientInfo, Selection};
use crate::model::verdict::Judgement;

pub struct MergeArgs<'a> {
    pub files: &'a [PathBuf],
    pub summary_json: Option<&'a Path>,
    pub junit: Option<&'a Path>,
    pub thresholds: &'a [String],
}

pub fn run(plan: Plan, a: MergeArgs) -> Result<Judgement, Error> {
    merge(plan, &a).map_err(|e| Error::Usage(crate::model::terminal::clean(&e.to_string())))?
}

/// The outputs can be written, and none is an input (a summary merged, the profile):
/// `merge --summary-json s0.json s0.json s1.json` once emptied s0.json before reading it.
/// Nothing is created or emptied here.
fn check_outputs(plan: &Plan, a: &MergeArgs) -> Result<(), Error> {
    let outputs: Vec<(&str, &Path)> = [("--summary-json", a.summary_json), ("--junit", a.junit)]
        .into_iter()
        .filter_map(|(f, p)| Some((f, p?)))
        .collect();
    for (flag, p) in &outputs {
        crate::output::export::prepare(flag, p)?;
    }
    let mut inputs: Vec<(&str, &Path)> = a.files.iter().map(|f| ("the summary", f.as_path())).collect();
    inputs.push(("the profile", plan.source.as_path()));
    crate::output::export::check_distinct(&inputs, &outputs)
}

/// One shard's summary, read.
struct Part {
    file: String,
    v: Value,
}

impl Part {
    fn num(&self, path: &[&str]) -> Option<f64> {
        path.iter().try_fold(&self.v, |v, k| v.get(k))?.as_f64()
    }
    fn str(&self, key: &str) -> Option<&str> {
        self.v.get(key)?.as_str()
    }
}

/// Err: bad input (exit 2). Ok: the merged verdict, or an output that could not be
/// written once the inputs were merged (exit 1).
fn merge(mut plan: Plan, a: &MergeArgs) -> Result<Result<Judgement, Error>, String> {
    if plan.shard.is_some() {
        return Err("merge takes the whole profile; drop --shard (and JOB_COMPLETION_INDEX)".into());
    }
    check_outputs(&plan, a)?;
    let mut parts = Vec::new();
    for f in a.files {
        let text = crate::output::export::read_summary(f)?;
        let v: Value = serde_json::from_str(&text).map_err(|e| format!("{}: not a summary JSON: {e}", f.display()))?;
        if v.get("histograms").is_none() || v.get("users").is_none() {
            return Err(format!(
                "{}: not a trafficgen {} summary (no histograms or users)",
                f.display(),
                env!("CARGO_PKG_VERSION")
            ));
        }
        parts.push(Part { file: f.display().to_string(), v });
    }
    check_shards(&parts)?;
    let selection = check_origin(&parts, &plan)?;
    check_sums(&parts)?;
    // Judged against what the runs were asked for: a `--users` run against its users,
    // not the whole profile.
    if let Some(ids) = &selection.users {
        plan.users.retain(|u| ids.contains(&u.id) || ids.contains(&u.persona));
        plan.selected_users = Some(ids.clone());
    }
    let first = &parts[0];
    if let Some(scale) = first.num(&["rate_scale"]) {
        plan.rates.scale = scale;
    }
    plan.limits.max_file_size = first.v.get("max_file_size").and_then(Value::as_u64);
    for p in &parts[1..] {
        if p.num(&["rate_scale"]) != first.num(&["rate_scale"]) || p.num(&["time_scale"]) != first.num(&["time_scale"])
        {
            return Err(format!("{} ran with another --rate-scale or --time-scale than {}", p.file, first.file));
        }
    }

    let bands: Vec<usize> = plan.kinds.iter().map(|k| k.bands.len()).collect();
    let mut stats = Stats::new(plan.users.len(), &bands);
    for p in &parts {
        let users = p.v.get("users").and_then(Value::as_object).ok_or_else(|| format!("{}: no users", p.file))?;
        for (id, u) in users {
            let i = plan.users.iter().position(|x| &x.id == id).ok_or_else(|| {
                format!(
                    "{}: user {id:?} is not in {}; merge with the profile the shards ran",
                    p.file,
                    plan.source.display()
                )
            })?;
            let c: Counters = serde_json::from_value(u.clone()).map_err(|e| format!("{}: users.{id}: {e}", p.file))?;
            stats.users[i].add(&c);
        }
        let h: Histograms =
            serde_json::from_value(p.v["histograms"].clone()).map_err(|e| format!("{}: histograms: {e}", p.file))?;
        stats.add_histograms(&h);
    }

    let max = |path: &[&str]| parts.iter().filter_map(|p| p.num(path)).fold(0.0, f64::max);
    let sim_start = parts.iter().filter_map(|p| p.num(&["sim_start_unix"])).fold(f64::INFINITY, f64::min);
    let map = TimeMap { sim_start: if sim_start.is_finite() { sim_start } else { 0.0 }, scale: max(&["time_scale"]) };
    let dispatch_s = max(&["dispatch_s"]);
    let client = first.v.get("client").cloned().unwrap_or(Value::Null);
    let text = |k: &str| client.get(k).and_then(Value::as_str).unwrap_or("").to_string();
    let facts = RunFacts {
        plan: &plan,
        run_id: None,
        map,
        seed: first.v.get("seed").and_then(Value::as_u64).unwrap_or(0),
        client: ClientInfo {
            flavor: if text("flavor") == "aws" { "aws" } else { "obsctl" }.to_string(),
            binary: text("binary"),
            version: text("version"),
        },
        dispatch_s,
        duration_s: max(&["duration_s"]),
        stopped_by: if parts.iter().any(|p| p.str("stopped_by") == Some("signal")) {
            crate::model::summary::StopCause::Signal
        } else {
            crate::model::summary::StopCause::Duration
        },
    };
    let mut summary = summary::summary(facts, &stats);
    summary.merged_from = parts.iter().map(|p| p.file.clone()).collect();
    // A shard whose journal failed fails the fleet: its uploads stopped there.
    let journal_errors: Vec<String> = parts
        .iter()
        .filter_map(|p| p.v.get("journal_error").and_then(Value::as_str).map(|e| format!("{}: {e}", p.file)))
        .collect();
    summary.journal_error = (!journal_errors.is_empty()).then(|| journal_errors.join("; "));

    // The thresholds the shards were judged by (their command lines included), else the
    // profile's; then any given here.
    let mut thresholds = Vec::new();
    for p in &parts {
        for o in p.v.pointer("/verdict/thresholds").and_then(Value::as_array).into_iter().flatten() {
            let t = o.get("threshold").and_then(Value::as_str).unwrap_or_default();
            let t = threshold::parse(t, threshold::unit_of).map_err(|e| format!("{}: threshold {t:?}: {e}", p.file))?;
            if !thresholds.iter().any(|x: &threshold::Threshold| x.text == t.text) {
                thresholds.push(t);
            }
        }
    }
    if thresholds.is_empty() {
        thresholds = plan.thresholds.clone();
    }
    for expr in a.thresholds {
        thresholds.push(threshold::parse(expr, threshold::unit_of).map_err(|e| format!("--threshold: {e}"))?);
    }
    // Telemetry is reconciled by each shard against its own children; the fleet's
    // mismatches are the shards' summed (a family wrong on two shards counts twice).
    let telemetry_sum = |key: &str| -> Option<f64> {
        let vals: Vec<f64> = parts.iter().filter_map(|p| p.num(&["telemetry", key])).collect();
        (vals.len() == parts.len()).then(|| vals.iter().sum())
    };
    let outofcontract = || -> Option<f64> {
        let vals: Vec<usize> = parts
            .iter()
            .filter_map(|p| p.v.pointer("/telemetry/out_of_contract").and_then(Value::as_array).map(Vec::len))
            .collect();
        (vals.len() == parts.len()).then(|| vals.iter().sum::<usize>() as f64)
    };
    // The fleet was host-limited wherever one of its machines was: the verdict weighs it so.
    summary.host = fleet_host(&parts);
    let v = verdict::judge_by(&summary, &thresholds, |name| match name {
        "telemetry_mismatches" => telemetry_sum("mismatches"),
        "telemetry.lost_exports" => telemetry_sum("lost_exports"),
        "telemetry.out_of_contract" => outofcontract(),
        _ => verdict::lookup(&summary, name),
    });

    // Whatever the summaries hold, no escape sequence of theirs reaches the terminal.
    let clean = crate::model::terminal::clean;
    let (roster, fidelity) = (plan.roster(), crate::analysis::fidelity::fleet(&plan, &stats));
    let view = crate::output::tables::View { roster: &roster, map: &map, fidelity: &fidelity };
    println!(
        "{}",
        clean(&crate::output::tables::table(
            &view,
            &stats,
            &[],
            0.0,
            dispatch_s,
            &format!("merged ({} summaries)", parts.len())
        ))
    );
    let limited: Vec<String> = parts
        .iter()
        .filter(|p| p.v.pointer("/host/warning").is_some_and(|w| !w.is_null()))
        .map(|p| p.file.clone())
        .collect();
    if !limited.is_empty() {
        println!("HOST LIMITED: {} (their results measure their machines too)", clean(&limited.join(", ")));
    }
    println!("{}", clean(&verdict::render(&v)));
    let code = v.result;
    summary.verdict = Some(v);

    let mut out = serde_json::to_value(&summary).map_err(|e| e.to_string())?;
    out["timeline"] = merge_points(parts.iter().map(|p| p.v.get("timeline").cloned().unwrap_or(Value::Null)));
    out["host"] = merge_host(&parts);
    if parts.iter().all(|p| p.v.get("telemetry").is_some_and(|t| !t.is_null())) {
        let mut t = Map::new();
        // Counts, summed over the shards.
        for key in
            ["mismatches", "lost_exports", "children_ended", "children_reported", "export_requests", "foreign_requests"]
        {
            t.insert(key.into(), telemetry_sum(key).map_or(Value::Null, |n| Value::from(n as u64)));
        }
        t.insert("windows".into(), merge_windows(parts.iter().map(|p| &p.v["telemetry"])));
        t.insert("per_shard".into(), parts.iter().map(|p| p.v["telemetry"].clone()).collect());
        out["telemetry"] = Value::Object(t);
    }
    let server: Vec<Value> = parts.iter().filter_map(|p| p.v.get("server_metrics").cloned()).collect();
    if server.iter().any(|s| !s.is_null()) {
        out["server_metrics"] = Value::Array(server);
    }
    if let Some(p) = a.summary_json {
        let text = serde_json::to_string_pretty(&out).map_err(|e| e.to_string())? + "\n";
        if let Err(e) = crate::output::export::write_atomic(p, &text) {
            return Ok(Err(Error::Failed(format!("cannot write {}: {e}", p.display()))));
        }
        eprintln!("written: {}", p.display());
    }
    if let Some(p) = a.junit {
        if let Err(e) = crate::output::export::write_atomic(p, &crate::output::export::junit::from_summary(&summary)) {
            return Ok(Err(Error::Failed(format!("cannot write {}: {e}", p.display()))));
        }
        eprintln!("written: {}", p.display());
    }
    Ok(Ok(code))
}

/// Either every summary is one shard of the same N and each index appears once and all
/// are there, or none is a shard (independent runs, summed).
fn check_shards(parts: &[Part]) -> Result<(), String> {
    let shards: Vec<Option<(u64, u64)>> = parts
        .iter()
        .map(|p| {
            let s = p.v.get("shard")?;
            Some((s.get("index")?.as_u64()?, s.get("count")?.as_u64()?))
        })
        .collect();
    if shards.iter().all(Option::is_none) {
        return Ok(());
    }
    if let Some(i) = shards.iter().position(Option::is_none) {
        return Err(format!("{} is not a shard's summary, but others are", parts[i].file));
    }
    let count = shards[0].map_or(0, |s| s.1);
    let mut seen: BTreeMap<u64, &str> = BTreeMap::new();
    for (p, s) in parts.iter().zip(&shards) {
        let (i, n) = s.unwrap_or_default();
        if n != count {
            return Err(format!("{} is shard {i} of {n}, {} of {count}", p.file, parts[0].file));
        }
        if let Some(other) = seen.insert(i, &p.file) {
            return Err(format!("{} and {other} are both shard {i}", p.file));
        }
    }
    let missing: Vec<String> = (0..count).filter(|i| !seen.contains_key(i)).map(|i| i.to_string()).collect();
    if !missing.is_empty() {
        return Err(format!("shards {} of {count} are missing; merge needs every shard's summary", missing.join(", ")));
    }
    Ok(())
}

/// Every summary ran the profile given to merge (its digest), with one selection, and
/// each run appears once; whole (unsharded) runs are not summed with each other: two of
/// them are two runs of the whole profile, not one. Returns the selection.
fn check_origin(parts: &[Part], plan: &Plan) -> Result<Selection, String> {
    for p in parts {
        let Some(d) = p.str("profile_digest") else {
            return Err(format!(
                "{}: no profile_digest (written by an older trafficgen?): cannot tell which profile it ran",
                p.file
            ));
        };
        if d != plan.profile_digest {
            return Err(format!(
                "{} ran another profile than {} ({d}, not {}); merge only summaries of the profile given to merge",
                p.file,
                plan.source.display(),
                plan.profile_digest
            ));
        }
    }
    let read = |p: &Part| -> Result<Selection, String> {
        let v = p.v.get("selection").cloned().ok_or_else(|| format!("{}: no selection", p.file))?;
        serde_json::from_value(v).map_err(|e| format!("{}: selection: {e}", p.file))
    };
    let first = read(&parts[0])?;
    for p in &parts[1..] {
        let s = read(p)?;
        if s != first {
            let show = |s: &Selection| serde_json::to_string(s).unwrap_or_default();
            return Err(format!(
                "{} and {} ran different selections ({} vs {}); merge only the shards of one run",
                parts[0].file,
                p.file,
                show(&first),
                show(&s)
            ));
        }
    }
    // `merge --users` must name what the runs ran, or nothing.
    if plan.selected_users.is_some() && plan.selected_users != first.users {
        return Err(format!(
            "merge --users {} but {} ran {}",
            plan.selected_users.as_deref().unwrap_or_default().join(","),
            parts[0].file,
            first.users.as_ref().map_or("every user".to_string(), |u| format!("--users {}", u.join(",")))
        ));
    }
    let mut runs: BTreeMap<&str, &str> = BTreeMap::new();
    for p in parts {
        let Some(id) = p.str("run_id") else {
            return Err(format!(
                "{}: no run_id (a merged summary, or an older trafficgen's): merge takes run summaries",
                p.file
            ));
        };
        if let Some(other) = runs.insert(id, &p.file) {
            return Err(format!("{} and {other} are the same run ({id}); give each shard's summary once", p.file));
        }
    }
    if first.shards.is_none() && parts.len() > 1 {
        let files: Vec<&str> = parts.iter().map(|p| p.file.as_str()).collect();
        return Err(format!(
            "{} are whole runs, not shards (--shard I/N): each already ran the whole selection, so their sum is no run; merge the shards of one run",
            files.join(", ")
        ));
    }
    Ok(first)
}

/// Every count the merge adds, summed first with checked_add: the users' counters (per
/// user and for the fleet) and each histogram's total. A sum beyond 64 bits is refused
/// with the field's name; wrapped to a small number it would pass `failures==0`.
fn check_sums(parts: &[Part]) -> Result<(), String> {
    let mut sums: BTreeMap<String, u64> = BTreeMap::new();
    let mut add = |file: &str, path: String, n: u64| -> Result<(), String> {
        let sum = sums.entry(path.clone()).or_insert(0);
        *sum = sum.checked_add(n).ok_or_else(|| {
            format!("{file}: {path}: the sum over the summaries does not fit in 64 bits; refusing rather than wrapping")
        })?;
        Ok(())
    };
    for p in parts {
        let users = p.v.get("users").and_then(Value::as_object).into_iter().flatten();
        for (id, u) in users {
            let mut leaves = Vec::new();
            whole_numbers(u, String::new(), &mut leaves);
            for (path, n) in leaves {
                add(&p.file, format!("users.{id}{path}"), n)?;
                add(&p.file, format!("totals{path}"), n)?;
            }
        }
        let mut leaves = Vec::new();
        whole_numbers(p.v.get("histograms").unwrap_or(&Value::Null), String::new(), &mut leaves);
        for (path, n) in leaves {
            // A bucket is [value, count]: its count adds to its histogram's total.
            if let Some(hist) = path.strip_suffix("[1]").and_then(|h| h.rsplit_once('[')).map(|(h, _)| h) {
                add(&p.file, format!("histograms{hist}"), n)?;
            }
        }
    }
    Ok(())
}

/// The whole numbers under `v`, by path (`.ops.upload.ok`, `.start_lag[3][1]`).
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

/// Timelines point by point: counts add; times, interval lengths and latency percentiles (`*_ms`) take the
/// largest shard's value (a percentile of a union is not a sum; the worst shard bounds it).
fn merge_points(timelines: impl Iterator<Item = Value>) -> Value {
    let mut out: Vec<Value> = Vec::new();
    for t in timelines {
        for (i, point) in t.as_array().into_iter().flatten().enumerate() {
            if i < out.len() {
                let mut acc = std::mem::take(&mut out[i]);
                add_value(&mut acc, point, "");
                out[i] = acc;
            } else {
                out.push(point.clone());
            }
        }
    }
    Value::Array(out)
}

fn add_value(acc: &mut Value, v: &Value, key: &str) {
    match (acc, v) {
        (Value::Object(a), Value::Object(b)) => {
            for (k, bv) in b {
                match a.get_mut(k) {
                    Some(av) => add_value(av, bv, k),
                    None => {
                        a.insert(k.clone(), bv.clone());
                    }
                }
            }
        }
        (acc @ Value::Number(_), Value::Number(b)) => {
            let (x, y) = (acc.as_f64().unwrap_or(0.0), b.as_f64().unwrap_or(0.0));
            let largest = key == "t_s" || key == "interval_s" || key.starts_with("sim") || key.ends_with("_ms");
            *acc = match (acc.as_u64(), b.as_u64()) {
                (Some(p), Some(q)) if !largest => Value::from(p + q),
                (Some(p), Some(q)) => Value::from(p.max(q)),
                _ if largest => Value::from(x.max(y)),
                _ => Value::from(x + y),
            };
        }
        (acc @ Value::Null, b) => *acc = b.clone(),
        _ => {}
    }
}

/// The host as the fleet's verdict weighs it: the longest saturation of any machine, and
/// its party ("other" if any machine was busy with other work, which no slot held back
/// explains), with that machine's figures.
fn fleet_host(parts: &[Part]) -> crate::model::host::HostReport {
    use crate::model::host::{HostReport, OtherProcess, Party};
    let mut h = HostReport::default();
    for p in parts {
        let (held, other) =
            (p.num(&["host", "saturated_s"]).unwrap_or(0.0), p.num(&["host", "other_busy_s"]).unwrap_or(0.0));
        if held.max(other) <= h.saturated_s.max(h.other_busy_s) {
            continue;
        }
        h.saturated_s = held;
        h.other_busy_s = other;
        h.party = match p.v.pointer("/host/party").and_then(Value::as_str) {
            Some("other") => Some(Party::Other),
            Some(_) => Some(Party::Trafficgen),
            None if held > 0.0 => Some(Party::Trafficgen),
            None => None,
        };
        h.own_cpu_share = p.num(&["host", "own_cpu_share"]);
        h.other_cpu_share = p.num(&["host", "other_cpu_share"]);
        h.cpu_busy = p.num(&["host", "cpu_busy"]);
        h.runnable = p.num(&["host", "runnable"]);
        h.cores = p.num(&["host", "cores"]).unwrap_or(0.0);
        h.others =
            p.v.pointer("/host/others")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(|o| {
                    Some(OtherProcess {
                        pid: u32::try_from(o.get("pid")?.as_u64()?).ok()?,
                        name: o.get("name")?.as_str()?.to_string(),
                        share: o.get("share")?.as_f64()?,
                    })
                })
                .collect();
    }
    h
}

/// The fleet was host-limited wherever one of its machines was.
fn merge_host(parts: &[Part]) -> Value {
    let saturated = parts.iter().filter_map(|p| p.num(&["host", "saturated_s"])).fold(0.0, f64::max);
    let warnings: Vec<String> = parts
        .iter()
        .filter_map(|p| p.v.pointer("/host/warning").and_then(Value::as_str).map(|w| format!("{}: {w}", p.file)))
        .collect();
    let mut by_reason = Value::Object(Map::new());
    for p in parts {
        if let Some(r) = p.v.pointer("/host/by_reason") {
            add_value(&mut by_reason, r, "");
        }
    }
    let fleet = fleet_host(parts);
    serde_json::json!({
        "saturated_s": saturated,
        "other_busy_s": fleet.other_busy_s,
        "party": fleet.party.map(crate::model::host::Party::name),
        "own_cpu_share": fleet.own_cpu_share,
        "other_cpu_share": fleet.other_cpu_share,
        "others": fleet.others,
        "cpu_busy": fleet.cpu_busy,
        "runnable": fleet.runnable,
        "cores": fleet.cores,
        "by_reason": by_reason,
        "warning": if warnings.is_empty() { Value::Null } else { Value::from(warnings.join("; ")) },
    })
}

/// The shards' telemetry windows added hour by hour: counts and each family's expected
/// and reported summed; a family mismatches in an hour when it does on any shard (each
/// shard judged its own children), is allowed or n/a when it is on any, else matches.
fn merge_windows<'a>(shards: impl Iterator<Item = &'a Value>) -> Value {
    let mut hours: BTreeMap<i64, Map<String, Value>> = BTreeMap::new();
    for t in shards {
        for w in t.get("windows").and_then(Value::as_array).into_iter().flatten() {
            let Some(start) = w.get("start_unix").and_then(Value::as_i64) else { continue };
            let acc = hours.entry(start).or_insert_with(|| {
                let mut m = Map::new();
                m.insert("start_unix".into(), Value::from(start));
                m.insert("families".into(), Value::Object(Map::new()));
                m
            });
            for key in ["children_ended", "children_reported", "lost_exports"] {
                let n =
                    acc.get(key).and_then(Value::as_u64).unwrap_or(0) + w.get(key).and_then(Value::as_u64).unwrap_or(0);
                acc.insert(key.into(), Value::from(n));
            }
            let Some(Value::Object(fams)) = acc.get_mut("families") else { continue };
            for (name, f) in w.get("families").and_then(Value::as_object).into_iter().flatten() {
                let cell = fams
                    .entry(name.clone())
                    .or_insert_with(|| serde_json::json!({"expected": 0.0, "reported": 0.0, "verdict": "match"}));
                for key in ["expected", "reported"] {
                    let x = cell[key].as_f64().unwrap_or(0.0) + f.get(key).and_then(Value::as_f64).unwrap_or(0.0);
                    cell[key] = Value::from(x);
                }
                cell["diff"] =
                    Value::from(cell["reported"].as_f64().unwrap_or(0.0) - cell["expected"].as_f64().unwrap_or(0.0));
                let rank = |v: &str| ["match", "n/a", "allowed", "MISMATCH"].iter().position(|x| *x == v).unwrap_or(0);
                let theirs = f.get("verdict").and_then(Value::as_str).unwrap_or("match");
                if rank(theirs) > rank(cell["verdict"].as_str().unwrap_or("match")) {
                    cell["verdict"] = Value::from(theirs);
                }
            }
        }
    }
    hours
        .into_values()
        .map(|mut w| {
            let bad = w
                .get("families")
                .and_then(Value::as_object)
                .map_or(0, |f| f.values().filter(|c| c["verdict"] == "MISMATCH").count());
            w.insert("mismatches".into(), Value::from(bad as u64));
            Value::Object(w)
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
        let a = json!({"windows": [w(3600, 5.0, 5.0, "match"), w(7200, 5.0, 4.0, "MISMATCH")]});
        let b = json!({"windows": [w(7200, 5.0, 5.0, "match"), w(10_800, 2.0, 2.0, "match")]});
        let m = merge_windows([&a, &b].into_iter());
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

    fn part(file: &str, v: Value) -> Part {
        Part { file: file.to_string(), v }
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
        assert!(check_origin(&twice, &p).unwrap_err().contains("the same run"));
        let whole = [part("a", run(&p, "1", None, None)), part("b", run(&p, "2", None, None))];
        assert!(check_origin(&whole, &p).unwrap_err().contains("not shards"));
        let alone = [part("a", run(&p, "1", None, Some(vec!["henry-ops"])))];
        assert_eq!(check_origin(&alone, &p).unwrap().users, Some(vec!["henry-ops".to_string()]));
        let mut other = run(&p, "2", Some(2), None);
        other["profile_digest"] = json!("sha256:00");
        let mixed = [part("a", run(&p, "1", Some(2), None)), part("b", other)];
        assert!(check_origin(&mixed, &p).unwrap_err().starts_with("b ran another profile"));
        let users = [part("a", run(&p, "1", Some(2), None)), part("b", run(&p, "2", Some(2), Some(vec!["x"])))];
        assert!(check_origin(&users, &p).unwrap_err().contains("different selections"));
        let mut henry = plan();
        henry.selected_users = Some(vec!["henry-ops".into()]);
        assert!(check_origin(&ok, &henry).unwrap_err().contains("merge --users henry-ops but a ran every user"));
        let old = [part("a", json!({"users": {}}))];
        assert!(check_origin(&old, &p).unwrap_err().contains("no profile_digest"));
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
        let merged = merge_host(&[part("b", json!({"host": {"other_busy_s": 3.0, "party": "other"}}))]);
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
        let e = check_sums(&[a, b]).unwrap_err();
        assert!(e.starts_with("b: totals.failures:") && e.contains("does not fit"), "{e}");
        let h = |n: u64| part("h", json!({"users": {}, "histograms": {"start_lag": [[10, n], [20, 1]]}}));
        assert!(check_sums(&[h(u64::MAX - 1), h(0)]).unwrap_err().contains("histograms.start_lag"));
        assert!(check_sums(&[h(5), h(6)]).is_ok());
        let mut leaves = Vec::new();
        whole_numbers(&json!({"a": [1, {"b": 2}], "c": 1.5, "d": "x"}), String::new(), &mut leaves);
        assert_eq!(leaves, [(".a[0]".to_string(), 1), (".a[1].b".to_string(), 2)]);
    }
}
