//! What `trafficgen ab` measured and found, as plain data: `work::ab` records the
//! samples, `analysis::ab` judges them into an `AbReport`, and the outputs (terminal,
//! markdown, JUnit, HTML, JSON: `output::ab`) draw it without importing the layers that
//! made it. `AbSummary` is its `--summary-json` document, typed and versioned like the
//! run's (docs/ab-summary.schema.json).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::model::events::{Build, FailClass, OpType, SizeClass};
use crate::model::summary::Summary;
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
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
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
    #[serde(deserialize_with = "nan::f64")]
    #[schemars(with = "Option<f64>")]
    pub rel: f64,
    #[serde(deserialize_with = "nan::f64")]
    #[schemars(with = "Option<f64>")]
    pub rel_lo: f64,
    #[serde(deserialize_with = "nan::f64")]
    #[schemars(with = "Option<f64>")]
    pub rel_hi: f64,
    /// IQR(B) / IQR(A), with its 95 % interval (noisiness).
    #[serde(deserialize_with = "nan::f64")]
    #[schemars(with = "Option<f64>")]
    pub iqr_ratio: f64,
    #[serde(deserialize_with = "nan::f64")]
    #[schemars(with = "Option<f64>")]
    pub iqr_lo: f64,
    #[serde(deserialize_with = "nan::f64")]
    #[schemars(with = "Option<f64>")]
    pub iqr_hi: f64,
    /// Two-sided Mann-Whitney p (uncorrected; `ab` applies Holm across comparisons).
    pub p: f64,
}

/// Failure counts of one comparison and their verdict.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
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
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Comparison {
    pub op: String,
    pub size_class: String,
    pub shift: Option<Shift>,
    /// Mann-Whitney p after Holm's correction across every comparison of the run.
    pub p_holm: f64,
    pub failures: Failures,
    /// Integrity classes (phantoms, mismatches, unexpected successes) per build.
    pub integrity_a: BTreeMap<String, u64>,
    pub integrity_b: BTreeMap<String, u64>,
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

/// The whole comparison, as `--summary-json` writes it under `ab` (beside both builds'
/// counts and the run's own summary: `AbSummary`).
#[derive(Debug, Serialize, Deserialize, schemars::JsonSchema)]
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
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lost_exports: Option<LostExports>,
    /// Warnings: a tolerance below what the run can detect, a host that limited it.
    pub notes: Vec<String>,
    /// With `--server-metrics`: the server's requests per command, A beside B.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub server: Vec<ServerRow>,
}

/// A telemetry family reconciled for each build's children alone, compared on what
/// both builds did (`analysis::abtelemetry`).
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
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
    #[serde(deserialize_with = "nan::f64")]
    #[schemars(with = "Option<f64>")]
    pub rate_a: f64,
    #[serde(deserialize_with = "nan::f64")]
    #[schemars(with = "Option<f64>")]
    pub rate_b: f64,
    /// How much further from the truth B's reports are than A's,
    /// (|rate_b − 1| − |rate_a − 1|) / max(|rate_a − 1|, 1), with its 95 % bootstrap
    /// interval over children: (point, low, high). None with too few children.
    #[serde(deserialize_with = "nan::triple")]
    #[schemars(with = "Option<(Option<f64>, Option<f64>, Option<f64>)>")]
    pub worse: Option<(f64, f64, f64)>,
    pub verdict: Judgement,
    pub reason: String,
}

/// Children whose export never arrived, per build: a build that stops exporting is a
/// regression; on a saturated host it may be the host's doing.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
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
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ServerRow {
    pub api: String,
    /// What the rate is per: "request" (requests per request of that API trafficgen's
    /// commands need: 1.0 = no amplification) or "command" (per command of any kind,
    /// for APIs no command maps to, such as obsctl's bucket listings).
    pub per: String,
    #[serde(deserialize_with = "nan::f64")]
    #[schemars(with = "Option<f64>")]
    pub a: f64,
    #[serde(deserialize_with = "nan::f64")]
    #[schemars(with = "Option<f64>")]
    pub b: f64,
    /// (B − A) / A with its 95 % bootstrap interval over blocks; None when A sends
    /// none of these (then any B rate above zero is a finding of its own).
    #[serde(deserialize_with = "nan::triple")]
    #[schemars(with = "Option<(Option<f64>, Option<f64>, Option<f64>)>")]
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

/// `ab --summary-json`: the comparison, each build's own counts, and the run's summary.
#[derive(Debug, Serialize, Deserialize, schemars::JsonSchema)]
pub struct AbSummary {
    /// The shape of this document (`SCHEMA_VERSION` when written by this trafficgen).
    pub schema_version: u32,
    pub ab: AbReport,
    pub builds: Builds,
    /// The run's own summary, as a run's `--summary-json` writes it (null when the run
    /// ended before it had one).
    pub run: Option<Summary>,
}

/// The `ab` summary shape this trafficgen writes and reads; raised as the run summary's
/// is (`model::summary::SCHEMA_VERSION`).
pub const SCHEMA_VERSION: u32 = 1;

/// Each build's counts.
#[derive(Debug, Default, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Builds {
    #[serde(rename = "A")]
    pub a: BuildCounts,
    #[serde(rename = "B")]
    pub b: BuildCounts,
}

/// One build's commands per operation kind (cancelled ones included).
#[derive(Debug, Default, Serialize, Deserialize, schemars::JsonSchema)]
pub struct BuildCounts {
    pub ops: BTreeMap<String, OpCounts>,
}

/// One build's commands of one kind: how many, the failures by class, and the latency
/// percentiles of the successful ones (null when none succeeded).
#[derive(Debug, Default, Serialize, Deserialize, schemars::JsonSchema)]
pub struct OpCounts {
    pub commands: u64,
    pub failures: BTreeMap<String, u64>,
    pub p50_ms: Option<f64>,
    pub p95_ms: Option<f64>,
    pub p99_ms: Option<f64>,
}

/// Why a text is not an `ab` summary this trafficgen reads.
#[cfg_attr(not(test), allow(dead_code))]
#[derive(Debug)]
pub enum AbSummaryError {
    /// Not JSON at all (serde's message says where).
    Malformed(serde_json::Error),
    /// JSON, but not an object with an `ab` comparison.
    NotAnAbSummary,
    /// Another schema version, or none (written before `ab` summaries had one).
    Version(Option<u64>),
    /// This version, but a field is missing or of the wrong type (its path, serde's
    /// message with line and column).
    Invalid { path: String, error: serde_json::Error },
}

#[cfg_attr(not(test), allow(dead_code))]
impl AbSummaryError {
    /// The message for people, naming the file.
    pub fn describe(&self, file: &str) -> String {
        let reads = format!("this trafficgen ({}) reads version {SCHEMA_VERSION}", env!("CARGO_PKG_VERSION"));
        match self {
            AbSummaryError::Malformed(e) => format!("{file} is not valid JSON: {e}"),
            AbSummaryError::NotAnAbSummary => {
                format!(
                    "{file}: this is not an ab summary (it has no `ab` comparison); pass files written by ab --summary-json"
                )
            }
            AbSummaryError::Version(None) => format!("ab summary {file} has schema version none; {reads}"),
            AbSummaryError::Version(Some(v)) => format!("ab summary {file} has schema version {v}; {reads}"),
            AbSummaryError::Invalid { path, error } => {
                format!("{file} is not a valid version-{SCHEMA_VERSION} ab summary: {path}: {error}")
            }
        }
    }
}

/// Reads an `ab` summary: its version first (another version, or none, is refused naming
/// both), then every field, typed. No command reads one back yet; the tests do
/// (tests/schema.rs, tests/ab.rs).
#[cfg_attr(not(test), allow(dead_code))]
pub fn from_json(text: &str) -> Result<AbSummary, AbSummaryError> {
    /// The fields read before the rest, so a document of another version gets the
    /// version message rather than an error about a field it names differently.
    #[derive(Deserialize)]
    struct Head {
        schema_version: Option<u64>,
        ab: Option<serde::de::IgnoredAny>,
    }
    let head: Head = match serde_json::from_str(text) {
        Ok(h) => h,
        Err(e) if e.is_data() => return Err(AbSummaryError::NotAnAbSummary),
        Err(e) => return Err(AbSummaryError::Malformed(e)),
    };
    // serde reads a struct from an array too; a summary is an object.
    if !text.trim_start().starts_with('{') || head.ab.is_none() {
        return Err(AbSummaryError::NotAnAbSummary);
    }
    match head.schema_version {
        Some(v) if v == u64::from(SCHEMA_VERSION) => {}
        v => return Err(AbSummaryError::Version(v)),
    }
    let mut de = serde_json::Deserializer::from_str(text);
    serde_path_to_error::deserialize(&mut de)
        .map_err(|e| AbSummaryError::Invalid { path: e.path().to_string(), error: e.into_inner() })
}

/// serde_json writes a number that is not finite (a ratio over nothing, an interval the
/// bootstrap could not draw) as null; these read null back as NaN, so a summary read and
/// written again is the same JSON.
mod nan {
    use serde::{Deserialize, Deserializer};

    pub fn f64<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
        Ok(Option::<f64>::deserialize(d)?.unwrap_or(f64::NAN))
    }

    pub fn triple<'de, D: Deserializer<'de>>(d: D) -> Result<Option<(f64, f64, f64)>, D::Error> {
        let t = Option::<(Option<f64>, Option<f64>, Option<f64>)>::deserialize(d)?;
        let n = |x: Option<f64>| x.unwrap_or(f64::NAN);
        Ok(t.map(|(x, lo, hi)| (n(x), n(lo), n(hi))))
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

    /// A summary with every kind of value: a NaN rate, an interval with no bounds, a
    /// server row, a telemetry family, no run summary.
    fn summary() -> AbSummary {
        let shift = Shift {
            n_a: 10,
            n_b: 12,
            median_a: 0.1,
            median_b: 0.12,
            p95_a: 0.2,
            p95_b: 0.25,
            hl: 0.02,
            rel: 0.2,
            rel_lo: 0.1,
            rel_hi: 0.3,
            iqr_ratio: f64::INFINITY,
            iqr_lo: f64::NAN,
            iqr_hi: f64::NAN,
            p: 0.01,
        };
        let failures = Failures { failed_a: 0, total_a: 10, failed_b: 1, total_b: 13, p: 0.5 };
        let ab = AbReport {
            verdict: Judgement::Fail,
            calibrate: false,
            tolerance: 0.1,
            max_failure_delta: 0.01,
            binary_a: "/a".into(),
            binary_b: "/b".into(),
            comparisons: vec![Comparison {
                op: "upload".into(),
                size_class: "small".into(),
                shift: Some(shift),
                p_holm: 0.02,
                failures: failures.clone(),
                integrity_a: BTreeMap::new(),
                integrity_b: BTreeMap::from([("phantom_upload".to_string(), 1)]),
                verdict: Judgement::Fail,
                reason: "B only: phantom_upload".into(),
                settle_at: None,
                min_detectable: Some(0.05),
            }],
            telemetry: vec![TelemetryDiff {
                family: "uploads_total".into(),
                verdict_a: "match".into(),
                verdict_b: "n/a".into(),
                a: (4.0, 4.0),
                b: (0.0, 0.0),
                n: (4, 0),
                rate_a: 1.0,
                rate_b: f64::NAN,
                worse: None,
                verdict: Judgement::Inconclusive,
                reason: "too few".into(),
            }],
            lost_exports: Some(LostExports { counts: failures, verdict: Judgement::Pass, reason: "none".into() }),
            notes: vec!["host limited".into()],
            server: vec![ServerRow {
                api: "PutObject".into(),
                per: "request".into(),
                a: f64::NAN,
                b: f64::NAN,
                rel: Some((0.5, f64::NAN, f64::NAN)),
                blocks: 2,
                verdict: Judgement::Inconclusive,
                reason: "2 blocks read".into(),
            }],
        };
        let op = OpCounts {
            commands: 13,
            failures: BTreeMap::from([("failed".to_string(), 1)]),
            p50_ms: Some(120.0),
            p95_ms: Some(250.0),
            p99_ms: None,
        };
        let builds =
            Builds { a: BuildCounts::default(), b: BuildCounts { ops: BTreeMap::from([("upload".into(), op)]) } };
        AbSummary { schema_version: SCHEMA_VERSION, ab, builds, run: None }
    }

    #[test]
    fn an_ab_summary_reads_back_into_the_json_it_was_and_its_version_comes_first() {
        let text = serde_json::to_string_pretty(&summary()).unwrap();
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["ab"]["comparisons"][0]["verdict"], "FAIL");
        assert_eq!(v["builds"]["B"]["ops"]["upload"]["p50_ms"], 120.0);
        assert!(v["ab"]["server"][0]["a"].is_null() && v["ab"]["comparisons"][0]["shift"]["iqr_ratio"].is_null());
        let back = from_json(&text).unwrap_or_else(|e| panic!("{}", e.describe("ab.json")));
        assert_eq!(serde_json::to_value(&back).unwrap(), v, "write → read → write is the same JSON");
        assert!(back.ab.telemetry[0].rate_b.is_nan() && back.ab.server[0].rel.unwrap().1.is_nan());

        let msg = |text: &str| from_json(text).map(|_| ()).unwrap_err().describe("ab.json");
        let mut other = v.clone();
        other["schema_version"] = 2.into();
        other["ab"] = "renamed".into();
        assert!(
            msg(&other.to_string()).starts_with("ab summary ab.json has schema version 2;"),
            "{}",
            msg(&other.to_string())
        );
        let mut unversioned = v.clone();
        unversioned.as_object_mut().unwrap().remove("schema_version");
        assert!(msg(&unversioned.to_string()).contains("schema version none; this trafficgen"));
        assert!(msg("{\"schema_version\": 1}").starts_with("ab.json: this is not an ab summary"));
        assert!(msg("[1]").starts_with("ab.json: this is not an ab summary"));
        assert!(msg("{").starts_with("ab.json is not valid JSON"));
        let mut wrong = v;
        wrong["ab"]["tolerance"] = "ten".into();
        let e = msg(&wrong.to_string());
        assert!(e.starts_with("ab.json is not a valid version-1 ab summary: ab.tolerance: invalid type"), "{e}");
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
