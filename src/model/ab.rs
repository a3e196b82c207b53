//! What `trafficgen ab` found, as plain data: the statistics (`analysis::abstats`)
//! fill it, the command judges it, and the outputs (terminal, markdown, JUnit, HTML,
//! JSON) draw it without importing the layers that made it.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::model::events::{Build, FailClass, OpType, SizeClass};
use crate::model::verdict::Judgement;

/// One command as `ab` needs it: `work::ab` records one per command each build ran,
/// `analysis::ab` judges them.
#[derive(Debug, Clone)]
pub struct Sample {
    pub build: Build,
    pub op: OpType,
    pub class: SizeClass,
    pub seconds: f64,
    /// When it ended, in seconds since the first operation was dealt (the server's
    /// readings are timed the same way).
    pub end_s: f64,
    pub result: Result<(), FailClass>,
}

/// What `ab` judges with: `--tolerance` and `--max-failure-delta` as fractions, the
/// bootstrap's resamples and seed. Shared by the latency and the telemetry comparisons.
#[derive(Debug, Clone, Copy)]
pub struct Settings {
    pub tolerance: f64,
    pub max_delta: f64,
    pub resamples: usize,
    pub seed: u64,
}

/// What the bootstrap found for one comparison of latencies.
#[derive(Debug, Clone, Serialize)]
pub struct Shift {
    pub n_a: usize,
    pub n_b: usize,
    pub median_a: f64,
    pub median_b: f64,
    pub p95_a: f64,
    pub p95_b: f64,
    /// Hodges-Lehmann shift B − A of the latencies themselves, seconds.
    pub hl: f64,
    /// The shift relative to A's median (0.10 = B 10 % slower), with its 95 % interval.
    pub rel: f64,
    pub rel_lo: f64,
    pub rel_hi: f64,
    /// IQR(B) / IQR(A), with its 95 % interval (noisiness).
    pub iqr_ratio: f64,
    pub iqr_lo: f64,
    pub iqr_hi: f64,
    /// Two-sided Mann-Whitney p (uncorrected; `ab` applies Holm across comparisons).
    pub p: f64,
}

/// Failure counts of one comparison and their verdict.
#[derive(Debug, Clone, Serialize)]
pub struct Failures {
    pub failed_a: u64,
    pub total_a: u64,
    pub failed_b: u64,
    pub total_b: u64,
    /// One-sided Fisher p that B fails more often.
    pub p: f64,
}

impl Failures {
    pub fn rate_a(&self) -> f64 {
        rate(self.failed_a, self.total_a)
    }
    pub fn rate_b(&self) -> f64 {
        rate(self.failed_b, self.total_b)
    }
}

fn rate(f: u64, n: u64) -> f64 {
    if n == 0 { 0.0 } else { f as f64 / n as f64 }
}

/// One comparison: an operation kind and size class, A against B.
#[derive(Debug, Clone, Serialize)]
pub struct Comparison {
    pub op: &'static str,
    pub size_class: &'static str,
    pub shift: Option<Shift>,
    /// Mann-Whitney p after Holm's correction across every comparison of the run.
    pub p_holm: f64,
    pub failures: Failures,
    /// Integrity classes (phantoms, mismatches, unexpected successes) per build.
    pub integrity_a: BTreeMap<&'static str, u64>,
    pub integrity_b: BTreeMap<&'static str, u64>,
    pub verdict: Judgement,
    /// Why, in a few words.
    pub reason: String,
    /// For an inconclusive latency: commands per build that would likely settle it.
    pub settle_at: Option<u64>,
    /// The smallest shift this comparison detects with 80 % power.
    pub min_detectable: Option<f64>,
}

impl Comparison {
    pub fn name(&self) -> String {
        format!("{}/{}", self.op, self.size_class)
    }
}

/// The whole comparison, as `--summary-json` writes it (beside both builds' counts
/// and the run's own summary).
#[derive(Debug, Serialize)]
pub struct AbReport {
    pub verdict: Judgement,
    pub calibrate: bool,
    pub tolerance: f64,
    pub max_failure_delta: f64,
    pub binary_a: String,
    pub binary_b: String,
    pub comparisons: Vec<Comparison>,
    /// With telemetry verification: each family both builds moved, compared.
    pub telemetry: Vec<TelemetryDiff>,
    /// With telemetry verification: the builds' lost exports, compared.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lost_exports: Option<LostExports>,
    /// Warnings: a tolerance below what the run can detect, a host that limited it.
    pub notes: Vec<String>,
    /// With `--server-metrics`: the server's requests per command, A beside B.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub server: Vec<ServerRow>,
}

/// A telemetry family reconciled for each build's children alone, compared on what
/// both builds did (`analysis::abtelemetry`).
#[derive(Debug, Clone, Serialize)]
pub struct TelemetryDiff {
    pub family: String,
    /// Each build's own verdict, against its own version's known deviations.
    pub verdict_a: String,
    pub verdict_b: String,
    /// (expected, reported) for A and for B, over all of each build's children.
    pub a: (f64, f64),
    pub b: (f64, f64),
    /// Children of each build that exported and should have moved the family or did.
    pub n: (u64, u64),
    /// Each build's reported per expected over those children (1 = the truth).
    pub rate_a: f64,
    pub rate_b: f64,
    /// How much further from the truth B's reports are than A's,
    /// (|rate_b − 1| − |rate_a − 1|) / max(|rate_a − 1|, 1), with its 95 % bootstrap
    /// interval over children: (point, low, high). None with too few children.
    pub worse: Option<(f64, f64, f64)>,
    pub verdict: Judgement,
    pub reason: String,
}

/// Children whose export never arrived, per build: a build that stops exporting is a
/// regression; on a saturated host it may be the host's doing.
#[derive(Debug, Clone, Serialize)]
pub struct LostExports {
    /// Lost as "failed" of ended children, with Fisher's one-sided p that B loses more.
    pub counts: Failures,
    pub verdict: Judgement,
    pub reason: String,
}

/// The server's requests per command for each build (`ab --server-metrics`), one S3 API.
/// The server cannot tell the builds apart, so `ab` deals whole blocks of wall time to
/// one build in turn and reads the server at each block's end; the rates are the least
/// squares fit of each block's requests on the commands each build ended in it.
#[derive(Debug, Clone, Serialize)]
pub struct ServerRow {
    pub api: String,
    /// What the rate is per: "request" (requests per request of that API trafficgen's
    /// commands need: 1.0 = no amplification) or "command" (per command of any kind,
    /// for APIs no command maps to, such as obsctl's bucket listings).
    pub per: &'static str,
    pub a: f64,
    pub b: f64,
    /// (B − A) / A with its 95 % bootstrap interval over blocks; None when A sends
    /// none of these (then any B rate above zero is a finding of its own).
    pub rel: Option<(f64, f64, f64)>,
    pub blocks: usize,
    pub verdict: Judgement,
    pub reason: String,
}

impl ServerRow {
    /// "+3.1% [−2.0, +8.4]" (B against A with its interval), "+3.1%" without an
    /// interval, "-" when A sends none: one wording for the table and the page.
    pub fn shift_text(&self) -> String {
        match self.rel {
            Some((x, lo, hi)) if lo.is_finite() => {
                format!("{:+.1}% [{:+.1}, {:+.1}]", x * 100.0, lo * 100.0, hi * 100.0)
            }
            Some((x, _, _)) => format!("{:+.1}%", x * 100.0),
            None => "-".into(),
        }
    }
}

/// Points kept of each build's latencies for a chart: a page drawn from a 24 h run stays
/// small whatever the number of commands.
pub const CURVE_POINTS: usize = 200;

/// One comparison's successful latencies, A and B, for the HTML report's overlaid
/// distributions: each sorted (seconds) and thinned to at most [`CURVE_POINTS`] order
/// statistics (`thin`).
#[derive(Debug, Clone)]
pub struct Curves {
    /// The comparison's name (`Comparison::name`, e.g. `upload/small`).
    pub name: String,
    pub a: Vec<f64>,
    pub b: Vec<f64>,
}

impl Curves {
    /// From each build's latencies in any order (non-finite ones are dropped).
    pub fn new(name: String, mut a: Vec<f64>, mut b: Vec<f64>) -> Curves {
        for v in [&mut a, &mut b] {
            v.retain(|x| x.is_finite());
            v.sort_by(f64::total_cmp);
        }
        Curves { name, a: thin(&a, CURVE_POINTS), b: thin(&b, CURVE_POINTS) }
    }
}

/// At most `k` evenly spaced order statistics of `sorted`: the `i`-th kept (from 0) is the
/// one at quantile level `(i + 1) / k`, the last one the maximum; all of them when there
/// are no more than `k`. Drawn at height `(i + 1) / len`, the kept points trace the
/// empirical distribution function within `1 / n` of the whole sample's.
pub fn thin(sorted: &[f64], k: usize) -> Vec<f64> {
    let n = sorted.len();
    if n <= k {
        return sorted.to_vec();
    }
    (0..k).map(|i| sorted[((i + 1) * n).div_ceil(k) - 1]).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thinning_keeps_evenly_spaced_order_statistics_up_to_the_maximum() {
        let v: Vec<f64> = (0..10).map(f64::from).collect();
        assert_eq!(thin(&v, 20), v, "no more than k: all of them");
        assert_eq!(thin(&v, 5), vec![1.0, 3.0, 5.0, 7.0, 9.0]);
        assert_eq!(thin(&[], 5), Vec::<f64>::new());
        // Half a million samples: 200 points, sorted, the maximum last, each within 1/n
        // of its quantile level.
        let n = 500_000;
        let big: Vec<f64> = (0..n).map(|i| i as f64).collect();
        let t = thin(&big, CURVE_POINTS);
        assert_eq!(t.len(), CURVE_POINTS);
        assert!(t.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(t.last(), Some(&((n - 1) as f64)));
        for (i, x) in t.iter().enumerate() {
            let level = (i + 1) as f64 / CURVE_POINTS as f64;
            assert!(((x + 1.0) / n as f64 - level).abs() <= 1.0 / n as f64, "{i}: {x}");
        }
    }

    #[test]
    fn curves_sort_and_thin_each_build() {
        let c =
            Curves::new("upload/small".into(), vec![3.0, 1.0, f64::NAN, 2.0], (0..1000).rev().map(f64::from).collect());
        assert_eq!(c.a, vec![1.0, 2.0, 3.0]);
        assert_eq!(c.b.len(), CURVE_POINTS);
        assert!(c.b.windows(2).all(|w| w[0] <= w[1]));
    }
}
