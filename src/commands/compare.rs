//! `trafficgen compare BASE.json NEW.json`: per-operation latency, throughput and failure
//! rate of two runs side by side, e.g. obsctl N-1 against N under the same seed and
//! profile, optionally failing when the new run is worse by more than a limit.
//!
//! Summaries are read typed (`model::summary::from_json`): one of another schema version
//! is refused naming both versions, rather than compared on whatever fields happen to match.

use std::collections::BTreeSet;
use std::fmt::Write;
use std::path::Path;

use serde::Serialize;

use crate::cli::CompareArgs;
use crate::model::error::Error;
use crate::model::summary::{Summary, from_json};
use crate::model::units::Percent;
use crate::model::verdict::Judgement;
use crate::output::units::millis_of;

/// Exit codes: 0 compared (and within the limit), 3 a regression beyond --max-regression,
/// 4 inconclusive (with --max-regression, no operation ran in both runs: nothing was
/// compared, which is not a pass), 2 unreadable or invalid input or a bad
/// --max-regression (message on stderr).
pub fn run(args: &CompareArgs) -> Result<Judgement, Error> {
    let limit = args.max_regression.map(Limit::from);
    // `compare A B > A` has emptied A before compare started: say so, not "invalid JSON".
    crate::output::export::check_distinct(&[("BASE.json", &args.base), ("NEW.json", &args.new)], &[])?;
    // Both files are read (size-capped) before either is parsed, so a file too large is
    // named even beside one that is not a summary.
    let loaded = read(&args.base).and_then(|b| Ok((b, read(&args.new)?))).and_then(|(b, n)| {
        let base = parse(&args.base, &b)?;
        Ok((base, parse(&args.new, &n)?))
    });
    let (base, new) = match loaded {
        Ok(both) => both,
        Err(e) => return Err(Error::Usage(crate::model::terminal::clean(&e.to_string()))),
    };
    let (base_name, new_name) = (args.base.display().to_string(), args.new.display().to_string());
    let c = compare(Run { name: &base_name, summary: &base }, Run { name: &new_name, summary: &new }, limit);
    if args.json {
        match serde_json::to_string_pretty(&c) {
            Ok(text) => println!("{text}"),
            Err(e) => return Err(Error::Usage(format!("cannot write the comparison as JSON: {e}"))),
        }
    } else {
        // Names and texts in a summary are its author's: no escape sequence of theirs
        // reaches the terminal.
        print!("{}", crate::model::terminal::clean(&table(&c, &base, &new)));
        println!("{DRIFT_NOTE}");
    }
    Ok(c.result)
}

/// Said under every comparison table: two runs differ by more than their builds.
pub const DRIFT_NOTE: &str = "note: separate runs carry drift (time of day, server state, machine noise); to compare two client builds, interleave them in one run: trafficgen ab --a OLD --b NEW";

/// The regression limit: `20%` allows latencies +20%, throughput −20%, failure rate +20
/// points.
#[derive(Debug, Clone)]
struct Limit {
    /// In percent (20 for `20%`), the unit the changes are computed in.
    pct: f64,
    /// As written, for messages.
    text: String,
    /// As a fraction (0.2), for the JSON output.
    fraction: f64,
}

impl From<Percent> for Limit {
    fn from(p: Percent) -> Limit {
        Limit { pct: p.percent(), text: p.to_string(), fraction: p.fraction() }
    }
}

#[cfg(test)]
impl Limit {
    fn parse(text: &str) -> Result<Limit, String> {
        text.parse::<Percent>().map(Limit::from)
    }
}

/// A summary's text, size-capped, naming the file in every error.
fn read(path: &Path) -> Result<String, String> {
    crate::output::export::read_summary(path).map_err(String::from)
}

/// A summary, typed; the error names the file (and both versions for another schema).
fn parse(path: &Path, text: &str) -> Result<Summary, String> {
    from_json(text).map_err(|e| e.describe(&path.display().to_string()))
}

struct Run<'a> {
    name: &'a str,
    summary: &'a Summary,
}

/// One operation in one run. Latencies are None when the operation never ran; throughput
/// and failure rate are None when the summary lacks the counts (no such kind in `ops`).
#[derive(Debug, Clone, Default, Serialize)]
struct Side {
    count: u64,
    p50_ms: Option<f64>,
    p95_ms: Option<f64>,
    p99_ms: Option<f64>,
    ok: Option<u64>,
    failed: Option<u64>,
    ops_per_min: Option<f64>,
    failure_rate: Option<f64>,
}

impl Side {
    fn read(summary: &Summary, op: &str) -> Side {
        let latency = summary.latency_ms.get(op);
        let counts = summary.ops.get(op);
        let count = latency.map(|l| l.count);
        let (ok, failed) = (counts.map(|c| c.ok), counts.map(|c| c.failed));
        let percentile = |stat: fn(&crate::model::counts::Latency) -> f64| match count {
            Some(0) => None,
            _ => latency.map(stat),
        };
        let dispatch_s = Some(summary.dispatch_s).filter(|s| *s > 0.0);
        let attempts = ok.zip(failed).map(|(o, f)| o.saturating_add(f));
        Side {
            count: count.or(attempts).unwrap_or(0),
            p50_ms: percentile(|l| l.p50_ms),
            p95_ms: percentile(|l| l.p95_ms),
            p99_ms: percentile(|l| l.p99_ms),
            ok,
            failed,
            ops_per_min: ok.zip(dispatch_s).map(|(o, s)| o as f64 * 60.0 / s),
            failure_rate: failed.zip(attempts).filter(|(_, a)| *a > 0).map(|(f, a)| f as f64 / a as f64),
        }
    }

    fn ran(&self) -> bool {
        self.count > 0 || self.ok.unwrap_or(0) + self.failed.unwrap_or(0) > 0
    }
}

/// New against base: percent for latencies and throughput, percentage points for the
/// failure rate. None when either side lacks the value or the base is 0 (no percentage).
#[derive(Debug, Clone, Default, Serialize)]
struct Change {
    p50_pct: Option<f64>,
    p95_pct: Option<f64>,
    p99_pct: Option<f64>,
    ops_per_min_pct: Option<f64>,
    failure_rate_points: Option<f64>,
}

fn pct(base: Option<f64>, new: Option<f64>) -> Option<f64> {
    let (b, n) = (base?, new?);
    (b > 0.0).then(|| (n / b - 1.0) * 100.0)
}

#[derive(Debug, Serialize)]
struct Row {
    op: String,
    base: Side,
    new: Side,
    change: Change,
    regressed: bool,
    reasons: Vec<String>,
}

#[derive(Debug, Serialize)]
struct Comparison {
    base: String,
    new: String,
    /// As a fraction (0.2 for 20%), null without --max-regression.
    max_regression: Option<f64>,
    ops: Vec<Row>,
    /// How many reasons across all rows (one operation can regress in several ways).
    regressions: usize,
    /// True only for PASS.
    passed: bool,
    /// PASS, FAIL (a regression beyond the limit) or INCONCLUSIVE (a limit was given but
    /// no operation ran in both runs); PASS without a limit (nothing judged).
    result: Judgement,
    /// Things that make the comparison less meaningful (different seeds, missing fields).
    notes: Vec<String>,
    #[serde(skip)]
    limit: Option<Limit>,
}

/// Operations people look at first lead the table; the rest follow alphabetically.
const FIRST: &[&str] = &["upload", "download", "delete"];

/// Compares every operation that ran in either summary.
fn compare(base: Run, new: Run, limit: Option<Limit>) -> Comparison {
    let mut names = BTreeSet::new();
    for summary in [base.summary, new.summary] {
        names.extend(summary.latency_ms.keys().map(|k| k.to_string()));
        names.extend(summary.ops.keys().map(|k| k.to_string()));
    }
    let mut names: Vec<String> = names.into_iter().collect();
    names.sort_by_key(|n| (FIRST.iter().position(|f| f == n).unwrap_or(FIRST.len()), n.clone()));

    let mut rows = Vec::new();
    for op in names {
        let (b, n) = (Side::read(base.summary, &op), Side::read(new.summary, &op));
        if !b.ran() && !n.ran() {
            continue;
        }
        let change = Change {
            p50_pct: pct(b.p50_ms, n.p50_ms),
            p95_pct: pct(b.p95_ms, n.p95_ms),
            p99_pct: pct(b.p99_ms, n.p99_ms),
            ops_per_min_pct: pct(b.ops_per_min, n.ops_per_min),
            failure_rate_points: b.failure_rate.zip(n.failure_rate).map(|(b, n)| (n - b) * 100.0),
        };
        let reasons = match &limit {
            Some(limit) => judge(&b, &n, &change, limit),
            None => Vec::new(),
        };
        rows.push(Row { op, base: b, new: n, change, regressed: !reasons.is_empty(), reasons });
    }

    let mut notes = Vec::new();
    let (s1, s2) = (base.summary.seed, new.summary.seed);
    if s1 != s2 {
        notes.push(format!("the seeds differ ({s1} vs {s2}), so the runs did not replay the same traffic"));
    }
    for r in [&base, &new] {
        if r.summary.dispatch_s <= 0.0 {
            notes.push(format!("{} has no dispatch_s, so its ops/min is not known", r.name));
        }
        if r.summary.ops.is_empty() {
            notes.push(format!("{} has no ops counts: no ops/min or failure rates", r.name));
        }
    }
    let regressions = rows.iter().map(|r| r.reasons.len()).sum();
    // The same rule as a run's verdict: nothing measured on both sides is not a pass.
    let compared = rows.iter().any(|r| r.base.ran() && r.new.ran());
    let result = match (&limit, regressions, compared) {
        (None, _, _) => Judgement::Pass,
        (Some(_), 1.., _) => Judgement::Fail,
        (Some(_), 0, false) => Judgement::Inconclusive,
        (Some(_), 0, true) => Judgement::Pass,
    };
    if result == Judgement::Inconclusive {
        notes.push("no operation ran in both runs: nothing was compared".to_string());
    }
    Comparison {
        base: base.name.to_string(),
        new: new.name.to_string(),
        max_regression: limit.as_ref().map(|l| l.fraction),
        ops: rows,
        regressions,
        passed: result == Judgement::Pass,
        result,
        notes,
        limit,
    }
}

/// Why one operation regressed beyond the limit; empty when it did not. Values the
/// summaries lack are not judged: missing data is reported in the notes, not as a regression.
fn judge(b: &Side, n: &Side, c: &Change, limit: &Limit) -> Vec<String> {
    if b.ran() && !n.ran() {
        return vec!["no longer ran".to_string()];
    }
    // A hair of slack so a change of exactly the limit, computed in floating point,
    // does not count as beyond it.
    let (max, eps) = (limit.pct, 1e-9);
    let mut reasons = Vec::new();
    for (label, change) in [("p50", c.p50_pct), ("p95", c.p95_pct), ("p99", c.p99_pct)] {
        if let Some(v) = change.filter(|v| *v > max + eps) {
            reasons.push(format!("{label} {v:+.1}% > {}", limit.text));
        }
    }
    if let Some(v) = c.ops_per_min_pct.filter(|v| *v < -max - eps) {
        reasons.push(format!("ops/min {v:+.1}% < -{}", limit.text));
    }
    if let Some(v) = c.failure_rate_points.filter(|v| *v > max + eps) {
        reasons.push(format!("failures {v:+.2} pts > {} pts", limit.pct));
    }
    reasons
}

/// "obsctl 0.3.1, seed 42" from what the summary has.
fn describe(summary: &Summary) -> String {
    let client = &summary.client;
    let mut parts = Vec::new();
    if let Some(c) = [&client.version, &client.flavor].into_iter().find(|s| !s.is_empty()) {
        parts.push(c.to_string());
    }
    parts.push(format!("seed {}", summary.seed));
    parts.push(format!("{:.0} s of traffic", summary.dispatch_s));
    format!(" ({})", parts.join(", "))
}

fn per_min(v: Option<f64>) -> String {
    v.map_or("-".to_string(), |v| format!("{v:.1}"))
}

fn rate(v: Option<f64>) -> String {
    v.map_or("-".to_string(), |v| format!("{:.2}%", v * 100.0))
}

fn change_pct(v: Option<f64>) -> String {
    v.map_or("-".to_string(), |v| format!("{v:+.1}%"))
}

fn points(v: Option<f64>) -> String {
    v.map_or("-".to_string(), |v| format!("{v:+.2}pt"))
}

const OP_W: usize = 22;
const COL_W: usize = 10;

/// Three lines per operation (base, new, change) keep the table within 100 columns even
/// for the longest operation names.
fn table(c: &Comparison, base: &Summary, new: &Summary) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "compare: base {}{}", c.base, describe(base));
    let _ = writeln!(out, "         new  {}{}", c.new, describe(new));
    match &c.limit {
        Some(l) => {
            let _ = writeln!(out, "max regression: {} (latency, ops/min; failure rate in points)", l.text);
        }
        None => out.push_str("max regression: not set (report only)\n"),
    }
    for note in &c.notes {
        let _ = writeln!(out, "note: {note}");
    }
    out.push('\n');
    let _ = writeln!(
        out,
        "{:<OP_W$}{:<7}{:>COL_W$}{:>COL_W$}{:>COL_W$}{:>COL_W$}{:>COL_W$}",
        "op", "run", "p50 ms", "p95 ms", "p99 ms", "ops/min", "failures"
    );
    for row in &c.ops {
        for (label, side) in [("base", &row.base), ("new", &row.new)] {
            let op = if label == "base" { row.op.as_str() } else { "" };
            let _ = writeln!(
                out,
                "{op:<OP_W$}{label:<7}{:>COL_W$}{:>COL_W$}{:>COL_W$}{:>COL_W$}{:>COL_W$}",
                millis_of(side.p50_ms),
                millis_of(side.p95_ms),
                millis_of(side.p99_ms),
                per_min(side.ops_per_min),
                rate(side.failure_rate)
            );
        }
        let mark = if row.regressed { "  << regression" } else { "" };
        let ch = &row.change;
        let line = match (row.base.ran(), row.new.ran()) {
            (true, false) => "no longer ran".to_string(),
            (false, true) => "new in this run".to_string(),
            _ => format!(
                "{:>COL_W$}{:>COL_W$}{:>COL_W$}{:>COL_W$}{:>COL_W$}",
                change_pct(ch.p50_pct),
                change_pct(ch.p95_pct),
                change_pct(ch.p99_pct),
                change_pct(ch.ops_per_min_pct),
                points(ch.failure_rate_points)
            ),
        };
        let _ = writeln!(out, "{:<OP_W$}{:<7}{line}{mark}", "", "change");
    }
    if c.ops.is_empty() {
        out.push_str("(no operation ran in either run)\n");
    }
    out.push('\n');
    let _ = writeln!(out, "{}", verdict(c));
    out
}

fn verdict(c: &Comparison) -> String {
    let Some(limit) = &c.limit else {
        return "verdict: not judged; pass --max-regression (e.g. 20%) to fail on regressions".to_string();
    };
    if c.result == Judgement::Inconclusive {
        return "verdict: INCONCLUSIVE (exit 4): no operation ran in both runs, so nothing was compared".to_string();
    }
    if c.regressions == 0 {
        return format!("verdict: no regression beyond {}", limit.text);
    }
    let all: Vec<String> =
        c.ops.iter().flat_map(|r| r.reasons.iter().map(move |reason| format!("{} {reason}", r.op))).collect();
    let noun = if c.regressions == 1 { "regression" } else { "regressions" };
    format!("verdict: {} {noun} beyond {}: {}", c.regressions, limit.text, all.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    fn latency(count: u64, p50: f64, p95: f64, p99: f64) -> Value {
        json!({"count": count, "min_ms": p50 / 2.0, "mean_ms": p50, "p50_ms": p50, "p90_ms": p95, "p95_ms": p95, "p99_ms": p99, "max_ms": p99})
    }

    /// A whole summary with `v`'s top-level fields in place of its own.
    fn typed(v: &Value) -> Summary {
        let mut whole = serde_json::to_value(crate::analysis::summary::example(&crate::config::profile::shipped()))
            .expect("the example summary serializes");
        for (k, field) in v.as_object().expect("a summary object") {
            whole[k] = field.clone();
        }
        serde_json::from_value(whole).expect("a whole summary")
    }

    /// A summary with upload and download; `upload_p95` and `upload_ok` vary per test.
    fn summary(version: &str, upload_p95: f64, upload_ok: u64, upload_failed: u64) -> Value {
        json!({
            "seed": 42,
            "dispatch_s": 600.0,
            "client": {"flavor": "obsctl", "binary": "obsctl", "version": version},
            "latency_ms": {
                "upload": latency(upload_ok + upload_failed, 2000.0, upload_p95, 5000.0),
                "download": latency(50, 300.0, 800.0, 900.0),
                "delete": latency(0, 0.0, 0.0, 0.0),
            },
            "ops": {
                "upload": {"ok": upload_ok, "failed": upload_failed},
                "download": {"ok": 50, "failed": 0},
                "delete": {"ok": 0, "failed": 0},
            }
        })
    }

    fn run_cmp(base: &Value, new: &Value, limit: Option<&str>) -> Comparison {
        let limit = limit.map(|l| Limit::parse(l).unwrap());
        let (base, new) = (typed(base), typed(new));
        compare(Run { name: "base.json", summary: &base }, Run { name: "new.json", summary: &new }, limit)
    }

    fn row<'a>(c: &'a Comparison, op: &str) -> &'a Row {
        c.ops.iter().find(|r| r.op == op).unwrap_or_else(|| panic!("no row for {op}"))
    }

    #[test]
    fn equal_runs_pass_and_never_run_ops_are_left_out() {
        let s = summary("obsctl 0.3.0", 4000.0, 100, 0);
        let c = run_cmp(&s, &s, Some("20%"));
        assert!(c.passed && c.regressions == 0);
        let ops: Vec<&str> = c.ops.iter().map(|r| r.op.as_str()).collect();
        assert_eq!(ops, ["upload", "download"]);
        let up = row(&c, "upload");
        assert_eq!(up.change.p95_pct, Some(0.0));
        assert_eq!(up.base.ops_per_min, Some(10.0));
        assert_eq!(up.change.failure_rate_points, Some(0.0));
        assert_eq!(c.max_regression, Some(0.2));
    }

    #[test]
    fn a_latency_growth_beyond_the_limit_regresses_and_at_the_limit_does_not() {
        let base = summary("obsctl 0.3.0", 4000.0, 100, 0);
        let c = run_cmp(&base, &summary("obsctl 0.3.1", 8000.0, 100, 0), Some("20%"));
        let up = row(&c, "upload");
        assert!(up.regressed && !c.passed);
        assert_eq!(up.reasons, ["p95 +100.0% > 20%"]);
        assert!(!row(&c, "download").regressed);
        assert!(verdict(&c).contains("1 regression beyond 20%: upload p95 +100.0% > 20%"), "{}", verdict(&c));

        let at = run_cmp(&base, &summary("obsctl 0.3.1", 4800.0, 100, 0), Some("20%"));
        assert!(at.passed, "{:?}", row(&at, "upload").reasons);

        let unjudged = run_cmp(&base, &summary("obsctl 0.3.1", 8000.0, 100, 0), None);
        assert!(unjudged.passed && !row(&unjudged, "upload").regressed);
        assert_eq!(row(&unjudged, "upload").change.p95_pct, Some(100.0));
        assert_eq!(unjudged.max_regression, None);
    }

    #[test]
    fn nothing_ran_in_both_runs_is_inconclusive_not_a_pass() {
        let empty = |v: &str| {
            let mut s = summary(v, 4000.0, 0, 0);
            s["latency_ms"]["download"] = latency(0, 0.0, 0.0, 0.0);
            s["ops"]["download"] = json!({"ok": 0, "failed": 0});
            s
        };
        let c = run_cmp(&empty("a"), &empty("b"), Some("20%"));
        assert_eq!((c.result, c.result.exit_code(), c.passed), (Judgement::Inconclusive, 4, false));
        assert!(verdict(&c).contains("INCONCLUSIVE"), "{}", verdict(&c));
        // A base that ran nothing against a new run: nothing to compare either.
        let c = run_cmp(&empty("a"), &summary("b", 4000.0, 100, 0), Some("20%"));
        assert_eq!(c.result, Judgement::Inconclusive);
        // A new run that ran nothing, against a base that did: every op regressed.
        let c = run_cmp(&summary("a", 4000.0, 100, 0), &empty("b"), Some("20%"));
        assert_eq!(c.result, Judgement::Fail);
        let json = serde_json::to_value(run_cmp(&empty("a"), &empty("b"), Some("20%"))).unwrap();
        assert_eq!(json["result"], "INCONCLUSIVE");
    }

    #[test]
    fn throughput_drops_and_failure_points_are_judged() {
        let base = summary("a", 4000.0, 100, 0);
        // 70 ok of 100: throughput -30%, failure rate +30 points.
        let c = run_cmp(&base, &summary("b", 4000.0, 70, 30), Some("20%"));
        let up = row(&c, "upload");
        assert_eq!(up.reasons, ["ops/min -30.0% < -20%", "failures +30.00 pts > 20 pts"]);
        assert_eq!(c.regressions, 2);
        let relaxed = run_cmp(&base, &summary("b", 4000.0, 70, 30), Some("35%"));
        assert!(relaxed.passed);
    }

    #[test]
    fn an_op_that_stopped_running_regresses_and_a_new_one_does_not() {
        let base = summary("a", 4000.0, 100, 0);
        let mut new = summary("b", 4000.0, 100, 0);
        new["latency_ms"]["download"] = latency(0, 0.0, 0.0, 0.0);
        new["ops"]["download"] = json!({"ok": 0, "failed": 0});
        new["latency_ms"]["ls"] = latency(5, 10.0, 20.0, 30.0);
        let c = run_cmp(&base, &new, Some("20%"));
        assert_eq!(row(&c, "download").reasons, ["no longer ran"]);
        assert!(!row(&c, "ls").regressed);
        assert_eq!(row(&c, "ls").base.p95_ms, None);
        let text = table(&c, &typed(&base), &typed(&new));
        assert!(text.contains("no longer ran") && text.contains("new in this run"), "{text}");
        assert!(text.lines().all(|l| l.chars().count() <= 100), "{text}");
    }

    #[test]
    fn older_summaries_without_counts_still_compare_latency() {
        let mut base = summary("a", 4000.0, 100, 0);
        // What a summary without counts reads as: no kind in `ops`, no dispatch time.
        base["ops"] = json!({});
        base["dispatch_s"] = json!(0.0);
        let c = run_cmp(&base, &summary("b", 9000.0, 100, 0), Some("20%"));
        let up = row(&c, "upload");
        assert_eq!(up.base.ops_per_min, None);
        assert_eq!(up.change.ops_per_min_pct, None);
        assert_eq!(up.reasons, ["p95 +125.0% > 20%"]);
        assert!(c.notes.iter().any(|n| n.contains("base.json has no ops counts")), "{:?}", c.notes);
    }

    #[test]
    fn the_json_form_has_the_documented_fields() {
        let c = run_cmp(&summary("a", 4000.0, 100, 0), &summary("b", 8000.0, 100, 0), Some("20%"));
        let v = serde_json::to_value(&c).unwrap();
        assert_eq!((v["base"].as_str(), v["new"].as_str()), (Some("base.json"), Some("new.json")));
        assert_eq!(v["max_regression"], 0.2);
        assert_eq!(v["passed"], false);
        assert_eq!(v["regressions"], 1);
        let up = &v["ops"][0];
        assert_eq!(up["op"], "upload");
        assert_eq!(up["regressed"], true);
        assert_eq!(up["base"]["p95_ms"], 4000.0);
        assert_eq!(up["new"]["p95_ms"], 8000.0);
        assert_eq!(up["change"]["p95_pct"], 100.0);
        assert!(up["reasons"].is_array() && v.get("limit").is_none());
    }

    #[test]
    fn the_table_reads_and_fits() {
        let base = summary("obsctl 0.3.0", 4000.0, 100, 0);
        let new = summary("obsctl 0.3.1", 5250.0, 100, 0);
        let c = run_cmp(&base, &new, Some("20%"));
        let text = table(&c, &typed(&base), &typed(&new));
        assert!(text.contains("base base.json (obsctl 0.3.0, seed 42, 600 s of traffic)"), "{text}");
        assert!(text.contains("+31.2%") && text.contains("<< regression"), "{text}");
        assert!(text.ends_with("verdict: 1 regression beyond 20%: upload p95 +31.2% > 20%\n"), "{text}");
        assert!(text.lines().all(|l| l.chars().count() <= 100), "{text}");
        let same = run_cmp(&base, &base, Some("20%"));
        assert!(table(&same, &typed(&base), &typed(&base)).ends_with("verdict: no regression beyond 20%\n"));
    }

    #[test]
    fn limits_must_be_percentages() {
        let l = Limit::parse(" 12.5 % ").unwrap();
        assert_eq!((l.pct, l.fraction, l.text.as_str()), (12.5, 0.125, "12.5%"));
        assert_eq!(Limit::parse("7%").unwrap().fraction, 0.07);
        assert!(Limit::parse("20").unwrap_err().contains("such as 20%"));
        assert!(Limit::parse("-5%").is_err());
        assert!(Limit::parse("lots%").is_err());
        assert!(Limit::parse("inf%").is_err());
    }

    #[test]
    fn the_seed_mismatch_is_noted() {
        let base = summary("a", 4000.0, 100, 0);
        let mut new = base.clone();
        new["seed"] = json!(7);
        let c = run_cmp(&base, &new, None);
        assert!(c.notes.iter().any(|n| n.contains("seeds differ (42 vs 7)")), "{:?}", c.notes);
    }
}
