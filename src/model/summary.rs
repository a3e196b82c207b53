//! The `--summary-json` document (docs/output.md): what a run did, as `merge`,
//! `compare`, `report` and the HTML report read it back. Read back typed, through
//! `from_json`, so a field renamed or retyped is refused with its path, never dropped;
//! `schema_version` says which shape a document has (docs/summary.schema.json).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::model::counts::Name;

use crate::model::counts::{Counters, Fidelity, Latency, OpCount, TimelinePoint};
use crate::model::verdict::Verdict;

#[derive(Debug, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ClientInfo {
    pub flavor: String,
    pub binary: String,
    pub version: String,
}

/// Per expected-failure kind.
#[derive(Debug, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ExpectedCount {
    pub failed_as_expected: u64,
    pub unexpected_success: u64,
}

/// What part of its profile a run ran, so `merge` combines only runs of one selection and
/// judges them against what they were asked for.
#[derive(Debug, Clone, Serialize, serde::Deserialize, schemars::JsonSchema, PartialEq)]
pub struct Selection {
    /// `--users` as given (sorted); null = every user of the profile.
    pub users: Option<Vec<String>>,
    /// `--shard`'s N; null when unsharded (the index is in `shard`).
    pub shards: Option<u32>,
    pub rate_scale: f64,
    pub time_scale: f64,
    pub max_file_size: Option<u64>,
}

/// Why dispatching ended: the run's duration ran out, or a signal (Ctrl+C, SIGTERM).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum StopCause {
    Duration,
    Signal,
}

impl std::fmt::Display for StopCause {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            StopCause::Duration => "duration",
            StopCause::Signal => "signal",
        })
    }
}

/// The `--summary-json` document (docs/output.md, "Summary JSON").
#[derive(Debug, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Summary {
    /// The shape of this document (`SCHEMA_VERSION` when written by this trafficgen).
    pub schema_version: u32,
    pub trafficgen_version: String,
    /// This run's id (in its scratch bucket names and telemetry identity); a merge has none.
    pub run_id: Option<String>,
    /// `sha256:HEX` of the profile file the run read.
    pub profile_digest: String,
    pub selection: Selection,
    pub seed: u64,
    pub client: ClientInfo,
    /// Wall seconds from start to the end of the run (including drain and cleanup).
    pub duration_s: f64,
    /// Wall seconds during which operations were scheduled.
    pub dispatch_s: f64,
    pub time_scale: f64,
    pub rate_scale: f64,
    /// `--max-file-size`, when sizes were capped (the size bands then say what was drawn).
    pub max_file_size: Option<u64>,
    pub sim_start: String,
    pub sim_end: String,
    /// The same instants as UNIX seconds.
    pub sim_start_unix: f64,
    pub sim_end_unix: f64,
    pub stopped_by: StopCause,
    pub target_ops: f64,
    /// Scheduled operations started (uploads, downloads, expected failures, other
    /// commands of the mix; not TTL deletes or confirmations).
    pub achieved_ops: u64,
    pub target_ops_per_min: f64,
    pub achieved_ops_per_min: f64,
    pub live_objects_at_exit: u64,
    /// Objects that may exist: uploads killed after they may have stored their object
    /// (at the command timeout or the end of the grace period), and the like. They are
    /// in the journal, deleted at expiry, by `--cleanup`, or by the next run.
    pub maybe_live_objects_at_exit: u64,
    /// Failed commands / all commands that ended.
    pub failure_rate: f64,
    /// Every command that ended, by kind.
    pub ops: BTreeMap<Name, OpCount>,
    pub latency_ms: BTreeMap<Name, Latency>,
    /// Latency by obsctl size class (small < 1 MiB, medium < 100 MiB, large < 1 GiB,
    /// xlarge), for the commands that move an object.
    pub latency_by_size_ms: BTreeMap<Name, BTreeMap<Name, Latency>>,
    pub start_lag_ms: Latency,
    pub integrity_failures: u64,
    pub integrity: BTreeMap<Name, u64>,
    pub expected_failures: BTreeMap<Name, ExpectedCount>,
    pub fidelity: Fidelity,
    /// Whether this machine was the bottleneck: while saturated, slots were held back
    /// (shortfall `host`) and results measure the load generator too.
    pub host: crate::model::host::HostReport,
    /// The state journal's first failure (a write or fsync error, the journal replaced,
    /// the state dir removed), or null. From then on no upload started (shortfall
    /// `journal`), and the verdict fails.
    pub journal_error: Option<String>,
    /// obsctl's telemetry reconciled against what ran (`--verify-telemetry`).
    pub telemetry: Option<TelemetrySection>,
    /// The server's own request counts beside trafficgen's (`--server-metrics`).
    pub server_metrics: Option<ServerSection>,
    /// Thresholds and integrity: the run's verdict and exit code.
    pub verdict: Option<Verdict>,
    /// One point per stats interval (and one for the end).
    pub timeline: Vec<TimelinePoint>,
    pub totals: UserSummary,
    pub users: BTreeMap<String, UserSummary>,
    /// Per persona (its replicas summed), when the profile has replicas.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub personas: BTreeMap<String, UserSummary>,
    /// `--shard I/N`: this instance's part (absent when unsharded).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shard: Option<crate::model::summary::Shard>,
    /// The shard summaries a `merge` combined.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub merged_from: Vec<String>,
    /// Every latency distribution as recorded buckets, so `merge` adds them exactly.
    pub histograms: crate::model::counts::Histograms,
}

#[derive(Debug, Serialize, Deserialize, schemars::JsonSchema)]
pub struct UserSummary {
    /// The profile user this one was built from (itself, unless it is a replica).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub persona: Option<String>,
    pub target_ops: f64,
    pub achieved_ops: u64,
    #[serde(flatten)]
    pub counters: Counters,
    pub in_flight: u64,
    pub fidelity: Fidelity,
}

/// `--shard I/N`: one instance's part of the profile (`config::shard`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Shard {
    /// Counted from 0, like Kubernetes' `JOB_COMPLETION_INDEX`.
    pub index: u32,
    pub count: u32,
    /// How this shard took its part.
    pub split: Split,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Split {
    /// A share of the users, each at its full rate.
    Users,
    /// Every user at 1/count of its rate.
    Rate,
}

/// The summary's `telemetry`: one run's reconciliation, or in a `merge` result the
/// shards' counts summed beside each shard's own (each shard judged its own children).
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
#[serde(untagged)]
pub enum TelemetrySection {
    // Boxed: a run's reconciliation is several times the size of a merge's sums.
    Run(Box<crate::model::telemetry::Report>),
    Merged(MergedTelemetry),
}

impl TelemetrySection {
    /// A run's own reconciliation; None in a merge result.
    pub fn run(&self) -> Option<&crate::model::telemetry::Report> {
        match self {
            TelemetrySection::Run(r) => Some(r),
            TelemetrySection::Merged(_) => None,
        }
    }
}

/// A merge's telemetry: counts summed over the shards, the windows added hour by hour.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct MergedTelemetry {
    pub mismatches: u64,
    pub lost_exports: u64,
    pub children_ended: u64,
    pub children_reported: u64,
    pub export_requests: u64,
    pub foreign_requests: u64,
    pub windows: Vec<crate::model::telemetry::Window>,
    /// Each shard's own section, in the order the shards were given.
    pub per_shard: Vec<crate::model::telemetry::Report>,
}

/// Told apart by `per_shard`, which only a merge writes (rather than serde's untagged
/// guess, whose error names no field when a run's section is malformed).
impl<'de> Deserialize<'de> for TelemetrySection {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = serde_json::Value::deserialize(d)?;
        let merged = v.get("per_shard").is_some();
        let read = |v| -> Result<TelemetrySection, serde_path_to_error::Error<serde_json::Error>> {
            Ok(match merged {
                true => TelemetrySection::Merged(serde_path_to_error::deserialize(v)?),
                false => TelemetrySection::Run(Box::new(serde_path_to_error::deserialize(v)?)),
            })
        };
        read(v).map_err(|e| serde::de::Error::custom(format!("{}: {}", e.path(), e.inner())))
    }
}

/// The summary's `server_metrics`: one run's counts, or in a `merge` result each shard's
/// (null for a shard that read none).
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
#[serde(untagged)]
pub enum ServerSection {
    Run(crate::model::server::Report),
    PerShard(Vec<Option<crate::model::server::Report>>),
}

/// An array only a merge writes.
impl<'de> Deserialize<'de> for ServerSection {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = serde_json::Value::deserialize(d)?;
        let array = v.is_array();
        let read = |v| -> Result<ServerSection, serde_path_to_error::Error<serde_json::Error>> {
            Ok(match array {
                true => ServerSection::PerShard(serde_path_to_error::deserialize(v)?),
                false => ServerSection::Run(serde_path_to_error::deserialize(v)?),
            })
        };
        read(v).map_err(|e| serde::de::Error::custom(format!("{}: {}", e.path(), e.inner())))
    }
}

/// The summary shape this trafficgen writes and reads. Adding a field that older readers
/// may ignore keeps it; renaming, removing or retyping a field raises it
/// (docs/output.md, "Schema version").
pub const SCHEMA_VERSION: u32 = 1;

/// Why a text is not a summary this trafficgen reads.
#[derive(Debug)]
pub enum SummaryError {
    /// Not JSON at all (serde's message says where).
    Malformed(serde_json::Error),
    /// JSON, but neither `schema_version` nor `trafficgen_version`: not a summary.
    NotASummary,
    /// A trafficgen summary from before `schema_version` existed.
    Unversioned { trafficgen_version: String },
    /// Another schema version, newer or older.
    Version(u64),
    /// This version, but a field is missing or of the wrong type (its path, serde's
    /// message with line and column).
    Invalid { path: String, error: serde_json::Error },
}

impl SummaryError {
    /// The message for people, naming the file.
    pub fn describe(&self, file: &str) -> String {
        let reads = format!("this trafficgen ({}) reads version {SCHEMA_VERSION}", env!("CARGO_PKG_VERSION"));
        match self {
            SummaryError::Malformed(e) => format!("{file} is not valid JSON: {e}"),
            SummaryError::NotASummary => format!(
                "{file}: this is not a trafficgen summary (it has no schema_version or trafficgen_version); pass files written by --summary-json"
            ),
            SummaryError::Unversioned { trafficgen_version } => format!(
                "summary {file} has schema version none (trafficgen {trafficgen_version}, from before summaries were versioned); {reads}"
            ),
            SummaryError::Version(v) => {
                let which = if *v > u64::from(SCHEMA_VERSION) { "a newer trafficgen" } else { "an older trafficgen" };
                format!("summary {file} has schema version {v} (written by {which}); {reads}")
            }
            SummaryError::Invalid { path, error } => {
                format!("{file} is not a valid version-{SCHEMA_VERSION} summary: {path}: {error}")
            }
        }
    }
}

/// The two fields read before the rest, so a document of another version gets the
/// version message rather than an error about a field it names differently.
#[derive(Deserialize)]
struct Head {
    schema_version: Option<u64>,
    trafficgen_version: Option<serde_json::Value>,
}

/// Reads a summary: its version first (another version is refused naming both), then
/// every field, typed.
pub fn from_json(text: &str) -> Result<Summary, SummaryError> {
    let head: Head = match serde_json::from_str(text) {
        Ok(h) => h,
        Err(e) if e.is_data() => return Err(SummaryError::NotASummary),
        Err(e) => return Err(SummaryError::Malformed(e)),
    };
    // serde reads a struct from an array too; a summary is an object.
    if !text.trim_start().starts_with('{') {
        return Err(SummaryError::NotASummary);
    }
    match (head.schema_version, head.trafficgen_version) {
        (Some(v), _) if v == u64::from(SCHEMA_VERSION) => {}
        (Some(v), _) => return Err(SummaryError::Version(v)),
        (None, Some(serde_json::Value::String(t))) => return Err(SummaryError::Unversioned { trafficgen_version: t }),
        (None, Some(_)) => return Err(SummaryError::Unversioned { trafficgen_version: "unknown".into() }),
        (None, None) => return Err(SummaryError::NotASummary),
    }
    let mut de = serde_json::Deserializer::from_str(text);
    serde_path_to_error::deserialize(&mut de)
        .map_err(|e| SummaryError::Invalid { path: e.path().to_string(), error: e.into_inner() })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_version_is_read_first_and_named_with_ours() {
        let msg = |text: &str| from_json(text).map(|_| ()).unwrap_err().describe("s.json");
        assert!(msg("{\"ops\": ").starts_with("s.json is not valid JSON: EOF"), "{}", msg("{\"ops\": "));
        assert!(msg("{\"name\": 1}").starts_with("s.json: this is not a trafficgen summary"));
        assert!(msg("[1, 2]").starts_with("s.json: this is not a trafficgen summary"));
        let old = msg("{\"trafficgen_version\": \"0.1.0\", \"ops\": {}}");
        assert!(old.starts_with("summary s.json has schema version none (trafficgen 0.1.0"), "{old}");
        assert!(old.ends_with("reads version 1"), "{old}");
        // A newer version is judged by its version alone, whatever its fields.
        let newer = msg("{\"schema_version\": 2, \"ops\": \"renamed\"}");
        assert!(newer.starts_with("summary s.json has schema version 2 (written by a newer trafficgen)"), "{newer}");
        assert!(newer.ends_with("reads version 1"), "{newer}");
        let bad = msg("{\"schema_version\": 1, \"trafficgen_version\": 3}");
        assert!(bad.starts_with("s.json is not a valid version-1 summary: trafficgen_version: invalid type"), "{bad}");
    }

    #[test]
    fn a_merges_sections_read_back_as_a_merges() {
        let merged = TelemetrySection::Merged(MergedTelemetry {
            mismatches: 1,
            lost_exports: 2,
            children_ended: 3,
            children_reported: 1,
            export_requests: 1,
            foreign_requests: 0,
            windows: Vec::new(),
            per_shard: Vec::new(),
        });
        let text = serde_json::to_string(&merged).unwrap();
        assert_eq!(serde_json::from_str::<TelemetrySection>(&text).unwrap(), merged);
        let server = ServerSection::PerShard(vec![None]);
        let text = serde_json::to_string(&server).unwrap();
        assert_eq!(serde_json::from_str::<ServerSection>(&text).unwrap(), server);
        // A run's section with a field missing names the field.
        let e = serde_json::from_str::<TelemetrySection>("{\"client\": \"obsctl\"}").unwrap_err().to_string();
        assert!(e.contains("children_ended"), "{e}");
    }
}
