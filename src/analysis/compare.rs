//! Two runs' summaries compared operation by operation: latency percentiles, throughput
//! and failure rate on each side, the change between them and, under a regression limit,
//! why an operation regressed. Pure: the summaries in, a `model::compare::Comparison` out.

use std::collections::BTreeSet;

use crate::model::compare::{Change, Comparison, Limit, Row, Side};
use crate::model::counts::Latency;
use crate::model::summary::Summary;
use crate::model::verdict::Judgement;

/// One of the two runs: the name it is shown by (its file) and its summary.
pub struct Run<'a> {
    pub name: &'a str,
    pub summary: &'a Summary,
}

/// One operation in one run, as its summary has it.
fn side(summary: &Summary, op: &str) -> Side {
    let latency = summary.latency_ms.get(op);
    let counts = summary.ops.get(op);
    let count = latency.map(|l| l.count);
    let (ok, failed) = (counts.map(|c| c.ok), counts.map(|c| c.failed));
    let percentile = |stat: fn(&Latency) -> f64| match count {
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

/// The change from base to new in percent of the base; None without both, or with a base
/// of 0 (no percentage of nothing).
fn percent_change(base: Option<f64>, new: Option<f64>) -> Option<f64> {
    let (b, n) = (base?, new?);
    (b > 0.0).then(|| (n / b - 1.0) * 100.0)
}

/// Operations people look at first lead the table; the rest follow alphabetically.
const FIRST: &[&str] = &["upload", "download", "delete"];

/// Compares every operation that ran in either summary.
pub fn compare(base: Run, new: Run, limit: Option<Limit>) -> Comparison {
    let mut names = BTreeSet::new();
    for summary in [base.summary, new.summary] {
        names.extend(summary.latency_ms.keys().map(|k| k.to_string()));
        names.extend(summary.ops.keys().map(|k| k.to_string()));
    }
    let mut names: Vec<String> = names.into_iter().collect();
    names.sort_by_key(|n| (FIRST.iter().position(|f| f == n).unwrap_or(FIRST.len()), n.clone()));

    let mut rows = Vec::new();
    for op in names {
        let (b, n) = (side(base.summary, &op), side(new.summary, &op));
        if !b.ran() && !n.ran() {
            continue;
        }
        let change = Change {
            p50_pct: percent_change(b.p50_ms, n.p50_ms),
            p95_pct: percent_change(b.p95_ms, n.p95_ms),
            p99_pct: percent_change(b.p99_ms, n.p99_ms),
            ops_per_min_pct: percent_change(b.ops_per_min, n.ops_per_min),
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

/// Summaries to compare, shared with `output::compare`'s tests.
#[cfg(test)]
pub mod fixtures {
    use serde_json::{Value, json};

    use super::{Run, compare};
    use crate::model::compare::{Comparison, Limit, Row};
    use crate::model::summary::Summary;

    pub fn latency(count: u64, p50: f64, p95: f64, p99: f64) -> Value {
        json!({"count": count, "min_ms": p50 / 2.0, "mean_ms": p50, "p50_ms": p50, "p90_ms": p95, "p95_ms": p95, "p99_ms": p99, "max_ms": p99})
    }

    /// A whole summary with `v`'s top-level fields in place of its own.
    pub fn typed(v: &Value) -> Summary {
        let mut whole = serde_json::to_value(crate::analysis::summary::example(&crate::config::profile::shipped()))
            .expect("the example summary serializes");
        for (k, field) in v.as_object().expect("a summary object") {
            whole[k] = field.clone();
        }
        serde_json::from_value(whole).expect("a whole summary")
    }

    /// A summary with upload and download; `upload_p95` and `upload_ok` vary per test.
    pub fn summary(version: &str, upload_p95: f64, upload_ok: u64, upload_failed: u64) -> Value {
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

    /// A limit of `pct` percent, as `--max-regression {pct}%` gives it.
    pub fn limit(pct: f64) -> Limit {
        Limit { pct, text: format!("{pct}%"), fraction: pct / 100.0 }
    }

    pub fn run_cmp(base: &Value, new: &Value, limit_pct: Option<f64>) -> Comparison {
        let (base, new) = (typed(base), typed(new));
        compare(
            Run { name: "base.json", summary: &base },
            Run { name: "new.json", summary: &new },
            limit_pct.map(limit),
        )
    }

    /// A base run, and a new run of the same in which download no longer ran and `ls`
    /// ran for the first time.
    pub fn stopped_and_new() -> (Value, Value) {
        let base = summary("a", 4000.0, 100, 0);
        let mut new = summary("b", 4000.0, 100, 0);
        new["latency_ms"]["download"] = latency(0, 0.0, 0.0, 0.0);
        new["ops"]["download"] = json!({"ok": 0, "failed": 0});
        new["latency_ms"]["ls"] = latency(5, 10.0, 20.0, 30.0);
        (base, new)
    }

    pub fn row<'a>(c: &'a Comparison, op: &str) -> &'a Row {
        c.ops.iter().find(|r| r.op == op).unwrap_or_else(|| panic!("no row for {op}"))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::fixtures::*;
    use crate::model::verdict::Judgement;

    #[test]
    fn equal_runs_pass_and_never_run_ops_are_left_out() {
        let s = summary("obsctl 0.3.0", 4000.0, 100, 0);
        let c = run_cmp(&s, &s, Some(20.0));
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
        let c = run_cmp(&base, &summary("obsctl 0.3.1", 8000.0, 100, 0), Some(20.0));
        let up = row(&c, "upload");
        assert!(up.regressed && !c.passed);
        assert_eq!(up.reasons, ["p95 +100.0% > 20%"]);
        assert!(!row(&c, "download").regressed);

        let at = run_cmp(&base, &summary("obsctl 0.3.1", 4800.0, 100, 0), Some(20.0));
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
        let c = run_cmp(&empty("a"), &empty("b"), Some(20.0));
        assert_eq!((c.result, c.result.exit_code(), c.passed), (Judgement::Inconclusive, 4, false));
        // A base that ran nothing against a new run: nothing to compare either.
        let c = run_cmp(&empty("a"), &summary("b", 4000.0, 100, 0), Some(20.0));
        assert_eq!(c.result, Judgement::Inconclusive);
        // A new run that ran nothing, against a base that did: every op regressed.
        let c = run_cmp(&summary("a", 4000.0, 100, 0), &empty("b"), Some(20.0));
        assert_eq!(c.result, Judgement::Fail);
        let json = serde_json::to_value(run_cmp(&empty("a"), &empty("b"), Some(20.0))).unwrap();
        assert_eq!(json["result"], "INCONCLUSIVE");
    }

    #[test]
    fn throughput_drops_and_failure_points_are_judged() {
        let base = summary("a", 4000.0, 100, 0);
        // 70 ok of 100: throughput -30%, failure rate +30 points.
        let c = run_cmp(&base, &summary("b", 4000.0, 70, 30), Some(20.0));
        let up = row(&c, "upload");
        assert_eq!(up.reasons, ["ops/min -30.0% < -20%", "failures +30.00 pts > 20 pts"]);
        assert_eq!(c.regressions, 2);
        let relaxed = run_cmp(&base, &summary("b", 4000.0, 70, 30), Some(35.0));
        assert!(relaxed.passed);
    }

    #[test]
    fn an_op_that_stopped_running_regresses_and_a_new_one_does_not() {
        let (base, new) = stopped_and_new();
        let c = run_cmp(&base, &new, Some(20.0));
        assert_eq!(row(&c, "download").reasons, ["no longer ran"]);
        assert!(!row(&c, "ls").regressed);
        assert_eq!(row(&c, "ls").base.p95_ms, None);
    }

    #[test]
    fn older_summaries_without_counts_still_compare_latency() {
        let mut base = summary("a", 4000.0, 100, 0);
        // What a summary without counts reads as: no kind in `ops`, no dispatch time.
        base["ops"] = json!({});
        base["dispatch_s"] = json!(0.0);
        let c = run_cmp(&base, &summary("b", 9000.0, 100, 0), Some(20.0));
        let up = row(&c, "upload");
        assert_eq!(up.base.ops_per_min, None);
        assert_eq!(up.change.ops_per_min_pct, None);
        assert_eq!(up.reasons, ["p95 +125.0% > 20%"]);
        assert!(c.notes.iter().any(|n| n.contains("base.json has no ops counts")), "{:?}", c.notes);
    }

    #[test]
    fn the_json_form_has_the_documented_fields() {
        let c = run_cmp(&summary("a", 4000.0, 100, 0), &summary("b", 8000.0, 100, 0), Some(20.0));
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
    fn the_seed_mismatch_is_noted() {
        let base = summary("a", 4000.0, 100, 0);
        let mut new = base.clone();
        new["seed"] = json!(7);
        let c = run_cmp(&base, &new, None);
        assert!(c.notes.iter().any(|n| n.contains("seeds differ (42 vs 7)")), "{:?}", c.notes);
    }
}
