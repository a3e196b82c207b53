//! `trafficgen merge S1.json … SN.json`: the summaries of N shard processes (`--shard I/N`)
//! as one run. Counters are summed per user, latency distributions are re-recorded from
//! their buckets (exact, never averaged percentiles), and the summary, fidelity and
//! verdict are rebuilt by the same code a run uses, on the whole profile.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use crate::clock::TimeMap;
use crate::commands::{EXIT_RUN_FAILED, EXIT_USAGE};
use crate::plan::Plan;
use crate::report::{self, ClientInfo, RunFacts};
use crate::stats::{Counters, Histograms, Stats};
use crate::verdict::{self, threshold};

pub struct MergeArgs<'a> {
    pub files: &'a [PathBuf],
    pub summary_json: Option<&'a Path>,
    pub junit: Option<&'a Path>,
    pub thresholds: &'a [String],
}

pub fn run(plan: Plan, a: MergeArgs) -> i32 {
    match merge(plan, &a) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {}", crate::terminal::clean(&e.to_string()));
            EXIT_USAGE
        }
    }
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

fn merge(mut plan: Plan, a: &MergeArgs) -> Result<i32, String> {
    if plan.shard.is_some() {
        return Err("merge takes the whole profile; drop --shard (and JOB_COMPLETION_INDEX)".into());
    }
    for (flag, p) in [("--summary-json", a.summary_json), ("--junit", a.junit)] {
        if let Some(p) = p {
            crate::export::prepare(flag, p)?;
        }
    }
    let mut parts = Vec::new();
    for f in a.files {
        let text = std::fs::read_to_string(f).map_err(|e| format!("{}: cannot read it: {e}", f.display()))?;
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
        map,
        seed: first.v.get("seed").and_then(Value::as_u64).unwrap_or(0),
        client: ClientInfo {
            flavor: if text("flavor") == "aws" { "aws" } else { "obsctl" },
            binary: text("binary"),
            version: text("version"),
        },
        dispatch_s,
        duration_s: max(&["duration_s"]),
        stopped_by: if parts.iter().any(|p| p.str("stopped_by") == Some("signal")) { "signal" } else { "duration" },
    };
    let mut summary = report::summary(facts, &stats);
    summary.merged_from = parts.iter().map(|p| p.file.clone()).collect();

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
    let v = verdict::judge_by(&summary, &thresholds, |name| match name {
        "telemetry_mismatches" => telemetry_sum("mismatches"),
        "telemetry.lost_exports" => telemetry_sum("lost_exports"),
        "telemetry.out_of_contract" => outofcontract(),
        _ => verdict::lookup(&summary, name),
    });

    // Whatever the summaries hold, no escape sequence of theirs reaches the terminal.
    let clean = crate::terminal::clean;
    println!(
        "{}",
        clean(&report::table(
            &plan,
            &map,
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
    let code = v.exit_code;
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
        t.insert("per_shard".into(), parts.iter().map(|p| p.v["telemetry"].clone()).collect());
        out["telemetry"] = Value::Object(t);
    }
    let server: Vec<Value> = parts.iter().filter_map(|p| p.v.get("server_metrics").cloned()).collect();
    if server.iter().any(|s| !s.is_null()) {
        out["server_metrics"] = Value::Array(server);
    }
    if let Some(p) = a.summary_json {
        let text = serde_json::to_string_pretty(&out).map_err(|e| e.to_string())? + "\n";
        if let Err(e) = crate::export::write_atomic(p, &text) {
            eprintln!("error: cannot write {}: {e}", p.display());
            return Ok(EXIT_RUN_FAILED);
        }
        eprintln!("written: {}", p.display());
    }
    if let Some(p) = a.junit {
        if let Err(e) = crate::export::write_atomic(p, &crate::export::junit::from_summary(&summary)) {
            eprintln!("error: cannot write {}: {e}", p.display());
            return Ok(EXIT_RUN_FAILED);
        }
        eprintln!("written: {}", p.display());
    }
    Ok(code)
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
    serde_json::json!({
        "saturated_s": saturated,
        "by_reason": by_reason,
        "warning": if warnings.is_empty() { Value::Null } else { Value::from(warnings.join("; ")) },
    })
}
