//! `trafficgen compare`'s table: the two runs named, the limit, the notes, three lines per
//! operation (base, new, change) and the verdict. Latencies are `output::units`'
//! milliseconds; the changes keep their sign and the failure rate two decimals, the
//! precision `--max-regression`'s reasons are given in.

use std::fmt::Write;

use crate::model::compare::Comparison;
use crate::model::summary::Summary;
use crate::model::verdict::Judgement;
use crate::output::units::millis_of;

/// Said under every comparison table: two runs differ by more than their builds.
pub const DRIFT_NOTE: &str = "note: separate runs carry drift (time of day, server state, machine noise); to compare two client builds, interleave them in one run: trafficgen ab --a OLD --b NEW";

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
pub fn table(c: &Comparison, base: &Summary, new: &Summary) -> String {
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
    use serde_json::json;

    use super::*;
    use crate::analysis::compare::fixtures::*;

    #[test]
    fn the_verdict_names_every_regression_and_inconclusive_says_so() {
        let base = summary("obsctl 0.3.0", 4000.0, 100, 0);
        let c = run_cmp(&base, &summary("obsctl 0.3.1", 8000.0, 100, 0), Some(20.0));
        assert!(verdict(&c).contains("1 regression beyond 20%: upload p95 +100.0% > 20%"), "{}", verdict(&c));
        let mut empty = summary("a", 4000.0, 0, 0);
        empty["latency_ms"]["download"] = latency(0, 0.0, 0.0, 0.0);
        empty["ops"]["download"] = json!({"ok": 0, "failed": 0});
        let c = run_cmp(&empty, &empty, Some(20.0));
        assert!(verdict(&c).contains("INCONCLUSIVE"), "{}", verdict(&c));
    }

    #[test]
    fn an_op_that_stopped_running_and_a_new_one_are_said_so() {
        let (base, new) = stopped_and_new();
        let c = run_cmp(&base, &new, Some(20.0));
        let text = table(&c, &typed(&base), &typed(&new));
        assert!(text.contains("no longer ran") && text.contains("new in this run"), "{text}");
        assert!(text.lines().all(|l| l.chars().count() <= 100), "{text}");
    }

    #[test]
    fn the_table_reads_and_fits() {
        let base = summary("obsctl 0.3.0", 4000.0, 100, 0);
        let new = summary("obsctl 0.3.1", 5250.0, 100, 0);
        let c = run_cmp(&base, &new, Some(20.0));
        let text = table(&c, &typed(&base), &typed(&new));
        assert!(text.contains("base base.json (obsctl 0.3.0, seed 42, 600 s of traffic)"), "{text}");
        assert!(text.contains("+31.2%") && text.contains("<< regression"), "{text}");
        assert!(text.ends_with("verdict: 1 regression beyond 20%: upload p95 +31.2% > 20%\n"), "{text}");
        assert!(text.lines().all(|l| l.chars().count() <= 100), "{text}");
        let same = run_cmp(&base, &base, Some(20.0));
        assert!(table(&same, &typed(&base), &typed(&base)).ends_with("verdict: no regression beyond 20%\n"));
    }
}
