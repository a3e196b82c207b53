//! The `--summary-json` document (docs/output.md): what a run did, as `merge`,
//! `compare`, `report` and the HTML report read it back.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::model::counts::Name;

use crate::model::counts::{Counters, Fidelity, Latency, OpCount, TimelinePoint};
use crate::model::verdict::Verdict;

#[derive(Debug, Serialize, Deserialize)]
pub struct ClientInfo {
    pub flavor: String,
    pub binary: String,
    pub version: String,
}

/// Per expected-failure kind.
#[derive(Debug, Serialize, Deserialize)]
pub struct ExpectedCount {
    pub failed_as_expected: u64,
    pub unexpected_success: u64,
}

/// What part of its profile a run ran, so `merge` combines only runs of one selection and
/// judges them against what they were asked for.
#[derive(Debug, Clone, Serialize, serde::Deserialize, PartialEq)]
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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
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
#[derive(Debug, Serialize, Deserialize)]
pub struct Summary {
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
    pub telemetry: Option<crate::model::telemetry::Report>,
    /// The server's own request counts beside trafficgen's (`--server-metrics`).
    pub server_metrics: Option<crate::model::server::Report>,
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

#[derive(Debug, Serialize, Deserialize)]
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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shard {
    /// Counted from 0, like Kubernetes' `JOB_COMPLETION_INDEX`.
    pub index: u32,
    pub count: u32,
    /// How this shard took its part.
    pub split: Split,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Split {
    /// A share of the users, each at its full rate.
    Users,
    /// Every user at 1/count of its rate.
    Rate,
}
