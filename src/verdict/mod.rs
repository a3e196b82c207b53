//! The run's verdict: thresholds evaluated on the summary's numbers, plus integrity
//! (the client's word contradicted by the server), which fails a run whatever the
//! thresholds say. Decides exit code 3.

pub mod threshold;

use std::collections::BTreeMap;

use serde::Serialize;

use crate::events::{FailClass, OpType};
use crate::report::Summary;
use threshold::{Outcome, Threshold};

/// Exit code of a run whose verdict failed.
pub const EXIT_VERDICT_FAILED: i32 = 3;

#[derive(Debug, Clone, Serialize)]
pub struct Verdict {
    pub passed: bool,
    pub exit_code: i32,
    pub thresholds: Vec<Outcome>,
    /// Integrity failures by class; any of them fails the run.
    pub integrity: BTreeMap<&'static str, u64>,
    /// One line per reason the run failed, for people.
    pub reasons: Vec<String>,
}

/// A threshold's metric, read from a finished run's summary. None = not measured.
pub fn lookup(s: &Summary, name: &str) -> Option<f64> {
    let t = &s.totals.counters;
    let f = &s.fidelity;
    let count = |n: u64| Some(n as f64);
    let sum = |m: &BTreeMap<&'static str, u64>| m.values().sum::<u64>() as f64;
    match name {
        "failure_rate" => Some(s.failure_rate),
        "achieved_ratio" => (s.target_ops > 0.0).then(|| s.achieved_ops as f64 / s.target_ops),
        "shortfall_rate" => {
            let slots = t.started + t.shortfall;
            (slots > 0).then(|| t.shortfall as f64 / slots as f64)
        }
        "download_share_error" => f.download_share_error,
        "error_share_error" => f.error_share_error,
        "kind_share_error" => f.kind_share_error,
        "size_band_error" => f.size_band_error,
        "failures" => count(t.failures),
        "shortfall" => count(t.shortfall),
        "integrity_failures" => count(t.integrity_failures),
        "no_object" => count(t.no_object),
        "confirmed_uploads" => count(t.confirmed_uploads),
        "confirmed_deletes" => count(t.confirmed_deletes),
        "unconfirmed" => count(t.unconfirmed),
        "uploads" => count(t.uploads),
        "downloads" => count(t.downloads),
        "deletes" => count(t.deletes),
        "live_objects_at_exit" => count(s.live_objects_at_exit),
        "maybe_live_objects_at_exit" => count(s.maybe_live_objects_at_exit),
        "expected_failures.unexpected_success" => Some(sum(&t.unexpected_success)),
        "telemetry_mismatches" => s.telemetry.as_ref().map(|r| r.mismatches as f64),
        "telemetry.lost_exports" => s.telemetry.as_ref().map(|r| r.lost_exports as f64),
        "telemetry.out_of_contract" => s.telemetry.as_ref().map(|r| r.out_of_contract.len() as f64),
        "expected_failures.failed_as_expected" => Some(sum(&t.expected_failures)),
        _ => {
            let (head, stat) = name.split_once('.')?;
            if head == "integrity" {
                return t.integrity.get(stat).map(|n| *n as f64);
            }
            if head == "expected_failures" {
                return t.expected_failures.get(stat).map(|n| *n as f64);
            }
            if head == "start_lag" {
                return s.start_lag_ms.get(stat);
            }
            let op = OpType::from_name(head)?;
            let c = s.ops.get(op.name()).copied().unwrap_or_default();
            match stat {
                "count" => count(c.ok + c.failed),
                "failures" => count(c.failed),
                "failure_rate" => (c.ok + c.failed > 0).then(|| c.failed as f64 / (c.ok + c.failed) as f64),
                _ => s.latency_ms.get(op.name())?.get(stat),
            }
        }
    }
}

/// Evaluates the thresholds and the integrity classes of a finished run.
pub fn judge(s: &Summary, thresholds: &[Threshold]) -> Verdict {
    judge_by(s, thresholds, |name| lookup(s, name))
}

/// `judge` with the thresholds' values read through `value` (a merge reads a few of them
/// from the shards' summaries); integrity always from `s`.
pub fn judge_by(s: &Summary, thresholds: &[Threshold], value: impl Fn(&str) -> Option<f64>) -> Verdict {
    let outcomes = threshold::evaluate(thresholds, value);
    let mut reasons = Vec::new();
    for o in outcomes.iter().filter(|o| !o.passed) {
        let value = o.value.map_or("not measured".to_string(), |v| threshold::show(v, o.unit));
        reasons.push(format!("threshold {} failed: {value}", o.threshold));
    }
    let integrity: BTreeMap<&'static str, u64> =
        FailClass::INTEGRITY.iter().map(|c| (c.name(), s.integrity.get(c.name()).copied().unwrap_or(0))).collect();
    for (class, n) in &integrity {
        if *n > 0 {
            reasons.push(format!("integrity: {n} {class}"));
        }
    }
    // Objects this run stored after the journal failed could be left with nothing to
    // find them: never a silent pass.
    if let Some(e) = &s.journal_error {
        reasons.push(format!("state journal failed: {e}"));
    }
    let passed = reasons.is_empty();
    Verdict {
        passed,
        exit_code: if passed { 0 } else { EXIT_VERDICT_FAILED },
        thresholds: outcomes,
        integrity,
        reasons,
    }
}

/// The verdict as people read it at the end of a run.
pub fn render(v: &Verdict) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let _ = writeln!(out, "verdict: {}", if v.passed { "PASSED" } else { "FAILED (exit 3)" });
    for o in &v.thresholds {
        let value = o.value.map_or("not measured".to_string(), |x| threshold::show(x, o.unit));
        let _ = writeln!(out, "  {} {:<44} measured {value}", if o.passed { "ok  " } else { "FAIL" }, o.threshold);
    }
    for (class, n) in &v.integrity {
        let _ = writeln!(out, "  {} integrity.{class:<34} {n}", if *n == 0 { "ok  " } else { "FAIL" });
    }
    for r in v.reasons.iter().filter(|r| r.starts_with("state journal")) {
        let _ = writeln!(out, "  FAIL {r}");
    }
    out.trim_end().to_string()
}
