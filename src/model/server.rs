//! The S3 server's own request counts beside the commands trafficgen ran
//! (`--server-metrics`), as the summary carries them.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// One S3 API: what the server counted during the run against what trafficgen asked for.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema, PartialEq)]
pub struct ApiRow {
    /// Requests the server counted between the two readings.
    pub server: f64,
    pub server_errors: f64,
    /// Commands of this run that each need one such request (None: none map to it).
    pub trafficgen: Option<u64>,
    /// server / trafficgen: requests per client operation (1.0 = no amplification).
    pub amplification: Option<f64>,
    /// Server requests per command of any kind, for APIs no command maps to.
    pub per_command: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema, PartialEq)]
pub struct Report {
    pub url: String,
    /// Every command this run ran (the whole for `per_command`).
    pub commands: u64,
    pub apis: BTreeMap<String, ApiRow>,
    /// The same by stretch of simulated time (an hour, or longer when the clock ran
    /// faster than the server could be read), oldest first: when the server's view
    /// drifted from what ran. Empty when the counters were read only at the start and
    /// the end.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub windows: Vec<Window>,
}

/// One stretch of simulated time: the server's counts against the commands that ended
/// in it.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema, PartialEq)]
pub struct Window {
    /// Simulated UNIX seconds of its first and last reading.
    pub start_unix: i64,
    pub end_unix: i64,
    pub commands: u64,
    pub apis: BTreeMap<String, ApiRow>,
}
