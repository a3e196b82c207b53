//! What `trafficgen ab` found, as plain data: the statistics (`analysis::abstats`)
//! fill it, the command judges it, and the outputs (terminal, markdown, JUnit, HTML,
//! JSON) draw it without importing the layers that made it.

use std::collections::BTreeMap;

use serde::Serialize;

/// PASS, FAIL or INCONCLUSIVE for one comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Call {
    Pass,
    Fail,
    Inconclusive,
}

impl Call {
    pub fn name(self) -> &'static str {
        match self {
            Call::Pass => "PASS",
            Call::Fail => "FAIL",
            Call::Inconclusive => "INCONCLUSIVE",
        }
    }
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
    pub verdict: Call,
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
    pub verdict: Call,
    pub calibrate: bool,
    pub tolerance: f64,
    pub max_failure_delta: f64,
    pub binary_a: String,
    pub binary_b: String,
    pub comparisons: Vec<Comparison>,
    /// With telemetry verification: each family whose verdict differs between A and B.
    pub telemetry: Vec<TelemetryDiff>,
    /// Warnings: a tolerance below what the run can detect, a host that limited it.
    pub notes: Vec<String>,
    /// With `--server-metrics`: the server's requests per command, A beside B.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub server: Vec<ServerRow>,
}

/// A telemetry family reconciled for each build's children alone, where A and B differ.
#[derive(Debug, Clone, Serialize)]
pub struct TelemetryDiff {
    pub family: String,
    pub verdict_a: String,
    pub verdict_b: String,
    /// (expected, reported) for A and for B.
    pub a: (f64, f64),
    pub b: (f64, f64),
    /// FAIL when B mismatches, or deviates where A matches; PASS when B matches where A
    /// does not.
    pub verdict: Call,
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
    pub verdict: Call,
    pub reason: String,
}
