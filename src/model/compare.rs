//! What `trafficgen compare` finds: two runs' operations side by side, the change between
//! them and, under `--max-regression`, the judgement. Plain data: `analysis::compare`
//! builds it, `output::compare` renders it as a table and `--json` prints it as it is.

use serde::Serialize;

use crate::model::verdict::Judgement;

/// The regression limit: `20%` allows latencies +20%, throughput −20%, failure rate +20
/// points.
#[derive(Debug, Clone)]
pub struct Limit {
    /// In percent (20 for `20%`), the unit the changes are computed in.
    pub pct: f64,
    /// As written, for messages.
    pub text: String,
    /// As a fraction (0.2), for the JSON output.
    pub fraction: f64,
}

/// `--max-regression` as clap read it (`model::units::Percent`).
impl From<crate::model::units::Percent> for Limit {
    fn from(p: crate::model::units::Percent) -> Limit {
        Limit { pct: p.percent(), text: p.to_string(), fraction: p.fraction() }
    }
}

/// One operation in one run. Latencies are None when the operation never ran; throughput
/// and failure rate are None when the summary lacks the counts (no such kind in `ops`).
#[derive(Debug, Clone, Default, Serialize)]
pub struct Side {
    pub count: u64,
    pub p50_ms: Option<f64>,
    pub p95_ms: Option<f64>,
    pub p99_ms: Option<f64>,
    pub ok: Option<u64>,
    pub failed: Option<u64>,
    pub ops_per_min: Option<f64>,
    pub failure_rate: Option<f64>,
}

impl Side {
    pub fn ran(&self) -> bool {
        self.count > 0 || self.ok.unwrap_or(0) + self.failed.unwrap_or(0) > 0
    }
}

/// New against base: percent for latencies and throughput, percentage points for the
/// failure rate. None when either side lacks the value or the base is 0 (no percentage).
#[derive(Debug, Clone, Default, Serialize)]
pub struct Change {
    pub p50_pct: Option<f64>,
    pub p95_pct: Option<f64>,
    pub p99_pct: Option<f64>,
    pub ops_per_min_pct: Option<f64>,
    pub failure_rate_points: Option<f64>,
}

#[derive(Debug, Serialize)]
pub struct Row {
    pub op: String,
    pub base: Side,
    pub new: Side,
    pub change: Change,
    pub regressed: bool,
    pub reasons: Vec<String>,
}

#[derive(Debug, Serialize)]
pub struct Comparison {
    pub base: String,
    pub new: String,
    /// As a fraction (0.2 for 20%), null without --max-regression.
    pub max_regression: Option<f64>,
    pub ops: Vec<Row>,
    /// How many reasons across all rows (one operation can regress in several ways).
    pub regressions: usize,
    /// True only for PASS.
    pub passed: bool,
    /// PASS, FAIL (a regression beyond the limit) or INCONCLUSIVE (a limit was given but
    /// no operation ran in both runs); PASS without a limit (nothing judged).
    pub result: Judgement,
    /// Things that make the comparison less meaningful (different seeds, missing fields).
    pub notes: Vec<String>,
    #[serde(skip)]
    pub limit: Option<Limit>,
}
